//! flowstore-flow's persister on IndexedDB in the browser (issue 14 §2): save,
//! restore with the fields the Rust side does not know intact, list and remove
//! flow instances, and two tabs saving one instance from the same base (exactly
//! one wins, the other gets the winner's state).
#![cfg(target_arch = "wasm32")]

use std::sync::Arc;

use flowstore_browser::IndexedDbStore;
use flowstore_core::conformance::{rt, unique_namespace};
use flowstore_core::{Key, Namespace, Store};
use flowstore_flow::{Base, FlowInstance, FlowPersister, FlowRef, FlowState, SaveError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wasm_bindgen_test::wasm_bindgen_test;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// A flow saved by the original design's front end, with fields this side
/// does not know at every level (flowstore-flow's fixture).
const ACTIVE_V2: &str =
    include_str!("../../flowstore-flow/tests/fixtures/active-v2-with-unknown-fields.json");

const DATABASE: &str = "flowstore-flows";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Onboarding {
    name: Option<String>,
    plan: Option<String>,
}

/// A fresh namespace of the test database: one tab's connection to it.
async fn open(namespace: &Namespace) -> Arc<dyn Store> {
    let store = IndexedDbStore::builder()
        .database(DATABASE)
        .namespace(namespace.clone())
        .open()
        .await
        .unwrap();
    Arc::new(store)
}

fn namespace(label: &str) -> Namespace {
    Namespace::new(unique_namespace(label)).unwrap()
}

fn user(id: &str) -> FlowRef {
    FlowRef::new("onboarding").instance(id)
}

fn fresh(flow: FlowRef) -> FlowInstance<Onboarding> {
    FlowInstance::new(
        flow,
        FlowState::start("welcome", Onboarding::default(), 1_733_300_000_000),
    )
}

#[wasm_bindgen_test]
async fn save_restore_list_and_remove() {
    let store = open(&namespace("flows")).await;
    let flows = FlowPersister::<Onboarding>::new(store.clone()).with_schema_version("2");

    let mut ada = fresh(user("ada"));
    ada.state.context.name = Some("Ada".into());
    let saved = flows.save(&mut ada, Base::New).await.unwrap();
    assert!(saved.version.is_some(), "IndexedDB keeps entry versions");
    let mut grace = fresh(user("grace"));
    flows.save(&mut grace, Base::New).await.unwrap();
    let mut other = FlowInstance::new(
        FlowRef::new("checkout"),
        FlowState::start("cart", Onboarding::default(), 1),
    );
    flows.save(&mut other, Base::New).await.unwrap();

    // Restore: what was saved, stamped, at the version the save returned.
    let restored = flows.restore(&user("ada")).await.unwrap().unwrap();
    assert_eq!(restored.version, saved.version);
    assert_eq!(restored.instance.state.context.name.as_deref(), Some("Ada"));
    assert_eq!(restored.instance.state.schema_version(), Some("2"));
    assert_eq!(restored.instance.state.saved_at(), Some(saved.saved_at));
    assert!(saved.saved_at > 1_700_000_000_000, "the browser's clock");
    assert_eq!(
        restored.key.as_str(),
        "useflow:onboarding:default:ada",
        "the original design's key"
    );

    // Advance and save on top of the restored version.
    let base = Base::of(Some(&restored));
    let mut next = restored.instance;
    next.state.advance("profile", saved.saved_at + 1);
    flows.save(&mut next, base).await.unwrap();
    assert_eq!(
        flows
            .restore(&user("ada"))
            .await
            .unwrap()
            .unwrap()
            .instance
            .state
            .step_id,
        "profile"
    );

    // List: the two onboarding instances, not the checkout one.
    let listed = flows.list("onboarding").await.unwrap();
    let ids: Vec<&str> = listed
        .iter()
        .map(|found| found.instance.instance_id.as_str())
        .collect();
    assert_eq!(ids, ["ada", "grace"]);
    assert!(listed.iter().all(|found| found.version.is_some()));

    // Remove one, then the flow, then everything under `useflow:`; a key that
    // is not a flow stays.
    let unrelated = Key::new("not-a-flow").unwrap();
    store.set(&unrelated, b"keep", None).await.unwrap();
    flows.remove(&user("grace")).await.unwrap();
    assert!(flows.restore(&user("grace")).await.unwrap().is_none());
    assert_eq!(flows.list("onboarding").await.unwrap().len(), 1);
    assert_eq!(flows.remove_flow("onboarding").await.unwrap(), 1);
    assert!(flows.list("onboarding").await.unwrap().is_empty());
    assert!(
        flows
            .restore(&FlowRef::new("checkout"))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(flows.remove_all().await.unwrap(), 1);
    assert!(
        flows
            .restore(&FlowRef::new("checkout"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.get(&unrelated).await.unwrap().as_deref(),
        Some(&b"keep"[..])
    );
}

/// A value the front end saved restores typed, and a save of it keeps every
/// field the typed side does not know (only `__meta.savedAt` changes).
#[wasm_bindgen_test]
async fn unknown_fields_survive_a_restore_and_save() {
    let store = open(&namespace("unknown")).await;
    let key = Key::new("useflow:onboarding:default:user-42").unwrap();
    store.set(&key, ACTIVE_V2.as_bytes(), None).await.unwrap();

    let typed = FlowPersister::<Onboarding>::new(store.clone());
    let restored = typed.restore(&user("user-42")).await.unwrap().unwrap();
    assert_eq!(restored.instance.state.context.plan.as_deref(), Some("pro"));
    assert_eq!(restored.instance.state.step_id, "profile");

    // Raw context: everything, context fields included, comes back.
    let raw = FlowPersister::<Value>::new(store.clone());
    let restored = raw.restore(&user("user-42")).await.unwrap().unwrap();
    let base = Base::of(Some(&restored));
    let mut instance = restored.instance;
    raw.save(&mut instance, base).await.unwrap();
    let mut stored: Value =
        serde_json::from_slice(&store.get(&key).await.unwrap().unwrap()).unwrap();
    let mut original: Value = serde_json::from_str(ACTIVE_V2).unwrap();
    let saved_at = stored["state"]["__meta"]["savedAt"].take();
    original["state"]["__meta"]["savedAt"].take();
    assert!(saved_at.as_u64().unwrap() > 1_733_300_007_000);
    assert_eq!(stored, original);

    // The typed persister's save keeps them too, the unknown context field aside
    // (the typed context has no place for it).
    let mut typed_instance = typed.restore(&user("user-42")).await.unwrap().unwrap();
    let base = Base::of(Some(&typed_instance));
    typed
        .save(&mut typed_instance.instance, base)
        .await
        .unwrap();
    let stored: Value = serde_json::from_slice(&store.get(&key).await.unwrap().unwrap()).unwrap();
    assert_eq!(stored["clientBuild"], "2024-12-04T10:00:00Z");
    assert_eq!(stored["state"]["experiment"]["bucket"], 3);
    assert_eq!(stored["state"]["__meta"]["savedBy"], "web-7.1.0");
    assert_eq!(stored["state"]["path"][0]["durationHint"], 5);
    assert_eq!(stored["state"]["history"][1]["device"], "tablet");
}

/// Two tabs (two connections to the same database) save the same instance
/// from the same base at once: exactly one wins, the other gets a conflict
/// holding the winner's state and entry version, and can save on top of it.
#[wasm_bindgen_test]
async fn two_tabs_from_the_same_base_exactly_one_wins() {
    let shared = namespace("conflict");
    let tab_a = FlowPersister::<Onboarding>::new(open(&shared).await);
    let tab_b = FlowPersister::<Onboarding>::new(open(&shared).await);
    let flow = user("42");
    let mut first = fresh(flow.clone());
    tab_a.save(&mut first, Base::New).await.unwrap();
    let base = Base::of(tab_b.restore(&flow).await.unwrap().as_ref());
    assert!(matches!(base, Base::Version(_)), "{base:?}");

    let mut pro = first.clone();
    pro.state.context.plan = Some("pro".into());
    let mut free = first.clone();
    free.state.context.plan = Some("free".into());
    let (a, b) = rt::join(
        tab_a.save(&mut pro, base.clone()),
        tab_b.save(&mut free, base.clone()),
    )
    .await;
    let (winner_plan, loser, loser_tab) = match (a, b) {
        (Ok(_), Err(loser)) => ("pro", loser, &tab_b),
        (Err(loser), Ok(_)) => ("free", loser, &tab_a),
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

    // A retry based on the old version still conflicts; one based on the
    // winner's goes through, and both tabs then read the merge.
    let mut stale = first.clone();
    assert!(
        loser_tab
            .save(&mut stale, base)
            .await
            .unwrap_err()
            .conflict()
            .is_some()
    );
    let mut merged = current.instance;
    merged.state.context.name = Some("Ada".into());
    loser_tab
        .save(&mut merged, Base::Version(current.version.unwrap()))
        .await
        .unwrap();
    for tab in [&tab_a, &tab_b] {
        let after = tab
            .restore(&flow)
            .await
            .unwrap()
            .unwrap()
            .instance
            .state
            .context;
        assert_eq!(after.plan.as_deref(), Some(winner_plan));
        assert_eq!(after.name.as_deref(), Some("Ada"));
    }
}
