//! `export` and `import`: a namespace's entries as JSON Lines (the format is
//! described in docs/formats.md, "flowstore-export, version 1").
//!
//! The first line is a header naming the format and its version; a reader
//! refuses any other format or version instead of guessing (SPEC §11). Each
//! following line is one entry: the key, the value (text when it is valid
//! UTF-8, else base64, with `encoding` saying which) and the absolute expiry.
//! Absolute, not remaining, so that an export imported an hour later expires
//! when the original would have.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use flowstore::{Condition, ErrorKind, Key, Store, Ttl, Version};
use flowstore_core::{Cursor, Prefix, SetItem};
use flowstore_server::protocol::{format_expires_at, parse_expires_at};
use futures::StreamExt as _;
use serde_json::{Map, Value, json};

use crate::commands::Outcome;
use crate::failure::Failure;
use crate::list::escape_key;
use crate::read::read_page;

/// The `format` of the header line.
pub(crate) const FORMAT: &str = "flowstore-export";

/// The only version this release writes and reads.
pub(crate) const VERSION: u64 = 1;

/// Keys per listing page (and `get_many`) of an export; small enough that a page
/// of large values stays a modest amount of memory.
const EXPORT_PAGE: usize = 256;

/// An import writes a batch once it holds this many entries…
const IMPORT_BATCH: usize = 500;
/// …or this many value bytes, whichever comes first.
const IMPORT_BATCH_BYTES: usize = 8 << 20;

/// The TTL that makes an entry expiring at `expires_at` expire then, counted
/// from `now`: `Ok(None)` for no expiry, `Err(())` when it has already passed
/// (or is under a millisecond away: the entry is as good as gone).
pub(crate) fn remaining_ttl(
    expires_at: Option<SystemTime>,
    now: SystemTime,
) -> Result<Option<Ttl>, ()> {
    let Some(at) = expires_at else {
        return Ok(None);
    };
    let left = at.duration_since(now).map_err(|_| ())?;
    if left < Ttl::MIN {
        return Err(());
    }
    // An expiry more than 100 years out came from no store; keep the longest.
    Ok(Some(Ttl::new(left.min(Ttl::MAX)).map_err(|_| ())?))
}

/// The header line's object.
fn header(namespace: &str, prefix: &Prefix) -> Value {
    json!({
        "format": FORMAT,
        "version": VERSION,
        "namespace": namespace,
        "prefix": prefix.as_str(),
        "exported_at": format_expires_at(SystemTime::now()),
    })
}

/// One entry line's object.
pub(crate) fn entry_line(key: &str, value: &[u8], expires_at: Option<SystemTime>) -> Value {
    let (value, encoding) = match std::str::from_utf8(value) {
        Ok(text) => (text.to_owned(), "utf8"),
        Err(_) => (BASE64.encode(value), "base64"),
    };
    json!({
        "key": key,
        "value": value,
        "encoding": encoding,
        "expires_at": expires_at.map(format_expires_at),
    })
}

pub(crate) async fn export_command(
    store: &Arc<dyn Store>,
    prefix: &Prefix,
    output: Option<&Path>,
) -> Result<Outcome, Failure> {
    let count = match output {
        None => {
            // Buffered: stdout alone would flush at every line.
            let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout());
            export_to(store, prefix, &mut stdout).await?
        }
        Some(path) => {
            // Written beside the target and renamed over it once complete, so a
            // failed export never leaves a truncated file under the name. The
            // temporary file is created owner-only (0600 on Unix) and keeps that
            // mode: an export holds decrypted values.
            let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty());
            let mut file = tempfile::NamedTempFile::new_in(dir.unwrap_or(Path::new(".")))
                .map_err(|err| Failure::io("export: creating the output file", &err))?;
            let count = {
                let mut writer = std::io::BufWriter::new(file.as_file_mut());
                let count = export_to(store, prefix, &mut writer).await?;
                writer
                    .flush()
                    .map_err(|err| Failure::io("export: writing the output file", &err))?;
                count
            };
            file.as_file()
                .sync_all()
                .map_err(|err| Failure::io("export: writing the output file", &err))?;
            file.persist(path)
                .map_err(|err| Failure::io("export: renaming the output file", &err.error))?;
            count
        }
    };
    eprintln!("exported {count} entries");
    Ok(Outcome::Done)
}

