//! Node.js for the JavaScript round trip of `flowstore-flow`
//! (`tests/tests/flow_js_roundtrip.rs` runs `tests/js/flow-roundtrip.mjs`):
//! installed from Debian (`nodejs`) when `node` is not on `PATH`.

use std::process::Command;

use crate::util::{self, is_root, which};

const INSTALL: &str = "apt-get install -y nodejs";

/// Makes sure `node` is on `PATH`: installs Debian's `nodejs` when it is
/// missing and we can (root and apt-get); otherwise fails with the command to
/// run. The test fails without it rather than skipping, so this is no option.
pub(crate) fn ensure_node() -> Result<(), String> {
    if which("node").is_some() {
        return Ok(());
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
    Ok(())
}
