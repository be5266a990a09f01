//! `flowstore bench` runs and reports in the documented shape. No timing is
//! asserted: figures depend on the machine.

mod common;

use common::{Sandbox, assert_exit};
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
fn get_on_sqlite_over_several_runs_reports_each() {
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
            "--runs",
            "3",
        ],
    );
    assert_figures(&json, "");
    assert_eq!(json["runs"], 3);
    assert_eq!(json["per_run"].as_array().unwrap().len(), 3);
    assert_eq!(json["total_ops"], 450);
    assert!(json.get("raw_ops_per_sec").is_none(), "{json}");
    for field in ["store", "op", "value_size", "keys", "runs", "max_us"] {
        assert!(json.get(field).is_some(), "{field} in {json}");
    }
}

#[test]
fn set_for_a_duration_in_its_own_namespace() {
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
        ],
    );
    assert_figures(&json, "");
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
fn calibrate_reports_the_harness_alone_and_set_if_runs() {
    let sandbox = Sandbox::new();
    let output = sandbox.run([
        "bench",
        "--store",
        "memory://",
        "--op",
        "set-if",
        "--ops",
        "200",
        "--keys",
        "20",
        "--concurrency",
        "4",
        "--calibrate",
    ]);
    assert_exit(&output, 0);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("calibration: the harness alone") && stderr.contains("ops/s"),
        "{stderr}"
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("flowstore"), "{stdout}");
}

#[test]
fn compare_raw_is_not_an_option_of_the_command() {
    // The raw baselines live in the workspace's flowstore-bench crate.
    let sandbox = Sandbox::new();
    let output = sandbox.run([
        "bench",
        "--store",
        "memory://",
        "--ops",
        "10",
        "--compare-raw",
    ]);
    assert_exit(&output, 2);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--compare-raw"), "{stderr}");
}

/// `flowstore serve` in its own process, killed on drop.
struct Server {
    child: std::process::Child,
    addr: String,
}

impl Server {
    fn start(sandbox: &Sandbox, store: &str) -> Server {
        use std::io::BufRead;
        let mut child = sandbox
            .command()
            .args(["serve", "--listen", "127.0.0.1:0", "--store", store])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("flowstore serve starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("serve prints its address");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Server { child, addr }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn http_store_through_flowstore_serve() {
    let sandbox = Sandbox::new();
    let server = Server::start(&sandbox, "memory://");
    let url = format!("http://{}", server.addr);
    for op in ["set", "get"] {
        let json = bench_json(
            &sandbox,
            &[
                "--store",
                &url,
                "--op",
                op,
                "--concurrency",
                "4",
                "--ops",
                "200",
                "--keys",
                "20",
            ],
        );
        assert_figures(&json, "");
        assert_eq!(json["store"], "http://");
        assert_eq!(json["op"], op);
    }
    // The values went through the server into its store.
    let found = sandbox.run(["--store", &url, "get", "bench:00000003"]);
    assert_exit(&found, 0);
    assert_eq!(found.stdout.len(), 1024);
}
