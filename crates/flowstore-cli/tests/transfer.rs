//! `list`, `delete --prefix`, `export`, `import` and `copy`, black-box on real
//! SQLite files (each command a new process).

mod common;

use common::{Sandbox, assert_error, assert_exit, run_command};

const A_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const B_KEY: &str = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

/// Runs with the key variables A_KEY and B_KEY set.
fn run_keyed(sandbox: &Sandbox, args: &[&str]) -> std::process::Output {
    let mut command = sandbox.command();
    command.env("A_KEY", A_KEY).env("B_KEY", B_KEY).args(args);
    run_command(command, b"")
}

/// Writes `n` keys `p/0000`… (every third with a TTL of an hour) and `q/other`.
fn fill(sandbox: &Sandbox, store: &str, n: usize, extra: &[&str]) {
    for i in 0..n {
        let key = format!("p/{i:04}");
        let value = format!("value {i}");
        let mut args = vec!["--store", store, "set", &key, &value];
        if i % 3 == 0 {
            args.extend(["--ttl", "1h"]);
        }
        args.extend(extra);
        assert_exit(&run_keyed(sandbox, &args), 0);
    }
    let other = [&["--store", store, "set", "q/other", "x"][..], extra].concat();
    assert_exit(&run_keyed(sandbox, &other), 0);
}

#[test]
fn list_escapes_keys_and_has_raw_long_and_json_forms() {
    let sandbox = Sandbox::new();
    for key in ["a/1", "a/new\nline", "a/back\\slash", "b/1"] {
        assert_exit(&sandbox.run(["set", key, "v"]), 0);
    }
    assert_exit(&sandbox.run(["set", "a/ttl", "value", "--ttl", "1h"]), 0);
    let plain = sandbox.run(["list", "a/"]);
    assert_exit(&plain, 0);
    assert_eq!(
        stdout(&plain),
        "a/1\na/back\\\\slash\na/new\\nline\na/ttl\n"
    );
    let raw = sandbox.run(["list", "-0", "a/n"]);
    assert_eq!(raw.stdout, b"a/new\nline\0");
    assert_eq!(stdout(&sandbox.run(["list"])).lines().count(), 5);
    let long = stdout(&sandbox.run(["list", "--long", "a/ttl"]));
    let fields: Vec<&str> = long.trim_end().split('\t').collect();
    assert_eq!(fields.len(), 4, "{long:?}");
    assert!(
        fields[1].ends_with('Z') && fields[1].len() == 24,
        "{long:?}"
    );
    assert_eq!(fields[2], "5");
    assert_eq!(fields[3], "a/ttl");
    let json = stdout(&sandbox.run(["list", "--json", "a/1"]));
    let object: serde_json::Value = serde_json::from_str(json.trim_end()).unwrap();
    assert_eq!(object["key"], "a/1");
    assert_eq!(object["expires_at"], serde_json::Value::Null);
    assert_eq!(object["size"], 1);
    assert!(object["version"].is_string());
    // Prefixes are literal.
    assert_eq!(stdout(&sandbox.run(["list", "a%"])), "");
}

#[test]
fn delete_prefix_refuses_without_yes_and_prints_the_count() {
    let sandbox = Sandbox::new();
    for key in ["p/1", "p/2", "p/3", "q/1"] {
        assert_exit(&sandbox.run(["set", key, "v"]), 0);
    }
    let refused = assert_error(&sandbox.run(["delete", "--prefix", "p/"]));
    assert!(refused.contains("refusing without --yes"), "{refused}");
    assert_eq!(stdout(&sandbox.run(["list"])).lines().count(), 4);
    let deleted = sandbox.run(["delete", "--prefix", "p/", "--yes"]);
    assert_exit(&deleted, 0);
    assert_eq!(stdout(&deleted), "3\n");
    assert_eq!(stdout(&sandbox.run(["list"])), "q/1\n");
    // KEY and --prefix do not go together.
    assert_exit(&sandbox.run(["delete", "q/1", "--prefix", "q/"]), 2);
}

