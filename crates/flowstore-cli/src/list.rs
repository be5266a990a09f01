//! `list [PREFIX]` and `delete --prefix P` (SPEC §9).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::Arc;

use flowstore::Store;
use flowstore_core::listing::MAX_BATCH_LEN;
use flowstore_core::{Cursor, ListItem, Prefix};
use flowstore_server::protocol::format_expires_at;

use crate::cli::ListArgs;
use crate::commands::{Outcome, confirm};
use crate::failure::Failure;

/// How `list` prints a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// The escaped key, one a line.
    Plain,
    /// The raw key followed by NUL.
    Null,
    /// `VERSION\tEXPIRY\tSIZE\tKEY`, the key escaped.
    Long,
    /// One JSON object a line.
    Json,
}

impl Format {
    pub(crate) fn of(args: &ListArgs) -> Format {
        match (args.null, args.long, args.json) {
            (true, _, _) => Format::Null,
            (_, true, _) => Format::Long,
            (_, _, true) => Format::Json,
            _ => Format::Plain,
        }
    }
}

/// `delete --prefix ""` would empty the namespace: like the server's
/// `"all": true`, that takes `--all`, and `--all` goes only with the empty
/// prefix. Checked before the store is opened.
pub(crate) fn check_delete_all(prefix: &str, all: bool) -> Result<(), Failure> {
    match (prefix.is_empty(), all) {
        (true, false) => Err(Failure::new(
            "delete --prefix \"\": an empty prefix deletes every key of the namespace; say so with --all (or use `clear`); nothing was deleted",
        )),
        (false, true) => Err(Failure::new(
            "delete --all goes only with an empty --prefix \"\"; nothing was deleted",
        )),
        _ => Ok(()),
    }
}

/// Checks a prefix given to `option`.
pub(crate) fn parse_prefix(option: &str, prefix: String) -> Result<Prefix, Failure> {
    let shown = escape_key(&prefix).into_owned();
    Prefix::new(prefix).map_err(|err| Failure::store(format_args!("{option} {shown:?}"), &err))
}

