//! The example app of `flowstore-browser` (`examples/form-app`) keeps a form's
//! state across a page reload: fill in the form in headless Chromium, reload,
//! and read the restored state back from the page. Screenshots before and after
//! the reload are kept next to the app as evidence.
//!
//! Needs Chromium, chromedriver and the built app (see the crate docs); run by
//! `cargo xtask browser`.

use std::fs;
use std::path::Path;

use fantoccini::{Client, Locator};
use flowstore_browser_e2e::chrome::{Chromedriver, wait_for};
use flowstore_browser_e2e::site::Site;
use flowstore_browser_e2e::{APP_DIR_VAR, CHROME_BIN_VAR, CHROMEDRIVER_VAR, path_from_env};
use serde_json::{Value, json};

#[tokio::test]
#[ignore = "needs Chromium, chromedriver and the built example app: run by `cargo xtask browser`"]
async fn form_state_survives_a_reload() {
    let setup = || -> Result<_, String> {
        Ok((
            path_from_env(APP_DIR_VAR)?,
            path_from_env(CHROMEDRIVER_VAR)?,
            path_from_env(CHROME_BIN_VAR)?,
        ))
    };
    let (app, chromedriver, chromium) = setup().unwrap_or_else(|e| panic!("{e}"));
    let site = Site::serve(&app).await.expect("serving the example app");
    let driver = Chromedriver::start(&chromedriver).unwrap_or_else(|e| panic!("{e}"));
    let client = driver
        .session(&chromium)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let result = reload_check(&client, &site.url("index.html"), &app).await;
    // Close the browser whatever the outcome; chromedriver dies with `driver`.
    let _ = client.close().await;
    if let Err(e) = result {
        panic!("{e}");
    }
}

async fn reload_check(client: &Client, url: &str, app: &Path) -> Result<(), String> {
    client
        .goto(url)
        .await
        .map_err(|e| format!("opening {url}: {e}"))?;
    wait_for(
        client,
        "document.body.dataset.ready === '1'",
        "the app to start",
    )
    .await?;
    // A clean slate, whatever an earlier run left in this profile.
    click(client, "#reset").await?;
    type_into(client, "#name", "Ada Lovelace").await?;
    click(client, "#next").await?;
    type_into(client, "#email", "ada@example.org").await?;
    wait_for(
        client,
        "(document.body.dataset.saved || '').includes('ada@example.org')",
        "the form state to be saved",
    )
    .await?;
    let before = app.join("before-reload.png");
    screenshot(client, &before).await?;

    client
        .refresh()
        .await
        .map_err(|e| format!("reloading: {e}"))?;
    wait_for(
        client,
        "document.body.dataset.ready === '1'",
        "the app to restart",
    )
    .await?;
    let state = script(client, "return document.body.dataset.state").await?;
    let fields = script(
        client,
        "return [document.querySelector('#name').value, document.querySelector('#email').value, \
         document.querySelector('fieldset[data-step=\"2\"]').hidden].join('|')",
    )
    .await?;
    let title = client
        .title()
        .await
        .map_err(|e| format!("reading the title: {e}"))?;
    let after = app.join("after-reload.png");
    screenshot(client, &after).await?;

    let state = state.as_str().unwrap_or_default().to_owned();
    let restored: Option<Value> = serde_json::from_str(&state).ok();
    let field = |name: &str| restored.as_ref().and_then(|s| s.get(name)).cloned();
    let problems = [
        (field("step") == Some(json!(2)), "step 2"),
        (field("name") == Some(json!("Ada Lovelace")), "the name"),
        (
            field("email") == Some(json!("ada@example.org")),
            "the email",
        ),
        (
            fields.as_str() == Some("Ada Lovelace|ada@example.org|false"),
            "the visible fields",
        ),
        (title.contains("step 2 of 3"), "the title"),
    ]
    .into_iter()
    .filter(|(ok, _)| !ok)
    .map(|(_, what)| what)
    .collect::<Vec<_>>();
    if !problems.is_empty() {
        return Err(format!(
            "the form state did not survive the reload ({} wrong): data-state={state:?}, \
             fields={fields:?}, title={title:?}; screenshots: {} {}",
            problems.join(", "),
            before.display(),
            after.display()
        ));
    }
    for shot in [&before, &after] {
        check_png(shot)?;
    }
    println!(
        "example app: form state survived a reload ({title:?}); screenshots: {} {}",
        before.display(),
        after.display()
    );
    Ok(())
}

async fn click(client: &Client, css: &str) -> Result<(), String> {
    let element = client
        .find(Locator::Css(css))
        .await
        .map_err(|e| format!("finding {css}: {e}"))?;
    element
        .click()
        .await
        .map_err(|e| format!("clicking {css}: {e}"))
}

async fn type_into(client: &Client, css: &str, text: &str) -> Result<(), String> {
    let element = client
        .find(Locator::Css(css))
        .await
        .map_err(|e| format!("finding {css}: {e}"))?;
    element
        .send_keys(text)
        .await
        .map_err(|e| format!("typing into {css}: {e}"))
}

async fn script(client: &Client, script: &str) -> Result<Value, String> {
    client
        .execute(script, Vec::new())
        .await
        .map_err(|e| format!("running `{script}`: {e}"))
}

async fn screenshot(client: &Client, path: &Path) -> Result<(), String> {
    let png = client
        .screenshot()
        .await
        .map_err(|e| format!("taking a screenshot: {e}"))?;
    fs::write(path, png).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// A screenshot is a PNG of some size, not an empty or error answer.
fn check_png(path: &Path) -> Result<(), String> {
    let bytes = fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    if bytes.len() < 1000 || !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Err(format!("{} is not a real screenshot", path.display()));
    }
    Ok(())
}
