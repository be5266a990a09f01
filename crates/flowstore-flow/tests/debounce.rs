//! Coalescing of rapid saves (feature `debounce`).

use std::sync::Arc;
use std::time::Duration;

use flowstore_core::conformance::doubles::{Op, ScriptedStore};
use flowstore_flow::{Base, Debouncer, FlowInstance, FlowPersister, FlowRef, FlowState, SaveError};
use flowstore_memory::MemoryStore;
use serde_json::{Value, json};

fn run(step: u64) -> FlowInstance<Value> {
    FlowInstance::new(
        FlowRef::new("survey").instance("u1"),
        FlowState::start("q1", json!({ "answered": step }), 1),
    )
}

/// Long enough that a test's own saves all land inside one interval.
const LONG: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn rapid_saves_become_one_write_and_flush_stores_the_last() {
    let store = Arc::new(ScriptedStore::new(MemoryStore::new()));
    let flows = FlowPersister::<Value>::new(store.clone());
    let debouncer = Debouncer::new(flows.clone(), LONG);
    for step in 0..50 {
        debouncer.save(run(step), Base::New);
    }
    assert_eq!(
        store.calls(Op::SetIf),
        0,
        "nothing written inside the interval"
    );
    debouncer.flush().await.unwrap();
    assert_eq!(store.calls(Op::SetIf), 1, "fifty saves, one write");
    let stored = flows.restore(&run(0).flow_ref()).await.unwrap().unwrap();
    assert_eq!(stored.instance.state.context["answered"], 49);
}

#[tokio::test]
async fn later_saves_from_the_same_base_build_on_the_debouncers_own_writes() {
    let store = Arc::new(MemoryStore::new());
    let flows = FlowPersister::<Value>::new(store);
    let debouncer = Debouncer::new(flows.clone(), LONG);
    // The caller restored nothing and keeps saying Base::New: each flush must
    // write on top of the previous one, not conflict with it.
    for round in 0..3 {
        debouncer.save(run(round), Base::New);
        debouncer.flush().await.unwrap();
    }
    let stored = flows.restore(&run(0).flow_ref()).await.unwrap().unwrap();
    assert_eq!(stored.instance.state.context["answered"], 2);
}

#[tokio::test]
async fn the_timer_writes_without_a_flush() {
    let store = Arc::new(ScriptedStore::new(MemoryStore::new()));
    let flows = FlowPersister::<Value>::new(store.clone());
    let debouncer = Debouncer::new(flows.clone(), Duration::from_millis(20));
    debouncer.save(run(1), Base::New);
    // Wait for the write itself, not for a guessed duration.
    while store.calls(Op::SetIf) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    debouncer.flush().await.unwrap();
    assert!(flows.restore(&run(0).flow_ref()).await.unwrap().is_some());
}

#[tokio::test]
async fn someone_elses_save_comes_back_from_flush_as_a_conflict() {
    let store = Arc::new(MemoryStore::new());
    let flows = FlowPersister::<Value>::new(store);
    let mut theirs = run(100);
    flows.save(&mut theirs, Base::New).await.unwrap();
    let debouncer = Debouncer::new(flows.clone(), LONG);
    debouncer.save(run(1), Base::New);
    match debouncer.flush().await {
        Err(SaveError::Conflict(conflict)) => {
            let current = conflict.current.unwrap();
            assert_eq!(current.instance.state.context["answered"], 100);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(
        debouncer.flush().await.is_ok(),
        "a failure is reported once"
    );
}
