//! `copy --from URL --to URL`: every entry of a prefix, decoded by the source's
//! wrappers and encoded by the target's, with its remaining TTL.
//!
//! Pages are listed one after another (a cursor leads to the next) while up to
//! `--jobs` pages are copied at once: the source read (`get_entry` per key, or
//! `get_many` without entry versions: see `read.rs`), `set_many` on the target,
//! then a `get_many` on the target to check what it now holds. The
//! checkpoint records the cursor after the last page that is copied *and* has
//! every page before it copied, so a resumed run never skips a page (it may
//! copy one again, which rewrites the same values: copying is idempotent).

mod fingerprint;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use flowstore::{Key, Store};
use flowstore_core::listing::MAX_BATCH_LEN;
use flowstore_core::{Cursor, ListItem, Prefix, SetItem};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::cli::CopyArgs;
use crate::commands::Outcome;
use crate::failure::Failure;
use crate::list::parse_prefix;
use crate::read::read_page;
use crate::stack::open_store;
use crate::transfer::remaining_ttl;

pub(crate) use fingerprint::Side;

/// The `format` of a checkpoint file.
const CHECKPOINT_FORMAT: &str = "flowstore-copy-checkpoint";
/// Version 2 added the store fingerprints; a version 1 file (from a build
/// before any release) cannot tell which stores it was for and is refused.
const CHECKPOINT_VERSION: u64 = 2;

/// What a copy needs besides its two stores.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) prefix: Prefix,
    /// Keys per page and batch.
    pub(crate) batch: usize,
    /// Pages copied at once.
    pub(crate) jobs: usize,
    pub(crate) checkpoint: Option<PathBuf>,
    /// Stop once this many pages are checkpointed (tests of resuming).
    pub(crate) stop_after_pages: Option<u64>,
    /// Report progress on stderr.
    pub(crate) progress: bool,
    /// The fingerprints of the source and target ([`Side::fingerprint`]).
    pub(crate) source: String,
    pub(crate) target: String,
}

/// The checkpoint file: where to resume, and the counts so far, so that a
/// resumed run ends with the totals of the whole copy. No store URL (it may
/// hold a password): fingerprints of both sides, the source namespace and the
/// prefix guard against resuming another copy's cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Checkpoint {
    format: String,
    version: u64,
    namespace: String,
    prefix: String,
    /// [`Side::fingerprint`] of the source and of the target.
    source: String,
    target: String,
    /// The source's cursor after the last page fully copied; `None` with
    /// `done == false` means nothing was copied yet.
    cursor: Option<String>,
    /// Every page is copied.
    done: bool,
    /// Entries written to the target so far.
    copied: u64,
    /// Of those, the ones the target held when read back.
    held: u64,
}

impl Checkpoint {
    fn new(namespace: &str, plan: &Plan) -> Checkpoint {
        Checkpoint {
            format: CHECKPOINT_FORMAT.to_owned(),
            version: CHECKPOINT_VERSION,
            namespace: namespace.to_owned(),
            prefix: plan.prefix.as_str().to_owned(),
            source: plan.source.clone(),
            target: plan.target.clone(),
            cursor: None,
            done: false,
            copied: 0,
            held: 0,
        }
    }

