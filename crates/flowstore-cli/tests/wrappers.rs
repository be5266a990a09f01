//! The wrapper options of the `flowstore` command (`--encrypt-key-env`,
//! `--compress`, `--retry`, `--fallback`), black-box on real SQLite files.
//! The unusable primary of the fallback cases is an HTTP store on a closed port
//! (`http://127.0.0.1:1`): it opens, and every operation on it fails with
//! `unavailable` (connection refused).

mod common;

use std::process::Output;

use common::{Sandbox, assert_error, assert_exit, run_command};

const KEY_VAR: &str = "FLOWSTORE_TEST_KEY";
const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const KEY_BASE64: &str = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGho=";
const CLOSED: &str = "http://127.0.0.1:1";

const ENCRYPT_MAGIC: &[u8] = &[0xFF, b'f', b's', b'e'];
const COMPRESS_MAGIC: &[u8] = &[0xFF, b'f', b's', b'z'];
const FALLBACK_MAGIC: &[u8] = &[0xF5, b'F', b'B'];

/// A value that compresses well and holds a marker to look for.
fn value() -> String {
    format!(
        "[{}{{}}]",
        r#"{"field":"PLAINTEXT-MARKER","step":2},"#.repeat(30)
    )
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Runs with the key variable set to `key`.
fn run_keyed(sandbox: &Sandbox, key: &str, args: &[&str]) -> Output {
    let mut command = sandbox.command();
    command.env(KEY_VAR, key).args(args);
    run_command(command, b"")
}

/// Every file in the sandbox (database, WAL, shared memory) lacks `needle`.
fn assert_no_file_contains(sandbox: &Sandbox, needle: &[u8]) {
    for entry in std::fs::read_dir(sandbox.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !contains(&bytes, needle),
            "{} holds the plaintext",
            path.display()
        );
    }
}

#[test]
fn encrypted_values_round_trip_and_are_not_plaintext_on_disk() {
    let sandbox = Sandbox::new();
    let value = value();
    let encrypted = ["--encrypt-key-env", KEY_VAR];
    assert_exit(
        &run_keyed(
            &sandbox,
            KEY_HEX,
            &[&encrypted[..], &["set", "k", &value]].concat(),
        ),
        0,
    );
    assert_no_file_contains(&sandbox, b"PLAINTEXT-MARKER");

    // With the key: the value.
    let get = run_keyed(&sandbox, KEY_HEX, &[&encrypted[..], &["get", "k"]].concat());
    assert_exit(&get, 0);
    assert_eq!(get.stdout, value.as_bytes());

    // Without the key: what the store holds, the encrypted envelope.
    let raw = sandbox.run(["get", "k"]);
    assert_exit(&raw, 0);
    assert!(raw.stdout.starts_with(ENCRYPT_MAGIC), "{:?}", raw.stdout);
    assert!(!contains(&raw.stdout, b"PLAINTEXT-MARKER"));

    // A wrong key: corrupt (exit 2), never "absent" (exit 1) or wrong bytes.
    let wrong = run_keyed(
        &sandbox,
        KEY_BASE64,
        &[&encrypted[..], &["get", "k"]].concat(),
    );
    let line = assert_error(&wrong);
    assert!(line.contains("corrupt"), "{line}");
    assert!(wrong.stdout.is_empty());

    // A plaintext value read through the key: corrupt too.
    assert_exit(&sandbox.run(["set", "plain", "not encrypted"]), 0);
    let line = assert_error(&run_keyed(
        &sandbox,
        KEY_HEX,
        &[&encrypted[..], &["get", "plain"]].concat(),
    ));
    assert!(line.contains("corrupt"), "{line}");

    // An absent key is still exit 1.
    assert_exit(
        &run_keyed(
            &sandbox,
            KEY_HEX,
            &[&encrypted[..], &["get", "nobody"]].concat(),
        ),
        1,
    );
}

