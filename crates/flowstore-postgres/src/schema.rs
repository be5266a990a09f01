//! Creating the table if it is missing, and checking its recorded schema version.

use deadpool_postgres::Client;
use flowstore_core::{Error, Result};

use crate::error::{Doing, Failure, map_error};
use deadpool_postgres::Transaction;

use crate::table::{
    FORGET_VERSION, FORGET_VERSION_BODY, KeyOrder, META_TABLE, SCHEMA_VERSION, Sql, TableName,
    forget_version_function,
};

/// The schema version before entry versions, still migrated on open.
const SCHEMA_VERSION_BEFORE_VERSIONS: i32 = 1;

/// The advisory lock every flowstore process takes (for the length of one
/// transaction) while it checks or creates tables: the bytes of `flowstor`.
pub(crate) const SCHEMA_LOCK_KEY: i64 = 0x666c_6f77_7374_6f72;

/// Server encodings that store every valid key unchanged.
const ENCODINGS: [&str; 2] = ["UTF8", "SQL_ASCII"];

/// Makes sure `table` exists with a schema version this build understands.
///
/// One transaction holding [`SCHEMA_LOCK_KEY`] as a transaction-scoped
/// advisory lock, so processes starting at the same time never race on
/// `CREATE TABLE`: the first creates the tables, the others wait for its
/// commit and then find them. When everything exists this only reads, so a
/// role without `CREATE` privilege can open an existing table.
pub(crate) async fn ensure(client: &mut Client, table: &TableName, sql: &Sql) -> Result<()> {
    let pg = open_error;
    let tx = client.transaction().await.map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK_KEY])
        .await
        .map_err(pg)?;
    let row = tx
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL, \
             current_setting('server_encoding')",
            &[&format!("\"{META_TABLE}\""), &table.quoted()],
        )
        .await
        .map_err(pg)?;
    let meta_exists: bool = row.get(0);
    let table_exists: bool = row.get(1);
    let encoding: String = row.get(2);
    if !ENCODINGS.contains(&encoding.as_str()) {
        return Err(Error::config(format!(
            "the database's encoding is {encoding}; flowstore needs UTF8 so that every key round-trips"
        )));
    }
    if !meta_exists {
        tx.batch_execute(&format!(
            "CREATE TABLE \"{META_TABLE}\" (\
             table_name text PRIMARY KEY, \
             schema_version integer NOT NULL, \
             created_at timestamptz NOT NULL DEFAULT now(), \
             updated_at timestamptz NOT NULL DEFAULT now())"
        ))
        .await
        .map_err(pg)?;
    }
    let version: Option<i32> = tx
        .query_opt(
            &format!("SELECT schema_version FROM \"{META_TABLE}\" WHERE table_name = $1"),
            &[&table.as_str()],
        )
        .await
        .map_err(pg)?
        .map(|row| row.get(0));
    match (version, table_exists) {
        (Some(version), true) if version == SCHEMA_VERSION => {}
        (Some(SCHEMA_VERSION_BEFORE_VERSIONS), true) => {
            // Under the same lock, so one process migrates and the others
            // then find version 2.
            add_versions(&tx, sql).await?;
            record_version(&tx, table).await.map_err(pg)?;
        }
        (Some(version), true) if version > SCHEMA_VERSION => {
            return Err(Error::config(format!(
                "table `{table}` has schema version {version}, newer than this flowstore-postgres understands ({SCHEMA_VERSION}); upgrade flowstore-postgres"
            )));
        }
        (Some(version), true) => {
            return Err(Error::config(format!(
                "table `{table}` has unknown schema version {version} (this flowstore-postgres knows {SCHEMA_VERSION})"
            )));
        }
        (None, true) => {
            return Err(Error::config(format!(
                "table `{table}` exists but was not created by flowstore (no row in {META_TABLE}); choose another table name"
            )));
        }
        (_, false) => {
            // Missing (or dropped since): create it and record its version.
            tx.batch_execute(&sql.create_table).await.map_err(pg)?;
            tx.batch_execute(&sql.create_index).await.map_err(pg)?;
            create_forget_version_trigger(&tx, sql).await?;
            record_version(&tx, table).await.map_err(pg)?;
        }
    }
    tx.commit().await.map_err(pg)?;
    Ok(())
}

