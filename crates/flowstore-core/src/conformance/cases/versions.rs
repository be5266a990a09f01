//! Cases for versioned entries and conditional writes (SPEC §8).
//!
//! A store without the `versions` capability is checked to answer every
//! versioned operation with `Unsupported` and to write nothing; the rest of each
//! case runs only on stores that claim it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::{assert_kind, get, key, must, open, set, tidy, ttl};
use crate::conformance::factory::StoreFactory;
use crate::conformance::rt;
use crate::{Condition, Current, ErrorKind, Key, Store, StoreExt, Version};

/// True when `store` claims entry versions; when it does not, checks that each
/// versioned operation is an explicit `Unsupported` that wrote nothing.
async fn versioned<S: Store + ?Sized>(store: &S) -> bool {
    if store.capabilities().versions {
        return true;
    }
    let k = key("unversioned");
    let what = "a versioned operation on a store without versions";
    assert_kind(store.get_entry(&k).await, ErrorKind::Unsupported, what);
    assert_kind(
        store.set_if_absent(&k, b"v", None).await,
        ErrorKind::Unsupported,
        what,
    );
    let version = Version::generate();
    assert_kind(
        store.delete_if_version(&k, &version).await,
        ErrorKind::Unsupported,
        what,
    );
    assert_eq!(
        get(store, &k).await,
        None,
        "a refused write must write nothing"
    );
    false
}

async fn version_of<S: Store + ?Sized>(store: &S, k: &Key) -> Version {
    must(store.get_entry(k).await, &format!("get_entry {k:?}"))
        .unwrap_or_else(|| panic!("get_entry {k:?}: the entry is absent"))
        .version
}

/// A `Conflict`, and the current version it carries agrees with `expected`
/// when the store gave one.
fn assert_conflict<T: std::fmt::Debug>(
    result: crate::Result<T>,
    expected: Option<&Version>,
    what: &str,
) {
    let err = assert_kind(result, ErrorKind::Conflict, what);
    assert!(!err.is_temporary(), "{what}: a Conflict must be permanent");
    if let Some(current) = err.current() {
        let want = Current::from_option(expected.cloned());
        assert_eq!(
            current, &want,
            "{what}: the conflict names the wrong current version"
        );
    }
}

/// No expiry, or one far beyond every TTL a case sets (a wrapper may give
/// every write a default TTL of its own).
pub(super) fn assert_no_near_expiry(expires_at: Option<std::time::SystemTime>, what: &str) {
    if let Some(at) = expires_at {
        assert!(
            at > rt::wall_clock() + Duration::from_secs(3600),
            "{what} expires at {at:?}: it kept an earlier TTL"
        );
    }
}

/// `get_entry` reads the value, a version that agrees with what the write
/// returned, and the expiry; an absent key is `None`.
pub async fn entry_reads_value_version_and_expiry<F: StoreFactory>(factory: &F) {
    let store = open(factory, "entryread").await;
    if !versioned(&store).await {
        return;
    }
    let k = key("entry");
    assert!(must(store.get_entry(&k).await, "get_entry of an absent key").is_none());
    let written = must(store.set_versioned(&k, b"v1", None).await, "set_versioned");
    let entry = must(store.get_entry(&k).await, "get_entry").expect("entry is absent");
    assert_eq!(entry.value, b"v1");
    assert_eq!(
        entry.version, written,
        "get_entry shows another version than was written"
    );
    assert_no_near_expiry(entry.expires_at, "an entry written without TTL");
    assert_eq!(get(&store, &k).await.as_deref(), Some(&b"v1"[..]));

    if store.capabilities().ttl {
        let hour = Duration::from_secs(3600);
        let before = rt::wall_clock();
        must(store.set(&k, b"v2", Some(ttl(hour))).await, "set with TTL");
        let entry = must(store.get_entry(&k).await, "get_entry").expect("entry is absent");
        let expires_at = entry.expires_at.expect("an entry with a TTL has no expiry");
        // The backend's clock may differ from ours by a little.
        let skew = Duration::from_secs(60);
        assert!(
            expires_at > before + hour - skew && expires_at < rt::wall_clock() + hour + skew,
            "a one-hour TTL expires at {expires_at:?}, {before:?} + 1 h expected"
        );
    }
    tidy(&store).await;
}

