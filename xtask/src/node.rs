//! Node.js for the JavaScript round trip of `flowstore-flow`
//! (`tests/tests/flow_js_roundtrip.rs` runs `tests/js/flow-roundtrip.mjs`):
//! installed from Debian (`nodejs`) when `node` is not on `PATH`.

use std::process::Command;

use crate::util::{self, is_root, which};

const INSTALL: &str = "sh -c 'apt-get update && apt-get install -y nodejs'";

/// The oldest Node.js with `fetch`, which the APIStore of the test uses.
const MIN_MAJOR: u32 = 18;

/// Makes sure `node` is on `PATH`: installs Debian's `nodejs` when it is
/// missing and we can (root and apt-get); otherwise fails with the command to
/// run. The test fails without it rather than skipping, so this is no option.
pub(crate) fn ensure_node() -> Result<(), String> {
    if which("node").is_some() {
        return check_version();
    }
    if !(is_root() && which("apt-get").is_some()) {
        return Err(format!(
            "the JavaScript round trip test needs Node.js 18 or later (`node`), which is \
             not on PATH; run: sudo {INSTALL}"
        ));
    }
    eprintln!("xtask: installing nodejs (node is missing) with apt-get");
    let apt = |args: &[&str]| {
        util::run(
            Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    apt(&["update", "-q"])?;
    apt(&["install", "-y", "-q", "--no-install-recommends", "nodejs"])?;
    if which("node").is_none() {
        return Err(format!("{INSTALL} ran but node is still not on PATH"));
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
