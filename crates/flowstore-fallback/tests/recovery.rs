//! The rules of the fallback store, with a primary that fails and recovers
//! (`ScriptedStore::outage` / `heal`) in one process and in two ("processes" are
//! two `FallbackStore` instances over the same inner stores, each with its own
//! clock and no shared memory).

use std::sync::Arc;
use std::time::Duration;

use flowstore_core::conformance::doubles::{Op, ScriptedStore, Step};
use flowstore_core::{
    Capabilities, ErrorKind, Key, Namespace, Operation, Result, Store, Ttl, async_trait,
};
use flowstore_fallback::{
    ENVELOPE_OVERHEAD, FallbackBuilder, FallbackStore, MissingPolicy, WritePolicy,
};
use flowstore_memory::MemoryStore;

type Double = Arc<ScriptedStore<MemoryStore>>;

struct Stores {
    primary: Double,
    secondary: Double,
}

impl Stores {
    fn new() -> Self {
        Stores {
            primary: Arc::new(ScriptedStore::new(MemoryStore::new())),
            secondary: Arc::new(ScriptedStore::new(MemoryStore::new())),
        }
    }

    fn builder(&self) -> FallbackBuilder {
        FallbackStore::builder()
            .shared_store(self.primary.clone())
            .shared_store(self.secondary.clone())
    }

    /// One "process": a fallback store of its own over the shared stores.
    fn process(&self) -> FallbackStore {
        self.builder().build().unwrap()
    }

    fn without_repair(&self) -> FallbackStore {
        self.builder().read_repair(false).build().unwrap()
    }
}

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

async fn raw(store: &Double, k: &Key) -> Option<Vec<u8>> {
    store.inner().get(k).await.unwrap()
}

fn payload_is(raw: &Option<Vec<u8>>, value: &[u8]) -> bool {
    raw.as_deref().is_some_and(|bytes| {
        bytes.len() == ENVELOPE_OVERHEAD + value.len() && bytes.ends_with(value)
    })
}

// ---------------------------------------------------------------------------
// The scenario of the issue: v1 everywhere; primary down; v2 on the secondary;
// primary back (still holding v1); read → v2.

async fn stale_primary_scenario(
    writer_v1: &FallbackStore,
    writer_v2: &FallbackStore,
    reader: &FallbackStore,
    stores: &Stores,
) {
    let k = key("flow:42");
    writer_v1.set(&k, b"v1", None).await.unwrap();
    stores.primary.outage(ErrorKind::Unavailable);
    writer_v2.set(&k, b"v2", None).await.unwrap();
    stores.primary.heal();
    assert!(
        payload_is(&raw(&stores.primary, &k).await, b"v1"),
        "the primary came back stale"
    );
    assert_eq!(reader.get(&k).await.unwrap(), Some(b"v2".to_vec()));
    assert_eq!(reader.get(&k).await.unwrap(), Some(b"v2".to_vec()));
}

#[tokio::test]
async fn recovered_primary_does_not_serve_stale_value_one_process() {
    let stores = Stores::new();
    let store = stores.process();
    stale_primary_scenario(&store, &store, &store, &stores).await;
}

#[tokio::test]
async fn recovered_primary_does_not_serve_stale_value_two_processes() {
    let stores = Stores::new();
    let (a, b) = (stores.process(), stores.process());
    // v1 and the read from process A, v2 from process B.
    stale_primary_scenario(&a, &b, &a, &stores).await;
}

#[tokio::test]
async fn recovered_primary_does_not_serve_stale_value_without_read_repair() {
    let stores = Stores::new();
    let (a, b) = (stores.without_repair(), stores.without_repair());
    stale_primary_scenario(&a, &b, &a, &stores).await;
    // Without repair the primary stays stale, but every read compares stamps.
    assert!(payload_is(
        &raw(&stores.primary, &key("flow:42")).await,
        b"v1"
    ));
    assert_eq!(b.get(&key("flow:42")).await.unwrap(), Some(b"v2".to_vec()));
}