/// Every write gives the key a new version: plain `set`s of the same value, a
/// TTL change, and conditional writes.
pub async fn versions_change_on_every_write<F: StoreFactory>(factory: &F) {
    let store = open(factory, "verchange").await;
    if !versioned(&store).await {
        return;
    }
    let k = key("changing");
    let mut seen = HashSet::new();
    for round in 0..3 {
        set(&store, &k, b"same value").await;
        let version = version_of(&store, &k).await;
        assert!(
            seen.insert(version.clone()),
            "plain set #{round} of an identical value kept version {version}"
        );
    }
    if store.capabilities().ttl {
        must(
            store
                .set(&k, b"same value", Some(ttl(Duration::from_secs(600))))
                .await,
            "set with TTL",
        );
        assert!(
            seen.insert(version_of(&store, &k).await),
            "a TTL change kept the version"
        );
    }
    let current = version_of(&store, &k).await;
    let next = must(
        store
            .set_if_version(&k, b"same value", None, &current)
            .await,
        "set_if_version",
    );
    assert!(
        seen.insert(next.clone()),
        "a conditional write kept the version"
    );
    assert_eq!(version_of(&store, &k).await, next);
    tidy(&store).await;
}

/// A key deleted and written again gets a version it never had.
pub async fn recreated_key_gets_a_new_version<F: StoreFactory>(factory: &F) {
    let store = open(factory, "verrecreate").await;
    if !versioned(&store).await {
        return;
    }
    let k = key("recreated");
    let mut seen = HashSet::new();
    for round in 0..3 {
        set(&store, &k, b"v").await;
        let version = version_of(&store, &k).await;
        assert!(
            seen.insert(version.clone()),
            "re-created key #{round} repeated version {version}"
        );
        must(store.delete(&k).await, "delete");
        let created = must(store.set_if_absent(&k, b"v", None).await, "set_if_absent");
        assert!(
            seen.insert(created.clone()),
            "set_if_absent repeated version {created}"
        );
        must(
            store.delete_if_version(&k, &created).await,
            "delete_if_version",
        );
    }
    tidy(&store).await;
}

/// A write conditioned on a version the key no longer has is a `Conflict` and
/// leaves the value as it was.
pub async fn stale_version_conflicts_and_keeps_value<F: StoreFactory>(factory: &F) {
    let store = open(factory, "verstale").await;
    if !versioned(&store).await {
        return;
    }
    let k = key("stale");
    let first = must(
        store.set_versioned(&k, b"first", None).await,
        "set_versioned",
    );
    set(&store, &k, b"second").await;
    let second = version_of(&store, &k).await;
    assert_conflict(
        store.set_if_version(&k, b"lost update", None, &first).await,
        Some(&second),
        "set_if_version on a stale version",
    );
    assert_eq!(get(&store, &k).await.as_deref(), Some(&b"second"[..]));
    assert_eq!(
        version_of(&store, &k).await,
        second,
        "a failed condition changed the version"
    );
    tidy(&store).await;
}

/// "Only if absent" on a present key is a `Conflict`; on an absent key it
/// creates the entry.
pub async fn absent_condition_on_present_key_conflicts<F: StoreFactory>(factory: &F) {
    let store = open(factory, "verabsent").await;
    if !versioned(&store).await {
        return;
    }
    let k = key("once");
    let created = must(
        store.set_if_absent(&k, b"first", None).await,
        "set_if_absent on an absent key",
    );
    assert_eq!(version_of(&store, &k).await, created);
    assert_conflict(
        store.set_if_absent(&k, b"second", None).await,
        Some(&created),
        "set_if_absent on a present key",
    );
    assert_eq!(get(&store, &k).await.as_deref(), Some(&b"first"[..]));
    // Other keys and other namespaces do not count as present.
    let other_namespace = open(factory, "verabsent2").await;
    must(
        other_namespace.set_if_absent(&k, b"elsewhere", None).await,
        "set_if_absent in another namespace",
    );
    must(
        store.set_if_absent(&key("once2"), b"x", None).await,
        "set_if_absent on a longer key",
    );
    tidy(&other_namespace).await;
    tidy(&store).await;
}

