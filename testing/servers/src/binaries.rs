//! Finding the servers' programs, and how to install them when missing.

use std::env;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::process::which;

/// The Debian packages providing the servers, as an install command.
pub const APT_INSTALL_COMMAND: &str = "apt-get install -y redis-server postgresql openssl";

/// The PostgreSQL programs [`Postgres`] uses.
const POSTGRES_PROGRAMS: [&str; 5] = ["initdb", "postgres", "pg_ctl", "pg_isready", "createdb"];

/// The `redis-server` binary on `PATH`, if any.
pub fn redis_server_binary() -> Option<PathBuf> {
    which("redis-server")
}

/// The directory holding PostgreSQL's server binaries (`initdb`, `postgres`,
/// `pg_ctl`, `pg_isready`, `createdb`), if any: `$FLOWSTORE_PG_BIN`, else the directory of `initdb` on
/// `PATH`, else the newest `/usr/lib/postgresql/<version>/bin`.
pub fn postgres_bin_dir() -> Option<PathBuf> {
    let complete = |dir: &Path| POSTGRES_PROGRAMS.iter().all(|b| dir.join(b).is_file());
    if let Some(dir) = env::var_os("FLOWSTORE_PG_BIN") {
        let dir = PathBuf::from(dir);
        return complete(&dir).then_some(dir);
    }
    // `initdb` may be a symlink into the real bin dir (which has the other programs).
    let on_path = which("initdb").and_then(|p| p.canonicalize().ok());
    if let Some(dir) = on_path.and_then(|p| p.parent().map(Path::to_path_buf))
        && complete(&dir)
    {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.split('.').next()?.parse().ok()?;
            let bin = e.path().join("bin");
            complete(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

pub(crate) fn missing(what: &str, package: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{what} not found; install it with `apt-get install -y {package}` (as root)"),
    )
}
