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
