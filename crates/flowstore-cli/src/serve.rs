//! `flowstore serve`: the store behind the HTTP state protocol (crate
//! `flowstore-server`).

use std::io::IsTerminal;

use flowstore::{Namespace, StackOptions};
use flowstore_server::{ServerConfig, Token};
use tracing_subscriber::EnvFilter;

use crate::cli::ServeArgs;
use crate::commands::Outcome;
use crate::failure::Failure;

/// Serves until SIGTERM or Ctrl-C, then lets in-flight requests finish.
pub(crate) async fn run(
    url: &str,
    namespace: Option<Namespace>,
    stack: &StackOptions,
    args: ServeArgs,
) -> Result<Outcome, Failure> {
    // Request logs on stderr (stdout is for `listening on ADDR`); they never
    // hold values or tokens.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();

    let mut config = ServerConfig::default();
    config.listen = args.listen;
    config.token =
        Token::load(args.token_file.as_deref()).map_err(|err| Failure::store("token", &err))?;
    config.allow_origins = args.allow_origins;
    config.insecure_no_token = args.insecure_no_token;
    config.console = args.console;

    let store = crate::open_store(url, namespace, stack).await?;
    flowstore_server::serve(store, config, flowstore_server::shutdown_signal())
        .await
        .map_err(|err| Failure::store("serve", &err))?;
    Ok(Outcome::Done)
}
