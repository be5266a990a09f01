//! The web console of `flowstore serve --console` in headless Chromium: the
//! server runs in-process over a seeded memory store, with a token.
//!
//! One browser session walks through: sign-in with a wrong then the right
//! token; 2 000 keys across pages; a JSON value; a delete (and a delete
//! refused because the key changed since the listing); hostile keys, values
//! and step ids that must render as text with no script running; the flows
//! page's flow ids (found with "scan more" past the server's per-request
//! bound; a hostile one among them) and counts (with "count more") against
//! the seeded data; a large binary value (hex of its start only, the rest as
//! a download); answers that arrive late (held back in the page) never
//! overwrite what a newer request shows; focus after dialogs; sign-out
//! forgets what was shown; and sign-in and opening a value with the keyboard
//! alone.
//!
//! With `FLOWSTORE_CONSOLE_SCREENSHOTS` naming a directory, a PNG of each page
//! is written there (`cargo xtask screenshots` points it at `docs/`).
//!
//! Needs Chromium and chromedriver; run by `cargo xtask browser`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key as WebKey;
use fantoccini::{Client, Locator};
use flowstore_browser_e2e::chrome::{Chromedriver, wait_for};
use flowstore_browser_e2e::{CHROME_BIN_VAR, CHROMEDRIVER_VAR, path_from_env};
use flowstore_core::{Key, SetItem, Store};
use flowstore_memory::MemoryStore;
use flowstore_server::{ServerConfig, Token};
use serde_json::{Value, json};

const TOKEN: &str = "console-e2e-token";
/// Where screenshots go when set.
const SCREENSHOTS_VAR: &str = "FLOWSTORE_CONSOLE_SCREENSHOTS";

const BULK: usize = 2000;
const HOSTILE_KEY: &str = r#"hostile:<img src=x onerror="window.__pwned='key'">"#;
const HOSTILE_VALUE: &str =
    r#"<script>window.__pwned='value'</script><img src=x onerror="window.__pwned='value-img'">"#;
const HOSTILE_STEP: &str = r#"<img src=x onerror="window.__pwned='step'">"#;
/// A flow id (a key's second segment, so no `:`): the discovery list shows
/// it as a button's text, in its `aria-label` and in `data-flow`. It sorts
/// before every other flow id (`<` is before the letters).
const HOSTILE_FLOW: &str = r#"<img src=x onerror="window.__pwned='flow'">"#;

/// The seeded flow: active instances per step, and completed ones. More than
/// the 1 000 keys one summary request reads, so the page must ask for more.
const STEPS: [(&str, usize); 4] = [
    ("profile", 700),
    ("welcome", 350),
    ("plan", 100),
    (HOSTILE_STEP, 1),
];
const COMPLETED: usize = 120;
/// Another flow, listed before `onboarding`: discovery finds both.
const CHECKOUT: usize = 3;
/// A binary value longer than the view's 256 KiB preview.
const BIG_BINARY: usize = 300 * 1024;
/// Characters of 3 bytes: the 256 KiB preview ends inside one.
const LONG_TEXT_CHARS: usize = 100_000;

#[tokio::test]
#[ignore = "needs Chromium and chromedriver: run by `cargo xtask browser`"]
async fn console_in_chromium() {
    let setup = || -> Result<_, String> {
        Ok((
            path_from_env(CHROMEDRIVER_VAR)?,
            path_from_env(CHROME_BIN_VAR)?,
        ))
    };
    let (chromedriver, chromium) = setup().unwrap_or_else(|e| panic!("{e}"));
    let shots = std::env::var_os(SCREENSHOTS_VAR)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let store = MemoryStore::new();
    seed(&store).await;
    let base = serve(&store).await;
    let driver = Chromedriver::start(&chromedriver).unwrap_or_else(|e| panic!("{e}"));
    let client = driver
        .session(&chromium)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let result = walk_through(&client, &base, &store, shots.as_deref()).await;
    let _ = client.close().await;
    if let Err(e) = result {
        panic!("{e}");
    }
}

async fn serve(store: &MemoryStore) -> String {
    let mut config = ServerConfig::default();
    config.listen = "127.0.0.1:0".into();
    config.token = Some(Token::new(TOKEN).unwrap());
    config.console = true;
    config.metrics = false;
    let server = flowstore_server::bind(Arc::new(store.clone()), config)
        .await
        .expect("binding the server");
    let base = format!("http://{}", server.local_addr());
    tokio::spawn(server.run(std::future::pending()));
    base
}

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

fn instance(id: &str, step: &str, status: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "flowId": "onboarding",
        "instanceId": id,
        "variantId": "default",
        "state": {
            "stepId": step,
            "context": { "name": id },
            "path": [],
            "history": [],
            "status": status,
            "startedAt": 1733300000000u64,
            "__meta": { "savedAt": 1733300007000u64, "version": "2" }
        }
    }))
    .unwrap()
}