#[tokio::test]
async fn read_repair_brings_the_recovered_primary_up_to_date() {
    let stores = Stores::new();
    let (a, b) = (stores.process(), stores.process());
    stale_primary_scenario(&a, &b, &a, &stores).await;
    let k = key("flow:42");
    assert!(
        payload_is(&raw(&stores.primary, &k).await, b"v2"),
        "the read repaired the primary"
    );
    // So a later outage of the secondary does not bring v1 back.
    stores.secondary.outage(ErrorKind::Unavailable);
    assert_eq!(a.get(&k).await.unwrap(), Some(b"v2".to_vec()));
    assert_eq!(b.get(&k).await.unwrap(), Some(b"v2".to_vec()));
}

// ---------------------------------------------------------------------------
// The same with a delete during the outage: never a resurrected value.

async fn delete_during_outage_scenario(
    writer: &FallbackStore,
    deleter: &FallbackStore,
    reader: &FallbackStore,
    stores: &Stores,
) {
    let k = key("draft:7");
    writer.set(&k, b"v1", None).await.unwrap();
    stores.primary.outage(ErrorKind::Timeout);
    deleter.delete(&k).await.unwrap();
    assert_eq!(
        deleter.get(&k).await.unwrap(),
        None,
        "read-your-delete during the outage"
    );
    stores.primary.heal();
    assert!(
        payload_is(&raw(&stores.primary, &k).await, b"v1"),
        "the primary came back stale"
    );
    assert_eq!(
        reader.get(&k).await.unwrap(),
        None,
        "deleted value resurrected"
    );
    assert_eq!(reader.get(&k).await.unwrap(), None);
}

#[tokio::test]
async fn delete_during_outage_is_not_undone_one_process() {
    let stores = Stores::new();
    let store = stores.process();
    delete_during_outage_scenario(&store, &store, &store, &stores).await;
}

#[tokio::test]
async fn delete_during_outage_is_not_undone_two_processes() {
    let stores = Stores::new();
    let (a, b) = (stores.process(), stores.process());
    delete_during_outage_scenario(&a, &b, &a, &stores).await;
    // The read repaired the primary with the tombstone: a later outage of the
    // secondary does not resurrect v1 either.
    stores.secondary.outage(ErrorKind::Unavailable);
    assert_eq!(a.get(&key("draft:7")).await.unwrap(), None);
    assert_eq!(stores.process().get(&key("draft:7")).await.unwrap(), None);
}

#[tokio::test]
async fn delete_during_outage_is_not_undone_without_read_repair() {
    let stores = Stores::new();
    let (a, b) = (stores.without_repair(), stores.without_repair());
    delete_during_outage_scenario(&a, &b, &a, &stores).await;
}

#[tokio::test]
async fn write_after_delete_during_outage_wins_over_tombstone() {
    let stores = Stores::new();
    let (a, b) = (stores.process(), stores.process());
    let k = key("k");
    a.set(&k, b"v1", None).await.unwrap();
    stores.primary.outage(ErrorKind::Unavailable);
    b.delete(&k).await.unwrap();
    stores.primary.heal();
    a.set(&k, b"v3", None).await.unwrap();
    assert_eq!(b.get(&k).await.unwrap(), Some(b"v3".to_vec()));
}

#[tokio::test]
async fn value_written_with_ttl_during_outage_does_not_uncover_the_old_value_when_it_expires() {
    let stores = Stores::new();
    let (a, b) = (stores.without_repair(), stores.without_repair());
    let k = key("session");
    a.set(&k, b"v1", None).await.unwrap();
    stores.primary.outage(ErrorKind::Unavailable);
    b.set(&k, b"v2", Some(Ttl::from_millis(100).unwrap()))
        .await
        .unwrap();
    stores.primary.heal();
    assert_eq!(a.get(&k).await.unwrap(), Some(b"v2".to_vec()));
    tokio::time::sleep(Duration::from_millis(400)).await;
    // v2 expired; the primary still holds v1, but the expired v2 outranks it.
    assert_eq!(a.get(&k).await.unwrap(), None);
    assert_eq!(b.get(&k).await.unwrap(), None);
}

// ---------------------------------------------------------------------------
// Reads move past errors; the missing policy.

#[tokio::test]
async fn reads_move_past_a_failed_primary() {
    let stores = Stores::new();
    let store = stores.process();
    let k = key("k");
    store.set(&k, b"v", None).await.unwrap();
    stores.primary.outage(ErrorKind::Unavailable);
    assert_eq!(store.get(&k).await.unwrap(), Some(b"v".to_vec()));
    // A tombstone found on a secondary is an answer, too.
    store.delete(&k).await.unwrap();
    assert_eq!(store.get(&k).await.unwrap(), None);
}

