//! Entry versions on the command line (SPEC §7, §8): `stat`, `set --if-version`
//! / `--if-absent` and `delete --if-version`.
//!
//! A conditional `set` prints the new entry version on stdout (a plain `set`
//! stays silent), so a script can chain read-modify-write steps; a failed
//! condition exits with 3 (see [`Failure::store`]).

use std::ffi::OsString;
use std::io::Write;
use std::sync::Arc;

use flowstore::{Condition, Entry, Key, Store, StoreExt, Ttl, Version};
use flowstore_server::protocol::format_expires_at;

use crate::cli::SetCondition;
use crate::commands::{Outcome, value_of};
use crate::failure::Failure;

/// The entry version given to `option`, if any.
pub(crate) fn parse_version(option: &str, text: Option<&str>) -> Result<Option<Version>, Failure> {
    text.map(|text| Version::new(text).map_err(|err| Failure::store(option, &err)))
        .transpose()
}

/// The condition of `set`, `None` for a plain set.
pub(crate) fn parse_condition(condition: &SetCondition) -> Result<Option<Condition>, Failure> {
    if condition.if_absent {
        return Ok(Some(Condition::Absent));
    }
    Ok(parse_version("--if-version", condition.if_version.as_deref())?.map(Condition::Matches))
}

pub(crate) async fn set_if(
    store: &Arc<dyn Store>,
    key: &Key,
    value: Option<OsString>,
    ttl: Option<Ttl>,
    condition: &Condition,
) -> Result<Outcome, Failure> {
    let context = || format!("set {:?}", key.as_str());
    let value = value_of(store, value).map_err(|err| Failure::store(context(), &err))?;
    // One version per invocation: `--retry` reuses it, so a retry whose first
    // attempt went through finds its own write instead of a conflict.
    let version = Version::generate();
    store
        .set_if(key, &value, ttl, condition, &version)
        .await
        .map_err(|err| Failure::store(context(), &err))?;
    print_stdout(&format!("{version}\n"))?;
    Ok(Outcome::Done)
}

pub(crate) async fn delete_if(
    store: &Arc<dyn Store>,
    key: &Key,
    expected: &Version,
) -> Result<Outcome, Failure> {
    store
        .delete_if_version(key, expected)
        .await
        .map_err(|err| Failure::store(format_args!("delete {:?}", key.as_str()), &err))?;
    Ok(Outcome::Done)
}

pub(crate) async fn stat(
    store: &Arc<dyn Store>,
    key: &Key,
    json: bool,
) -> Result<Outcome, Failure> {
    let entry = store
        .get_entry(key)
        .await
        .map_err(|err| Failure::store(format_args!("stat {:?}", key.as_str()), &err))?;
    let Some(entry) = entry else {
        return Ok(Outcome::Absent);
    };
    print_stdout(&describe(&entry, json))?;
    Ok(Outcome::Done)
}

/// What `stat` prints: the version, the expiry (RFC 3339 UTC, or never) and the
/// value's size in bytes, never the value.
fn describe(entry: &Entry, json: bool) -> String {
    let expires_at = entry.expires_at.map(format_expires_at);
    if json {
        let object = serde_json::json!({
            "version": entry.version.as_str(),
            "expires_at": expires_at,
            "size": entry.value.len(),
        });
        return format!("{object}\n");
    }
    format!(
        "version {}\nexpires {}\nsize {}\n",
        entry.version,
        expires_at.as_deref().unwrap_or("never"),
        entry.value.len()
    )
}

fn print_stdout(text: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|err| Failure::io("writing to stdout", &err))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn stat_shows_version_expiry_and_size_never_the_value() {
        let version = Version::new("v1").unwrap();
        let entry = Entry::new(b"secret".to_vec(), version.clone(), None);
        assert_eq!(
            describe(&entry, false),
            "version v1\nexpires never\nsize 6\n"
        );
        let at = UNIX_EPOCH + Duration::from_millis(951_827_696_789);
        let entry = Entry::new(b"secret".to_vec(), version, Some(at));
        assert_eq!(
            describe(&entry, true),
            "{\"expires_at\":\"2000-02-29T12:34:56.789Z\",\"size\":6,\"version\":\"v1\"}\n"
        );
    }
}
