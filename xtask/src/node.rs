//! Node.js for the JavaScript round trip of `flowstore-flow`
//! (`tests/tests/flow_js_roundtrip.rs` runs `tests/js/flow-roundtrip.mjs`):
//! installed from Debian (`nodejs`) when `node` is not on `PATH`.

use std::process::Command;

use crate::util::{self, which};

/// The oldest Node.js with `fetch`, which the APIStore of the test uses.
const MIN_MAJOR: u32 = 18;

/// Makes sure `node` is on `PATH`: installs Debian's `nodejs` when it is
/// missing and we can (root and apt-get); otherwise fails with the command to
/// run. The test fails without it rather than skipping, so this is no option.
pub(crate) fn ensure_node() -> Result<(), String> {
    if which("node").is_some() {
        return check_version();
    }
    util::apt_install(
        &["nodejs"],
        "the JavaScript round trip test (Node.js 18 or later)",
    )?;
    if which("node").is_none() {
        return Err("installed nodejs but node is still not on PATH".into());
    }
    check_version()
}

/// Fails naming the version found when `node` is older than [`MIN_MAJOR`]
/// (Debian bullseye's `nodejs` is 12), instead of letting the test fail with
/// a puzzling "fetch is not defined".
fn check_version() -> Result<(), String> {
    let output = Command::new("node")
        .arg("--version")
        .output()
        .map_err(|err| format!("cannot run node --version: {err}"))?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|major| major.parse::<u32>().ok());
    match major {
        Some(major) if major >= MIN_MAJOR => Ok(()),
        _ => Err(format!(
            "the JavaScript round trip test needs Node.js {MIN_MAJOR} or later; `node --version` says {version:?}"
        )),
    }
}
