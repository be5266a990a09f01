//! `get`, `set`, `delete` and `clear` (and the confirmation `delete --prefix` shares).

use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::sync::Arc;

use flowstore::{Error, ErrorKind, Key, Store, Ttl};

use crate::failure::Failure;

/// What a command that did not fail found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Done (exit 0).
    Done,
    /// `get` found no value (exit 1).
    Absent,
}

/// Checks a key from the command line. Raw bytes, so a non-UTF-8 argument is an
/// `InvalidKey` error like any other bad key, not a usage error.
pub(crate) fn parse_key(key: &OsString) -> Result<Key, Failure> {
    Key::from_bytes(key.as_encoded_bytes())
        .map_err(|err| Failure::store(format_args!("key {:?}", key.to_string_lossy()), &err))
}

pub(crate) async fn get(store: &Arc<dyn Store>, key: &Key) -> Result<Outcome, Failure> {
    match store.get(key).await {
        Ok(Some(value)) => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(&value)
                .and_then(|()| stdout.flush())
                .map_err(|err| Failure::io("writing the value to stdout", &err))?;
            Ok(Outcome::Done)
        }
        Ok(None) => Ok(Outcome::Absent),
        Err(err) => Err(Failure::store(format_args!("get {:?}", key.as_str()), &err)),
    }
}

pub(crate) fn parse_ttl(ttl: Option<&str>) -> Result<Option<Ttl>, Failure> {
    parse_ttl_option("--ttl", ttl)
}

/// The TTL given to the option `option`, if any; a bad one names the option.
pub(crate) fn parse_ttl_option(option: &str, ttl: Option<&str>) -> Result<Option<Ttl>, Failure> {
    ttl.map(|text| {
        text.parse::<Ttl>()
            .map_err(|err| Failure::store(option, &err))
    })
    .transpose()
}

pub(crate) async fn set(
    store: &Arc<dyn Store>,
    key: &Key,
    value: Option<OsString>,
    ttl: Option<Ttl>,
) -> Result<Outcome, Failure> {
    let context = || format!("set {:?}", key.as_str());
    let value = value_of(store, value).map_err(|err| Failure::store(context(), &err))?;
    store
        .set(key, &value, ttl)
        .await
        .map_err(|err| Failure::store(context(), &err))?;
    Ok(Outcome::Done)
}

/// The value of `set`: the argument, or stdin when it is absent or `-`.
pub(crate) fn value_of(store: &Arc<dyn Store>, value: Option<OsString>) -> Result<Vec<u8>, Error> {
    match value {
        Some(value) if value != "-" => Ok(value.into_encoded_bytes()),
        _ => read_stdin(store.max_value_size()),
    }
}

/// Reads all of stdin, but never more than one byte over `limit`: a longer value
/// is refused without reading (or holding) the rest.
fn read_stdin(limit: usize) -> Result<Vec<u8>, Error> {
    let mut value = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    std::io::stdin()
        .lock()
        .take(cap)
        .read_to_end(&mut value)
        .map_err(|err| Error::backend("cannot read the value from stdin").with_source(err))?;
    if value.len() > limit {
        return Err(Error::new(
            ErrorKind::ValueTooLarge,
            format!(
                "the value on stdin is over the store's limit of {limit} bytes; nothing was written"
            ),
        ));
    }
    Ok(value)
}

pub(crate) async fn delete(store: &Arc<dyn Store>, key: &Key) -> Result<Outcome, Failure> {
    store
        .delete(key)
        .await
        .map_err(|err| Failure::store(format_args!("delete {:?}", key.as_str()), &err))?;
    Ok(Outcome::Done)
}

/// Refuses early (before the store is even opened) when `command` (`clear`,
/// `delete --prefix`) can neither skip nor ask for confirmation.
pub(crate) fn confirm_precheck(command: &str, yes: bool) -> Result<(), Failure> {
    if yes || std::io::stdin().is_terminal() {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "{command}: refusing without --yes when stdin is not a terminal; nothing was deleted"
        )))
    }
}

pub(crate) async fn clear(store: &Arc<dyn Store>, yes: bool) -> Result<Outcome, Failure> {
    if !yes {
        let namespace = store.namespace().as_str();
        confirm(
            "clear",
            &format!("Delete every key in namespace {namespace:?}?"),
        )?;
    }
    store
        .clear()
        .await
        .map_err(|err| Failure::store("clear", &err))?;
    Ok(Outcome::Done)
}

/// `acknowledge-data-loss`: the store serves reads again after a data loss.
pub(crate) async fn acknowledge_data_loss(store: &Arc<dyn Store>) -> Result<Outcome, Failure> {
    store
        .acknowledge_data_loss()
        .await
        .map_err(|err| Failure::store("acknowledge-data-loss", &err))?;
    eprintln!("data loss acknowledged: reads are served again; lost keys read as absent");
    Ok(Outcome::Done)
}

/// Asks `question` on stderr and reads the answer from stdin (a terminal, as
/// [`confirm_precheck`] made sure); anything but yes refuses.
pub(crate) fn confirm(command: &str, question: &str) -> Result<(), Failure> {
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|err| Failure::io(format_args!("{command}: reading the answer"), &err))?;
    match answer.trim() {
        "y" | "Y" | "yes" | "YES" | "Yes" => Ok(()),
        _ => Err(Failure::new(format!(
            "{command}: not confirmed; nothing was deleted"
        ))),
    }
}