/// `key` on one line: each control character (and `\`, so that the escaping
/// can be undone) written as Rust's `char::escape_debug` writes it — `\n`,
/// `\t`, `\r`, `\u{1b}`, `\\` — the same escapes error messages show inside
/// their quotes. Every other character, quotes and non-ASCII text included, is
/// written as it is.
pub(crate) fn escape_key(key: &str) -> Cow<'_, str> {
    if !key.chars().any(needs_escape) {
        return Cow::Borrowed(key);
    }
    let mut escaped = String::with_capacity(key.len() + 8);
    for c in key.chars() {
        if needs_escape(c) {
            let _ = write!(escaped, "{}", c.escape_debug());
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || c == '\\'
}

/// What `list` prints for one item.
pub(crate) fn format_item(item: &ListItem, format: Format, out: &mut Vec<u8>) {
    let key = item.key.as_str();
    match format {
        Format::Plain => {
            out.extend_from_slice(escape_key(key).as_bytes());
            out.push(b'\n');
        }
        Format::Null => {
            out.extend_from_slice(key.as_bytes());
            out.push(0);
        }
        Format::Long => {
            let version = item
                .version
                .as_ref()
                .map_or("-", |version| version.as_str());
            let expires = item
                .expires_at
                .map_or_else(|| "never".to_owned(), format_expires_at);
            let line = format!(
                "{version}\t{expires}\t{}\t{}\n",
                item.stored_size,
                escape_key(key)
            );
            out.extend_from_slice(line.as_bytes());
        }
        Format::Json => {
            let object = serde_json::json!({
                "key": key,
                "version": item.version.as_ref().map(|version| version.as_str()),
                "expires_at": item.expires_at.map(format_expires_at),
                "size": item.stored_size,
            });
            out.extend_from_slice(object.to_string().as_bytes());
            out.push(b'\n');
        }
    }
}

pub(crate) async fn list(
    store: &Arc<dyn Store>,
    prefix: &Prefix,
    format: Format,
) -> Result<Outcome, Failure> {
    list_to(store, prefix, format, &mut std::io::stdout()).await
}

/// Writes the listing to `out` a page at a time (a page is printed before the
/// next is asked for, so a long listing shows up as it goes).
pub(crate) async fn list_to(
    store: &Arc<dyn Store>,
    prefix: &Prefix,
    format: Format,
    out: &mut (dyn Write + Send),
) -> Result<Outcome, Failure> {
    let mut cursor: Option<Cursor> = None;
    let mut text = Vec::new();
    loop {
        let page = store
            .list(prefix, cursor.as_ref(), MAX_BATCH_LEN)
            .await
            .map_err(|err| Failure::store("list", &err))?;
        text.clear();
        for item in &page.items {
            format_item(item, format, &mut text);
        }
        match out.write_all(&text).and_then(|()| out.flush()) {
            Ok(()) => {}
            // The reader has seen enough (`flowstore list | head`): not an error.
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => return Ok(Outcome::Done),
            Err(err) => return Err(Failure::io("list: writing to stdout", &err)),
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(Outcome::Done),
        }
    }
}

pub(crate) async fn delete_prefix(
    store: &Arc<dyn Store>,
    prefix: &Prefix,
    yes: bool,
) -> Result<Outcome, Failure> {
    if !yes {
        let namespace = store.namespace().as_str();
        confirm(
            "delete --prefix",
            &format!(
                "Delete every key that starts with {:?} in namespace {namespace:?}?",
                escape_key(prefix.as_str())
            ),
        )?;
    }
    let deleted = store
        .delete_prefix(prefix)
        .await
        .map_err(|err| Failure::store("delete --prefix", &err))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{deleted}")
        .and_then(|()| stdout.flush())
        .map_err(|err| Failure::io("writing to stdout", &err))?;
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use flowstore::memory::MemoryStore;
    use flowstore::{Key, Ttl, Version};

    use super::*;

    #[test]
    fn control_characters_and_backslashes_are_escaped_nothing_else() {
        assert_eq!(escape_key("plain/key é \"q\""), "plain/key é \"q\"");
        assert_eq!(escape_key("a\nb\tc\r"), "a\\nb\\tc\\r");
        assert_eq!(escape_key("esc\u{1b}[0m"), "esc\\u{1b}[0m");
        assert_eq!(escape_key("back\\slash"), "back\\\\slash");
        assert_eq!(escape_key("del\u{7f}"), "del\\u{7f}");
    }

    #[test]
    fn long_and_json_lines() {
        let key = Key::new("a\nb").unwrap();
        let at = UNIX_EPOCH + Duration::from_millis(951_827_696_789);
        let item = ListItem::new(key, Some(Version::new("v1").unwrap()), Some(at), 42);
        let mut out = Vec::new();
        format_item(&item, Format::Long, &mut out);
        assert_eq!(out, b"v1\t2000-02-29T12:34:56.789Z\t42\ta\\nb\n");
        out.clear();
        format_item(&item, Format::Json, &mut out);
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "{\"expires_at\":\"2000-02-29T12:34:56.789Z\",\"key\":\"a\\nb\",\"size\":42,\"version\":\"v1\"}\n"
        );
        out.clear();
        format_item(&item, Format::Null, &mut out);
        assert_eq!(out, b"a\nb\0");
    }

    #[tokio::test]
    async fn lists_every_key_of_the_prefix_across_pages() {
        let memory = MemoryStore::new();
        let store: Arc<dyn Store> = Arc::new(memory.clone());
        for i in 0..2_345 {
            let key = Key::new(format!("p/{i:05}")).unwrap();
            store.set(&key, b"v", None).await.unwrap();
        }
        store
            .set(
                &Key::new("other").unwrap(),
                b"v",
                Some(Ttl::from_secs(60).unwrap()),
            )
            .await
            .unwrap();
        let mut out = Vec::new();
        let prefix = Prefix::new("p/").unwrap();
        list_to(&store, &prefix, Format::Plain, &mut out)
            .await
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2_345);
        assert_eq!(lines[0], "p/00000");
        assert_eq!(lines[2_344], "p/02344");

        let mut out = Vec::new();
        list_to(&store, &Prefix::all(), Format::Plain, &mut out)
            .await
            .unwrap();
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 2_346);
    }

    #[tokio::test]
    async fn a_store_that_cannot_list_is_an_error() {
        #[derive(Debug)]
        struct NoList(MemoryStore);
        #[flowstore::async_trait]
        impl Store for NoList {
            async fn get(&self, key: &Key) -> flowstore::Result<Option<Vec<u8>>> {
                self.0.get(key).await
            }
            async fn set(
                &self,
                key: &Key,
                value: &[u8],
                ttl: Option<Ttl>,
            ) -> flowstore::Result<()> {
                self.0.set(key, value, ttl).await
            }
            async fn delete(&self, key: &Key) -> flowstore::Result<()> {
                self.0.delete(key).await
            }
            async fn clear(&self) -> flowstore::Result<()> {
                self.0.clear().await
            }
            fn namespace(&self) -> &flowstore::Namespace {
                self.0.namespace()
            }
        }
        let store: Arc<dyn Store> = Arc::new(NoList(MemoryStore::new()));
        let failure = list_to(&store, &Prefix::all(), Format::Plain, &mut Vec::new())
            .await
            .unwrap_err();
        assert!(failure.to_string().contains("unsupported"), "{failure}");
        assert_eq!(failure.exit_code(), 2);
    }
}
