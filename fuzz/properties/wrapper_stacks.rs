//! A model-based property of wrapper stacks: random sequences of every
//! [`Store`] operation against random stacks of wrappers (encrypt, compress,
//! metrics, retry, default TTL, fallback) over memory stores, compared after
//! each step with a plain `BTreeMap`.
//!
//! A failing case is shrunk (operations, then wrappers, removed while it still
//! fails) and reported as the stack and the operations that remain.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use arbitrary::{Arbitrary, Unstructured};
use flowstore_compress::CompressLayer;
use flowstore_core::listing::{Prefix, SetItem};
use flowstore_core::{Condition, ErrorKind, Key, Layer, Store, Ttl, Version, apply_layers};
use flowstore_default_ttl::DefaultTtlLayer;
use flowstore_encrypt::{EncryptLayer, EncryptionKey, Keyring};
use flowstore_fallback::FallbackStore;
use flowstore_memory::MemoryStore;
use flowstore_metrics::MetricsLayer;
use flowstore_retry::{RetryLayer, RetryPolicy};

use super::block_on;

/// Keys the operations pick from: prefixes of one another, non-ASCII, spaces.
const KEYS: [&str; 7] = ["a", "a/b", "a/c", "ab", "b", "ü", "x y"];
/// Prefixes `list` and `delete_prefix` pick from.
const PREFIXES: [&str; 6] = ["", "a", "a/", "b", "ü", "z"];

/// A wrapper that can sit over one store (below a fallback) or over the whole stack.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wrapper {
    Encrypt,
    Compress {
        min_size: u8,
    },
    Metrics,
    Retry,
    /// Outer only: the fallback keeps expiries in its own envelope.
    DefaultTtl,
}

/// A stack: `stores` memory stores, each under its own wrappers (more than
/// one store: under a fallback), then `outer` wrappers over the whole.
#[derive(Arbitrary, Clone, Debug)]
pub struct Stack {
    stores: Vec<Vec<Wrapper>>,
    outer: Vec<Wrapper>,
}

/// How a conditional write or delete names the version it expects.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Expect {
    /// The key's current version (read first with `get_entry`).
    Current,
    /// A version never written.
    Stale,
}

/// A value: short, so that one input holds many operations; sometimes a
/// run of one byte repeated, so that the compress wrapper compresses it.
#[derive(Clone, PartialEq, Eq)]
pub struct Value(Vec<u8>);

impl<'a> Arbitrary<'a> for Value {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let len = u.int_in_range(0..=24)?;
        let bytes = u.bytes(len.min(u.len()))?.to_vec();
        Ok(Value(match u.int_in_range(0..=3)? {
            0 => bytes.repeat(usize::from(u.int_in_range(2u8..=100)?)),
            _ => bytes,
        }))
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() <= 32 {
            write!(f, "{:?}", self.0)
        } else {
            write!(f, "<{} bytes, starting {:?}>", self.0.len(), &self.0[..16])
        }
    }
}

/// A short list (of keys, or of batch items).
#[derive(Clone, Debug)]
pub struct Few<T>(Vec<T>);

impl<'a, T: Arbitrary<'a>> Arbitrary<'a> for Few<T> {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let len = u.int_in_range(0..=6)?;
        (0..len)
            .map(|_| T::arbitrary(u))
            .collect::<arbitrary::Result<_>>()
            .map(Few)
    }
}

#[derive(Arbitrary, Clone, Debug)]
pub enum Op {
    Get(u8),
    GetEntry(u8),
    Set {
        key: u8,
        value: Value,
        ttl: bool,
    },
    Delete(u8),
    SetIfAbsent {
        key: u8,
        value: Value,
    },
    SetIfVersion {
        key: u8,
        value: Value,
        expect: Expect,
        ttl: bool,
    },
    /// A conditional write repeated with the version it already wrote: the
    /// retry of a write whose answer was lost succeeds and writes nothing.
    SetIfRetried {
        key: u8,
        value: Value,
    },
    DeleteIf {
        key: u8,
        expect: Expect,
    },
    List {
        prefix: u8,
        limit: u8,
    },
    DeletePrefix(u8),
    GetMany(Few<u8>),
    SetMany(Few<(u8, Value)>),
    DeleteMany(Few<u8>),
    Touch {
        key: u8,
        ttl: bool,
    },
    Clear,
}

