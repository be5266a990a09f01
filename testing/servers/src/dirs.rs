//! Where each server's files go, and cleaning up after servers whose owner is gone.

use std::env;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::context;

/// The directory under which servers get their data directories (see the module docs).
pub fn servers_dir() -> PathBuf {
    if let Some(dir) = env::var_os("FLOWSTORE_SERVERS_DIR") {
        return PathBuf::from(dir);
    }
    let target = env::current_exe().ok().and_then(|exe| {
        exe.ancestors()
            .skip(1)
            .find(|dir| dir.join("CACHEDIR.TAG").is_file())
            .map(Path::to_path_buf)
    });
    match target {
        Some(target) => target.join("xtask").join("servers"),
        None => env::temp_dir().join("flowstore-servers"),
    }
}

/// Creates a fresh, empty directory `<parent>/<kind>-<pid>-<n>` and removes
/// directories left behind by processes that no longer exist.
pub(crate) fn fresh_dir(parent: &Path, kind: &str) -> io::Result<PathBuf> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    fs::create_dir_all(parent)
        .map_err(|e| context(e, format!("cannot create {}", parent.display())))?;
    remove_stale_dirs(parent);
    let pid = std::process::id();
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!("{kind}-{pid}-{n}"));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // A leftover of an earlier process with the same pid: reuse the name
                // after clearing it.
                let _ = fs::remove_dir_all(&dir);
            }
            Err(e) => return Err(context(e, format!("cannot create {}", dir.display()))),
        }
    }
}

pub(crate) fn remove_stale_dirs(parent: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let mut parts = name.rsplitn(3, '-');
        let (Some(_n), Some(pid), Some(_kind)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

pub(crate) fn keep_dirs() -> bool {
    env::var_os("FLOWSTORE_KEEP_SERVER_DIRS").is_some_and(|v| !v.is_empty() && v != "0")
}

pub(crate) fn remove_dir(dir: &Path) {
    if !keep_dirs() {
        let _ = fs::remove_dir_all(dir);
    }
}

/// The last few lines of a log file, for error messages.
pub(crate) fn log_tail(path: &Path) -> String {
    const MAX: u64 = 2000;
    let Ok(mut file) = fs::File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(MAX)));
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    format!("last lines of {}:\n{}", path.display(), text.trim_end())
}
