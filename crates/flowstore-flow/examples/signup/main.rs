//! A signup service whose runs survive restarts: three steps (account →
//! profile → plan → complete), saved per user through `FlowPersister` on
//! SQLite, with a schema migration from version 1 to 2.
//!
//! ```sh
//! cargo run -p flowstore-flow --example signup
//! curl -s localhost:3000/signup/ada
//! curl -s -X POST localhost:3000/signup/ada/account -d '{"email":"ada@example.com"}'
//! ```
//!
//! Options (flag, else environment, else default):
//! - `--listen ADDR` / `SIGNUP_LISTEN`, default `127.0.0.1:3000`;
//! - `--store URL` / `FLOWSTORE_URL`, an SQLite URL, default `sqlite://signup.db`
//!   (a file in the current directory);
//! - `--schema 1|2` / `SIGNUP_SCHEMA`, default `2`: run at schema version 1 to
//!   save runs with `fullName`, then restart at 2 to see them migrated to
//!   `firstName`/`lastName`.

mod http;
mod schema;
mod steps;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use flowstore_flow::FlowPersister;
use flowstore_sqlite::SqliteBuilder;

use crate::schema::{Schema, V1, V2};

const USAGE: &str = "usage: signup [--listen ADDR] [--store sqlite://FILE] [--schema 1|2]
  --listen  address to listen on (env SIGNUP_LISTEN, default 127.0.0.1:3000)
  --store   SQLite store URL (env FLOWSTORE_URL, default sqlite://signup.db)
  --schema  schema version to run at (env SIGNUP_SCHEMA, default 2)";

struct Config {
    listen: SocketAddr,
    store: String,
    schema: String,
}

/// Flags first, then the environment, then the defaults.
fn config() -> Result<Option<Config>, String> {
    let mut listen = std::env::var("SIGNUP_LISTEN").ok();
    let mut store = std::env::var("FLOWSTORE_URL").ok();
    let mut schema = std::env::var("SIGNUP_SCHEMA").ok();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let slot = match flag.as_str() {
            "--listen" => &mut listen,
            "--store" => &mut store,
            "--schema" => &mut schema,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}")),
        };
        *slot = Some(args.next().ok_or_else(|| format!("{flag} needs a value"))?);
    }
    let listen = listen.as_deref().unwrap_or("127.0.0.1:3000");
    let listen = listen
        .parse()
        .map_err(|_| format!("--listen {listen:?} is not an address such as 127.0.0.1:3000"))?;
    let schema = schema.unwrap_or_else(|| V2::VERSION.to_owned());
    if schema != V1::VERSION && schema != V2::VERSION {
        return Err(format!("--schema is 1 or 2, not {schema:?}"));
    }
    Ok(Some(Config {
        listen,
        store: store.unwrap_or_else(|| "sqlite://signup.db".to_owned()),
        schema,
    }))
}

/// The persister at schema version `S`: stamps it on every save, migrates
/// older runs on restore, and checks every restored run against the flow.
fn persister<S: Schema>(store: Arc<dyn flowstore_core::Store>) -> FlowPersister<S::Context> {
    FlowPersister::new(store)
        .with_schema_version(S::VERSION)
        .with_migrate(S::migrate)
        .with_definition(steps::definition())
}

async fn run(config: Config) -> Result<(), String> {
    let builder = SqliteBuilder::from_url(&config.store).map_err(|err| err.to_string())?;
    let path = builder.path().display().to_string();
    let store: Arc<dyn flowstore_core::Store> =
        Arc::new(builder.open().await.map_err(|err| err.to_string())?);
    let app = if config.schema == V1::VERSION {
        http::router::<V1>(persister::<V1>(store))
    } else {
        http::router::<V2>(persister::<V2>(store))
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|err| format!("cannot listen on {}: {err}", config.listen))?;
    // The bound address, not the configured one: with port 0 the OS picks it,
    // and this line is how a caller (the end-to-end test) learns it.
    let bound = listener
        .local_addr()
        .map_err(|err| format!("cannot read the bound address: {err}"))?;
    eprintln!(
        "signup: listening on http://{bound} (schema version {}, SQLite file {path})",
        config.schema
    );
    axum::serve(listener, app)
        .await
        .map_err(|err| format!("serving failed: {err}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match config() {
        Ok(Some(config)) => config,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("signup: {err}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("signup: {err}");
            ExitCode::FAILURE
        }
    }
}
