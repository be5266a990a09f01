//! `flows list` and `flows show`, black-box: the real binary on a SQLite file
//! seeded (through the binary's own `set`) with flowstore-flow's fixtures of
//! the original design's saved flows.

mod common;

use common::{Sandbox, assert_error, assert_exit};
use serde_json::Value;

const ACTIVE_V1: &str = include_str!("../../flowstore-flow/tests/fixtures/active-v1.json");
const ACTIVE_V2: &str =
    include_str!("../../flowstore-flow/tests/fixtures/active-v2-with-unknown-fields.json");
const COMPLETE: &str =
    include_str!("../../flowstore-flow/tests/fixtures/complete-without-ids.json");

/// A sandbox whose default store (`sqlite://flowstore.db`) holds the fixtures
/// under the default layout's keys, and one key outside any flow.
fn seeded() -> Sandbox {
    let sandbox = Sandbox::new();
    for (key, json) in [
        ("useflow:onboarding:short:user-7", ACTIVE_V1),
        ("useflow:onboarding:default:user-42", ACTIVE_V2),
        ("useflow:checkout:default:default", COMPLETE),
        ("useflow:onboardingx:default:user-1", ACTIVE_V1),
        ("unrelated", "{}"),
    ] {
        assert_exit(&sandbox.run_with_stdin(["set", key], json.as_bytes()), 0);
    }
    sandbox
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

#[test]
fn list_prints_one_line_per_instance_of_the_flow() {
    let sandbox = seeded();
    let list = sandbox.run(["flows", "list", "onboarding"]);
    assert_exit(&list, 0);
    assert!(list.stderr.is_empty(), "{list:?}");
    // Key order: `default` before `short`. `onboardingx` is another flow.
    assert_eq!(
        stdout(&list),
        "user-42\tdefault\tprofile\tactive\t2024-12-04T08:13:27.000Z\t2\n\
         user-7\tshort\twelcome\tactive\t2024-12-04T08:13:21.000Z\t1\n"
    );

    // No savedAt, no schema version: `-`.
    let list = sandbox.run(["flows", "list", "checkout"]);
    assert_exit(&list, 0);
    assert_eq!(stdout(&list), "default\tdefault\tdone\tcomplete\t-\t-\n");

    // A flow with no instances lists nothing and succeeds.
    let list = sandbox.run(["flows", "list", "nobody"]);
    assert_exit(&list, 0);
    assert!(list.stdout.is_empty());
}

#[test]
fn list_json_prints_one_object_per_line() {
    let sandbox = seeded();
    let list = sandbox.run(["flows", "list", "--json", "onboarding"]);
    assert_exit(&list, 0);
    let objects: Vec<Value> = stdout(&list)
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
        .collect();
    assert_eq!(
        objects,
        [
            serde_json::json!({
                "key": "useflow:onboarding:default:user-42",
                "instance_id": "user-42",
                "variant_id": "default",
                "step": "profile",
                "status": "active",
                "saved_at": "2024-12-04T08:13:27.000Z",
                "schema_version": "2",
            }),
            serde_json::json!({
                "key": "useflow:onboarding:short:user-7",
                "instance_id": "user-7",
                "variant_id": "short",
                "step": "welcome",
                "status": "active",
                "saved_at": "2024-12-04T08:13:21.000Z",
                "schema_version": "1",
            }),
        ]
    );
    let list = sandbox.run(["flows", "list", "checkout", "--json"]);
    let object: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(object["saved_at"], Value::Null);
    assert_eq!(object["schema_version"], Value::Null);
}

/// A value under the flow's prefix that is not a flow is named with its key on
/// stderr; the valid instances are still listed and the command exits 2.
#[test]
fn invalid_values_are_named_and_fail_the_listing_at_the_end() {
    let sandbox = seeded();
    for (key, value) in [
        (
            "useflow:onboarding:default:broken",
            "{\"flowId\": \"onboarding\"",
        ),
        ("useflow:onboarding:default:not-a-flow", "[1, 2, 3]"),
        // A valid flow, but stored under a key its ids do not give.
        ("useflow:onboarding:default:moved", ACTIVE_V2),
    ] {
        assert_exit(&sandbox.run(["set", key, value]), 0);
    }
    for json in [false, true] {
        let mut args = vec!["flows", "list", "onboarding"];
        if json {
            args.push("--json");
        }
        let list = sandbox.run(&args);
        assert_exit(&list, 2);
        assert_eq!(stdout(&list).lines().count(), 2, "{list:?}");
        let stderr = String::from_utf8(list.stderr).unwrap();
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 4, "{stderr}");
        assert!(
            lines[0].contains("invalid \"useflow:onboarding:default:broken\""),
            "{stderr}"
        );
        assert!(lines[0].contains("truncated JSON"), "{stderr}");
        assert!(
            lines[1].contains("invalid \"useflow:onboarding:default:moved\""),
            "{stderr}"
        );
        assert!(
            lines[1].contains("useflow:onboarding:default:user-42"),
            "{stderr}"
        );
        assert!(
            lines[2].contains("invalid \"useflow:onboarding:default:not-a-flow\""),
            "{stderr}"
        );
        assert!(
            lines[3].contains("3 stored values are not a valid flow"),
            "{stderr}"
        );
        // The stored text is never echoed.
        assert!(!stderr.contains("[1, 2, 3]"), "{stderr}");
    }
}