#[test]
fn delete_of_the_empty_prefix_needs_all() {
    let sandbox = Sandbox::new();
    for key in ["p/1", "q/1"] {
        assert_exit(&sandbox.run(["set", key, "v"]), 0);
    }
    let refused = assert_error(&sandbox.run(["delete", "--prefix", "", "--yes"]));
    assert!(refused.contains("say so with --all"), "{refused}");
    assert_eq!(stdout(&sandbox.run(["list"])).lines().count(), 2);
    let refused = assert_error(&sandbox.run(["delete", "--prefix", "p/", "--all", "--yes"]));
    assert!(refused.contains("only with an empty --prefix"), "{refused}");
    let refused = assert_error(&sandbox.run(["delete", "p/1", "--all"]));
    assert!(refused.contains("only with an empty --prefix"), "{refused}");
    assert_eq!(stdout(&sandbox.run(["list"])).lines().count(), 2);
    let deleted = sandbox.run(["delete", "--prefix", "", "--all", "--yes"]);
    assert_exit(&deleted, 0);
    assert_eq!(stdout(&deleted), "2\n");
    assert_eq!(stdout(&sandbox.run(["list"])), "");
}

#[test]
fn export_and_import_round_trip_binary_values_and_expiries() {
    let sandbox = Sandbox::new();
    let source = "sqlite://source.db";
    let target = "sqlite://target.db";
    let binary: Vec<u8> = (0..=255u8).rev().collect();
    let mut set = sandbox.command();
    set.args(["--store", source, "set", "p/bin", "--ttl", "2h"]);
    assert_exit(&run_command(set, &binary), 0);
    fill(&sandbox, source, 20, &[]);

    let export = sandbox.run([
        "--store",
        source,
        "export",
        "--prefix",
        "p/",
        "-o",
        "dump.jsonl",
    ]);
    assert_exit(&export, 0);
    let dump = std::fs::read_to_string(sandbox.path().join("dump.jsonl")).unwrap();
    assert_eq!(dump.lines().count(), 22, "{dump}");
    assert!(dump.starts_with("{\"exported_at\""), "{dump}");
    assert!(
        dump.lines()
            .next()
            .unwrap()
            .contains("\"format\":\"flowstore-export\"")
    );
    // The same export on stdout.
    let piped = sandbox.run(["--store", source, "export", "--prefix", "p/"]);
    assert_eq!(stdout(&piped).lines().count(), 22);

    let import = sandbox.run(["--store", target, "import", "dump.jsonl"]);
    assert_exit(&import, 0);
    assert_eq!(
        sandbox.run(["--store", target, "get", "p/bin"]).stdout,
        binary
    );
    assert_exit(&sandbox.run(["--store", target, "get", "q/other"]), 1);
    for key in ["p/bin", "p/0003", "p/0004"] {
        let stat = |store: &str| {
            let out = sandbox.run(["--store", store, "stat", "--json", key]);
            let object: serde_json::Value = serde_json::from_str(stdout(&out).trim_end()).unwrap();
            object["expires_at"]
                .as_str()
                .map(|at| flowstore_server::protocol::parse_expires_at(at).unwrap())
        };
        // Kept to within the time a write takes: a store is given the TTL left
        // and stamps the expiry from its own clock when it writes.
        match (stat(source), stat(target)) {
            (None, None) => {}
            (Some(a), Some(b)) => {
                let skew = b.duration_since(a).unwrap_or_else(|err| err.duration());
                assert!(skew < std::time::Duration::from_secs(1), "{key}: {skew:?}");
            }
            other => panic!("{key}: {other:?}"),
        }
    }
    // From stdin, only where absent: nothing changes.
    assert_exit(
        &sandbox.run(["--store", target, "set", "p/0001", "changed"]),
        0,
    );
    let again = sandbox.run_with_stdin(
        ["--store", target, "import", "--if-absent"],
        dump.as_bytes(),
    );
    assert_exit(&again, 0);
    assert!(String::from_utf8_lossy(&again.stderr).contains("imported 0 entries"));
    assert_eq!(
        sandbox.run(["--store", target, "get", "p/0001"]).stdout,
        b"changed"
    );
}

