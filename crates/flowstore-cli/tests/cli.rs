//! Black-box tests of the `flowstore` command: each runs the real binary in its
//! own temporary directory, on the real SQLite backend.

mod common;

use common::{Sandbox, assert_error, assert_exit, run_command};

/// `set KEY VALUE` then `get KEY`, asserting the bytes come back exactly.
fn round_trip(sandbox: &Sandbox, key: &str, value: &str) {
    let set = sandbox.run(["set", "--", key, value]);
    assert_exit(&set, 0);
    assert!(set.stdout.is_empty());
    let get = sandbox.run(["get", "--", key]);
    assert_exit(&get, 0);
    assert_eq!(get.stdout, value.as_bytes(), "key {key:?}");
}

#[test]
fn odd_keys_round_trip() {
    let sandbox = Sandbox::new();
    for key in [
        "line\nbreak",
        "-dash",
        "--double-dash",
        "-",
        "😀 emoji",
        "..",
        ".",
        "a/b/../c",
        " spaces ",
        "%2e%2e",
        "*?[",
        "'; DROP TABLE flowstore_entries; --",
        "tab\there",
    ] {
        round_trip(&sandbox, key, &format!("value of {key}"));
    }
    // Each key kept its own value.
    let get = sandbox.run(["get", "--", ".."]);
    assert_eq!(get.stdout, b"value of ..");
}

#[test]
fn values_from_stdin_are_binary_safe() {
    let sandbox = Sandbox::new();
    let all_bytes: Vec<u8> = (0..=255u8).collect();
    assert_exit(&sandbox.run_with_stdin(["set", "bin"], &all_bytes), 0);
    assert_eq!(sandbox.run(["get", "bin"]).stdout, all_bytes);

    // `-` also means stdin.
    let mut with_newlines = b"\n\r\n\0tail\n".to_vec();
    with_newlines.extend_from_slice(&all_bytes);
    assert_exit(
        &sandbox.run_with_stdin(["set", "dash", "-"], &with_newlines),
        0,
    );
    assert_eq!(sandbox.run(["get", "dash"]).stdout, with_newlines);

    // A 1 MiB value survives the pipe both ways.
    let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    assert_exit(&sandbox.run_with_stdin(["set", "big"], &big), 0);
    assert_eq!(sandbox.run(["get", "big"]).stdout, big);
}

#[test]
fn empty_value_is_present_not_absent() {
    let sandbox = Sandbox::new();
    assert_exit(&sandbox.run_with_stdin(["set", "empty"], b""), 0);
    let get = sandbox.run(["get", "empty"]);
    assert_exit(&get, 0);
    assert!(get.stdout.is_empty());

    assert_exit(&sandbox.run(["set", "empty-arg", ""]), 0);
    assert_exit(&sandbox.run(["get", "empty-arg"]), 0);
}

#[test]
fn absent_key_exits_1_with_nothing_on_stdout() {
    let sandbox = Sandbox::new();
    let get = sandbox.run(["get", "nobody"]);
    assert_exit(&get, 1);
    assert!(get.stdout.is_empty());
    assert!(
        get.stderr.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&get.stderr)
    );
}

#[test]
fn overwrite_and_delete() {
    let sandbox = Sandbox::new();
    assert_exit(&sandbox.run(["set", "k", "one"]), 0);
    assert_exit(&sandbox.run(["set", "k", "two"]), 0);
    assert_eq!(sandbox.run(["get", "k"]).stdout, b"two");
    assert_exit(&sandbox.run(["delete", "k"]), 0);
    assert_exit(&sandbox.run(["get", "k"]), 1);
    // Deleting a missing key succeeds.
    assert_exit(&sandbox.run(["delete", "k"]), 0);
    assert_exit(&sandbox.run(["delete", "--", "-never-set"]), 0);
}

#[test]
fn ttl_entries_expire() {
    let sandbox = Sandbox::new();
    assert_exit(&sandbox.run(["set", "short", "v", "--ttl", "1s"]), 0);
    assert_exit(&sandbox.run(["set", "long", "v", "--ttl", "7d"]), 0);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_exit(&sandbox.run(["get", "short"]), 1);
    assert_eq!(sandbox.run(["get", "long"]).stdout, b"v");

    // A plain set removes an earlier TTL.
    assert_exit(&sandbox.run(["set", "k", "v", "--ttl", "500ms"]), 0);
    assert_exit(&sandbox.run(["set", "k", "v"]), 0);
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert_eq!(sandbox.run(["get", "k"]).stdout, b"v");
}