    /// The checkpoint in `path`, or a fresh one when there is no such file.
    fn load(path: &Path, namespace: &str, plan: &Plan) -> Result<Checkpoint, Failure> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Checkpoint::new(namespace, plan));
            }
            Err(err) => return Err(Failure::io("copy: reading the checkpoint", &err)),
        };
        // The header first, so that an older version is named as such rather
        // than as "not a checkpoint" for its missing fields.
        #[derive(Deserialize)]
        struct Header {
            format: String,
            version: u64,
        }
        let not_checkpoint =
            || Failure::new("copy: the checkpoint file is not a flowstore-copy-checkpoint");
        let header: Header = serde_json::from_str(&text).map_err(|_| not_checkpoint())?;
        if header.format != CHECKPOINT_FORMAT || header.version != CHECKPOINT_VERSION {
            return Err(Failure::new(format!(
                "copy: checkpoint {} version {} is not supported (this release reads {CHECKPOINT_FORMAT} version {CHECKPOINT_VERSION}); use another --checkpoint file",
                header.format, header.version
            )));
        }
        let checkpoint: Checkpoint = serde_json::from_str(&text).map_err(|_| not_checkpoint())?;
        if checkpoint.namespace != namespace || checkpoint.prefix != plan.prefix.as_str() {
            return Err(Failure::new(
                "copy: the checkpoint belongs to a copy of another source namespace or prefix; use another --checkpoint file",
            ));
        }
        // Resuming for other stores would skip pages never copied to them
        // and report the old run's counts as this one's.
        if checkpoint.source != plan.source {
            return Err(Failure::new(
                "copy: the checkpoint was made for another source (--from URL, namespace, --from-encrypt-key-env or --from-compress differ); use another --checkpoint file",
            ));
        }
        if checkpoint.target != plan.target {
            return Err(Failure::new(
                "copy: the checkpoint was made for another target (--to URL, namespace, --to-encrypt-key-env or --to-compress differ); use another --checkpoint file",
            ));
        }
        Ok(checkpoint)
    }

    /// Replaces `path` with this checkpoint atomically (a temporary file
    /// beside it, synced, then renamed), so an interruption leaves the old
    /// checkpoint or the new one, never a torn one.
    fn save(&self, path: &Path) -> Result<(), Failure> {
        let failed = |err: std::io::Error| Failure::io("copy: writing the checkpoint", &err);
        let dir = path
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut file = tempfile::NamedTempFile::new_in(dir).map_err(failed)?;
        let text = serde_json::to_string(self).expect("a checkpoint serializes");
        file.write_all(text.as_bytes()).map_err(failed)?;
        file.as_file().sync_all().map_err(failed)?;
        file.persist(path).map_err(|err| failed(err.error))?;
        Ok(())
    }

    fn cursor(&self) -> Result<Option<Cursor>, Failure> {
        self.cursor
            .as_deref()
            .map(|text| {
                Cursor::new(text)
                    .map_err(|err| Failure::store("copy: the checkpoint's cursor", &err))
            })
            .transpose()
    }
}

/// What a copy did (over every run that shares its checkpoint).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Report {
    /// Entries written to the target.
    pub(crate) copied: u64,
    /// Of those, the ones the target held when read back.
    pub(crate) held: u64,
}

/// `flowstore copy`: opens both stores with their own options and copies.
pub(crate) async fn command(args: CopyArgs) -> Result<Outcome, Failure> {
    let prefix = parse_prefix("--prefix", args.prefix.clone())?;
    let from_namespace = args.from_options.namespace()?;
    let to_namespace = args.to_options.namespace()?;
    // Both stacks first: a missing key variable fails before any store opens.
    let from_stack = args.from_options.stack(false)?;
    let to_stack = args.to_options.stack(false)?;
    let from = open_store(&args.from, from_namespace, &from_stack)
        .await
        .map_err(|failure| Failure::new(format!("--from: {failure}")))?;
    let to = open_store(&args.to, to_namespace, &to_stack)
        .await
        .map_err(|failure| Failure::new(format!("--to: {failure}")))?;
    let source = Side {
        url: &args.from,
        namespace: from.namespace().as_str(),
        encrypt_key_env: args.from_options.encrypt_key_env.as_deref(),
        compress: args.from_options.compress,
    };
    let target = Side {
        url: &args.to,
        namespace: to.namespace().as_str(),
        encrypt_key_env: args.to_options.encrypt_key_env.as_deref(),
        compress: args.to_options.compress,
    };
    let plan = Plan {
        prefix,
        batch: usize::from(args.batch),
        jobs: usize::from(args.jobs),
        checkpoint: args.checkpoint,
        stop_after_pages: args.stop_after_pages,
        progress: true,
        source: source.fingerprint(),
        target: target.fingerprint(),
    };
    let report = copy(&from, &to, &plan).await?;
    check(report)?;
    Ok(Outcome::Done)
}

