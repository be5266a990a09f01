//! The baseline for a flowstore HTTP server: a minimal axum server that answers
//! `GET /states/{key}` with a fixed body of the workload's value size (200) and
//! `PUT /states/{key}` by reading the body and answering 204, with no store,
//! no auth, no logs and no metrics behind it: the cost of HTTP itself.
//!
//! It is started in this process, on its own Tokio runtime (as many worker
//! threads as the default runtime, one per CPU) in its own thread, on
//! `127.0.0.1` and a free port, and driven by the same client as the server
//! under test (`flowstore-http`'s `HttpStore`, with its default settings).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::get;
use flowstore::{Error, Key, Store, async_trait};
use flowstore_http::HttpStore;
use tokio::sync::oneshot;

use flowstore_cli::Failure;
use flowstore_cli::bench::{Target, Workload, stamped};

/// The minimal server (stopped on drop) and a client pointed at it.
#[derive(Debug)]
pub(crate) struct RawHttp {
    store: HttpStore,
    keys: Vec<Key>,
    value: Vec<u8>,
    stop: Option<oneshot::Sender<()>>,
}

impl RawHttp {
    pub(crate) const DESCRIPTION: &'static str = "a minimal axum server in the bench process (own runtime): GET /states/{key} → 200 with a fixed body of --value-size bytes, PUT → 204; same client (flowstore-http)";

    pub(crate) fn open(url: &str, workload: &Workload) -> Result<Self, Failure> {
        if !url.to_ascii_lowercase().starts_with("http://") {
            return Err(Failure::new(
                "bench: the raw HTTP baseline (a minimal local server) is for http:// URLs only",
            ));
        }
        let (addr, stop) = start_minimal_server(Bytes::from(workload.value()))?;
        let store = HttpStore::builder(format!("http://{addr}"))
            .open()
            .map_err(|err| Failure::store("bench: raw HTTP baseline client", &err))?;
        let keys = (0..workload.keys)
            .map(|index| Key::new(Workload::key_name(index)))
            .collect::<Result<_, _>>()
            .map_err(|err| Failure::store("bench", &err))?;
        Ok(RawHttp {
            store,
            keys,
            value: workload.value(),
            stop: Some(stop),
        })
    }
}

impl Drop for RawHttp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts the minimal server on its own runtime and thread; returns its
/// address and the sender that stops it.
fn start_minimal_server(body: Bytes) -> Result<(SocketAddr, oneshot::Sender<()>), Failure> {
    let io = |context: &str, err: std::io::Error| Failure::io(context, &err);
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|err| io("bench: raw HTTP baseline: bind 127.0.0.1:0", err))?;
    listener
        .set_nonblocking(true)
        .map_err(|err| io("bench: raw HTTP baseline", err))?;
    let addr = listener
        .local_addr()
        .map_err(|err| io("bench: raw HTTP baseline", err))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("bench-minimal-http")
        .enable_all()
        .build()
        .map_err(|err| io("bench: raw HTTP baseline: runtime", err))?;
    let (stop, stopped) = oneshot::channel::<()>();
    let body = Arc::new(body);
    let app = Router::new().route(
        "/states/{key}",
        get(move || {
            let body = Arc::clone(&body);
            async move { (*body).clone() }
        })
        .put(|_body: Bytes| async { StatusCode::NO_CONTENT }),
    );
    std::thread::Builder::new()
        .name("bench-minimal-http".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => listener,
                    Err(err) => {
                        eprintln!("bench: raw HTTP baseline: {err}");
                        return;
                    }
                };
                let server = axum::serve(listener, app).with_graceful_shutdown(async {
                    let _ = stopped.await;
                });
                if let Err(err) = server.await {
                    eprintln!("bench: raw HTTP baseline server failed: {err}");
                }
            });
        })
        .map_err(|err| io("bench: raw HTTP baseline: thread", err))?;
    Ok((addr, stop))
}

#[async_trait]
impl Target for RawHttp {
    async fn set(&self, key: usize, stamp: u64) -> Result<(), Error> {
        let value = stamped(&self.value, stamp);
        self.store.set(&self.keys[key], &value, None).await
    }

    async fn get(&self, key: usize) -> Result<bool, Error> {
        Ok(self.store.get(&self.keys[key]).await?.is_some())
    }
}
