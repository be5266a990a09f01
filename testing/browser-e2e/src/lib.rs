//! End-to-end checks of `flowstore-browser` in headless Chromium, driven over
//! WebDriver (chromedriver) with [`fantoccini`].
//!
//! The checks are `#[ignore]`d tests under `tests/`: they need Chromium,
//! chromedriver and the example app built for the web, which
//! `cargo xtask browser` (or the `browser` step of `cargo xtask ci`) finds or
//! installs, builds, and passes in through the environment:
//!
//! | variable | what |
//! |---|---|
//! | [`CHROMEDRIVER_VAR`] | the chromedriver executable |
//! | [`CHROME_BIN_VAR`] | the Chromium (or Chrome) executable |
//! | [`APP_DIR_VAR`] | the built example app: `index.html` and `pkg/` from `wasm-bindgen --target web` |
//!
//! Run without them (`--include-ignored` by hand), the checks fail naming the
//! missing variable; they never pass by skipping.
//!
//! - [`site`]: serves a directory over HTTP on 127.0.0.1.
//! - [`chrome`]: starts chromedriver and opens a headless Chromium session.

#![forbid(unsafe_code)]

pub mod chrome;
pub mod site;

use std::env;
use std::path::PathBuf;

/// Environment variable naming the chromedriver executable.
pub const CHROMEDRIVER_VAR: &str = "CHROMEDRIVER";
/// Environment variable naming the Chromium (or Chrome) executable.
pub const CHROME_BIN_VAR: &str = "CHROME_BIN";
/// Environment variable naming the directory of the built example app.
pub const APP_DIR_VAR: &str = "FLOWSTORE_BROWSER_APP_DIR";

/// An existing path from the environment variable `var`, or an error naming it
/// and how to get it set.
pub fn path_from_env(var: &str) -> Result<PathBuf, String> {
    let path = env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| {
            format!("${var} is not set; run these checks with `cargo xtask browser`, which sets it")
        })?;
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "${var} names {}, which does not exist",
            path.display()
        ))
    }
}
