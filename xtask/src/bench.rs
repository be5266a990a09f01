//! `cargo xtask bench`: the documented benchmark comparisons (docs/benchmarks.md),
//! each through `flowstore-bench compare-raw --runs N --json` (the unpublished
//! crates/flowstore-bench), which runs the same workload through flowstore and
//! the backend's raw client in the same run, interleaved, and reports the ratio.

use std::fs;
use std::process::Stdio;

use crate::test_servers::{self, Kind};
use crate::util::{self, cargo};

/// One comparison: backend, operation, concurrency.
#[derive(Debug, Clone, Copy)]
struct Target {
    backend: &'static str,
    op: &'static str,
    concurrency: u32,
}

/// The targets of issues 2 §6 and 3 §4, all with 1 KiB values.
const TARGETS: &[Target] = &[
    Target {
        backend: "sqlite",
        op: "set",
        concurrency: 32,
    },
    Target {
        backend: "sqlite",
        op: "get",
        concurrency: 1,
    },
    Target {
        backend: "sqlite",
        op: "get",
        concurrency: 32,
    },
    Target {
        backend: "postgres",
        op: "set",
        concurrency: 1,
    },
    Target {
        backend: "postgres",
        op: "set",
        concurrency: 32,
    },
    Target {
        backend: "postgres",
        op: "get",
        concurrency: 1,
    },
    Target {
        backend: "postgres",
        op: "get",
        concurrency: 32,
    },
    Target {
        backend: "redis",
        op: "set",
        concurrency: 1,
    },
    Target {
        backend: "redis",
        op: "set",
        concurrency: 32,
    },
    Target {
        backend: "redis",
        op: "get",
        concurrency: 1,
    },
    Target {
        backend: "redis",
        op: "get",
        concurrency: 32,
    },
];

const BACKENDS: [&str; 3] = ["sqlite", "postgres", "redis"];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("versions") => return crate::bench_versions::run(&args[1..]),
        Some("batch") => return crate::bench_batch::run(&args[1..]),
        _ => {}
    }
    let mut backends = Vec::new();
    let mut ops = 20_000u64;
    let mut runs = 3u32;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut number = |flag: &str| -> Result<u64, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{flag} needs a number"))
        };
        match arg.as_str() {
            "--ops" => ops = number("--ops")?,
            "--runs" => runs = number("--runs")? as u32,
            b if BACKENDS.contains(&b) => backends.push(b.to_string()),
            other => {
                return Err(format!(
                    "unexpected argument `{other}` (usage: cargo xtask bench [sqlite|postgres|redis]... [--ops N] [--runs N])"
                ));
            }
        }
    }
    if backends.is_empty() {
        backends = BACKENDS.iter().map(|b| b.to_string()).collect();
    }

    let mut kinds = Vec::new();
    if backends.iter().any(|b| b == "postgres") {
        kinds.push(Kind::Postgres);
    }
    if backends.iter().any(|b| b == "redis") {
        kinds.push(Kind::Redis);
    }
    let servers = test_servers::start(&kinds)?;
    let url_of = |var: &str| {
        servers
            .env
            .iter()
            .find(|(v, _)| *v == var)
            .map(|(_, u)| u.clone())
    };

    util::run(cargo().args(["build", "--release", "-p", "flowstore-bench"]))?;
    let bench_dir = util::target_dir().join("xtask").join("bench");
    let mut results = Vec::new();
    for (i, target) in TARGETS
        .iter()
        .filter(|t| backends.iter().any(|b| b == t.backend))
        .enumerate()
    {
        let store = match target.backend {
            "sqlite" => {
                let dir = bench_dir.join(format!("sqlite-{i}"));
                let _ = fs::remove_dir_all(&dir);
                fs::create_dir_all(&dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                format!("sqlite://{}", dir.join("bench.db").display())
            }
            "postgres" => url_of(Kind::Postgres.var()).ok_or("no PostgreSQL URL")?,
            _ => url_of(Kind::Redis.var()).ok_or("no Redis URL")?,
        };
        let label = format!("{} {} c={}", target.backend, target.op, target.concurrency);
        let mut cmd = cargo();
        cmd.args([
            "run",
            "--quiet",
            "--release",
            "-p",
            "flowstore-bench",
            "--",
            "compare-raw",
        ])
        .args(["--store", &store, "--op", target.op])
        .args(["--concurrency", &target.concurrency.to_string()])
        .args(["--value-size", "1024", "--ops", &ops.to_string()])
        .args(["--runs", &runs.to_string(), "--json"])
        .stderr(Stdio::inherit());
        eprintln!("\n==> xtask bench: {label}");
        // One failing target does not hide the others' results.
        let result = util::output(&mut cmd).map(|json| json.trim().to_string());
        if let Ok(json) = &result {
            println!("{label}: {json}");
        }
        results.push((label, result));
    }
    drop(servers);

    println!("\nxtask bench: results ({ops} ops per run, {runs} runs, 1 KiB values)");
    let mut failed = 0;
    for (label, result) in &results {
        let summary = match result {
            Ok(json) => match (json_number(json, "ops_per_sec"), json_number(json, "ratio")) {
                (Some(ops), Some(ratio)) => format!("{ops:>10.0} ops/s  {ratio:.2}x raw"),
                _ => json.clone(),
            },
            Err(e) => {
                failed += 1;
                format!("FAILED: {e}")
            }
        };
        println!("  {label:<20} {summary}");
    }
    if failed > 0 {
        return Err(format!("{failed} of {} benchmarks failed", results.len()));
    }
    Ok(())
}

/// The first number after `"key":` in a JSON text (good enough for the bench's
/// flat output; `None` when it does not report it).
pub(crate) fn json_number(json: &str, key: &str) -> Option<f64> {
    let start = json.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = json[start..].trim_start().strip_prefix(':')?.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_numbers() {
        assert_eq!(
            super::json_number(r#"{"a":1,"ratio": 12.5}"#, "ratio"),
            Some(12.5)
        );
        assert_eq!(super::json_number(r#"{"a":1}"#, "ratio"), None);
    }
}
