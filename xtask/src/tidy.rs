//! Repository policy, checked as ordinary tests (run by `cargo xtask ci` through
//! `cargo test --workspace`, or alone with `cargo test -p xtask`).
//!
//! Every crate under `crates/`:
//! - has a `README.md`, and its `src/lib.rs` (or `src/main.rs` for a binary-only
//!   crate) includes it as the crate docs: `#![doc = include_str!("../README.md")]`;
//! - has a `description`, `license.workspace = true` and `[lints] workspace = true`;
//! - depends on other flowstore crates with a version (through
//!   `[workspace.dependencies]`, whose flowstore entries all carry one), so it can
//!   be published.
//!
//! And every backend and wrapper crate depends on `flowstore-core` alone among the
//! workspace's crates (tests aside): stores stack through the `Store` trait, never
//! through each other. The facade and the CLI, which put the others together, are
//! exempt; the server may also use `flowstore-http` for its protocol module, with
//! that crate's default features (the client) off.

use std::fs;
use std::path::PathBuf;

use crate::ci::{package_name, section};
use crate::util::root;

/// `(crate dir, manifest text)` for every crate under `crates/`.
fn crates() -> Vec<(PathBuf, String)> {
    let mut crates: Vec<(PathBuf, String)> = fs::read_dir(root().join("crates"))
        .expect("crates/ exists")
        .flatten()
        .map(|e| e.path())
        .filter(|dir| dir.join("Cargo.toml").is_file())
        .map(|dir| {
            let manifest = fs::read_to_string(dir.join("Cargo.toml")).expect("readable manifest");
            (dir, manifest)
        })
        .collect();
    crates.sort();
    assert!(!crates.is_empty(), "no crates found under crates/");
    crates
}

fn name(dir: &std::path::Path) -> String {
    dir.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

fn fail_if_any(problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "repository policy (xtask/src/tidy.rs):\n  {}\n",
        problems.join("\n  ")
    );
}

/// The manifest with comments removed and whitespace squeezed out of each line.
fn squeezed(text: &str) -> String {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").replace([' ', '\t'], ""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_crate_has_a_readme_used_as_its_docs() {
    let mut problems = Vec::new();
    for (dir, _) in crates() {
        let name = name(&dir);
        if !dir.join("README.md").is_file() {
            problems.push(format!("{name}: no README.md"));
        }
        let root_file = ["src/lib.rs", "src/main.rs"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.is_file());
        match root_file {
            None => problems.push(format!("{name}: neither src/lib.rs nor src/main.rs")),
            Some(path) => {
                let source = fs::read_to_string(&path).unwrap_or_default();
                if !source
                    .replace(' ', "")
                    .contains(r#"#![doc=include_str!("../README.md")]"#)
                {
                    problems.push(format!(
                        "{name}: {} does not start its docs with #![doc = include_str!(\"../README.md\")]",
                        path.strip_prefix(&dir).unwrap_or(&path).display()
                    ));
                }
            }
        }
    }
    fail_if_any(problems);
}

#[test]
fn every_crate_has_the_shared_metadata_and_lints() {
    let mut problems = Vec::new();
    for (dir, manifest) in crates() {
        let name = name(&dir);
        let package = squeezed(section(&manifest, "package").unwrap_or(""));
        if !package
            .lines()
            .any(|l| l.starts_with("description=") && l.len() > "description=\"\"".len())
        {
            problems.push(format!("{name}: [package] has no description"));
        }
        if !package.lines().any(|l| l == "license.workspace=true") {
            problems.push(format!(
                "{name}: [package] lacks `license.workspace = true`"
            ));
        }
        let lints = squeezed(section(&manifest, "lints").unwrap_or(""));
        if !lints.lines().any(|l| l == "workspace=true") {
            problems.push(format!("{name}: lacks `[lints] workspace = true`"));
        }
    }
    fail_if_any(problems);
}

/// Dependency entries `(table, crate, spec)` of a manifest, where `spec` is the
/// entry's squeezed text (`.workspace=true`, `={path=…,version=…}`, or the body of
/// a `[dependencies.name]` table).
fn dependencies(manifest: &str) -> Vec<(String, String, String)> {
    let mut deps = Vec::new();
    let mut table = String::new();
    let mut lines = manifest
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .peekable();
    while let Some(line) = lines.next() {
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            table = header.trim().to_string();
            // `[dependencies.name]`-style table: the entry is its whole body.
            if let Some((t, krate)) = split_dependency_table(&table) {
                let mut body = String::new();
                while let Some(next) = lines.peek() {
                    if next.starts_with('[') {
                        break;
                    }
                    body.push_str(&next.replace(' ', ""));
                    body.push('\n');
                    lines.next();
                }
                deps.push((t, krate, body));
                table.clear();
            }
            continue;
        }
        if !is_dependency_table(&table) || line.is_empty() {
            continue;
        }
        let Some((key, _)) = line.split_once(['=', '.']) else {
            continue;
        };
        let mut entry = line.to_string();
        // Inline tables may span lines.
        while entry.matches('{').count() > entry.matches('}').count() {
            match lines.next() {
                Some(next) => entry.push_str(next),
                None => break,
            }
        }
        let krate = key.trim().trim_matches('"').to_string();
        let spec = entry[key.len()..].replace(' ', "");
        deps.push((table.clone(), krate, spec));
    }
    deps
}

