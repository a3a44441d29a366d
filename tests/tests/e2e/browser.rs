//! The original guide's experience, in a real browser: open the
//! resource-server's `/docs`, press Authorize, log in with the password
//! flow against the auth-server, then "Try it out" on `GET /profile/me`.
//!
//! And the authorization pages as a person sees them, on a phone and on a
//! desktop: sign in (with a mistake first), consent, back to the app;
//! screenshots of each step land in `target/e2e-artifacts/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs
//! them). Without them the test is skipped locally and fails under CI.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use e2e::{free_port, spawn_stack};

const WAIT: Duration = Duration::from_secs(30);

struct ChromeDriver(Child);

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find(binary: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| PathBuf::from(dir).join(binary))
        .find(|p| p.is_file())
}

/// Where a failing run leaves its screenshot.
fn artifacts_dir() -> PathBuf {
    let dir = e2e::target_dir().join("e2e-artifacts");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

async fn start_browser(
    chromedriver: &std::path::Path,
    profile: &std::path::Path,
    (width, height): (u32, u32),
) -> (ChromeDriver, Client) {
    let port = free_port();
    let driver = ChromeDriver(
        Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let chromium = find("chromium").unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                format!("--window-size={width},{height}"),
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    // Chrome's windows are never narrower than 500 px; a phone's viewport
    // comes from ChromeDriver's device emulation instead.
    if width < 500 {
        capabilities["goog:chromeOptions"]["mobileEmulation"] = json!({
            "deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0, "touch": true},
        });
    }
    let mut last_error = String::new();
    for _ in 0..50 {
        match ClientBuilder::rustls()
            .expect("rustls client")
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return (driver, client),
            Err(error) => last_error = error.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("chromedriver did not accept a session: {last_error}");
}

/// ChromeDriver, or `None` where the test may be skipped (not under CI).
fn chromedriver() -> Option<PathBuf> {
    let found = find("chromedriver");
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromedriver is required in CI (apt-get install chromium chromium-driver)"
        );
        eprintln!("skipped: chromedriver is not installed");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_authorize_then_try_profile_me() {
    let Some(chromedriver) = chromedriver() else {
        return;
    };
    let stack = spawn_stack().await;
    let email = format!("browser-{}@example.com", uuid::Uuid::new_v4().simple());
    stack.signup(&email, "Ada in a Browser").await;

    let profile = tempfile::TempDir::new().unwrap();
    let (_driver, client) = start_browser(&chromedriver, profile.path(), (1280, 2000)).await;
    let outcome = drive_swagger_ui(&client, &stack.resource.url("/docs/"), &email).await;
    if let Err(error) = &outcome {
        let shot = artifacts_dir().join("swagger_ui_authorize_then_try_profile_me.png");
        if let Ok(png) = client.screenshot().await {
            let _ = std::fs::write(&shot, png);
        }
        eprintln!("screenshot: {}", shot.display());
        let _ = client.close().await;
        panic!("{error}");
    }
    client.close().await.unwrap();
}

async fn drive_swagger_ui(client: &Client, docs_url: &str, email: &str) -> Result<(), String> {
    let step = |what: &'static str| move |e: fantoccini::error::CmdError| format!("{what}: {e}");
    client.goto(docs_url).await.map_err(step("open /docs"))?;

    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("button.authorize"))
        .await
        .map_err(step("find Authorize"))?
        .click()
        .await
        .map_err(step("press Authorize"))?;
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#oauth_username"))
        .await
        .map_err(step("find the username field"))?
        .send_keys(email)
        .await
        .map_err(step("type the username"))?;
    client
        .find(Locator::Css("#oauth_password"))
        .await
        .map_err(step("find the password field"))?
        .send_keys(e2e::PASSWORD)
        .await
        .map_err(step("type the password"))?;
    client
        .find(Locator::Css(".auth-btn-wrapper button.authorize"))
        .await
        .map_err(step("find the dialog's Authorize"))?
        .click()
        .await
        .map_err(step("submit the login"))?;
    // A successful login turns the dialog's button into "Logout".
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(
            "//div[contains(@class,'auth-btn-wrapper')]//button[normalize-space()='Logout']",
        ))
        .await
        .map_err(|e| format!("log in through the token endpoint (no Logout button): {e}"))?;
    client
        .find(Locator::Css("button.btn-done"))
        .await
        .map_err(step("find Close"))?
        .click()
        .await
        .map_err(step("close the dialog"))?;

    let operation = "//div[contains(@class,'opblock-get')][.//*[@data-path='/profile/me']]";
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(&format!(
            "{operation}//*[contains(@class,'opblock-summary')]"
        )))
        .await
        .map_err(step("find GET /profile/me"))?
        .click()
        .await
        .map_err(step("open GET /profile/me"))?;
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(&format!(
            "{operation}//button[contains(@class,'try-out__btn')]"
        )))
        .await
        .map_err(step("find Try it out"))?
        .click()
        .await
        .map_err(step("press Try it out"))?;
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(&format!(
            "{operation}//button[contains(@class,'execute')]"
        )))
        .await
        .map_err(step("find Execute"))?
        .click()
        .await
        .map_err(step("press Execute"))?;

    let status = client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(&format!(
            "{operation}//table[contains(@class,'live-responses-table')]//tbody//td[contains(@class,'response-col_status')]"
        )))
        .await
        .map_err(step("see the response"))?
        .text()
        .await
        .map_err(step("read the status"))?;
    if status.trim() != "200" {
        return Err(format!("GET /profile/me answered {status:?}, not 200"));
    }
    let body = client
        .find(Locator::XPath(&format!(
            "{operation}//table[contains(@class,'live-responses-table')]//*[contains(@class,'microlight') or contains(@class,'highlight-code')]"
        )))
        .await
        .map_err(step("find the response body"))?
        .text()
        .await
        .map_err(step("read the response body"))?;
    if !body.contains(email) {
        return Err(format!("the response body does not show {email}: {body}"));
    }
    Ok(())
}

