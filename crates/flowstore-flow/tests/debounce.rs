//! Coalescing of one writer's rapid saves (feature `debounce`).

use std::sync::Arc;
use std::time::Duration;

use flowstore_core::ErrorKind;
use flowstore_core::conformance::doubles::{Op, ScriptedStore};
use flowstore_flow::{Base, Debouncer, FlowInstance, FlowPersister, FlowRef, FlowState, SaveError};
use flowstore_memory::MemoryStore;
use serde_json::{Value, json};

fn flow() -> FlowRef {
    FlowRef::new("survey").instance("u1")
}

fn run(step: u64) -> FlowInstance<Value> {
    FlowInstance::new(
        flow(),
        FlowState::start("q1", json!({ "answered": step }), 1),
    )
}

/// Long enough that a test's own saves all land inside one interval.
const LONG: Duration = Duration::from_secs(3600);

async fn answered(flows: &FlowPersister<Value>) -> Value {
    let stored = flows.restore(&flow()).await.unwrap().unwrap();
    stored.instance.state.context["answered"].clone()
}

#[tokio::test]
async fn rapid_saves_become_one_write_and_flush_stores_the_last() {
    let store = Arc::new(ScriptedStore::new(MemoryStore::new()));
    let flows = FlowPersister::<Value>::new(store.clone());
    let debouncer = Debouncer::new(flows.clone(), flow(), Base::New, LONG);
    for step in 0..50 {
        debouncer.save(run(step)).unwrap();
    }
    assert_eq!(
        store.calls(Op::SetIf),
        0,
        "nothing written inside the interval"
    );
    debouncer.flush().await.unwrap();
    assert_eq!(store.calls(Op::SetIf), 1, "fifty saves, one write");
    assert_eq!(answered(&flows).await, 49);
}

#[tokio::test]
async fn each_write_is_based_on_the_debouncers_previous_one() {
    let flows = FlowPersister::<Value>::new(Arc::new(MemoryStore::new()));
    let debouncer = Debouncer::new(flows.clone(), flow(), Base::New, LONG);
    for round in 0..3 {
        debouncer.save(run(round)).unwrap();
        debouncer.flush().await.unwrap();
    }
    assert_eq!(answered(&flows).await, 2);
}

#[tokio::test]
async fn the_timer_writes_without_a_flush() {
    let store = Arc::new(ScriptedStore::new(MemoryStore::new()));
    let flows = FlowPersister::<Value>::new(store.clone());
    let debouncer = Debouncer::new(flows.clone(), flow(), Base::New, Duration::from_millis(20));
    debouncer.save(run(1)).unwrap();
    // Wait for the write itself, not for a guessed duration.
    while store.calls(Op::SetIf) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    debouncer.flush().await.unwrap();
    assert_eq!(answered(&flows).await, 1);
}

#[tokio::test]
async fn another_writers_save_is_a_conflict_and_rebase_resolves_it() {
    let flows = FlowPersister::<Value>::new(Arc::new(MemoryStore::new()));
    let mine = Debouncer::new(flows.clone(), flow(), Base::New, LONG);
    mine.save(run(1)).unwrap();
    mine.flush().await.unwrap();

    // Another tab, with its own debouncer from the same starting point.
    let theirs = Debouncer::new(flows.clone(), flow(), Base::New, LONG);
    theirs.save(run(100)).unwrap();
    let conflict = match theirs.flush().await {
        Err(SaveError::Conflict(conflict)) => conflict,
        other => panic!("expected a conflict, got {other:?}"),
    };
    let current = conflict.current.unwrap();
    assert_eq!(
        current.instance.state.context["answered"], 1,
        "mine is kept"
    );

    theirs.rebase(Base::Version(conflict.current_version.unwrap()));
    theirs.flush().await.unwrap();
    assert_eq!(
        answered(&flows).await,
        100,
        "the pending state was kept and written"
    );
}

#[tokio::test]
async fn a_failed_write_stays_pending_for_the_next_flush() {
    let store = Arc::new(ScriptedStore::new(MemoryStore::new()));
    store.fail_next(Op::SetIf, ErrorKind::Unavailable, 1);
    let flows = FlowPersister::<Value>::new(store.clone());
    let debouncer = Debouncer::new(flows.clone(), flow(), Base::New, LONG);
    debouncer.save(run(7)).unwrap();
    assert!(matches!(debouncer.flush().await, Err(SaveError::Failed(_))));
    debouncer.flush().await.unwrap();
    assert_eq!(answered(&flows).await, 7);
}

#[tokio::test]
async fn overwrite_stays_last_write_wins() {
    let flows = FlowPersister::<Value>::new(Arc::new(MemoryStore::new()));
    let debouncer = Debouncer::new(flows.clone(), flow(), Base::Overwrite, LONG);
    debouncer.save(run(1)).unwrap();
    debouncer.flush().await.unwrap();
    flows.save(&mut run(50), Base::Overwrite).await.unwrap();
    debouncer.save(run(2)).unwrap();
    debouncer.flush().await.unwrap();
    assert_eq!(answered(&flows).await, 2);
}

#[test]
fn a_save_of_another_instance_or_outside_a_runtime_is_refused() {
    let flows = FlowPersister::<Value>::new(Arc::new(MemoryStore::new()));
    let debouncer = Debouncer::new(flows, flow(), Base::New, LONG);
    assert!(debouncer.save(run(1)).is_err(), "no runtime here");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _inside = runtime.enter();
    let other = FlowInstance::new(FlowRef::new("survey"), FlowState::start("q1", json!({}), 1));
    assert!(debouncer.save(other).is_err());
}
