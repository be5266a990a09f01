//! The command line, as clap sees it.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use flowstore::{Namespace, StackOptions};

use crate::bench::BenchArgs;
use crate::failure::Failure;

/// The store used when neither `--store` nor `FLOWSTORE_URL` is given.
pub(crate) const DEFAULT_STORE: &str = "sqlite://flowstore.db";

/// Declares a struct of the per-store options (namespace and wrappers), its
/// long names prefixed with `$prefix`: the global options (no prefix) and the
/// two sides of `copy` (`--from-…`, `--to-…`) are one definition.
macro_rules! store_options {
    ($(#[$meta:meta])* $name:ident, prefix = $prefix:literal, global = $global:literal) => {
        $(#[$meta])*
        #[derive(Debug, Args)]
        pub(crate) struct $name {
            /// The namespace [default: the URL's ?namespace=, else `flow`]
            #[arg(id = concat!($prefix, "namespace"), long = concat!($prefix, "namespace"),
                  global = $global, value_name = "NS")]
            pub(crate) namespace: Option<String>,

            /// Encrypt values (AES-256-GCM) with the 32-byte key, hex or base64, held in
            /// the environment variable VAR (the key itself is never an argument)
            #[arg(id = concat!($prefix, "encrypt-key-env"),
                  long = concat!($prefix, "encrypt-key-env"), global = $global,
                  value_name = "VAR")]
            pub(crate) encrypt_key_env: Option<String>,

            /// Compress values (lz4) before they are stored (and before encryption)
            #[arg(id = concat!($prefix, "compress"), long = concat!($prefix, "compress"),
                  global = $global)]
            pub(crate) compress: bool,

            /// Retry operations that fail temporarily (unavailable, timeout) up to N times
            #[arg(id = concat!($prefix, "retry"), long = concat!($prefix, "retry"),
                  global = $global, value_name = "N",
                  value_parser = clap::value_parser!(u32).range(0..=100))]
            pub(crate) retry: Option<u32>,

            /// A store to fall back to while the store fails (repeatable, in order)
            #[arg(id = concat!($prefix, "fallback"), long = concat!($prefix, "fallback"),
                  global = $global, value_name = "URL")]
            pub(crate) fallback: Vec<String>,

            /// Give every write that carries no TTL this one (e.g. 30d): with `serve`,
            /// saved state that clients never asked to expire still expires
            #[arg(id = concat!($prefix, "default-ttl"), long = concat!($prefix, "default-ttl"),
                  global = $global, value_name = "DURATION")]
            pub(crate) default_ttl: Option<String>,
        }

        impl $name {
            /// The namespace option, checked (`None`: the URL's, else `flow`).
            pub(crate) fn namespace(&self) -> Result<Option<Namespace>, Failure> {
                self.namespace
                    .as_deref()
                    .map(|ns| {
                        Namespace::new(ns).map_err(|err| {
                            Failure::store(concat!("--", $prefix, "namespace"), &err)
                        })
                    })
                    .transpose()
            }

            /// The wrapper stack of these options, with the metrics wrapper when
            /// `metrics`; reads the encryption key from its variable.
            pub(crate) fn stack(&self, metrics: bool) -> Result<StackOptions, Failure> {
                crate::stack::build(
                    &crate::stack::Wrappers {
                        prefix: $prefix,
                        encrypt_key_env: self.encrypt_key_env.as_deref(),
                        compress: self.compress,
                        retry: self.retry,
                        fallback: &self.fallback,
                        default_ttl: self.default_ttl.as_deref(),
                    },
                    metrics,
                )
            }

            /// Whether any of these options was given (`copy` refuses the global ones).
            #[allow(dead_code, reason = "only the global options are checked")]
            pub(crate) fn any(&self) -> bool {
                self.namespace.is_some()
                    || self.encrypt_key_env.is_some()
                    || self.compress
                    || self.retry.is_some()
                    || !self.fallback.is_empty()
                    || self.default_ttl.is_some()
            }
        }
    };
}

store_options!(
    /// The namespace and wrapper options of `--store`, accepted by every command.
    StoreOptions, prefix = "", global = true
);
store_options!(
    /// The namespace and wrapper options of `copy --from`.
    FromOptions, prefix = "from-", global = false
);
store_options!(
    /// The namespace and wrapper options of `copy --to`.
    ToOptions, prefix = "to-", global = false
);

