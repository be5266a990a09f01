//! `cargo xtask api-fuzz [--max-examples N] [--seed N]`: the OpenAPI document
//! (`crates/flowstore-server/openapi.yaml`) driven against a running
//! `flowstore serve` by [Schemathesis] (issue 15 §4), with every check on:
//! any response whose status, content type, headers or body the document does
//! not allow, any 5xx, an accepted invalid request or a refused valid one
//! fails the run.
//!
//! - Schemathesis is installed with pip, at exactly [`SCHEMATHESIS_VERSION`],
//!   into a virtual environment at `target/api-fuzz-venv` (reused while it
//!   holds that version; `python3 -m venv`, with Debian's `python3-venv`
//!   installed by apt-get when missing and run as root).
//! - `flowstore serve` is the debug build of `flowstore-cli`, over a memory
//!   store with a token (`FLOWSTORE_TOKEN`, sent by Schemathesis as a bearer
//!   token), on a free loopback port; once without and once with `--console`
//!   (the console's page is a route of the document).
//! - Each run's JUnit report is kept under `target/api-fuzz/<run>/`.
//!
//! Not part of `cargo xtask ci`: its latest figures are in `docs/http.md`
//! ("The OpenAPI document, fuzzed").
//!
//! [Schemathesis]: https://schemathesis.readthedocs.io/

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::bench_versions::Serve;
use crate::util::{self, cargo, format_duration, is_root, root, target_dir, which};

/// The Schemathesis release this command installs and its checks were
/// written against (its CLI changes between major versions).
const SCHEMATHESIS_VERSION: &str = "4.32.5";

const USAGE: &str = "cargo xtask api-fuzz [--max-examples N] [--seed N]";

/// Test cases per API operation and phase unless `--max-examples` says.
const DEFAULT_MAX_EXAMPLES: u32 = 100;

/// The servers fuzzed. Without `--console` the console's page is left out:
/// its route does not exist then, so every method on it is a plain 404, not
/// the 405 the document implies for methods it does not list.
const RUNS: [Run; 2] = [
    Run {
        name: "memory",
        flags: &[],
        schemathesis: &["--exclude-operation-id", "console"],
    },
    Run {
        name: "memory-console",
        flags: &["--console"],
        schemathesis: &[],
    },
];

struct Run {
    /// The report's directory under `target/api-fuzz/`.
    name: &'static str,
    /// Flags of `flowstore serve`.
    flags: &'static [&'static str],
    /// Arguments of `schemathesis run`.
    schemathesis: &'static [&'static str],
}

/// The environment variable `xtask/api-fuzz.toml` reads the token from.
const TOKEN_ENV: &str = "FLOWSTORE_API_FUZZ_TOKEN";

/// The environment variable Schemathesis loads hooks from: here
/// `xtask/api-fuzz-hooks.py`, which drops the generated "valid" cases that
/// the document's prose refuses but no OpenAPI 3.0 schema can say (a cursor
/// the store did not hand out, a key over 1024 bytes, `If-Match` with
/// `If-None-Match`).
const HOOKS_ENV: &str = "SCHEMATHESIS_HOOKS";

struct Options {
    max_examples: u32,
    seed: Option<u64>,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    let schemathesis = ensure_schemathesis()?;
    util::run(cargo().args(["build", "-p", "flowstore-cli", "--bin", "flowstore"]))?;
    let binary = target_dir().join("debug").join("flowstore");
    let token = throwaway_token();
    let mut results = Vec::new();
    for run in &RUNS {
        let name = run.name;
        eprintln!(
            "\n==> xtask api-fuzz: {name} (flowstore serve {})",
            run.flags.join(" ")
        );
        let serve = Serve::spawn(
            &binary,
            run.flags,
            // Request logs of thousands of requests would bury Schemathesis's
            // report; warnings and errors still show.
            &[("FLOWSTORE_TOKEN", &token), ("RUST_LOG", "warn")],
        )?;
        wait_healthy(&serve.url)?;
        let report_dir = target_dir().join("api-fuzz").join(name);
        let _ = fs::remove_dir_all(&report_dir);
        let started = Instant::now();
        let outcome = fuzz(
            &schemathesis,
            &serve.url,
            &token,
            run,
            &report_dir,
            &options,
        );
        results.push((name, started.elapsed(), outcome));
        drop(serve);
    }
    println!(
        "\nxtask api-fuzz: schemathesis {SCHEMATHESIS_VERSION}, --max-examples {}",
        options.max_examples
    );
    let mut failed = 0;
    for (name, took, outcome) in &results {
        let verdict = match outcome {
            Ok(()) => "ok".to_string(),
            Err(e) => {
                failed += 1;
                format!("FAILED: {e}")
            }
        };
        println!("  {name:<16} {:>8}  {verdict}", format_duration(*took));
    }
    if failed > 0 {
        return Err(format!(
            "{failed} of {} runs found responses the OpenAPI document does not allow \
             (reports under {})",
            results.len(),
            target_dir().join("api-fuzz").display()
        ));
    }
    Ok(())
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        max_examples: DEFAULT_MAX_EXAMPLES,
        seed: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut number = |what: &str| -> Result<u64, String> {
            args.next()
                .and_then(|value| value.parse::<u64>().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{what} takes a positive number\nusage: {USAGE}"))
        };
        match arg.as_str() {
            "--max-examples" => {
                options.max_examples = u32::try_from(number("--max-examples")?)
                    .map_err(|_| format!("--max-examples is too large\nusage: {USAGE}"))?;
            }
            "--seed" => options.seed = Some(number("--seed")?),
            other => return Err(format!("unknown argument `{other}`\nusage: {USAGE}")),
        }
    }
    Ok(options)
}