#[test]
fn import_refuses_an_unknown_format_version() {
    let sandbox = Sandbox::new();
    let file = "{\"format\":\"flowstore-export\",\"version\":9}\n{\"key\":\"k\",\"value\":\"v\",\"encoding\":\"utf8\",\"expires_at\":null}\n";
    let line = assert_error(&sandbox.run_with_stdin(["import"], file.as_bytes()));
    assert!(line.contains("version 9 is not supported"), "{line}");
    assert_exit(&sandbox.run(["get", "k"]), 1);
}

#[test]
fn copy_reencrypts_into_another_namespace_keeping_ttls() {
    let sandbox = Sandbox::new();
    let run = |args: &[&str]| run_keyed(&sandbox, args);
    let encrypted_a = ["--namespace", "old", "--encrypt-key-env", "A_KEY"];
    fill(&sandbox, "sqlite://a.db", 30, &encrypted_a);
    let copy = run(&[
        "copy",
        "--from",
        "sqlite://a.db",
        "--to",
        "sqlite://b.db",
        "--prefix",
        "p/",
        "--from-namespace",
        "old",
        "--from-encrypt-key-env",
        "A_KEY",
        "--to-namespace",
        "new",
        "--to-encrypt-key-env",
        "B_KEY",
        "--batch",
        "4",
    ]);
    assert_exit(&copy, 0);
    let stderr = String::from_utf8_lossy(&copy.stderr);
    assert!(
        stderr.contains("copied 30 entries; the target holds all of them"),
        "{stderr}"
    );

    let target = ["--store", "sqlite://b.db", "--namespace", "new"];
    let get = |key: &str, var: &str| {
        run(&[&target[..], &["--encrypt-key-env", var, "get", key]].concat())
    };
    assert_eq!(get("p/0007", "B_KEY").stdout, b"value 7");
    let wrong = assert_error(&get("p/0007", "A_KEY"));
    assert!(wrong.contains("corrupt"), "{wrong}");
    assert_exit(&get("q/other", "B_KEY"), 1);
    let ttl = run(&[&target[..], &["stat", "p/0003"]].concat());
    assert!(!stdout(&ttl).contains("expires never"), "{}", stdout(&ttl));
    assert_eq!(
        stdout(&run(&[&target[..], &["list"]].concat()))
            .lines()
            .count(),
        30
    );

    // Re-running changes nothing and checks out again.
    assert_exit(&copy, 0);
    // The global options are ambiguous for copy.
    let refused = assert_error(&run(&[
        "--namespace",
        "x",
        "copy",
        "--from",
        "sqlite://a.db",
        "--to",
        "sqlite://b.db",
    ]));
    assert!(refused.contains("--from-"), "{refused}");
}

#[test]
fn an_interrupted_copy_resumes_from_its_checkpoint_with_equal_counts() {
    let sandbox = Sandbox::new();
    fill(&sandbox, "sqlite://a.db", 50, &[]);
    let copy = |extra: &[&str]| {
        sandbox.run(
            [
                &[
                    "copy",
                    "--from",
                    "sqlite://a.db",
                    "--to",
                    "sqlite://b.db",
                    "--checkpoint",
                    "copy.checkpoint",
                    "--batch",
                    "5",
                    "--jobs",
                    "2",
                ][..],
                extra,
            ]
            .concat(),
        )
    };
    let stopped = assert_error(&copy(&["--stop-after-pages", "3"]));
    assert!(stopped.contains("stopped after 3 pages"), "{stopped}");
    let checkpoint = std::fs::read_to_string(sandbox.path().join("copy.checkpoint")).unwrap();
    assert!(checkpoint.contains("\"copied\":15"), "{checkpoint}");
    let resumed = copy(&[]);
    assert_exit(&resumed, 0);
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(
        stderr.contains("copied 51 entries; the target holds all of them"),
        "{stderr}"
    );
    assert_eq!(
        stdout(&sandbox.run(["--store", "sqlite://b.db", "list"])),
        stdout(&sandbox.run(["--store", "sqlite://a.db", "list"]))
    );
}

