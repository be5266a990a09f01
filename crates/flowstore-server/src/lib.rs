#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod app;
mod batch;
mod config;
mod console;
mod flows;
mod host;
mod query;
mod response;
mod serve;
mod telemetry;
mod versioned;

#[allow(deprecated)]
pub use app::HEALTHZ_KEY;
pub use app::{ACKNOWLEDGE_DATA_LOSS_PATH, OPENAPI_YAML, router};
pub use config::{DEFAULT_LISTEN, ServerConfig, TOKEN_ENV, Token};
pub use serve::{Server, bind, serve, shutdown_signal};
pub use telemetry::{REQUEST_DURATION, REQUESTS_TOTAL};

/// Re-exported so an application can embed [`router`] with matching versions.
pub use axum;
/// The wire format this server speaks (header names, error body, key codec),
/// shared with the `flowstore-http` client: one definition for both ends.
pub use flowstore_http::protocol;
