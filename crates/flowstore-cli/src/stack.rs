//! The wrapper options (`--encrypt-key-env`, `--compress`, `--retry`,
//! `--fallback`, `--default-ttl`, and their `--from-`/`--to-` forms of `copy`)
//! as a [`StackOptions`] for `flowstore::open_stack`, and
//! [`open_store`], which every command opens its store with.

use std::sync::Arc;
use std::time::Duration;

use flowstore::encrypt::{EncryptionKey, Keyring};
use flowstore::retry::RetryPolicy;
use flowstore::{Namespace, OpenOptions, StackOptions, Store};

use crate::commands::parse_ttl_option;
use crate::failure::Failure;

/// The key id of values the command encrypts (one key, no rotation from the
/// command line).
const KEY_ID: u32 = 1;

/// The wrapper options of one store, as given on the command line; `prefix`
/// is their names' prefix (`""`, `"from-"`, `"to-"`), for error messages.
#[derive(Debug)]
pub(crate) struct Wrappers<'a> {
    pub(crate) prefix: &'static str,
    pub(crate) encrypt_key_env: Option<&'a str>,
    pub(crate) compress: bool,
    pub(crate) retry: Option<u32>,
    pub(crate) fallback: &'a [String],
    pub(crate) default_ttl: Option<&'a str>,
}

/// The stack of `wrappers`, with the metrics wrapper when `metrics`.
/// The encryption key is read from its variable here: a missing or malformed
/// key fails the command before any store is opened.
pub(crate) fn build(wrappers: &Wrappers<'_>, metrics: bool) -> Result<StackOptions, Failure> {
    let prefix = wrappers.prefix;
    let mut stack = StackOptions::new()
        .compress(wrappers.compress)
        .metrics(metrics);
    if let Some(var) = wrappers.encrypt_key_env {
        let key = EncryptionKey::from_env(var)
            .map_err(|err| Failure::store(format_args!("--{prefix}encrypt-key-env"), &err))?;
        stack = stack.encrypt(Keyring::new(KEY_ID, key));
    }
    if let Some(retries) = wrappers.retry.filter(|&retries| retries > 0) {
        stack = stack.retry(
            RetryPolicy::new()
                .max_attempts(retries.saturating_add(1))
                .min_delay(Duration::from_millis(50)),
        );
    }
    for url in wrappers.fallback {
        stack = stack.fallback(url.clone());
    }
    let option = format!("--{prefix}default-ttl");
    if let Some(ttl) = parse_ttl_option(&option, wrappers.default_ttl)? {
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
