//! The example service (`examples/signup`) end to end: its real binary on a
//! temporary SQLite file, driven over HTTP, killed with SIGKILL and restarted
//! at a newer schema version.
//!
//! `cargo test` builds the examples before it runs the tests, so the binary is
//! next to this test's own (`target/debug/examples/signup`). A target filter
//! (`cargo test --test signup_example`) skips that build: the test then refuses
//! a binary older than the example's sources rather than test stale code.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// The example's binary, built by `cargo test` next to this test's binary.
fn signup_binary() -> PathBuf {
    let test = std::env::current_exe().expect("the test binary's path");
    // target/debug/deps/signup_example-HASH → target/debug/examples/signup
    let profile = test
        .parent()
        .and_then(Path::parent)
        .expect("the test binary is in target/<profile>/deps");
    let binary = profile
        .join("examples")
        .join(format!("signup{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "the example binary {} is missing: run `cargo test -p flowstore-flow` (which builds \
         the examples first) or `cargo build -p flowstore-flow --example signup`",
        binary.display()
    );
    refuse_if_stale(&binary);
    binary
}

/// Panics if a source file of the example is newer than its binary.
fn refuse_if_stale(binary: &Path) {
    let modified = |path: &Path| {
        std::fs::metadata(path)
            .and_then(|meta| meta.modified())
            .unwrap_or_else(|err| panic!("reading the time of {}: {err}", path.display()))
    };
    let built = modified(binary);
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = vec![crate_dir.join("Cargo.toml")];
    for dir in ["examples/signup", "src"] {
        for entry in std::fs::read_dir(crate_dir.join(dir)).expect("listing the sources") {
            sources.push(entry.expect("listing the sources").path());
        }
    }
    for source in sources {
        assert!(
            modified(&source) <= built,
            "{} is newer than the example binary {}: build it first \
             (`cargo build -p flowstore-flow --example signup`, or a plain \
             `cargo test -p flowstore-flow`)",
            source.display(),
            binary.display()
        );
    }
}

/// A directory of its own under the system's temporary one, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "flowstore-signup-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("creating a temporary directory");
        TempDir(dir)
    }

    /// The servers' stderr (each start truncates it).
    fn log(&self) -> PathBuf {
        self.0.join("stderr.log")
    }

    fn store_url(&self) -> String {
        format!("sqlite://{}", self.0.join("signup.db").display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running example server, killed with SIGKILL on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    /// Its stderr, shown when it fails to start.
    log: PathBuf,
}

impl Server {
    /// Starts the example at `schema` on `store`, and waits until it accepts
    /// connections.
    fn start(store: &TempDir, schema: &str) -> Server {
        // Port 0: the example binds a port the OS picks and prints it, so no
        // other process can take it between a probe and the bind.
        let child = Command::new(signup_binary())
            .args(["--listen", "127.0.0.1:0", "--store", &store.store_url()])
            .env("SIGNUP_SCHEMA", schema)
            .env_remove("FLOWSTORE_URL")
            .env_remove("SIGNUP_LISTEN")
            .current_dir(&store.0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(store.log()).expect("creating the log file"))
            .spawn()
            .expect("starting the example");
        let mut server = Server {
            child,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            log: store.log(),
        };
        server.addr = server.wait_until_listening();
        server
    }

    /// Polls the log for the line naming the bound address (printed once the
    /// port is bound, so it accepts connections from then on). The deadline
    /// only bounds a hang on a loaded machine; nothing is asserted about how
    /// long it took.
    fn wait_until_listening(&mut self) -> SocketAddr {
        const MARK: &str = "listening on http://";
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(rest) = log.split(MARK).nth(1)
                && let Some(addr) = rest.split_whitespace().next()
            {
                return addr
                    .parse()
                    .unwrap_or_else(|err| panic!("the example printed {addr:?}: {err}"));
            }
            if let Some(status) = self.child.try_wait().expect("polling the example") {
                panic!("the example exited before listening: {status}\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "the example never listened\n{log}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no graceful shutdown, no chance to flush anything.
    fn kill_9(mut self) {
        self.child.kill().expect("killing the example");
        self.child.wait().expect("reaping the example");
    }

    fn get(&self, path: &str) -> (u16, Value) {
        request(self.addr, "GET", path, None)
    }

    fn post(&self, path: &str, fields: Value) -> (u16, Value) {
        request(self.addr, "POST", path, Some(fields))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request on its own connection; the answer's status and JSON body.
fn request(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let body = body.map(|body| body.to_string()).unwrap_or_default();
    let mut stream = TcpStream::connect(addr).expect("connecting to the example");
    // Bounds a hung server, so CI fails instead of waiting forever.
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("setting a read timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("sending the request");
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .expect("reading the answer");
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {answer:?}"));
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "expected a Content-Length body: {head}"
    );
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let json = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body:?}"));
    (status, json)
}

#[test]
fn a_run_survives_kill_9_and_a_restart_at_schema_2_migrates_it() {
    let store = TempDir::new("migrate");

    let v1 = Server::start(&store, "1");
    let (status, fresh) = v1.get("/signup/ada");
    assert_eq!(
        (status, &fresh["status"], &fresh["step"]),
        (200, &json!("new"), &json!("account"))
    );
    let (status, _) = v1.post("/signup/ada/account", json!({"email": "ada@example.com"}));
    assert_eq!(status, 200);
    let (status, at_plan) = v1.post(
        "/signup/ada/profile",
        json!({"fullName": "Ada King Lovelace"}),
    );
    assert_eq!(status, 200, "{at_plan}");
    assert_eq!(at_plan["step"], "plan");
    assert_eq!(
        at_plan["context"],
        json!({"email": "ada@example.com", "fullName": "Ada King Lovelace"})
    );
    assert_eq!(at_plan["savedSchemaVersion"], "1");
    v1.kill_9();

    let v2 = Server::start(&store, "2");
    let (status, resumed) = v2.get("/signup/ada");
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["step"], "plan");
    assert_eq!(resumed["status"], "active");
    assert_eq!(
        resumed["context"],
        json!({"email": "ada@example.com", "firstName": "Ada", "lastName": "King Lovelace"})
    );
    // Migrated as read; still stored at version 1 until the next save.
    assert_eq!(resumed["savedSchemaVersion"], "1");
    assert_eq!(resumed["schemaVersion"], "2");
    assert_eq!(resumed["entryVersion"], at_plan["entryVersion"]);

    let (status, done) = v2.post("/signup/ada/plan", json!({"plan": "pro"}));
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        (&done["step"], &done["status"]),
        (&json!("complete"), &json!("complete"))
    );
    assert_eq!(done["savedSchemaVersion"], "2");
    assert_eq!(
        done["context"],
        json!({"email": "ada@example.com", "firstName": "Ada", "lastName": "King Lovelace", "plan": "pro"})
    );
    v2.kill_9();

    // Back at version 1, the run saved at 2 is an error, not a new user.
    let v1_again = Server::start(&store, "1");
    let (status, refused) = v1_again.get("/signup/ada");
    assert_eq!(status, 500, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("cannot read version 2"),
        "{refused}"
    );
}

#[test]
fn a_stale_tab_gets_409_with_the_current_run_and_changes_nothing() {
    let store = TempDir::new("stale");
    let server = Server::start(&store, "2");
    let (status, first) = server.post("/signup/bob/account", json!({"email": "bob@example.com"}));
    assert_eq!(status, 200, "{first}");

    // A second tab, still showing the account step, posts it again.
    let (status, stale) = server.post("/signup/bob/account", json!({"email": "other@example.com"}));
    assert_eq!(status, 409, "{stale}");
    assert_eq!(stale["current"]["step"], "profile");
    assert_eq!(
        stale["current"]["context"],
        json!({"email": "bob@example.com"})
    );
    assert_eq!(stale["current"]["entryVersion"], first["entryVersion"]);

    let (_, now) = server.get("/signup/bob");
    assert_eq!(now["context"], json!({"email": "bob@example.com"}));
    assert_eq!(now["entryVersion"], first["entryVersion"]);

    // Bad fields are refused without touching the run either.
    let (status, _) = server.post("/signup/bob/profile", json!({"fullName": "Bob"}));
    assert_eq!(status, 400);
    let (_, after) = server.get("/signup/bob");
    assert_eq!(after, now);
}

#[test]
fn of_many_tabs_posting_the_same_step_at_once_exactly_one_wins() {
    const TABS: usize = 8;
    let store = TempDir::new("race");
    let server = Server::start(&store, "2");
    let addr = server.addr;
    for (step, fields) in [
        ("account", json!({"email": "cy@example.com"})),
        ("profile", json!({"firstName": "Cy", "lastName": "Young"})),
    ] {
        let (status, body) = server.post(&format!("/signup/cy/{step}"), fields);
        assert_eq!(status, 200, "{body}");
    }

    let plans = ["free", "pro", "team"];
    let start = Arc::new(Barrier::new(TABS));
    let tabs: Vec<_> = (0..TABS)
        .map(|tab| {
            let start = start.clone();
            let plan = plans[tab % plans.len()];
            thread::spawn(move || {
                start.wait();
                let answer = request(addr, "POST", "/signup/cy/plan", Some(json!({"plan": plan})));
                (plan, answer)
            })
        })
        .collect();
    let answers: Vec<_> = tabs.into_iter().map(|tab| tab.join().unwrap()).collect();

    let winners: Vec<_> = answers
        .iter()
        .filter(|(_, (status, _))| *status == 200)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one tab wins: {answers:?}");
    let (winning_plan, (_, won)) = winners[0];
    for (_, (status, body)) in &answers {
        if *status != 200 {
            // Refused by the step check or by the store's entry version: either
            // way the loser sees the winner's run.
            assert_eq!(*status, 409, "{body}");
            assert_eq!(body["current"]["context"]["plan"], *winning_plan, "{body}");
            assert_eq!(
                body["current"]["entryVersion"], won["entryVersion"],
                "{body}"
            );
        }
    }
    let (_, stored) = server.get("/signup/cy");
    assert_eq!(stored["context"]["plan"], *winning_plan);
    assert_eq!(stored["status"], "complete");
}