async fn seed(store: &MemoryStore) {
    let mut pairs: Vec<(Key, Vec<u8>)> = (0..BULK)
        .map(|i| {
            (
                key(&format!("bulk:{i:05}")),
                format!("value {i}").into_bytes(),
            )
        })
        .collect();
    pairs.push((
        key("profile:ada"),
        br#"{"name":"Ada","plan":"pro","tags":["a","b"]}"#.to_vec(),
    ));
    pairs.push((key("binary:blob"), vec![0, 159, 146, 150, 255]));
    pairs.push((
        key("binary:big"),
        (0..BIG_BINARY).map(|i| (i % 256) as u8).collect(),
    ));
    pairs.push((key("text:long"), "€".repeat(LONG_TEXT_CHARS).into_bytes()));
    for i in 0..CHECKOUT {
        pairs.push((
            key(&format!("useflow:checkout:default:c{i}")),
            instance(&format!("c{i}"), "cart", "active"),
        ));
    }
    pairs.push((key(HOSTILE_KEY), HOSTILE_VALUE.as_bytes().to_vec()));
    pairs.push((
        key(&format!("useflow:{HOSTILE_FLOW}:default:u")),
        instance("u", "start", "active"),
    ));
    let mut n = 0;
    for (step, count) in STEPS {
        for _ in 0..count {
            let id = format!("user-{n:05}");
            pairs.push((
                key(&format!("useflow:onboarding:default:{id}")),
                instance(&id, step, "active"),
            ));
            n += 1;
        }
    }
    for _ in 0..COMPLETED {
        let id = format!("user-{n:05}");
        pairs.push((
            key(&format!("useflow:onboarding:default:{id}")),
            instance(&id, "done", "complete"),
        ));
        n += 1;
    }
    pairs.push((key("useflow:onboarding:default:zz-broken"), b"{".to_vec()));
    for chunk in pairs.chunks(1000) {
        let items: Vec<SetItem<'_>> = chunk
            .iter()
            .map(|(k, v)| SetItem::new(k, v, None))
            .collect();
        store.set_many(&items).await.unwrap();
    }
}

async fn walk_through(
    client: &Client,
    base: &str,
    store: &MemoryStore,
    shots: Option<&Path>,
) -> Result<(), String> {
    let url = format!("{base}/console");
    client
        .goto(&url)
        .await
        .map_err(|e| format!("opening {url}: {e}"))?;
    wait_for(
        client,
        "document.body.dataset.ready === '1'",
        "the console to start",
    )
    .await?;
    let at = client.current_url().await.map_err(|e| e.to_string())?;
    if !at.as_str().ends_with("/console/") {
        return Err(format!(
            "/console should redirect to /console/, the page is at {at}"
        ));
    }
    sign_in(client, shots)
        .await
        .map_err(|e| format!("sign-in: {e}"))?;
    browse_pages(client)
        .await
        .map_err(|e| format!("browsing 2 000 keys: {e}"))?;
    view_json(client, shots)
        .await
        .map_err(|e| format!("viewing a JSON value: {e}"))?;
    view_binary(client)
        .await
        .map_err(|e| format!("viewing a binary value: {e}"))?;
    view_large(client)
        .await
        .map_err(|e| format!("viewing large values: {e}"))?;
    late_values(client)
        .await
        .map_err(|e| format!("values that arrive late: {e}"))?;
    delete(client, store)
        .await
        .map_err(|e| format!("deleting a key: {e}"))?;
    hostile(client)
        .await
        .map_err(|e| format!("hostile values: {e}"))?;
    flows(client, shots)
        .await
        .map_err(|e| format!("the flows page: {e}"))?;
    keyboard_only(client)
        .await
        .map_err(|e| format!("with the keyboard alone: {e}"))?;
    no_script_ran(client)
        .await
        .map_err(|e| format!("at the end: {e}"))?;
    println!("console: every check passed in Chromium");
    Ok(())
}

// ---------------------------------------------------------------------------
// The steps

async fn sign_in(client: &Client, shots: Option<&Path>) -> Result<(), String> {
    wait_for(
        client,
        "!document.getElementById('signin-page').hidden",
        "the sign-in form",
    )
    .await?;
    type_into(client, "#token", "wrong-token").await?;
    click(client, "#signin-submit").await?;
    wait_for(
        client,
        "document.getElementById('signin-error').textContent.includes('refused')",
        "the wrong token to be refused",
    )
    .await?;
    let kept = script(client, "return sessionStorage.length").await?;
    let keys_shown = script(
        client,
        "return !document.getElementById('keys-page').hidden",
    )
    .await?;
    if kept != json!(0) || keys_shown != json!(false) {
        return Err(format!(
            "a wrong token let the user in (stored {kept}, keys shown {keys_shown})"
        ));
    }
    if let Some(dir) = shots {
        screenshot(client, &dir.join("console-signin.png")).await?;
    }
    clear(client, "#token").await?;
    type_into(client, "#token", TOKEN).await?;
    click(client, "#signin-submit").await?;
    wait_for(
        client,
        "!document.getElementById('keys-page').hidden",
        "the keys page after sign-in",
    )
    .await?;
    let stored = script(
        client,
        "return sessionStorage.getItem('flowstore-console-token')",
    )
    .await?;
    if stored != json!(TOKEN) {
        return Err(format!("the token is not in session storage: {stored}"));
    }
    Ok(())
}