/// What the page's layout looks like from inside the browser.
const LAYOUT_PROBE: &str = r#"
const root = document.documentElement;
const width = (selector) => {
  const element = document.querySelector(selector);
  return element ? Math.round(element.getBoundingClientRect().width) : -1;
};
const visible = [...document.querySelectorAll("input:not([type=hidden]), button")];
return {
  scrollWidth: root.scrollWidth,
  clientWidth: root.clientWidth,
  input: width("input:not([type=hidden])"),
  button: width("button"),
  unlabelled: visible.filter((e) => e.tagName === "INPUT" && e.labels.length !== 1).length,
  focused: document.activeElement ? document.activeElement.id : "",
  stylesheets: document.styleSheets.length,
};
"#;

async fn layout_of(client: &Client) -> Result<serde_json::Value, String> {
    client
        .execute(LAYOUT_PROBE, vec![])
        .await
        .map_err(|e| format!("measure the layout: {e}"))
}

/// Nothing sticks out sideways, the stylesheet loaded (the CSP allows it),
/// and every field has its label.
fn check_layout(what: &str, layout: &serde_json::Value) -> Result<(), String> {
    let (scroll, client) = (&layout["scrollWidth"], &layout["clientWidth"]);
    if scroll.as_i64() > client.as_i64() {
        return Err(format!("{what}: overflows sideways: {layout}"));
    }
    if layout["stylesheets"] != 1 {
        return Err(format!("{what}: the stylesheet did not load: {layout}"));
    }
    if layout["unlabelled"] != 0 {
        return Err(format!("{what}: a field has no label: {layout}"));
    }
    Ok(())
}