/// `delete_if` removes the key only at its current version; a stale version or
/// an absent key is a `Conflict`.
pub async fn delete_if_removes_only_at_its_version<F: StoreFactory>(factory: &F) {
    let store = open(factory, "verdelete").await;
    if !versioned(&store).await {
        return;
    }
    let k = key("guarded");
    let first = must(
        store.set_versioned(&k, b"first", None).await,
        "set_versioned",
    );
    let second = must(
        store.set_versioned(&k, b"second", None).await,
        "set_versioned",
    );
    assert_conflict(
        store.delete_if_version(&k, &first).await,
        Some(&second),
        "delete_if on a stale version",
    );
    assert_eq!(get(&store, &k).await.as_deref(), Some(&b"second"[..]));
    must(
        store.delete_if_version(&k, &second).await,
        "delete_if at the current version",
    );
    assert_eq!(get(&store, &k).await, None);
    assert_conflict(
        store.delete_if_version(&k, &second).await,
        None,
        "delete_if on an absent key",
    );
    tidy(&store).await;
}

/// An expired entry is absent for every condition.
pub async fn expired_entry_is_absent_for_conditions<F: StoreFactory>(factory: &F) {
    let store = open(factory, "verexpired").await;
    if !versioned(&store).await || !store.capabilities().ttl {
        return;
    }
    let k = key("expiring");
    let old = must(
        store
            .set_if_absent(&k, b"old", Some(ttl(Duration::from_millis(100))))
            .await,
        "set_if_absent with TTL",
    );
    rt::sleep(Duration::from_millis(400)).await;
    assert!(
        must(store.get_entry(&k).await, "get_entry").is_none(),
        "get_entry shows an expired entry"
    );
    assert_conflict(
        store.set_if_version(&k, b"late", None, &old).await,
        None,
        "set_if_version on an expired entry",
    );
    assert_conflict(
        store.delete_if_version(&k, &old).await,
        None,
        "delete_if on an expired entry",
    );
    let fresh = must(
        store.set_if_absent(&k, b"fresh", None).await,
        "set_if_absent over an expired entry",
    );
    assert_ne!(fresh, old);
    assert_eq!(get(&store, &k).await.as_deref(), Some(&b"fresh"[..]));
    tidy(&store).await;
}

/// Conditional writes take a TTL like `set`: the entry expires after it, and a
/// conditional write without one removes an earlier TTL.
pub async fn conditional_writes_honour_ttl<F: StoreFactory>(factory: &F) {
    let store = open(factory, "verttl").await;
    if !versioned(&store).await || !store.capabilities().ttl {
        return;
    }
    let short = key("short");
    must(
        store
            .set_if_absent(&short, b"v", Some(ttl(Duration::from_millis(100))))
            .await,
        "set_if_absent with TTL",
    );
    let kept = key("kept");
    let with_ttl = must(
        store
            .set_if_absent(&kept, b"v", Some(ttl(Duration::from_millis(300))))
            .await,
        "set_if_absent with TTL",
    );
    let without = must(
        store.set_if_version(&kept, b"w", None, &with_ttl).await,
        "set_if_version without TTL",
    );
    let entry = must(store.get_entry(&kept).await, "get_entry").expect("entry is absent");
    assert_eq!(entry.version, without);
    assert_no_near_expiry(
        entry.expires_at,
        "an entry rewritten conditionally without TTL",
    );
    rt::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        get(&store, &short).await,
        None,
        "a conditional write's TTL was not honoured"
    );
    assert_eq!(get(&store, &kept).await.as_deref(), Some(&b"w"[..]));
    tidy(&store).await;
}

/// A conditional write repeated with the same proposed version (a retry after a
/// lost answer) is `Ok`, not a conflict with itself.
pub async fn retried_conditional_write_is_not_a_conflict<F: StoreFactory>(factory: &F) {
    let store = open(factory, "verretry").await;
    if !versioned(&store).await {
        return;
    }
    let k = key("retried");
    let proposed = Version::generate();
    for attempt in 1..=2 {
        must(
            store
                .set_if(&k, b"created", None, &Condition::Absent, &proposed)
                .await,
            &format!("set_if absent, attempt {attempt}"),
        );
    }
    let next = Version::generate();
    let condition = Condition::Matches(proposed.clone());
    for attempt in 1..=2 {
        must(
            store.set_if(&k, b"updated", None, &condition, &next).await,
            &format!("set_if version, attempt {attempt}"),
        );
    }
    let entry = must(store.get_entry(&k).await, "get_entry").expect("entry is absent");
    assert_eq!(
        (entry.value.as_slice(), &entry.version),
        (&b"updated"[..], &next)
    );
    tidy(&store).await;
}

