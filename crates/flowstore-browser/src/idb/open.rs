//! Opening the database: creating or upgrading the schema, and failing clearly
//! (blocked upgrade, private mode, timeout) instead of hanging.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use flowstore_core::{Error, Result};
use futures::future::{Either, select};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Event, IdbDatabase, IdbFactory, IdbObjectStoreParameters, IdbOpenDbRequest};

use super::event::{EventWait, request_error};
use crate::error::{DomError, from_dom, from_js};

/// The index over `[ns, expires]` used to sweep expired entries.
pub(crate) const EXPIRY_INDEX: &str = "by_expiry";

/// What a connection is opened with.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) database: String,
    pub(crate) object_store: String,
    pub(crate) open_timeout: Duration,
}

/// An open database. Closed when dropped, and when another connection asks for a
/// version change (so flowstore never blocks another tab's upgrade).
pub(crate) struct Db {
    pub(crate) db: IdbDatabase,
    closed: Rc<Cell<bool>>,
    _on_version_change: Closure<dyn FnMut(Event)>,
}

impl Db {
    fn new(db: IdbDatabase) -> Db {
        let closed = Rc::new(Cell::new(false));
        let on_version_change = {
            let db = db.clone();
            let closed = Rc::clone(&closed);
            Closure::<dyn FnMut(Event)>::new(move |_event: Event| {
                db.close();
                closed.set(true);
            })
        };
        db.set_onversionchange(Some(on_version_change.as_ref().unchecked_ref()));
        Db {
            db,
            closed,
            _on_version_change: on_version_change,
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.db.set_onversionchange(None);
        self.db.close();
    }
}

/// A lazily (re)opened connection, shared by every store handle made from it.
pub(crate) struct Connection {
    factory: IdbFactory,
    pub(crate) config: Config,
    db: RefCell<Option<Rc<Db>>>,
}

impl Connection {
    pub(crate) fn new(config: Config) -> Result<Connection> {
        Ok(Connection {
            factory: idb_factory()?,
            config,
            db: RefCell::new(None),
        })
    }

