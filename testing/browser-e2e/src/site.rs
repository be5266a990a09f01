//! A static web server for a built app, on a free port of 127.0.0.1.
//!
//! Served with `tower-http`'s `ServeDir` under axum, which sends `.wasm` files as
//! `application/wasm` (browsers compile WebAssembly from a stream only then).

use std::io;
use std::path::Path;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower_http::services::ServeDir;

/// A directory served over HTTP until this is dropped.
#[derive(Debug)]
pub struct Site {
    base: String,
    server: JoinHandle<()>,
}

impl Site {
    /// Serves the files under `dir` at `http://127.0.0.1:PORT/`.
    pub async fn serve(dir: &Path) -> io::Result<Site> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let base = format!("http://{}/", listener.local_addr()?);
        let app = axum::Router::new().fallback_service(ServeDir::new(dir));
        let server = tokio::spawn(async move {
            // Ends only with an I/O error of the listener; the check then fails
            // on the page not loading, which names the URL.
            let _ = axum::serve(listener, app).await;
        });
        Ok(Site { base, server })
    }

    /// The URL of `path` (relative, e.g. `index.html`) on this site.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.server.abort();
    }
}