/// Migrates a schema-1 table to schema 2: adds the `version` column (no table
/// rewrite; existing rows read as pseudo-versions) and the trigger that keeps
/// schema-1 writers still running from leaving a stale version behind.
async fn add_versions(tx: &Transaction<'_>, sql: &Sql) -> Result<(), Error> {
    tx.batch_execute(&sql.add_version_column)
        .await
        .map_err(open_error)?;
    create_forget_version_trigger(tx, sql).await
}

/// Creates the table's trigger, and its function in the table's schema (the
/// current one) when that schema has none yet.
///
/// The function runs inside every write, where it sees the stored values, so
/// it is found and named schema-qualified (never through `search_path`), and
/// an existing one is used only if it is flowstore's (the same body) and owned
/// by a role this user is a member of: a function of that name that someone
/// else created or could rewrite is refused with a `Config` error.
async fn create_forget_version_trigger(tx: &Transaction<'_>, sql: &Sql) -> Result<(), Error> {
    let row = tx
        .query_one(
            "SELECT quote_ident(current_schema()), \
             (SELECT p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
              WHERE n.nspname = current_schema() AND p.proname = $1 AND p.pronargs = 0), \
             (SELECT pg_has_role(current_user, p.proowner, 'MEMBER') FROM pg_proc p \
              JOIN pg_namespace n ON n.oid = p.pronamespace \
              WHERE n.nspname = current_schema() AND p.proname = $1 AND p.pronargs = 0)",
            &[&FORGET_VERSION],
        )
        .await
        .map_err(open_error)?;
    let schema: Option<String> = row.get(0);
    let schema = schema.ok_or_else(|| {
        Error::config("no current schema: the search_path names no schema that exists")
    })?;
    let body: Option<String> = row.get(1);
    let owned: Option<bool> = row.get(2);
    match (body, owned) {
        (None, _) => tx
            .batch_execute(&forget_version_function(&schema))
            .await
            .map_err(open_error)?,
        (Some(body), Some(true)) if body.trim() == FORGET_VERSION_BODY.trim() => {}
        _ => {
            return Err(Error::config(format!(
                "schema {schema} has a function {FORGET_VERSION}() that is not flowstore's, or is owned by a role this user is not a member of; drop it, or give flowstore a schema of its own"
            )));
        }
    }
    tx.batch_execute(&sql.forget_version_trigger(&schema))
        .await
        .map_err(open_error)
}

/// How listing must compare `table`'s keys to get UTF-8 byte order: the
/// key column's collation, resolved through the database default, sorts in
/// byte order only when it is `C` or `POSIX` with the libc provider (an ICU
/// default, or a linguistic locale such as `en_US.UTF-8`, does not). The
/// database's provider column exists from PostgreSQL 15 on, so it is read
/// through `to_jsonb` (NULL before: libc). Anything unrecognised gets the
/// explicit `COLLATE "C"`, which is always correct.
pub(crate) async fn key_order(client: &Client, table: &TableName) -> Result<KeyOrder> {
    let row = client
        .query_one(
            "SELECT c.collname::text, d.datcollate::text, \
                    coalesce(to_jsonb(d) ->> 'datlocprovider', 'c') \
             FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation \
             CROSS JOIN pg_database d \
             WHERE a.attrelid = to_regclass($1) AND a.attname = 'key' \
             AND d.datname = current_database()",
            &[&table.quoted()],
        )
        .await
        .map_err(open_error)?;
    let column: String = row.get(0);
    let database: String = row.get(1);
    let provider: String = row.get(2);
    let byte_order = |name: &str| matches!(name, "C" | "POSIX");
    let sorted =
        byte_order(&column) || (column == "default" && byte_order(&database) && provider == "c");
    Ok(if sorted {
        KeyOrder::Column
    } else {
        KeyOrder::CollateC
    })
}

/// An error of a statement run while the store opens.
fn open_error(err: tokio_postgres::Error) -> Error {
    map_error(Doing::Open, Failure::Pg(err))
}

/// Records that `table` is at [`SCHEMA_VERSION`].
async fn record_version(
    tx: &Transaction<'_>,
    table: &TableName,
) -> Result<(), tokio_postgres::Error> {
    tx.execute(
        &format!(
            "INSERT INTO \"{META_TABLE}\" (table_name, schema_version) VALUES ($1, $2) \
             ON CONFLICT (table_name) DO UPDATE \
             SET schema_version = EXCLUDED.schema_version, updated_at = now()"
        ),
        &[&table.as_str(), &SCHEMA_VERSION],
    )
    .await
    .map(drop)
}
