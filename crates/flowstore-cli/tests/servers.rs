//! The `flowstore` command against real PostgreSQL and Redis servers.
//!
//! Ignored unless run with `--include-ignored` and `FLOWSTORE_TEST_POSTGRES_URL`
//! / `FLOWSTORE_TEST_REDIS_URL` set (`cargo xtask ci` does both); forced without
//! the variable they panic.

mod common;

use common::{Sandbox, assert_exit};

fn server_url(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: this test needs a server"))
}

/// A namespace no other test or run uses.
fn unique_namespace(label: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("cli-{label}-{}-{nanos}", std::process::id())
}

/// set, get, TTL-less overwrite, delete and clear through the binary, each
/// command a new process (a new client).
fn round_trip(url: &str, label: &str) {
    let sandbox = Sandbox::new();
    let namespace = unique_namespace(label);
    let run = |args: &[&str]| {
        sandbox.run([&["--store", url, "--namespace", &namespace][..], args].concat())
    };
    assert_exit(&run(&["set", "signup:42", r#"{"step":2}"#]), 0);
    assert_eq!(run(&["get", "signup:42"]).stdout, br#"{"step":2}"#);
    let all_bytes: Vec<u8> = (0..=255u8).collect();
    let mut set = sandbox.command();
    set.args(["--store", url, "--namespace", &namespace, "set", "bin"]);
    assert_exit(&common::run_command(set, &all_bytes), 0);
    assert_eq!(run(&["get", "bin"]).stdout, all_bytes);
    assert_exit(&run(&["delete", "bin"]), 0);
    assert_exit(&run(&["get", "bin"]), 1);
    assert_exit(&run(&["clear", "--yes"]), 0);
    assert_exit(&run(&["get", "signup:42"]), 1);
    assert!(!sandbox.path().join("flowstore.db").exists());
}

#[test]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
fn postgres_round_trip() {
    round_trip(&server_url("FLOWSTORE_TEST_POSTGRES_URL"), "pg");
}

#[test]
#[ignore = "needs FLOWSTORE_TEST_REDIS_URL"]
fn redis_round_trip() {
    round_trip(&server_url("FLOWSTORE_TEST_REDIS_URL"), "redis");
}

/// Redis as the primary, a local SQLite file as the fallback, values encrypted.
#[test]
#[ignore = "needs FLOWSTORE_TEST_REDIS_URL"]
fn redis_with_an_encrypted_sqlite_fallback() {
    let url = server_url("FLOWSTORE_TEST_REDIS_URL");
    let sandbox = Sandbox::new();
    let namespace = unique_namespace("stack");
    let run = |args: &[&str]| {
        let mut command = sandbox.command();
        command
            .env(
                "STACK_KEY",
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            )
            .args([
                "--store",
                &url,
                "--fallback",
                "sqlite://fallback.db",
                "--namespace",
                &namespace,
                "--encrypt-key-env",
                "STACK_KEY",
                "--retry",
                "2",
            ])
            .args(args);
        common::run_command(command, b"")
    };
    assert_exit(&run(&["set", "k", "PLAINTEXT-MARKER"]), 0);
    assert_eq!(run(&["get", "k"]).stdout, b"PLAINTEXT-MARKER");
    for store in [url.as_str(), "sqlite://fallback.db"] {
        let raw = sandbox.run(["--store", store, "--namespace", &namespace, "get", "k"]);
        assert_exit(&raw, 0);
        assert!(raw.stdout.starts_with(&[0xFF, b'f', b's', b'e']), "{store}");
    }
    assert_exit(&run(&["clear", "--yes"]), 0);
}

/// SQLite → PostgreSQL → Redis with `copy` (re-encrypted on the way), then
/// Redis → SQLite; PostgreSQL and Redis listed, PostgreSQL exported and imported
/// into SQLite, both emptied with `delete --prefix`.
#[test]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL and FLOWSTORE_TEST_REDIS_URL"]
fn copy_and_export_between_sqlite_postgres_and_redis() {
    let postgres = server_url("FLOWSTORE_TEST_POSTGRES_URL");
    let redis = server_url("FLOWSTORE_TEST_REDIS_URL");
    let sandbox = Sandbox::new();
    let namespace = unique_namespace("copy");
    let run = |args: &[&str]| {
        let mut command = sandbox.command();
        command
            .env(
                "PG_KEY",
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            )
            .args(args);
        common::run_command(command, b"")
    };
    for i in 0..120 {
        let (key, value) = (format!("p/{i:04}"), format!("value {i}"));
        assert_exit(
            &run(&[
                "--store",
                "sqlite://a.db",
                "set",
                &key,
                &value,
                "--ttl",
                "1h",
            ]),
            0,
        );
    }
    let copied = |output: &std::process::Output| {
        assert_exit(output, 0);
        assert!(
            String::from_utf8_lossy(&output.stderr)
                .contains("copied 120 entries; the target holds all of them"),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    copied(&run(&[
        "copy",
        "--from",
        "sqlite://a.db",
        "--to",
        &postgres,
        "--to-namespace",
        &namespace,
        "--to-encrypt-key-env",
        "PG_KEY",
        "--batch",
        "50",
        "--checkpoint",
        "pg.checkpoint",
    ]));
    let pg = [
        "--store",
        postgres.as_str(),
        "--namespace",
        namespace.as_str(),
    ];
    let listed = run(&[&pg[..], &["list", "p/"]].concat());
    assert_eq!(String::from_utf8_lossy(&listed.stdout).lines().count(), 120);
    copied(&run(&[
        "copy",
        "--from",
        &postgres,
        "--from-namespace",
        &namespace,
        "--from-encrypt-key-env",
        "PG_KEY",
        "--to",
        &redis,
        "--to-namespace",
        &namespace,
    ]));
    let got = run(&[
        "--store",
        &redis,
        "--namespace",
        &namespace,
        "get",
        "p/0042",
    ]);
    assert_eq!(got.stdout, b"value 42");
    // Redis lists (unordered) too: back from Redis into a fresh SQLite file.
    let rd = ["--store", redis.as_str(), "--namespace", namespace.as_str()];
    let listed = run(&[&rd[..], &["list", "--json", "p/"]].concat());
    assert_eq!(String::from_utf8_lossy(&listed.stdout).lines().count(), 120);
    // Redis lists at least once (SCAN repeats keys while the server resizes
    // its table, as other tests' writes make it do), so the copy may count
    // and write a key twice; the target below must still hold exactly 120.
    let from_redis_copy = run(&[
        "copy",
        "--from",
        &redis,
        "--from-namespace",
        &namespace,
        "--to",
        "sqlite://c.db",
        "--batch",
        "7",
    ]);
    assert_exit(&from_redis_copy, 0);
    let report = String::from_utf8_lossy(&from_redis_copy.stderr).to_string();
    let count: usize = report
        .split("copied ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no copy count in: {report}"));
    assert!(
        count >= 120 && report.contains("entries; the target holds all of them"),
        "{report}"
    );
    let from_redis = run(&["--store", "sqlite://c.db", "list", "--long"]);
    let from_redis = String::from_utf8_lossy(&from_redis.stdout).to_string();
    assert_eq!(from_redis.lines().count(), 120);
    assert!(
        from_redis.lines().all(|line| !line.contains("\tnever\t")),
        "{from_redis}"
    );

    let export = run(&[
        &pg[..],
        &["--encrypt-key-env", "PG_KEY", "export", "-o", "pg.jsonl"],
    ]
    .concat());
    assert_exit(&export, 0);
    assert_exit(&run(&["--store", "sqlite://b.db", "import", "pg.jsonl"]), 0);
    assert_eq!(
        run(&["--store", "sqlite://b.db", "get", "p/0119"]).stdout,
        b"value 119"
    );

    let deleted = run(&[&pg[..], &["delete", "--prefix", "p/", "--yes"]].concat());
    assert_eq!(deleted.stdout, b"120\n");
    let deleted = run(&[&rd[..], &["delete", "--prefix", "p/", "--yes"]].concat());
    assert_eq!(deleted.stdout, b"120\n");
}
