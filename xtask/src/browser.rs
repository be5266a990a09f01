//! The browser side of CI (flowstore-browser): wasm tests in headless Chromium,
//! and the example app's reload check.
//!
//! - [`ensure_tools`]: the `wasm32-unknown-unknown` target, Debian's `chromium` and
//!   `chromium-driver` (installed with apt-get when missing and run as root), and
//!   `wasm-bindgen-cli` at exactly the version of the `wasm-bindgen` crate in
//!   `Cargo.lock` (`cargo install`ed when missing or different).
//! - [`run_tests`]: `cargo test -p flowstore-browser --target wasm32-unknown-unknown`
//!   (the runner in `.cargo/config.toml` is `wasm-bindgen-test-runner`, which drives
//!   headless Chromium through chromedriver; a failing test fails the run).
//! - [`check_example_app`]: builds `crates/flowstore-browser/examples/form-app`,
//!   serves it from a small static server, and drives Chromium through
//!   chromedriver's WebDriver API: fill in the form, reload, check that the state
//!   came back (read from the page's DOM), with screenshots before and after the
//!   reload kept under `target/browser-app/` as evidence.
//! - [`run`]: all three.
//!
//! Self-contained and std-only: it does not use the rest of xtask.

use std::env;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const WASM_TARGET: &str = "wasm32-unknown-unknown";
const CRATE: &str = "flowstore-browser";
const EXAMPLE: &str = "form-app";

/// Chromium flags for a sandboxed CI machine: no network, no GPU, small /dev/shm.
const CHROME_ARGS: [&str; 8] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--window-size=1000,800",
];

/// What the browser steps found or installed.
#[derive(Debug, Clone)]
pub(crate) struct Tools {
    /// The chromedriver executable.
    pub(crate) chromedriver: PathBuf,
    /// The Chromium executable.
    pub(crate) chromium: PathBuf,
    /// A directory holding `wasm-bindgen` and `wasm-bindgen-test-runner` of the
    /// right version (put first on `PATH` for the tests).
    pub(crate) wasm_bindgen_dir: PathBuf,
}

/// Everything: tools, the wasm tests, the example app's reload check.
pub(crate) fn run() -> Result<(), String> {
    let tools = ensure_tools()?;
    run_tests(&tools)?;
    check_example_app(&tools)
}

// ---------------------------------------------------------------------------
// Tools

/// Makes sure the wasm target, Chromium, chromedriver and the matching
/// wasm-bindgen-cli are there, installing what is missing when it can, and
/// otherwise failing with the exact command to run.
pub(crate) fn ensure_tools() -> Result<Tools, String> {
    ensure_wasm_target()?;
    let (chromium, chromedriver) = ensure_chromium()?;
    let wasm_bindgen_dir = ensure_wasm_bindgen_cli()?;
    Ok(Tools {
        chromedriver,
        chromium,
        wasm_bindgen_dir,
    })
}

fn ensure_wasm_target() -> Result<(), String> {
    let Some(rustup) = which("rustup") else {
        // Without rustup, cargo reports a missing target itself.
        return Ok(());
    };
    let installed = output(Command::new(&rustup).args(["target", "list", "--installed"]))?;
    if installed.lines().any(|line| line.trim() == WASM_TARGET) {
        return Ok(());
    }
    run_cmd(Command::new(&rustup).args(["target", "add", WASM_TARGET]))
        .map_err(|e| format!("{e}\nrun: rustup target add {WASM_TARGET}"))
}

fn find_chromium() -> Option<PathBuf> {
    env_path("CHROME_BIN").or_else(|| {
        [
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ]
        .into_iter()
        .find_map(which)
    })
}

fn find_chromedriver() -> Option<PathBuf> {
    env_path("CHROMEDRIVER").or_else(|| which("chromedriver"))
}

