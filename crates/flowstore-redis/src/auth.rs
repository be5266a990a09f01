//! Credentials refused on reconnect reach the caller as `Unauthorized`.
//!
//! When a connection drops, fred reconnects on its own and keeps the commands
//! that were in flight, and those sent meanwhile, until a connection is back.
//! If the server now refuses our credentials (the password was changed, the
//! ACL user disabled), fred keeps retrying with the same credentials and
//! reports each refusal only on its error broadcast: the waiting commands would
//! end with a temporary `Timeout` when their command timeout runs out, and a
//! retry layer would retry them. [`Refusals`] listens to that broadcast and ends
//! them, and every command sent while the refusal lasts, with the permanent
//! `Unauthorized` at once. A successful reconnection (the credentials were
//! accepted again) ends the refusal.

use std::future::Future;

use flowstore_core::{Operation, Result};
use fred::clients::Client;
use fred::error::{Error as FredError, ErrorKind as FredKind};
use fred::interfaces::EventInterface;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{in_op, map_error};

/// Whether the last connection attempt was refused for our credentials, kept up
/// to date from fred's notifications by a task of its own.
pub(crate) struct Refusals {
    /// The refusal (fred's error) while it lasts, `None` otherwise.
    state: watch::Receiver<Option<FredError>>,
    listener: JoinHandle<()>,
}

impl Refusals {
    /// Starts listening to `client`'s notifications. Call it right after the
    /// client connected, inside a Tokio runtime.
    pub(crate) fn watch(client: &Client) -> Refusals {
        let (tx, state) = watch::channel(None);
        let mut errors = client.error_rx();
        let mut reconnects = client.reconnect_rx();
        let listener = tokio::spawn(async move {
            loop {
                tokio::select! {
                    error = errors.recv() => match error {
                        Ok((error, _server)) if is_refusal(&error) => {
                            tx.send_replace(Some(error));
                        }
                        Ok(_) | Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => return,
                    },
                    // fred announces a connection once it is set up, AUTH included.
                    // Missed announcements (lagged) still mean one succeeded.
                    connected = reconnects.recv() => match connected {
                        Ok(_) | Err(RecvError::Lagged(_)) => {
                            tx.send_if_modified(|state| state.take().is_some());
                        }
                        Err(RecvError::Closed) => return,
                    },
                }
            }
        });
        Refusals { state, listener }
    }

    /// Runs one fred command for `operation`, which its errors name.
    ///
    /// While a refusal lasts the command is not sent: `Unauthorized` at once.
    /// If a refusal comes while it waits, it ends with `Unauthorized` then, and
    /// the command is left to fred until its own command timeout, as a command
    /// that timed out: fred sends it only if a connection comes back before
    /// that (so a write that failed this way has an unknown outcome, like one
    /// that timed out, for at most the command timeout).
    pub(crate) async fn run<T, F>(&self, operation: Operation, command: F) -> Result<T>
    where
        F: Future<Output = std::result::Result<T, FredError>> + Send + 'static,
        T: Send + 'static,
    {
        let mut state = self.state.clone();
        if let Some(refusal) = state.borrow_and_update().clone() {
            return Err(in_op(operation)(map_error(refusal)));
        }
        // Boxed so that it can be handed over to a task of its own below.
        let mut command = Box::pin(command);
        tokio::select! {
            biased;
            result = &mut command => result.map_err(|err| in_op(operation)(map_error(err))),
            refusal = next_refusal(&mut state) => {
                // Dropping it would let fred send it whenever a connection comes
                // back; awaiting it lets fred's timeout mark it as abandoned.
                tokio::spawn(async move {
                    let _ = command.await;
                });
                Err(in_op(operation)(map_error(refusal)))
            }
        }
    }
}

impl Drop for Refusals {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Waits until a refusal starts; never returns if the listener is gone.
async fn next_refusal(state: &mut watch::Receiver<Option<FredError>>) -> FredError {
    loop {
        if state.changed().await.is_err() {
            return std::future::pending().await;
        }
        if let Some(refusal) = state.borrow_and_update().clone() {
            return refusal;
        }
    }
}

/// Whether fred's error is the server refusing our credentials: fred's `Auth`
/// kind (its reading of `NOAUTH`/`WRONGPASS` replies) or such a reply in
/// another kind.
fn is_refusal(error: &FredError) -> bool {
    let prefix = error.details().split_whitespace().next().unwrap_or("");
    matches!(error.kind(), FredKind::Auth) || matches!(prefix, "NOAUTH" | "WRONGPASS")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_recognised() {
        assert!(is_refusal(&FredError::new(FredKind::Auth, "x")));
        assert!(is_refusal(&FredError::new(
            FredKind::Unknown,
            "WRONGPASS invalid username-password pair or user is disabled."
        )));
        assert!(is_refusal(&FredError::new(
            FredKind::Unknown,
            "NOAUTH Authentication required."
        )));
        assert!(!is_refusal(&FredError::new(
            FredKind::IO,
            "Connection refused"
        )));
        assert!(!is_refusal(&FredError::new(
            FredKind::Unknown,
            "NOPERM this user has no permissions to run the 'get' command"
        )));
    }
}