/// One Schemathesis run against the server at `url`: every phase (examples,
/// coverage, fuzzing, and stateful sequences along the document's links),
/// every check (`xtask/api-fuzz.toml` turns them all on and says where the
/// document allows what a schema cannot say). A non-zero exit (a failed
/// check, an error) is an error.
fn fuzz(
    schemathesis: &Path,
    url: &str,
    token: &str,
    run: &Run,
    report_dir: &Path,
    options: &Options,
) -> Result<(), String> {
    let hooks = root().join("xtask").join("api-fuzz-hooks.py");
    let mut cmd = Command::new(schemathesis);
    cmd.arg("--config-file")
        .arg(root().join("xtask").join("api-fuzz.toml"))
        .arg("run")
        .arg(format!("{url}/openapi.yaml"))
        .args(["--url", url])
        .args(run.schemathesis)
        .args(["--max-examples", &options.max_examples.to_string()])
        // One worker: the stateful phase's checks (a key read right after its
        // DELETE must be absent) hold only while no other worker writes the
        // same keys, and random keys collide ("0").
        .args(["--workers", "1"])
        // Each run starts from nothing: no examples replayed from an
        // earlier run's database in the working directory.
        .args(["--generation-database", "none"])
        .args(["--report", "junit", "--report-dir"])
        .arg(report_dir)
        .arg("--no-color");
    if let Some(seed) = options.seed {
        cmd.args(["--seed", &seed.to_string()]);
    }
    // The config file sends it as a bearer token; Schemathesis hides the
    // `Authorization` header in its output (`--output-sanitize` is on by
    // default), so the token is printed nowhere.
    // Printed here, before the token is put into the environment, and keep it
    // so: `Command`'s Debug shows the variables set on it (`util::run` would
    // print the token).
    eprintln!(
        "$ {TOKEN_ENV}=… SCHEMATHESIS_HOOKS={} {cmd:?}",
        hooks.display()
    );
    let status = cmd
        .env(HOOKS_ENV, &hooks)
        .env(TOKEN_ENV, token)
        .current_dir(target_dir())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", schemathesis.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("schemathesis failed ({status})"))
    }
}

/// A token for this run's servers only. It guards nothing worth a secret
/// (the servers hold fuzz data, listen on loopback and stop with the run):
/// it is there so that the routes' auth is on and checked.
fn throwaway_token() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("api-fuzz-{:x}-{:x}", std::process::id(), nanos)
}

/// Waits until `GET /healthz` answers 200 (the server prints its address
/// once bound, but the store behind it may still be opening).
fn wait_healthy(url: &str) -> Result<(), String> {
    let addr = url.trim_start_matches("http://");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        match healthz_status(addr) {
            Ok(200) => return Ok(()),
            Ok(status) => last = format!("status {status}"),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "{url}/healthz did not answer 200 within 30 s (last: {last})"
    ))
}

/// The status code of one `GET /healthz`, over a plain HTTP/1.1 connection.
fn healthz_status(addr: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    response
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {response:.40?}")))
}

/// The `schemathesis` of `target/api-fuzz-venv`, installed there at
/// [`SCHEMATHESIS_VERSION`] unless it already is.
fn ensure_schemathesis() -> Result<PathBuf, String> {
    let venv = target_dir().join("api-fuzz-venv");
    let schemathesis = venv.join("bin").join("schemathesis");
    let wanted = format!("schemathesis, version {SCHEMATHESIS_VERSION}");
    if installed_version(&schemathesis).as_deref() == Some(wanted.as_str()) {
        return Ok(schemathesis);
    }
    eprintln!(
        "xtask: installing schemathesis {SCHEMATHESIS_VERSION} into {}",
        venv.display()
    );
    create_venv(&venv)?;
    util::run(
        Command::new(venv.join("bin").join("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(format!("schemathesis=={SCHEMATHESIS_VERSION}")),
    )?;
    match installed_version(&schemathesis) {
        Some(version) if version == wanted => Ok(schemathesis),
        other => Err(format!(
            "pip installed schemathesis {SCHEMATHESIS_VERSION}, but `{} --version` says {other:?}",
            schemathesis.display()
        )),
    }
}

/// What `schemathesis --version` prints (`schemathesis, version X`), or
/// `None` when it does not run.
fn installed_version(schemathesis: &Path) -> Option<String> {
    let output = Command::new(schemathesis).arg("--version").output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// `python3 -m venv --clear venv`. Debian splits `venv`'s pip bootstrap into
/// `python3-venv`: when the first try fails, it is installed with apt-get
/// (as root) and the venv made again; otherwise the error names the command.
fn create_venv(venv: &Path) -> Result<(), String> {
    const INSTALL: &str = "apt-get update && apt-get install -y python3 python3-venv";
    let make = || {
        util::run(
            Command::new("python3")
                .args(["-m", "venv", "--clear"])
                .arg(venv),
        )
    };
    let Err(first) = make() else {
        return Ok(());
    };
    if !(is_root() && which("apt-get").is_some()) {
        return Err(format!(
            "{first}\ncargo xtask api-fuzz needs python3 with venv; run: sudo sh -c '{INSTALL}'"
        ));
    }
    eprintln!("xtask: `python3 -m venv` failed; installing python3-venv with apt-get");
    let apt = |args: &[&str]| {
        util::run(
            Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    apt(&["update", "-q"])?;
    apt(&["install", "-y", "-q", "python3", "python3-venv"])?;
    make().map_err(|e| format!("{e}\n(after {INSTALL})"))
}
