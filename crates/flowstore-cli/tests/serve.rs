//! `flowstore serve`, black-box: the real binary serving a real SQLite file,
//! and the same binary as its HTTP client (`--store http://…`).

mod common;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};

use common::{Sandbox, assert_error, assert_exit, run_command};

/// A running `flowstore serve`; killed (SIGKILL) if a test ends without
/// stopping it.
struct Server {
    child: Child,
    addr: String,
    log: std::path::PathBuf,
}

impl Server {
    /// Starts `flowstore serve --listen 127.0.0.1:0 ARGS…` in the sandbox (with
    /// `FLOWSTORE_TOKEN` set to `token`, or unset) and waits for its
    /// `listening on ADDR` line.
    fn start(sandbox: &Sandbox, token: Option<&str>, args: &[&str]) -> Server {
        let mut command = sandbox.command();
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args);
        let server = Server::spawn(sandbox, command, token);
        assert!(server.addr.starts_with("127.0.0.1:"), "{}", server.addr);
        server
    }

    fn spawn(sandbox: &Sandbox, mut command: Command, token: Option<&str>) -> Server {
        match token {
            Some(token) => command.env("FLOWSTORE_TOKEN", token),
            None => command.env_remove("FLOWSTORE_TOKEN"),
        };
        let log = sandbox.path().join(format!(
            "serve-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .expect("flowstore serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(addr) = line.trim_end().strip_prefix("listening on ") else {
            let _ = child.kill();
            let status = child.wait().unwrap();
            panic!(
                "no `listening on` line but {line:?}; {status}; stderr: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        let server = Server {
            addr: addr.to_string(),
            child,
            log,
        };
        // Asserted once `server` exists: a failure kills the child on drop.
        assert!(
            !server.addr.ends_with(":0"),
            "the real port: {}",
            server.addr
        );
        server
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGTERM, then the exit status.
    fn terminate(mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        self.child.wait().unwrap()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the client with `FLOWSTORE_TOKEN` set to `token`, or unset.
fn client(sandbox: &Sandbox, token: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut command = sandbox.command();
    match token {
        Some(token) => command.env("FLOWSTORE_TOKEN", token),
        None => command.env_remove("FLOWSTORE_TOKEN"),
    };
    command.args(args);
    run_command(command, b"")
}

#[cfg(unix)]
#[test]
fn serve_the_default_sqlite_file_and_stop_on_sigterm() {
    let sandbox = Sandbox::new();
    let server = Server::start(&sandbox, None, &[]);
    let url = server.url();

    assert_exit(
        &client(
            &sandbox,
            None,
            &["--store", &url, "set", "signup:42", r#"{"step":2}"#],
        ),
        0,
    );
    let get = client(&sandbox, None, &["--store", &url, "get", "signup:42"]);
    assert_exit(&get, 0);
    assert_eq!(get.stdout, br#"{"step":2}"#);
    assert_exit(
        &client(&sandbox, None, &["--store", &url, "get", "nobody"]),
        1,
    );

    // Odd keys and binary values survive the HTTP round trip.
    let all_bytes: Vec<u8> = (0..=255u8).collect();
    for key in ["a/b/../c", "..", "%2e%2e", "?#", " spaces ", "😀"] {
        let mut set = sandbox.command();
        set.env_remove("FLOWSTORE_TOKEN")
            .args(["--store", &url, "set", "--", key]);
        assert_exit(&run_command(set, &all_bytes), 0);
        assert_eq!(
            client(&sandbox, None, &["--store", &url, "get", "--", key]).stdout,
            all_bytes,
            "{key:?}"
        );
    }
    assert_exit(
        &client(&sandbox, None, &["--store", &url, "delete", "--", ".."]),
        0,
    );
    assert_exit(
        &client(&sandbox, None, &["--store", &url, "get", "--", ".."]),
        1,
    );
    assert_exit(
        &client(&sandbox, None, &["--store", &url, "get", "a/b/../c"]),
        0,
    );

    // The server wrote ./flowstore.db: the same value, read directly.
    assert!(sandbox.path().join("flowstore.db").exists());
    assert_eq!(sandbox.run(["get", "signup:42"]).stdout, br#"{"step":2}"#);

    let status = server.terminate();
    assert_eq!(status.code(), Some(0), "{status}");
    // The server closed its store on the way out, so SQLite checkpointed the
    // write-ahead log into the database and removed it.
    let wal = sandbox.path().join("flowstore.db-wal");
    assert_eq!(
        std::fs::metadata(&wal).map_or(0, |meta| meta.len()),
        0,
        "the -wal file is left after the server stopped"
    );
    // Stopped: the client now reports an outage, not "absent".
    let line = assert_error(&client(
        &sandbox,
        None,
        &["--store", &url, "get", "signup:42"],
    ));
    assert!(line.contains("unavailable"), "{line}");
}

#[cfg(unix)]
#[test]
fn token_from_the_environment_or_a_file() {
    let sandbox = Sandbox::new();
    let server = Server::start(&sandbox, Some("s3cret-token"), &[]);
    let url = server.url();

    // Without or with a wrong token: refused, and nothing written.
    let line = assert_error(&client(&sandbox, None, &["--store", &url, "set", "k", "v"]));
    assert!(line.contains("unauthorized"), "{line}");
    assert!(!line.contains("s3cret"), "{line}");
    let line = assert_error(&client(
        &sandbox,
        Some("wrong-token"),
        &["--store", &url, "get", "k"],
    ));
    assert!(line.contains("unauthorized"), "{line}");

    assert_exit(
        &client(
            &sandbox,
            Some("s3cret-token"),
            &["--store", &url, "set", "k", "v"],
        ),
        0,
    );
    assert_eq!(
        client(
            &sandbox,
            Some("s3cret-token"),
            &["--store", &url, "get", "k"]
        )
        .stdout,
        b"v"
    );
    assert!(
        !server.stderr().contains("s3cret"),
        "the token is in the log"
    );
    assert_eq!(server.terminate().code(), Some(0));

    // --token-file beats the environment.
    std::fs::write(sandbox.path().join("token"), "from-the-file\n").unwrap();
    let server = Server::start(&sandbox, Some("from-the-env"), &["--token-file", "token"]);
    let url = server.url();
    assert_eq!(
        client(
            &sandbox,
            Some("from-the-file"),
            &["--store", &url, "get", "k"]
        )
        .stdout,
        b"v"
    );
    let line = assert_error(&client(
        &sandbox,
        Some("from-the-env"),
        &["--store", &url, "get", "k"],
    ));
    assert!(line.contains("unauthorized"), "{line}");
    assert_eq!(server.terminate().code(), Some(0));

    // A missing token file is an error before anything listens.
    let mut command = sandbox.command();
    command.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--token-file",
        "missing",
    ]);
    let line = assert_error(&run_command(command, b""));
    assert!(line.contains("token file"), "{line}");
}

#[test]
fn non_loopback_without_a_token_is_refused() {
    let sandbox = Sandbox::new();
    let mut command = sandbox.command();
    command
        .env_remove("FLOWSTORE_TOKEN")
        .args(["serve", "--listen", "0.0.0.0:0"]);
    let output = run_command(command, b"");
    assert_exit(&output, 2);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("non-loopback"), "{stderr}");
    assert!(stderr.contains("--insecure-no-token"), "{stderr}");
    assert!(output.stdout.is_empty(), "it must not claim to listen");
}

#[cfg(unix)]
#[test]
fn non_loopback_with_insecure_no_token_or_a_token_listens() {
    let sandbox = Sandbox::new();
    for (token, args) in [
        (None, &["--insecure-no-token"][..]),
        (Some("a-token"), &[][..]),
    ] {
        let mut command = sandbox.command();
        command.args(["serve", "--listen", "0.0.0.0:0"]).args(args);
        let mut server = Server::spawn(&sandbox, command, token);
        // Reachable through loopback.
        let port = server.addr.rsplit(':').next().unwrap().to_string();
        server.addr = format!("127.0.0.1:{port}");
        assert_exit(
            &client(
                &sandbox,
                token,
                &["--store", &server.url(), "set", "k", "v"],
            ),
            0,
        );
        assert_eq!(server.terminate().code(), Some(0));
    }
}

/// The server's store takes the wrapper options: values are encrypted in its
/// file, in the served namespace; clients see plaintext.
#[cfg(unix)]
#[test]
fn serve_an_encrypted_compressed_store_in_a_namespace() {
    let sandbox = Sandbox::new();
    let mut command = sandbox.command();
    command
        .env(
            "SERVER_KEY",
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        )
        .args([
            "--store",
            "sqlite://served.db",
            "--namespace",
            "drafts",
            "--encrypt-key-env",
            "SERVER_KEY",
            "--compress",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ]);
    let server = Server::spawn(&sandbox, command, None);
    let url = server.url();
    let value = "PLAINTEXT-MARKER ".repeat(50);
    assert_exit(
        &client(&sandbox, None, &["--store", &url, "set", "k", &value]),
        0,
    );
    assert_eq!(
        client(&sandbox, None, &["--store", &url, "get", "k"]).stdout,
        value.as_bytes()
    );

    let raw = sandbox.run([
        "--store",
        "sqlite://served.db",
        "--namespace",
        "drafts",
        "get",
        "k",
    ]);
    assert_exit(&raw, 0);
    assert!(
        raw.stdout.starts_with(&[0xFF, b'f', b's', b'e']),
        "{:?}",
        raw.stdout
    );
    assert!(raw.stdout.len() < value.len() / 4);
    assert_exit(
        &sandbox.run(["--store", "sqlite://served.db", "get", "k"]),
        1,
    );
    assert_eq!(server.terminate().code(), Some(0));
}

#[test]
fn serve_usage_errors_exit_2() {
    let sandbox = Sandbox::new();
    assert_exit(&sandbox.run(["serve", "--listen"]), 2);
    assert_exit(&sandbox.run(["serve", "--token", "abc"]), 2);
    let line = assert_error(&sandbox.run(["serve", "--listen", "not an address"]));
    assert!(line.contains("listen"), "{line}");
    let help = sandbox.run(["serve", "--help"]);
    assert_exit(&help, 0);
    let help = String::from_utf8_lossy(&help.stdout);
    for option in [
        "--listen",
        "--token-file",
        "--allow-origin",
        "--insecure-no-token",
    ] {
        assert!(help.contains(option), "{option}: {help}");
    }
}

/// One HTTP/1.1 request on a fresh connection; the whole response as text.
fn raw_request(addr: &str, request: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// `--allow-origin` answers the browser's preflight for that origin only, and
/// `/healthz` needs no token.
#[cfg(unix)]
#[test]
fn cors_for_allowed_origins_and_healthz_without_a_token() {
    let sandbox = Sandbox::new();
    let server = Server::start(
        &sandbox,
        Some("a-token"),
        &["--allow-origin", "https://app.example"],
    );
    let preflight = |origin: &str| {
        raw_request(
            &server.addr,
            &format!(
                "OPTIONS /states/k HTTP/1.1\r\nHost: {}\r\nOrigin: {origin}\r\n\
                 Access-Control-Request-Method: PUT\r\n\
                 Access-Control-Request-Headers: authorization, content-type\r\n\
                 Connection: close\r\n\r\n",
                server.addr
            ),
        )
        .to_ascii_lowercase()
    };
    let allowed = preflight("https://app.example");
    assert!(
        allowed.contains("access-control-allow-origin: https://app.example"),
        "{allowed}"
    );
    let other = preflight("https://evil.example");
    assert!(!other.contains("access-control-allow-origin"), "{other}");

    let health = raw_request(
        &server.addr,
        &format!(
            "GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            server.addr
        ),
    );
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let states = raw_request(
        &server.addr,
        &format!(
            "GET /states/k HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            server.addr
        ),
    );
    assert!(states.starts_with("HTTP/1.1 401"), "{states}");
    assert_eq!(server.terminate().code(), Some(0));
}

/// `serve --default-ttl`: a client of the original design sends no TTL, and
/// the server still expires what it saved; a TTL the client sends is kept.
#[cfg(unix)]
#[test]
fn serve_with_a_default_ttl_expires_writes_that_carry_none() {
    let sandbox = Sandbox::new();
    let mut command = sandbox.command();
    command.args([
        "--store",
        "sqlite://served.db",
        "--default-ttl",
        "300ms",
        "serve",
        "--listen",
        "127.0.0.1:0",
    ]);
    let server = Server::spawn(&sandbox, command, None);
    let url = server.url();
    assert_exit(
        &client(&sandbox, None, &["--store", &url, "set", "plain", "v"]),
        0,
    );
    let own_ttl = ["--store", &url, "set", "--ttl", "1h", "kept", "v"];
    assert_exit(&client(&sandbox, None, &own_ttl), 0);
    assert_exit(
        &client(&sandbox, None, &["--store", &url, "get", "plain"]),
        0,
    );
    std::thread::sleep(std::time::Duration::from_millis(900));
    assert_exit(
        &client(&sandbox, None, &["--store", &url, "get", "plain"]),
        1,
    );
    assert_exit(
        &client(&sandbox, None, &["--store", &url, "get", "kept"]),
        0,
    );
    assert_eq!(server.terminate().code(), Some(0));
}

/// `copy` and `import` with a `flowstore serve` as the target: values and TTLs
/// arrive through the HTTP client (batches by its per-key default until the
/// server has batch routes), checked by reading the served file afterwards.
#[test]
fn copy_and_import_into_a_served_store() {
    let sandbox = Sandbox::new();
    for i in 0..40 {
        let (key, value) = (format!("p/{i:03}"), format!("value {i}"));
        assert_exit(
            &sandbox.run([
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
    let server = Server::start(&sandbox, None, &["--store", "sqlite://served.db"]);
    let url = server.url();
    let copy = client(
        &sandbox,
        None,
        &[
            "copy",
            "--from",
            "sqlite://a.db",
            "--to",
            &url,
            "--batch",
            "16",
        ],
    );
    assert_exit(&copy, 0);
    let stderr = String::from_utf8_lossy(&copy.stderr);
    assert!(
        stderr.contains("copied 40 entries; the target holds all of them"),
        "{stderr}"
    );
    let export = sandbox.run(["--store", "sqlite://a.db", "export", "-o", "a.jsonl"]);
    assert_exit(&export, 0);
    let import = client(
        &sandbox,
        None,
        &["--store", &url, "--namespace", "flow", "import", "a.jsonl"],
    );
    assert_exit(&import, 0);
    assert_eq!(
        client(&sandbox, None, &["--store", &url, "get", "p/007"]).stdout,
        b"value 7"
    );
    assert!(server.terminate().success());

    let listed = sandbox.run(["--store", "sqlite://served.db", "list", "--long", "p/"]);
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert_eq!(listed.lines().count(), 40, "{listed}");
    assert!(
        listed.lines().all(|line| !line.contains("\tnever\t")),
        "{listed}"
    );
}
