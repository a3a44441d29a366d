//! Sign in on the command line with the device authorization grant
//! (RFC 8628), as a tool without a browser would: ask the issuer for a
//! code, print where to type it, poll until someone approves it on their
//! phone, then read their profile at the resource-server with the token.
//!
//! ```sh
//! auth-server clients create --name cli --public --grant device_code --scope profile:read
//! CLIENT_ID=… cargo run -p device-login
//! ```
//!
//! Settings (environment): `CLIENT_ID` (required), `ISSUER` (default
//! `http://127.0.0.1:8000`), `SCOPE` (default `profile:read`),
//! `PROFILE_URL` (default `http://127.0.0.1:8001/profile/me`).

use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// RFC 8628 §3.5: each `slow_down` adds this many seconds to the interval.
const SLOW_DOWN_STEP: u64 = 5;

struct Settings {
    issuer: String,
    client_id: String,
    scope: String,
    profile_url: String,
}

fn setting(name: &str, default: Option<&str>) -> Result<String, String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.is_empty())
        .or_else(|| default.map(str::to_owned))
        .ok_or_else(|| format!("{name} is not set"))
}

fn settings() -> Result<Settings, String> {
    Ok(Settings {
        issuer: setting("ISSUER", Some("http://127.0.0.1:8000"))?
            .trim_end_matches('/')
            .to_owned(),
        client_id: setting("CLIENT_ID", None)?,
        scope: setting("SCOPE", Some("profile:read"))?,
        profile_url: setting("PROFILE_URL", Some("http://127.0.0.1:8001/profile/me"))?,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("device-login: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The status and JSON body of a request.
async fn send(request: reqwest::RequestBuilder) -> Result<(u16, Value), String> {
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response.json().await.map_err(|e| e.to_string())?;
    Ok((status, body))
}

fn member<'a>(body: &'a Value, name: &str) -> Result<&'a str, String> {
    body[name]
        .as_str()
        .ok_or_else(|| format!("the answer has no {name}: {body}"))
}

async fn run() -> Result<(), String> {
    let settings = settings()?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;

    // Where to ask, from the issuer's metadata (RFC 8414).
    let discovery = format!("{}/.well-known/oauth-authorization-server", settings.issuer);
    let (_, metadata) = send(http.get(discovery)).await?;
    let device_endpoint = member(&metadata, "device_authorization_endpoint")?;
    let token_endpoint = member(&metadata, "token_endpoint")?;

    let form = [
        ("client_id", settings.client_id.as_str()),
        ("scope", settings.scope.as_str()),
    ];
    let (status, started) = send(http.post(device_endpoint).form(&form)).await?;
    if status != 200 {
        return Err(format!("the device authorization was refused: {started}"));
    }
    let device_code = member(&started, "device_code")?;
    println!(
        "To sign in, open {} and enter the code {}",
        member(&started, "verification_uri")?,
        member(&started, "user_code")?
    );
    println!(
        "(or open {})",
        member(&started, "verification_uri_complete")?
    );

    let mut interval = started["interval"].as_u64().unwrap_or(SLOW_DOWN_STEP);
    let token = loop {
        tokio::time::sleep(Duration::from_secs(interval)).await;
        let form = [
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", settings.client_id.as_str()),
        ];
        let (status, body) = send(http.post(token_endpoint).form(&form)).await?;
        if status == 200 {
            break member(&body, "access_token")?.to_owned();
        }
        match body["error"].as_str() {
            Some("authorization_pending") => {}
            Some("slow_down") => interval += SLOW_DOWN_STEP,
            Some("access_denied") => return Err("the sign-in was denied".into()),
            Some("expired_token") => {
                return Err("nobody approved the code in time; run again".into());
            }
            _ => return Err(format!("the token endpoint answered {status}: {body}")),
        }
    };
    println!("Signed in.");

    let (status, profile) = send(http.get(&settings.profile_url).bearer_auth(&token)).await?;
    if status != 200 {
        return Err(format!(
            "the profile could not be read ({status}): {profile}"
        ));
    }
    let shown = serde_json::to_string_pretty(&profile).map_err(|e| e.to_string())?;
    println!("{shown}");
    Ok(())
}
