//! The two schema versions of the signup context and the migration between
//! them.
//!
//! Version 1 kept the name in one field, `fullName`; version 2 splits it into
//! `firstName` and `lastName`. A server at version 2 migrates what a version 1
//! server saved as it restores it; the stored JSON is rewritten at version 2
//! on the next save.

use flowstore_flow::FlowState;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::steps::Step;

/// One schema version of the signup context: its type, how a step's fields
/// fill it in, and how older versions become it.
pub(crate) trait Schema: Send + Sync + 'static {
    /// The `__meta.version` stamped on every save.
    const VERSION: &'static str;

    /// The application's context at this version.
    type Context: Serialize + DeserializeOwned + Default + Send + Sync + 'static;

    /// Checks the fields posted to `step` and writes them into `context`. The
    /// error names what is wrong, never the value sent (it can be personal).
    fn fill(context: &mut Self::Context, step: Step, fields: &[u8]) -> Result<(), String>;

    /// The persister's migrate callback: a state saved at schema version
    /// `from` turned into this version.
    fn migrate(
        state: FlowState<Value>,
        from: Option<&str>,
    ) -> Result<Option<FlowState<Value>>, String>;
}

/// Schema version 1: the name in one field.
pub(crate) enum V1 {}

/// Schema version 2: first and last name apart.
pub(crate) enum V2 {}

/// The context at version 1.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignupV1 {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    full_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plan: Option<String>,
    /// Fields a newer front end added: kept through a restore and save.
    #[serde(flatten)]
    extra: Map<String, Value>,
}

/// The context at version 2.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignupV2 {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plan: Option<String>,
    /// Fields a newer front end added: kept through a restore and save.
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountFields {
    email: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProfileFieldsV1 {
    full_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProfileFieldsV2 {
    first_name: String,
    last_name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFields {
    plan: String,
}

/// The plans a user can choose.
const PLANS: [&str; 3] = ["free", "pro", "team"];

impl Schema for V1 {
    const VERSION: &'static str = "1";
    type Context = SignupV1;

    fn fill(context: &mut SignupV1, step: Step, fields: &[u8]) -> Result<(), String> {
        match step {
            Step::Account => context.email = Some(email(fields)?),
            Step::Profile => {
                let ProfileFieldsV1 { full_name } = parse(fields, r#"{"fullName": "..."}"#)?;
                context.full_name = Some(name("fullName", full_name)?);
            }
            Step::Plan => context.plan = Some(plan(fields)?),
            Step::Complete => return Err(NO_FIELDS.into()),
        }
        Ok(())
    }

    /// A server at version 1 cannot read what a newer one saved: the restore
    /// fails (the run stays stored) rather than starting the user over.
    fn migrate(
        _state: FlowState<Value>,
        from: Option<&str>,
    ) -> Result<Option<FlowState<Value>>, String> {
        Err(format!(
            "this server runs schema version 1 and cannot read version {}",
            from.unwrap_or("(none)")
        ))
    }
}

impl Schema for V2 {
    const VERSION: &'static str = "2";
    type Context = SignupV2;

    fn fill(context: &mut SignupV2, step: Step, fields: &[u8]) -> Result<(), String> {
        match step {
            Step::Account => context.email = Some(email(fields)?),
            Step::Profile => {
                let ProfileFieldsV2 {
                    first_name,
                    last_name,
                } = parse(fields, r#"{"firstName": "...", "lastName": "..."}"#)?;
                context.first_name = Some(name("firstName", first_name)?);
                context.last_name = Some(name("lastName", last_name)?);
            }
            Step::Plan => context.plan = Some(plan(fields)?),
            Step::Complete => return Err(NO_FIELDS.into()),
        }
        Ok(())
    }

    fn migrate(
        mut state: FlowState<Value>,
        from: Option<&str>,
    ) -> Result<Option<FlowState<Value>>, String> {
        match from {
            Some("1") => {
                split_full_name(&mut state.context)?;
                Ok(Some(state))
            }
            // Anything else was not written by this service: refuse it loudly
            // rather than discard a user's progress.
            other => Err(format!(
                "no migration from schema version {} to 2",
                other.unwrap_or("(none)")
            )),
        }
    }
}

/// Version 1 → 2: `fullName` becomes `firstName` (up to the first space) and
/// `lastName` (the rest, absent for a one-word name). Other fields stay.
fn split_full_name(context: &mut Value) -> Result<(), String> {
    let Value::Object(fields) = context else {
        return Err("a version 1 context is a JSON object".into());
    };
    let full_name = match fields.remove("fullName") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::String(full_name)) => full_name,
        Some(_) => return Err("a version 1 fullName is a string".into()),
    };
    let mut parts = full_name.trim().splitn(2, char::is_whitespace);
    let first = parts.next().unwrap_or_default();
    let last = parts.next().map(str::trim).unwrap_or_default();
    if !first.is_empty() {
        fields.insert("firstName".into(), Value::String(first.into()));
    }
    if !last.is_empty() {
        fields.insert("lastName".into(), Value::String(last.into()));
    }
    Ok(())
}

const NO_FIELDS: &str = "the final step takes no fields";

fn parse<T: DeserializeOwned>(fields: &[u8], shape: &str) -> Result<T, String> {
    // serde's message can quote the value sent: name the expected shape instead.
    serde_json::from_slice(fields).map_err(|_| format!("this step takes {shape}"))
}

fn email(fields: &[u8]) -> Result<String, String> {
    let AccountFields { email } = parse(fields, r#"{"email": "..."}"#)?;
    let email = email.trim();
    let plausible = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if plausible {
        Ok(email.to_owned())
    } else {
        Err("email is not an e-mail address".into())
    }
}

fn name(field: &str, value: String) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 100 {
        return Err(format!("{field} is 1 to 100 characters"));
    }
    Ok(value.to_owned())
}

fn plan(fields: &[u8]) -> Result<String, String> {
    let PlanFields { plan } = parse(fields, r#"{"plan": "free" | "pro" | "team"}"#)?;
    if PLANS.contains(&plan.as_str()) {
        Ok(plan)
    } else {
        Err(format!("plan is one of {}", PLANS.join(", ")))
    }
}
