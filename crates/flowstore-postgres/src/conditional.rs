//! Conditional writes (SPEC §8): running the one statement of a `set_if` or a
//! `delete_if` and reading its answer.
//!
//! The statement (see `Sql::set_if`, `Sql::delete_if`) decides on the server
//! and returns whether it wrote, plus the key's entry version as the
//! statement's snapshot saw it. Under READ COMMITTED the write itself judges
//! the newest committed row, which the snapshot may predate; so when the
//! snapshot says the write should have happened but it did not, a concurrent
//! write got there first, and one more `SELECT` reads the version that beat
//! it. That extra round trip is taken only on this conflict path.

use deadpool_postgres::Client;
use flowstore_core::version::{conflict, decide_write};
use flowstore_core::{Condition, Entry, Error, Result, Version};
use tokio_postgres::Row as PgRow;
use tokio_postgres::types::ToSql;

use crate::table::Sql;
use crate::writer::Row;

/// The caller's answer, or the statement's failure (which the caller maps).
type Answered = std::result::Result<Result<()>, tokio_postgres::Error>;

/// Writes `row` at its version if it meets its condition.
pub(crate) async fn set_if(client: &Client, sql: &Sql, row: &Row) -> Answered {
    let Some(proposed) = &row.version else {
        return Ok(Err(Error::invalid_argument(
            "a conditional write needs the version it writes",
        )));
    };
    let (namespace, key, version) = (&*row.namespace, row.key.as_str(), proposed.as_str());
    let reply = match &row.condition {
        Condition::Matches(expected) => {
            let statement = client.prepare_cached(&sql.set_if_matches).await?;
            let params: [&(dyn ToSql + Sync); 6] = [
                &namespace,
                &key,
                &row.value,
                &row.ttl_ms,
                &version,
                &expected.as_str(),
            ];
            client.query_one(&statement, &params).await?
        }
        Condition::Always | Condition::Absent => {
            let absent = row.condition == Condition::Absent;
            let statement = client.prepare_cached(&sql.set_if_upsert).await?;
            let params: [&(dyn ToSql + Sync); 6] =
                [&namespace, &key, &row.value, &row.ttl_ms, &version, &absent];
            client.query_one(&statement, &params).await?
        }
    };
    let (written, snapshot) = match read_reply(&reply) {
        Ok(read) => read,
        Err(err) => return Ok(Err(err)),
    };
    if written {
        return Ok(Ok(()));
    }
    match decide_write(&row.condition, proposed, snapshot.as_ref()) {
        // The snapshot shows the caller's own earlier attempt.
        Ok(false) => Ok(Ok(())),
        Err(conflict) => Ok(Err(conflict)),
        // The snapshot admitted the write, the newest row did not.
        Ok(true) => {
            let latest = match current_version(client, sql, row).await? {
                Ok(latest) => latest,
                Err(err) => return Ok(Err(err)),
            };
            Ok(
                match decide_write(&row.condition, proposed, latest.as_ref()) {
                    Ok(false) => Ok(()),
                    Err(conflict) => Err(conflict),
                    // Changed and changed back to a state admitting the write
                    // (re-created, say) between the two statements: it lost a
                    // race all the same, and what the key holds is not known.
                    Ok(true) => Err(Error::conflict(
                        "the condition failed: the key changed while the write was made",
                        None,
                    )),
                },
            )
        }
    }
}

/// Deletes `row`'s key if it is at the version `row.condition` expects.
pub(crate) async fn delete_if(client: &Client, sql: &Sql, row: &Row) -> Answered {
    let Condition::Matches(expected) = &row.condition else {
        return Ok(Err(Error::invalid_argument(
            "a conditional delete needs the version it expects",
        )));
    };
    let statement = client.prepare_cached(&sql.delete_if).await?;
    let reply = client
        .query_one(
            &statement,
            &[&&*row.namespace, &row.key, &expected.as_str()],
        )
        .await?;
    let (deleted, snapshot) = match read_reply(&reply) {
        Ok(read) => read,
        Err(err) => return Ok(Err(err)),
    };
    if deleted {
        return Ok(Ok(()));
    }
    if snapshot.as_ref() != Some(expected) {
        return Ok(Err(conflict(snapshot)));
    }
    // The snapshot was at the expected version, the newest row was not.
    Ok(match current_version(client, sql, row).await? {
        Ok(latest) if latest.as_ref() != Some(expected) => Err(conflict(latest)),
        Ok(_) => Err(Error::conflict(
            "the condition failed: the key changed while the delete was made",
            None,
        )),
        Err(err) => Err(err),
    })
}

/// The key's live entry version now (a statement of its own).
async fn current_version(
    client: &Client,
    sql: &Sql,
    row: &Row,
) -> std::result::Result<Result<Option<Version>>, tokio_postgres::Error> {
    let statement = client.prepare_cached(&sql.current_version).await?;
    let reply = client
        .query_opt(&statement, &[&&*row.namespace, &row.key])
        .await?;
    Ok(match reply {
        None => Ok(None),
        Some(reply) => stored_version(reply.try_get(0)?).map(Some),
    })
}

/// Whether the statement wrote, and the live version its snapshot saw.
fn read_reply(reply: &PgRow) -> Result<(bool, Option<Version>)> {
    let pg = |err: tokio_postgres::Error| {
        Error::backend(format!("unexpected answer to a conditional write: {err}"))
    };
    let written: bool = reply.try_get(0).map_err(pg)?;
    let version: Option<String> = reply.try_get(1).map_err(pg)?;
    let live: bool = reply.try_get(2).map_err(pg)?;
    let snapshot = match version {
        Some(version) if live => Some(stored_version(version)?),
        _ => None,
    };
    Ok((written, snapshot))
}

/// An entry as `Sql::get_entry` returns it.
pub(crate) fn read_entry(
    reply: &PgRow,
) -> std::result::Result<Result<Entry>, tokio_postgres::Error> {
    let value: Vec<u8> = reply.try_get(0)?;
    let version: String = reply.try_get(1)?;
    let expires_at: Option<std::time::SystemTime> = reply.try_get(2)?;
    Ok(stored_version(version).map(|version| Entry::new(value, version, expires_at)))
}

/// A version read from the table. Only flowstore writes the column, so an
/// invalid one means the row was edited by hand: `Corrupt`, never "absent".
fn stored_version(text: String) -> Result<Version> {
    Version::from_stored(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::PSEUDO_VERSION_PREFIX;

    #[test]
    fn pseudo_versions_are_valid_and_never_generated() {
        let pseudo = stored_version(format!("{PSEUDO_VERSION_PREFIX}4294967295")).unwrap();
        assert!(pseudo.as_str().contains('.'));
        // Generated versions are three hex numbers joined by '-'.
        for _ in 0..100 {
            assert!(!Version::generate().as_str().contains('.'));
        }
    }

    #[test]
    fn an_invalid_stored_version_is_corrupt() {
        let err = stored_version("not a version".into()).unwrap_err();
        assert_eq!(err.kind(), flowstore_core::ErrorKind::Corrupt);
        assert!(!err.message().contains("not a version"));
    }
}
