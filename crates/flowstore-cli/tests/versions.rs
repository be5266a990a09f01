//! `stat`, `set --if-version` / `--if-absent` and `delete --if-version`,
//! black-box: the real binary as the client of the real binary serving a
//! memory store (`flowstore --store memory:// serve`), which keeps entry
//! versions across commands (a `memory://` store lives only as long as one
//! command).

mod common;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::process::{Child, Output, Stdio};

use common::{Sandbox, assert_error, assert_exit, run_command};

/// `flowstore --store memory:// serve` on a free port; killed on drop.
struct MemoryServer {
    child: Child,
    url: String,
}

impl MemoryServer {
    fn start(sandbox: &Sandbox) -> MemoryServer {
        let mut child = sandbox
            .command()
            .args(["--store", "memory://", "serve", "--listen", "127.0.0.1:0"])
            .env_remove("FLOWSTORE_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(sandbox.path().join("serve.log")).unwrap())
            .spawn()
            .expect("flowstore serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim_end()
            .strip_prefix("listening on ")
            .map(str::to_owned);
        let mut server = MemoryServer {
            child,
            url: String::new(),
        };
        server.url = format!("http://{}", addr.expect("a `listening on` line"));
        server
    }

    fn run(&self, sandbox: &Sandbox, args: &[&str]) -> Output {
        let mut command = sandbox.command();
        command
            .env_remove("FLOWSTORE_TOKEN")
            .args(["--store", &self.url])
            .args(args);
        run_command(command, b"")
    }
}

impl Drop for MemoryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stdout_line(output: &Output) -> String {
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(text.lines().count(), 1, "{text:?}");
    text.trim_end().to_owned()
}

/// Asserts exit 3 with one line on stderr, and returns that line.
#[track_caller]
fn assert_conflict(output: &Output) -> String {
    assert_exit(output, 3);
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    stderr.trim_end().to_owned()
}

#[test]
fn conditional_set_and_delete_follow_the_entry_version() {
    let sandbox = Sandbox::new();
    let server = MemoryServer::start(&sandbox);

    // A plain set stays silent.
    let plain = server.run(&sandbox, &["set", "k", "zero"]);
    assert_exit(&plain, 0);
    assert!(plain.stdout.is_empty());
    let taken = server.run(&sandbox, &["set", "--if-absent", "k", "x"]);
    let message = assert_conflict(&taken);
    assert!(message.contains("condition failed"), "{message}");
    assert!(!message.contains("zero"), "no value in messages: {message}");

    let created = server.run(&sandbox, &["set", "--if-absent", "new", "one"]);
    assert_exit(&created, 0);
    let first = stdout_line(&created);
    let stat = server.run(&sandbox, &["stat", "new"]);
    assert_exit(&stat, 0);
    assert_eq!(
        String::from_utf8(stat.stdout).unwrap(),
        format!("version {first}\nexpires never\nsize 3\n")
    );

    let updated = server.run(&sandbox, &["set", "--if-version", &first, "new", "two!"]);
    assert_exit(&updated, 0);
    let second = stdout_line(&updated);
    assert_ne!(first, second);
    // The old version is stale now: exit 3, the value unchanged.
    let stale = server.run(&sandbox, &["set", "--if-version", &first, "new", "three"]);
    let message = assert_conflict(&stale);
    assert!(
        message.contains(&second),
        "names the current version: {message}"
    );
    assert_eq!(server.run(&sandbox, &["get", "new"]).stdout, b"two!");

    assert_conflict(&server.run(&sandbox, &["delete", "--if-version", &first, "new"]));
    assert_exit(
        &server.run(&sandbox, &["delete", "--if-version", &second, "new"]),
        0,
    );
    assert_exit(&server.run(&sandbox, &["get", "new"]), 1);
    // Absent is a failed condition for a conditional delete.
    let gone = assert_conflict(&server.run(&sandbox, &["delete", "--if-version", &second, "new"]));
    assert!(gone.contains("absent"), "{gone}");
}

#[test]
fn stat_reports_expiry_as_json_and_exits_1_when_absent() {
    let sandbox = Sandbox::new();
    let server = MemoryServer::start(&sandbox);
    let set = server.run(&sandbox, &["set", "--if-absent", "--ttl", "1h", "k", "abc"]);
    assert_exit(&set, 0);
    let version = stdout_line(&set);
    let stat = server.run(&sandbox, &["stat", "--json", "k"]);
    assert_exit(&stat, 0);
    let json: serde_json::Value = serde_json::from_slice(&stat.stdout).unwrap();
    assert_eq!(json["version"], version.as_str());
    assert_eq!(json["size"], 3);
    let expires = json["expires_at"].as_str().expect("an expiry");
    assert!(expires.ends_with('Z') && expires.len() == 24, "{expires}");

    let absent = server.run(&sandbox, &["stat", "nothing"]);
    assert_exit(&absent, 1);
    assert!(absent.stdout.is_empty() && absent.stderr.is_empty());
}

#[test]
fn bad_conditions_are_usage_or_argument_errors() {
    let sandbox = Sandbox::new();
    // Both conditions at once: clap refuses (exit 2).
    let both = sandbox.run(["set", "--if-absent", "--if-version", "v", "k", "x"]);
    assert_exit(&both, 2);
    // A version outside the rules is refused before any store is opened.
    let message = assert_error(&sandbox.run(["set", "--if-version", "a b", "k", "x"]));
    assert!(message.contains("--if-version"), "{message}");
    assert_error(&sandbox.run(["delete", "--if-version", "\"v\"", "k"]));
}
