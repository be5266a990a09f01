//! `flows list FLOW_ID` and `flows show FLOW_ID` (issue 14 §3): the flows
//! saved under flowstore-flow's default key layout.
//!
//! Both only read. No persister policy applies (no restore TTL, no schema
//! migration), so nothing is deleted or rewritten by looking: a stored value is
//! parsed with [`decode_instance`] and shown as it is. `list` reads keys and
//! values itself, a page at a time, rather than through
//! `FlowPersister::list_page`: that one stops a page at the first value that
//! is not a flow (or skips it unnamed), and a listing must name every such
//! key and go on.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use flowstore::Store;
use flowstore_core::listing::MAX_BATCH_LEN;
use flowstore_core::{Cursor, Key};
use flowstore_flow::{DefaultLayout, FlowInstance, FlowRef, KeyLayout, Millis, decode_instance};
use flowstore_server::protocol::format_expires_at;
use serde_json::Value;

use crate::commands::Outcome;
use crate::failure::Failure;
use crate::list::escape_key;
use crate::pretty_json;

/// The default layout with first segment `prefix` (`--prefix`).
pub(crate) fn layout(prefix: &str) -> Result<DefaultLayout, Failure> {
    DefaultLayout::with_prefix(prefix).map_err(|err| {
        Failure::store(
            format_args!("flows: --prefix {:?}", escape_key(prefix)),
            &err,
        )
    })
}

/// How `flows list` prints an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// Tab-separated columns.
    Text,
    /// One JSON object a line.
    Json,
}

/// One listed instance, as printed.
#[derive(Debug, PartialEq, Eq)]
struct Line<'a> {
    key: &'a str,
    instance_id: &'a str,
    variant_id: &'a str,
    step: &'a str,
    status: &'a str,
    saved_at: Option<String>,
    schema_version: Option<&'a str>,
}

impl<'a> Line<'a> {
    fn of(key: &'a Key, instance: &'a FlowInstance<Value>) -> Line<'a> {
        Line {
            key: key.as_str(),
            instance_id: &instance.instance_id,
            variant_id: &instance.variant_id,
            step: &instance.state.step_id,
            status: instance.state.status.as_str(),
            saved_at: instance.state.saved_at().and_then(iso_utc),
            schema_version: instance.state.schema_version(),
        }
    }

    fn write(&self, format: Format, out: &mut Vec<u8>) {
        match format {
            Format::Text => {
                // Escaped, so that a tab or newline in an id cannot shift a column.
                let columns = [
                    escape_key(self.instance_id),
                    escape_key(self.variant_id),
                    escape_key(self.step),
                    escape_key(self.status),
                    escape_key(self.saved_at.as_deref().unwrap_or("-")),
                    escape_key(self.schema_version.unwrap_or("-")),
                ];
                out.extend_from_slice(columns.join("\t").as_bytes());
            }
            Format::Json => {
                let object = serde_json::json!({
                    "key": self.key,
                    "instance_id": self.instance_id,
                    "variant_id": self.variant_id,
                    "step": self.step,
                    "status": self.status,
                    "saved_at": self.saved_at,
                    "schema_version": self.schema_version,
                });
                out.extend_from_slice(object.to_string().as_bytes());
            }
        }
        out.push(b'\n');
    }
}

/// `millis` since the Unix epoch as RFC 3339 UTC with milliseconds; `None`
/// past what the system clock can hold.
fn iso_utc(millis: Millis) -> Option<String> {
    UNIX_EPOCH
        .checked_add(Duration::from_millis(millis))
        .map(format_expires_at)
}

/// Why the value under `key` is not a flow of this layout, if it is not.
fn check(layout: &DefaultLayout, key: &Key, value: &[u8]) -> Result<FlowInstance<Value>, String> {
    let instance = decode_instance(value).map_err(|err| err.to_string())?;
    // A flow restore would look for under another key (its ids changed by
    // hand, or written by another layout) is not one `flows show` could find.
    match layout.key(&instance.flow_ref()) {
        Ok(own) if own == *key => Ok(instance),
        Ok(own) => Err(format!(
            "it holds the flow whose key is {:?}, not this one",
            own.as_str()
        )),
        Err(err) => Err(format!("its ids make no valid key: {err}")),
    }
}

pub(crate) async fn list(
    store: &Arc<dyn Store>,
    layout: &DefaultLayout,
    flow_id: &str,
    format: Format,
) -> Result<Outcome, Failure> {
    list_to(
        store,
        layout,
        flow_id,
        format,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    )
    .await
}