/// One key in the model.
#[derive(Clone, Debug)]
struct Modelled {
    value: Vec<u8>,
    /// Written with a TTL (or given one by `touch`).
    ttl: bool,
    /// The version it was written at, when the caller chose it (`set_if`).
    version: Option<Version>,
}

fn key(index: u8) -> Key {
    Key::new(KEYS[usize::from(index) % KEYS.len()]).expect("a valid key")
}

/// A TTL that does not run out during a run: the model has no clock.
fn long_ttl(on: bool) -> Option<Ttl> {
    on.then(|| Ttl::from_secs(24 * 3600).expect("a day"))
}

impl Stack {
    /// The stack as described: at most three stores, four wrappers per place,
    /// default TTL only over the whole.
    fn normalised(mut self) -> Stack {
        self.stores.truncate(3);
        if self.stores.is_empty() {
            self.stores.push(Vec::new());
        }
        for wrappers in &mut self.stores {
            wrappers.retain(|wrapper| *wrapper != Wrapper::DefaultTtl);
            wrappers.truncate(4);
        }
        self.outer.truncate(4);
        self
    }

    fn default_ttl(&self) -> bool {
        self.outer.contains(&Wrapper::DefaultTtl)
    }

    fn build(&self) -> Arc<dyn Store> {
        let stores: Vec<Arc<dyn Store>> = self
            .stores
            .iter()
            .map(|wrappers| wrap(Arc::new(MemoryStore::new()), wrappers))
            .collect();
        let base = if stores.len() == 1 {
            stores.into_iter().next().expect("one store")
        } else {
            Arc::new(FallbackStore::new(stores).expect("a fallback over memory stores"))
        };
        wrap(base, &self.outer)
    }
}

fn wrap(store: Arc<dyn Store>, wrappers: &[Wrapper]) -> Arc<dyn Store> {
    let layers: Vec<Box<dyn Layer>> = wrappers
        .iter()
        .map(|wrapper| -> Box<dyn Layer> {
            match *wrapper {
                Wrapper::Encrypt => {
                    let key = EncryptionKey::from_bytes(&[7; 32]).expect("32 bytes");
                    Box::new(EncryptLayer::new(Keyring::new(1, key)))
                }
                Wrapper::Compress { min_size } => {
                    Box::new(CompressLayer::new().min_size(usize::from(min_size)))
                }
                Wrapper::Metrics => Box::new(MetricsLayer::new()),
                Wrapper::Retry => Box::new(RetryLayer::new(RetryPolicy::new())),
                Wrapper::DefaultTtl => {
                    Box::new(DefaultTtlLayer::new(Ttl::from_secs(3600).expect("an hour")))
                }
            }
        })
        .collect();
    apply_layers(store, layers.iter().map(|layer| layer.as_ref()))
}

/// Wrapper stacks against the model: every operation's answer and, after
/// each, every key's value equal what a `BTreeMap` says; a shrunk
/// reproduction is printed when they do not.
pub fn wrapper_stacks(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(stack) = Stack::arbitrary(&mut u) else {
        return;
    };
    let mut stack = stack.normalised();
    // Operations until the input runs out (not `arbitrary`'s coin flip per
    // element, which makes long sequences rare).
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < 200 {
        match Op::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    let Err(first) = run(&stack, &ops) else {
        return;
    };
    shrink(&mut stack, &mut ops);
    let last = run(&stack, &ops).err().unwrap_or(first);
    panic!(
        "{}",
        Reproduction {
            stack: &stack,
            ops: &ops,
            failure: &last
        }
    );
}

/// Removes operations, then wrappers and stores, as long as the run still fails.
fn shrink(stack: &mut Stack, ops: &mut Vec<Op>) {
    // Everything after the failing step is noise.
    let mut chunk = ops.len().div_ceil(2).max(1);
    while chunk >= 1 {
        let mut at = 0;
        while at < ops.len() {
            let mut fewer = ops.clone();
            fewer.drain(at..(at + chunk).min(ops.len()));
            if run(stack, &fewer).is_err() {
                *ops = fewer;
            } else {
                at += chunk;
            }
        }
        if chunk == 1 {
            break;
        }
        chunk /= 2;
    }
    let mut changed = true;
    while changed {
        changed = false;
        let mut candidates = Vec::new();
        for index in 0..stack.outer.len() {
            let mut smaller = stack.clone();
            smaller.outer.remove(index);
            candidates.push(smaller);
        }
        for store in 0..stack.stores.len() {
            if stack.stores.len() > 1 {
                let mut smaller = stack.clone();
                smaller.stores.remove(store);
                candidates.push(smaller);
            }
            for index in 0..stack.stores[store].len() {
                let mut smaller = stack.clone();
                smaller.stores[store].remove(index);
                candidates.push(smaller);
            }
        }
        if let Some(smaller) = candidates
            .into_iter()
            .find(|smaller| run(smaller, ops).is_err())
        {
            *stack = smaller;
            changed = true;
        }
    }
}

struct Reproduction<'a> {
    stack: &'a Stack,
    ops: &'a [Op],
    failure: &'a str,
}