/// Lists `prefix` and waits for the first page.
async fn list(client: &Client, prefix: &str) -> Result<(), String> {
    clear(client, "#keys-prefix").await?;
    type_into(client, "#keys-prefix", prefix).await?;
    script(
        client,
        "document.getElementById('keys-caption').textContent = 'waiting'",
    )
    .await?;
    click(client, "#keys-list").await?;
    wait_for(
        client,
        "document.getElementById('keys-caption').textContent.startsWith('Page 1 ')",
        "the first page of the listing",
    )
    .await
}

async fn page_keys(client: &Client) -> Result<Vec<String>, String> {
    let keys = script(
        client,
        "return [...document.querySelectorAll('#keys-rows tr')].map(tr => tr.dataset.key)",
    )
    .await?;
    serde_json::from_value(keys).map_err(|e| e.to_string())
}

async fn browse_pages(client: &Client) -> Result<(), String> {
    list(client, "bulk:").await?;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        pages += 1;
        let keys = page_keys(client).await?;
        if keys.is_empty() || keys.len() > 100 {
            return Err(format!("page {pages} holds {} keys", keys.len()));
        }
        seen.extend(keys);
        let more = script(
            client,
            "return !document.getElementById('keys-next').disabled",
        )
        .await?;
        if more != json!(true) {
            break;
        }
        click(client, "#keys-next").await?;
        wait_for(
            client,
            &format!(
                "document.getElementById('keys-caption').textContent.startsWith('Page {} ')",
                pages + 1
            ),
            "the next page",
        )
        .await?;
        if pages == 1 {
            // Disabled while the page loaded, the button has the focus again.
            focused(client, "keys-next", "after the next page loaded").await?;
        }
    }
    let expected: Vec<String> = (0..BULK).map(|i| format!("bulk:{i:05}")).collect();
    if seen != expected {
        return Err(format!(
            "{} keys over {pages} pages, not the {BULK} seeded in order (first {:?}, last {:?})",
            seen.len(),
            seen.first(),
            seen.last()
        ));
    }
    if pages != BULK / 100 {
        return Err(format!("{pages} pages of 100 for {BULK} keys"));
    }
    // Back one page.
    click(client, "#keys-prev").await?;
    wait_for(
        client,
        &format!(
            "document.getElementById('keys-caption').textContent.startsWith('Page {} ')",
            pages - 1
        ),
        "the previous page",
    )
    .await?;
    let back = page_keys(client).await?;
    if back.first().map(String::as_str) != Some("bulk:01800") {
        return Err(format!("the previous page starts at {:?}", back.first()));
    }
    Ok(())
}

async fn view_json(client: &Client, shots: Option<&Path>) -> Result<(), String> {
    list(client, "profile:").await?;
    click(client, "#keys-rows button[data-key='profile:ada']").await?;
    wait_for(
        client,
        "document.getElementById('value-format').textContent === 'JSON'",
        "the value shown as JSON",
    )
    .await?;
    let body = script(
        client,
        "return document.getElementById('value-body').textContent",
    )
    .await?;
    let expected =
        serde_json::to_string_pretty(&json!({"name": "Ada", "plan": "pro", "tags": ["a", "b"]}))
            .unwrap();
    if body != Value::String(expected.clone()) {
        return Err(format!("the value reads {body}, not {expected:?}"));
    }
    let version = script(
        client,
        "return document.getElementById('value-version').textContent",
    )
    .await?;
    if version.as_str().is_none_or(|v| v.is_empty() || v == "—") {
        return Err(format!("no entry version shown: {version}"));
    }
    if let Some(dir) = shots {
        screenshot(client, &dir.join("console-keys.png")).await?;
    }
    click(client, "#value-close").await
}

async fn view_binary(client: &Client) -> Result<(), String> {
    list(client, "binary:").await?;
    click(client, "#keys-rows button[data-key='binary:blob']").await?;
    wait_for(
        client,
        "document.getElementById('value-format').textContent === 'binary (hex)'",
        "the value shown as hex",
    )
    .await?;
    let body = script(
        client,
        "return document.getElementById('value-body').textContent",
    )
    .await?;
    if body != json!("00000000  00 9f 92 96 ff") {
        return Err(format!("the hex dump reads {body}"));
    }
    click(client, "#value-close").await
}