/// Writes the export of `prefix` to `out` and returns how many entries it
/// holds: each listing page read as [`read_page`] does (value and expiry
/// together where the store has entry versions). A key deleted between the
/// listing and the read is left out.
pub(crate) async fn export_to(
    store: &Arc<dyn Store>,
    prefix: &Prefix,
    out: &mut (dyn Write + Send),
) -> Result<u64, Failure> {
    let write_err = |err: std::io::Error| Failure::io("export: writing", &err);
    let mut text = header(store.namespace().as_str(), prefix).to_string();
    text.push('\n');
    out.write_all(text.as_bytes()).map_err(write_err)?;
    let mut count = 0;
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = store
            .list(prefix, cursor.as_ref(), EXPORT_PAGE)
            .await
            .map_err(|err| Failure::store("export: list", &err))?;
        for read in read_page(store, page.items, "export").await? {
            let mut line = entry_line(read.key.as_str(), &read.value, read.expires_at).to_string();
            line.push('\n');
            out.write_all(line.as_bytes()).map_err(write_err)?;
            count += 1;
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    out.flush().map_err(write_err)?;
    Ok(count)
}

/// One entry read from an export.
#[derive(Debug)]
pub(crate) struct ImportEntry {
    key: Key,
    value: Vec<u8>,
    expires_at: Option<SystemTime>,
}

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ImportReport {
    /// Entries written.
    pub(crate) written: u64,
    /// Entries whose expiry had passed, not written.
    pub(crate) expired: u64,
    /// Entries not written because of `--if-absent` (the key was present).
    pub(crate) kept: u64,
}

/// Checks the header line: the format and a version this release reads.
fn check_header(line: &str) -> Result<(), Failure> {
    let not_export = || {
        Failure::new(format!(
            "import: line 1 is not a {FORMAT} header (expected {{\"format\":\"{FORMAT}\",\"version\":{VERSION},…}}); nothing was written"
        ))
    };
    let header: Value = serde_json::from_str(line).map_err(|_| not_export())?;
    let format = header.get("format").and_then(Value::as_str);
    if format != Some(FORMAT) {
        return Err(match format {
            Some(other) => Failure::new(format!(
                "import: unknown format {:?} (this command reads {FORMAT}); nothing was written",
                escape_key(other)
            )),
            None => not_export(),
        });
    }
    match header.get("version") {
        Some(version) if version.as_u64() == Some(VERSION) => Ok(()),
        Some(version) => Err(Failure::new(format!(
            "import: {FORMAT} version {version} is not supported (this release reads version {VERSION}); nothing was written"
        ))),
        None => Err(not_export()),
    }
}

/// Parses entry line `number`.
fn parse_entry(number: u64, line: &str) -> Result<ImportEntry, Failure> {
    let bad = |what: &str| Failure::new(format!("import: line {number}: {what}"));
    let object: Map<String, Value> = match serde_json::from_str(line) {
        Ok(Value::Object(object)) => object,
        _ => return Err(bad("not a JSON object")),
    };
    let key = object
        .get("key")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no \"key\" string"))?;
    let key = Key::new(key).map_err(|err| {
        Failure::store(
            format_args!("import: line {number}: key {:?}", escape_key(key)),
            &err,
        )
    })?;
    let value = object
        .get("value")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no \"value\" string"))?;
    let value = match object.get("encoding").and_then(Value::as_str) {
        Some("utf8") => value.as_bytes().to_vec(),
        Some("base64") => BASE64
            .decode(value)
            .map_err(|_| bad("\"value\" is not valid base64"))?,
        Some(other) => {
            return Err(bad(&format!(
                "unknown encoding {:?} (utf8 or base64)",
                escape_key(other)
            )));
        }
        None => return Err(bad("no \"encoding\" (utf8 or base64)")),
    };
    let expires_at = match object.get("expires_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(parse_expires_at(text).ok_or_else(|| {
            bad("\"expires_at\" is not an RFC 3339 UTC time like 2026-12-04T23:16:45.123Z")
        })?),
        Some(_) => return Err(bad("\"expires_at\" is neither a time nor null")),
    };
    Ok(ImportEntry {
        key,
        value,
        expires_at,
    })
}