#[tokio::test]
async fn nothing_found_but_a_store_failed_is_an_error_by_default() {
    let stores = Stores::new();
    let store = stores.process();
    stores.primary.outage(ErrorKind::Unavailable);
    let err = store
        .get(&key("never-written"))
        .await
        .expect_err("an outage is not \"absent\"");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.is_temporary(), "the inner error is returned as it is");
}

#[tokio::test]
async fn absent_policy_treats_an_outage_as_absent_when_another_store_answered() {
    let stores = Stores::new();
    let store = stores
        .builder()
        .missing_policy(MissingPolicy::Absent)
        .build()
        .unwrap();
    let k = key("never-written");
    stores.primary.outage(ErrorKind::Timeout);
    assert_eq!(store.get(&k).await.unwrap(), None);
    // Not when every store failed: nothing answered at all.
    stores.secondary.outage(ErrorKind::Unavailable);
    assert_eq!(store.get(&k).await.unwrap_err().kind(), ErrorKind::Timeout);
    // Not for failures other than outages.
    stores.secondary.heal();
    stores.primary.heal();
    stores
        .primary
        .set_default(Op::Get, Step::Fail(ErrorKind::Unauthorized));
    assert_eq!(
        store.get(&k).await.unwrap_err().kind(),
        ErrorKind::Unauthorized
    );
}

#[tokio::test]
async fn every_store_failing_is_the_first_error() {
    let stores = Stores::new();
    let store = stores.process();
    stores.primary.outage(ErrorKind::Timeout);
    stores.secondary.outage(ErrorKind::Unavailable);
    assert_eq!(
        store.get(&key("k")).await.unwrap_err().kind(),
        ErrorKind::Timeout
    );
}

#[tokio::test]
async fn a_damaged_record_is_a_failure_of_that_store() {
    let stores = Stores::new();
    let store = stores.process();
    let k = key("k");
    // An envelope of an unknown version on the primary.
    let mut bad = vec![0xF5, b'F', b'B', 9];
    bad.extend_from_slice(&[0; 40]);
    stores.primary.inner().set(&k, &bad, None).await.unwrap();
    let err = store.get(&k).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    // The fallback read the record, so it made the error.
    assert_eq!(err.operation(), Some(Operation::Get), "{err}");
    assert_eq!(err.backend_name(), Some("fallback"), "{err}");
    // With the value on the secondary, the read moves past it.
    let other = stores.process();
    stores.primary.outage(ErrorKind::Unavailable);
    other.set(&k, b"good", None).await.unwrap();
    stores.primary.heal();
    assert_eq!(store.get(&k).await.unwrap(), Some(b"good".to_vec()));
    // A record this version cannot read (perhaps written by a newer version) is
    // never overwritten by read-repair.
    assert_eq!(raw(&stores.primary, &k).await, Some(bad));
}

// ---------------------------------------------------------------------------
// Write policies.

#[tokio::test]
async fn write_policies_decide_which_acknowledgements_count() {
    let cases = [
        (WritePolicy::AtLeastOne, true, true),
        (WritePolicy::Primary, false, true),
        (WritePolicy::All, false, false),
    ];
    for (policy, ok_without_primary, ok_without_secondary) in cases {
        let stores = Stores::new();
        let store = stores.builder().write_policy(policy).build().unwrap();
        let k = key("k");
        stores.primary.outage(ErrorKind::Unavailable);
        assert_eq!(
            store.set(&k, b"a", None).await.is_ok(),
            ok_without_primary,
            "{policy:?} set"
        );
        assert_eq!(
            store.delete(&k).await.is_ok(),
            ok_without_primary,
            "{policy:?} delete"
        );
        stores.primary.heal();
        stores.secondary.outage(ErrorKind::Unavailable);
        assert_eq!(
            store.set(&k, b"b", None).await.is_ok(),
            ok_without_secondary,
            "{policy:?} set"
        );
        stores.primary.outage(ErrorKind::Unavailable);
        let err = store.set(&k, b"c", None).await.unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::Unavailable,
            "{policy:?}: nothing acknowledged"
        );
    }
}

