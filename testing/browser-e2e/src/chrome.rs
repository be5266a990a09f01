//! chromedriver, and a headless Chromium session through it.

use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::error::NewSessionError;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

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

/// How long chromedriver may take to accept a session (it starts Chromium too).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A chromedriver process on a free port of 127.0.0.1, killed when dropped.
#[derive(Debug)]
pub struct Chromedriver {
    // `kill_on_drop`: the process ends with this handle, also on a panic.
    _child: Child,
    url: String,
}

impl Chromedriver {
    /// Starts the chromedriver executable at `path`.
    pub fn start(path: &Path) -> Result<Chromedriver, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("finding a free port: {e}"))?
            .port();
        let child = Command::new(path)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", path.display()))?;
        Ok(Chromedriver {
            _child: child,
            url: format!("http://127.0.0.1:{port}"),
        })
    }

    /// Opens a session in a new headless Chromium (the executable at `chromium`),
    /// waiting for chromedriver to listen first.
    pub async fn session(&self, chromium: &Path) -> Result<Client, String> {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": chromium.to_string_lossy(), "args": CHROME_ARGS }),
        );
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match builder.connect(&self.url).await {
                Ok(client) => return Ok(client),
                // Not listening yet: chromedriver is still starting.
                Err(NewSessionError::Failed(_) | NewSessionError::FailedC(_))
                    if Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(format!("opening a Chromium session at {}: {e}", self.url)),
            }
        }
    }
}

/// Polls the JavaScript expression `condition` in the page until it is true;
/// fails after a minute naming `what` it waited for and the page's title.
pub async fn wait_for(client: &Client, condition: &str, what: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let script = format!("return !!({condition})");
    loop {
        let value = client
            .execute(&script, Vec::new())
            .await
            .map_err(|e| format!("evaluating `{condition}`: {e}"))?;
        if value == Value::Bool(true) {
            return Ok(());
        }
        if Instant::now() > deadline {
            let title = client.title().await.unwrap_or_default();
            return Err(format!(
                "timed out waiting for {what} (page title {title:?})"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
