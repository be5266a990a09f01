//! Starting a real flowstore server in-process, on a free loopback port.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;

use flowstore_core::{Result, Store};
use flowstore_http::HttpStore;
use flowstore_server::ServerConfig;

/// A config that listens on 127.0.0.1 on a free port.
pub fn local_config() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.listen = "127.0.0.1:0".into();
    config
}

/// Binds a server over `store` and runs it on the current runtime until the
/// runtime ends; returns its address.
pub async fn spawn_server(store: Arc<dyn Store>, config: ServerConfig) -> Result<SocketAddr> {
    let server = flowstore_server::bind(store, config).await?;
    let addr = server.local_addr();
    tokio::spawn(server.run(std::future::pending()));
    Ok(addr)
}

/// A server over `store` with the default local config, and a client for it
/// whose namespace label, value limit and entry versions match the store's.
pub async fn client_for(store: Arc<dyn Store>) -> Result<HttpStore> {
    let namespace = store.namespace().as_str().to_string();
    let max = store.max_value_size();
    let capabilities = store.capabilities();
    let addr = spawn_server(store, local_config()).await?;
    HttpStore::builder(format!("http://{addr}"))
        .namespace(namespace)
        .max_value_size(max)
        .versions(capabilities.versions)
        .list(capabilities.list)
        .list_ordered(capabilities.list_ordered)
        .touch(capabilities.touch)
        .open()
}

/// Like [`client_for`], but the client claims entry versions whatever the
/// store keeps (to see what a server without them answers).
pub async fn versioned_client_for(store: Arc<dyn Store>) -> Result<HttpStore> {
    let addr = spawn_server(store, local_config()).await?;
    HttpStore::builder(format!("http://{addr}")).open()
}