/// Save, load and benchmark state in any flowstore store.
///
/// Exit status: 0 on success, 1 when `get`, `stat` or `flows show` finds nothing, 2 on any
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

    #[command(flatten)]
    pub(crate) options: StoreOptions,

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
    /// Remove KEY (removing a missing key succeeds, unless --if-version), or
    /// with --prefix every key that starts with P.
    Delete {
        /// The key (put `--` before a key that starts with `-`).
        #[arg(value_name = "KEY", required_unless_present = "prefix")]
        key: Option<OsString>,
        /// Remove only if the key's entry version is V (see `stat`); otherwise
        /// exit 3 and remove nothing (an absent key is a failed condition too).
        #[arg(long, value_name = "V", conflicts_with = "prefix")]
        if_version: Option<String>,
        /// Remove every key of the namespace that starts with P (literal text, no
        /// glob) and print how many went; asks first unless --yes. An empty P
        /// (every key) needs --all as well.
        #[arg(long, value_name = "P", conflicts_with = "key")]
        prefix: Option<String>,
        /// With `--prefix ""`: yes, every key of the namespace. Refused with any
        /// other prefix (it would not mean "all").
        #[arg(long, requires = "prefix")]
        all: bool,
        /// Do not ask. Without it, `delete --prefix` asks on a terminal and
        /// refuses otherwise.
        #[arg(long, short, requires = "prefix")]
        yes: bool,
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
    /// List the keys that start with PREFIX (every key without one), one a line.
    ///
    /// Control characters and `\` in a key are escaped as in error messages
    /// (`\n`, `\t`, `\u{1b}`, `\\`); -0 prints raw keys ended by NUL instead.
    List(ListArgs),
    /// Write the keys that start with --prefix, their values and expiries as
    /// JSON Lines (format `flowstore-export` version 1, see docs/formats.md).
    Export(ExportArgs),
    /// Write the entries of an export (FILE, or stdin) into the store; an entry
    /// whose expiry has passed is skipped, others keep their expiry.
    Import(ImportArgs),
    /// Copy the keys that start with --prefix, with their values and remaining
    /// TTLs, from one store to another (resumable with --checkpoint).
    ///
    /// Values travel decoded: each side has its own namespace and wrapper
    /// options (--from-…, --to-…). Ends by reading back what it wrote and exits
    /// 2 if the target does not hold every entry copied.
    Copy(Box<CopyArgs>),
    /// Acknowledge that the store lost data it had acknowledged (reads fail
    /// with `data_loss`, e.g. a Redis that restarted without persistence or was
    /// flushed): reads are served again, and the lost keys read as absent.
    /// Once per Redis server, from any process: every process sharing it
    /// follows within about a second. Restore what you can first (an export,
    /// the other side of a copy).
    AcknowledgeDataLoss,
    /// Inspect the flows saved in the original useflow design's JSON and key
    /// layout (`useflow:{flowId}:{variantId}:{instanceId}`), as flowstore-flow
    /// and the TypeScript front ends save them.
    #[command(subcommand)]
    Flows(FlowsCommand),
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

/// Options of `flowstore list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only keys that start with this text (literal: no glob or LIKE meaning).
    #[arg(value_name = "PREFIX", default_value = "")]
    pub(crate) prefix: String,
    /// Print raw keys, each followed by a NUL byte, instead of escaped lines.
    #[arg(short = '0', long = "null", conflicts_with_all = ["long", "json"])]
    pub(crate) null: bool,
    /// Also print each key's entry version, expiry (RFC 3339 UTC or `never`) and
    /// stored size, tab-separated before the key.
    #[arg(long, short, conflicts_with = "json")]
    pub(crate) long: bool,
    /// Print one JSON object a line: {"key","version","expires_at","size"}.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `flowstore flows …`.
#[derive(Debug, Subcommand)]
pub(crate) enum FlowsCommand {
    /// List the saved instances of FLOW_ID, one a line: instance id, variant id,
    /// step, status, saved-at (RFC 3339 UTC, or `-`) and schema version (or `-`),
    /// tab-separated.
    ///
    /// A stored value under the flow's prefix that is not a valid flow is named
    /// (with its key) on stderr, the listing goes on, and the command exits 2
    /// at the end.
    List(FlowsListArgs),
    /// Print the stored JSON of one instance, pretty-printed but otherwise as
    /// stored (fields in their order, unknown fields and numbers untouched);
    /// exit 1 if there is none.
    Show(FlowsShowArgs),
}

/// Options of `flowstore flows list`.
#[derive(Debug, Args)]
pub(crate) struct FlowsListArgs {
    /// The flow (`flowId`), e.g. `onboarding`.
    #[arg(value_name = "FLOW_ID")]
    pub(crate) flow_id: String,
    /// Print one JSON object a line: {"key","instance_id","variant_id","step",
    /// "status","saved_at","schema_version"} (null for a missing saved-at or
    /// schema version).
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) layout: FlowLayoutArgs,
}