/// A checkpoint belongs to its two stores: reused with another `--to`, it
/// would skip every page it recorded (here: all of them) and report the old
/// run's counts as success; it is refused instead.
#[test]
fn a_checkpoint_is_refused_for_another_target() {
    let sandbox = Sandbox::new();
    fill(&sandbox, "sqlite://a.db", 10, &[]);
    let copy = |to: &str| {
        sandbox.run([
            "copy",
            "--from",
            "sqlite://a.db",
            "--to",
            to,
            "--checkpoint",
            "copy.checkpoint",
        ])
    };
    assert_exit(&copy("sqlite://b.db"), 0);
    let refused = assert_error(&copy("sqlite://c.db"));
    assert!(refused.contains("made for another target"), "{refused}");
    assert_eq!(
        stdout(&sandbox.run(["--store", "sqlite://c.db", "list"])),
        ""
    );
    // The same target again resumes (finished: nothing more to copy).
    assert_exit(&copy("sqlite://b.db"), 0);
}

/// `delete --prefix` on a terminal asks, like `clear` (a pseudo-terminal from
/// util-linux `script`).
#[cfg(target_os = "linux")]
#[test]
fn delete_prefix_asks_on_a_terminal() {
    use std::process::Command;

    let sandbox = Sandbox::new();
    let on_a_terminal = |answer: &[u8]| {
        let mut command = Command::new("script");
        command
            .current_dir(sandbox.path())
            .env_remove("FLOWSTORE_URL")
            .args([
                "-qec",
                &format!("'{}' delete --prefix p/", env!("CARGO_BIN_EXE_flowstore")),
                "/dev/null",
            ]);
        run_command(command, answer)
    };
    assert_exit(&sandbox.run(["set", "p/1", "v"]), 0);
    assert_exit(&sandbox.run(["set", "q/1", "v"]), 0);
    let declined = on_a_terminal(b"n\n");
    assert_exit(&declined, 2);
    let shown = String::from_utf8_lossy(&declined.stdout);
    assert!(
        shown.contains("starts with \"p/\"") && shown.contains("[y/N]"),
        "{shown}"
    );
    assert!(shown.contains("nothing was deleted"), "{shown}");
    assert_eq!(stdout(&sandbox.run(["list"])).lines().count(), 2);
    let accepted = on_a_terminal(b"y\n");
    assert_exit(&accepted, 0);
    assert_eq!(stdout(&sandbox.run(["list"])), "q/1\n");
}

/// A copy killed with SIGKILL mid-way leaves a whole checkpoint (it is renamed
/// into place), and the re-run finishes with equal counts.
#[cfg(unix)]
#[test]
fn a_killed_copy_resumes_with_equal_counts() {
    use std::process::Stdio;

    let sandbox = Sandbox::new();
    // Many keys through one `import` (a process per key would take long).
    let mut dump = String::from("{\"format\":\"flowstore-export\",\"version\":1}\n");
    for i in 0..3_000 {
        dump.push_str(&format!(
            "{{\"key\":\"k/{i:05}\",\"value\":\"value {i}\",\"encoding\":\"utf8\",\"expires_at\":null}}\n"
        ));
    }
    assert_exit(
        &sandbox.run_with_stdin(["--store", "sqlite://a.db", "import"], dump.as_bytes()),
        0,
    );
    let args = [
        "copy",
        "--from",
        "sqlite://a.db",
        "--to",
        "sqlite://b.db",
        "--checkpoint",
        "copy.checkpoint",
        "--batch",
        "5",
        "--jobs",
        "1",
    ];
    let mut child = sandbox
        .command()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let checkpoint = sandbox.path().join("copy.checkpoint");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !checkpoint.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&checkpoint).unwrap()).unwrap();
    assert_eq!(saved["format"], "flowstore-copy-checkpoint");
    eprintln!("killed at {saved}");
    let resumed = sandbox.run(args);
    assert_exit(&resumed, 0);
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(
        stderr.contains("copied 3000 entries; the target holds all of them"),
        "{stderr}"
    );
    let count = |store: &str| {
        stdout(&sandbox.run(["--store", store, "list"]))
            .lines()
            .count()
    };
    assert_eq!(count("sqlite://b.db"), 3_000);
}