/// The final comparison: exit 2 unless the target holds every entry copied.
pub(crate) fn check(report: Report) -> Result<(), Failure> {
    let Report { copied, held } = report;
    if held == copied {
        eprintln!("copied {copied} entries; the target holds all of them");
        Ok(())
    } else {
        Err(Failure::new(format!(
            "copy: copied {copied} entries but the target holds only {held} of them"
        )))
    }
}

/// One page's work, handed back to the loop that keeps the checkpoint.
struct PageDone {
    seq: u64,
    next: Option<Cursor>,
    copied: u64,
    held: u64,
}

/// Copies `plan.prefix` from `from` to `to`, resuming from and keeping the
/// checkpoint when there is one.
pub(crate) async fn copy(
    from: &Arc<dyn Store>,
    to: &Arc<dyn Store>,
    plan: &Plan,
) -> Result<Report, Failure> {
    let namespace = from.namespace().as_str();
    let mut checkpoint = match &plan.checkpoint {
        Some(path) => Checkpoint::load(path, namespace, plan)?,
        None => Checkpoint::new(namespace, plan),
    };
    let batch = plan.batch.clamp(1, MAX_BATCH_LEN);
    let progress = Arc::new(Progress::new(checkpoint.copied));
    let reporter = plan.progress.then(|| {
        let terminal = std::io::stderr().is_terminal();
        progress
            .clone()
            .start(from.clone(), plan.prefix.clone(), terminal)
    });

    let result = run_pages(from, to, plan, batch, &mut checkpoint, &progress).await;
    if let Some(reporter) = reporter {
        progress.finished.store(true, Ordering::Relaxed);
        let _ = reporter.await;
    }
    result?;
    Ok(Report {
        copied: checkpoint.copied,
        held: checkpoint.held,
    })
}

async fn run_pages(
    from: &Arc<dyn Store>,
    to: &Arc<dyn Store>,
    plan: &Plan,
    batch: usize,
    checkpoint: &mut Checkpoint,
    progress: &Arc<Progress>,
) -> Result<(), Failure> {
    let mut cursor = checkpoint.cursor()?;
    let mut listed_all = checkpoint.done;
    let mut tasks: JoinSet<Result<PageDone, Failure>> = JoinSet::new();
    let (mut next_seq, mut committed_seq) = (0_u64, 0_u64);
    let mut finished: BTreeMap<u64, PageDone> = BTreeMap::new();
    let mut pages_saved = 0_u64;
    loop {
        while !listed_all && tasks.len() < plan.jobs.max(1) {
            let page = from
                .list(&plan.prefix, cursor.as_ref(), batch)
                .await
                .map_err(|err| Failure::store("copy: list the source", &err))?;
            let next = page.next;
            let (from, to, progress) = (from.clone(), to.clone(), progress.clone());
            let seq = next_seq;
            let after = next.clone();
            tasks.spawn(async move {
                let (copied, held) = copy_page(&from, &to, page.items).await?;
                progress.copied.fetch_add(copied, Ordering::Relaxed);
                Ok(PageDone {
                    seq,
                    next: after,
                    copied,
                    held,
                })
            });
            next_seq += 1;
            listed_all = next.is_none();
            cursor = next;
        }
        let Some(joined) = tasks.join_next().await else {
            return Ok(());
        };
        let done =
            joined.map_err(|err| Failure::new(format!("copy: a page task failed: {err}")))??;
        finished.insert(done.seq, done);
        // Advance the checkpoint over every page copied in order.
        while let Some(done) = finished.remove(&committed_seq) {
            committed_seq += 1;
            checkpoint.copied += done.copied;
            checkpoint.held += done.held;
            checkpoint.done = done.next.is_none();
            checkpoint.cursor = done.next.map(|cursor| cursor.as_str().to_owned());
            if let Some(path) = &plan.checkpoint {
                checkpoint.save(path)?;
            }
            pages_saved += 1;
            if plan.stop_after_pages == Some(pages_saved) {
                return Err(Failure::new(format!(
                    "copy: stopped after {pages_saved} pages (--stop-after-pages); run again with the same --checkpoint to resume"
                )));
            }
        }
    }
}

