//! The original guide's experience, in a real browser: open the
//! resource-server's `/docs`, press Authorize, log in with the password
//! flow against the auth-server, then "Try it out" on `GET /profile/me`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs
//! them). Without them the test is skipped locally and fails under CI.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

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
                "--disable-component-update", "--disable-sync", "--window-size=1280,2000",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_authorize_then_try_profile_me() {
    let Some(chromedriver) = find("chromedriver") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromedriver is required in CI (apt-get install chromium chromium-driver)"
        );
        eprintln!("skipped: chromedriver is not installed");
        return;
    };
    let stack = spawn_stack().await;
    let email = format!("browser-{}@example.com", uuid::Uuid::new_v4().simple());
    stack.signup(&email, "Ada in a Browser").await;

    let profile = tempfile::TempDir::new().unwrap();
    let (_driver, client) = start_browser(&chromedriver, profile.path()).await;
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