/// A binary value past the preview is still hex (not text decoded
/// leniently); loaded whole, only the hex of its first 64 KiB is rendered and
/// the rest is a download. A long text whose preview ends inside a character
/// is still text.
async fn view_large(client: &Client) -> Result<(), String> {
    list(client, "binary:").await?;
    click(client, "#keys-rows button[data-key='binary:big']").await?;
    wait_for(
        client,
        "document.getElementById('value-format').textContent === 'binary (hex, cut)'",
        "the preview of a large binary value shown as hex",
    )
    .await?;
    let lines = "return [document.getElementById('value-body').textContent.split('\\n').length, \
                 !document.getElementById('value-capped').hidden, \
                 !document.getElementById('value-all').hidden, \
                 !document.getElementById('value-download').hidden]";
    let preview = script(client, lines).await?;
    if preview != json!([4096, true, true, false]) {
        return Err(format!(
            "the preview should render 4 096 hex lines (64 KiB), say so and offer the whole value: {preview}"
        ));
    }
    click(client, "#value-all").await?;
    wait_for(
        client,
        "document.getElementById('value-format').textContent === 'binary (hex)' \
         && !document.getElementById('value-download').hidden",
        "the whole value loaded",
    )
    .await?;
    let whole = script(client, lines).await?;
    if whole != json!([4096, true, false, true]) {
        return Err(format!(
            "the whole value should still render 4 096 hex lines and offer a download: {whole}"
        ));
    }
    let link = script(
        client,
        "const a = document.getElementById('value-download'); return [a.href.startsWith('blob:'), a.textContent, a.download]",
    )
    .await?;
    if link
        != json!([
            true,
            "Download the whole value (300.0 KiB)",
            "binary_big.bin"
        ])
    {
        return Err(format!("the download link reads {link}"));
    }
    click(client, "#value-close").await?;
    no_download_link(client, "after Close").await?;

    list(client, "text:").await?;
    click(client, "#keys-rows button[data-key='text:long']").await?;
    wait_for(
        client,
        "document.getElementById('value-format').textContent === 'text (cut)'",
        "a cut text shown as text",
    )
    .await?;
    let text = script(
        client,
        "const t = document.getElementById('value-body').textContent; return [t.length, /^€+$/.test(t)]",
    )
    .await?;
    // 256 KiB of 3-byte characters: 87 381 whole ones, the split one left out.
    if text != json!([87_381, true]) {
        return Err(format!("the cut text reads [length, all €] = {text}"));
    }
    click(client, "#value-close").await
}

/// The download link is hidden and points nowhere (its `blob:` URL is
/// revoked with it; the page's policy keeps a test from fetching that URL).
async fn no_download_link(client: &Client, when: &str) -> Result<(), String> {
    let link = script(
        client,
        "const a = document.getElementById('value-download'); return [a.hidden, a.hasAttribute('href')]",
    )
    .await?;
    if link != json!([true, false]) {
        return Err(format!(
            "{when}, the download link is [hidden, has href] = {link}"
        ));
    }
    Ok(())
}

/// A value's answer that arrives after the user opened another key, or
/// closed the view, changes nothing: the view keeps the newer key's value
/// and version, and a closed view offers no download.
async fn late_values(client: &Client) -> Result<(), String> {
    list(client, "binary:").await?;
    let version_of = |key: &str| {
        format!(
            "return [...document.querySelectorAll('#keys-rows tr')].find(tr => tr.dataset.key === '{key}').cells[3].textContent"
        )
    };
    let big_version = script(client, &version_of("binary:big")).await?;
    hold(client, "binary%3Ablob").await?;
    click(client, "#keys-rows button[data-key='binary:blob']").await?;
    held(client, 1).await?;
    click(client, "#keys-rows button[data-key='binary:big']").await?;
    wait_for(
        client,
        "document.getElementById('value-format').textContent === 'binary (hex, cut)'",
        "the second key's preview",
    )
    .await?;
    release(client, 0).await?;
    let view = script(
        client,
        "return [document.getElementById('value-key').textContent,          document.getElementById('value-format').textContent,          document.getElementById('value-version').textContent,          document.getElementById('value-body').textContent.slice(0, 57)]",
    )
    .await?;
    let expected = json!([
        "binary:big",
        "binary (hex, cut)",
        big_version,
        "00000000  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f"
    ]);
    if view != expected {
        return Err(format!(
            "the first key's late answer changed the view to {view}, expected {expected}"
        ));
    }

    // Closed while the whole value loads: no download appears afterwards.
    hold(client, "binary%3Abig").await?;
    click(client, "#value-all").await?;
    held(client, 1).await?;
    click(client, "#value-close").await?;
    release(client, 0).await?;
    stop_holding(client).await?;
    no_download_link(client, "after the view closed during a whole load").await?;
    let shown = script(
        client,
        "return [document.getElementById('value-view').hidden, document.getElementById('value-body').textContent]",
    )
    .await?;
    if shown != json!([true, ""]) {
        return Err(format!(
            "a load finished after Close filled the view: [hidden, body] = {shown}"
        ));
    }
    Ok(())
}