pub(crate) async fn import_command(
    store: &Arc<dyn Store>,
    file: Option<&Path>,
    if_absent: bool,
) -> Result<Outcome, Failure> {
    let report = match file.filter(|path| path.as_os_str() != "-") {
        None => import_from(store, std::io::stdin().lock(), if_absent).await?,
        Some(path) => {
            let file = std::fs::File::open(path).map_err(|err| {
                Failure::io(format_args!("import: opening {}", path.display()), &err)
            })?;
            import_from(store, BufReader::new(file), if_absent).await?
        }
    };
    eprintln!(
        "imported {} entries ({} already expired, skipped; {} present, kept)",
        report.written, report.expired, report.kept
    );
    Ok(Outcome::Done)
}

/// Reads an export from `input` and writes its entries, a batch at a time.
/// The header is checked before anything is written; a bad entry line stops
/// the import (the batches before it stay written, and the message says so).
pub(crate) async fn import_from(
    store: &Arc<dyn Store>,
    mut input: impl BufRead,
    if_absent: bool,
) -> Result<ImportReport, Failure> {
    if if_absent && !store.capabilities().versions {
        return Err(Failure::new(
            "import --if-absent: this store has no entry versions, so it cannot write only where a key is absent; nothing was written",
        ));
    }
    let mut report = ImportReport::default();
    let mut line = String::new();
    let read = |input: &mut dyn BufRead, line: &mut String| {
        line.clear();
        input
            .read_line(line)
            .map_err(|err| Failure::io("import: reading", &err))
    };
    if read(&mut input, &mut line)? == 0 {
        return Err(Failure::new(
            "import: the input is empty (no header); nothing was written",
        ));
    }
    check_header(line.trim_end_matches(['\n', '\r']))?;
    let mut batch: Vec<ImportEntry> = Vec::new();
    let mut batch_bytes = 0;
    let mut number = 1;
    let partial = |failure: Failure, report: &ImportReport| {
        if report.written == 0 {
            return failure;
        }
        Failure::new(format!(
            "{failure} ({} entries before it were written)",
            report.written
        ))
    };
    loop {
        let n = read(&mut input, &mut line)?;
        if n == 0 {
            break;
        }
        number += 1;
        let text = line.trim_end_matches(['\n', '\r']);
        if text.is_empty() {
            continue;
        }
        let entry = parse_entry(number, text).map_err(|failure| partial(failure, &report))?;
        batch_bytes += entry.value.len();
        batch.push(entry);
        if batch.len() >= IMPORT_BATCH || batch_bytes >= IMPORT_BATCH_BYTES {
            write_batch(store, &batch, if_absent, &mut report)
                .await
                .map_err(|failure| partial(failure, &report))?;
            batch.clear();
            batch_bytes = 0;
        }
    }
    write_batch(store, &batch, if_absent, &mut report)
        .await
        .map_err(|failure| partial(failure, &report))?;
    Ok(report)
}

