//! The raw limits of the auth-server's two costly hot paths, with no HTTP,
//! database or queue around them, for `tests/load/run.sh` to set each
//! path's rate against:
//!
//!   gauge argon2id THREADS SECONDS   one login's password check (the
//!                                    server's own code and parameters)
//!   gauge rs256 THREADS SECONDS      one access token's RS256 signature
//!                                    (the server's own aws-lc signer)
//!
//! Each of THREADS threads repeats the work until SECONDS have passed;
//! prints `NAME THREADS RATE` with the rate per second of all threads.

use std::time::{Duration, Instant};

use auth_server::keys::SigningKey;
use auth_server::password_hash;
use rsa::pkcs8::EncodePrivateKey;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(gauge), Some(threads), Some(seconds)) = (
        args.first(),
        args.get(1).and_then(|a| a.parse::<usize>().ok()),
        args.get(2).and_then(|a| a.parse::<f64>().ok()),
    ) else {
        eprintln!("usage: gauge argon2id|rs256 THREADS SECONDS");
        std::process::exit(2);
    };
    let run_for = Duration::from_secs_f64(seconds);
    let count = match gauge.as_str() {
        "argon2id" => on_threads(threads, run_for, || {
            let mut buffer = password_hash::new_buffer();
            move || {
                password_hash::verify_in(b"not-the-password", &mut buffer);
            }
        }),
        "rs256" => {
            let key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048)
                .ok()
                .and_then(|private| private.to_pkcs8_der().ok())
                .and_then(|der| SigningKey::from_pkcs8_der(der.as_bytes(), "gauge").ok());
            let Some(key) = key.map(std::sync::Arc::new) else {
                eprintln!("cannot make an RSA key");
                std::process::exit(1);
            };
            // As long as an access token's signing input.
            let message = vec![b'x'; 600];
            on_threads(threads, run_for, || {
                let key = key.clone();
                let message = message.clone();
                move || {
                    let _ = key.sign(&message);
                }
            })
        }
        other => {
            eprintln!("unknown gauge {other}: argon2id or rs256");
            std::process::exit(2);
        }
    };
    println!(
        "{gauge} {threads} {:.1}",
        count as f64 / run_for.as_secs_f64()
    );
}

/// Runs the work `make` gives each thread until `run_for` has passed on
/// every thread; the number of times it ran in all.
fn on_threads<W: FnMut() + Send>(threads: usize, run_for: Duration, make: impl Fn() -> W) -> u64 {
    let workers: Vec<W> = (0..threads.max(1)).map(|_| make()).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = workers
            .into_iter()
            .map(|mut work| {
                scope.spawn(move || {
                    let started = Instant::now();
                    let mut done = 0u64;
                    while started.elapsed() < run_for {
                        work();
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).sum()
    })
}