fn is_dependency_table(table: &str) -> bool {
    let last = table.rsplit('.').next().unwrap_or(table);
    table.starts_with("workspace.dependencies")
        || matches!(
            last,
            "dependencies" | "dev-dependencies" | "build-dependencies"
        )
}

fn split_dependency_table(table: &str) -> Option<(String, String)> {
    for kind in ["dependencies.", "dev-dependencies.", "build-dependencies."] {
        if let Some(pos) = table.find(kind)
            && (pos == 0 || table[..pos].ends_with('.'))
        {
            let krate = table[pos + kind.len()..].trim_matches('"').to_string();
            return Some((table[..pos + kind.len() - 1].to_string(), krate));
        }
    }
    None
}

/// Whether the crate `krate` under `crates/` has `name` among its dependencies.
fn depends_on(krate: &str, name: &str) -> bool {
    let manifest = fs::read_to_string(root().join("crates").join(krate).join("Cargo.toml"))
        .unwrap_or_default();
    dependencies(&manifest)
        .iter()
        .any(|(table, dependency, _)| table == "dependencies" && dependency == name)
}

#[test]
fn internal_dependencies_carry_a_version() {
    let mut problems = Vec::new();
    let workspace = fs::read_to_string(root().join("Cargo.toml")).expect("root manifest");
    for (table, krate, spec) in dependencies(&workspace) {
        if table == "workspace.dependencies"
            && krate.starts_with("flowstore")
            && !spec.contains("version=")
        {
            problems.push(format!(
                "Cargo.toml: [workspace.dependencies] {krate} has no version"
            ));
        }
    }
    for (dir, manifest) in crates() {
        let name = name(&dir);
        for (table, krate, spec) in dependencies(&manifest) {
            // A dev-dependency on the crate itself (to turn on its own features in
            // tests), or on a crate that depends on this one (a cycle `cargo
            // package` cannot order), is dropped on publish and needs no version.
            if !krate.starts_with("flowstore")
                || (table.ends_with("dev-dependencies")
                    && (krate == name || depends_on(&krate, &name)))
            {
                continue;
            }
            let via_workspace =
                spec.starts_with(".workspace=true") || spec.contains("workspace=true");
            if !via_workspace && !spec.contains("version=") {
                problems.push(format!(
                    "{name}: [{table}] {krate} has no version; use `{krate}.workspace = true`"
                ));
            }
        }
    }
    fail_if_any(problems);
}

#[test]
fn dependency_parser_sees_every_form() {
    let manifest = r#"
[package]
name = "x"

[dependencies]
flowstore-core.workspace = true
flowstore-memory = { path = "../flowstore-memory" }
tokio = { workspace = true,
  features = ["rt"] }

[target.'cfg(unix)'.dev-dependencies]
flowstore-sqlite = { path = "../s", version = "0.1.0" } # ok

[dev-dependencies.flowstore-redis]
path = "../r"

[lints]
workspace = true
"#;
    let deps = dependencies(manifest);
    let names: Vec<&str> = deps.iter().map(|(_, k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "flowstore-core",
            "flowstore-memory",
            "tokio",
            "flowstore-sqlite",
            "flowstore-redis"
        ]
    );
    assert_eq!(deps[0].2, ".workspace=true");
    assert!(!deps[1].2.contains("version="));
    assert!(deps[3].2.contains("version="));
    assert_eq!(deps[4].0, "dev-dependencies");
    assert!(!deps[4].2.contains("version="));
}

/// The crates that put the others together, and so may depend on any of them.
const ASSEMBLERS: [&str; 2] = ["flowstore", "flowstore-cli"];

/// The names of the workspace's own packages (`crates/*`, `testing/*`, `tests`, `xtask`).
fn workspace_packages() -> Vec<String> {
    let mut manifests = vec![
        root().join("tests/Cargo.toml"),
        root().join("xtask/Cargo.toml"),
    ];
    for parent in ["crates", "testing"] {
        let dirs = fs::read_dir(root().join(parent)).expect("listing a crates folder");
        manifests.extend(dirs.flatten().map(|e| e.path().join("Cargo.toml")));
    }
    manifests
        .iter()
        .filter_map(|m| fs::read_to_string(m).ok())
        .filter_map(|text| package_name(&text))
        .collect()
}

