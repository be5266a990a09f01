//! Waiting for DOM events (IndexedDB requests and transactions) from async Rust.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use flowstore_core::{Error, Result};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Event, EventTarget, IdbRequest, IdbTransaction};

use crate::error::{DomError, from_dom, from_js, phrase};

/// An event listener: the event's name and the closure JavaScript calls.
type Listener = (&'static str, Closure<dyn FnMut(Event)>);

#[derive(Default)]
struct State {
    fired: Option<&'static str>,
    waker: Option<Waker>,
}

/// A future that resolves with the name of the first of `events` fired at a
/// target. The listeners are removed when it is dropped, so a dropped wait leaves
/// no callback behind (and nothing that would call into freed Rust closures).
///
/// Create it right after issuing the request, in the same synchronous stretch of
/// code: events are dispatched from the browser's event loop, never before the
/// current task yields.
pub(crate) struct EventWait {
    target: EventTarget,
    listeners: Vec<Listener>,
    state: Rc<RefCell<State>>,
}

impl EventWait {
    pub(crate) fn new(target: &EventTarget, events: &[&'static str]) -> EventWait {
        let state = Rc::new(RefCell::new(State::default()));
        let listeners = events
            .iter()
            .map(|&name| {
                let state = Rc::clone(&state);
                let closure = Closure::<dyn FnMut(Event)>::new(move |_event: Event| {
                    let waker = {
                        let mut state = state.borrow_mut();
                        state.fired.get_or_insert(name);
                        state.waker.take()
                    };
                    if let Some(waker) = waker {
                        waker.wake();
                    }
                });
                // Adding a listener cannot fail for a live target.
                let _ =
                    target.add_event_listener_with_callback(name, closure.as_ref().unchecked_ref());
                (name, closure)
            })
            .collect();
        EventWait {
            target: target.clone(),
            listeners,
            state,
        }
    }
}

impl Future for EventWait {
    type Output = &'static str;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'static str> {
        let mut state = self.state.borrow_mut();
        match state.fired {
            Some(name) => Poll::Ready(name),
            None => {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for EventWait {
    fn drop(&mut self) {
        for (name, closure) in &self.listeners {
            let _ = self
                .target
                .remove_event_listener_with_callback(name, closure.as_ref().unchecked_ref());
        }
    }
}

/// Waits for a request's result. `what` names the operation in the error.
pub(crate) async fn request(request: &IdbRequest, what: &'static str) -> Result<JsValue> {
    let wait = EventWait::new(request, &["success", "error"]);
    if wait.await == "success" {
        request.result().map_err(|err| from_js(what, &err))
    } else {
        Err(request_error(request, what))
    }
}

/// The error of a failed request.
pub(crate) fn request_error(request: &IdbRequest, what: &'static str) -> Error {
    match request.error() {
        Ok(Some(exception)) => from_js(what, &exception),
        Ok(None) => Error::backend(phrase(what, "the request failed without an error")),
        Err(err) => from_js(what, &err),
    }
}

/// Waits until a transaction is committed (`complete`) or aborted (`abort`).
///
/// Only `complete` means the writes are stored; the wait must be created before
/// the transaction's requests can finish (right after creating them).
pub(crate) struct Commit(EventWait);

impl Commit {
    pub(crate) fn new(transaction: &IdbTransaction) -> Commit {
        Commit(EventWait::new(transaction, &["complete", "abort"]))
    }

    pub(crate) async fn wait(self, transaction: &IdbTransaction, what: &'static str) -> Result<()> {
        if self.0.await == "complete" {
            return Ok(());
        }
        Err(match transaction.error() {
            Some(exception) => from_js(what, &exception),
            None => from_dom(
                what,
                DomError::new("AbortError", "the transaction was aborted"),
            ),
        })
    }
}
