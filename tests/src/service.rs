//! One service binary of the workspace, started on a free loopback port
//! with its own database ([`TestDatabase`]), and stopped (by PID) when
//! dropped ([`Service`]).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a service may take from spawn to its "listening on" line.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The workspace's target folder, where cargo put the binaries.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        None => workspace_root().join("target"),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The path of a workspace binary, or a panic that says how to build it.
pub fn binary(name: &str) -> PathBuf {
    let path = target_dir().join("debug").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// A free port on 127.0.0.1 at the time of asking. Another process may
/// take it before we do; [`Service::start`] retries on that.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A database for one service of one test.
pub struct TestDatabase {
    pub url: String,
    /// `(admin url, name)` of a PostgreSQL database to drop afterwards.
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn create(dir: &Path, file_name: &str) -> TestDatabase {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin_url) if admin_url.starts_with("postgres") => {
                use sqlx::Connection;
                let name = format!("t_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .expect("TEST_DATABASE_URL must accept connections");
                // The name is a UUID of ours, never input.
                sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create the test database");
                let base = admin_url
                    .rsplit_once('/')
                    .map(|(b, _)| b.to_owned())
                    .unwrap_or_else(|| admin_url.clone());
                TestDatabase {
                    url: format!("{base}/{name}"),
                    postgres: Some((admin_url, name)),
                }
            }
            _ => TestDatabase {
                url: format!("sqlite://{}", dir.join(file_name).display()),
                postgres: None,
            },
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime; a thread with its own runtime
        // can block on the statement. Services are gone by now (they are
        // dropped first); `with (force)` covers stragglers.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "drop database if exists {name} with (force)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

/// A running service binary.
pub struct Service {
    pub name: &'static str,
    pub base_url: String,
    pub port: u16,
    /// Where its standard error goes (unless `TEST_LOG` passes it through).
    pub stderr_log: PathBuf,
    child: Child,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Service {
    /// Spawns `binary serve` in `cwd` with exactly `env` (plus PATH and
    /// HOME) and `ROCKET_PORT=port`, and waits for its "listening on" line.
    /// Returns the process's last words when it exits first (a taken port).
    pub fn start(
        name: &'static str,
        binary: &Path,
        cwd: &Path,
        env: &[(String, String)],
        port: u16,
    ) -> Result<Service, String> {
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .current_dir(cwd)
            .env_clear()
            .envs(passthrough_env())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("ROCKET_ADDRESS", "127.0.0.1")
            .env("ROCKET_PORT", port.to_string())
            .env("ROCKET_CLI_COLORS", "false");
        Service::spawn(name, command, cwd)
    }

    /// Spawns `command` with its standard error in `<cwd>/<name>.stderr.log`,
    /// and waits for the `NAME listening on http://…` line on its standard
    /// output, which gives its address.
    pub fn spawn(name: &'static str, mut command: Command, cwd: &Path) -> Result<Service, String> {
        command.stdin(Stdio::null()).stdout(Stdio::piped());
        let log = std::env::var_os("TEST_LOG").is_some();
        let stderr_path = cwd.join(format!("{name}.stderr.log"));
        if log {
            command.stderr(Stdio::inherit());
        } else {
            let file = std::fs::File::create(&stderr_path).map_err(|e| e.to_string())?;
            command.stderr(file);
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (lines, announced) = mpsc::channel();
        std::thread::spawn(move || {
            // Keep draining so the child never blocks on a full pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = lines.send(line);
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match announced.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    if let Some(at) = line.find("listening on http://") {
                        let base_url = line[at + "listening on ".len()..].trim().to_owned();
                        let port = base_url
                            .rsplit(':')
                            .next()
                            .and_then(|port| port.parse().ok())
                            .ok_or_else(|| format!("{name} announced no port: {line}"))?;
                        return Ok(Service {
                            name,
                            base_url,
                            port,
                            stderr_log: stderr_path,
                            child,
                        });
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {}
            }
            if let Ok(Some(status)) = child.try_wait() {
                let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
                return Err(format!(
                    "{name} exited with {status} before listening: {}",
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                ));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{name} did not announce itself within {START_TIMEOUT:?}"
                ));
            }
        }
    }

    /// What it wrote to standard error so far (empty with `TEST_LOG`).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// Kills the process (by its PID) and reaps it.
    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// The process id, to read its `/proc/<pid>/status` or signal it.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

pub fn passthrough_env() -> Vec<(String, String)> {
    ["PATH", "HOME", "TMPDIR", "RUST_LOG"]
        .into_iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_owned(), v)))
        .collect()
}

/// Starts a service on a fresh free port, retrying when the port was
/// taken between asking and binding.
pub(crate) fn start_on_free_port(
    name: &'static str,
    binary: &Path,
    cwd: &Path,
    env: &dyn Fn(u16) -> Vec<(String, String)>,
) -> Service {
    let mut last_error = String::new();
    for _ in 0..5 {
        let port = free_port();
        match Service::start(name, binary, cwd, &env(port), port) {
            Ok(service) => return service,
            Err(error) => last_error = error,
        }
    }
    panic!("{last_error}");
}