#[test]
fn bad_ttls_are_refused() {
    let sandbox = Sandbox::new();
    for ttl in ["0s", "abc", "5", "1.5s", "101y", "36600d"] {
        let line = assert_error(&sandbox.run(["set", "k", "v", "--ttl", ttl]));
        assert!(line.contains("invalid_argument"), "{ttl}: {line}");
    }
    assert_exit(&sandbox.run(["get", "k"]), 1);
}

#[test]
fn namespaces_are_isolated() {
    let sandbox = Sandbox::new();
    assert_exit(&sandbox.run(["--namespace", "a", "set", "k", "in a"]), 0);
    assert_exit(&sandbox.run(["--namespace", "a2", "set", "k", "in a2"]), 0);
    assert_exit(&sandbox.run(["get", "k"]), 1); // default namespace `flow`
    assert_exit(&sandbox.run(["--namespace", "b", "get", "k"]), 1);
    assert_eq!(
        sandbox.run(["--namespace", "a", "get", "k"]).stdout,
        b"in a"
    );
    assert_eq!(
        sandbox.run(["get", "k", "--namespace", "a2"]).stdout,
        b"in a2"
    );

    // The URL's namespace parameter works, and an explicit --namespace beats it.
    let url = "sqlite://flowstore.db?namespace=a";
    assert_eq!(sandbox.run(["--store", url, "get", "k"]).stdout, b"in a");
    assert_exit(
        &sandbox.run(["--store", url, "--namespace", "b", "get", "k"]),
        1,
    );

    // Clearing one namespace leaves the others.
    assert_exit(&sandbox.run(["--namespace", "a", "clear", "--yes"]), 0);
    assert_exit(&sandbox.run(["--namespace", "a", "get", "k"]), 1);
    assert_eq!(
        sandbox.run(["--namespace", "a2", "get", "k"]).stdout,
        b"in a2"
    );
}

#[test]
fn invalid_namespace_exits_2() {
    let sandbox = Sandbox::new();
    let line = assert_error(&sandbox.run(["--namespace", "", "get", "k"]));
    assert!(line.contains("--namespace"), "{line}");
}

#[test]
fn global_options_after_the_subcommand() {
    let sandbox = Sandbox::new();
    assert_exit(
        &sandbox.run([
            "set",
            "k",
            "v",
            "--store",
            "sqlite://other.db",
            "--namespace",
            "n",
        ]),
        0,
    );
    assert!(sandbox.path().join("other.db").exists());
    assert!(!sandbox.path().join("flowstore.db").exists());
    assert_eq!(
        sandbox
            .run([
                "--store",
                "sqlite://other.db",
                "get",
                "--namespace",
                "n",
                "k"
            ])
            .stdout,
        b"v"
    );
    assert_exit(&sandbox.run(["get", "k", "--namespace", "n"]), 1);
}

#[test]
fn default_store_is_flowstore_db_in_the_working_directory() {
    let sandbox = Sandbox::new();
    assert_exit(&sandbox.run(["set", "k", "v"]), 0);
    assert!(sandbox.path().join("flowstore.db").exists());
    let absolute = format!("sqlite://{}/flowstore.db", sandbox.path().display());
    assert_eq!(sandbox.run(["--store", &absolute, "get", "k"]).stdout, b"v");
}

#[test]
fn flowstore_url_environment_variable() {
    let sandbox = Sandbox::new();
    let mut set = sandbox.command();
    set.env("FLOWSTORE_URL", "sqlite://from-env.db")
        .args(["set", "k", "from env"]);
    assert_exit(&run_command(set, b""), 0);
    assert!(sandbox.path().join("from-env.db").exists());
    assert!(!sandbox.path().join("flowstore.db").exists());
    assert_eq!(
        sandbox
            .run(["--store", "sqlite://from-env.db", "get", "k"])
            .stdout,
        b"from env"
    );

    // --store beats the environment.
    let mut get = sandbox.command();
    get.env("FLOWSTORE_URL", "sqlite://from-env.db").args([
        "--store",
        "sqlite://elsewhere.db",
        "get",
        "k",
    ]);
    assert_exit(&run_command(get, b""), 1);
}