#[tokio::test]
async fn every_write_goes_to_every_store() {
    let stores = Stores::new();
    let store = stores
        .builder()
        .write_policy(WritePolicy::Primary)
        .build()
        .unwrap();
    let k = key("k");
    store.set(&k, b"v", None).await.unwrap();
    assert!(payload_is(&raw(&stores.primary, &k).await, b"v"));
    assert!(payload_is(&raw(&stores.secondary, &k).await, b"v"));
    store.delete(&k).await.unwrap();
    assert_eq!(
        raw(&stores.secondary, &k).await.map(|r| r.len()),
        Some(ENVELOPE_OVERHEAD),
        "a tombstone"
    );
}

// ---------------------------------------------------------------------------
// Values written before the fallback existed, clock skew, clear, limits.

#[tokio::test]
async fn plain_values_are_read_and_are_older_than_any_record() {
    let stores = Stores::new();
    let store = stores.process();
    let k = key("legacy");
    stores
        .primary
        .inner()
        .set(&k, b"plain-primary", None)
        .await
        .unwrap();
    stores
        .secondary
        .inner()
        .set(&k, b"plain-secondary", None)
        .await
        .unwrap();
    // Equally old: the primary's wins.
    assert_eq!(
        store.get(&k).await.unwrap(),
        Some(b"plain-primary".to_vec())
    );
    stores.primary.outage(ErrorKind::Unavailable);
    assert_eq!(
        store.get(&k).await.unwrap(),
        Some(b"plain-secondary".to_vec())
    );
    store.set(&k, b"new", None).await.unwrap();
    stores.primary.heal();
    assert_eq!(store.get(&k).await.unwrap(), Some(b"new".to_vec()));
}

fn slow_process(stores: &Stores) -> FallbackStore {
    stores
        .builder()
        .clock_offset_for_tests(Duration::from_secs(60), false)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_writer_that_read_the_key_wins_despite_its_slow_clock() {
    let stores = Stores::new();
    let (fast, slow) = (stores.process(), slow_process(&stores));
    let k = key("k");
    fast.set(&k, b"v1", None).await.unwrap();
    stores.primary.outage(ErrorKind::Unavailable);
    // The slow process reads the key first (the usual read-modify-write of a
    // flow step): its clock adopts the stamp it saw, so its write is newer.
    assert_eq!(slow.get(&k).await.unwrap(), Some(b"v1".to_vec()));
    slow.set(&k, b"v2", None).await.unwrap();
    stores.primary.heal();
    assert_eq!(fast.get(&k).await.unwrap(), Some(b"v2".to_vec()));
}

#[tokio::test]
async fn a_blind_write_from_a_clock_far_behind_loses_during_an_outage_as_documented() {
    let stores = Stores::new();
    let (fast, slow) = (stores.process(), slow_process(&stores));
    let k = key("k");
    fast.set(&k, b"v1", None).await.unwrap();
    // When every store takes a write, each simply holds the last one to arrive.
    slow.set(&k, b"v2", None).await.unwrap();
    assert_eq!(fast.get(&k).await.unwrap(), Some(b"v2".to_vec()));
    fast.set(&k, b"v3", None).await.unwrap();
    // But when the stores diverge, stamps decide: a write made without reading,
    // from a clock a minute behind, within that minute, is ordered by the
    // clocks, not by real time (the documented skew assumption).
    stores.primary.outage(ErrorKind::Unavailable);
    slow.set(&k, b"v4", None).await.unwrap();
    stores.primary.heal();
    assert_eq!(fast.get(&k).await.unwrap(), Some(b"v3".to_vec()));
}

#[tokio::test]
async fn clear_reaches_every_store_and_fails_if_one_fails() {
    let stores = Stores::new();
    let store = stores.process();
    let k = key("k");
    store.set(&k, b"v", None).await.unwrap();
    stores
        .secondary
        .push(Op::Clear, Step::Fail(ErrorKind::Unavailable));
    assert_eq!(
        store.clear().await.unwrap_err().kind(),
        ErrorKind::Unavailable
    );
    assert_eq!(
        raw(&stores.primary, &k).await,
        None,
        "the primary was cleared"
    );
    store.clear().await.unwrap();
    assert_eq!(raw(&stores.secondary, &k).await, None);
    assert_eq!(store.get(&k).await.unwrap(), None);
}

#[test]
fn limits_and_capabilities_come_from_the_inner_stores() {
    let big = MemoryStore::new().with_max_value_size(10_000);
    let small = MemoryStore::new().with_max_value_size(1_000);
    let store = FallbackStore::builder()
        .store(big)
        .store(small)
        .build()
        .unwrap();
    assert_eq!(store.max_value_size(), 1_000 - ENVELOPE_OVERHEAD);

    let err = FallbackStore::builder().build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let tiny = MemoryStore::new().with_max_value_size(ENVELOPE_OVERHEAD - 1);
    let err = FallbackStore::builder().store(tiny).build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);

    let ns: Namespace = "fallback-ns".try_into().unwrap();
    let store = FallbackStore::builder()
        .store(MemoryStore::new().with_namespace(ns.clone()))
        .store(NoClear::default())
        .build()
        .unwrap();
    assert_eq!(store.namespace(), &ns);
    assert!(store.capabilities().ttl);
    assert!(!store.capabilities().clear);
}

