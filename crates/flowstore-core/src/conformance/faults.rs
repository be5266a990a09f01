//! "A failure is never `Ok(None)`" (SPEC §3), for stores whose backend a test
//! can cut off: the caller passes the store and two switches, and
//! [`failures_are_never_absent`] checks that every read while the backend is
//! unreachable fails instead of answering "absent" (or an empty page, or a
//! batch of `None`s), that no write claims success, and that the data is there
//! again once the backend is back.
//!
//! ```ignore
//! // A backend's test, with a TCP proxy between the store and its server:
//! let proxy = FaultProxy::start(server_addr)?;
//! let store = open_store_via(proxy.addr()).await;
//! failures_are_never_absent(
//!     &store,
//!     || proxy.set_mode(ProxyMode::Reset),
//!     || proxy.set_mode(ProxyMode::Pass),
//! )
//! .await;
//! ```

use std::time::Duration;

use super::rt;
use crate::{ErrorKind, Key, Prefix, Store, StoreExt};

/// How long the store may take to serve again after `restore`.
const RECOVERY: Duration = Duration::from_secs(60);

/// Writes a key, calls `cut`, checks that every operation fails with a
/// temporary `Unavailable` or `Timeout` — never `Ok(None)`, an empty page or a
/// successful write — then calls `restore` and checks the key reads back.
pub async fn failures_are_never_absent<S: Store + ?Sized>(
    store: &S,
    cut: impl FnOnce(),
    restore: impl FnOnce(),
) {
    let present = Key::new("faults/present").unwrap();
    let absent = Key::new("faults/absent").unwrap();
    let written_during = Key::new("faults/written-during").unwrap();
    store
        .set(&present, b"kept", None)
        .await
        .unwrap_or_else(|err| panic!("set before the cut failed: {err:?}"));

    cut();
    let caps = store.capabilities();
    expect_failure("get of a present key", store.get(&present).await);
    expect_failure("get of an absent key", store.get(&absent).await);
    expect_failure("get_string", store.get_string(&present).await);
    expect_failure(
        "get_many",
        store.get_many(&[present.clone(), absent.clone()]).await,
    );
    if caps.versions {
        expect_failure("get_entry", store.get_entry(&present).await);
        expect_failure(
            "set_if_absent",
            store.set_if_absent(&written_during, b"x", None).await,
        );
    }
    if caps.list {
        expect_failure("list", store.list(&Prefix::all(), None, 10).await);
        expect_failure("delete_prefix", store.delete_prefix(&Prefix::all()).await);
    }
    expect_failure("set", store.set(&written_during, b"x", None).await);
    expect_failure("delete", store.delete(&present).await);
    restore();

    // Serving again within RECOVERY, with the value written before the cut
    // (the delete above failed at the proxy, before reaching the server).
    let start = std::time::Instant::now();
    loop {
        match store.get(&present).await {
            Ok(found) => {
                assert_eq!(
                    found.as_deref(),
                    Some(&b"kept"[..]),
                    "after the backend came back the value written before the cut is not there"
                );
                break;
            }
            Err(err) if start.elapsed() < RECOVERY => {
                let _ = err;
                rt::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => panic!("the store did not serve again within {RECOVERY:?}: {err:?}"),
        }
    }
    let _ = store.delete(&present).await;
    let _ = store.delete(&written_during).await;
}

fn expect_failure<T: std::fmt::Debug>(what: &str, result: crate::Result<T>) {
    match result {
        Err(err)
            if matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Timeout)
                && err.is_temporary() => {}
        Err(err) => panic!(
            "{what} while the backend is unreachable: expected a temporary Unavailable or Timeout, got {err:?}"
        ),
        Ok(answer) => panic!(
            "{what} while the backend is unreachable answered {answer:?}: a failure reported as an answer"
        ),
    }
}
