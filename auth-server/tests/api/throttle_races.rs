//! Failed-login throttling under concurrency: attempts count before their
//! password is checked, so simultaneous wrong passwords get at most the
//! checks the throttle allows, and simultaneous right ones are queued, not
//! refused; and a measurement of what the throttle adds to a login.

use std::net::IpAddr;

use auth_server::store::throttle::{self, Attempt, LoginThrottle};

use crate::helpers::{PASSWORD, spawn_app};
use crate::oauth_support::*;
use crate::throttle::*;

/// Not a test but a measurement (nothing is asserted about time): what the
/// throttle's database work adds to a login, and a whole login for scale.
/// `TEST_DATABASE_URL=postgres://… cargo test --workspace --test api --
/// measure_throttle_latency --ignored --nocapture`
#[tokio::test]
#[ignore = "a measurement; run by hand"]
async fn measure_throttle_latency() {
    use std::time::{Duration, Instant};
    fn p50_p90(mut samples: Vec<Duration>) -> (f64, f64) {
        samples.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        (
            ms(samples[samples.len() / 2]),
            ms(samples[samples.len() * 9 / 10]),
        )
    }
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let throttle = LoginThrottle::default();
    let now = future();
    // Some rows around, as in a server that has seen failures.
    for i in 0..2_000u32 {
        let attempt = Attempt::new(
            &format!("x{i}@example.com"),
            Some(IpAddr::from(i.to_be_bytes())),
        );
        throttle
            .record_failure(&app.db, &attempt, now)
            .await
            .unwrap();
    }
    let rounds = 2_000u32;
    let (mut success, mut failure) = (Vec::new(), Vec::new());
    let (mut checked_success, mut checked_failure) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        let attempt = Attempt::new(
            "ada@example.com",
            Some(IpAddr::from([10, 1, (i / 256) as u8, i as u8])),
        );
        // What a login does: a place taken, then the attempt settled.
        let start = Instant::now();
        assert_eq!(
            throttle.reserve(&app.db, &attempt, now).await.unwrap(),
            throttle::Reservation::Held
        );
        throttle.record_success(&app.db, &attempt).await.unwrap();
        success.push(start.elapsed());
        let start = Instant::now();
        throttle.reserve(&app.db, &attempt, now).await.unwrap();
        throttle
            .record_failure(&app.db, &attempt, now)
            .await
            .unwrap();
        failure.push(start.elapsed());
        throttle.record_success(&app.db, &attempt).await.unwrap();
        // For scale: a read of the locks instead of the place.
        let start = Instant::now();
        assert_eq!(throttle.check(&app.db, &attempt, now).await.unwrap(), None);
        throttle.release(&app.db, &attempt).await.unwrap();
        checked_success.push(start.elapsed());
        let start = Instant::now();
        throttle.check(&app.db, &attempt, now).await.unwrap();
        throttle
            .record_failure(&app.db, &attempt, now)
            .await
            .unwrap();
        checked_failure.push(start.elapsed());
        throttle.record_success(&app.db, &attempt).await.unwrap();
    }
    let mut logins = Vec::new();
    for _ in 0..50 {
        let start = Instant::now();
        assert_issued(
            app.post_login(&[("username", "ada@example.com"), ("password", PASSWORD)])
                .await,
        )
        .await;
        logins.push(start.elapsed());
    }
    let backend = format!("{:?}", app.db.backend);
    let (s50, s90) = p50_p90(success);
    let (f50, f90) = p50_p90(failure);
    let (c50, c90) = p50_p90(checked_success);
    let (d50, d90) = p50_p90(checked_failure);
    let (l50, l90) = p50_p90(logins);
    println!(
        "[{backend}] throttle on a successful login (reserve + settle): p50 {s50:.3} ms, p90 {s90:.3} ms ({rounds} rounds)"
    );
    println!(
        "[{backend}] throttle on a failed login (reserve + 3 upserts):   p50 {f50:.3} ms, p90 {f90:.3} ms ({rounds} rounds)"
    );
    println!(
        "[{backend}] for scale, a read instead of the reserve (success): p50 {c50:.3} ms, p90 {c90:.3} ms"
    );
    println!(
        "[{backend}] for scale, a read instead of the reserve (failure): p50 {d50:.3} ms, p90 {d90:.3} ms"
    );
    println!(
        "[{backend}] whole POST /login (argon2id included):              p50 {l50:.3} ms, p90 {l90:.3} ms (50 logins)"
    );
}

/// What a burst of sign-in attempts got, by status.
#[derive(Debug, Default)]
struct Tally {
    checked: usize,
    refused: usize,
    shed: usize,
}