async fn delete(client: &Client, store: &MemoryStore) -> Result<(), String> {
    list(client, "bulk:").await?;
    // Deleted after a confirmation.
    click(client, "#keys-rows tr[data-key='bulk:00000'] button.delete").await?;
    wait_for(
        client,
        "!document.getElementById('delete-confirm').hidden",
        "the confirmation",
    )
    .await?;
    if store
        .get(&key("bulk:00000"))
        .await
        .map_err(|e| e.to_string())?
        .is_none()
    {
        return Err("deleted before the confirmation".into());
    }
    click(client, "#delete-yes").await?;
    wait_for(
        client,
        "document.getElementById('keys-rows').firstElementChild?.dataset.key === 'bulk:00001'",
        "the listing without the deleted key",
    )
    .await?;
    focused(client, "keys-title", "after a delete (its row is gone)").await?;
    if store
        .get(&key("bulk:00000"))
        .await
        .map_err(|e| e.to_string())?
        .is_some()
    {
        return Err("the key is still in the store".into());
    }
    // Cancelled: nothing happens, and the focus is back on the button.
    click(client, "#keys-rows tr[data-key='bulk:00001'] button.delete").await?;
    wait_for(
        client,
        "!document.getElementById('delete-confirm').hidden",
        "the confirmation",
    )
    .await?;
    click(client, "#delete-no").await?;
    wait_for(
        client,
        "document.getElementById('delete-confirm').hidden",
        "the confirmation to close",
    )
    .await?;
    if store
        .get(&key("bulk:00001"))
        .await
        .map_err(|e| e.to_string())?
        .is_none()
    {
        return Err("a cancelled delete deleted the key".into());
    }
    let after_cancel = script(
        client,
        "return [document.getElementById('keys-rows').firstElementChild?.dataset.key, \
         document.activeElement?.closest('tr')?.dataset.key ?? null, \
         document.activeElement?.classList.contains('delete') ?? false]",
    )
    .await?;
    if after_cancel != json!(["bulk:00001", "bulk:00001", true]) {
        return Err(format!(
            "after cancelling, [first row, focused row, focus on Delete] = {after_cancel}"
        ));
    }
    // The question names the version it is conditional on, and claims no
    // condition when there is no version (a store without entry versions).
    let questions = script_async(
        client,
        "const done = arguments[arguments.length - 1]; \
         import('./keys.js').then(m => done([m.deleteQuestion({key: 'k', version: 'v1'}), \
         m.deleteQuestion({key: 'k', version: null})]), e => done(String(e)))",
    )
    .await?;
    let with = questions[0].as_str().unwrap_or_default();
    let without = questions[1].as_str().unwrap_or_default();
    if !(with.contains("at version v1") && with.contains("only if nobody changed it"))
        || without.contains("version v")
        || without.contains("only if")
        || !without.contains("no entry versions")
    {
        return Err(format!("the delete questions read {questions}"));
    }
    // Changed since the listing: the delete is refused by its If-Match.
    store
        .set(&key("bulk:00001"), b"changed elsewhere", None)
        .await
        .map_err(|e| e.to_string())?;
    click(client, "#keys-rows tr[data-key='bulk:00001'] button.delete").await?;
    click(client, "#delete-yes").await?;
    wait_for(
        client,
        "document.getElementById('keys-error').textContent.includes('changed since the listing')",
        "the stale delete to be refused",
    )
    .await?;
    let value = store
        .get(&key("bulk:00001"))
        .await
        .map_err(|e| e.to_string())?;
    if value.as_deref() != Some(b"changed elsewhere".as_slice()) {
        return Err(format!("a stale delete changed the key: {value:?}"));
    }
    Ok(())
}

async fn hostile(client: &Client) -> Result<(), String> {
    list(client, "hostile:").await?;
    let keys = page_keys(client).await?;
    if keys != [HOSTILE_KEY] {
        return Err(format!("the hostile key reads {keys:?}"));
    }
    let cell = script(
        client,
        "return document.querySelector('#keys-rows button.link').textContent",
    )
    .await?;
    if cell != json!(HOSTILE_KEY) {
        return Err(format!("the key is shown as {cell}"));
    }
    click(client, "#keys-rows button.link").await?;
    wait_for(
        client,
        "document.getElementById('value-format').textContent === 'text'",
        "the hostile value shown as text",
    )
    .await?;
    let body = script(
        client,
        "return document.getElementById('value-body').textContent",
    )
    .await?;
    if body != json!(HOSTILE_VALUE) {
        return Err(format!("the value is shown as {body}"));
    }
    no_script_ran(client).await
}

/// No stored markup became live: no `img` or `script` element in the page
/// (the real check: stored strings go in as text), and no hostile handler ran
/// (the flag is belt and braces: the page's policy already blocks inline
/// handlers, so it could only be set if both walls fell).
async fn no_script_ran(client: &Client) -> Result<(), String> {
    let found = script(
        client,
        "return [typeof window.__pwned === 'undefined' ? null : String(window.__pwned), \
         document.querySelectorAll('main img, main script').length]",
    )
    .await?;
    if found != json!([null, 0]) {
        return Err(format!(
            "stored markup became live: [flag, elements] = {found}"
        ));
    }
    Ok(())
}

