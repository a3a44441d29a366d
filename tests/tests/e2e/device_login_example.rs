//! The command-line device-flow example (`examples/device-login`) against
//! the real servers: it prints the URL and the code, polls while a person
//! approves it on the pages, then prints their profile from the
//! resource-server.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use e2e::{binary, passthrough_env, spawn_stack};
use serde_json::Value;

use crate::delegation::Browser;

/// The example's process, killed if the test ends before it does.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The example's next line, if it prints one within a minute.
async fn next_line(lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(60), lines.recv())
        .await
        .ok()
        .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_login_example_signs_in_and_prints_the_profile() {
    let stack = spawn_stack().await;
    let user = stack.new_user().await;
    let client = stack.auth.create_client(&[
        "--name",
        "Example CLI",
        "--public",
        "--grant",
        "device_code",
        "--scope",
        "profile:read",
    ]);

    let dir = tempfile::TempDir::new().unwrap();
    let mut example = Running(
        Command::new(binary("device-login"))
            .current_dir(dir.path())
            .env_clear()
            .envs(passthrough_env())
            .env("ISSUER", stack.auth.issuer())
            .env("CLIENT_ID", client["client_id"].as_str().unwrap())
            .env("PROFILE_URL", stack.resource.url("/profile/me"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Its lines as they come, read on a thread the test can wait on.
    let stdout = example.0.stdout.take().unwrap();
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = next_line(&mut lines)
        .await
        .expect("the example prints where to go");
    let words: Vec<&str> = first.split_whitespace().collect();
    assert!(first.starts_with("To sign in, open "), "{first}");
    let (url, code) = (words[4], *words.last().unwrap());
    assert_eq!(url, format!("{}/oauth/device", stack.auth.issuer()));
    assert_eq!(code.len(), 9, "{first}");
    let second = next_line(&mut lines).await.unwrap();
    assert!(second.contains(&format!("?user_code={code}")), "{second}");

    Browser::new(&stack.http, url.to_owned())
        .approve(code, &user.email)
        .await;

    let mut rest = Vec::new();
    while let Some(line) = next_line(&mut lines).await {
        rest.push(line);
    }
    let status = example.0.wait().unwrap();
    let mut stderr = String::new();
    if let Some(mut pipe) = example.0.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr).unwrap();
    }
    assert!(status.success(), "{stderr}");
    assert_eq!(
        rest.first().map(String::as_str),
        Some("Signed in."),
        "{rest:?}"
    );
    let profile: Value = serde_json::from_str(&rest[1..].join("\n")).unwrap();
    assert_eq!(profile["id"], user.id.as_str());
}
