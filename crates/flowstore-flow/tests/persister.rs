//! The persister's promises on the memory store and on scripted failures.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flowstore_core::conformance::doubles::{Op, RequiredOnly, ScriptedStore};
use flowstore_core::{
    Entry, ErrorKind, Key, Namespace, Result as StoreResult, Store, StoreExt, Ttl,
};
use flowstore_flow::{
    Base, FlowDefinition, FlowError, FlowInstance, FlowPersister, FlowRef, FlowState,
    InvalidStored, Problem, SaveError,
};
use flowstore_memory::MemoryStore;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Signup {
    email: Option<String>,
    plan: Option<String>,
}

fn user(id: &str) -> FlowRef {
    FlowRef::new("signup").instance(id)
}

fn fresh(flow: FlowRef) -> FlowInstance<Signup> {
    FlowInstance::new(flow, FlowState::start("account", Signup::default(), 1_000))
}

fn key_of(flow: &FlowRef) -> Key {
    Key::new(format!(
        "useflow:{}:{}:{}",
        flow.flow_id, flow.variant_id, flow.instance_id
    ))
    .unwrap()
}

#[tokio::test]
async fn two_writers_from_the_same_base_one_wins_the_other_gets_the_winner() {
    let flows = FlowPersister::<Signup>::new(Arc::new(MemoryStore::new()));
    let flow = user("42");
    let mut first = fresh(flow.clone());
    flows.save(&mut first, Base::New).await.unwrap();
    let base = Base::of(flows.restore(&flow).await.unwrap().as_ref());

    let mut tab_a = first.clone();
    tab_a.state.context.plan = Some("pro".into());
    let mut tab_b = first.clone();
    tab_b.state.context.plan = Some("free".into());
    let (a, b) = tokio::join!(
        flows.save(&mut tab_a, base.clone()),
        flows.save(&mut tab_b, base.clone())
    );
    let (winner_plan, loser) = match (a, b) {
        (Ok(_), Err(loser)) => ("pro", loser),
        (Err(loser), Ok(_)) => ("free", loser),
        (a, b) => panic!("exactly one save must win: {a:?} / {b:?}"),
    };
    let SaveError::Conflict(conflict) = loser else {
        panic!("the loser must get a conflict, got {loser:?}")
    };
    let current = conflict.current.expect("the winner's state");
    assert_eq!(
        current.instance.state.context.plan.as_deref(),
        Some(winner_plan)
    );
    assert_eq!(current.version, conflict.current_version);

    // The loser merges and saves on top of the winner's version.
    let stored = flows.restore(&flow).await.unwrap().unwrap();
    assert_eq!(stored.version, current.version);
    let mut merged = current.instance;
    merged.state.context.email = Some("ada@example.com".into());
    flows
        .save(&mut merged, Base::Version(current.version.unwrap()))
        .await
        .unwrap();
    let after = flows.restore(&flow).await.unwrap().unwrap();
    assert_eq!(
        after.instance.state.context.plan.as_deref(),
        Some(winner_plan)
    );
    assert_eq!(
        after.instance.state.context.email.as_deref(),
        Some("ada@example.com")
    );
}

#[tokio::test]
async fn a_new_run_over_an_existing_one_is_a_conflict() {
    let flows = FlowPersister::<Signup>::new(Arc::new(MemoryStore::new()));
    let mut first = fresh(user("1"));
    flows.save(&mut first, Base::New).await.unwrap();
    let mut second = fresh(user("1"));
    let err = flows.save(&mut second, Base::New).await.unwrap_err();
    assert!(err.conflict().unwrap().current.is_some());
}

