//! The command line, as clap sees it.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::bench::BenchArgs;

/// The store used when neither `--store` nor `FLOWSTORE_URL` is given.
pub(crate) const DEFAULT_STORE: &str = "sqlite://flowstore.db";

/// Save, load and benchmark state in any flowstore store.
///
/// Exit status: 0 on success, 1 when `get` or `stat` finds no value, 2 on any
/// error, 3 when a condition (`--if-version`, `--if-absent`) failed (with a
/// one-line message on stderr).
#[derive(Debug, Parser)]
#[command(name = "flowstore", version, max_term_width = 100)]
pub(crate) struct Cli {
    /// The store: sqlite://relative/path.db, sqlite:///absolute/path.db, memory://,
    /// postgres://…, redis://…, redis-cluster://…, redis-sentinel://…, http://…
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "FLOWSTORE_URL",
        hide_env_values = true,
        default_value = DEFAULT_STORE
    )]
    pub(crate) store: String,

    /// The namespace [default: the URL's ?namespace=, else `flow`]
    #[arg(long, global = true, value_name = "NS")]
    pub(crate) namespace: Option<String>,

    /// Encrypt values (AES-256-GCM) with the 32-byte key, hex or base64, held in
    /// the environment variable VAR (the key itself is never an argument)
    #[arg(long, global = true, value_name = "VAR")]
    pub(crate) encrypt_key_env: Option<String>,

    /// Compress values (lz4) before they are stored (and before encryption)
    #[arg(long, global = true)]
    pub(crate) compress: bool,

    /// Retry operations that fail temporarily (unavailable, timeout) up to N times
    #[arg(long, global = true, value_name = "N",
          value_parser = clap::value_parser!(u32).range(0..=100))]
    pub(crate) retry: Option<u32>,

    /// A store to fall back to while --store fails (repeatable, in order)
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) fallback: Vec<String>,

    /// Give every write that carries no TTL this one (e.g. 30d): with `serve`,
    /// saved state that clients never asked to expire still expires
    #[arg(long, global = true, value_name = "DURATION")]
    pub(crate) default_ttl: Option<String>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Write the value of KEY to stdout, byte for byte; exit 1 if there is none.
    Get {
        /// The key (put `--` before a key that starts with `-`).
        #[arg(value_name = "KEY")]
        key: OsString,
    },
    /// Store VALUE (or stdin, when VALUE is absent or `-`) under KEY.
    Set {
        /// The key (put `--` before a key that starts with `-`).
        #[arg(value_name = "KEY")]
        key: OsString,
        /// The value; absent or `-` reads it from stdin (binary-safe).
        #[arg(value_name = "VALUE")]
        value: Option<OsString>,
        /// Expire the entry after this long: 500ms, 30s, 15m, 12h, 7d.
        #[arg(long, value_name = "DURATION")]
        ttl: Option<String>,
        #[command(flatten)]
        condition: SetCondition,
    },
    /// Remove KEY (removing a missing key succeeds, unless --if-version).
    Delete {
        /// The key (put `--` before a key that starts with `-`).
        #[arg(value_name = "KEY")]
        key: OsString,
        /// Remove only if the key's entry version is V (see `stat`); otherwise
        /// exit 3 and remove nothing (an absent key is a failed condition too).
        #[arg(long, value_name = "V")]
        if_version: Option<String>,
    },
    /// Print KEY's entry version, expiry and value size; exit 1 if there is none.
    ///
    /// Text: `version V`, `expires RFC3339|never`, `size N` on three lines.
    /// With --json: {"version":"V","expires_at":"RFC3339"|null,"size":N}.
    Stat {
        /// The key (put `--` before a key that starts with `-`).
        #[arg(value_name = "KEY")]
        key: OsString,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Remove every key of the namespace (asks first unless --yes).
    Clear {
        /// Do not ask. Without it, `clear` asks on a terminal and refuses otherwise.
        #[arg(long, short)]
        yes: bool,
    },
    /// Measure throughput and latency of `set` or `get` on the store.
    Bench(BenchCommandArgs),
    /// Serve the store over HTTP (GET/PUT/DELETE /states/{key}) until SIGTERM or Ctrl-C.
    ///
    /// Prints `listening on ADDR` (the real address) on stdout once it accepts
    /// requests; logs go to stderr (level from RUST_LOG, default info). With a
    /// token (FLOWSTORE_TOKEN or --token-file) every route but /healthz needs
    /// `Authorization: Bearer TOKEN`.
    Serve(ServeArgs),
}

/// The conditions of `flowstore set`: at most one. A conditional set prints
/// the new entry version on stdout; a failed condition exits with 3.
#[derive(Debug, Args)]
#[group(multiple = false)]
pub(crate) struct SetCondition {
    /// Write only if the key's entry version is V (see `stat`).
    #[arg(long, value_name = "V")]
    pub(crate) if_version: Option<String>,

    /// Write only if the key is absent (or expired).
    #[arg(long)]
    pub(crate) if_absent: bool,
}

/// Options of `flowstore serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = flowstore_server::DEFAULT_LISTEN)]
    pub(crate) listen: String,

    /// Read the bearer token from this file [default: $FLOWSTORE_TOKEN, else no token]
    #[arg(long, value_name = "PATH")]
    pub(crate) token_file: Option<PathBuf>,

    /// Allow browsers on ORIGIN to call the server (CORS); repeatable, `*` for any.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub(crate) allow_origins: Vec<String>,

    /// Listen on a non-loopback address without a token (only behind something
    /// that authenticates requests).
    #[arg(long)]
    pub(crate) insecure_no_token: bool,
}

/// Options of `flowstore bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchCommandArgs {
    #[command(flatten)]
    pub(crate) bench: BenchArgs,

    /// Runs of the workload, one after another [default: 1].
    #[arg(long, value_name = "R", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) runs: Option<u32>,
}