fn ensure_chromium() -> Result<(PathBuf, PathBuf), String> {
    if let (Some(chromium), Some(driver)) = (find_chromium(), find_chromedriver()) {
        return Ok((chromium, driver));
    }
    const INSTALL: &str = "apt-get install -y chromium chromium-driver";
    if !(is_root() && which("apt-get").is_some()) {
        return Err(format!(
            "the browser tests need Chromium and chromedriver; run: sudo {INSTALL}\n\
             (or set CHROME_BIN and CHROMEDRIVER to a Chrome and a matching chromedriver)"
        ));
    }
    let apt = |args: &[&str]| {
        let mut cmd = Command::new("apt-get");
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        run_cmd(&mut cmd)
    };
    // A fresh image often has no package lists yet.
    if apt(&["install", "-y", "chromium", "chromium-driver"]).is_err() {
        apt(&["update"])?;
        apt(&["install", "-y", "chromium", "chromium-driver"])
            .map_err(|e| format!("{e}\nrun: {INSTALL}"))?;
    }
    match (find_chromium(), find_chromedriver()) {
        (Some(chromium), Some(driver)) => Ok((chromium, driver)),
        _ => Err(format!(
            "{INSTALL} ran but chromium/chromedriver are still not on PATH"
        )),
    }
}

/// The version of the `wasm-bindgen` crate in `Cargo.lock`.
pub(crate) fn locked_wasm_bindgen_version() -> Result<String, String> {
    let lock = root().join("Cargo.lock");
    let text = fs::read_to_string(&lock).map_err(|e| format!("reading {}: {e}", lock.display()))?;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\""
            && let Some(version) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = \""))
                .and_then(|v| v.strip_suffix('"'))
        {
            return Ok(version.to_owned());
        }
    }
    Err("Cargo.lock has no wasm-bindgen package: run `cargo generate-lockfile`".to_owned())
}

/// The version a wasm-bindgen tool prints (`wasm-bindgen-test-runner 0.2.130`).
fn tool_version(tool: &Path) -> Option<String> {
    let out = Command::new(tool).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().nth(1).map(str::to_owned)
}

fn ensure_wasm_bindgen_cli() -> Result<PathBuf, String> {
    let wanted = locked_wasm_bindgen_version()?;
    let cargo_bin = cargo_home().join("bin");
    let candidates = [
        which("wasm-bindgen-test-runner"),
        Some(cargo_bin.join("wasm-bindgen-test-runner")),
    ];
    let matching = |runner: &Path| {
        let dir = runner.parent()?;
        let cli = dir.join("wasm-bindgen");
        (tool_version(runner).as_deref() == Some(wanted.as_str())
            && tool_version(&cli).as_deref() == Some(wanted.as_str()))
        .then(|| dir.to_path_buf())
    };
    if let Some(dir) = candidates
        .iter()
        .flatten()
        .find_map(|runner| matching(runner))
    {
        return Ok(dir);
    }
    // Without `--locked`: its lockfile may ask for crate versions a mirror lacks.
    let install = format!("cargo install wasm-bindgen-cli --version ={wanted}");
    eprintln!("installing wasm-bindgen-cli {wanted} (Cargo.lock's wasm-bindgen): {install}");
    run_cmd(cargo().args([
        "install",
        "wasm-bindgen-cli",
        "--version",
        &format!("={wanted}"),
    ]))
    .map_err(|e| format!("{e}\nrun: {install}"))?;
    matching(&cargo_bin.join("wasm-bindgen-test-runner")).ok_or_else(|| {
        format!(
            "{install} ran but {} has another version",
            cargo_bin.display()
        )
    })
}

// ---------------------------------------------------------------------------
// The wasm tests

/// `cargo test -p flowstore-browser --target wasm32-unknown-unknown`, in headless
/// Chromium: the shared suite over both stores and the wrappers, quota and
/// upgrade tests.
pub(crate) fn run_tests(tools: &Tools) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args(["test", "-p", CRATE, "--target", WASM_TARGET]);
    browser_env(&mut cmd, tools);
    run_cmd(&mut cmd)
}

