//! What the services write to their logs: a request refused for want of a
//! token is routine (our request line at INFO, nothing at WARN), and a log
//! that is not a terminal gets plain text, without colour codes.

use std::time::Duration;

use e2e::spawn_stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_write_no_warnings_and_files_get_no_colour() {
    let stack = spawn_stack().await;
    for authorization in [None, Some("Bearer not-a-token"), Some("Basic dXNlcjpw")] {
        let mut request = stack.http.get(stack.resource.url("/profile/me"));
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        assert_eq!(request.send().await.unwrap().status(), 401);
    }
    // The request line is written once the answer is sent.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = stack.resource.stderr();
    if std::env::var_os("TEST_LOG").is_some() {
        return; // The logs went to the terminal, not to a file.
    }
    for (name, log) in [
        ("resource-server", log.as_str()),
        ("auth-server", &stack.auth.service.stderr()),
    ] {
        assert!(!log.is_empty(), "{name} wrote nothing");
        assert!(
            !log.contains('\u{1b}'),
            "{name} wrote colour codes to a file"
        );
    }
    let refused: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("route=/profile/me") && line.contains("status=401"))
        .collect();
    assert_eq!(refused.len(), 3, "{log}");
    let warnings: Vec<&str> = log.lines().filter(|line| line.contains(" WARN ")).collect();
    assert!(
        !warnings
            .iter()
            .any(|line| line.contains("Request guard") || line.contains("catcher")),
        "{warnings:#?}"
    );
}