/// Counts one answer of the token endpoint: `400 invalid_grant` (checked),
/// `429` (refused) or `503` (the hashing queue was full), each in the
/// contract's format; anything else fails the test.
async fn tally(tally: &mut Tally, response: reqwest::Response, trial: u32) {
    match response.status().as_u16() {
        400 => {
            assert_failed(response).await;
            tally.checked += 1;
        }
        429 => {
            assert_refused(response).await;
            tally.refused += 1;
        }
        503 => {
            assert!(response.headers().contains_key("retry-after"));
            assert_oauth_error(response, 503, "temporarily_unavailable").await;
            tally.shed += 1;
        }
        other => panic!("trial {trial}: answered {other}"),
    }
}

/// API.md: an attempt counts before its password is checked, so of any
/// number of simultaneous wrong passwords for one account from one
/// address at most 5 are checked and the rest get `429`; every check is
/// counted, and no place is left held. A new address and account each
/// trial (an existing account in the first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_simultaneous_wrong_passwords_get_at_most_five_checks() {
    const TRIALS: u32 = 30;
    const AT_ONCE: usize = 60;
    let app = behind_proxies().await;
    app.signup("ada@example.com").await;
    let started = std::time::Instant::now();
    for trial in 0..TRIALS {
        let address = format!("203.0.113.{}", 100 + trial);
        let account = if trial == 0 {
            "ada@example.com".to_owned()
        } else {
            format!("race{trial}@example.com")
        };
        let attempts = (0..AT_ONCE).map(|i| {
            let (app, address, account) = (&app, address.as_str(), account.as_str());
            async move {
                // Both doors of the password grant.
                if i % 2 == 0 {
                    login_from(app, address, account, WRONG).await
                } else {
                    app.client
                        .post(app.url("/login"))
                        .header("X-Forwarded-For", address)
                        .form(&[("username", account), ("password", WRONG)])
                        .send()
                        .await
                        .unwrap()
                }
            }
        });
        let mut counted = Tally::default();
        for response in futures::future::join_all(attempts).await {
            tally(&mut counted, response, trial).await;
        }
        assert!(counted.checked <= 5, "trial {trial}: {counted:?}");
        assert_eq!(
            counted.checked + counted.refused + counted.shed,
            AT_ONCE,
            "trial {trial}"
        );
        if counted.shed == 0 {
            assert_eq!(counted.checked, 5, "trial {trial}: {counted:?}");
        }
        let attempt = Attempt::new(&account, Some(address.parse().unwrap()));
        assert_eq!(
            throttle::failures(&app.db, &attempt.account_address)
                .await
                .unwrap(),
            Some(counted.checked as i64),
            "trial {trial}: every check counted, nothing else"
        );
        for key in [&attempt.address, &attempt.account_address, &attempt.account] {
            assert_eq!(
                throttle::pending(&app.db, key).await.unwrap(),
                Some(0),
                "trial {trial}: every place given back"
            );
        }
    }
    eprintln!(
        "{TRIALS} trials of {AT_ONCE} simultaneous wrong passwords in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The sign-in form of the authorization page reserves the same way: of
/// twelve simultaneous wrong passwords for one account, at most five are
/// checked (`401`, the form again) and the rest get `429`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_wrong_sign_ins_at_the_authorization_page_get_at_most_five_checks() {
    const AT_ONCE: usize = 12;
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let client = public_app(&app).await;
    let query = pkce_query(&client.id);
    let mut pages = Vec::new();
    for _ in 0..AT_ONCE {
        let (browser, page) = Browser::open(&app, &as_refs(&query)).await;
        pages.push((browser, page.text().await.unwrap()));
    }
    let sign_ins = pages.iter_mut().map(|(browser, page)| async move {
        let response = browser
            .submit(
                page,
                &[
                    ("action", "login"),
                    ("username", "ada@example.com"),
                    ("password", WRONG),
                ],
            )
            .await;
        let status = response.status().as_u16();
        if status == 429 {
            assert!(response.headers().contains_key("retry-after"));
        }
        status
    });
    let statuses = futures::future::join_all(sign_ins).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    let shed = statuses.iter().filter(|s| **s == 503).count();
    assert!(checked <= 5, "{statuses:?}");
    assert_eq!(checked + refused + shed, AT_ONCE, "{statuses:?}");
    if shed == 0 {
        assert_eq!(checked, 5, "{statuses:?}");
    }
    let attempt = Attempt::new("ada@example.com", Some(IpAddr::from([127, 0, 0, 1])));
    assert_eq!(
        throttle::failures(&app.db, &attempt.account_address)
            .await
            .unwrap(),
        Some(checked as i64)
    );
}