/// Copies one listed page and returns how many entries it wrote and how many
/// of them the target held when read back. Values and expiries are read as
/// [`read_page`] does (together, where the source has entry versions). A key
/// gone from the source since the listing (deleted, expired) is not copied; an
/// entry whose expiry passes before it is written is not either.
async fn copy_page(
    from: &Arc<dyn Store>,
    to: &Arc<dyn Store>,
    items: Vec<ListItem>,
) -> Result<(u64, u64), Failure> {
    let reads = read_page(from, items, "copy: the source").await?;
    if reads.is_empty() {
        return Ok((0, 0));
    }
    let now = SystemTime::now();
    let mut writes = Vec::with_capacity(reads.len());
    let mut expiries = Vec::with_capacity(reads.len());
    for read in &reads {
        let Ok(ttl) = remaining_ttl(read.expires_at, now) else {
            continue;
        };
        writes.push(SetItem::new(&read.key, &read.value, ttl));
        expiries.push(read.expires_at);
    }
    to.set_many(&writes)
        .await
        .map_err(|err| Failure::store("copy: set_many on the target", &err))?;
    let written: Vec<Key> = writes.iter().map(|write| write.key.clone()).collect();
    let held = to
        .get_many(&written)
        .await
        .map_err(|err| Failure::store("copy: get_many on the target", &err))?;
    let now = SystemTime::now();
    let held = held
        .iter()
        .zip(&expiries)
        // An entry that expired in the meantime was held: its TTL ran out.
        .filter(|(value, expires_at)| value.is_some() || expires_at.is_some_and(|at| at <= now))
        .count();
    Ok((written.len() as u64, held as u64))
}

/// Counters the progress line reads.
#[derive(Debug)]
struct Progress {
    /// Entries copied, earlier runs of the checkpoint included.
    copied: AtomicU64,
    /// Entries copied by earlier runs (not part of this run's rate).
    resumed_at: u64,
    /// Entries under the prefix, once the counting listing is done.
    total: AtomicU64,
    total_known: AtomicBool,
    finished: AtomicBool,
}

impl Progress {
    fn new(resumed_at: u64) -> Progress {
        Progress {
            copied: AtomicU64::new(resumed_at),
            resumed_at,
            total: AtomicU64::new(0),
            total_known: AtomicBool::new(false),
            finished: AtomicBool::new(false),
        }
    }

