//! `flowstore-bench compare-raw` runs both sides and reports in the documented
//! shape. No timing is asserted: figures depend on the machine.
//!
//! The PostgreSQL and Redis cases are ignored unless run with
//! `--include-ignored` and `FLOWSTORE_TEST_POSTGRES_URL` /
//! `FLOWSTORE_TEST_REDIS_URL` set (`cargo xtask ci` does both); forced without
//! the variable they panic.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use flowstore::{Key, Namespace, OpenOptions};
use serde_json::Value;

/// The binary in `dir`, stdin closed.
fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flowstore-bench"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("the flowstore-bench binary runs")
}

#[track_caller]
fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Exit 2 with exactly one line on stderr, returned.
#[track_caller]
fn assert_error(output: &Output) -> String {
    assert_exit(output, 2);
    let stderr = String::from_utf8(output.stderr.clone()).expect("UTF-8 stderr");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    stderr.trim_end().to_string()
}

fn compare_json(dir: &Path, args: &[&str]) -> Value {
    let output = run(dir, &[&["compare-raw", "--json"], args].concat());
    assert_exit(&output, 0);
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 JSON");
    assert_eq!(stdout.lines().count(), 1, "one JSON object: {stdout}");
    serde_json::from_str(&stdout).expect("stdout is JSON")
}

/// Both sides measured, `runs` rounds, the ratio of each.
#[track_caller]
fn assert_compared(json: &Value, runs: usize, baseline_mentions: &str) {
    for prefix in ["", "raw_"] {
        for field in ["ops_per_sec", "p50_us", "p99_us", "p999_us"] {
            let name = format!("{prefix}{field}");
            let value = json[&name]
                .as_f64()
                .unwrap_or_else(|| panic!("{name} in {json}"));
            assert!(value > 0.0, "{name} = {value}");
        }
    }
    assert!(json["ratio"].as_f64().unwrap() > 0.0, "{json}");
    assert_eq!(json["ratios"].as_array().unwrap().len(), runs, "{json}");
    assert_eq!(json["per_run"].as_array().unwrap().len(), runs, "{json}");
    assert_eq!(
        json["raw_per_run"].as_array().unwrap().len(),
        runs,
        "{json}"
    );
    assert!(
        json["raw_baseline"]
            .as_str()
            .is_some_and(|text| text.contains(baseline_mentions)),
        "{json}"
    );
}

/// Reads `key` of `namespace` in the store at `url`, through flowstore.
fn read(url: &str, namespace: &str, key: &str) -> Option<Vec<u8>> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let options = OpenOptions::new().namespace(Namespace::new(namespace).unwrap());
        let store = flowstore::open_with(url, &options).await.unwrap();
        store.get(&Key::new(key).unwrap()).await.unwrap()
    })
}

#[test]
fn get_on_sqlite_against_rusqlite() {
    let dir = tempfile::tempdir().unwrap();
    let json = compare_json(
        dir.path(),
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
    assert_compared(&json, 3, "rusqlite");
    assert_eq!(json["total_ops"], 450);
    assert_eq!(json["store"], "sqlite://");
    for field in ["op", "value_size", "keys", "runs", "max_us"] {
        assert!(json.get(field).is_some(), "{field} in {json}");
    }
}

#[test]
fn set_on_sqlite_for_a_duration_writes_the_bench_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let json = compare_json(
        dir.path(),
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
            "--runs",
            "1",
        ],
    );
    assert_compared(&json, 1, "rusqlite");
    assert_eq!(json["duration_ms"], 200);
    // Both sides wrote the same rows: the raw upserts are readable through the
    // store, in the bench's namespace and nowhere else.
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let value = read(&url, "flowstore-bench", "bench:00000000").expect("written");
    assert_eq!(value.len(), 1024);
    assert_eq!(read(&url, "flow", "bench:00000000"), None);
}

#[test]
fn a_store_without_a_baseline_is_refused_with_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let line = assert_error(&run(
        dir.path(),
        &["compare-raw", "--store", "memory://", "--ops", "10"],
    ));
    assert!(line.contains("memory://"), "names the store: {line}");
    for scheme in ["sqlite://", "postgres://", "redis://", "http://"] {
        assert!(line.contains(scheme), "lists {scheme}: {line}");
    }
    let line = assert_error(&run(
        dir.path(),
        &[
            "compare-raw",
            "--store",
            "https://127.0.0.1:1",
            "--ops",
            "10",
        ],
    ));
    assert!(
        line.contains("https://") && line.contains("http://"),
        "{line}"
    );
}

#[test]
fn http_server_against_the_minimal_axum_server() {
    // A flowstore server over memory, in this process on its own runtime.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store: Arc<dyn flowstore::Store> = Arc::new(flowstore::memory::MemoryStore::new());
    let mut config = flowstore_server::ServerConfig::default();
    config.listen = "127.0.0.1:0".to_string();
    let server = runtime
        .block_on(flowstore_server::bind(Arc::clone(&store), config))
        .unwrap();
    let url = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = runtime.spawn(server.run(async {
        let _ = stopped.await;
    }));

    let dir = tempfile::tempdir().unwrap();
    for op in ["set", "get"] {
        let json = compare_json(
            dir.path(),
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
                "--runs",
                "3",
            ],
        );
        assert_compared(&json, 3, "axum");
        assert_eq!(json["store"], "http://");
        assert_eq!(json["op"], op);
    }
    // The flowstore side went through the server into its store.
    let stored = runtime
        .block_on(store.get(&Key::new("bench:00000003").unwrap()))
        .unwrap();
    assert_eq!(stored.map(|value| value.len()), Some(1024));
    let _ = stop.send(());
    runtime.block_on(serving).unwrap().unwrap();
}

#[test]
fn encrypt_compress_prints_both_ratios() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        dir.path(),
        &["encrypt-compress", "--batches", "3", "--iterations", "5"],
    );
    assert_exit(&output, 0);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("wrappers / direct calls "), "{stdout}");
    assert!(
        stdout.contains("wrappers / direct calls + store"),
        "{stdout}"
    );
}

fn server_url(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: this test needs a server"))
}

/// A namespace no other test or run uses.
fn unique_namespace(label: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("bench-{label}-{}-{nanos}", std::process::id())
}

/// `set` and `get` against the server's raw client, in a namespace of its
/// own, cleared afterwards.
fn against_server(url: &str, label: &str, baseline_mentions: &str) {
    let dir = tempfile::tempdir().unwrap();
    let namespace = unique_namespace(label);
    for op in ["set", "get"] {
        let json = compare_json(
            dir.path(),
            &[
                "--store",
                url,
                "--namespace",
                &namespace,
                "--op",
                op,
                "--concurrency",
                "4",
                "--ops",
                "200",
                "--keys",
                "20",
                "--runs",
                "2",
            ],
        );
        assert_compared(&json, 2, baseline_mentions);
    }
    let value = read(url, &namespace, "bench:00000019").expect("written");
    assert_eq!(value.len(), 1024);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let options = OpenOptions::new().namespace(Namespace::new(&namespace).unwrap());
        let store = flowstore::open_with(url, &options).await.unwrap();
        store.clear().await.unwrap();
    });
}

#[test]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
fn postgres_against_deadpool_postgres() {
    against_server(
        &server_url("FLOWSTORE_TEST_POSTGRES_URL"),
        "pg",
        "deadpool-postgres",
    );
}

#[test]
#[ignore = "needs FLOWSTORE_TEST_REDIS_URL"]
fn redis_against_fred() {
    against_server(&server_url("FLOWSTORE_TEST_REDIS_URL"), "redis", "fred");
}
