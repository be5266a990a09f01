//! `flowstore serve` in-process: the server of `flowstore-server` on a free
//! loopback port, for the tests that talk to a store over HTTP.

use std::net::SocketAddr;
use std::sync::Arc;

use flowstore_core::Store;
use flowstore_http::HttpStore;
use flowstore_server::{ServerConfig, Token};

/// Binds a server for `store` on `127.0.0.1:0` (requiring `token` as a bearer
/// token when given) and runs it until the test's runtime ends; its address.
pub async fn spawn_server(store: Arc<dyn Store>, token: Option<&str>) -> SocketAddr {
    let mut config = ServerConfig::default();
    config.listen = "127.0.0.1:0".into();
    config.token = token.map(|token| Token::new(token).expect("a valid test token"));
    let server = flowstore_server::bind(store, config)
        .await
        .expect("bind the test server");
    let addr = server.local_addr();
    tokio::spawn(server.run(std::future::pending()));
    addr
}

/// A client of the server at `addr` (`flowstore-http`), sending `token` as its
/// bearer token when given.
pub fn client(addr: SocketAddr, token: Option<&str>) -> HttpStore {
    let mut builder = HttpStore::builder(format!("http://{addr}"));
    if let Some(token) = token {
        builder = builder.bearer_token(token);
    }
    builder.open().expect("open the HTTP client store")
}