    /// Starts printing progress on stderr: on a `terminal` a line rewritten in
    /// place, with an ETA from a count of the source's keys (a second, key-only
    /// listing, cheap next to the copy); otherwise a plain line every 10 s,
    /// without the count: nobody watches a log line's ETA, and the listing
    /// would load the source for nothing.
    fn start(
        self: Arc<Self>,
        from: Arc<dyn Store>,
        prefix: Prefix,
        terminal: bool,
    ) -> tokio::task::JoinHandle<()> {
        let counter = terminal.then(|| {
            let progress = self.clone();
            tokio::spawn(async move {
                let mut cursor = None;
                let mut total = 0_u64;
                loop {
                    let Ok(page) = from.list(&prefix, cursor.as_ref(), MAX_BATCH_LEN).await else {
                        return; // no ETA then; the copy reports its own errors
                    };
                    total += page.items.len() as u64;
                    match page.next {
                        Some(next) => cursor = Some(next),
                        None => break,
                    }
                }
                progress.total.store(total, Ordering::Relaxed);
                progress.total_known.store(true, Ordering::Relaxed);
            })
        });
        tokio::spawn(async move {
            let every = if terminal {
                Duration::from_millis(250)
            } else {
                Duration::from_secs(10)
            };
            let started = Instant::now();
            let mut last = Instant::now();
            while !self.finished.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if last.elapsed() < every {
                    continue;
                }
                last = Instant::now();
                let line = self.line(started.elapsed());
                if terminal {
                    eprint!("\r\x1b[K{line}");
                } else {
                    eprintln!("{line}");
                }
            }
            if let Some(counter) = counter {
                counter.abort();
            }
            if terminal {
                eprint!("\r\x1b[K");
            }
        })
    }

    /// `copied N[/TOTAL] entries, R/s, ETA T`.
    fn line(&self, elapsed: Duration) -> String {
        let copied = self.copied.load(Ordering::Relaxed);
        let rate = (copied - self.resumed_at) as f64 / elapsed.as_secs_f64().max(0.001);
        let mut line = format!("copy: {copied}");
        if self.total_known.load(Ordering::Relaxed) {
            let total = self.total.load(Ordering::Relaxed);
            line.push_str(&format!("/{total}"));
            let left = total.saturating_sub(copied);
            if rate > 0.0 {
                let eta = Duration::from_secs_f64(left as f64 / rate);
                line.push_str(&format!(" entries, {rate:.0}/s, ETA {}", clock(eta)));
                return line;
            }
        }
        line.push_str(&format!(" entries, {rate:.0}/s, ETA unknown"));
        line
    }
}