fn browser_env(cmd: &mut Command, tools: &Tools) {
    cmd.env("CHROMEDRIVER", &tools.chromedriver)
        // The whole run of one test binary in the browser (the default, 20 s, is
        // too short for the wrappers' suites on a busy 2-core machine).
        .env("WASM_BINDGEN_TEST_TIMEOUT", "900")
        .env("PATH", path_with(&tools.wasm_bindgen_dir));
}

// ---------------------------------------------------------------------------
// The example app

/// Builds the example app, serves it, and checks in headless Chromium that the
/// form's state survives a reload. Screenshots: `target/browser-app/*.png`.
pub(crate) fn check_example_app(tools: &Tools) -> Result<(), String> {
    let site = build_example_app(tools)?;
    let server = StaticServer::start(site.clone())?;
    let driver = Chromedriver::start(&tools.chromedriver)?;
    let session = driver.new_session(&tools.chromium)?;
    let result = reload_check(&session, &server.url("index.html"), &site);
    let _ = session.delete();
    drop(driver);
    result
}

/// `target/browser-app/`: `index.html` and `pkg/` from `wasm-bindgen --target web`.
fn build_example_app(tools: &Tools) -> Result<PathBuf, String> {
    let mut build = cargo();
    build.args([
        "build",
        "-p",
        CRATE,
        "--example",
        EXAMPLE,
        "--target",
        WASM_TARGET,
    ]);
    run_cmd(&mut build)?;
    let wasm = target_dir()
        .join(WASM_TARGET)
        .join("debug/examples")
        .join(format!("{}.wasm", EXAMPLE.replace('-', "_")));
    let site = target_dir().join("browser-app");
    let pkg = site.join("pkg");
    let _ = fs::remove_dir_all(&pkg);
    fs::create_dir_all(&pkg).map_err(|e| format!("creating {}: {e}", pkg.display()))?;
    run_cmd(
        Command::new(tools.wasm_bindgen_dir.join("wasm-bindgen"))
            .args(["--target", "web", "--out-name", "form_app", "--out-dir"])
            .arg(&pkg)
            .arg(&wasm),
    )?;
    let html = root().join("crates/flowstore-browser/examples/form-app/index.html");
    fs::copy(&html, site.join("index.html"))
        .map_err(|e| format!("copying {}: {e}", html.display()))?;
    Ok(site)
}

fn reload_check(session: &Session, url: &str, site: &Path) -> Result<(), String> {
    session.navigate(url)?;
    session.wait_for("document.body.dataset.ready === '1'", "the app to start")?;
    // A clean slate, whatever an earlier run left in this profile.
    session.click("#reset")?;
    session.type_into("#name", "Ada Lovelace")?;
    session.click("#next")?;
    session.type_into("#email", "ada@example.org")?;
    session.wait_for(
        "(document.body.dataset.saved || '').includes('ada@example.org')",
        "the form state to be saved",
    )?;
    let before = site.join("before-reload.png");
    session.screenshot(&before)?;

    session.refresh()?;
    session.wait_for("document.body.dataset.ready === '1'", "the app to restart")?;
    let state = session.script("return document.body.dataset.state")?;
    let fields = session.script(
        "return [document.querySelector('#name').value, document.querySelector('#email').value, \
         document.querySelector('fieldset[data-step=\"2\"]').hidden].join('|')",
    )?;
    let title = session.title()?;
    let after = site.join("after-reload.png");
    session.screenshot(&after)?;

    let state = state.as_str().unwrap_or_default().to_owned();
    let restored = parse_json(&state).ok();
    let field = |name: &str| restored.as_ref().and_then(|s| s.get(name)).cloned();
    let problems = [
        (field("step") == Some(Json::Num(2.0)), "step 2"),
        (
            field("name") == Some(Json::Str("Ada Lovelace".into())),
            "the name",
        ),
        (
            field("email") == Some(Json::Str("ada@example.org".into())),
            "the email",
        ),
        (
            fields.as_str() == Some("Ada Lovelace|ada@example.org|false"),
            "the visible fields",
        ),
        (title.contains("step 2 of 3"), "the title"),
    ]
    .into_iter()
    .filter(|(ok, _)| !ok)
    .map(|(_, what)| what)
    .collect::<Vec<_>>();
    if !problems.is_empty() {
        return Err(format!(
            "the form state did not survive the reload ({} wrong): data-state={state:?}, \
             fields={fields:?}, title={title:?}; screenshots: {} {}",
            problems.join(", "),
            before.display(),
            after.display()
        ));
    }
    for shot in [&before, &after] {
        check_png(shot)?;
    }
    println!(
        "example app: form state survived a reload ({title:?}); screenshots: {} {}",
        before.display(),
        after.display()
    );
    Ok(())
}