#[tokio::test]
async fn clear_is_unsupported_when_a_store_cannot_clear() {
    let primary = MemoryStore::new();
    let store = FallbackStore::builder()
        .store(primary.clone())
        .store(NoClear::default())
        .build()
        .unwrap();
    let k = key("k");
    store.set(&k, b"v", None).await.unwrap();
    let err = store.clear().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert_eq!(err.operation(), Some(Operation::Clear), "{err}");
    assert_eq!(err.backend_name(), Some("fallback"), "{err}");
    assert!(
        primary.get(&k).await.unwrap().is_some(),
        "nothing was cleared"
    );
}

#[tokio::test]
async fn works_as_arc_dyn_store_inside_another_fallback() {
    let stores = Stores::new();
    let inner: Arc<dyn Store> = Arc::new(stores.process());
    let outer = FallbackStore::new(vec![inner, Arc::new(MemoryStore::new())]).unwrap();
    assert_eq!(
        outer.max_value_size(),
        MemoryStore::new().max_value_size() - 2 * ENVELOPE_OVERHEAD
    );
    let k = key("nested");
    outer.set(&k, b"v", None).await.unwrap();
    assert_eq!(outer.get(&k).await.unwrap(), Some(b"v".to_vec()));
}

/// A store that cannot clear (and says so).
#[derive(Debug, Default)]
struct NoClear(MemoryStore);

#[async_trait]
impl Store for NoClear {
    async fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        self.0.get(key).await
    }
    async fn set(&self, key: &Key, value: &[u8], ttl: Option<Ttl>) -> Result<()> {
        self.0.set(key, value, ttl).await
    }
    async fn delete(&self, key: &Key) -> Result<()> {
        self.0.delete(key).await
    }
    async fn clear(&self) -> Result<()> {
        Err(flowstore_core::Error::unsupported("no clear"))
    }
    fn namespace(&self) -> &Namespace {
        self.0.namespace()
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::all().with_clear(false)
    }
}

#[tokio::test]
async fn with_three_stores_the_newest_record_wins_wherever_it_is() {
    let stores: Vec<Double> = (0..3)
        .map(|_| Arc::new(ScriptedStore::new(MemoryStore::new())))
        .collect();
    let process = || {
        stores
            .iter()
            .fold(FallbackStore::builder(), |builder, store| {
                builder.shared_store(store.clone())
            })
            .build()
            .unwrap()
    };
    let (a, b, c) = (process(), process(), process());
    let k = key("k");
    a.set(&k, b"v1", None).await.unwrap();
    stores[0].outage(ErrorKind::Unavailable);
    b.set(&k, b"v2", None).await.unwrap();
    stores[1].outage(ErrorKind::Unavailable);
    stores[0].heal();
    // Only the third store holds v2; the primary is back with v1.
    assert_eq!(c.get(&k).await.unwrap(), Some(b"v2".to_vec()));
    stores[1].heal();
    stores[2].outage(ErrorKind::Unavailable);
    // The read above repaired the primary.
    assert_eq!(a.get(&k).await.unwrap(), Some(b"v2".to_vec()));
}

