//! The HTTP side: `GET /signup/{user}` shows a run, `POST
//! /signup/{user}/{step}` fills in the current step and moves on. JSON in and
//! out.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use flowstore_core::Version;
use flowstore_flow::{
    Base, FlowError, FlowInstance, FlowPersister, FlowRef, FlowState, Restored, SaveError,
};
use serde_json::{Value, json};

use crate::schema::Schema;
use crate::steps::{FLOW_ID, Step};

/// What every request shares: the persister, at schema version `S`.
struct App<S: Schema> {
    flows: FlowPersister<S::Context>,
    _schema: PhantomData<S>,
}

/// The routes, saving through `flows` (configured for schema version `S`).
pub(crate) fn router<S: Schema>(flows: FlowPersister<S::Context>) -> Router {
    let app = Arc::new(App::<S> {
        flows,
        _schema: PhantomData,
    });
    Router::new()
        .route("/signup/{user}", get(show::<S>))
        .route("/signup/{user}/{step}", post(advance::<S>))
        .with_state(app)
}

/// The user's run: the saved one, or a new one at the first step (not saved
/// until its first step is posted).
async fn show<S: Schema>(State(app): State<Arc<App<S>>>, Path(user): Path<String>) -> Response {
    let Some(flow) = flow_of(&user) else {
        return bad_user();
    };
    match app.flows.restore(&flow).await {
        Ok(Some(restored)) => answer(
            StatusCode::OK,
            view::<S>(
                &restored.instance,
                restored.version.as_ref(),
                Some(restored.stored_schema_version.as_deref()),
            ),
        ),
        Ok(None) => answer(StatusCode::OK, view::<S>(&fresh::<S>(flow), None, None)),
        Err(err) => flow_failed(&err),
    }
}

/// Fills in `step` with the posted fields and moves on, if the run is at
/// that step. The save is based on the entry version restored, so two tabs
/// (or two servers) cannot overwrite each other: the slower one gets 409
/// with the state that won.
async fn advance<S: Schema>(
    State(app): State<Arc<App<S>>>,
    Path((user, step)): Path<(String, String)>,
    fields: Bytes,
) -> Response {
    let Some(flow) = flow_of(&user) else {
        return bad_user();
    };
    let Some(step) = Step::with_fields(&step) else {
        return failure(
            StatusCode::NOT_FOUND,
            "no such step takes fields: account, profile or plan",
        );
    };
    let restored = match app.flows.restore(&flow).await {
        Ok(restored) => restored,
        Err(err) => return flow_failed(&err),
    };
    let base = Base::of(restored.as_ref());
    let (mut run, version, stored_schema) = match restored {
        Some(Restored {
            instance,
            version,
            stored_schema_version,
            ..
        }) => (instance, version, Some(stored_schema_version)),
        None => (fresh::<S>(flow), None, None),
    };
    if run.state.step_id != step.id() {
        // A stale tab posting a step this run has already left.
        return conflict(
            format!(
                "this run is at step {:?}, not {:?}",
                run.state.step_id,
                step.id()
            ),
            Some(view::<S>(
                &run,
                version.as_ref(),
                stored_schema.as_ref().map(Option::as_deref),
            )),
        );
    }
    if let Err(reason) = S::fill(&mut run.state.context, step, &fields) {
        return failure(StatusCode::BAD_REQUEST, reason);
    }
    let now = now_millis();
    if let Some(next) = step.next() {
        run.state.advance(next.id(), now);
        if next.next().is_none() {
            run.state.complete(now);
        }
    }
    match app.flows.save(&mut run, base).await {
        Ok(saved) => answer(
            StatusCode::OK,
            view::<S>(
                &run,
                saved.version.as_ref(),
                Some(run.state.schema_version()),
            ),
        ),
        Err(SaveError::Conflict(conflict)) => self::conflict(
            "someone else saved this run since it was read".into(),
            conflict.current.as_ref().map(|current| {
                view::<S>(
                    &current.instance,
                    current.version.as_ref(),
                    Some(current.stored_schema_version.as_deref()),
                )
            }),
        ),
        Err(SaveError::Failed(err)) => flow_failed(&err),
    }
}

/// The saved flow of `user`, if the id is a plain one: letters, digits and
/// `-_.@`, at most 64 bytes (it becomes part of the store key).
fn flow_of(user: &str) -> Option<FlowRef> {
    let plain = (1..=64).contains(&user.len())
        && user
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.@".contains(&byte));
    plain.then(|| FlowRef::new(FLOW_ID).instance(user))
}

fn bad_user() -> Response {
    failure(
        StatusCode::BAD_REQUEST,
        "a user id is 1 to 64 letters, digits, '-', '_', '.' or '@'",
    )
}

fn fresh<S: Schema>(flow: FlowRef) -> FlowInstance<S::Context> {
    FlowInstance::new(
        flow,
        FlowState::start(Step::FIRST.id(), S::Context::default(), now_millis()),
    )
}

/// What a client sees of a run. `savedSchemaVersion` is the version it was
/// saved at (a version 1 run restored by a version 2 server shows "1" and the
/// migrated context until it is saved again); `entryVersion` is the store's.
/// `stored_schema` is `None` for a run not saved yet, else the schema
/// version it is stored at.
fn view<S: Schema>(
    run: &FlowInstance<S::Context>,
    entry_version: Option<&Version>,
    stored_schema: Option<Option<&str>>,
) -> Value {
    let saved = stored_schema.is_some();
    json!({
        "user": run.instance_id,
        "step": run.state.step_id,
        "status": if saved { run.state.status.as_str() } else { "new" },
        "context": serde_json::to_value(&run.state.context).unwrap_or(Value::Null),
        "schemaVersion": S::VERSION,
        "savedSchemaVersion": stored_schema.flatten(),
        "entryVersion": entry_version.map(Version::as_str),
    })
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or_default()
}

fn answer(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn failure(status: StatusCode, reason: impl Into<String>) -> Response {
    answer(status, json!({ "error": reason.into() }))
}

/// 409 with the run as it is now, to reload or merge into.
fn conflict(reason: String, current: Option<Value>) -> Response {
    answer(
        StatusCode::CONFLICT,
        json!({ "error": reason, "current": current }),
    )
}

/// A store outage is 503 (never "no saved run"); a stored run this server
/// cannot read is 500. The messages name no stored values.
fn flow_failed(err: &FlowError) -> Response {
    // The client gets a fixed message: the error's text can name the store's
    // file or the key, and the key holds the user id. The log gets the kind.
    let (status, message) = match err {
        FlowError::Store(store) => {
            eprintln!("signup: the store failed ({:?})", store.kind());
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the store is unavailable".into(),
            )
        }
        // This app's own migration messages name versions, nothing stored.
        FlowError::Migration { reason, .. } => {
            eprintln!("signup: a saved run could not be migrated: {reason}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the saved run could not be migrated: {reason}"),
            )
        }
        _ => {
            eprintln!("signup: a saved run is unreadable");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the saved run is unreadable".to_owned(),
            )
        }
    };
    failure(status, message)
}