fn check_png(path: &Path) -> Result<(), String> {
    let bytes = fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    if bytes.len() < 1000 || !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Err(format!("{} is not a real screenshot", path.display()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// A static file server for the example app

struct StaticServer {
    port: u16,
}

impl StaticServer {
    /// Serves `dir` on 127.0.0.1 (a free port) from a background thread, for the
    /// rest of the process.
    fn start(dir: PathBuf) -> Result<StaticServer, String> {
        let listener =
            TcpListener::bind("127.0.0.1:0").map_err(|e| format!("static server: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let dir = dir.clone();
                thread::spawn(move || {
                    let _ = serve_file(stream, &dir);
                });
            }
        });
        Ok(StaticServer { port })
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }
}

fn serve_file(mut stream: TcpStream, dir: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
            break;
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let path = path
        .split(['?', '#'])
        .next()
        .unwrap_or("/")
        .trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    let file = (!path.split('/').any(|part| part == ".." || part.is_empty()))
        .then(|| dir.join(path))
        .and_then(|file| fs::read(file).ok());
    let (status, body, content_type) = match file {
        Some(body) => ("200 OK", body, content_type(path)),
        None => ("404 Not Found", b"not found".to_vec(), "text/plain"),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(&body)?;
    stream.flush()
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

// ---------------------------------------------------------------------------
// WebDriver, over chromedriver's HTTP API

struct Chromedriver {
    child: Child,
    port: u16,
}

impl Chromedriver {
    fn start(path: &Path) -> Result<Chromedriver, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("finding a free port: {e}"))?
            .port();
        let child = Command::new(path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", path.display()))?;
        let driver = Chromedriver { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(status) = http(driver.port, "GET", "/status", None)
                && status.get("value").and_then(|v| v.get("ready")) == Some(&Json::Bool(true))
            {
                return Ok(driver);
            }
            if Instant::now() > deadline {
                return Err(format!("{} did not become ready", path.display()));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn new_session(&self, chromium: &Path) -> Result<Session, String> {
        let args = CHROME_ARGS
            .iter()
            .map(|arg| json_str(arg))
            .collect::<Vec<_>>()
            .join(",");
        let body = format!(
            r#"{{"capabilities":{{"alwaysMatch":{{"browserName":"chrome","goog:chromeOptions":{{"binary":{},"args":[{args}]}}}}}}}}"#,
            json_str(&chromium.to_string_lossy())
        );
        let reply = http(self.port, "POST", "/session", Some(&body))?;
        let id = reply
            .get("value")
            .and_then(|v| v.get("sessionId"))
            .and_then(Json::as_str)
            .ok_or_else(|| format!("no session id in {reply:?}"))?;
        Ok(Session {
            port: self.port,
            id: id.to_owned(),
        })
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Session {
    port: u16,
    id: String,
}

/// The W3C WebDriver key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Session {
    fn call(&self, method: &str, path: &str, body: Option<&str>) -> Result<Json, String> {
        let reply = http(
            self.port,
            method,
            &format!("/session/{}{path}", self.id),
            body,
        )?;
        Ok(reply.get("value").cloned().unwrap_or(Json::Null))
    }

    fn navigate(&self, url: &str) -> Result<(), String> {
        self.call(
            "POST",
            "/url",
            Some(&format!(r#"{{"url":{}}}"#, json_str(url))),
        )
        .map(drop)
    }

    fn refresh(&self) -> Result<(), String> {
        self.call("POST", "/refresh", Some("{}")).map(drop)
    }

    fn title(&self) -> Result<String, String> {
        Ok(self
            .call("GET", "/title", None)?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    fn element(&self, css: &str) -> Result<String, String> {
        let body = format!(r#"{{"using":"css selector","value":{}}}"#, json_str(css));
        let found = self.call("POST", "/element", Some(&body))?;
        found
            .get(ELEMENT)
            .and_then(Json::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("no element {css}: {found:?}"))
    }

    fn click(&self, css: &str) -> Result<(), String> {
        let id = self.element(css)?;
        self.call("POST", &format!("/element/{id}/click"), Some("{}"))
            .map(drop)
    }

    fn type_into(&self, css: &str, text: &str) -> Result<(), String> {
        let id = self.element(css)?;
        let body = format!(r#"{{"text":{}}}"#, json_str(text));
        self.call("POST", &format!("/element/{id}/value"), Some(&body))
            .map(drop)
    }

    fn script(&self, script: &str) -> Result<Json, String> {
        let body = format!(r#"{{"script":{},"args":[]}}"#, json_str(script));
        self.call("POST", "/execute/sync", Some(&body))
    }

    /// Polls `condition` (a JavaScript expression) until it is true; fails after a
    /// minute with what it was waiting for.
    fn wait_for(&self, condition: &str, what: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.script(&format!("return !!({condition})"))? == Json::Bool(true) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let title = self.title().unwrap_or_default();
                return Err(format!(
                    "timed out waiting for {what} (page title {title:?})"
                ));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot(&self, path: &Path) -> Result<(), String> {
        let data = self.call("GET", "/screenshot", None)?;
        let png = base64_decode(data.as_str().unwrap_or_default())
            .ok_or("the screenshot is not base64")?;
        fs::write(path, png).map_err(|e| format!("writing {}: {e}", path.display()))
    }

    fn delete(&self) -> Result<(), String> {
        http(self.port, "DELETE", &format!("/session/{}", self.id), None).map(drop)
    }
}

/// One HTTP/1.1 request to 127.0.0.1:`port`; the JSON body of a 2xx answer.
fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> Result<Json, String> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("{method} {path}: {e}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("{method} {path}: {e}"))?;
    // chromedriver keeps the connection open whatever we ask: read the header,
    // then exactly the body it announces.
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let read = reader
            .read_line(&mut line)
            .map_err(|e| format!("{method} {path}: {e}"))?;
        if read == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        head.push_str(&line);
    }
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    let mut raw = Vec::new();
    if let Some(length) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        raw.resize(length, 0);
        reader
            .read_exact(&mut raw)
            .map_err(|e| format!("{method} {path}: {e}"))?;
    } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader
                .read_line(&mut size)
                .map_err(|e| format!("{method} {path}: {e}"))?;
            let size = usize::from_str_radix(size.trim(), 16)
                .map_err(|_| format!("{method} {path}: bad chunk size"))?;
            let mut chunk = vec![0; size + 2];
            reader
                .read_exact(&mut chunk)
                .map_err(|e| format!("{method} {path}: {e}"))?;
            if size == 0 {
                break;
            }
            raw.extend_from_slice(&chunk[..size]);
        }
    } else {
        reader
            .read_to_end(&mut raw)
            .map_err(|e| format!("{method} {path}: {e}"))?;
    }
    let payload = String::from_utf8_lossy(&raw).into_owned();
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    if !status.starts_with('2') {
        return Err(format!("{method} {path}: HTTP {status}: {payload}"));
    }
    parse_json(&payload).map_err(|e| format!("{method} {path}: {e}: {payload}"))
}

// ---------------------------------------------------------------------------
// Just enough JSON and base64

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn get(&self, name: &str) -> Option<&Json> {
        match self {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
}

fn json_str(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(crate) fn parse_json(text: &str) -> Result<Json, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut pos = 0;
    let value = parse_value(&chars, &mut pos)?;
    skip_ws(&chars, &mut pos);
    if pos != chars.len() {
        return Err(format!("trailing data at {pos}"));
    }
    Ok(value)
}

fn skip_ws(chars: &[char], pos: &mut usize) {
    while chars.get(*pos).is_some_and(|c| c.is_whitespace()) {
        *pos += 1;
    }
}

fn parse_value(chars: &[char], pos: &mut usize) -> Result<Json, String> {
    skip_ws(chars, pos);
    let literal = |pos: &mut usize, word: &str, value: Json| {
        let end = *pos + word.chars().count();
        if chars
            .get(*pos..end)
            .is_some_and(|s| s.iter().copied().eq(word.chars()))
        {
            *pos = end;
            Ok(value)
        } else {
            Err(format!("bad literal at {pos}"))
        }
    };
    match chars.get(*pos) {
        Some('n') => literal(pos, "null", Json::Null),
        Some('t') => literal(pos, "true", Json::Bool(true)),
        Some('f') => literal(pos, "false", Json::Bool(false)),
        Some('"') => parse_string(chars, pos).map(Json::Str),
        Some('[') => {
            *pos += 1;
            let mut items = Vec::new();
            skip_ws(chars, pos);
            if chars.get(*pos) == Some(&']') {
                *pos += 1;
                return Ok(Json::Arr(items));
            }
            loop {
                items.push(parse_value(chars, pos)?);
                skip_ws(chars, pos);
                match chars.get(*pos) {
                    Some(',') => *pos += 1,
                    Some(']') => {
                        *pos += 1;
                        return Ok(Json::Arr(items));
                    }
                    _ => return Err(format!("expected , or ] at {pos}")),
                }
            }
        }
        Some('{') => {
            *pos += 1;
            let mut fields = Vec::new();
            skip_ws(chars, pos);
            if chars.get(*pos) == Some(&'}') {
                *pos += 1;
                return Ok(Json::Obj(fields));
            }
            loop {
                skip_ws(chars, pos);
                let name = parse_string(chars, pos)?;
                skip_ws(chars, pos);
                if chars.get(*pos) != Some(&':') {
                    return Err(format!("expected : at {pos}"));
                }
                *pos += 1;
                fields.push((name, parse_value(chars, pos)?));
                skip_ws(chars, pos);
                match chars.get(*pos) {
                    Some(',') => *pos += 1,
                    Some('}') => {
                        *pos += 1;
                        return Ok(Json::Obj(fields));
                    }
                    _ => return Err(format!("expected , or }} at {pos}")),
                }
            }
        }
        Some(_) => {
            let start = *pos;
            while chars
                .get(*pos)
                .is_some_and(|c| c.is_ascii_digit() || "+-.eE".contains(*c))
            {
                *pos += 1;
            }
            let number: String = chars[start..*pos].iter().collect();
            number
                .parse()
                .map(Json::Num)
                .map_err(|_| format!("bad value at {start}"))
        }
        None => Err("unexpected end".to_owned()),
    }
}

fn parse_string(chars: &[char], pos: &mut usize) -> Result<String, String> {
    if chars.get(*pos) != Some(&'"') {
        return Err(format!("expected a string at {pos}"));
    }
    *pos += 1;
    let mut out = String::new();
    loop {
        let c = *chars.get(*pos).ok_or("unterminated string")?;
        *pos += 1;
        match c {
            '"' => return Ok(out),
            '\\' => {
                let escaped = *chars.get(*pos).ok_or("unterminated escape")?;
                *pos += 1;
                match escaped {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'u' => {
                        let unit = |pos: &mut usize| -> Result<u32, String> {
                            let hex: String =
                                chars.get(*pos..*pos + 4).ok_or("bad \\u")?.iter().collect();
                            *pos += 4;
                            u32::from_str_radix(&hex, 16).map_err(|_| "bad \\u".to_owned())
                        };
                        let high = unit(pos)?;
                        let code = if (0xD800..0xDC00).contains(&high)
                            && chars.get(*pos..*pos + 2) == Some(&['\\', 'u'])
                        {
                            *pos += 2;
                            let low = unit(pos)?;
                            0x10000 + ((high - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3ff)
                        } else {
                            high
                        };
                        out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                    }
                    other => out.push(other),
                }
            }
            c => out.push(c),
        }
    }
}

pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in text.as_bytes() {
        if c == b'=' || c.is_ascii_whitespace() {
            continue;
        }
        acc = (acc << 6) | u32::from(value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// Small process and path helpers (kept here so the module stands alone)

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root().join(dir),
        _ => root().join("target"),
    }
}

fn cargo_home() -> PathBuf {
    env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
}

fn cargo() -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// `PATH` with `dir` first.
fn path_with(dir: &Path) -> std::ffi::OsString {
    let mut dirs = vec![dir.to_path_buf()];
    if let Some(path) = env::var_os("PATH") {
        dirs.extend(env::split_paths(&path));
    }
    env::join_paths(dirs).unwrap_or_default()
}

fn env_path(var: &str) -> Option<PathBuf> {
    env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_file())
}

fn which(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn describe(cmd: &Command) -> String {
    let mut line = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

fn run_cmd(cmd: &mut Command) -> Result<(), String> {
    eprintln!("$ {}", describe(cmd));
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run `{}`: {e}", describe(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", describe(cmd)))
    }
}

fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run `{}`: {e}", describe(cmd)))?;
    if !out.status.success() {
        return Err(format!("`{}` failed ({})", describe(cmd), out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_what_webdriver_sends() {
        let reply = parse_json(
            r#"{"value":{"sessionId":"abc","capabilities":{"x":[1,2.5,-3e2,true,false,null]},"s":"a\"b\\c\u00e9\ud83d\ude00\n"}}"#,
        )
        .unwrap();
        let value = reply.get("value").unwrap();
        assert_eq!(value.get("sessionId").and_then(Json::as_str), Some("abc"));
        assert_eq!(value.get("s").and_then(Json::as_str), Some("a\"b\\cé😀\n"));
        assert_eq!(
            value.get("capabilities").and_then(|c| c.get("x")),
            Some(&Json::Arr(vec![
                Json::Num(1.0),
                Json::Num(2.5),
                Json::Num(-300.0),
                Json::Bool(true),
                Json::Bool(false),
                Json::Null
            ]))
        );
        assert!(parse_json("{\"a\":}").is_err());
        let text = "quote \" backslash \\ newline \n tab \t bell \u{7}";
        assert_eq!(
            parse_json(&json_str(text)).unwrap(),
            Json::Str(text.to_owned())
        );
    }

    #[test]
    fn base64_decodes_padding_and_all_symbols() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8hIQ==").unwrap(), b"hello!!");
        assert_eq!(base64_decode("+/+/").unwrap(), [0xfb, 0xff, 0xbf]);
        assert!(base64_decode("a*").is_none());
    }

    #[test]
    fn lockfile_pins_wasm_bindgen_exactly() {
        let version = locked_wasm_bindgen_version().unwrap();
        let manifest = fs::read_to_string(root().join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains(&format!("wasm-bindgen = \"={version}\"")),
            "the root Cargo.toml must pin wasm-bindgen with `={version}` (Cargo.lock's version)"
        );
    }
}