/// Whether a dependency entry turns the dependency's default features off, taking
/// `[workspace.dependencies]` into account when it inherits from there (Cargo only
/// honours a member's `default-features = false` when the workspace entry says it
/// too).
fn default_features_off(spec: &str, workspace_spec: Option<&str>) -> bool {
    let inherits = spec.starts_with(".workspace=true") || spec.contains("workspace=true");
    if inherits {
        workspace_spec.is_some_and(|w| w.contains("default-features=false"))
            && !spec.contains("default-features=true")
    } else {
        spec.contains("default-features=false")
    }
}

/// Whether `krate` may depend (outside tests) on the workspace crate `dep`
/// through the entry `spec`.
fn allowed_internal_dependency(
    krate: &str,
    dep: &str,
    spec: &str,
    workspace_spec: Option<&str>,
) -> bool {
    dep == "flowstore-core"
        || ASSEMBLERS.contains(&krate)
        // The proc macro behind `flowstore_core::async_trait` is part of core.
        || (krate == "flowstore-core" && dep == "flowstore-macros")
        || (krate == "flowstore-server"
            && dep == "flowstore-http"
            && default_features_off(spec, workspace_spec))
        // The console's flow routes read the flow format; flowstore-flow is
        // core + serde only (no store, no runtime).
        || (krate == "flowstore-server" && dep == "flowstore-flow")
}

#[test]
fn backends_and_wrappers_depend_on_core_alone() {
    let workspace = fs::read_to_string(root().join("Cargo.toml")).expect("root manifest");
    let workspace_deps = dependencies(&workspace);
    let workspace_spec = |dep: &str| {
        workspace_deps
            .iter()
            .find(|(table, krate, _)| table == "workspace.dependencies" && krate == dep)
            .map(|(_, _, spec)| spec.as_str())
    };
    let ours = workspace_packages();
    let mut problems = Vec::new();
    // Unpublished crates under crates/ (the benchmarks) compare the backends
    // with their clients and may depend on anything.
    let published = crates()
        .into_iter()
        .filter(|(_, manifest)| !manifest.contains("publish = false"));
    for (dir, manifest) in published {
        let name = package_name(&manifest).unwrap_or_else(|| name(&dir));
        for (table, dep, spec) in dependencies(&manifest) {
            // Tests may run a store over another one (a wrapper over memory).
            if table.ends_with("dev-dependencies") || dep == name || !ours.contains(&dep) {
                continue;
            }
            if !allowed_internal_dependency(&name, &dep, &spec, workspace_spec(&dep)) {
                let hint = if name == "flowstore-server" && dep == "flowstore-http" {
                    " (only with `default-features = false`, for the protocol module)"
                } else {
                    ""
                };
                problems.push(format!(
                    "{name}: [{table}] depends on {dep}; backends and wrappers may depend on \
                     flowstore-core alone{hint}"
                ));
            }
        }
    }
    fail_if_any(problems);
}

#[test]
fn dependency_rule_allows_core_and_the_servers_protocol_edge_only() {
    let ws_client = "={path=\"crates/flowstore-http\",version=\"0.1.0\"}";
    let ws_protocol = "={path=\"crates/flowstore-http\",version=\"0.1.0\",default-features=false}";
    let allowed = |krate, dep, spec, ws| allowed_internal_dependency(krate, dep, spec, ws);
    assert!(allowed(
        "flowstore-redis",
        "flowstore-core",
        ".workspace=true",
        None
    ));
    assert!(!allowed(
        "flowstore-encrypt",
        "flowstore-memory",
        ".workspace=true",
        None
    ));
    assert!(allowed(
        "flowstore-server",
        "flowstore-flow",
        ".workspace=true",
        None
    ));
    assert!(!allowed(
        "flowstore-server",
        "flowstore-memory",
        ".workspace=true",
        None
    ));
    assert!(allowed(
        "flowstore",
        "flowstore-memory",
        "={workspace=true,optional=true}",
        None
    ));
    // The server and the HTTP crate: only without its default (client) features.
    let inherit_off = "={workspace=true,default-features=false}";
    assert!(allowed(
        "flowstore-server",
        "flowstore-http",
        inherit_off,
        Some(ws_protocol)
    ));
    assert!(allowed(
        "flowstore-server",
        "flowstore-http",
        ".workspace=true",
        Some(ws_protocol)
    ));
    assert!(!allowed(
        "flowstore-server",
        "flowstore-http",
        inherit_off,
        Some(ws_client)
    ));
    assert!(!allowed(
        "flowstore-server",
        "flowstore-http",
        ".workspace=true",
        Some(ws_client)
    ));
    assert!(allowed(
        "flowstore-server",
        "flowstore-http",
        "={path=\"../flowstore-http\",version=\"0.1.0\",default-features=false}",
        None
    ));
    assert!(!allowed(
        "flowstore-server",
        "flowstore-memory",
        inherit_off,
        Some(ws_protocol)
    ));
    assert!(!allowed(
        "flowstore-memory",
        "flowstore-http",
        inherit_off,
        Some(ws_protocol)
    ));
}