impl fmt::Display for Reproduction<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "wrapper stack disagrees with the model: {}",
            self.failure
        )?;
        writeln!(
            f,
            "minimal reproduction (keys {KEYS:?}, prefixes {PREFIXES:?}):"
        )?;
        writeln!(f, "  stack: {:?}", self.stack)?;
        for (step, op) in self.ops.iter().enumerate() {
            writeln!(f, "  {step}: {op:?}")?;
        }
        Ok(())
    }
}

/// Runs `ops` against a fresh `stack` and the model; the first disagreement.
fn run(stack: &Stack, ops: &[Op]) -> Result<(), String> {
    block_on(async {
        let store = stack.build();
        let mut model: BTreeMap<Key, Modelled> = BTreeMap::new();
        for (step, op) in ops.iter().enumerate() {
            apply(store.as_ref(), stack, &mut model, op)
                .await
                .map_err(|why| format!("step {step} ({op:?}): {why}"))?;
            check_all(store.as_ref(), &model)
                .await
                .map_err(|why| format!("after step {step} ({op:?}): {why}"))?;
        }
        Ok(())
    })
}

/// Every key reads as the model says.
async fn check_all(store: &dyn Store, model: &BTreeMap<Key, Modelled>) -> Result<(), String> {
    let keys: Vec<Key> = (0..KEYS.len() as u8).map(key).collect();
    let values = store
        .get_many(&keys)
        .await
        .map_err(|err| format!("get_many: {err}"))?;
    for (key, value) in keys.iter().zip(values) {
        let expected = model.get(key).map(|entry| &entry.value);
        if value.as_ref() != expected {
            return Err(format!(
                "{key:?} reads {value:?}, the model says {expected:?}"
            ));
        }
    }
    Ok(())
}

/// Checks that `result` is an error of `kind`.
fn expect_kind<T: fmt::Debug>(
    result: flowstore_core::Result<T>,
    kind: ErrorKind,
) -> Result<(), String> {
    match result {
        Err(err) if err.kind() == kind => Ok(()),
        other => Err(format!("expected a {kind:?} error, got {other:?}")),
    }
}

fn ok<T>(result: flowstore_core::Result<T>) -> Result<T, String> {
    result.map_err(|err| format!("unexpected error: {err}"))
}

/// The version a conditional operation expects, and whether it is the key's current one.
async fn expected_version(
    store: &dyn Store,
    model: &BTreeMap<Key, Modelled>,
    key: &Key,
    expect: Expect,
) -> Result<(Version, bool), String> {
    match (expect, model.get(key)) {
        (Expect::Current, Some(modelled)) => {
            let entry = ok(store.get_entry(key).await)?
                .ok_or_else(|| format!("get_entry: {key:?} is absent, the model has it"))?;
            if modelled
                .version
                .as_ref()
                .is_some_and(|known| *known != entry.version)
            {
                return Err(format!(
                    "{key:?} is at {:?}, it was written at {:?}",
                    entry.version, modelled.version
                ));
            }
            Ok((entry.version, true))
        }
        _ => Ok((Version::generate(), false)),
    }
}