    /// The open database, reopened if another connection's upgrade closed it.
    pub(crate) async fn db(&self) -> Result<Rc<Db>> {
        if let Some(db) = self.db.borrow().as_ref()
            && !db.closed.get()
        {
            return Ok(Rc::clone(db));
        }
        let db = Rc::new(Db::new(open_database(&self.factory, &self.config).await?));
        *self.db.borrow_mut() = Some(Rc::clone(&db));
        Ok(db)
    }
}

/// `indexedDB` of the page or worker.
fn idb_factory() -> Result<IdbFactory> {
    let global = js_sys::global();
    let factory = if let Some(window) = global.dyn_ref::<web_sys::Window>() {
        window.indexed_db()
    } else if let Some(worker) = global.dyn_ref::<web_sys::WorkerGlobalScope>() {
        worker.indexed_db()
    } else {
        return Err(Error::unavailable(
            "IndexedDB exists only in a browser page or worker",
        ));
    };
    match factory {
        Ok(Some(factory)) => Ok(factory),
        Ok(None) => Err(Error::unavailable(
            "this browser context has no IndexedDB (disabled, or private browsing)",
        )
        .with_temporary(false)),
        Err(err) => Err(from_js("accessing IndexedDB", &err)),
    }
}

/// Opens the database and makes sure the object store and index exist, upgrading
/// the database (to its current version + 1) when they do not.
async fn open_database(factory: &IdbFactory, config: &Config) -> Result<IdbDatabase> {
    let mut version = None;
    // Another tab may upgrade between our attempts; a few rounds settle it.
    for _ in 0..4 {
        let db = open_once(factory, config, version).await?;
        match schema_state(&db, config) {
            Ok(true) => return Ok(db),
            Ok(false) => {
                version = Some(db.version() + 1.0);
                db.close();
            }
            Err(err) => {
                db.close();
                return Err(err);
            }
        }
    }
    Err(Error::unavailable(format!(
        "IndexedDB database {:?} kept changing version while being opened",
        config.database
    )))
}

/// Whether the object store and index exist (`Err` if the store exists with a
/// layout flowstore did not create).
fn schema_state(db: &IdbDatabase, config: &Config) -> Result<bool> {
    if !db.object_store_names().contains(&config.object_store) {
        return Ok(false);
    }
    let tx = db
        .transaction_with_str(&config.object_store)
        .map_err(|err| from_js("inspecting the IndexedDB schema", &err))?;
    let store = tx
        .object_store(&config.object_store)
        .map_err(|err| from_js("inspecting the IndexedDB schema", &err))?;
    let key_path = store
        .key_path()
        .map_err(|err| from_js("inspecting the IndexedDB schema", &err))?;
    if !is_key_path(&key_path) {
        return Err(Error::config(format!(
            "IndexedDB object store {:?} exists with a layout flowstore did not create",
            config.object_store
        )));
    }
    Ok(store.index_names().contains(EXPIRY_INDEX))
}

fn is_key_path(key_path: &JsValue) -> bool {
    key_path.dyn_ref::<js_sys::Array>().is_some_and(|path| {
        path.length() == 2
            && path.get(0).as_string().as_deref() == Some("ns")
            && path.get(1).as_string().as_deref() == Some("key")
    })
}

/// Creates what is missing, inside the `versionchange` transaction.
fn create_schema(request: &IdbOpenDbRequest, object_store: &str) -> Result<()> {
    let what = "creating the IndexedDB schema";
    let db: IdbDatabase = request
        .result()
        .map_err(|err| from_js(what, &err))?
        .unchecked_into();
    let store = if db.object_store_names().contains(object_store) {
        request
            .transaction()
            .ok_or_else(|| Error::backend(format!("{what}: no upgrade transaction")))?
            .object_store(object_store)
            .map_err(|err| from_js(what, &err))?
    } else {
        let params = IdbObjectStoreParameters::new();
        params.set_key_path(&js_sys::Array::of2(&"ns".into(), &"key".into()));
        db.create_object_store_with_optional_parameters(object_store, &params)
            .map_err(|err| from_js(what, &err))?
    };
    if !is_key_path(&store.key_path().map_err(|err| from_js(what, &err))?) {
        return Err(Error::config(format!(
            "IndexedDB object store {object_store:?} exists with a layout flowstore did not create"
        )));
    }
    if !store.index_names().contains(EXPIRY_INDEX) {
        store
            .create_index_with_str_sequence(
                EXPIRY_INDEX,
                &js_sys::Array::of2(&"ns".into(), &"expires".into()),
            )
            .map_err(|err| from_js(what, &err))?;
    }
    Ok(())
}

/// One `indexedDB.open`, with the schema created on `upgradeneeded`. A blocked
/// upgrade, a refusal and a timeout are errors.
async fn open_once(
    factory: &IdbFactory,
    config: &Config,
    version: Option<f64>,
) -> Result<IdbDatabase> {
    let what = "opening IndexedDB";
    let request = match version {
        Some(version) => factory.open_with_f64(&config.database, version),
        None => factory.open(&config.database),
    }
    .map_err(|err| from_js(what, &err))?;

    let upgrade_error: Rc<RefCell<Option<Error>>> = Rc::default();
    let on_upgrade = {
        let request = request.clone();
        let upgrade_error = Rc::clone(&upgrade_error);
        let object_store = config.object_store.clone();
        Closure::<dyn FnMut(Event)>::new(move |_event: Event| {
            if let Err(err) = create_schema(&request, &object_store) {
                *upgrade_error.borrow_mut() = Some(err);
                if let Some(tx) = request.transaction() {
                    let _ = tx.abort();
                }
            }
        })
    };
    request.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
    let wait = EventWait::new(&request, &["success", "error", "blocked"]);
    let timeout = gloo_timers::future::sleep(config.open_timeout);
    let outcome = match select(wait, Box::pin(timeout)).await {
        Either::Left((event, _)) => Some(event),
        Either::Right(((), _)) => None,
    };
    let result = match outcome {
        Some("success") => request
            .result()
            .map_err(|err| from_js(what, &err))
            .map(JsCast::unchecked_into::<IdbDatabase>),
        Some("error") => Err(upgrade_error
            .borrow_mut()
            .take()
            .unwrap_or_else(|| private_mode_hint(request_error(&request, what)))),
        Some(_blocked) => {
            give_up(&request);
            Err(from_dom(
                what,
                DomError::new(
                    "BlockedError",
                    "another connection to this database is open and does not close for the upgrade",
                ),
            ))
        }
        None => {
            give_up(&request);
            Err(Error::timeout(format!(
                "{what}: no answer within {} ms",
                config.open_timeout.as_millis()
            )))
        }
    };
    if outcome == Some("success") || outcome == Some("error") {
        request.set_onupgradeneeded(None);
    }
    drop(on_upgrade);
    result
}

/// Explains the usual cause of an open failing with `InvalidStateError`.
fn private_mode_hint(err: Error) -> Error {
    if crate::error::dom_error(&err).is_some_and(|dom| dom.name() == "InvalidStateError") {
        let message = format!(
            "{}; browsers in private mode may refuse IndexedDB",
            err.message()
        );
        let temporary = err.is_temporary();
        let kind = err.kind();
        let source = crate::error::dom_error(&err).cloned();
        let mut mapped = Error::new(kind, message).with_temporary(temporary);
        if let Some(source) = source {
            mapped = mapped.with_source(source);
        }
        return mapped;
    }
    err
}

/// After giving up on an open request that is still pending (blocked, or too
/// slow): if it completes later, abort its upgrade and close the connection, so
/// that nothing is left half-upgraded or open. These one-shot handlers are freed
/// when they run (a request that never settles keeps them: a few bytes).
fn give_up(request: &IdbOpenDbRequest) {
    let abort_upgrade = {
        let request = request.clone();
        Closure::once_into_js(move |_event: Event| {
            if let Some(tx) = request.transaction() {
                let _ = tx.abort();
            }
        })
    };
    request.set_onupgradeneeded(Some(abort_upgrade.unchecked_ref()));
    let close_late_success = {
        let request = request.clone();
        Closure::once_into_js(move |_event: Event| {
            if let Ok(db) = request.result() {
                db.unchecked_into::<IdbDatabase>().close();
            }
        })
    };
    request.set_onsuccess(Some(close_late_success.unchecked_ref()));
}