#[test]
fn a_missing_or_malformed_key_exits_2_without_showing_it() {
    let sandbox = Sandbox::new();
    let mut command = sandbox.command();
    command
        .env_remove(KEY_VAR)
        .args(["--encrypt-key-env", KEY_VAR, "set", "k", "v"]);
    let line = assert_error(&run_command(command, b""));
    assert!(line.contains(KEY_VAR), "{line}");
    assert!(line.contains("not set"), "{line}");

    let secret_but_short = "c2VjcmV0LWJ1dC1zaG9ydA==";
    let line = assert_error(&run_keyed(
        &sandbox,
        secret_but_short,
        &["--encrypt-key-env", KEY_VAR, "set", "k", "v"],
    ));
    assert!(line.contains(KEY_VAR), "{line}");
    assert!(!line.contains(secret_but_short), "the key leaked: {line}");
    // Nothing was written, nothing was even opened.
    assert!(!sandbox.path().join("flowstore.db").exists());
}

#[test]
fn compressed_values_round_trip() {
    let sandbox = Sandbox::new();
    let value = value();
    assert_exit(&sandbox.run(["--compress", "set", "k", &value]), 0);
    let get = sandbox.run(["get", "k", "--compress"]);
    assert_exit(&get, 0);
    assert_eq!(get.stdout, value.as_bytes());

    let raw = sandbox.run(["get", "k"]).stdout;
    assert!(raw.starts_with(COMPRESS_MAGIC), "{raw:?}");
    assert!(raw.len() < value.len() / 4, "{} bytes stored", raw.len());
    // Binary values from stdin too.
    let all_bytes: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    assert_exit(
        &sandbox.run_with_stdin(["--compress", "set", "bin"], &all_bytes),
        0,
    );
    assert_eq!(sandbox.run(["--compress", "get", "bin"]).stdout, all_bytes);
}

#[test]
fn compress_and_encrypt_stack_in_that_order() {
    let sandbox = Sandbox::new();
    let value = value();
    let args = ["--compress", "--encrypt-key-env", KEY_VAR];
    assert_exit(
        &run_keyed(
            &sandbox,
            KEY_HEX,
            &[&args[..], &["set", "k", &value]].concat(),
        ),
        0,
    );
    assert_eq!(
        run_keyed(&sandbox, KEY_HEX, &[&args[..], &["get", "k"]].concat()).stdout,
        value.as_bytes()
    );
    // Encrypted right above the file, compressed before that.
    let raw = sandbox.run(["get", "k"]).stdout;
    assert!(raw.starts_with(ENCRYPT_MAGIC), "{raw:?}");
    assert!(raw.len() < value.len() / 4, "{} bytes stored", raw.len());
    assert_no_file_contains(&sandbox, b"PLAINTEXT-MARKER");
}

#[test]
fn fallback_to_a_second_sqlite_file_while_the_primary_is_unreachable() {
    let sandbox = Sandbox::new();
    let with_fallback = |args: &[&str]| {
        sandbox.run(
            [
                &["--store", CLOSED, "--fallback", "sqlite://second.db"][..],
                args,
            ]
            .concat(),
        )
    };
    // Without a fallback, the outage is an error, not "absent".
    let line = assert_error(&sandbox.run(["--store", CLOSED, "get", "k"]));
    assert!(line.contains("unavailable"), "{line}");

    assert_exit(&with_fallback(&["set", "k", "saved"]), 0);
    let get = with_fallback(&["get", "k"]);
    assert_exit(&get, 0);
    assert_eq!(get.stdout, b"saved");

    // The second file holds the fallback's record of the value.
    let raw = sandbox
        .run(["--store", "sqlite://second.db", "get", "k"])
        .stdout;
    assert!(raw.starts_with(FALLBACK_MAGIC), "{raw:?}");

    // Either order works, and so does delete.
    let swapped = sandbox.run([
        "--store",
        "sqlite://second.db",
        "--fallback",
        CLOSED,
        "get",
        "k",
    ]);
    assert_eq!(swapped.stdout, b"saved");
    assert_exit(&with_fallback(&["delete", "k"]), 0);
    assert_exit(&with_fallback(&["get", "k"]), 1);
}

/// `get` of a key no store holds while a store is down is an error: the value
/// might be on the store that did not answer.
#[test]
fn fallback_absent_with_a_store_down_is_an_error() {
    let sandbox = Sandbox::new();
    let line = assert_error(&sandbox.run([
        "--store",
        CLOSED,
        "--fallback",
        "sqlite://second.db",
        "get",
        "nobody",
    ]));
    assert!(line.contains("unavailable"), "{line}");
}

