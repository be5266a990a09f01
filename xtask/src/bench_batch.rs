//! `cargo xtask bench batch`: a batch read of 100 keys against 100 sequential
//! gets of the same keys (issue 13 §4, target ≥ 10×), each figure from
//! `flowstore-bench batch` in one run, on PostgreSQL, Redis, Redis Cluster and
//! `flowstore serve` (over memory, through the batch route), against throwaway
//! servers.

use std::process::{Command, Stdio};

use crate::bench_versions::{Serve, parse_runs, summarise, url_of};
use crate::test_servers::{self, Kind};
use crate::util::{self, cargo};

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let runs = parse_runs(args, "cargo xtask bench batch [--runs N]")?;
    let servers = test_servers::start(&[Kind::Postgres, Kind::Redis, Kind::RedisCluster])?;
    let url_of = |kind: Kind| url_of(&servers, kind);
    util::run(cargo().args([
        "build",
        "--release",
        "-p",
        "flowstore-bench",
        "-p",
        "flowstore-cli",
    ]))?;
    let bench = util::target_dir().join("release").join("flowstore-bench");
    let serve = Serve::start()?;
    let stores = [
        ("postgres", url_of(Kind::Postgres)?),
        ("redis", url_of(Kind::Redis)?),
        ("redis cluster", url_of(Kind::RedisCluster)?),
        ("serve (memory)", serve.url.clone()),
    ];
    let mut lines = Vec::new();
    let mut failed = 0;
    for (name, url) in &stores {
        let label = format!("batch get 100 {name}");
        eprintln!("\n==> xtask bench: {label}");
        let result = util::output(
            Command::new(&bench)
                .args(["batch", "--store", url, "--keys", "100"])
                .args(["--value-size", "1024", "--duration", "2s"])
                .args(["--runs", &runs.to_string(), "--json"])
                .stderr(Stdio::inherit()),
        );
        lines.push(summarise(
            &label,
            result,
            &mut failed,
            "ratio",
            "x sequential gets",
        ));
    }
    drop(serve);
    drop(servers);
    println!("\nxtask bench batch: results ({runs} runs each, 1 KiB values)");
    for line in &lines {
        println!("  {line}");
    }
    if failed > 0 {
        return Err(format!("{failed} of {} benchmarks failed", lines.len()));
    }
    Ok(())
}