/// Options of `flowstore flows show`.
#[derive(Debug, Args)]
pub(crate) struct FlowsShowArgs {
    /// The flow (`flowId`), e.g. `onboarding`.
    #[arg(value_name = "FLOW_ID")]
    pub(crate) flow_id: String,
    /// The instance (`instanceId`).
    #[arg(long, value_name = "I", default_value = flowstore_flow::DEFAULT_ID)]
    pub(crate) instance: String,
    /// The variant (`variantId`).
    #[arg(long, value_name = "V", default_value = flowstore_flow::DEFAULT_ID)]
    pub(crate) variant: String,
    #[command(flatten)]
    pub(crate) layout: FlowLayoutArgs,
}

/// The key layout of `flows`: the original design's, with its first segment.
#[derive(Debug, Args)]
pub(crate) struct FlowLayoutArgs {
    /// The first segment of the keys (`P:{flowId}:{variantId}:{instanceId}`):
    /// non-empty, without `:`.
    #[arg(long, value_name = "P", default_value = flowstore_flow::DEFAULT_PREFIX)]
    pub(crate) prefix: String,
}

/// Options of `flowstore export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Only keys that start with this text [default: every key].
    #[arg(long, value_name = "P", default_value = "")]
    pub(crate) prefix: String,
    /// Write to FILE (replaced once the export is complete) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
}

/// Options of `flowstore import`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The export to read; absent or `-` reads stdin.
    #[arg(value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,
    /// Never overwrite: write each entry only if its key is absent (needs a store
    /// with entry versions; others are refused).
    #[arg(long)]
    pub(crate) if_absent: bool,
}

/// Options of `flowstore copy`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Copy options")]
pub(crate) struct CopyArgs {
    /// The store to read (same forms as --store).
    #[arg(long, value_name = "URL")]
    pub(crate) from: String,
    /// The store to write.
    #[arg(long, value_name = "URL")]
    pub(crate) to: String,
    /// Only keys that start with this text [default: every key].
    #[arg(long, value_name = "P", default_value = "")]
    pub(crate) prefix: String,
    /// Keys per listing page and batch (1 to 1000).
    #[arg(long, value_name = "N", default_value_t = 500,
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub(crate) batch: u16,
    /// Pages copied at once.
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) jobs: u16,
    /// Record progress in FILE after each page; re-running with the same FILE
    /// resumes after the last page fully copied.
    #[arg(long, value_name = "FILE")]
    pub(crate) checkpoint: Option<PathBuf>,
    /// Stop (exit 2) once N pages are checkpointed: simulates an interruption in tests.
    #[arg(long, value_name = "N", hide = true)]
    pub(crate) stop_after_pages: Option<u64>,
    #[command(flatten, next_help_heading = "Source options (the store of --from)")]
    pub(crate) from_options: FromOptions,
    #[command(flatten, next_help_heading = "Target options (the store of --to)")]
    pub(crate) to_options: ToOptions,
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

    /// Serve the web console at {base}/console/ (static pages; the data they
    /// show needs the token like any other request).
    #[arg(long)]
    pub(crate) console: bool,
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn copy_takes_each_sides_options_by_prefix() {
        let cli = Cli::try_parse_from([
            "flowstore",
            "copy",
            "--from",
            "sqlite://a.db",
            "--to",
            "sqlite://b.db",
            "--from-namespace",
            "old",
            "--to-namespace",
            "new",
            "--from-encrypt-key-env",
            "A",
            "--to-encrypt-key-env",
            "B",
            "--to-compress",
            "--prefix",
            "p/",
        ])
        .unwrap();
        let Command::Copy(args) = cli.command else {
            panic!("not copy");
        };
        assert_eq!(args.from_options.namespace.as_deref(), Some("old"));
        assert_eq!(args.to_options.namespace.as_deref(), Some("new"));
        assert_eq!(args.from_options.encrypt_key_env.as_deref(), Some("A"));
        assert_eq!(args.to_options.encrypt_key_env.as_deref(), Some("B"));
        assert!(args.to_options.compress && !args.from_options.compress);
        assert!(!cli.options.any());
        // The global options stay global; the prefixed ones exist only on copy.
        assert!(Cli::try_parse_from(["flowstore", "get", "k", "--namespace", "n"]).is_ok());
        assert!(Cli::try_parse_from(["flowstore", "get", "k", "--to-namespace", "n"]).is_err());
        assert!(Cli::try_parse_from(["flowstore", "delete", "k", "--prefix", "p"]).is_err());
        assert!(Cli::try_parse_from(["flowstore", "delete", "--prefix", "p", "--yes"]).is_ok());
        assert!(Cli::try_parse_from(["flowstore", "list", "-0", "--json"]).is_err());
    }
}
