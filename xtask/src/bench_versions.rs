//! `cargo xtask bench versions`: what entry versions cost (issue 12 §6), each
//! figure from `flowstore-bench` in one run, against a fresh SQLite file and
//! throwaway servers:
//!
//! - `conditional`: a conditional `set` against a plain `set` of the same store,
//!   interleaved, at concurrency 1 and 32 (targets ≤ 1.15× and ≤ 1.3× the
//!   plain `set`'s time, i.e. a throughput ratio ≥ 0.87 and ≥ 0.77);
//! - `counter`: 32 tasks incrementing one counter by read-modify-write, on
//!   every backend, Redis Cluster and `flowstore serve` included; the final
//!   count is checked exact by the command itself.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::test_servers::{self, Kind};
use crate::util::{self, cargo};

/// A `flowstore serve` over a memory store, stopped on drop.
pub(crate) struct Serve {
    child: Child,
    pub(crate) url: String,
}

impl Serve {
    /// The release build's `flowstore serve`, no token.
    pub(crate) fn start() -> Result<Serve, String> {
        let binary = util::target_dir().join("release").join("flowstore");
        Serve::spawn(&binary, &[], &[])
    }

    /// `binary serve` over a memory store on a free loopback port, with the
    /// serve flags `flags` and the environment `env` (`FLOWSTORE_TOKEN`);
    /// returns once it prints the address it listens on.
    pub(crate) fn spawn(
        binary: &Path,
        flags: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Serve, String> {
        let child = Command::new(binary)
            .args(["--store", "memory://", "serve", "--listen", "127.0.0.1:0"])
            .args(flags)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        // The guard first: every early return below drops it, which kills
        // and reaps the child instead of leaving a server running.
        let mut serve = Serve {
            url: String::new(),
            child,
        };
        let stdout = serve
            .child
            .stdout
            .take()
            .ok_or("no stdout from flowstore serve")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("flowstore serve: {e}"))?;
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("flowstore serve printed {line:?}"))?;
        serve.url = format!("http://{addr}");
        Ok(serve)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let runs = parse_runs(args, "cargo xtask bench versions [--runs N]")?;
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
    let dir = util::target_dir().join("xtask").join("bench-versions");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let sqlite = |name: &str| format!("sqlite://{}", dir.join(name).display());
    let serve = Serve::start()?;

    let mut lines = Vec::new();
    let mut failed = 0;
    let stores = [
        ("sqlite", sqlite("conditional.db")),
        ("postgres", url_of(Kind::Postgres)?),
        ("redis", url_of(Kind::Redis)?),
    ];
    for (name, url) in &stores {
        for concurrency in [1, 32] {
            let label = format!("conditional {name} c={concurrency}");
            eprintln!("\n==> xtask bench: {label}");
            let result = util::output(
                Command::new(&bench)
                    .args(["conditional", "--store", url])
                    .args(["--concurrency", &concurrency.to_string()])
                    .args(["--value-size", "1024", "--keys", "2000", "--duration", "2s"])
                    .args(["--runs", &runs.to_string(), "--json"])
                    .stderr(Stdio::inherit()),
            );
            lines.push(summarise(
                &label,
                result,
                &mut failed,
                "ratio",
                "x plain set",
            ));
        }
    }
    let counters = [
        ("memory", "memory://".to_string()),
        ("sqlite", sqlite("counter.db")),
        ("postgres", url_of(Kind::Postgres)?),
        ("redis", url_of(Kind::Redis)?),
        ("redis cluster", url_of(Kind::RedisCluster)?),
        ("serve (memory)", serve.url.clone()),
    ];
    for (name, url) in &counters {
        let label = format!("counter {name} 32 tasks");
        eprintln!("\n==> xtask bench: {label}");
        let result = util::output(
            Command::new(&bench)
                .args([
                    "counter",
                    "--store",
                    url,
                    "--tasks",
                    "32",
                    "--duration",
                    "3s",
                ])
                .args(["--runs", &runs.to_string(), "--json"])
                .stderr(Stdio::inherit()),
        );
        lines.push(summarise(
            &label,
            result,
            &mut failed,
            "increments_per_sec",
            " increments/s, count exact",
        ));
    }
    drop(serve);
    drop(servers);

    println!("\nxtask bench versions: results ({runs} runs each, 1 KiB values for conditional)");
    for line in &lines {
        println!("  {line}");
    }
    if failed > 0 {
        return Err(format!("{failed} of {} benchmarks failed", lines.len()));
    }
    Ok(())
}

/// `--runs N` (default 5), the only option of the xtask bench subcommands.
pub(crate) fn parse_runs(args: &[String], usage: &str) -> Result<u32, String> {
    let mut runs = 5u32;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => {
                runs = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--runs needs a number")?;
            }
            other => return Err(format!("unexpected argument `{other}` (usage: {usage})")),
        }
    }
    Ok(runs)
}

/// The URL of the started server of `kind`.
pub(crate) fn url_of(servers: &test_servers::TestServers, kind: Kind) -> Result<String, String> {
    servers
        .env
        .iter()
        .find(|(var, _)| *var == kind.var())
        .map(|(_, url)| url.clone())
        .ok_or_else(|| format!("no URL for {}", kind.var()))
}

pub(crate) fn summarise(
    label: &str,
    result: Result<String, String>,
    failed: &mut usize,
    key: &str,
    unit: &str,
) -> String {
    match result {
        Ok(json) => {
            let json = json.trim();
            match crate::bench::json_number(json, key) {
                Some(number) if key == "ratio" => format!("{label:<28} {number:.2}{unit}  {json}"),
                Some(number) => format!("{label:<28} {number:.0}{unit}"),
                None => format!("{label:<28} {json}"),
            }
        }
        Err(err) => {
            *failed += 1;
            format!("{label:<28} FAILED: {err}")
        }
    }
}
