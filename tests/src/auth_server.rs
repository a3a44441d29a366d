//! The auth-server as the end-to-end tests run it: its folder, its key
//! folder and database, and its settings ([`AuthServer`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::service::{Service, binary, passthrough_env};
use crate::{AUDIENCE, PASSWORD};

/// The auth-server with its folder, key folder and database.
pub struct AuthServer {
    pub service: Service,
    pub dir: PathBuf,
    pub keys_dir: PathBuf,
    pub database_url: String,
    /// What `ISSUER` has after the origin, as the operator wrote it.
    pub(crate) issuer_suffix: &'static str,
    /// Settings of the test's own ([`StackOptions::auth_env`]).
    pub(crate) extra_env: Vec<(String, String)>,
}

impl AuthServer {
    fn env(&self, port: u16) -> Vec<(String, String)> {
        let mut env = auth_env(&self.keys_dir, &self.database_url, port, self.issuer_suffix);
        env.extend(self.extra_env.iter().cloned());
        env
    }

    /// The `auth-server` binary with the server's own settings, to run an
    /// administration subcommand.
    pub fn command(&self) -> Command {
        let mut command = Command::new(binary("auth-server"));
        command
            .current_dir(&self.dir)
            .env_clear()
            .envs(passthrough_env())
            .envs(self.env(self.service.port))
            .stdin(Stdio::null());
        command
    }

    /// The issuer as it appears in tokens and discovery.
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.service.port)
    }

    /// Kills it; the resource-server must keep serving from its cache.
    pub fn stop(&mut self) {
        self.service.stop();
    }

    /// Starts it again on the same port (so the issuer URL is unchanged),
    /// retrying while the port is still being released.
    pub fn restart(&mut self) {
        self.service.stop();
        let port = self.service.port;
        let mut last_error = String::new();
        for _ in 0..20 {
            match Service::start(
                "auth-server",
                &binary("auth-server"),
                &self.dir,
                &self.env(port),
                port,
            ) {
                Ok(service) => {
                    self.service = service;
                    return;
                }
                Err(error) => {
                    last_error = error;
                    std::thread::sleep(Duration::from_millis(250));
                }
            }
        }
        panic!("cannot restart the auth-server on port {port}: {last_error}");
    }

    /// `auth-server users create --email E --name N [--admin]`, password on
    /// standard input, with the server's own settings.
    pub fn create_user(&self, email: &str, name: &str, admin: bool) {
        let mut command = Command::new(binary("auth-server"));
        command
            .args(["users", "create", "--email", email, "--name", name])
            .current_dir(&self.dir)
            .env_clear()
            .envs(passthrough_env())
            .envs(self.env(self.service.port))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if admin {
            command.arg("--admin");
        }
        let mut child = command.spawn().expect("run auth-server users create");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{PASSWORD}\n").as_bytes())
            .expect("write the password");
        let output = child.wait_with_output().expect("users create finishes");
        assert!(
            output.status.success(),
            "users create failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `auth-server clients create ARGS… --json` with the server's own
    /// settings: the client as the command prints it (`client_id`, and
    /// `client_secret` for a confidential one).
    pub fn create_client(&self, args: &[&str]) -> serde_json::Value {
        let output = self
            .command()
            .args(["clients", "create"])
            .args(args)
            .arg("--json")
            .output()
            .expect("run auth-server clients create");
        assert!(
            output.status.success(),
            "clients create {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("clients create --json prints JSON")
    }

    /// The key files given to the issuer to import (PKCS#8 PEM), newest
    /// last; the issuer keeps its keys in its database.
    pub fn key_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&self.keys_dir)
            .expect("read KEYS_DIR")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("pem"))
            .map(|p| (p.metadata().and_then(|m| m.modified()).expect("mtime"), p))
            .collect();
        files.sort();
        files.into_iter().map(|(_, p)| p).collect()
    }
}

pub(crate) fn auth_env(
    keys_dir: &Path,
    database_url: &str,
    port: u16,
    issuer_suffix: &str,
) -> Vec<(String, String)> {
    vec![
        ("DATABASE_URL".into(), database_url.into()),
        ("KEYS_DIR".into(), keys_dir.display().to_string()),
        (
            "ISSUER".into(),
            format!("http://127.0.0.1:{port}{issuer_suffix}"),
        ),
        ("AUDIENCE".into(), AUDIENCE.into()),
    ]
}
