//! The browser side of CI (flowstore-browser): wasm tests in headless Chromium,
//! and the example app's reload check.
//!
//! - [`ensure_tools`]: the `wasm32-unknown-unknown` target, Debian's `chromium` and
//!   `chromium-driver` (installed with apt-get when missing and run as root), and
//!   `wasm-bindgen-cli` at exactly the version of the `wasm-bindgen` crate in
//!   `Cargo.lock` (`cargo install`ed when missing or different).
//! - [`run_tests`]: `cargo test -p flowstore-browser --target wasm32-unknown-unknown`
//!   (the runner in `.cargo/config.toml` is `wasm-bindgen-test-runner`, which drives
//!   headless Chromium through chromedriver; a failing test fails the run).
//! - [`check_example_app`]: builds `crates/flowstore-browser/examples/form-app` for
//!   the web into `target/browser-app/`, then runs the WebDriver check of the test
//!   crate `flowstore-browser-e2e` (`testing/browser-e2e`) against it: fill in the
//!   form, reload, check that the state came back, with screenshots before and
//!   after the reload kept under `target/browser-app/` as evidence. The same
//!   `cargo test -p flowstore-browser-e2e` run holds the web console's check
//!   (`tests/console.rs`: `flowstore serve --console`'s server in-process, in
//!   headless Chromium).
//! - [`run`]: all three.
//! - [`screenshots`]: the console's check alone, writing a PNG of each console
//!   page into `docs/`.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::ci::{self, WASM_TARGET};
use crate::util::{self, cargo, cargo_home, root, target_dir, which};

const CRATE: &str = "flowstore-browser";
const EXAMPLE: &str = "form-app";

/// What the browser steps found or installed.
#[derive(Debug, Clone)]
pub(crate) struct Tools {
    /// The chromedriver executable.
    pub(crate) chromedriver: PathBuf,
    /// The Chromium executable.
    pub(crate) chromium: PathBuf,
    /// A directory holding `wasm-bindgen` and `wasm-bindgen-test-runner` of the
    /// right version (put first on `PATH` for the tests).
    pub(crate) wasm_bindgen_dir: PathBuf,
}

/// Everything: tools, the wasm tests, the example app's reload check.
pub(crate) fn run() -> Result<(), String> {
    let tools = ensure_tools()?;
    run_tests(&tools)?;
    check_example_app(&tools)
}

// ---------------------------------------------------------------------------
// Tools

/// Makes sure the wasm target, Chromium, chromedriver and the matching
/// wasm-bindgen-cli are there, installing what is missing when it can, and
/// otherwise failing with the exact command to run.
pub(crate) fn ensure_tools() -> Result<Tools, String> {
    ci::ensure_wasm_target()?;
    let (chromium, chromedriver) = ensure_chromium()?;
    let wasm_bindgen_dir = ensure_wasm_bindgen_cli()?;
    Ok(Tools {
        chromedriver,
        chromium,
        wasm_bindgen_dir,
    })
}

fn find_chromium() -> Option<PathBuf> {
    env_path("CHROME_BIN").or_else(|| {
        [
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ]
        .into_iter()
        .find_map(which)
    })
}

fn find_chromedriver() -> Option<PathBuf> {
    env_path("CHROMEDRIVER").or_else(|| which("chromedriver"))
}

pub(crate) fn ensure_chromium() -> Result<(PathBuf, PathBuf), String> {
    if let (Some(chromium), Some(driver)) = (find_chromium(), find_chromedriver()) {
        return Ok((chromium, driver));
    }
    util::apt_install(&["chromium", "chromium-driver"], "the browser tests").map_err(|e| {
        format!("{e}\n(or set CHROME_BIN and CHROMEDRIVER to a Chrome and a matching chromedriver)")
    })?;
    match (find_chromium(), find_chromedriver()) {
        (Some(chromium), Some(driver)) => Ok((chromium, driver)),
        _ => Err("installed chromium and chromium-driver but they are still not on PATH".into()),
    }
}