async fn screenshot(client: &Client, name: &str) -> Result<(), String> {
    let png = client
        .screenshot()
        .await
        .map_err(|e| format!("screenshot {name}: {e}"))?;
    std::fs::write(artifacts_dir().join(format!("{name}.png")), png)
        .map_err(|e| format!("save {name}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_pages_fit_a_phone_and_a_desktop() {
    let Some(chromedriver) = chromedriver() else {
        return;
    };
    let stack = spawn_stack().await;
    let client_id = crate::authorization_code::create_public_client(&stack);

    for (width, device) in [(390, "phone"), (1280, "desktop")] {
        // One person per device: consent, once given, is remembered.
        let email = format!(
            "pages-{device}-{}@example.com",
            uuid::Uuid::new_v4().simple()
        );
        stack.signup(&email, "Ada on a Phone").await;
        let profile = tempfile::TempDir::new().unwrap();
        let (_driver, client) = start_browser(&chromedriver, profile.path(), (width, 900)).await;
        let outcome = sign_in_and_allow(&client, &stack, &client_id, &email, device, width).await;
        if let Err(error) = &outcome {
            let _ = screenshot(&client, &format!("pages_{device}_failure")).await;
            let _ = client.close().await;
            panic!("{device} ({width} px): {error}");
        }
        client.close().await.unwrap();
    }
}

/// The element `css` finds once the page shows it (within [`WAIT`]).
async fn wait_for(client: &Client, css: &str, what: &str) -> Result<Element, String> {
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .map_err(|e| format!("{what}: {e}"))
}

/// The text of what `css` finds, once the page shows it.
async fn text_of(client: &Client, css: &str, what: &str) -> Result<String, String> {
    wait_for(client, css, what)
        .await?
        .text()
        .await
        .map_err(|e| format!("{what}: {e}"))
}

/// Types `keys` into `field` (`\u{e007}` is Enter, `\u{e004}` Tab).
async fn type_keys(field: &Element, keys: &str, what: &str) -> Result<(), String> {
    field
        .send_keys(keys)
        .await
        .map_err(|e| format!("{what}: {e}"))
}

/// The first page of a flow, as it opens: `width` wide, laid out (no
/// sideways overflow, the stylesheet, labels), its button as wide as its
/// fields and the focus on `focused`; then its screenshot `name`.
async fn check_first_page(
    client: &Client,
    what: &str,
    width: u32,
    focused: &str,
    name: &str,
) -> Result<(), String> {
    let layout = layout_of(client).await?;
    if layout["clientWidth"].as_u64() != Some(u64::from(width)) {
        return Err(format!("the viewport is not {width} px wide: {layout}"));
    }
    check_layout(what, &layout)?;
    if layout["input"] != layout["button"] {
        return Err(format!(
            "{what}: the button is not as wide as the fields: {layout}"
        ));
    }
    if layout["focused"] != focused {
        return Err(format!(
            "{what}: {focused} does not have the focus: {layout}"
        ));
    }
    screenshot(client, name).await
}

/// Waits until the page's heading says `heading`: a posted form is
/// replaced by a new page, so the heading is read afresh each time.
async fn wait_for_heading(client: &Client, heading: &str) -> Result<(), String> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let text = match client.find(Locator::Css("h1")).await {
            Ok(found) => found.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text == heading {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!(
                "no page headed {heading:?}; the heading says {text:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sign_in_and_allow(
    client: &Client,
    stack: &e2e::Stack,
    client_id: &str,
    email: &str,
    device: &str,
    width: u32,
) -> Result<(), String> {
    use base64::Engine;
    use sha2::Digest;
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(crate::authorization_code::VERIFIER));
    let mut url = url::Url::parse(&stack.auth.service.url("/oauth/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", crate::authorization_code::REDIRECT_URI)
        .append_pair("scope", "profile:read profile:write")
        .append_pair("state", device)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    client
        .goto(url.as_str())
        .await
        .map_err(|e| format!("open the sign-in page: {e}"))?;
    let username = wait_for(client, "#username", "find the email field").await?;
    check_first_page(
        client,
        "sign-in page",
        width,
        "username",
        &format!("sign_in_{device}"),
    )
    .await?;

    // Keyboard order: email, password, then the button.
    type_keys(&username, email, "type the email").await?;
    type_keys(&username, "\u{e004}", "tab to the password").await?;
    if layout_of(client).await?["focused"] != "password" {
        return Err("Tab from the email does not reach the password".into());
    }
    let password = wait_for(client, "#password", "find the password field").await?;
    type_keys(
        &password,
        "not-the-password-at-all",
        "type a wrong password",
    )
    .await?;
    wait_for(client, "button[type=submit]", "find Sign in")
        .await?
        .click()
        .await
        .map_err(|e| format!("press Sign in: {e}"))?;

    // The mistake is shown inline, announced, and the email is kept.
    let alert = text_of(client, "[role=alert]", "see the error").await?;
    if !alert.contains("incorrect") {
        return Err(format!("unexpected error text: {alert:?}"));
    }
    let kept = wait_for(client, "#username", "find the email again")
        .await?
        .prop("value")
        .await
        .map_err(|e| format!("read the email: {e}"))?;
    if kept.as_deref() != Some(email) {
        return Err(format!("the email was not kept: {kept:?}"));
    }
    check_layout("sign-in page with an error", &layout_of(client).await?)?;
    screenshot(client, &format!("sign_in_error_{device}")).await?;

    let password = wait_for(client, "#password", "find the password again").await?;
    type_keys(&password, e2e::PASSWORD, "type the password").await?;
    type_keys(&password, "\u{e007}", "press Enter").await?;

    let allow = wait_for(client, "button[value=allow]", "see the consent page").await?;
    check_layout("consent page", &layout_of(client).await?)?;
    let scopes = text_of(client, "ul.scopes", "read the scopes").await?;
    if !scopes.contains("Read your profile") || !scopes.contains("Change your name and bio") {
        return Err(format!("the scopes are not said in words: {scopes:?}"));
    }
    screenshot(client, &format!("consent_{device}")).await?;
    allow
        .click()
        .await
        .map_err(|e| format!("press Allow: {e}"))?;

    // Back at the app's redirect URI, with a code: the CSP let the form go.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let current = client
            .current_url()
            .await
            .map_err(|e| format!("read the URL: {e}"))?;
        if current
            .as_str()
            .starts_with(crate::authorization_code::REDIRECT_URI)
        {
            let code = current.query_pairs().find(|(k, _)| k == "code");
            let state = current.query_pairs().find(|(k, _)| k == "state");
            if code.is_none() || state.map(|(_, v)| v.into_owned()).as_deref() != Some(device) {
                return Err(format!("redirected without code and state: {current}"));
            }
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!("never redirected to the app; still at {current}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The device grant (RFC 8628) as a person meets it, on a phone and on a
/// desktop: the code page (a wrong code first, then the right one typed in
/// lower case without its dash), sign-in, consent naming the device's
/// client and its scopes, the done page; then the device's poll gets its
/// tokens, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_pages_fit_a_phone_and_a_desktop_and_connect_the_device() {
    let Some(chromedriver) = chromedriver() else {
        return;
    };
    let stack = spawn_stack().await;
    let created = stack.auth.create_client(&[
        "--name",
        "Living-room TV",
        "--public",
        "--grant",
        "device_code",
        "--scope",
        "profile:read",
    ]);
    let client_id = created["client_id"].as_str().unwrap().to_owned();

    for (width, device) in [(390, "phone"), (1280, "desktop")] {
        let user = stack.new_user().await;
        let started = stack
            .http
            .post(stack.auth.service.url("/oauth/device_authorization"))
            .form(&[("client_id", client_id.as_str()), ("scope", "profile:read")])
            .send()
            .await
            .unwrap();
        assert_eq!(started.status(), 200);
        let started: serde_json::Value = started.json().await.unwrap();
        let user_code = started["user_code"].as_str().unwrap().to_owned();
        let device_code = started["device_code"].as_str().unwrap().to_owned();
        let page = started["verification_uri"].as_str().unwrap().to_owned();
        assert_eq!(page, format!("{}/oauth/device", stack.auth.issuer()));

        let profile = tempfile::TempDir::new().unwrap();
        let (_driver, browser) = start_browser(&chromedriver, profile.path(), (width, 900)).await;
        let outcome =
            connect_a_device(&browser, &page, &user_code, &user.email, device, width).await;
        if let Err(error) = &outcome {
            let _ = screenshot(&browser, &format!("device_{device}_failure")).await;
            let _ = browser.close().await;
            panic!("{device} ({width} px): {error}");
        }
        browser.close().await.unwrap();

        let poll = || {
            stack
                .http
                .post(stack.auth.service.url("/oauth/token"))
                .form(&[
                    ("grant_type", DEVICE_GRANT),
                    ("device_code", device_code.as_str()),
                    ("client_id", client_id.as_str()),
                ])
                .send()
        };
        let tokens = poll().await.unwrap();
        assert_eq!(tokens.status(), 200, "{device}");
        assert_eq!(
            tokens.headers()["cache-control"],
            "no-store",
            "{device}: token answers are not cached"
        );
        let tokens: serde_json::Value = tokens.json().await.unwrap();
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["scope"], "profile:read");
        let access_token = tokens["access_token"].as_str().unwrap();
        let me = stack.get_profile_me(access_token).await;
        assert_eq!(
            me.status(),
            200,
            "{device}: the device's token reads the profile"
        );
        let me: serde_json::Value = me.json().await.unwrap();
        assert_eq!(me["id"], user.id.as_str());

        let again = poll().await.unwrap();
        assert_eq!(again.status(), 400, "{device}: tokens are issued once");
        let again: serde_json::Value = again.json().await.unwrap();
        assert_eq!(again["error"], "invalid_grant");
    }
}

async fn connect_a_device(
    client: &Client,
    page: &str,
    user_code: &str,
    email: &str,
    device: &str,
    width: u32,
) -> Result<(), String> {
    client
        .goto(page)
        .await
        .map_err(|e| format!("open the device page: {e}"))?;
    let code_field = wait_for(client, "#user_code", "find the code field").await?;
    check_first_page(
        client,
        "code page",
        width,
        "user_code",
        &format!("device_code_{device}"),
    )
    .await?;

    // A code from the alphabet that is not this one.
    let wrong = if user_code.starts_with('B') {
        "CCCC-CCCC"
    } else {
        "BBBB-BBBB"
    };
    type_keys(&code_field, wrong, "type a wrong code").await?;
    type_keys(&code_field, "\u{e007}", "press Enter").await?;
    let alert = text_of(client, "[role=alert]", "see the error").await?;
    if !alert.contains("not valid") {
        return Err(format!("unexpected error text: {alert:?}"));
    }
    check_layout("code page with an error", &layout_of(client).await?)?;
    screenshot(client, &format!("device_code_error_{device}")).await?;

    // As a person types it off a TV: lower case, no dash.
    let code_field = wait_for(client, "#user_code", "find the code field again").await?;
    code_field
        .clear()
        .await
        .map_err(|e| format!("clear the code field: {e}"))?;
    let typed = user_code.replace('-', "").to_lowercase();
    type_keys(&code_field, &typed, "type the code").await?;
    type_keys(&code_field, "\u{e007}", "press Enter").await?;

    let username = wait_for(client, "#username", "see the sign-in page").await?;
    let lead = text_of(client, "p.lead", "read the sign-in page's lead").await?;
    if !lead.contains("Living-room TV") {
        return Err(format!(
            "the sign-in page does not name the device: {lead:?}"
        ));
    }
    check_layout("device sign-in page", &layout_of(client).await?)?;
    screenshot(client, &format!("device_sign_in_{device}")).await?;
    type_keys(&username, email, "type the email").await?;
    let password = wait_for(client, "#password", "find the password field").await?;
    type_keys(&password, e2e::PASSWORD, "type the password").await?;
    type_keys(&password, "\u{e007}", "press Enter").await?;

    let allow = wait_for(client, "button[value=approve]", "see the consent page").await?;
    check_layout("device consent page", &layout_of(client).await?)?;
    let scopes = text_of(client, "ul.scopes", "read the scopes").await?;
    if !scopes.contains("Read your profile") {
        return Err(format!("the scopes are not said in words: {scopes:?}"));
    }
    // The code as the device shows it, so the person can compare them.
    let who = text_of(client, "p.who", "read who is signed in").await?;
    if !who.contains(email) || !who.contains(user_code) {
        return Err(format!(
            "the consent page does not show {email} and {user_code}: {who:?}"
        ));
    }
    screenshot(client, &format!("device_consent_{device}")).await?;
    allow
        .click()
        .await
        .map_err(|e| format!("press Allow: {e}"))?;

    wait_for_heading(client, "Device connected").await?;
    check_layout("device done page", &layout_of(client).await?)?;
    screenshot(client, &format!("device_done_{device}")).await
}
