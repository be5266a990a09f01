//! The table name rule, and every SQL statement the store sends.

use std::fmt;

use flowstore_core::{Error, Result};

/// A validated PostgreSQL table name.
///
/// Allowed: 1 to 63 bytes of lower-case ASCII letters, digits and `_`, not
/// starting with a digit (`^[a-z_][a-z0-9_]{0,62}$`). PostgreSQL silently
/// truncates identifiers longer than 63 bytes, so a longer name would quietly
/// refer to another table; it is refused instead. The name is still always
/// double-quoted in SQL, so reserved words such as `user` work too.
/// `flowstore_meta` is reserved for the schema-version table.
///
/// ```
/// use flowstore_postgres::TableName;
/// use flowstore_core::ErrorKind;
///
/// assert!(TableName::new("flow_state").is_ok());
/// assert_eq!(TableName::new("Flow").unwrap_err().kind(), ErrorKind::Config);
/// assert_eq!(TableName::new("a\"; DROP TABLE x; --").unwrap_err().kind(), ErrorKind::Config);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TableName(Box<str>);

impl TableName {
    /// The table used when none is given.
    pub const DEFAULT: &'static str = "flowstore";

    /// The longest name PostgreSQL keeps without truncating it, in bytes.
    pub const MAX_LEN: usize = 63;

    /// Checks `name` against the allowlist; anything else is a `Config` error.
    pub fn new(name: &str) -> Result<TableName> {
        let bad = |why: &str| {
            // The name is echoed only when it is short and printable, so a
            // hostile name cannot smuggle control characters into a log line.
            let shown = if name.len() <= 80 && name.chars().all(|c| !c.is_control()) {
                format!(" {name:?}")
            } else {
                String::new()
            };
            Error::config(format!(
                "invalid table name{shown}: {why} (allowed: 1 to 63 bytes of a-z, 0-9 and _, not starting with a digit)"
            ))
        };
        if name.is_empty() {
            return Err(bad("it is empty"));
        }
        if name.len() > TableName::MAX_LEN {
            return Err(bad(
                "it is longer than 63 bytes, which PostgreSQL would truncate",
            ));
        }
        let mut bytes = name.bytes();
        let first_ok = bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
        if !first_ok {
            return Err(bad("it must start with a-z or _"));
        }
        if !bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err(bad("it contains a character outside a-z, 0-9 and _"));
        }
        if name == META_TABLE {
            return Err(bad(
                "`flowstore_meta` is reserved for flowstore's schema versions",
            ));
        }
        Ok(TableName(name.into()))
    }

    /// The name, unquoted.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name double-quoted for SQL. The allowlist admits no `"`, so quoting
    /// cannot be escaped from.
    pub(crate) fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

impl Default for TableName {
    fn default() -> Self {
        TableName(TableName::DEFAULT.into())
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TableName({:?})", &*self.0)
    }
}

impl TryFrom<&str> for TableName {
    type Error = Error;

    fn try_from(name: &str) -> Result<TableName> {
        TableName::new(name)
    }
}

impl std::str::FromStr for TableName {
    type Err = Error;

    fn from_str(name: &str) -> Result<TableName> {
        TableName::new(name)
    }
}

/// The table recording each flowstore table's schema version.
pub(crate) const META_TABLE: &str = "flowstore_meta";

/// The schema version this build creates and understands.
pub(crate) const SCHEMA_VERSION: i32 = 1;

/// The statements for one table, built once per store from the validated name.
#[derive(Debug)]
pub(crate) struct Sql {
    pub(crate) get: String,
    pub(crate) upsert_one: String,
    pub(crate) upsert_many: String,
    pub(crate) delete_one: String,
    pub(crate) delete_many: String,
    pub(crate) clear_batch: String,
    pub(crate) sweep_batch: String,
    pub(crate) create_table: String,
    pub(crate) create_index: String,
}