/// The version of the `wasm-bindgen` crate in `Cargo.lock`.
pub(crate) fn locked_wasm_bindgen_version() -> Result<String, String> {
    let lock = root().join("Cargo.lock");
    let text = fs::read_to_string(&lock).map_err(|e| format!("reading {}: {e}", lock.display()))?;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\""
            && let Some(version) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = \""))
                .and_then(|v| v.strip_suffix('"'))
        {
            return Ok(version.to_owned());
        }
    }
    Err("Cargo.lock has no wasm-bindgen package: run `cargo generate-lockfile`".to_owned())
}

/// The version a wasm-bindgen tool prints (`wasm-bindgen-test-runner 0.2.130`).
fn tool_version(tool: &Path) -> Option<String> {
    let out = Command::new(tool).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().nth(1).map(str::to_owned)
}

fn ensure_wasm_bindgen_cli() -> Result<PathBuf, String> {
    let wanted = locked_wasm_bindgen_version()?;
    let cargo_bin = cargo_home().join("bin");
    let candidates = [
        which("wasm-bindgen-test-runner"),
        Some(cargo_bin.join("wasm-bindgen-test-runner")),
    ];
    let matching = |runner: &Path| {
        let dir = runner.parent()?;
        let cli = dir.join("wasm-bindgen");
        (tool_version(runner).as_deref() == Some(wanted.as_str())
            && tool_version(&cli).as_deref() == Some(wanted.as_str()))
        .then(|| dir.to_path_buf())
    };
    if let Some(dir) = candidates
        .iter()
        .flatten()
        .find_map(|runner| matching(runner))
    {
        return Ok(dir);
    }
    // Without `--locked`: its lockfile may ask for crate versions a mirror lacks.
    let install = format!("cargo install wasm-bindgen-cli --version ={wanted}");
    eprintln!("installing wasm-bindgen-cli {wanted} (Cargo.lock's wasm-bindgen): {install}");
    util::run(cargo().args([
        "install",
        "wasm-bindgen-cli",
        "--version",
        &format!("={wanted}"),
    ]))
    .map_err(|e| format!("{e}\nrun: {install}"))?;
    matching(&cargo_bin.join("wasm-bindgen-test-runner")).ok_or_else(|| {
        format!(
            "{install} ran but {} has another version",
            cargo_bin.display()
        )
    })
}

// ---------------------------------------------------------------------------
// The wasm tests

/// `cargo test -p flowstore-browser --target wasm32-unknown-unknown`, in headless
/// Chromium: the shared suite over both stores and the wrappers, quota and
/// upgrade tests.
pub(crate) fn run_tests(tools: &Tools) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args(["test", "-p", CRATE, "--target", WASM_TARGET]);
    browser_env(&mut cmd, tools);
    util::run(&mut cmd)
}

fn browser_env(cmd: &mut Command, tools: &Tools) {
    cmd.env("CHROMEDRIVER", &tools.chromedriver)
        // The whole run of one test binary in the browser (the default, 20 s, is
        // too short for the wrappers' suites on a busy 2-core machine).
        .env("WASM_BINDGEN_TEST_TIMEOUT", "900")
        .env("PATH", path_with(&tools.wasm_bindgen_dir));
}

// ---------------------------------------------------------------------------
// The example app

/// Builds the example app and runs `flowstore-browser-e2e`'s check on it in
/// headless Chromium: the form's state survives a reload. Screenshots:
/// `target/browser-app/*.png`.
pub(crate) fn check_example_app(tools: &Tools) -> Result<(), String> {
    let site = build_example_app(tools)?;
    let mut check = cargo();
    check
        .args(["test", "-p", "flowstore-browser-e2e", "--"])
        .args(["--include-ignored", "--nocapture"])
        // The variables the test crate reads (see testing/browser-e2e/src/lib.rs).
        .env("FLOWSTORE_BROWSER_APP_DIR", &site)
        .env("CHROMEDRIVER", &tools.chromedriver)
        .env("CHROME_BIN", &tools.chromium);
    util::run(&mut check)
}

