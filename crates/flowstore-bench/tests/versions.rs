//! `flowstore-bench conditional` and `counter` run against a store with entry
//! versions and report in the documented shape; a store without versions is
//! refused. No timing is asserted: figures depend on the machine.

use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn run(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    Command::new(env!("CARGO_BIN_EXE_flowstore-bench"))
        .args(args)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("the flowstore-bench binary runs")
}

#[track_caller]
fn stdout_of_success(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 stdout")
}

#[test]
fn conditional_compares_set_if_with_plain_set() {
    let output = run(&[
        "conditional",
        "--store",
        "memory://",
        "--concurrency",
        "4",
        "--keys",
        "50",
        "--ops",
        "400",
        "--runs",
        "2",
        "--json",
    ]);
    let report: Value = serde_json::from_str(stdout_of_success(&output).trim()).expect("JSON");
    assert_eq!(report["op"], "set-if");
    assert_eq!(report["runs"], 2);
    assert_eq!(report["total_ops"], 800);
    assert_eq!(
        report["ratios"].as_array().map(Vec::len),
        Some(2),
        "{report}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("baseline (plain set)"), "{stderr}");
}

#[test]
fn counter_checks_the_final_count() {
    let output = run(&[
        "counter",
        "--store",
        "memory://",
        "--tasks",
        "8",
        "--duration",
        "200ms",
        "--runs",
        "2",
        "--json",
    ]);
    let report: Value = serde_json::from_str(stdout_of_success(&output).trim()).expect("JSON");
    assert_eq!(report["exact"], true);
    assert_eq!(report["tasks"], 8);
    assert!(
        report["increments_per_sec"]
            .as_f64()
            .is_some_and(|rate| rate > 0.0),
        "{report}"
    );
}

#[test]
fn a_store_without_versions_is_refused() {
    // An original-design HTTP server (plain-404 mode) cannot check conditions;
    // nothing needs to listen: the store is refused before any request.
    let output = run(&[
        "counter",
        "--store",
        "http://127.0.0.1:9/?plain_404=true",
        "--runs",
        "1",
    ]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no entry versions"), "{stderr}");
}