async fn flows(client: &Client, shots: Option<&Path>) -> Result<(), String> {
    click(client, "#nav-flows").await?;
    wait_for(
        client,
        "!document.getElementById('flows-page').hidden",
        "the flows page",
    )
    .await?;
    focused(client, "flows-title", "on the newly shown flows page").await?;
    // Discovery: one request lists 1 000 keys under `useflow:`, so it
    // stops early; "scan more" finds the rest.
    wait_for(
        client,
        "!document.getElementById('flows-scan-more').hidden",
        "the first discovery step with a scan-more button",
    )
    .await?;
    let onboarding = STEPS.iter().map(|(_, n)| n).sum::<usize>() + COMPLETED + 1;
    let first = discovered(client).await?;
    if first
        != json!([
            [HOSTILE_FLOW, "1"],
            ["checkout", "3"],
            ["onboarding", (1000 - 1 - CHECKOUT).to_string()]
        ])
    {
        return Err(format!("the first discovery step found {first}"));
    }
    // The hostile id is text everywhere the list puts it.
    let hostile = script(
        client,
        "const b = document.querySelector('#flows-found-list button');          return [b.textContent, b.getAttribute('aria-label'), b.dataset.flow]",
    )
    .await?;
    let expected = json!([
        HOSTILE_FLOW,
        format!("Show flow {HOSTILE_FLOW} (1 keys seen)"),
        HOSTILE_FLOW
    ]);
    if hostile != expected {
        return Err(format!(
            "the hostile flow id's button reads {hostile}, expected {expected}"
        ));
    }
    no_script_ran(client).await?;
    // "Scan more", and the user moves on to the flow id field before the
    // answer arrives: the answer leaves the focus where the user put it.
    hold(client, "flows?").await?;
    click(client, "#flows-scan-more").await?;
    held(client, 1).await?;
    script(client, "document.getElementById('flow-id').focus()").await?;
    release(client, 0).await?;
    stop_holding(client).await?;
    wait_for(
        client,
        "document.getElementById('flows-scan-more').hidden",
        "the discovery to reach the end",
    )
    .await?;
    focused(client, "flow-id", "after a scan the user did not wait for").await?;
    let all = discovered(client).await?;
    if all
        != json!([
            [HOSTILE_FLOW, "1"],
            ["checkout", CHECKOUT.to_string()],
            ["onboarding", onboarding.to_string()]
        ])
    {
        return Err(format!("discovery found {all}"));
    }
    // A discovered id opens its flow.
    click(client, "#flows-found-list button[data-flow='checkout']").await?;
    wait_for(
        client,
        &format!(
            "document.getElementById('flow-scanned').textContent === '{CHECKOUT}' \
             && document.getElementById('flow-active').textContent === '{CHECKOUT}' \
             && document.querySelector('#flow-chart .bar-row')?.dataset.step === 'cart'"
        ),
        "the checkout flow's counts",
    )
    .await?;
    // Typing an id still works.
    clear(client, "#flow-id").await?;
    type_into(client, "#flow-id", "onboarding").await?;
    click(client, "#flow-show").await?;
    // The first request reads 1 000 of the flow's keys and stops early.
    wait_for(
        client,
        "document.getElementById('flow-scanned').textContent === '1000'",
        "the first summary step",
    )
    .await?;
    wait_for(
        client,
        "!document.getElementById('flow-more').hidden",
        "the count-more button",
    )
    .await?;
    switch_flow_while_counting(client).await?;
    click(client, "#flow-more").await?;
    let total = onboarding;
    wait_for(
        client,
        &format!("document.getElementById('flow-scanned').textContent === '{total}'"),
        "every instance counted",
    )
    .await?;
    let counts = script(
        client,
        "return {active: document.getElementById('flow-active').textContent, \
         completed: document.getElementById('flow-completed').textContent, \
         invalid: document.getElementById('flow-invalid').textContent, \
         more: !document.getElementById('flow-more').hidden, \
         bars: [...document.querySelectorAll('#flow-chart .bar-row')].map(r => [r.dataset.step, r.dataset.count, r.querySelector('.bar-label').textContent])}",
    )
    .await?;
    let active: usize = STEPS.iter().map(|(_, n)| n).sum();
    let expected = json!({
        "active": active.to_string(),
        "completed": COMPLETED.to_string(),
        "invalid": "1",
        "more": false,
        "bars": STEPS.iter().map(|(step, n)| json!([step, n.to_string(), step])).collect::<Vec<_>>(),
    });
    if counts != expected {
        return Err(format!("the counts read {counts}, expected {expected}"));
    }
    // Instances: a page of 50, then 50 more.
    wait_for(
        client,
        "document.querySelectorAll('#instances-rows tr').length === 50",
        "50 instance rows",
    )
    .await?;
    let first = script(
        client,
        "return [...document.querySelector('#instances-rows tr').cells].map(c => c.textContent)",
    )
    .await?;
    if first[0] != json!("user-00000")
        || first[2] != json!("profile")
        || first[3] != json!("active")
        || first[5] != json!("2")
    {
        return Err(format!("the first instance row reads {first}"));
    }
    click(client, "#instances-more").await?;
    wait_for(
        client,
        "document.querySelectorAll('#instances-rows tr').length === 100",
        "100 instance rows",
    )
    .await?;
    if let Some(dir) = shots {
        screenshot(client, &dir.join("console-flows.png")).await?;
    }
    // Phone width: the page still fits (no horizontal scrolling of the body).
    client
        .set_window_size(390, 844)
        .await
        .map_err(|e| format!("resizing: {e}"))?;
    let overflow = script(
        client,
        "return document.documentElement.scrollWidth <= window.innerWidth + 1",
    )
    .await?;
    if overflow != json!(true) {
        return Err("the flows page scrolls sideways at phone width".into());
    }
    if let Some(dir) = shots {
        screenshot(client, &dir.join("console-phone.png")).await?;
    }
    client
        .set_window_size(1000, 800)
        .await
        .map_err(|e| format!("resizing: {e}"))?;
    Ok(())
}