/// Writes one batch: `set_many`, or with `if_absent` one `set_if` absent per
/// entry, a few at a time. TTLs are computed now, just before the write.
///
/// With `if_absent` the writes run concurrently, so a key twice in the batch
/// would race with itself and either value could win. File order decides
/// instead: the key's first live entry is the one written (if the key is
/// absent), and every later one is counted as kept, as it would have been had
/// the entries been written one after another.
async fn write_batch(
    store: &Arc<dyn Store>,
    batch: &[ImportEntry],
    if_absent: bool,
    report: &mut ImportReport,
) -> Result<(), Failure> {
    let now = SystemTime::now();
    let mut live = Vec::with_capacity(batch.len());
    for entry in batch {
        match remaining_ttl(entry.expires_at, now) {
            Ok(ttl) => live.push((entry, ttl)),
            Err(()) => report.expired += 1,
        }
    }
    if live.is_empty() {
        return Ok(());
    }
    if !if_absent {
        let items: Vec<SetItem<'_>> = live
            .iter()
            .map(|(entry, ttl)| SetItem::new(&entry.key, &entry.value, *ttl))
            .collect();
        store
            .set_many(&items)
            .await
            .map_err(|err| Failure::store("import: set_many", &err))?;
        report.written += items.len() as u64;
        return Ok(());
    }
    let mut seen: HashSet<&Key> = HashSet::with_capacity(live.len());
    live.retain(|(entry, _)| {
        let first = seen.insert(&entry.key);
        if !first {
            report.kept += 1;
        }
        first
    });
    let condition = Condition::Absent;
    let mut writes = futures::stream::iter(live.iter().map(|(entry, ttl)| {
        let condition = &condition;
        async move {
            let written = store
                .set_if(
                    &entry.key,
                    &entry.value,
                    *ttl,
                    condition,
                    &Version::generate(),
                )
                .await;
            (entry, written)
        }
    }))
    .buffer_unordered(16);
    while let Some((entry, written)) = writes.next().await {
        match written {
            Ok(_) => report.written += 1,
            Err(err) if err.kind() == ErrorKind::Conflict => report.kept += 1,
            Err(err) => {
                return Err(Failure::store(
                    format_args!("import: set {:?}", escape_key(entry.key.as_str())),
                    &err,
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use flowstore::memory::MemoryStore;

    use super::*;

    fn memory() -> Arc<dyn Store> {
        Arc::new(MemoryStore::new())
    }

    #[test]
    fn remaining_ttl_counts_from_now() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(remaining_ttl(None, now), Ok(None));
        assert_eq!(
            remaining_ttl(Some(now + Duration::from_secs(5)), now),
            Ok(Some(Ttl::from_secs(5).unwrap()))
        );
        assert_eq!(remaining_ttl(Some(now), now), Err(()));
        assert_eq!(
            remaining_ttl(Some(now - Duration::from_secs(1)), now),
            Err(())
        );
    }

    #[tokio::test]
    async fn export_then_import_round_trips_bytes_and_expiries() {
        let source = memory();
        let binary: Vec<u8> = (0..=255).collect();
        let k = |name: &str| Key::new(name).unwrap();
        source
            .set(&k("p/text"), "héllo\n".as_bytes(), None)
            .await
            .unwrap();
        source.set(&k("p/bin"), &binary, None).await.unwrap();
        source.set(&k("p/empty"), b"", None).await.unwrap();
        source
            .set(&k("p/ttl"), b"soon", Some(Ttl::from_secs(3600).unwrap()))
            .await
            .unwrap();
        source.set(&k("q/other"), b"x", None).await.unwrap();
        for i in 0..600 {
            source
                .set(&k(&format!("p/many/{i}")), b"m", None)
                .await
                .unwrap();
        }

        let mut file = Vec::new();
        let count = export_to(&source, &Prefix::new("p/").unwrap(), &mut file)
            .await
            .unwrap();
        assert_eq!(count, 604);
        let text = String::from_utf8(file.clone()).unwrap();
        let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["format"], FORMAT);
        assert_eq!(first["version"], 1);
        assert!(text.contains("\"encoding\":\"base64\""));
        assert!(!text.contains("q/other"));

        let target = memory();
        let report = import_from(&target, file.as_slice(), false).await.unwrap();
        assert_eq!(report.written, 604);
        assert_eq!(target.get(&k("p/bin")).await.unwrap(), Some(binary));
        assert_eq!(
            target.get(&k("p/text")).await.unwrap(),
            Some("héllo\n".as_bytes().to_vec())
        );
        assert_eq!(target.get(&k("p/empty")).await.unwrap(), Some(Vec::new()));
        assert_eq!(target.get(&k("q/other")).await.unwrap(), None);
        let original = source.get_entry(&k("p/ttl")).await.unwrap().unwrap();
        let copied = target.get_entry(&k("p/ttl")).await.unwrap().unwrap();
        let (a, b) = (original.expires_at.unwrap(), copied.expires_at.unwrap());
        let skew = a.duration_since(b).unwrap_or_else(|e| e.duration());
        // The store stamps the expiry from its own clock when it writes.
        assert!(
            skew < Duration::from_millis(500),
            "expiry moved by {skew:?}"
        );
        assert_eq!(
            target
                .get_entry(&k("p/text"))
                .await
                .unwrap()
                .unwrap()
                .expires_at,
            None
        );
    }

    #[tokio::test]
    async fn export_takes_the_expiry_from_the_entry_read_not_the_listing() {
        let inner = MemoryStore::new();
        inner
            .set(&Key::new("k").unwrap(), b"v", None)
            .await
            .unwrap();
        let store: Arc<dyn Store> = Arc::new(crate::read::tests::StaleListing {
            inner,
            versions: true,
        });
        let mut file = Vec::new();
        assert_eq!(
            export_to(&store, &Prefix::all(), &mut file).await.unwrap(),
            1
        );
        let text = String::from_utf8(file).unwrap();
        let entry: Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
        assert_eq!(entry["expires_at"], Value::Null, "{text}");
    }

    #[tokio::test]
    async fn import_skips_expired_entries_and_if_absent_keeps_present_ones() {
        let target = memory();
        let key = Key::new("present").unwrap();
        target.set(&key, b"old", None).await.unwrap();
        let past = SystemTime::now() - Duration::from_secs(10);
        let file = format!(
            "{}\n{}\n{}\n{}\n",
            header("flow", &Prefix::all()),
            entry_line("present", b"new", None),
            entry_line("gone", b"x", Some(past)),
            entry_line("fresh", b"y", None),
        );
        let report = import_from(&target, file.as_bytes(), true).await.unwrap();
        assert_eq!(
            report,
            ImportReport {
                written: 1,
                expired: 1,
                kept: 1
            }
        );
        assert_eq!(target.get(&key).await.unwrap(), Some(b"old".to_vec()));
        assert_eq!(target.get(&Key::new("gone").unwrap()).await.unwrap(), None);

        let report = import_from(&target, file.as_bytes(), false).await.unwrap();
        assert_eq!(report.written, 2);
        assert_eq!(target.get(&key).await.unwrap(), Some(b"new".to_vec()));
    }

    /// A memory store whose conditional write of the value `v0` is slow, so
    /// that a later write of the same key issued concurrently would land first.
    #[derive(Debug)]
    struct SlowFirst(MemoryStore);

    #[flowstore::async_trait]
    impl Store for SlowFirst {
        async fn get(&self, key: &Key) -> flowstore::Result<Option<Vec<u8>>> {
            self.0.get(key).await
        }
        async fn set(&self, key: &Key, value: &[u8], ttl: Option<Ttl>) -> flowstore::Result<()> {
            self.0.set(key, value, ttl).await
        }
        async fn delete(&self, key: &Key) -> flowstore::Result<()> {
            self.0.delete(key).await
        }
        async fn clear(&self) -> flowstore::Result<()> {
            self.0.clear().await
        }
        async fn set_if(
            &self,
            key: &Key,
            value: &[u8],
            ttl: Option<Ttl>,
            condition: &Condition,
            new_version: &Version,
        ) -> flowstore::Result<()> {
            if value == b"v0" {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            self.0.set_if(key, value, ttl, condition, new_version).await
        }
        fn namespace(&self) -> &flowstore::Namespace {
            self.0.namespace()
        }
        fn capabilities(&self) -> flowstore::Capabilities {
            self.0.capabilities()
        }
    }

    #[tokio::test]
    async fn if_absent_writes_a_repeated_key_in_file_order() {
        let target: Arc<dyn Store> = Arc::new(SlowFirst(MemoryStore::new()));
        let past = SystemTime::now() - Duration::from_secs(10);
        // Many entries between the repeats, so that concurrent writes would race.
        let mut lines = vec![header("flow", &Prefix::all()).to_string()];
        lines.push(entry_line("dup", b"expired", Some(past)).to_string());
        for round in 0..5 {
            lines.push(entry_line("dup", format!("v{round}").as_bytes(), None).to_string());
            for i in 0..20 {
                lines.push(entry_line(&format!("k{round}/{i}"), b"x", None).to_string());
            }
        }
        let file = lines.join("\n");
        for _ in 0..2 {
            target.clear().await.unwrap();
            let report = import_from(&target, file.as_bytes(), true).await.unwrap();
            assert_eq!(
                report,
                ImportReport {
                    written: 101,
                    expired: 1,
                    kept: 4
                }
            );
            let dup = target.get(&Key::new("dup").unwrap()).await.unwrap();
            assert_eq!(dup, Some(b"v0".to_vec()));
        }
    }

    #[tokio::test]
    async fn unknown_formats_and_versions_are_refused_before_any_write() {
        let target = memory();
        let entry = entry_line("k", b"v", None);
        for (header, expected) in [
            (
                json!({"format": FORMAT, "version": 2}),
                "version 2 is not supported",
            ),
            (
                json!({"format": "other", "version": 1}),
                "unknown format \"other\"",
            ),
            (json!({"key": "k"}), "is not a flowstore-export header"),
            (json!("text"), "is not a flowstore-export header"),
        ] {
            let file = format!("{header}\n{entry}\n");
            let failure = import_from(&target, file.as_bytes(), false)
                .await
                .unwrap_err();
            assert!(failure.to_string().contains(expected), "{failure}");
            assert_eq!(failure.exit_code(), 2);
        }
        let failure = import_from(&target, &b""[..], false).await.unwrap_err();
        assert!(failure.to_string().contains("empty"), "{failure}");
        assert_eq!(target.get(&Key::new("k").unwrap()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_bad_entry_names_its_line() {
        let target = memory();
        let file = format!(
            "{}\n{}\n{{\"key\":\"k2\",\"value\":\"!!\",\"encoding\":\"base64\",\"expires_at\":null}}\n",
            header("flow", &Prefix::all()),
            entry_line("k1", b"v", None),
        );
        let failure = import_from(&target, file.as_bytes(), false)
            .await
            .unwrap_err();
        assert!(
            failure
                .to_string()
                .contains("line 3: \"value\" is not valid base64"),
            "{failure}"
        );
        for (line, expected) in [
            (
                r#"{"key":"k","value":"v","encoding":"hex","expires_at":null}"#,
                "unknown encoding",
            ),
            (
                r#"{"key":"k","value":"v","encoding":"utf8","expires_at":"tomorrow"}"#,
                "RFC 3339",
            ),
            (r#"{"key":"","value":"v","encoding":"utf8"}"#, "key \"\""),
            ("[1]", "not a JSON object"),
        ] {
            let file = format!("{}\n{line}\n", header("flow", &Prefix::all()));
            let failure = import_from(&target, file.as_bytes(), false)
                .await
                .unwrap_err();
            assert!(failure.to_string().contains(expected), "{line}: {failure}");
        }
    }
}