impl Sql {
    pub(crate) fn new(table: &TableName) -> Sql {
        let t = table.quoted();
        // `now()` is the server's clock at the start of the statement's
        // transaction: expiry is judged by the server, never by our clock.
        // `NULL * interval` is NULL, so a NULL TTL means "no expiry".
        let expires = "now() + ms * interval '1 millisecond'";
        Sql {
            get: format!(
                "SELECT value FROM {t} WHERE namespace = $1 AND key = $2 \
                 AND (expires_at IS NULL OR expires_at > now())"
            ),
            upsert_one: format!(
                "INSERT INTO {t} (namespace, key, value, expires_at) \
                 VALUES ($1, $2, $3, now() + $4::int8 * interval '1 millisecond') \
                 ON CONFLICT (namespace, key) DO UPDATE \
                 SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at"
            ),
            upsert_many: format!(
                "INSERT INTO {t} (namespace, key, value, expires_at) \
                 SELECT n, k, v, {expires} \
                 FROM unnest($1::text[], $2::text[], $3::bytea[], $4::int8[]) AS b(n, k, v, ms) \
                 ON CONFLICT (namespace, key) DO UPDATE \
                 SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at"
            ),
            delete_one: format!("DELETE FROM {t} WHERE namespace = $1 AND key = $2"),
            delete_many: format!(
                "DELETE FROM {t} AS t USING unnest($1::text[], $2::text[]) AS b(n, k) \
                 WHERE t.namespace = b.n AND t.key = b.k"
            ),
            clear_batch: format!(
                "DELETE FROM {t} WHERE namespace = $1 AND key IN \
                 (SELECT key FROM {t} WHERE namespace = $1 LIMIT $2)"
            ),
            // SKIP LOCKED: several processes sweeping the same table, or a
            // writer holding a row, never make the sweep wait.
            sweep_batch: format!(
                "DELETE FROM {t} WHERE (namespace, key) IN \
                 (SELECT namespace, key FROM {t} WHERE expires_at <= now() \
                  LIMIT $1 FOR UPDATE SKIP LOCKED)"
            ),
            create_table: format!(
                "CREATE TABLE {t} (\
                 namespace text NOT NULL, \
                 key text NOT NULL, \
                 value bytea NOT NULL, \
                 expires_at timestamptz NULL, \
                 PRIMARY KEY (namespace, key))"
            ),
            // No index name: PostgreSQL picks a free one, so a 63-byte table
            // name cannot make a derived index name collide or truncate.
            create_index: format!("CREATE INDEX ON {t} (expires_at) WHERE expires_at IS NOT NULL"),
        }
    }
}

#[cfg(test)]
mod tests {
    use flowstore_core::ErrorKind;

    use super::*;

    #[test]
    fn accepts_the_allowlist() {
        for name in [
            "flowstore",
            "_x",
            "a",
            "state_2",
            &"a".repeat(63),
            "user",
            "select",
        ] {
            let table = TableName::new(name).unwrap();
            assert_eq!(table.as_str(), name);
            assert_eq!(table.quoted(), format!("\"{name}\""));
        }
    }

    #[test]
    fn refuses_everything_else_with_config() {
        let long = "a".repeat(64);
        for name in [
            "",
            &long,
            "Flow",
            "1abc",
            "a-b",
            "a b",
            "a.b",
            "public.flow",
            "a\"b",
            "a'b",
            "x; DROP TABLE y",
            "é",
            "a\0b",
            "flowstore_meta",
            "ﬂow",
        ] {
            let err = TableName::new(name).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{name:?}");
        }
    }

    #[test]
    fn multibyte_names_are_measured_in_bytes() {
        // 32 two-byte characters: 64 bytes, and not ASCII anyway.
        assert!(TableName::new(&"é".repeat(32)).is_err());
    }

    #[test]
    fn statements_quote_the_table() {
        let sql = Sql::new(&TableName::new("user").unwrap());
        assert!(sql.get.contains("FROM \"user\" WHERE"));
        assert!(sql.create_table.starts_with("CREATE TABLE \"user\" ("));
    }
}
