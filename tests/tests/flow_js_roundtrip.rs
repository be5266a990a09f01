//! Issue 14 §2, the JavaScript round trip: a front end saves a flow through
//! `flowstore serve` with an `APIStore` like the original design's
//! (`tests/js/api-store.mjs`, run by `node`, no build step), in the original
//! key layout and JSON, and the Rust persister restores it over the HTTP
//! client store — and back. The server is `flowstore serve`'s library
//! (`flowstore_server`) in this process, as in the other tests here: the same
//! routes and token check as the binary, without its flag parsing.
//!
//! Needs `node` (Node.js 18+) on `PATH`; without it the tests fail, they are
//! not skipped (`cargo xtask ci` installs Debian's `nodejs` when it is missing).

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use flowstore_core::{Key, Store};
use flowstore_flow::{Base, FlowInstance, FlowPersister, FlowRef, FlowState, SaveError};
use flowstore_memory::MemoryStore;
use flowstore_tests::serve::{client, spawn_server};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const TOKEN: &str = "js-round-trip-token";

/// The front end's context; `fromNode` is left out on purpose, so the typed
/// side does not know it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Onboarding {
    name: String,
    plan: String,
}

fn node() -> PathBuf {
    flowstore_test_servers::process::which("node")
        .or_else(|| flowstore_test_servers::process::which("nodejs"))
        .unwrap_or_else(|| {
            panic!(
                "node is not on PATH: the JavaScript round trip needs Node.js 18 or later \
                 (`cargo xtask ci` installs it; or run `apt-get install -y nodejs`)"
            )
        })
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("js/flow-roundtrip.mjs")
}

/// `node flow-roundtrip.mjs COMMAND URL FLOW VARIANT INSTANCE VERSION`, with
/// the token in `FLOWSTORE_TOKEN` (never on a command line). Bounded: a hung
/// node is killed, so CI fails instead of waiting forever.
async fn run_node(args: [&str; 6]) -> Output {
    run_node_as(args, TOKEN).await
}

/// [`run_node`] with `token` as the bearer token.
async fn run_node_as(args: [&str; 6], token: &str) -> Output {
    let (node, script) = (node(), script());
    let args = args.map(str::to_owned);
    let child = tokio::process::Command::new(&node)
        .arg(&script)
        .args(&args)
        .env("FLOWSTORE_TOKEN", token)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run {}: {err}", node.display()));
    tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("node {args:?} did not finish in 120 s"))
        .unwrap_or_else(|err| panic!("waiting for node: {err}"))
}