/// `h:mm:ss`.
fn clock(duration: Duration) -> String {
    let secs = duration.as_secs();
    format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use flowstore::encrypt::{EncryptedStore, EncryptionKey, Keyring};
    use flowstore::memory::MemoryStore;
    use flowstore::{Namespace, Ttl};

    use super::*;

    fn plan(prefix: &str, checkpoint: Option<PathBuf>) -> Plan {
        Plan {
            prefix: Prefix::new(prefix).unwrap(),
            batch: 7,
            jobs: 3,
            checkpoint,
            stop_after_pages: None,
            progress: false,
            source: side("sqlite://source.db"),
            target: side("sqlite://target.db"),
        }
    }

    fn side(url: &str) -> String {
        Side {
            url,
            namespace: "flow",
            encrypt_key_env: None,
            compress: false,
        }
        .fingerprint()
    }

    fn key(name: &str) -> Key {
        Key::new(name).unwrap()
    }

    fn encrypted(memory: &MemoryStore, byte: u8) -> Arc<dyn Store> {
        let keyring = Keyring::new(1, EncryptionKey::from_bytes(&[byte; 32]).unwrap());
        Arc::new(EncryptedStore::new(memory.clone(), keyring))
    }

    async fn fill(store: &Arc<dyn Store>, n: usize) {
        for i in 0..n {
            let value = format!("value {i}").into_bytes();
            let ttl = (i % 3 == 0).then(|| Ttl::from_secs(3600).unwrap());
            store
                .set(&key(&format!("p/{i:04}")), &value, ttl)
                .await
                .unwrap();
        }
        store.set(&key("q/not-copied"), b"x", None).await.unwrap();
    }

    #[tokio::test]
    async fn copy_reencrypts_for_another_key_and_namespace_and_keeps_ttls() {
        let source_memory = MemoryStore::new();
        let target_memory = MemoryStore::new().with_namespace(Namespace::new("moved").unwrap());
        let from = encrypted(&source_memory, 1);
        let to = encrypted(&target_memory, 2);
        fill(&from, 100).await;

        let report = copy(&from, &to, &plan("p/", None)).await.unwrap();
        assert_eq!(
            report,
            Report {
                copied: 100,
                held: 100
            }
        );
        check(report).unwrap();
        for i in [0, 1, 50, 99] {
            let k = key(&format!("p/{i:04}"));
            assert_eq!(
                to.get(&k).await.unwrap(),
                Some(format!("value {i}").into_bytes())
            );
            let (a, b) = (
                from.get_entry(&k).await.unwrap().unwrap().expires_at,
                to.get_entry(&k).await.unwrap().unwrap().expires_at,
            );
            assert_eq!(a.is_some(), i % 3 == 0);
            if let (Some(a), Some(b)) = (a, b) {
                let skew = a.duration_since(b).unwrap_or_else(|e| e.duration());
                assert!(skew < Duration::from_secs(1), "{skew:?}");
            }
        }
        assert_eq!(to.get(&key("q/not-copied")).await.unwrap(), None);
        // The target holds ciphertext under its own key: the source's key cannot read it.
        let wrong = encrypted(&target_memory, 1);
        let err = wrong.get(&key("p/0001")).await.unwrap_err();
        assert_eq!(err.kind(), flowstore::ErrorKind::Corrupt);
        // Copying again changes nothing and still checks out.
        let again = copy(&from, &to, &plan("p/", None)).await.unwrap();
        assert_eq!(
            again,
            Report {
                copied: 100,
                held: 100
            }
        );
    }

    #[tokio::test]
    async fn an_interrupted_copy_resumes_from_its_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("copy.checkpoint");
        let from: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let target = MemoryStore::new();
        let to: Arc<dyn Store> = Arc::new(target.clone());
        fill(&from, 100).await;

        let mut stopped = plan("p/", Some(path.clone()));
        stopped.stop_after_pages = Some(4);
        let failure = copy(&from, &to, &stopped).await.unwrap_err();
        assert!(
            failure.to_string().contains("stopped after 4 pages"),
            "{failure}"
        );
        let saved: Checkpoint =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(saved.copied, 28);
        assert!(!saved.done);
        // Pages past the checkpoint may have been copied already: re-copying is fine.
        let report = copy(&from, &to, &plan("p/", Some(path.clone())))
            .await
            .unwrap();
        assert_eq!(
            report,
            Report {
                copied: 100,
                held: 100
            }
        );
        let mut listed = Vec::new();
        crate::list::list_to(&to, &Prefix::all(), crate::list::Format::Plain, &mut listed)
            .await
            .unwrap();
        assert_eq!(String::from_utf8(listed).unwrap().lines().count(), 100);
        // A finished checkpoint copies nothing more and reports the same totals.
        let report = copy(&from, &to, &plan("p/", Some(path.clone())))
            .await
            .unwrap();
        assert_eq!(
            report,
            Report {
                copied: 100,
                held: 100
            }
        );
        // Another prefix with the same checkpoint file is refused.
        let failure = copy(&from, &to, &plan("q/", Some(path))).await.unwrap_err();
        assert!(
            failure
                .to_string()
                .contains("another source namespace or prefix")
        );
    }

    #[tokio::test]
    async fn a_checkpoint_is_refused_for_another_target_or_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("copy.checkpoint");
        let from: Arc<dyn Store> = Arc::new(MemoryStore::new());
        fill(&from, 20).await;
        let a: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let report = copy(&from, &a, &plan("p/", Some(path.clone())))
            .await
            .unwrap();
        assert_eq!(report.copied, 20);
        let saved = std::fs::read_to_string(&path).unwrap();
        assert!(!saved.contains("sqlite://"), "{saved}");

        // The same (finished) checkpoint with target B: refused, B untouched.
        let b = MemoryStore::new();
        let b_store: Arc<dyn Store> = Arc::new(b.clone());
        let mut to_b = plan("p/", Some(path.clone()));
        to_b.target = side("sqlite://other-target.db");
        let failure = copy(&from, &b_store, &to_b).await.unwrap_err();
        assert!(
            failure.to_string().contains("made for another target"),
            "{failure}"
        );
        assert_eq!(failure.exit_code(), 2);
        assert_eq!(b_store.get(&key("p/0000")).await.unwrap(), None);

        let mut from_elsewhere = plan("p/", Some(path.clone()));
        from_elsewhere.source = side("sqlite://other-source.db");
        let failure = copy(&from, &a, &from_elsewhere).await.unwrap_err();
        assert!(
            failure.to_string().contains("made for another source"),
            "{failure}"
        );
        // A checkpoint of the previous version (no fingerprints) is refused by its version.
        std::fs::write(
            &path,
            r#"{"format":"flowstore-copy-checkpoint","version":1,"namespace":"flow","prefix":"p/","cursor":null,"done":true,"copied":20,"held":20}"#,
        )
        .unwrap();
        let failure = copy(&from, &a, &plan("p/", Some(path))).await.unwrap_err();
        assert!(
            failure.to_string().contains("version 1 is not supported"),
            "{failure}"
        );
    }

    #[tokio::test]
    async fn a_page_is_copied_with_the_expiry_of_the_entry_read_not_the_listing() {
        let inner = MemoryStore::new();
        inner.set(&key("p/a"), b"a", None).await.unwrap();
        // Its listing says "expires in an hour"; the entry itself never expires.
        let from: Arc<dyn Store> = Arc::new(crate::read::tests::StaleListing {
            inner,
            versions: true,
        });
        let to: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let page = from.list(&Prefix::all(), None, 10).await.unwrap();
        assert!(page.items[0].expires_at.is_some());
        assert_eq!(copy_page(&from, &to, page.items).await.unwrap(), (1, 1));
        let copied = to.get_entry(&key("p/a")).await.unwrap().unwrap();
        assert_eq!(copied.value, b"a");
        assert_eq!(copied.expires_at, None);
    }

    #[test]
    fn a_mismatch_exits_2() {
        let failure = check(Report { copied: 5, held: 4 }).unwrap_err();
        assert_eq!(failure.exit_code(), 2);
        assert!(failure.to_string().contains("holds only 4 of them"));
    }

    /// Counts the listings of a memory store.
    #[derive(Debug)]
    struct CountingList(MemoryStore, AtomicU64);

    #[flowstore::async_trait]
    impl Store for CountingList {
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
        async fn list(
            &self,
            prefix: &Prefix,
            cursor: Option<&Cursor>,
            limit: usize,
        ) -> flowstore::Result<flowstore_core::ListPage> {
            self.1.fetch_add(1, Ordering::Relaxed);
            self.0.list(prefix, cursor, limit).await
        }
        fn namespace(&self) -> &Namespace {
            self.0.namespace()
        }
        fn capabilities(&self) -> flowstore::Capabilities {
            self.0.capabilities()
        }
    }

    #[tokio::test]
    async fn the_eta_count_lists_the_source_only_for_a_terminal() {
        let counting = Arc::new(CountingList(MemoryStore::new(), AtomicU64::new(0)));
        let from: Arc<dyn Store> = counting.clone();
        for terminal in [false, true] {
            counting.1.store(0, Ordering::Relaxed);
            let progress = Arc::new(Progress::new(0));
            let reporter = progress
                .clone()
                .start(from.clone(), Prefix::all(), terminal);
            tokio::time::sleep(Duration::from_millis(100)).await;
            progress.finished.store(true, Ordering::Relaxed);
            reporter.await.unwrap();
            assert_eq!(counting.1.load(Ordering::Relaxed) > 0, terminal);
            assert_eq!(progress.total_known.load(Ordering::Relaxed), terminal);
        }
    }

    #[test]
    fn progress_line_has_rate_and_eta() {
        let progress = Progress::new(0);
        progress.copied.store(500, Ordering::Relaxed);
        assert_eq!(
            progress.line(Duration::from_secs(5)),
            "copy: 500 entries, 100/s, ETA unknown"
        );
        progress.total.store(1_100, Ordering::Relaxed);
        progress.total_known.store(true, Ordering::Relaxed);
        assert_eq!(
            progress.line(Duration::from_secs(5)),
            "copy: 500/1100 entries, 100/s, ETA 0:00:06"
        );
    }
}
