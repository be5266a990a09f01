//! Values written in the original design's format restore, and what this crate
//! saves reads back as that format.

use std::sync::Arc;

use flowstore_core::{Key, Store};
use flowstore_flow::{
    Action, Base, FlowInstance, FlowPersister, FlowRef, FlowState, FlowStatus, decode_instance,
};
use flowstore_memory::MemoryStore;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const ACTIVE_V2: &str = include_str!("fixtures/active-v2-with-unknown-fields.json");
const COMPLETE: &str = include_str!("fixtures/complete-without-ids.json");

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Onboarding {
    name: String,
    plan: String,
    // `newsletter` is left out on purpose: the typed side does not know it.
}

async fn store_with(key: &str, json: &str) -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    store
        .set(&Key::new(key).unwrap(), json.as_bytes(), None)
        .await
        .unwrap();
    store
}

#[tokio::test]
async fn an_original_instance_restores_with_typed_context() {
    let store = store_with("useflow:onboarding:default:user-42", ACTIVE_V2).await;
    let flows = FlowPersister::<Onboarding>::new(store);
    let restored = flows
        .restore(&FlowRef::new("onboarding").instance("user-42"))
        .await
        .unwrap()
        .expect("the fixture is stored under the default layout's key");
    let state = &restored.instance.state;
    assert_eq!(state.step_id, "profile");
    assert_eq!(
        state.context,
        Onboarding {
            name: "Ada".into(),
            plan: "pro".into()
        }
    );
    assert_eq!(state.status, FlowStatus::Active);
    assert_eq!(state.started_at, 1_733_300_000_000);
    assert_eq!(state.path.len(), 2);
    assert_eq!(state.path[0].action, Some(Action::Next));
    assert_eq!(state.path[1].completed_at, None);
    assert_eq!(state.saved_at(), Some(1_733_300_007_000));
    assert_eq!(state.schema_version(), Some("2"));
    assert!(restored.version.is_some(), "memory keeps entry versions");
}

#[tokio::test]
async fn missing_ids_are_default_and_a_complete_flow_keeps_its_times() {
    let instance = decode_instance(COMPLETE.as_bytes()).unwrap();
    assert_eq!(instance.instance_id, "default");
    assert_eq!(instance.variant_id, "default");
    assert_eq!(instance.state.status, FlowStatus::Complete);
    assert_eq!(instance.state.completed_at, Some(1_733_400_021_000));
    assert_eq!(instance.state.history[1].action, Some(Action::Back));
    assert_eq!(instance.state.meta, None);
}

/// Restore, save, and compare the stored JSON with the fixture: only
/// `__meta.savedAt` may differ, and every unknown field — at the top, in the
/// state, in `__meta`, in path and history entries, and in the context the
/// typed side does not model when it is raw JSON — is still there.
#[tokio::test]
async fn unknown_fields_survive_a_restore_and_save() {
    let key = "useflow:onboarding:default:user-42";
    let store = store_with(key, ACTIVE_V2).await;
    let flows = FlowPersister::<Value>::new(store.clone())
        .with_schema_version("2")
        .with_clock(|| 1_733_300_009_000);
    let flow = FlowRef::new("onboarding").instance("user-42");
    let restored = flows.restore(&flow).await.unwrap().unwrap();
    let base = Base::of(Some(&restored));
    let mut instance = restored.instance;
    flows.save(&mut instance, base).await.unwrap();

    let stored = store.get(&Key::new(key).unwrap()).await.unwrap().unwrap();
    let stored: Value = serde_json::from_slice(&stored).unwrap();
    let mut expected: Value = serde_json::from_str(ACTIVE_V2).unwrap();
    expected["state"]["__meta"]["savedAt"] = json!(1_733_300_009_000_u64);
    assert_eq!(stored, expected);
}

/// With a typed context, fields outside the context still survive; the
/// context is the application's own type and round-trips as that type (a
/// field it does not model, `newsletter` here, is the application's to keep,
/// with a `#[serde(flatten)]` map as in `the_context_keeps_what_its_type_keeps`).
#[tokio::test]
async fn typed_context_keeps_everything_outside_the_context() {
    let key = "useflow:onboarding:default:user-42";
    let store = store_with(key, ACTIVE_V2).await;
    let flows = FlowPersister::<Onboarding>::new(store.clone()).with_clock(|| 5);
    let flow = FlowRef::new("onboarding").instance("user-42");
    let restored = flows.restore(&flow).await.unwrap().unwrap();
    let base = Base::of(Some(&restored));
    let mut instance = restored.instance;
    flows.save(&mut instance, base).await.unwrap();

    let stored = store.get(&Key::new(key).unwrap()).await.unwrap().unwrap();
    let stored: Value = serde_json::from_slice(&stored).unwrap();
    assert_eq!(stored["clientBuild"], "2024-12-04T10:00:00Z");
    assert_eq!(stored["state"]["experiment"]["bucket"], 3);
    assert_eq!(stored["state"]["__meta"]["savedBy"], "web-7.1.0");
    assert_eq!(stored["state"]["__meta"]["version"], "2");
    assert_eq!(stored["state"]["__meta"]["savedAt"], 5);
    assert_eq!(stored["state"]["path"][0]["durationHint"], 5);
    assert_eq!(stored["state"]["history"][1]["device"], "tablet");
    assert_eq!(
        stored["state"]["context"],
        json!({ "name": "Ada", "plan": "pro" })
    );
}