#[tokio::test]
async fn an_outage_is_an_error_never_no_saved_state() {
    let store = Arc::new(ScriptedStore::new(MemoryStore::new()));
    let errors = Arc::new(AtomicUsize::new(0));
    let seen = errors.clone();
    let flows = FlowPersister::<Signup>::new(store.clone()).on_error(move |err| {
        assert!(matches!(err, FlowError::Store(_)));
        seen.fetch_add(1, Ordering::SeqCst);
    });
    let mut run = fresh(user("1"));
    flows.save(&mut run, Base::New).await.unwrap();

    store.outage(ErrorKind::Unavailable);
    let err = flows.restore(&user("1")).await.unwrap_err();
    assert_eq!(err.store_error().unwrap().kind(), ErrorKind::Unavailable);
    let err = flows.list("signup").await.unwrap_err();
    assert_eq!(err.store_error().unwrap().kind(), ErrorKind::Unavailable);
    let err = flows.save(&mut run, Base::Overwrite).await.unwrap_err();
    assert!(matches!(err, SaveError::Failed(FlowError::Store(_))));
    assert_eq!(
        errors.load(Ordering::SeqCst),
        3,
        "every error reaches the hook"
    );
}

#[tokio::test]
async fn a_value_that_is_not_a_flow_is_its_own_error_or_skipped_by_option() {
    let store = Arc::new(MemoryStore::new());
    let flow = user("1");
    store
        .set(&key_of(&flow), br#"{"secret":"hunter2","state":7}"#, None)
        .await
        .unwrap();
    let flows = FlowPersister::<Signup>::new(store.clone());
    let err = flows.restore(&flow).await.unwrap_err();
    assert!(matches!(err, FlowError::NotFlowJson { .. }), "{err:?}");
    assert!(
        !err.to_string().contains("hunter2"),
        "no stored text in errors"
    );

    // A context that does not fit the application's type is the same error.
    let mut raw = FlowInstance::new(
        flow.clone(),
        FlowState::start("account", json!({"email": 7}), 1),
    );
    FlowPersister::<Value>::new(store.clone())
        .save(&mut raw, Base::Overwrite)
        .await
        .unwrap();
    assert!(matches!(
        flows.restore(&flow).await.unwrap_err(),
        FlowError::NotFlowJson { .. }
    ));

    let skipped = Arc::new(AtomicUsize::new(0));
    let seen = skipped.clone();
    let lenient = flows
        .clone()
        .with_invalid_stored(InvalidStored::Skip)
        .on_error(move |_| {
            seen.fetch_add(1, Ordering::SeqCst);
        });
    assert!(lenient.restore(&flow).await.unwrap().is_none());
    assert_eq!(
        skipped.load(Ordering::SeqCst),
        1,
        "a skip is still reported"
    );
    assert!(
        store.get(&key_of(&flow)).await.unwrap().is_some(),
        "a skipped value stays in the store"
    );
}

#[tokio::test]
async fn the_restore_ttl_deletes_an_expired_entry() {
    let store = Arc::new(MemoryStore::new());
    let now = Arc::new(AtomicU64::new(10_000));
    let clock = now.clone();
    let flows = FlowPersister::<Signup>::new(store.clone())
        .with_restore_ttl(Duration::from_millis(500))
        .with_clock(move || clock.load(Ordering::SeqCst));
    let flow = user("1");
    flows
        .save(&mut fresh(flow.clone()), Base::New)
        .await
        .unwrap();

    now.store(10_500, Ordering::SeqCst);
    assert!(
        flows.restore(&flow).await.unwrap().is_some(),
        "exactly the TTL old"
    );
    now.store(10_501, Ordering::SeqCst);
    assert!(flows.restore(&flow).await.unwrap().is_none());
    assert!(
        store.get(&key_of(&flow)).await.unwrap().is_none(),
        "deleted"
    );

    // A savedAt ahead of this clock (a browser's fast clock) is age zero.
    now.store(20_000, Ordering::SeqCst);
    flows
        .save(&mut fresh(flow.clone()), Base::New)
        .await
        .unwrap();
    now.store(19_000, Ordering::SeqCst);
    assert!(flows.restore(&flow).await.unwrap().is_some());
}

/// A store where a fresh save lands between the restore's read and its
/// delete of the expired entry.
#[derive(Debug)]
struct SaveRacesRead {
    inner: MemoryStore,
    fresh_value: Mutex<Option<Vec<u8>>>,
}

#[flowstore_core::async_trait]
impl Store for SaveRacesRead {
    async fn get(&self, key: &Key) -> StoreResult<Option<Vec<u8>>> {
        self.inner.get(key).await
    }
    async fn set(&self, key: &Key, value: &[u8], ttl: Option<Ttl>) -> StoreResult<()> {
        self.inner.set(key, value, ttl).await
    }
    async fn delete(&self, key: &Key) -> StoreResult<()> {
        self.inner.delete(key).await
    }
    async fn clear(&self) -> StoreResult<()> {
        self.inner.clear().await
    }
    async fn get_entry(&self, key: &Key) -> StoreResult<Option<Entry>> {
        let entry = self.inner.get_entry(key).await?;
        let racing = self.fresh_value.lock().unwrap().take();
        if let Some(value) = racing {
            self.inner.set_versioned(key, &value, None).await?;
        }
        Ok(entry)
    }
    async fn set_if(
        &self,
        key: &Key,
        value: &[u8],
        ttl: Option<Ttl>,
        condition: &flowstore_core::Condition,
        new_version: &flowstore_core::Version,
    ) -> StoreResult<()> {
        self.inner
            .set_if(key, value, ttl, condition, new_version)
            .await
    }
    async fn delete_if(&self, key: &Key, expected: &flowstore_core::Version) -> StoreResult<()> {
        self.inner.delete_if(key, expected).await
    }
    fn namespace(&self) -> &Namespace {
        self.inner.namespace()
    }
    fn capabilities(&self) -> flowstore_core::Capabilities {
        self.inner.capabilities()
    }
}

#[tokio::test]
async fn a_fresh_save_racing_an_expiring_restore_survives() {
    let store = Arc::new(SaveRacesRead {
        inner: MemoryStore::new(),
        fresh_value: Mutex::new(None),
    });
    let now = Arc::new(AtomicU64::new(1_000));
    let clock = now.clone();
    let flows = FlowPersister::<Signup>::new(store.clone())
        .with_restore_ttl(Duration::from_millis(100))
        .with_clock(move || clock.load(Ordering::SeqCst));
    let flow = user("1");
    flows
        .save(&mut fresh(flow.clone()), Base::New)
        .await
        .unwrap();

    // Another device saves right after the restore read the old, expired entry.
    now.store(5_000, Ordering::SeqCst);
    let mut newer = fresh(flow.clone());
    newer.state.context.plan = Some("newer".into());
    newer.state.meta = Some(flowstore_flow::Meta {
        saved_at: Some(5_000),
        ..Default::default()
    });
    *store.fresh_value.lock().unwrap() = Some(serde_json::to_vec(&newer).unwrap());

    assert!(
        flows.restore(&flow).await.unwrap().is_none(),
        "what it read was expired"
    );
    let survivor = flows
        .restore(&flow)
        .await
        .unwrap()
        .expect("the fresh save survives");
    assert_eq!(
        survivor.instance.state.context.plan.as_deref(),
        Some("newer")
    );
}

#[tokio::test]
async fn old_schema_versions_are_migrated_discarded_or_fail() {
    let store = Arc::new(MemoryStore::new());
    let flow = user("1");
    let write_v1 = || async {
        let mut v1 = FlowInstance::new(
            flow.clone(),
            FlowState::start("account", json!({ "mail": "ada@example.com" }), 1),
        );
        FlowPersister::<Value>::new(store.clone())
            .with_schema_version("1")
            .save(&mut v1, Base::Overwrite)
            .await
            .unwrap();
    };
    write_v1().await;
    let strict = FlowPersister::<Signup>::new(store.clone()).with_schema_version("2");

    let migrated = strict.clone().with_migrate(|mut state, from| {
        assert_eq!(from, Some("1"));
        let mail = state.context["mail"].take();
        state.context = json!({ "email": mail });
        Ok(Some(state))
    });
    let restored = migrated.restore(&flow).await.unwrap().unwrap();
    assert_eq!(
        restored.instance.state.context.email.as_deref(),
        Some("ada@example.com")
    );

    let failing = strict
        .clone()
        .with_migrate(|_, _| Err("no path from 1".into()));
    match failing.restore(&flow).await.unwrap_err() {
        FlowError::Migration { from, reason } => {
            assert_eq!(from.as_deref(), Some("1"));
            assert_eq!(reason, "no path from 1");
        }
        other => panic!("expected a migration error, got {other:?}"),
    }
    assert!(
        store.get(&key_of(&flow)).await.unwrap().is_some(),
        "a failure deletes nothing"
    );

    // A migration that discards, and no migrate callback at all (the
    // original's rule): "no saved state", and the old entry is deleted.
    let dropping = strict.clone().with_migrate(|_, _| Ok(None));
    assert!(dropping.restore(&flow).await.unwrap().is_none());
    assert!(store.get(&key_of(&flow)).await.unwrap().is_none());
    write_v1().await;
    assert!(strict.restore(&flow).await.unwrap().is_none());
    assert!(store.get(&key_of(&flow)).await.unwrap().is_none());
}

#[tokio::test]
async fn a_state_the_definition_refuses_is_invalid_with_every_problem() {
    let store = Arc::new(MemoryStore::new());
    let flow = user("1");
    let mut run = FlowInstance::new(
        flow.clone(),
        FlowState::start("nowhere", Signup::default(), 1),
    );
    let flows = FlowPersister::<Signup>::new(store).with_definition(
        FlowDefinition::new("account")
            .step("account", ["plan"])
            .step("plan", [] as [&str; 0]),
    );
    flows.save(&mut run, Base::New).await.unwrap();
    match flows.restore(&flow).await.unwrap_err() {
        FlowError::Invalid { problems, key } => {
            assert_eq!(key, Some(key_of(&flow)));
            assert!(problems.contains(&Problem::UnknownStep {
                step_id: "nowhere".into()
            }));
            assert!(problems.len() >= 3, "{problems:?}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn list_and_remove_touch_only_their_flow() {
    let store = Arc::new(MemoryStore::new());
    let flows = FlowPersister::<Signup>::new(store.clone());
    for id in ["a", "b", "c"] {
        flows.save(&mut fresh(user(id)), Base::New).await.unwrap();
    }
    let mut other = fresh(FlowRef::new("signup-v2").instance("a"));
    flows.save(&mut other, Base::New).await.unwrap();
    let unrelated = Key::new("session:1").unwrap();
    store.set(&unrelated, b"keep", None).await.unwrap();

    let listed = flows.list("signup").await.unwrap();
    let mut ids: Vec<_> = listed
        .iter()
        .map(|item| item.instance.instance_id.as_str())
        .collect();
    ids.sort();
    assert_eq!(ids, ["a", "b", "c"], "signup-v2 is another flow");
    assert!(listed.iter().all(|item| item.version.is_some()));

    flows.remove(&user("a")).await.unwrap();
    assert_eq!(flows.list("signup").await.unwrap().len(), 2);
    assert_eq!(flows.remove_flow("signup").await.unwrap(), 2);
    assert!(flows.list("signup").await.unwrap().is_empty());
    assert_eq!(flows.list("signup-v2").await.unwrap().len(), 1);
    assert_eq!(flows.remove_all().await.unwrap(), 1);
    assert_eq!(
        store.get(&unrelated).await.unwrap().as_deref(),
        Some(&b"keep"[..]),
        "remove_all is not clear"
    );
}

#[tokio::test]
async fn a_store_ttl_is_given_to_every_save() {
    let store = Arc::new(MemoryStore::new());
    let flows =
        FlowPersister::<Signup>::new(store.clone()).with_store_ttl(Ttl::from_secs(3600).unwrap());
    let flow = user("1");
    flows
        .save(&mut fresh(flow.clone()), Base::New)
        .await
        .unwrap();
    let entry = store.get_entry(&key_of(&flow)).await.unwrap().unwrap();
    assert!(entry.expires_at.is_some());
}

#[tokio::test]
async fn hooks_see_what_was_saved_and_restored() {
    let saved = Arc::new(Mutex::new(Vec::new()));
    let restored = Arc::new(Mutex::new(Vec::new()));
    let (on_save, on_restore) = (saved.clone(), restored.clone());
    let flows = FlowPersister::<Signup>::new(Arc::new(MemoryStore::new()))
        .with_schema_version("7")
        .on_save(move |instance| {
            on_save
                .lock()
                .unwrap()
                .push(instance.state.schema_version().map(str::to_owned))
        })
        .on_restore(move |instance| {
            on_restore
                .lock()
                .unwrap()
                .push(instance.state.step_id.clone())
        });
    flows.save(&mut fresh(user("1")), Base::New).await.unwrap();
    flows.restore(&user("1")).await.unwrap();
    flows.restore(&user("absent")).await.unwrap();
    assert_eq!(*saved.lock().unwrap(), [Some("7".to_owned())]);
    assert_eq!(*restored.lock().unwrap(), ["account"]);
}

#[tokio::test]
async fn a_failed_write_reports_a_failure_not_a_conflict() {
    let store = Arc::new(ScriptedStore::new(MemoryStore::new()));
    store.fail_next(Op::SetIf, ErrorKind::Timeout, 1);
    let flows = FlowPersister::<Signup>::new(store.clone());
    let err = flows
        .save(&mut fresh(user("1")), Base::New)
        .await
        .unwrap_err();
    assert!(err.conflict().is_none());
    match err {
        SaveError::Failed(FlowError::Store(err)) => assert_eq!(err.kind(), ErrorKind::Timeout),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_value_naming_another_instance_is_misplaced_not_restored() {
    let store = Arc::new(MemoryStore::new());
    let flows = FlowPersister::<Signup>::new(store.clone());
    let mut theirs = fresh(user("victim"));
    flows.save(&mut theirs, Base::New).await.unwrap();
    // Copied by hand to another user's key: saving it back would write the
    // victim's key.
    let value = store.get(&key_of(&user("victim"))).await.unwrap().unwrap();
    store
        .set(&key_of(&user("copy")), &value, None)
        .await
        .unwrap();
    match flows.restore(&user("copy")).await.unwrap_err() {
        FlowError::Misplaced { stored, .. } => assert_eq!(stored, user("victim")),
        other => panic!("expected Misplaced, got {other:?}"),
    }
    // Listing finds the same: it is reported, not shown as the victim twice.
    assert!(matches!(
        flows.list("signup").await.unwrap_err(),
        FlowError::Misplaced { .. }
    ));
    let lenient = flows.with_invalid_stored(InvalidStored::Skip);
    let listed = lenient.list("signup").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, key_of(&user("victim")));
}

#[tokio::test]
async fn missing_or_null_ids_are_the_keys_and_js_times_and_nulls_read() {
    let store = Arc::new(MemoryStore::new());
    let flow = FlowRef::new("signup").variant("b").instance("u9");
    let written_by_js = br#"{
        "flowId": "signup", "instanceId": null,
        "state": {
            "stepId": "account", "context": {},
            "path": [ { "stepId": "account", "startedAt": 1733300000000.6, "completedAt": null, "action": null } ],
            "history": [],
            "status": "active", "startedAt": 1.7333e12, "completedAt": null, "__meta": null
        }
    }"#;
    store
        .set(&key_of(&flow), written_by_js, None)
        .await
        .unwrap();
    let flows = FlowPersister::<Signup>::new(store);
    let restored = flows.restore(&flow).await.unwrap().unwrap();
    assert_eq!(
        restored.instance.flow_ref(),
        flow,
        "ids filled from the key"
    );
    assert_eq!(
        restored.instance.state.path[0].started_at,
        1_733_300_000_001
    );
    assert_eq!(restored.instance.state.started_at, 1_733_300_000_000);
    assert_eq!(restored.instance.state.completed_at, None);
    assert_eq!(restored.instance.state.meta, None);
}

#[tokio::test]
async fn a_negative_time_is_not_a_flow() {
    let store = Arc::new(MemoryStore::new());
    let flow = user("1");
    let value = br#"{"flowId":"signup","state":{"stepId":"a","context":{},"status":"active","startedAt":-5}}"#;
    store.set(&key_of(&flow), value, None).await.unwrap();
    let err = FlowPersister::<Value>::new(store)
        .restore(&flow)
        .await
        .unwrap_err();
    assert!(matches!(err, FlowError::NotFlowJson { .. }), "{err:?}");
}

#[tokio::test]
async fn a_discarded_old_schema_is_deleted_so_a_new_run_can_start() {
    let store = Arc::new(MemoryStore::new());
    let flow = user("1");
    FlowPersister::<Signup>::new(store.clone())
        .with_schema_version("1")
        .save(&mut fresh(flow.clone()), Base::New)
        .await
        .unwrap();
    let flows = FlowPersister::<Signup>::new(store.clone()).with_schema_version("2");
    let restored = flows.restore(&flow).await.unwrap();
    assert!(restored.is_none());
    let base = flows.base_of(restored.as_ref());
    assert_eq!(base, Base::New);
    flows.save(&mut fresh(flow.clone()), base).await.unwrap();
}

#[tokio::test]
async fn a_migrated_state_is_at_the_current_schema_version() {
    let store = Arc::new(MemoryStore::new());
    let flow = user("1");
    FlowPersister::<Signup>::new(store.clone())
        .with_schema_version("1")
        .save(&mut fresh(flow.clone()), Base::New)
        .await
        .unwrap();
    let flows = FlowPersister::<Signup>::new(store.clone())
        .with_schema_version("2")
        .with_migrate(|state, _| Ok(Some(state)));
    let restored = flows.restore(&flow).await.unwrap().unwrap();
    assert_eq!(restored.instance.state.schema_version(), Some("2"));
    assert_eq!(restored.stored_schema_version.as_deref(), Some("1"));

    // A migration whose output does not fit the context type is a migration error.
    let broken = flows.with_migrate(|mut state, _| {
        state.context = json!({ "email": 42 });
        Ok(Some(state))
    });
    assert!(matches!(
        broken.restore(&flow).await.unwrap_err(),
        FlowError::Migration { .. }
    ));
}

#[tokio::test]
async fn a_store_without_versions_saves_last_write_wins() {
    let store = Arc::new(RequiredOnly(MemoryStore::new()));
    let flows = FlowPersister::<Signup>::new(store);
    let flow = user("1");
    let restored = flows.restore(&flow).await.unwrap();
    let base = flows.base_of(restored.as_ref());
    assert_eq!(base, Base::Overwrite);
    let saved = flows.save(&mut fresh(flow.clone()), base).await.unwrap();
    assert_eq!(saved.version, None);
    let restored = flows.restore(&flow).await.unwrap().unwrap();
    assert_eq!(restored.version, None);
    assert_eq!(flows.base_of(Some(&restored)), Base::Overwrite);
}

#[tokio::test]
async fn a_conflict_over_an_unreadable_value_still_is_a_conflict() {
    let store = Arc::new(MemoryStore::new());
    let flow = user("1");
    store.set(&key_of(&flow), b"not json", None).await.unwrap();
    let flows = FlowPersister::<Signup>::new(store).with_invalid_stored(InvalidStored::Skip);
    assert!(flows.restore(&flow).await.unwrap().is_none());
    let err = flows
        .save(&mut fresh(flow.clone()), Base::New)
        .await
        .unwrap_err();
    let conflict = err.conflict().expect("nothing was written: a conflict");
    assert!(conflict.current.is_none());
    assert!(matches!(
        conflict.read_error,
        Some(FlowError::NotFlowJson { .. })
    ));
    // Its version lets the caller replace the damaged value on purpose.
    let version = conflict.current_version.clone().unwrap();
    flows
        .save(&mut fresh(flow.clone()), Base::Version(version))
        .await
        .unwrap();
    assert!(flows.restore(&flow).await.unwrap().is_some());
}