/// Writes the instances of `flow_id` to `out` a page at a time, and a line
/// for each stored value that is not a valid flow to `problems`; fails at the
/// end if there was any.
pub(crate) async fn list_to(
    store: &Arc<dyn Store>,
    layout: &DefaultLayout,
    flow_id: &str,
    format: Format,
    out: &mut (dyn Write + Send),
    problems: &mut (dyn Write + Send),
) -> Result<Outcome, Failure> {
    let prefix = layout.flow_prefix(flow_id).map_err(|err| {
        Failure::store(format_args!("flows list {:?}", escape_key(flow_id)), &err)
    })?;
    let mut cursor: Option<Cursor> = None;
    let mut invalid = 0u64;
    let mut text = Vec::new();
    let mut problem_text = Vec::new();
    loop {
        let page = store
            .list(&prefix, cursor.as_ref(), MAX_BATCH_LEN)
            .await
            .map_err(|err| Failure::store("flows list", &err))?;
        let keys: Vec<Key> = page.items.into_iter().map(|item| item.key).collect();
        let values = store
            .get_many(&keys)
            .await
            .map_err(|err| Failure::store("flows list: get_many", &err))?;
        text.clear();
        problem_text.clear();
        // A key gone since the listing (removed, expired) is simply not there.
        for (key, value) in keys.iter().zip(values) {
            let Some(value) = value else { continue };
            match check(layout, key, &value) {
                Ok(instance) => Line::of(key, &instance).write(format, &mut text),
                Err(reason) => {
                    invalid += 1;
                    let line = format!(
                        "flowstore: flows list: invalid {:?}: {reason}\n",
                        key.as_str()
                    );
                    problem_text.extend_from_slice(line.as_bytes());
                }
            }
        }
        // Problems first: on a terminal they show up before the page they belong to.
        let _ = problems
            .write_all(&problem_text)
            .and_then(|()| problems.flush());
        match out.write_all(&text).and_then(|()| out.flush()) {
            Ok(()) => {}
            // The reader has seen enough (`flowstore flows list f | head`).
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => break,
            Err(err) => return Err(Failure::io("flows list: writing to stdout", &err)),
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if invalid > 0 {
        let values = if invalid == 1 {
            "1 stored value is"
        } else {
            &format!("{invalid} stored values are")
        };
        return Err(Failure::new(format!(
            "flows list: {values} not a valid flow under {:?} (named above); every other instance was listed",
            escape_key(prefix.as_str())
        )));
    }
    Ok(Outcome::Done)
}

pub(crate) async fn show(
    store: &Arc<dyn Store>,
    layout: &DefaultLayout,
    flow: &FlowRef,
) -> Result<Outcome, Failure> {
    let key = layout
        .key(flow)
        .map_err(|err| Failure::store("flows show", &err))?;
    let context = || format!("flows show {:?}", key.as_str());
    let Some(value) = store
        .get(&key)
        .await
        .map_err(|err| Failure::store(context(), &err))?
    else {
        eprintln!("flowstore: {}: no saved instance", context());
        return Ok(Outcome::Absent);
    };
    // Pretty-printing needs valid JSON; a value that is not a flow is said to
    // be one, not shown as if it were (`get` prints any value as stored).
    decode_instance(&value).map_err(|err| {
        Failure::new(format!(
            "{}: {err}; `flowstore get` prints it as stored",
            context()
        ))
    })?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&pretty_json::pretty(&value))
        .and_then(|()| stdout.flush())
        .map_err(|err| Failure::io("flows show: writing to stdout", &err))?;
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use flowstore::memory::MemoryStore;

    use super::*;

    const ACTIVE_V2: &str =
        include_str!("../../flowstore-flow/tests/fixtures/active-v2-with-unknown-fields.json");

    #[test]
    fn text_and_json_lines() {
        let key = Key::new("useflow:onboarding:default:user-42").unwrap();
        let instance = decode_instance(ACTIVE_V2.as_bytes()).unwrap();
        let line = Line::of(&key, &instance);
        let mut out = Vec::new();
        line.write(Format::Text, &mut out);
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "user-42\tdefault\tprofile\tactive\t2024-12-04T08:13:27.000Z\t2\n"
        );
        out.clear();
        line.write(Format::Json, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"instance_id\":\"user-42\",\"key\":\"useflow:onboarding:default:user-42\",\
             \"saved_at\":\"2024-12-04T08:13:27.000Z\",\"schema_version\":\"2\",\
             \"status\":\"active\",\"step\":\"profile\",\"variant_id\":\"default\"}\n"
        );
    }

    #[test]
    fn a_tab_in_an_id_cannot_shift_a_column() {
        let key = Key::new("k").unwrap();
        let mut instance = decode_instance(ACTIVE_V2.as_bytes()).unwrap();
        instance.instance_id = "a\tb".into();
        instance.state.meta = None;
        let mut out = Vec::new();
        Line::of(&key, &instance).write(Format::Text, &mut out);
        assert_eq!(out, b"a\\tb\tdefault\tprofile\tactive\t-\t-\n");
    }

    #[test]
    fn far_future_times_do_not_panic() {
        assert_eq!(iso_utc(0).as_deref(), Some("1970-01-01T00:00:00.000Z"));
        let _ = iso_utc(Millis::MAX);
    }

    /// Listing pages through more instances than one page holds, and an
    /// invalid value in the middle neither stops it nor goes unnamed.
    #[tokio::test]
    async fn every_page_is_listed_and_invalid_values_are_named() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let layout = DefaultLayout::new();
        for i in 0..(MAX_BATCH_LEN + 5) {
            let mut instance = decode_instance(ACTIVE_V2.as_bytes()).unwrap();
            instance.instance_id = format!("user-{i:05}");
            let key = layout.key(&instance.flow_ref()).unwrap();
            store
                .set(&key, &serde_json::to_vec(&instance).unwrap(), None)
                .await
                .unwrap();
        }
        let broken = Key::new("useflow:onboarding:default:user-00007x").unwrap();
        store.set(&broken, b"{not json", None).await.unwrap();
        let (mut out, mut problems) = (Vec::new(), Vec::new());
        let failure = list_to(
            &store,
            &layout,
            "onboarding",
            Format::Text,
            &mut out,
            &mut problems,
        )
        .await
        .unwrap_err();
        assert_eq!(failure.exit_code(), 2);
        assert!(
            failure.to_string().contains("1 stored value is not"),
            "{failure}"
        );
        assert_eq!(
            String::from_utf8(out).unwrap().lines().count(),
            MAX_BATCH_LEN + 5
        );
        let problems = String::from_utf8(problems).unwrap();
        assert_eq!(problems.lines().count(), 1, "{problems}");
        assert!(
            problems.contains("invalid \"useflow:onboarding:default:user-00007x\""),
            "{problems}"
        );
    }
}