#[test]
fn show_prints_the_stored_json_with_unknown_fields_in_order() {
    let sandbox = seeded();
    let show = sandbox.run(["flows", "show", "onboarding", "--instance", "user-42"]);
    assert_exit(&show, 0);
    let text = stdout(&show);
    // The same JSON as stored, unknown fields included...
    let shown: Value = serde_json::from_str(&text).unwrap();
    let stored: Value = serde_json::from_str(ACTIVE_V2).unwrap();
    assert_eq!(shown, stored);
    for unknown in [
        "clientBuild",
        "experiment",
        "savedBy",
        "durationHint",
        "device",
        "newsletter",
    ] {
        assert!(
            text.contains(&format!("\"{unknown}\"")),
            "{unknown} in {text}"
        );
    }
    // ...in the stored order (not sorted: `stepId` comes before `context`), pretty.
    assert!(text.find("\"stepId\"").unwrap() < text.find("\"context\"").unwrap());
    assert!(
        text.starts_with("{\n  \"flowId\": \"onboarding\",\n"),
        "{text}"
    );

    let show = sandbox.run([
        "flows",
        "show",
        "onboarding",
        "--variant",
        "short",
        "--instance",
        "user-7",
    ]);
    assert_exit(&show, 0);
    assert_eq!(
        serde_json::from_slice::<Value>(&show.stdout).unwrap(),
        serde_json::from_str::<Value>(ACTIVE_V1).unwrap()
    );

    // Missing ids are `default`.
    let show = sandbox.run(["flows", "show", "checkout"]);
    assert_exit(&show, 0);
    assert!(stdout(&show).contains("\"completedAt\": 1733400021000"));
}

#[test]
fn show_exits_1_when_there_is_no_such_instance() {
    let sandbox = seeded();
    for args in [
        &["flows", "show", "onboarding"][..],
        &["flows", "show", "onboarding", "--instance", "user-7"],
        &["flows", "show", "nobody", "--instance", "user-42"],
    ] {
        let show = sandbox.run(args);
        assert_exit(&show, 1);
        assert!(show.stdout.is_empty());
        assert!(String::from_utf8_lossy(&show.stderr).contains("no saved instance"));
    }
}

#[test]
fn show_of_a_value_that_is_not_a_flow_is_an_error_without_its_text() {
    let sandbox = seeded();
    assert_exit(
        &sandbox.run(["set", "useflow:f:default:default", "secret-ish text"]),
        0,
    );
    let message = assert_error(&sandbox.run(["flows", "show", "f"]));
    assert!(message.contains("not a saved flow"), "{message}");
    assert!(!message.contains("secret-ish"), "{message}");
}

#[test]
fn the_prefix_option_names_the_first_segment() {
    let sandbox = seeded();
    assert_exit(
        &sandbox.run_with_stdin(
            ["set", "app:onboarding:default:user-42"],
            ACTIVE_V2.as_bytes(),
        ),
        0,
    );
    let list = sandbox.run(["flows", "list", "onboarding", "--prefix", "app"]);
    assert_exit(&list, 0);
    assert_eq!(stdout(&list).lines().count(), 1);
    let show = sandbox.run([
        "flows",
        "show",
        "onboarding",
        "--instance",
        "user-42",
        "--prefix",
        "app",
    ]);
    assert_exit(&show, 0);

    // A prefix that could swallow other keys, or a flow id that could, is refused.
    for args in [
        &["flows", "list", "onboarding", "--prefix", "a:b"][..],
        &["flows", "list", "onboarding", "--prefix", ""],
        &["flows", "list", "on:boarding"],
    ] {
        let message = assert_error(&sandbox.run(args));
        assert!(message.contains("':'"), "{message}");
    }
}

#[test]
fn the_namespace_option_and_store_url_apply() {
    let sandbox = Sandbox::new();
    assert_exit(
        &sandbox.run_with_stdin(
            [
                "--store",
                "sqlite://other.db",
                "--namespace",
                "web",
                "set",
                "useflow:onboarding:default:user-42",
            ],
            ACTIVE_V2.as_bytes(),
        ),
        0,
    );
    let list = sandbox.run([
        "--store",
        "sqlite://other.db",
        "--namespace",
        "web",
        "flows",
        "list",
        "onboarding",
    ]);
    assert_exit(&list, 0);
    assert_eq!(stdout(&list).lines().count(), 1);
    // Another namespace of the same file holds none.
    let list = sandbox.run([
        "--store",
        "sqlite://other.db",
        "flows",
        "list",
        "onboarding",
    ]);
    assert_exit(&list, 0);
    assert!(list.stdout.is_empty());
}