/// Places held by attempts in flight are not failures: an owner's own
/// simultaneous logins from one address, more than any allowance in
/// flight, wait their turn and all get in; none is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_right_passwords_from_one_address_are_queued_not_refused() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    for round in 0..3 {
        let logins = (0..12).map(|_| {
            app.post_token(&[
                ("grant_type", "password"),
                ("username", "ada@example.com"),
                ("password", PASSWORD),
            ])
        });
        let mut issued = 0;
        for response in futures::future::join_all(logins).await {
            match response.status().as_u16() {
                200 => {
                    assert_issued(response).await;
                    issued += 1;
                }
                // The hashing queue, shared by every test of this binary.
                503 => {
                    assert_oauth_error(response, 503, "temporarily_unavailable").await;
                }
                other => panic!("round {round}: a right password answered {other}"),
            }
        }
        assert!(issued > 0, "round {round}");
    }
    let attempt = Attempt::new("ada@example.com", Some(IpAddr::from([127, 0, 0, 1])));
    for key in [&attempt.address, &attempt.account_address, &attempt.account] {
        assert_eq!(throttle::pending(&app.db, key).await.unwrap(), Some(0));
    }
    assert_eq!(
        throttle::failures(&app.db, &attempt.account_address)
            .await
            .unwrap(),
        Some(0)
    );
}

/// The reservation itself, with the clock pinned: as many places as
/// failures are still allowed, none while locked, one at a time once the
/// allowance is spent and the lock over; places given back by a success
/// or a release, and forgotten when their process died.
#[tokio::test]
async fn places_follow_the_failures_still_allowed() {
    let app = spawn_app().await;
    let throttle = LoginThrottle::default();
    let attempt = Attempt::new("held@example.com", Some(IpAddr::from([203, 0, 113, 60])));
    let now = future();
    let reserve = |now| throttle.reserve(&app.db, &attempt, now);
    use throttle::Reservation::{Full, Held, Locked};

    for _ in 0..5 {
        assert_eq!(reserve(now).await.unwrap(), Held);
    }
    assert_eq!(reserve(now).await.unwrap(), Full, "five in flight");
    assert_eq!(
        throttle::pending(&app.db, &attempt.account_address)
            .await
            .unwrap(),
        Some(5),
        "a refused try holds nothing"
    );
    // One given back (the hashing queue was full): its place is free.
    throttle.release(&app.db, &attempt).await.unwrap();
    assert_eq!(reserve(now).await.unwrap(), Held);
    // Two fail, and the account's owner gets in: the account's counts are
    // cleared, so two are in flight and three places free.
    for _ in 0..2 {
        throttle
            .record_failure(&app.db, &attempt, now)
            .await
            .unwrap();
    }
    throttle.record_success(&app.db, &attempt).await.unwrap();
    assert_eq!(
        throttle::failures(&app.db, &attempt.account_address)
            .await
            .unwrap(),
        Some(0)
    );
    assert_eq!(
        throttle::failures(&app.db, &attempt.address).await.unwrap(),
        Some(2),
        "the address keeps its failures"
    );
    for _ in 0..3 {
        assert_eq!(reserve(now).await.unwrap(), Held);
    }
    assert_eq!(reserve(now).await.unwrap(), Full);
    // The five in flight fail: after three, two are allowed and two are
    // still in flight; the fifth failure locks.
    for _ in 0..3 {
        throttle
            .record_failure(&app.db, &attempt, now)
            .await
            .unwrap();
    }
    assert_eq!(reserve(now).await.unwrap(), Full);
    for _ in 0..2 {
        throttle
            .record_failure(&app.db, &attempt, now)
            .await
            .unwrap();
    }
    assert_eq!(reserve(now).await.unwrap(), Locked(15));
    // After the lock, one at a time, each failure locking again.
    let later = now + 16;
    assert_eq!(reserve(later).await.unwrap(), Held);
    assert_eq!(reserve(later).await.unwrap(), Full);
    // A process that died holding its place: forgotten after RESERVATION_TTL.
    let much_later = later + throttle::RESERVATION_TTL + 1;
    assert_eq!(reserve(much_later).await.unwrap(), Held);
    assert_eq!(
        throttle::pending(&app.db, &attempt.account_address)
            .await
            .unwrap(),
        Some(1)
    );

    // A row whose only news is a place that may still be held is kept by
    // the pruner until that place is forgotten.
    let fresh = Attempt::new("fresh@example.com", Some(IpAddr::from([203, 0, 113, 61])));
    let then = much_later + 100_000;
    assert_eq!(throttle.reserve(&app.db, &fresh, then).await.unwrap(), Held);
    auth_server::store::prune::prune(&app.db, then + 1)
        .await
        .unwrap();
    assert_eq!(
        throttle::pending(&app.db, &fresh.account).await.unwrap(),
        Some(1)
    );
    auth_server::store::prune::prune(&app.db, then + throttle::RESERVATION_TTL + 1)
        .await
        .unwrap();
    assert_eq!(
        throttle::pending(&app.db, &fresh.account).await.unwrap(),
        None
    );
}