async fn apply(
    store: &dyn Store,
    stack: &Stack,
    model: &mut BTreeMap<Key, Modelled>,
    op: &Op,
) -> Result<(), String> {
    let caps = store.capabilities();
    match op {
        Op::Get(index) => {
            let key = key(*index);
            let found = ok(store.get(&key).await)?;
            let expected = model.get(&key).map(|entry| entry.value.clone());
            if found != expected {
                return Err(format!(
                    "get {key:?} = {found:?}, the model says {expected:?}"
                ));
            }
        }
        Op::GetEntry(index) => {
            let key = key(*index);
            if !caps.versions {
                return expect_kind(store.get_entry(&key).await, ErrorKind::Unsupported);
            }
            let found = ok(store.get_entry(&key).await)?;
            match (found, model.get(&key)) {
                (None, None) => {}
                (Some(entry), Some(modelled)) => {
                    if entry.value != modelled.value {
                        return Err(format!(
                            "get_entry {key:?}: value {:?}, the model says {:?}",
                            entry.value, modelled.value
                        ));
                    }
                    if modelled
                        .version
                        .as_ref()
                        .is_some_and(|known| *known != entry.version)
                    {
                        return Err(format!(
                            "get_entry {key:?}: version {:?}, written at {:?}",
                            entry.version, modelled.version
                        ));
                    }
                    let expires = modelled.ttl || stack.default_ttl();
                    if caps.ttl && entry.expires_at.is_some() != expires {
                        return Err(format!(
                            "get_entry {key:?}: expiry {:?}, the model says a TTL: {expires}",
                            entry.expires_at
                        ));
                    }
                }
                (found, expected) => {
                    return Err(format!(
                        "get_entry {key:?} = {:?}, the model says {:?}",
                        found.map(|e| e.value),
                        expected.map(|e| &e.value)
                    ));
                }
            }
        }
        Op::Set {
            key: index,
            value: Value(value),
            ttl,
        } => {
            let key = key(*index);
            ok(store.set(&key, value, long_ttl(*ttl)).await)?;
            model.insert(
                key,
                Modelled {
                    value: value.clone(),
                    ttl: *ttl,
                    version: None,
                },
            );
        }
        Op::Delete(index) => {
            let key = key(*index);
            ok(store.delete(&key).await)?;
            model.remove(&key);
        }
        Op::SetIfAbsent {
            key: index,
            value: Value(value),
        } => {
            let key = key(*index);
            let version = Version::generate();
            let result = store
                .set_if(&key, value, None, &Condition::Absent, &version)
                .await;
            if !caps.versions {
                return expect_kind(result, ErrorKind::Unsupported);
            }
            if model.contains_key(&key) {
                return expect_kind(result, ErrorKind::Conflict);
            }
            ok(result)?;
            model.insert(
                key,
                Modelled {
                    value: value.clone(),
                    ttl: false,
                    version: Some(version),
                },
            );
        }
        Op::SetIfVersion {
            key: index,
            value: Value(value),
            expect,
            ttl,
        } => {
            let key = key(*index);
            if !caps.versions {
                let result = store
                    .set_if(
                        &key,
                        value,
                        None,
                        &Condition::Matches(Version::generate()),
                        &Version::generate(),
                    )
                    .await;
                return expect_kind(result, ErrorKind::Unsupported);
            }
            let (expected, current) = expected_version(store, model, &key, *expect).await?;
            let version = Version::generate();
            let result = store
                .set_if(
                    &key,
                    value,
                    long_ttl(*ttl),
                    &Condition::Matches(expected),
                    &version,
                )
                .await;
            if !current {
                return expect_kind(result, ErrorKind::Conflict);
            }
            ok(result)?;
            model.insert(
                key,
                Modelled {
                    value: value.clone(),
                    ttl: *ttl,
                    version: Some(version),
                },
            );
        }
        Op::SetIfRetried {
            key: index,
            value: Value(value),
        } => {
            let key = key(*index);
            if !caps.versions {
                return Ok(());
            }
            let version = Version::generate();
            ok(store
                .set_if(&key, value, None, &Condition::Always, &version)
                .await)?;
            model.insert(
                key.clone(),
                Modelled {
                    value: value.clone(),
                    ttl: false,
                    version: Some(version.clone()),
                },
            );
            // The retry, with another value: the key is already at `version`.
            let mut other = value.clone();
            other.push(0xAA);
            ok(store
                .set_if(&key, &other, None, &Condition::Absent, &version)
                .await)?;
        }
        Op::DeleteIf { key: index, expect } => {
            let key = key(*index);
            if !caps.versions {
                return expect_kind(
                    store.delete_if(&key, &Version::generate()).await,
                    ErrorKind::Unsupported,
                );
            }
            let (expected, current) = expected_version(store, model, &key, *expect).await?;
            let result = store.delete_if(&key, &expected).await;
            if !current {
                return expect_kind(result, ErrorKind::Conflict);
            }
            ok(result)?;
            model.remove(&key);
        }
        Op::List { prefix, limit } => {
            let prefix = Prefix::new(PREFIXES[usize::from(*prefix) % PREFIXES.len()])
                .expect("a valid prefix");
            let limit = usize::from(*limit % 8) + 1;
            if !caps.list {
                return expect_kind(
                    store.list(&prefix, None, limit).await,
                    ErrorKind::Unsupported,
                );
            }
            let mut listed = Vec::new();
            let mut cursor = None;
            for _ in 0..100 {
                let page = ok(store.list(&prefix, cursor.as_ref(), limit).await)?;
                if page.items.len() > limit {
                    return Err(format!(
                        "a page of {} items, the limit is {limit}",
                        page.items.len()
                    ));
                }
                listed.extend(page.items.into_iter().map(|item| item.key));
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            let expected: Vec<Key> = model
                .keys()
                .filter(|key| prefix.matches(key.as_str()))
                .cloned()
                .collect();
            if !caps.list_ordered {
                listed.sort();
                listed.dedup();
            }
            if listed != expected {
                return Err(format!(
                    "list {prefix:?} = {listed:?}, the model says {expected:?}"
                ));
            }
        }
        Op::DeletePrefix(prefix) => {
            let prefix = Prefix::new(PREFIXES[usize::from(*prefix) % PREFIXES.len()])
                .expect("a valid prefix");
            if !caps.list {
                return expect_kind(store.delete_prefix(&prefix).await, ErrorKind::Unsupported);
            }
            let deleted = ok(store.delete_prefix(&prefix).await)?;
            let before = model.len();
            model.retain(|key, _| !prefix.matches(key.as_str()));
            let expected = (before - model.len()) as u64;
            if deleted != expected {
                return Err(format!(
                    "delete_prefix {prefix:?} deleted {deleted}, the model says {expected}"
                ));
            }
        }
        Op::GetMany(Few(indexes)) => {
            let keys: Vec<Key> = indexes.iter().take(20).map(|index| key(*index)).collect();
            let found = ok(store.get_many(&keys).await)?;
            let expected: Vec<Option<Vec<u8>>> = keys
                .iter()
                .map(|key| model.get(key).map(|entry| entry.value.clone()))
                .collect();
            if found != expected {
                return Err(format!(
                    "get_many {keys:?} = {found:?}, the model says {expected:?}"
                ));
            }
        }
        Op::SetMany(Few(items)) => {
            let keyed: Vec<(Key, &Vec<u8>)> = items
                .iter()
                .take(20)
                .map(|(index, Value(value))| (key(*index), value))
                .collect();
            let batch: Vec<SetItem<'_>> = keyed
                .iter()
                .map(|(key, value)| SetItem::new(key, value, None))
                .collect();
            ok(store.set_many(&batch).await)?;
            for (key, value) in keyed {
                model.insert(
                    key,
                    Modelled {
                        value: value.clone(),
                        ttl: false,
                        version: None,
                    },
                );
            }
        }
        Op::DeleteMany(Few(indexes)) => {
            let keys: Vec<Key> = indexes.iter().take(20).map(|index| key(*index)).collect();
            ok(store.delete_many(&keys).await)?;
            for key in &keys {
                model.remove(key);
            }
        }
        Op::Touch { key: index, ttl } => {
            let key = key(*index);
            let result = store.touch(&key, long_ttl(*ttl)).await;
            if !caps.touch {
                return expect_kind(result, ErrorKind::Unsupported);
            }
            let touched = ok(result)?;
            if touched != model.contains_key(&key) {
                return Err(format!(
                    "touch {key:?} = {touched}, the model has it: {}",
                    !touched
                ));
            }
            if let Some(entry) = model.get_mut(&key) {
                entry.ttl = *ttl;
                // A touched entry gets a new version.
                entry.version = None;
            }
        }
        Op::Clear => {
            ok(store.clear().await)?;
            model.clear();
        }
    }
    Ok(())
}
