//! Creating the table if it is missing, and checking its recorded schema version.

use deadpool_postgres::Client;
use flowstore_core::{Error, Result};

use crate::error::{Doing, Failure, map_error};
use deadpool_postgres::Transaction;

use crate::table::{
    CREATE_FORGET_VERSION_FUNCTION, FORGET_VERSION, META_TABLE, SCHEMA_VERSION, Sql, TableName,
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
    let pg = |err: tokio_postgres::Error| map_error(Doing::Open, Failure::Pg(err));
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
            add_versions(&tx, sql).await.map_err(pg)?;
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
            create_forget_version_trigger(&tx, sql).await.map_err(pg)?;
            record_version(&tx, table).await.map_err(pg)?;
        }
    }
    tx.commit().await.map_err(pg)?;
    Ok(())
}

/// Migrates a schema-1 table to schema 2: adds the `version` column (no table
/// rewrite; existing rows read as pseudo-versions) and the trigger that keeps
/// schema-1 writers still running from leaving a stale version behind.
async fn add_versions(tx: &Transaction<'_>, sql: &Sql) -> Result<(), tokio_postgres::Error> {
    tx.batch_execute(&sql.add_version_column).await?;
    create_forget_version_trigger(tx, sql).await
}

async fn create_forget_version_trigger(
    tx: &Transaction<'_>,
    sql: &Sql,
) -> Result<(), tokio_postgres::Error> {
    let missing: bool = tx
        .query_one(
            &format!("SELECT to_regprocedure('{FORGET_VERSION}()') IS NULL"),
            &[],
        )
        .await?
        .get(0);
    if missing {
        tx.batch_execute(CREATE_FORGET_VERSION_FUNCTION).await?;
    }
    tx.batch_execute(&sql.create_forget_version_trigger).await
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
