//! `cargo xtask faults [--full]`: the fault tests of issue 15 §3 on their
//! own — the history check, the TCP fault proxy tests (cut writes, retry
//! deadline and cap), the concurrent upserts, SQLite's disk-full unit test and
//! the Redis Cluster resharding under load — with the output of every test shown, against the servers of
//! the `FLOWSTORE_TEST_*_URL` variables or throwaway ones.
//!
//! `cargo xtask ci` runs the same tests at CI size among all the others.
//! `--full` sets `FLOWSTORE_FAULTS_FULL=1`: the history check at 200 tasks ×
//! 2 000 operations and the longer resharding run; their latest figures are
//! in docs/faults.md.

use crate::test_servers::{self, Kind};
use crate::util::{self, cargo};

/// The fault test binaries of the `tests/` crate this command runs.
const BINARIES: [&str; 3] = ["history", "proxy_faults", "concurrent_upserts"];

/// The resharding check: a program of the `tests/` crate, not a test, while
/// it meets a known fred bug (see its module docs), so CI never runs it and
/// nothing reports it as passed.
const RESHARDING: &str = "redis-resharding";

/// The variable the tests read for their full size (`flowstore_tests::history::FULL_VAR`).
const FULL_VAR: &str = "FLOWSTORE_FAULTS_FULL";

const USAGE: &str = "cargo xtask faults [--full]";

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let full = match args {
        [] => false,
        [flag] if flag == "--full" => true,
        _ => return Err(format!("usage: {USAGE}")),
    };
    let servers = test_servers::start(&[Kind::Postgres, Kind::Redis, Kind::RedisCluster])?;
    let mut tests = cargo();
    // Every binary runs even when one fails: each reports figures of its own.
    tests.args(["test", "-p", "flowstore-tests", "--no-fail-fast"]);
    for binary in BINARIES {
        tests.args(["--test", binary]);
    }
    // One test at a time: they measure latencies and time bounds.
    tests.args([
        "--",
        "--include-ignored",
        "--nocapture",
        "--test-threads",
        "1",
    ]);
    for (var, url) in &servers.env {
        tests.env(var, url);
    }
    tests.env(FULL_VAR, if full { "1" } else { "0" });
    let tests = util::run(&mut tests);

    // `flowstore-sqlite`'s unit tests named `disk_full` (its own crate: the
    // test needs a hook only its unit tests reach).
    let mut disk_full = cargo();
    disk_full.args([
        "test",
        "-p",
        "flowstore-sqlite",
        "--lib",
        "disk_full",
        "--",
        "--nocapture",
    ]);
    let disk_full = util::run(&mut disk_full);

    let mut resharding = cargo();
    resharding.args(["run", "-p", "flowstore-tests", "--bin", RESHARDING]);
    resharding.env(FULL_VAR, if full { "1" } else { "0" });
    let resharding = util::run(&mut resharding);
    match (tests, disk_full, resharding) {
        (Ok(()), Ok(()), Ok(())) => Ok(()),
        (tests, disk_full, resharding) => Err([tests.err(), disk_full.err(), resharding.err()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("\n")),
    }
}