/// A conditional write over the size limit is `ValueTooLarge` and writes nothing.
pub async fn oversized_conditional_write_writes_nothing<F: StoreFactory>(factory: &F) {
    let store = open(factory, "verbig").await;
    if !versioned(&store).await {
        return;
    }
    let k = key("big");
    let version = must(
        store.set_versioned(&k, b"small", None).await,
        "set_versioned",
    );
    let too_big = vec![7u8; store.max_value_size() + 1];
    assert_kind(
        store.set_if_version(&k, &too_big, None, &version).await,
        ErrorKind::ValueTooLarge,
        "an oversized conditional write",
    );
    assert_eq!(version_of(&store, &k).await, version);
    tidy(&store).await;
}

const RACERS: usize = 32;

/// 32 tasks writing conditionally from the same version: exactly one succeeds,
/// every other gets `Conflict`.
pub async fn racing_conditional_writes_have_one_winner<F: StoreFactory>(factory: &F) {
    let store = Arc::new(open(factory, "verrace").await);
    if !versioned(&*store).await {
        return;
    }
    let k = key("raced");
    let start = must(
        store.set_versioned(&k, b"start", None).await,
        "set_versioned",
    );
    let tasks = (0..RACERS)
        .map(|i| {
            let store = Arc::clone(&store);
            let (k, start) = (k.clone(), start.clone());
            async move {
                let value = format!("racer-{i}").into_bytes();
                match store.set_if_version(&k, &value, None, &start).await {
                    Ok(version) => Some((value, version)),
                    Err(err) if err.kind() == ErrorKind::Conflict => None,
                    Err(err) => panic!("racing set_if_version failed: {err:?}"),
                }
            }
        })
        .collect();
    let winners: Vec<_> = rt::run_concurrently(tasks)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "{} of {RACERS} racing conditional writes succeeded",
        winners.len()
    );
    let (value, version) = &winners[0];
    let entry = must(store.get_entry(&k).await, "get_entry").expect("entry is absent");
    assert_eq!(
        (&entry.value, &entry.version),
        (value, version),
        "the winner's write is not what is stored"
    );
    tidy(&*store).await;
}

const COUNTER_TASKS: usize = 16;
const INCREMENTS: usize = 50;

/// A read-modify-write counter, 16 tasks × 50 increments, each retrying on
/// `Conflict`: no update is lost, the count ends at exactly 800.
pub async fn read_modify_write_counter_is_exact<F: StoreFactory>(factory: &F) {
    let store = Arc::new(open(factory, "vercounter").await);
    if !versioned(&*store).await {
        return;
    }
    let k = key("counter");
    must(store.set_if_absent(&k, b"0", None).await, "set_if_absent");
    let tasks = (0..COUNTER_TASKS)
        .map(|_| {
            let store = Arc::clone(&store);
            let k = k.clone();
            async move {
                for _ in 0..INCREMENTS {
                    increment(&*store, &k).await;
                }
            }
        })
        .collect();
    rt::run_concurrently(tasks).await;
    let total = COUNTER_TASKS * INCREMENTS;
    assert_eq!(
        get(&*store, &k).await,
        Some(total.to_string().into_bytes()),
        "lost updates"
    );
    tidy(&*store).await;
}

async fn increment<S: Store + ?Sized>(store: &S, k: &Key) {
    loop {
        let entry = must(store.get_entry(k).await, "counter get_entry").expect("counter is absent");
        let count: usize = std::str::from_utf8(&entry.value)
            .ok()
            .and_then(|text| text.parse().ok())
            .expect("counter is not a number");
        let next = (count + 1).to_string();
        match store
            .set_if_version(k, next.as_bytes(), None, &entry.version)
            .await
        {
            Ok(_) => return,
            Err(err) if err.kind() == ErrorKind::Conflict => continue,
            Err(err) => panic!("counter set_if_version failed: {err:?}"),
        }
    }
}