#[test]
fn clear_refuses_without_yes_when_stdin_is_not_a_terminal() {
    let sandbox = Sandbox::new();
    assert_exit(&sandbox.run(["set", "k", "v"]), 0);
    // Even an answer of "y" on a pipe is not a confirmation.
    let refused = sandbox.run_with_stdin(["clear"], b"y\n");
    let line = assert_error(&refused);
    assert!(line.contains("--yes"), "{line}");
    assert_eq!(sandbox.run(["get", "k"]).stdout, b"v");

    assert_exit(&sandbox.run(["clear", "--yes"]), 0);
    assert_exit(&sandbox.run(["get", "k"]), 1);
    assert_exit(&sandbox.run(["clear", "-y"]), 0);
}

#[test]
fn value_over_the_limit_exits_2_and_keeps_the_stored_value() {
    let sandbox = Sandbox::new();
    let url = "sqlite://limited.db?max_value_size=16";
    assert_exit(&sandbox.run(["--store", url, "set", "k", "old value"]), 0);

    let line = assert_error(&sandbox.run_with_stdin(["--store", url, "set", "k"], &[b'x'; 17]));
    assert!(line.contains("value_too_large"), "{line}");
    let line = assert_error(&sandbox.run(["--store", url, "set", "k", "seventeen bytes!!"]));
    assert!(line.contains("value_too_large"), "{line}");
    assert_eq!(
        sandbox.run(["--store", url, "get", "k"]).stdout,
        b"old value"
    );

    // Exactly at the limit is fine.
    assert_exit(
        &sandbox.run_with_stdin(["--store", url, "set", "k"], &[b'y'; 16]),
        0,
    );
    assert_eq!(sandbox.run(["--store", url, "get", "k"]).stdout, [b'y'; 16]);
}

#[test]
fn value_over_the_default_limit_via_stdin() {
    let sandbox = Sandbox::new();
    assert_exit(&sandbox.run(["set", "k", "old"]), 0);
    let too_big = vec![0u8; (16 << 20) + 1];
    let line = assert_error(&sandbox.run_with_stdin(["set", "k"], &too_big));
    assert!(line.contains("value_too_large"), "{line}");
    assert_eq!(sandbox.run(["get", "k"]).stdout, b"old");
}

#[test]
fn keys_in_error_messages_are_quoted_on_one_line() {
    let sandbox = Sandbox::new();
    let url = "sqlite://limited.db?max_value_size=1";
    let line = assert_error(&sandbox.run(["--store", url, "set", "--", "a\nb", "too long"]));
    // The command's own words (with the key), then the error with its context
    // (backend and operation as data, never the key).
    assert!(
        line.starts_with("flowstore: set \"a\\nb\": value_too_large: sqlite set: value is "),
        "{line}"
    );
}

#[test]
fn invalid_keys_exit_2() {
    let sandbox = Sandbox::new();
    let line = assert_error(&sandbox.run(["get", ""]));
    assert!(line.contains("invalid_key"), "{line}");
    let long = "k".repeat(1025);
    let line = assert_error(&sandbox.run(["set", &long, "v"]));
    assert!(line.contains("invalid_key"), "{line}");
    assert_exit(&sandbox.run(["set", &"k".repeat(1024), "v"]), 0);
    // Nothing was created for a bad key.
    let sandbox = Sandbox::new();
    assert_error(&sandbox.run(["delete", ""]));
    assert!(!sandbox.path().join("flowstore.db").exists());
}

#[cfg(unix)]
#[test]
fn non_utf8_key_exits_2() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let sandbox = Sandbox::new();
    let key = OsStr::from_bytes(b"bad\xffkey");
    let output = sandbox.run([OsStr::new("set"), key, OsStr::new("v")]);
    let line = assert_error(&output);
    assert!(line.contains("invalid_key"), "{line}");
}

#[test]
fn unknown_scheme_exits_2_naming_the_schemes() {
    let sandbox = Sandbox::new();
    let line = assert_error(&sandbox.run(["--store", "ftp://user:secret@host/x", "get", "k"]));
    assert!(line.contains("sqlite://"), "{line}");
    assert!(line.contains("memory://"), "{line}");
    assert!(
        !line.contains("secret"),
        "the URL's password leaked: {line}"
    );

    let line = assert_error(&sandbox.run(["--store", "flowstore.db", "get", "k"]));
    assert!(line.contains("sqlite://"), "{line}");
}

