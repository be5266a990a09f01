//! The wrapper options (`--encrypt-key-env`, `--compress`, `--retry`,
//! `--fallback`) as a [`StackOptions`] for `flowstore::open_stack`.

use std::sync::OnceLock;
use std::time::Duration;

use flowstore::StackOptions;
use flowstore::encrypt::{EncryptionKey, Keyring};
use flowstore::retry::RetryPolicy;

use crate::cli::Cli;
use crate::failure::Failure;

/// The stack every store of this process is opened with: set once by
/// [`configure`] before any command runs, read by [`crate::open_store`] (which
/// `bench` calls too, with no way to pass it along).
static STACK: OnceLock<StackOptions> = OnceLock::new();

/// The key id of values the command encrypts (one key, no rotation from the
/// command line).
const KEY_ID: u32 = 1;

/// Builds the stack from the global options and keeps it for [`current`].
/// The encryption key is read from its variable here: a missing or malformed
/// key fails the command before any store is opened.
pub(crate) fn configure(cli: &Cli, metrics: bool) -> Result<(), Failure> {
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
    // Set once per process; a second call (none today) keeps the first stack.
    let _ = STACK.set(stack);
    Ok(())
}

/// The stack [`configure`] built (no wrappers before it ran).
pub(crate) fn current() -> StackOptions {
    STACK.get().cloned().unwrap_or_default()
}