/// Runs node and returns its stdout as JSON, failing with its stderr.
async fn node_json(args: [&str; 6]) -> Value {
    let output = run_node(args).await;
    assert!(
        output.status.success(),
        "node {args:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "node printed no JSON ({err}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// A server over memory requiring [`TOKEN`]: its base URL, a persister
/// (schema version 2) talking to it over the HTTP client store, and the store
/// behind it (to read the bytes exactly as stored).
async fn server<C>() -> (String, FlowPersister<C>, Arc<MemoryStore>)
where
    C: Serialize + serde::de::DeserializeOwned,
{
    let backing = Arc::new(MemoryStore::new());
    let addr = spawn_server(backing.clone(), Some(TOKEN)).await;
    let flows = FlowPersister::new(Arc::new(client(addr, Some(TOKEN)))).with_schema_version("2");
    (format!("http://{addr}"), flows, backing)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_saves_and_the_rust_persister_restores() {
    let (base_url, flows, backing) = server::<Onboarding>().await;
    let written = node_json(["save", &base_url, "onboarding", "b", "tab-7", "2"]).await;

    // What node wrote is what the server stored, under the original key.
    let stored = backing
        .get(&Key::new("useflow:onboarding:b:tab-7").unwrap())
        .await
        .unwrap()
        .expect("stored under useflow:{flowId}:{variantId}:{instanceId}");
    assert_eq!(serde_json::from_slice::<Value>(&stored).unwrap(), written);

    let flow = FlowRef::new("onboarding").variant("b").instance("tab-7");
    let restored = flows.restore(&flow).await.unwrap().expect("node's save");
    let instance = &restored.instance;
    assert_eq!(instance.flow_ref(), flow);
    let state = &instance.state;
    assert_eq!(state.step_id, "profile");
    assert_eq!(
        state.context,
        Onboarding {
            name: "Ada".into(),
            plan: "pro".into()
        }
    );
    assert_eq!(state.history.len(), 2);
    assert_eq!(state.history[1].extra["device"], "node");
    assert_eq!(state.extra["experiment"], json!({ "bucket": 3 }));
    let meta = state.meta.as_ref().unwrap();
    assert_eq!(
        meta.saved_at,
        written["state"]["__meta"]["savedAt"].as_u64()
    );
    assert_eq!(meta.version.as_deref(), Some("2"));
    assert_eq!(meta.extra["savedBy"], "flow-roundtrip.mjs");

    // Saved back with raw context, every field node wrote is still there.
    let raw = FlowPersister::<Value>::new(flows.store().clone()).with_schema_version("2");
    let restored = raw.restore(&flow).await.unwrap().unwrap();
    let mut instance = restored.instance.clone();
    let saved = raw
        .save(&mut instance, Base::of(Some(&restored)))
        .await
        .unwrap();
    let mut expected = written;
    expected["state"]["__meta"]["savedAt"] = json!(saved.saved_at);
    let stored = backing
        .get(&Key::new("useflow:onboarding:b:tab-7").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&stored).unwrap(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_persister_saves_and_node_restores() {
    let (base_url, flows, backing) = server::<Onboarding>().await;
    let flow = FlowRef::new("signup").instance("user-42");
    let context = Onboarding {
        name: "Grace".into(),
        plan: "team".into(),
    };
    let mut state = FlowState::start("account", context, 1_733_300_000_000);
    state.advance("plan", 1_733_300_004_000);
    let mut instance = FlowInstance::new(flow.clone(), state);
    let saved = flows.save(&mut instance, Base::New).await.unwrap();

    let found = node_json(["restore", &base_url, "signup", "default", "user-42", "2"]).await;
    let stored = backing
        .get(&Key::new("useflow:signup:default:user-42").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, serde_json::from_slice::<Value>(&stored).unwrap());
    assert_eq!(found["flowId"], "signup");
    assert_eq!(found["variantId"], "default");
    assert_eq!(found["instanceId"], "user-42");
    let state = &found["state"];
    assert_eq!(state["stepId"], "plan");
    assert_eq!(state["context"], json!({ "name": "Grace", "plan": "team" }));
    assert_eq!(state["status"], "active");
    assert_eq!(state["startedAt"], 1_733_300_000_000u64);
    assert_eq!(
        state["history"],
        json!([
            { "stepId": "account", "startedAt": 1_733_300_000_000u64,
              "completedAt": 1_733_300_004_000u64, "action": "next" },
            { "stepId": "plan", "startedAt": 1_733_300_004_000u64 }
        ])
    );
    assert_eq!(state["__meta"]["savedAt"], saved.saved_at);
    assert_eq!(state["__meta"]["version"], "2");

    // node checks the schema version it was asked for.
    let wrong = run_node(["restore", &base_url, "signup", "default", "user-42", "3"]).await;
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(
        wrong.status.code(),
        Some(1),
        "node must refuse version 2 as 3: {stderr}"
    );
    assert!(
        stderr.contains(r#"state.__meta.version is "2", expected "3""#),
        "{stderr}"
    );

    // The front end saves over it (the original's last write wins); a Rust save
    // based on the version it had is refused with the front end's state.
    node_json(["save", &base_url, "signup", "default", "user-42", "2"]).await;
    instance.state.advance("done", 1_733_300_009_000);
    let err = flows
        .save(&mut instance, Base::Version(saved.version.unwrap()))
        .await
        .unwrap_err();
    let SaveError::Conflict(conflict) = err else {
        panic!("a save over the front end's must conflict, got {err:?}")
    };
    let current = conflict.current.expect("the front end's state");
    assert_eq!(current.instance.state.step_id, "profile");
    assert_eq!(current.instance.state.context.name, "Ada");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_without_the_token_is_refused() {
    let (base_url, _, backing) = server::<Value>().await;
    let output = run_node_as(
        ["save", &base_url, "onboarding", "default", "default", "2"],
        "not-the-token",
    )
    .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("HTTP 401"), "{stderr}");
    assert!(
        backing
            .get(&Key::new("useflow:onboarding:default:default").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}