/// The binary is built with the PostgreSQL, Redis and HTTP backends: their URLs
/// reach the backend (here: a closed port, so an outage), and no password is shown.
#[test]
fn server_backends_are_built_in() {
    let sandbox = Sandbox::new();
    for url in [
        "postgres://app:secret@127.0.0.1:1/state",
        "postgresql://app:secret@127.0.0.1:1/state",
        "redis://:secret@127.0.0.1:1",
        "redis-cluster://:secret@127.0.0.1:1,127.0.0.1:2",
        "http://127.0.0.1:1",
    ] {
        let line = assert_error(&sandbox.run(["--store", url, "get", "k"]));
        assert!(line.contains("unavailable"), "{url}: {line}");
        assert!(!line.contains("secret"), "the password leaked: {line}");
    }
}

#[test]
fn bad_store_url_parameter_exits_2() {
    let sandbox = Sandbox::new();
    let line = assert_error(&sandbox.run(["--store", "sqlite://x.db?colour=blue", "get", "k"]));
    assert!(line.contains("config"), "{line}");
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let sandbox = Sandbox::new();
    assert_exit(&sandbox.run::<_, &str>([]), 2);
    assert_exit(&sandbox.run(["frobnicate"]), 2);
    assert_exit(&sandbox.run(["get"]), 2);
    assert_exit(&sandbox.run(["get", "a", "b"]), 2);
    assert_exit(&sandbox.run(["get", "--bogus", "k"]), 2);
    assert_exit(&sandbox.run(["get", "-dash"]), 2); // needs `--`
    assert_exit(&sandbox.run(["bench", "--ops", "5", "--duration", "1s"]), 2);

    let help = sandbox.run(["--help"]);
    assert_exit(&help, 0);
    assert!(String::from_utf8_lossy(&help.stdout).contains("--store"));
    assert_exit(&sandbox.run(["get", "--help"]), 0);
    let version = sandbox.run(["--version"]);
    assert_exit(&version, 0);
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
}

/// `clear` on a terminal asks, and only `y`/`yes` clears. The terminal is a
/// pseudo-terminal from util-linux `script` (package bsdutils, essential on Debian).
#[cfg(target_os = "linux")]
#[test]
fn clear_asks_on_a_terminal() {
    use std::process::Command;

    let sandbox = Sandbox::new();
    let on_a_terminal = |answer: &[u8]| {
        let mut command = Command::new("script");
        command
            .current_dir(sandbox.path())
            .env_remove("FLOWSTORE_URL")
            .args([
                "-qec",
                &format!("'{}' clear", env!("CARGO_BIN_EXE_flowstore")),
                "/dev/null",
            ]);
        run_command(command, answer)
    };
    assert_exit(&sandbox.run(["set", "k", "v"]), 0);

    let declined = on_a_terminal(b"n\n");
    assert_exit(&declined, 2);
    let shown = String::from_utf8_lossy(&declined.stdout);
    assert!(shown.contains("[y/N]"), "{shown}");
    assert!(shown.contains("nothing was deleted"), "{shown}");
    assert_eq!(sandbox.run(["get", "k"]).stdout, b"v");

    assert_exit(&on_a_terminal(b"\n"), 2);
    assert_eq!(sandbox.run(["get", "k"]).stdout, b"v");

    assert_exit(&on_a_terminal(b"y\n"), 0);
    assert_exit(&sandbox.run(["get", "k"]), 1);
}

/// SQLite's write-ahead log (`NAME-wal`) is checkpointed and removed when the
/// command's store closes, so it does not linger beside the database after the
/// process exits.
#[test]
fn no_write_ahead_log_is_left_after_the_command_exits() {
    let sandbox = Sandbox::new();
    let url = "sqlite://state.db";
    let wal = sandbox.path().join("state.db-wal");
    let wal_size = || std::fs::metadata(&wal).map_or(0, |meta| meta.len());
    assert_exit(&sandbox.run(["--store", url, "set", "k", "v"]), 0);
    assert_eq!(wal_size(), 0, "the log is left after `set`");
    assert_exit(&sandbox.run(["--store", url, "clear", "--yes"]), 0);
    assert_eq!(wal_size(), 0, "the log is left after `clear`");
    let get = sandbox.run(["--store", url, "get", "k"]);
    assert_exit(&get, 1);
    assert_eq!(wal_size(), 0, "the log is left after `get`");
}