#[test]
fn fallbacks_with_two_sqlite_files_are_both_written_and_encrypted() {
    let sandbox = Sandbox::new();
    let args = [
        "--store",
        "sqlite://first.db",
        "--fallback",
        "sqlite://second.db",
        "--encrypt-key-env",
        KEY_VAR,
        "--compress",
        "--retry",
        "2",
    ];
    let value = value();
    assert_exit(
        &run_keyed(
            &sandbox,
            KEY_HEX,
            &[&args[..], &["set", "k", &value]].concat(),
        ),
        0,
    );
    assert_eq!(
        run_keyed(&sandbox, KEY_HEX, &[&args[..], &["get", "k"]].concat()).stdout,
        value.as_bytes()
    );
    for file in ["first.db", "second.db"] {
        let url = format!("sqlite://{file}");
        let raw = sandbox.run(["--store", &url, "get", "k"]).stdout;
        assert!(raw.starts_with(ENCRYPT_MAGIC), "{file}: {raw:?}");
    }
    assert_no_file_contains(&sandbox, b"PLAINTEXT-MARKER");
}

#[test]
fn a_fallback_that_cannot_be_opened_exits_2() {
    let sandbox = Sandbox::new();
    let line =
        assert_error(&sandbox.run(["--fallback", "ftp://user:hunter2@example.com/x", "get", "k"]));
    assert!(line.contains("fallback store 1"), "{line}");
    assert!(!line.contains("hunter2"), "{line}");
}

#[test]
fn retry_gives_up_with_the_error_and_passes_successes() {
    let sandbox = Sandbox::new();
    let line = assert_error(&sandbox.run(["--retry", "2", "--store", CLOSED, "get", "k"]));
    assert!(line.contains("unavailable"), "{line}");

    assert_exit(&sandbox.run(["--retry", "3", "set", "k", "v"]), 0);
    assert_eq!(sandbox.run(["--retry", "3", "get", "k"]).stdout, b"v");
    assert_exit(&sandbox.run(["--retry", "0", "get", "k"]), 0);
    assert_exit(&sandbox.run(["--retry", "many", "get", "k"]), 2);
    assert_exit(&sandbox.run(["--retry", "101", "get", "k"]), 2);
}

#[test]
fn bench_runs_through_the_wrappers() {
    let sandbox = Sandbox::new();
    let bench = run_keyed(
        &sandbox,
        KEY_HEX,
        &[
            "--encrypt-key-env",
            KEY_VAR,
            "--compress",
            "--store",
            "sqlite://bench.db",
            "bench",
            "--ops",
            "200",
            "--keys",
            "20",
            "--value-size",
            "256",
            "--json",
        ],
    );
    assert_exit(&bench, 0);
    let report: serde_json::Value = serde_json::from_slice(&bench.stdout).unwrap();
    assert!(report["ops_per_sec"].as_f64().unwrap() > 0.0, "{report}");
    // Every value bench wrote is encrypted in the file.
    let raw = sandbox.run([
        "--store",
        "sqlite://bench.db",
        "--namespace",
        "flowstore-bench",
        "get",
        "bench:00000000",
    ]);
    assert_exit(&raw, 0);
    assert!(raw.stdout.starts_with(ENCRYPT_MAGIC), "{:?}", raw.stdout);
}

#[test]
fn default_ttl_expires_plain_writes_and_refuses_a_bad_duration() {
    let sandbox = Sandbox::new();
    assert_exit(&sandbox.run(["--default-ttl", "300ms", "set", "k", "v"]), 0);
    assert_exit(&sandbox.run(["get", "k"]), 0);
    std::thread::sleep(std::time::Duration::from_millis(900));
    assert_exit(&sandbox.run(["get", "k"]), 1);

    let bad = sandbox.run(["--default-ttl", "0s", "set", "k", "v"]);
    assert!(assert_error(&bad).contains("--default-ttl"));
    assert_exit(&sandbox.run(["get", "k"]), 1);
}