/// "Count more" for one flow, then another flow picked before the answer
/// arrives: the late answer of the first flow leaves "Count more" disabled
/// while the second flow's count runs (clicking it then would count the
/// second flow's first keys twice), and adds nothing to the second flow.
/// Ends with the onboarding flow shown again, its first step counted.
async fn switch_flow_while_counting(client: &Client) -> Result<(), String> {
    hold(client, "/summary").await?;
    click(client, "#flow-more").await?;
    held(client, 1).await?;
    click(client, "#flows-found-list button[data-flow='checkout']").await?;
    held(client, 2).await?;
    release(client, 0).await?;
    let disabled = script(
        client,
        "return document.getElementById('flow-more').disabled",
    )
    .await?;
    if disabled != json!(true) {
        return Err(format!(
            "the first flow's late answer re-enabled count-more while the second flow's count runs: disabled = {disabled}"
        ));
    }
    release(client, 1).await?;
    stop_holding(client).await?;
    wait_for(
        client,
        &format!(
            "document.getElementById('flow-scanned').textContent === '{CHECKOUT}'              && document.getElementById('flow-active').textContent === '{CHECKOUT}'              && document.getElementById('flow-more').hidden"
        ),
        "the checkout flow counted once",
    )
    .await?;
    clear(client, "#flow-id").await?;
    type_into(client, "#flow-id", "onboarding").await?;
    click(client, "#flow-show").await?;
    wait_for(
        client,
        "document.getElementById('flow-scanned').textContent === '1000'          && !document.getElementById('flow-more').hidden",
        "the onboarding flow's first step again",
    )
    .await
}

/// Signs in again and opens a value with Tab, Enter and typing only; the
/// focus lands on each new page's heading and comes back to the key's
/// button when the value view closes.
async fn keyboard_only(client: &Client) -> Result<(), String> {
    click(client, "#nav-keys").await?;
    click(client, "#sign-out").await?;
    wait_for(
        client,
        "!document.getElementById('signin-page').hidden",
        "the sign-in form after signing out",
    )
    .await?;
    focused(client, "token", "on the sign-in form").await?;
    // Nothing the last user saw is left in the page (the hostile value was
    // still open, the flows page had its scan and a flow).
    let left = script(
        client,
        "return [document.querySelectorAll('#keys-rows tr').length,          document.getElementById('value-view').hidden,          document.getElementById('value-body').textContent,          document.getElementById('value-key').textContent,          document.querySelectorAll('#flows-found-list li').length,          document.getElementById('flow-result').hidden,          document.querySelectorAll('#instances-rows tr').length]",
    )
    .await?;
    if left != json!([0, true, "", "", 0, true, 0]) {
        return Err(format!("after signing out the page still holds {left}"));
    }
    no_download_link(client, "after signing out").await?;
    press(client, TOKEN).await?;
    press(client, &char::from(WebKey::Enter).to_string()).await?;
    wait_for(
        client,
        "!document.getElementById('keys-page').hidden",
        "the keys page after a keyboard sign-in",
    )
    .await?;
    focused(client, "keys-title", "after signing in").await?;
    tab_to(
        client,
        "document.activeElement.id === 'keys-prefix'",
        "the prefix field",
    )
    .await?;
    // Select what the field holds, then type over it.
    let select_all = KeyActions::new("keyboard".to_owned())
        .then(KeyAction::Down {
            value: WebKey::Control.into(),
        })
        .then(KeyAction::Down { value: 'a' })
        .then(KeyAction::Up { value: 'a' })
        .then(KeyAction::Up {
            value: WebKey::Control.into(),
        });
    client
        .perform_actions(select_all)
        .await
        .map_err(|e| format!("selecting the prefix: {e}"))?;
    script(
        client,
        "document.getElementById('keys-caption').textContent = 'waiting'",
    )
    .await?;
    press(client, &format!("profile:{}", char::from(WebKey::Enter))).await?;
    wait_for(
        client,
        "document.getElementById('keys-caption').textContent.startsWith('Page 1 ') \
         && document.getElementById('keys-rows').firstElementChild?.dataset.key === 'profile:ada'",
        "the listing of profile:",
    )
    .await?;
    tab_to(
        client,
        "document.activeElement.dataset.key === 'profile:ada'",
        "the key's button",
    )
    .await?;
    press(client, &char::from(WebKey::Enter).to_string()).await?;
    wait_for(
        client,
        "document.getElementById('value-format').textContent === 'JSON' \
         && document.getElementById('value-key').textContent === 'profile:ada'",
        "the value opened with Enter",
    )
    .await?;
    tab_to(
        client,
        "document.activeElement.id === 'value-close'",
        "the Close button",
    )
    .await?;
    press(client, &char::from(WebKey::Enter).to_string()).await?;
    wait_for(
        client,
        "document.getElementById('value-view').hidden \
         && document.activeElement.dataset.key === 'profile:ada'",
        "the focus back on the key's button after closing",
    )
    .await
}

/// The flow ids the Flows page lists, with their key counts.
async fn discovered(client: &Client) -> Result<Value, String> {
    script(
        client,
        "return [...document.querySelectorAll('#flows-found-list li')].map(li => \
         [li.querySelector('button').dataset.flow, li.querySelector('.hint').textContent.trim().split(' ')[0]])",
    )
    .await
}