/// What the Rust side writes has exactly the original's shape: the fields and
/// JSON types the data-model document lists, and nothing invented.
#[tokio::test]
async fn a_saved_instance_has_the_original_shape() {
    let store = Arc::new(MemoryStore::new());
    let flows = FlowPersister::<Onboarding>::new(store.clone())
        .with_schema_version("3")
        .with_clock(|| 1_733_300_100_000);
    let mut state = FlowState::start(
        "welcome",
        Onboarding {
            name: "Ada".into(),
            plan: "free".into(),
        },
        1_733_300_000_000,
    );
    state.advance("profile", 1_733_300_050_000);
    let mut instance = FlowInstance::new(FlowRef::new("onboarding").instance("u1"), state);
    flows.save(&mut instance, Base::New).await.unwrap();

    let stored = store
        .get(&Key::new("useflow:onboarding:default:u1").unwrap())
        .await
        .unwrap()
        .unwrap();
    let stored: Value = serde_json::from_slice(&stored).unwrap();
    assert_eq!(
        stored,
        json!({
            "flowId": "onboarding",
            "instanceId": "u1",
            "variantId": "default",
            "state": {
                "stepId": "profile",
                "context": { "name": "Ada", "plan": "free" },
                "path": [
                    { "stepId": "welcome", "startedAt": 1_733_300_000_000_u64,
                      "completedAt": 1_733_300_050_000_u64, "action": "next" },
                    { "stepId": "profile", "startedAt": 1_733_300_050_000_u64 }
                ],
                "history": [
                    { "stepId": "welcome", "startedAt": 1_733_300_000_000_u64,
                      "completedAt": 1_733_300_050_000_u64, "action": "next" },
                    { "stepId": "profile", "startedAt": 1_733_300_050_000_u64 }
                ],
                "status": "active",
                "startedAt": 1_733_300_000_000_u64,
                "__meta": { "savedAt": 1_733_300_100_000_u64, "version": "3" }
            }
        })
    );
}

#[derive(Debug, Serialize, Deserialize)]
struct OpenOnboarding {
    name: String,
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

#[tokio::test]
async fn the_context_keeps_what_its_type_keeps() {
    let key = "useflow:onboarding:default:user-42";
    let store = store_with(key, ACTIVE_V2).await;
    let flows = FlowPersister::<OpenOnboarding>::new(store.clone());
    let flow = FlowRef::new("onboarding").instance("user-42");
    let restored = flows.restore(&flow).await.unwrap().unwrap();
    let base = Base::of(Some(&restored));
    let mut instance = restored.instance;
    instance.state.context.name = "Ada L.".into();
    flows.save(&mut instance, base).await.unwrap();
    let stored = store.get(&Key::new(key).unwrap()).await.unwrap().unwrap();
    let stored: Value = serde_json::from_slice(&stored).unwrap();
    assert_eq!(
        stored["state"]["context"],
        json!({ "name": "Ada L.", "plan": "pro", "newsletter": true })
    );
}

/// An `extra` map holding a name the format writes itself would write that
/// field twice; the save drops the shadowed copy.
#[tokio::test]
async fn extras_cannot_write_a_field_twice() {
    let store = Arc::new(MemoryStore::new());
    let flows = FlowPersister::<Value>::new(store.clone());
    let mut instance = FlowInstance::new(FlowRef::new("f"), FlowState::start("a", json!({}), 1));
    instance.extra.insert("flowId".into(), json!("evil"));
    instance.state.extra.insert("stepId".into(), json!("evil"));
    flows.save(&mut instance, Base::New).await.unwrap();
    let stored = store
        .get(&Key::new("useflow:f:default:default").unwrap())
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(stored).unwrap();
    assert_eq!(text.matches("\"flowId\"").count(), 1, "{text}");
    assert_eq!(
        text.matches("\"stepId\"").count(),
        3,
        "state + path + history: {text}"
    );
    assert!(!text.contains("evil"));
}
