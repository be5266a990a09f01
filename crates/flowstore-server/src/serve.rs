//! Listening: bind, the accept loop, connection timeouts and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use flowstore_core::{Error, Result, Store};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::app::router;
use crate::config::ServerConfig;
use crate::telemetry;

/// A server bound to its address and ready to [`run`](Server::run). Made by [`bind`].
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    app: Router,
    idle_timeout: Duration,
    shutdown_timeout: Duration,
    metrics: bool,
}

/// Resolves `config.listen`, checks the auth rule and binds, so the real address
/// is known (port 0 picks a free one) before [`Server::run`].
///
/// Errors (all `Config`): the address does not resolve or cannot be bound; it is
/// not a loopback address while no token is configured and
/// `config.insecure_no_token` is false; a CORS origin is malformed.
pub async fn bind(store: Arc<dyn Store>, config: ServerConfig) -> Result<Server> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(config.listen.as_str())
        .await
        .map_err(|err| {
            Error::config(format!(
                "cannot resolve the listen address {:?}",
                config.listen
            ))
            .with_source(err)
        })?
        .collect();
    if addrs.is_empty() {
        return Err(Error::config(format!(
            "the listen address {:?} resolves to nothing",
            config.listen
        )));
    }
    if config.token.is_none()
        && !config.insecure_no_token
        && addrs.iter().any(|addr| !addr.ip().is_loopback())
    {
        return Err(Error::config(format!(
            "refusing to listen on the non-loopback address {} without a token: set {} or \
             --token-file, or pass --insecure-no-token if something in front of the server \
             authenticates requests",
            config.listen,
            crate::config::TOKEN_ENV,
        )));
    }
    let app = router(store, &config)?;
    let listener = TcpListener::bind(addrs.as_slice()).await.map_err(|err| {
        Error::config(format!("cannot listen on {}", config.listen)).with_source(err)
    })?;
    let local_addr = listener
        .local_addr()
        .map_err(|err| Error::config("cannot read the bound address").with_source(err))?;
    Ok(Server {
        listener,
        local_addr,
        app,
        idle_timeout: config.idle_timeout,
        shutdown_timeout: config.shutdown_timeout,
        metrics: config.metrics,
    })
}

/// [`bind`], print `listening on ADDR` (the real address) on stdout, then
/// [`Server::run`] until `shutdown` completes. What `flowstore serve` runs.
pub async fn serve(
    store: Arc<dyn Store>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let server = bind(store, config).await?;
    {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        // Scripts wait for this line; a closed stdout must not stop the server.
        let _ = writeln!(stdout, "listening on {}", server.local_addr());
        let _ = stdout.flush();
    }
    server.run(shutdown).await
}

impl Server {
    /// The address the server listens on (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves HTTP/1.1 until `shutdown` completes, then stops accepting, lets
    /// in-flight requests finish (up to `shutdown_timeout`) and returns.
    ///
    /// Idle keep-alive connections, and clients slow to send their request
    /// headers, are closed after `idle_timeout`.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
        let Server {
            listener,
            local_addr,
            app,
            idle_timeout,
            shutdown_timeout,
            metrics,
        } = self;
        tracing::info!(%local_addr, "flowstore server listening");
        let upkeep = metrics.then(telemetry::prometheus).flatten().map(|handle| {
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(5));
                loop {
                    tick.tick().await;
                    handle.run_upkeep();
                }
            })
        });
        let graceful = GracefulShutdown::new();
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(idle_timeout)
            .keep_alive(true);
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut shutdown => break,
            };
            let stream = match accepted {
                Ok((stream, _peer)) => stream,
                Err(err) => {
                    // Per-connection failures (reset before accept) and resource
                    // exhaustion (EMFILE): log, back off a little, keep serving.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let service = TowerToHyperService::new(app.clone());
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(err) = connection.await {
                    tracing::debug!(error = %err, "connection ended with an error");
                }
            });
        }
        drop(listener);
        tracing::info!("shutting down: waiting for in-flight requests");
        let finished = tokio::time::timeout(shutdown_timeout, graceful.shutdown())
            .await
            .is_ok();
        if let Some(upkeep) = upkeep {
            upkeep.abort();
        }
        if !finished {
            tracing::warn!(
                "shutdown timeout of {} ms passed with requests still running",
                shutdown_timeout.as_millis()
            );
        }
        Ok(())
    }
}

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM: the usual `shutdown` argument.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