/// Fails unless the element with id `id` has the focus.
async fn focused(client: &Client, id: &str, when: &str) -> Result<(), String> {
    let active = script(client, "return document.activeElement?.id ?? null").await?;
    if active != json!(id) {
        return Err(format!("{when}, the focus is on {active}, not #{id}"));
    }
    Ok(())
}

/// Presses each character of `keys` (WebDriver key codes for special keys)
/// on whatever has the focus.
async fn press(client: &Client, keys: &str) -> Result<(), String> {
    let mut actions = KeyActions::new("keyboard".to_owned());
    for key in keys.chars() {
        actions = actions
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key });
    }
    client
        .perform_actions(actions)
        .await
        .map_err(|e| format!("pressing keys: {e}"))
}

/// Presses Tab until `condition` (a script expression) holds, at most 20 times.
async fn tab_to(client: &Client, condition: &str, what: &str) -> Result<(), String> {
    for _ in 0..20 {
        if script(client, &format!("return Boolean({condition})")).await? == json!(true) {
            return Ok(());
        }
        press(client, &char::from(WebKey::Tab).to_string()).await?;
    }
    let active = script(
        client,
        "return document.activeElement?.outerHTML.slice(0, 120) ?? null",
    )
    .await?;
    Err(format!(
        "20 Tabs did not reach {what}; the focus is on {active}"
    ))
}

// ---------------------------------------------------------------------------
// Answers held back in the page

/// From now on, the page's answers to URLs containing `part` are held back
/// until [`release`]d, in the order they were asked for (the page's `fetch`
/// is wrapped; the requests themselves go out at once).
async fn hold(client: &Client, part: &str) -> Result<(), String> {
    let part = serde_json::to_string(part).unwrap();
    script(
        client,
        &format!(
            "if (!window.__realFetch) {{
               window.__realFetch = window.fetch;
               window.fetch = async (url, options) => {{
                 const response = await window.__realFetch(url, options);
                 if (!window.__hold || !String(url).includes(window.__hold)) return response;
                 const entry = {{ url: String(url), done: false }};
                 const gate = new Promise((resolve) => {{ entry.release = resolve; }});
                 window.__held.push(entry);
                 await gate;
                 let data = new Uint8Array(await response.arrayBuffer());
                 // `done` once the page has read the whole body.
                 const body = new ReadableStream({{
                   pull(controller) {{
                     if (data) {{ controller.enqueue(data); data = null; }}
                     else {{ controller.close(); entry.done = true; }}
                   }},
                 }});
                 return new Response(body, {{ status: response.status, statusText: response.statusText, headers: response.headers }});
               }};
             }}
             window.__hold = {part};
             window.__held = [];"
        ),
    )
    .await
    .map(drop)
}

/// Waits until `count` answers are held back.
async fn held(client: &Client, count: usize) -> Result<(), String> {
    wait_for(
        client,
        &format!("window.__held.length >= {count}"),
        &format!("{count} requests held back"),
    )
    .await
}

/// Lets the `index`th held answer through and waits until the page has read
/// all of it: whatever the page does with it (all in microtasks right after)
/// is done by the next check.
async fn release(client: &Client, index: usize) -> Result<(), String> {
    script(client, &format!("window.__held[{index}].release()")).await?;
    wait_for(
        client,
        &format!("window.__held[{index}].done"),
        &format!("held answer {index} read by the page"),
    )
    .await
}

/// Answers go through at once again.
async fn stop_holding(client: &Client) -> Result<(), String> {
    script(client, "window.__hold = null").await.map(drop)
}

// ---------------------------------------------------------------------------
// WebDriver helpers

async fn click(client: &Client, css: &str) -> Result<(), String> {
    client
        .find(Locator::Css(css))
        .await
        .map_err(|e| format!("finding {css}: {e}"))?
        .click()
        .await
        .map_err(|e| format!("clicking {css}: {e}"))
}

async fn type_into(client: &Client, css: &str, text: &str) -> Result<(), String> {
    client
        .find(Locator::Css(css))
        .await
        .map_err(|e| format!("finding {css}: {e}"))?
        .send_keys(text)
        .await
        .map_err(|e| format!("typing into {css}: {e}"))
}

async fn clear(client: &Client, css: &str) -> Result<(), String> {
    client
        .find(Locator::Css(css))
        .await
        .map_err(|e| format!("finding {css}: {e}"))?
        .clear()
        .await
        .map_err(|e| format!("clearing {css}: {e}"))
}

async fn script(client: &Client, script: &str) -> Result<Value, String> {
    client
        .execute(script, Vec::new())
        .await
        .map_err(|e| format!("running `{script}`: {e}"))
}

async fn script_async(client: &Client, script: &str) -> Result<Value, String> {
    client
        .execute_async(script, Vec::new())
        .await
        .map_err(|e| format!("running `{script}`: {e}"))
}

async fn screenshot(client: &Client, path: &Path) -> Result<(), String> {
    script(client, "window.scrollTo(0, 0)").await?;
    let png = client
        .screenshot()
        .await
        .map_err(|e| format!("taking a screenshot: {e}"))?;
    std::fs::write(path, png).map_err(|e| format!("writing {}: {e}", path.display()))
}
