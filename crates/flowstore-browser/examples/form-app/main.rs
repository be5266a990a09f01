//! A multi-step form whose state survives page reloads, kept by flowstore in
//! `localStorage`.
//!
//! Build and serve it (what `cargo xtask ci` does, see `xtask/src/browser.rs`):
//!
//! ```text
//! cargo build -p flowstore-browser --example form-app --target wasm32-unknown-unknown
//! wasm-bindgen --target web --out-dir target/browser-app/pkg \
//!     target/wasm32-unknown-unknown/debug/examples/form_app.wasm
//! cp crates/flowstore-browser/examples/form-app/index.html target/browser-app/
//! python3 -m http.server -d target/browser-app 8000   # then open http://localhost:8000/
//! ```
//!
//! The page's title and `<body data-state=…>` show the restored state, so a test
//! driving a browser can check it after a reload.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use flowstore_browser::LocalStorageStore;
use flowstore_core::{Key, Namespace, StoreExt, Ttl};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use web_sys::{Document, HtmlElement, HtmlInputElement, HtmlSelectElement};

/// Everything the form needs to come back where the user left it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct FormState {
    step: u8,
    name: String,
    email: String,
    plan: String,
}

const STEPS: u8 = 3;

struct App {
    document: Document,
    store: LocalStorageStore,
    key: Key,
    state: RefCell<FormState>,
}

impl App {
    fn element<T: JsCast>(&self, id: &str) -> T {
        self.document
            .get_element_by_id(id)
            .unwrap_or_else(|| panic!("#{id} is missing"))
            .dyn_into()
            .unwrap_or_else(|_| panic!("#{id} has the wrong type"))
    }

    fn status(&self, text: &str) {
        self.element::<HtmlElement>("status")
            .set_text_content(Some(text));
    }

    /// Shows the state: the current step's fieldset, the fields' values, and the
    /// state in the title and `data-state` for automated checks.
    fn render(&self) {
        let state = self.state.borrow();
        let fieldsets = self.document.query_selector_all("fieldset").unwrap();
        for i in 0..fieldsets.length() {
            let fieldset: HtmlElement = fieldsets.get(i).unwrap().dyn_into().unwrap();
            let step = fieldset.dataset().get("step").unwrap_or_default();
            fieldset.set_hidden(step != state.step.to_string());
        }
        self.element::<HtmlInputElement>("name")
            .set_value(&state.name);
        self.element::<HtmlInputElement>("email")
            .set_value(&state.email);
        self.element::<HtmlSelectElement>("plan")
            .set_value(&state.plan);
        self.element::<HtmlElement>("progress")
            .set_text_content(Some(&format!("({}/{STEPS})", state.step)));
        let json = serde_json::to_string(&*state).unwrap_or_default();
        let body = self.document.body().unwrap();
        let _ = body.dataset().set("state", &json);
        self.document.set_title(&format!(
            "form-app: step {} of {STEPS}, name {:?}, email {:?}",
            state.step, state.name, state.email
        ));
    }

    /// Saves the state; the write is done when this returns.
    async fn save(&self) {
        let state = self.state.borrow().clone();
        let week = Ttl::from_secs(7 * 24 * 3600).unwrap();
        match self.store.set_json(&self.key, &state, Some(week)).await {
            Ok(()) => {
                self.status("Saved in this browser.");
                let body = self.document.body().unwrap();
                let _ = body
                    .dataset()
                    .set("saved", &serde_json::to_string(&state).unwrap_or_default());
            }
            // A full quota or disabled storage: the form still works, unsaved.
            Err(err) => self.status(&format!("Not saved: {err}")),
        }
    }

    /// Reads the fields into the state.
    fn read_fields(&self) {
        let mut state = self.state.borrow_mut();
        state.name = self.element::<HtmlInputElement>("name").value();
        state.email = self.element::<HtmlInputElement>("email").value();
        state.plan = self.element::<HtmlSelectElement>("plan").value();
    }
}

/// Calls `action` (then saves) when `event` fires on `#id`.
fn on(app: &Rc<App>, id: &str, event: &str, action: impl Fn(&App) + 'static) {
    let handler = {
        let app = Rc::clone(app);
        Closure::<dyn Fn()>::new(move || {
            action(&app);
            let app = Rc::clone(&app);
            wasm_bindgen_futures::spawn_local(async move { app.save().await });
        })
    };
    app.element::<HtmlElement>(id)
        .add_event_listener_with_callback(event, handler.as_ref().unchecked_ref())
        .unwrap();
    // The page lives as long as its listeners.
    handler.forget();
}

/// Starts the app: restores the saved state, wires the form, shows it.
#[wasm_bindgen(start)]
pub async fn start() -> Result<(), JsValue> {
    let document = web_sys::window().unwrap().document().unwrap();
    let store = LocalStorageStore::new()
        .map_err(|err| JsValue::from_str(&err.to_string()))?
        .with_namespace(Namespace::new("form-app").unwrap());
    let key = Key::new("signup").unwrap();
    let (state, message) = match store.get_json::<FormState>(&key).await {
        Ok(Some(state)) => (state, "Restored your answers."),
        Ok(None) => (FormState::default(), "New form."),
        // Never treat a failure as "nothing saved" silently: say so.
        Err(err) => {
            web_sys::console::warn_1(&format!("cannot restore the form: {err}").into());
            (FormState::default(), "Could not restore your answers.")
        }
    };
    let app = Rc::new(App {
        document,
        store,
        key,
        state: RefCell::new(FormState {
            step: state.step.clamp(1, STEPS),
            ..state
        }),
    });

    on(&app, "name", "input", App::read_fields);
    on(&app, "email", "input", App::read_fields);
    on(&app, "plan", "change", App::read_fields);
    on(&app, "next", "click", |app| {
        app.read_fields();
        let mut state = app.state.borrow_mut();
        state.step = (state.step + 1).min(STEPS);
        drop(state);
        app.render();
    });
    on(&app, "back", "click", |app| {
        app.read_fields();
        let mut state = app.state.borrow_mut();
        state.step = state.step.saturating_sub(1).max(1);
        drop(state);
        app.render();
    });
    on(&app, "reset", "click", |app| {
        *app.state.borrow_mut() = FormState {
            step: 1,
            ..FormState::default()
        };
        app.render();
    });

    app.render();
    app.status(message);
    let _ = app.document.body().unwrap().dataset().set("ready", "1");
    Ok(())
}
