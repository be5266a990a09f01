//! `flowstore bench` runs and reports in the documented shape. No timing is
//! asserted: figures depend on the machine.

mod common;

use common::{Sandbox, assert_error, assert_exit};
use serde_json::Value;

fn bench_json(sandbox: &Sandbox, args: &[&str]) -> Value {
    let mut all = vec!["bench", "--json"];
    all.extend_from_slice(args);
    let output = sandbox.run(&all);
    assert_exit(&output, 0);
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 JSON");
    assert_eq!(stdout.lines().count(), 1, "one JSON object: {stdout}");
    serde_json::from_str(&stdout).expect("stdout is JSON")
}

fn assert_figures(json: &Value, prefix: &str) {
    for field in ["ops_per_sec", "p50_us", "p99_us", "p999_us"] {
        let name = format!("{prefix}{field}");
        let value = json[&name]
            .as_f64()
            .unwrap_or_else(|| panic!("{name} in {json}"));
        assert!(value > 0.0, "{name} = {value}");
    }
    let p50 = json[format!("{prefix}p50_us")].as_f64().unwrap();
    let p999 = json[format!("{prefix}p999_us")].as_f64().unwrap();
    assert!(p50 <= p999, "{json}");
}

#[test]
fn set_on_sqlite_reports_json() {
    let sandbox = Sandbox::new();
    let json = bench_json(
        &sandbox,
        &[
            "--store",
            "sqlite://bench.db",
            "--op",
            "set",
            "--concurrency",
            "4",
            "--ops",
            "200",
            "--value-size",
            "1024",
            "--keys",
            "50",
        ],
    );
    assert_figures(&json, "");
    assert_eq!(json["op"], "set");
    assert_eq!(json["concurrency"], 4);
    assert_eq!(json["ops"], 200);
    assert_eq!(json["total_ops"], 200);
    assert!(json.get("ratio").is_none());
}

#[test]
fn get_on_sqlite_with_raw_comparison_reports_json() {
    let sandbox = Sandbox::new();
    let json = bench_json(
        &sandbox,
        &[
            "--store",
            "sqlite://bench.db",
            "--op",
            "get",
            "--concurrency",
            "3",
            "--ops",
            "150",
            "--keys",
            "20",
            "--compare-raw",
            "--runs",
            "3",
        ],
    );
    assert_figures(&json, "");
    assert_figures(&json, "raw_");
    assert!(json["ratio"].as_f64().unwrap() > 0.0, "{json}");
    assert_eq!(json["ratios"].as_array().unwrap().len(), 3);
    assert_eq!(json["per_run"].as_array().unwrap().len(), 3);
    assert_eq!(json["raw_per_run"].as_array().unwrap().len(), 3);
    assert_eq!(json["total_ops"], 450);
}

#[test]
fn set_with_raw_comparison_and_a_duration() {
    let sandbox = Sandbox::new();
    let json = bench_json(
        &sandbox,
        &[
            "--store",
            "sqlite://bench.db",
            "--op",
            "set",
            "--concurrency",
            "2",
            "--duration",
            "200ms",
            "--keys",
            "10",
            "--compare-raw",
            "--runs",
            "1",
        ],
    );
    assert_figures(&json, "raw_");
    assert_eq!(json["duration_ms"], 200);
    // The bench wrote to its own namespace, not the default one.
    assert_exit(
        &sandbox.run(["--store", "sqlite://bench.db", "get", "bench:00000000"]),
        1,
    );
    let found = sandbox.run([
        "--store",
        "sqlite://bench.db",
        "--namespace",
        "flowstore-bench",
        "get",
        "bench:00000000",
    ]);
    assert_exit(&found, 0);
    assert_eq!(found.stdout.len(), 1024);
}

#[test]
fn memory_store_and_text_output() {
    let sandbox = Sandbox::new();
    let output = sandbox.run([
        "bench",
        "--store",
        "memory://",
        "--op",
        "get",
        "--ops",
        "100",
        "--concurrency",
        "2",
    ]);
    assert_exit(&output, 0);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("ops/s") && stdout.contains("p99.9"),
        "{stdout}"
    );
    assert!(!output.stderr.is_empty(), "progress goes to stderr");
}

#[test]
fn compare_raw_without_a_baseline_exits_2() {
    let sandbox = Sandbox::new();
    let line = assert_error(&sandbox.run([
        "bench",
        "--store",
        "memory://",
        "--ops",
        "10",
        "--compare-raw",
    ]));
    assert!(line.contains("sqlite://"), "{line}");
}
