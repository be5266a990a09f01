//! The wrapper options (`--encrypt-key-env`, `--compress`, `--retry`,
//! `--fallback`, `--default-ttl`) as a [`StackOptions`] for `flowstore::open_stack`, and
//! [`open_store`], which every command opens its store with.

use std::sync::Arc;
use std::time::Duration;

use flowstore::encrypt::{EncryptionKey, Keyring};
use flowstore::retry::RetryPolicy;
use flowstore::{Namespace, OpenOptions, StackOptions, Store};

use crate::cli::Cli;
use crate::commands::parse_ttl_option;
use crate::failure::Failure;

/// The key id of values the command encrypts (one key, no rotation from the
/// command line).
const KEY_ID: u32 = 1;

/// The stack of the global options, with the metrics wrapper when `metrics`.
/// The encryption key is read from its variable here: a missing or malformed
/// key fails the command before any store is opened.
pub(crate) fn from_cli(cli: &Cli, metrics: bool) -> Result<StackOptions, Failure> {
    let mut stack = StackOptions::new().compress(cli.compress).metrics(metrics);
    if let Some(var) = &cli.encrypt_key_env {
        let key = EncryptionKey::from_env(var)
            .map_err(|err| Failure::store("--encrypt-key-env", &err))?;
        stack = stack.encrypt(Keyring::new(KEY_ID, key));
    }
    if let Some(retries) = cli.retry.filter(|&retries| retries > 0) {
        stack = stack.retry(
            RetryPolicy::new()
                .max_attempts(retries.saturating_add(1))
                .min_delay(Duration::from_millis(50)),
        );
    }
    for url in &cli.fallback {
        stack = stack.fallback(url.clone());
    }
    if let Some(ttl) = parse_ttl_option("--default-ttl", cli.default_ttl.as_deref())? {
        stack = stack.default_ttl(ttl);
    }
    Ok(stack)
}

/// Opens the store at `url` with the wrappers of `stack`; an explicit
/// `namespace` beats the URL's `namespace` parameter. The URL is never printed:
/// it may hold a password.
pub(crate) async fn open_store(
    url: &str,
    namespace: Option<Namespace>,
    stack: &StackOptions,
) -> Result<Arc<dyn Store>, Failure> {
    let mut options = OpenOptions::new();
    if let Some(namespace) = namespace {
        options = options.namespace(namespace);
    }
    flowstore::open_stack(url, &options, stack)
        .await
        .map_err(|err| Failure::store("cannot open the store", &err))
}