#[tokio::test]
async fn recovered_sqlite_primary_does_not_serve_stale_values() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = flowstore_sqlite::SqliteStore::open(dir.path().join("primary.db"))
        .await
        .unwrap();
    let primary = Arc::new(ScriptedStore::new(sqlite));
    let secondary = Arc::new(ScriptedStore::new(MemoryStore::new()));
    let process = || {
        FallbackStore::builder()
            .shared_store(primary.clone())
            .shared_store(secondary.clone())
            .build()
            .unwrap()
    };
    let (a, b) = (process(), process());
    let (changed, deleted) = (key("changed"), key("deleted"));
    a.set(&changed, b"v1", None).await.unwrap();
    a.set(&deleted, b"v1", None).await.unwrap();
    primary.outage(ErrorKind::Unavailable);
    b.set(&changed, b"v2", None).await.unwrap();
    b.delete(&deleted).await.unwrap();
    primary.heal();
    assert_eq!(a.get(&changed).await.unwrap(), Some(b"v2".to_vec()));
    assert_eq!(a.get(&deleted).await.unwrap(), None);
    secondary.outage(ErrorKind::Unavailable);
    assert_eq!(b.get(&changed).await.unwrap(), Some(b"v2".to_vec()));
    assert_eq!(b.get(&deleted).await.unwrap(), None);
}

#[tokio::test]
async fn a_write_acknowledged_nowhere_but_applied_somewhere_is_judged_by_its_stamp() {
    let stores = Stores::new();
    let store = stores
        .builder()
        .write_policy(WritePolicy::All)
        .build()
        .unwrap();
    let k = key("k");
    store.set(&k, b"v1", None).await.unwrap();
    // The primary applies v2 but the answer is lost; the secondary is down.
    stores
        .primary
        .push(Op::Set, Step::ApplyThenFail(ErrorKind::Unavailable));
    stores
        .secondary
        .push(Op::Set, Step::Fail(ErrorKind::Unavailable));
    assert!(store.set(&k, b"v2", None).await.is_err(), "outcome unknown");
    // Unknown outcome: it did land, and being newest it is what reads return
    // (read-repair then copies it to the secondary: no flip-flopping).
    assert_eq!(store.get(&k).await.unwrap(), Some(b"v2".to_vec()));
    stores.primary.outage(ErrorKind::Unavailable);
    assert_eq!(store.get(&k).await.unwrap(), Some(b"v2".to_vec()));
}

/// A repair re-reads its target first: a write that reached the stale store after
/// the read (and only that store) is not overwritten by the older record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repair_does_not_overwrite_a_write_that_landed_after_the_read() {
    let stores = Stores::new();
    let k = key("raced");
    // P holds v2, S holds v1.
    let writer = stores.process();
    writer.set(&k, b"v1", None).await.unwrap();
    stores.primary.inner().delete(&k).await.unwrap();
    stores
        .secondary
        .fail_next(Op::Set, ErrorKind::Unavailable, 1);
    writer.set(&k, b"v2", None).await.unwrap();
    assert!(payload_is(&raw(&stores.secondary, &k).await, b"v1"));

    // The reader's get on P is slow; its get on S answers v1 at once. Once S has
    // answered, another process writes v3, which fails on P and lands on S only.
    // (If P answers first after all, the repair runs before v3 lands, and v3 then
    // overwrites it: S ends with v3 in every interleaving but the buggy one.)
    stores
        .primary
        .push(Op::Get, Step::Delay(Duration::from_millis(500)));
    let gets_before = stores.secondary.calls(Op::Get);
    let reader = stores.process();
    let read = {
        let k = k.clone();
        tokio::spawn(async move { reader.get(&k).await })
    };
    while stores.secondary.calls(Op::Get) == gets_before {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    stores.primary.fail_next(Op::Set, ErrorKind::Timeout, 1);
    stores.process().set(&k, b"v3", None).await.unwrap();

    // The reader saw v2 (the newest of what it read) and went to repair S with it.
    assert_eq!(read.await.unwrap().unwrap().as_deref(), Some(&b"v2"[..]));
    assert!(
        payload_is(&raw(&stores.secondary, &k).await, b"v3"),
        "the repair overwrote an acknowledged newer write"
    );
    assert_eq!(
        stores.process().get(&k).await.unwrap().as_deref(),
        Some(&b"v3"[..])
    );
}