/// The console pages `cargo xtask screenshots` writes, `docs/console-{page}.png`.
const SCREENSHOTS: [&str; 4] = ["signin", "keys", "flows", "phone"];

/// The web console's browser check with `FLOWSTORE_CONSOLE_SCREENSHOTS=docs/`:
/// `docs/console-*.png`, one per page (and one at phone width).
pub(crate) fn screenshots() -> Result<(), String> {
    let (chromium, chromedriver) = ensure_chromium()?;
    let docs = root().join("docs");
    let pngs: Vec<PathBuf> = SCREENSHOTS
        .iter()
        .map(|page| docs.join(format!("console-{page}.png")))
        .collect();
    // The committed screenshots go first: one the run did not write is then
    // missing, not silently the old one (`git checkout docs/` brings them
    // back after a failed run).
    for png in &pngs {
        match fs::remove_file(png) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("removing the old {}: {e}", png.display())),
        }
    }
    let mut check = cargo();
    check
        .args([
            "test",
            "-p",
            "flowstore-browser-e2e",
            "--test",
            "console",
            "--",
        ])
        .args(["--include-ignored", "--nocapture"])
        .env("FLOWSTORE_CONSOLE_SCREENSHOTS", &docs)
        .env("CHROMEDRIVER", &chromedriver)
        .env("CHROME_BIN", &chromium);
    util::run(&mut check)?;
    for png in &pngs {
        let bytes = fs::read(png).map_err(|e| {
            format!(
                "{} was not written by this run ({e}): the console check took no such screenshot",
                png.display()
            )
        })?;
        if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Err(format!("{} is not a PNG", png.display()));
        }
        eprintln!("wrote {}", png.display());
    }
    Ok(())
}

/// `target/browser-app/`: `index.html` and `pkg/` from `wasm-bindgen --target web`.
fn build_example_app(tools: &Tools) -> Result<PathBuf, String> {
    let mut build = cargo();
    build.args([
        "build",
        "-p",
        CRATE,
        "--example",
        EXAMPLE,
        "--target",
        WASM_TARGET,
    ]);
    util::run(&mut build)?;
    let wasm = target_dir()
        .join(WASM_TARGET)
        .join("debug/examples")
        .join(format!("{}.wasm", EXAMPLE.replace('-', "_")));
    let site = target_dir().join("browser-app");
    let pkg = site.join("pkg");
    let _ = fs::remove_dir_all(&pkg);
    fs::create_dir_all(&pkg).map_err(|e| format!("creating {}: {e}", pkg.display()))?;
    util::run(
        Command::new(tools.wasm_bindgen_dir.join("wasm-bindgen"))
            .args(["--target", "web", "--out-name", "form_app", "--out-dir"])
            .arg(&pkg)
            .arg(&wasm),
    )?;
    let html = root().join("crates/flowstore-browser/examples/form-app/index.html");
    fs::copy(&html, site.join("index.html"))
        .map_err(|e| format!("copying {}: {e}", html.display()))?;
    Ok(site)
}

// ---------------------------------------------------------------------------
// Paths

/// `PATH` with `dir` first.
fn path_with(dir: &Path) -> std::ffi::OsString {
    let mut dirs = vec![dir.to_path_buf()];
    if let Some(path) = env::var_os("PATH") {
        dirs.extend(env::split_paths(&path));
    }
    env::join_paths(dirs).unwrap_or_default()
}

/// An existing file named by the environment variable `var`.
fn env_path(var: &str) -> Option<PathBuf> {
    env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockfile_pins_wasm_bindgen_exactly() {
        let version = locked_wasm_bindgen_version().unwrap();
        let manifest = fs::read_to_string(root().join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains(&format!("wasm-bindgen = \"={version}\"")),
            "the root Cargo.toml must pin wasm-bindgen with `={version}` (Cargo.lock's version)"
        );
    }
}
