//! `auth-server keys list|rotate|revoke`: the signing keys and their
//! rotation (API.md, "Keys"). Each works while servers run on the same
//! `KEYS_DIR`: they pick the change up within seconds.

use clap::Subcommand;
use rocket::figment::Figment;
use serde_json::{Value, json};

use super::CliError;
use crate::config::AppConfig;
use crate::key_schedule::{self, Entry, Schedule};
use crate::keys::{self, KeyStore};
use crate::users::rfc3339;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List every key with its state (next, active, retiring, removed) and times.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Start a rotation: a new key is published now and signs once every
    /// verifier has had time to fetch it; the current key then retires.
    Rotate {
        #[arg(long)]
        json: bool,
    },
    /// Remove a (compromised) key at once; another key signs from now on.
    Revoke {
        /// The key's kid; base64url, so it may start with `-`.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

pub async fn run(command: KeysCommand, figment: &Figment) -> Result<(), CliError> {
    let config = AppConfig::from_figment(figment).map_err(|e| CliError(e.to_string()))?;
    let dir = config.keys_dir.clone();
    let keys_error = |e: &dyn std::fmt::Display| CliError(format!("KEYS_DIR: {e}"));
    let now = key_schedule::now();
    match command {
        KeysCommand::List { json } => {
            // Opening generates the first key of an empty folder, as the
            // server would.
            KeyStore::open(&dir).map_err(|e| keys_error(&e))?;
            let files = keys::load_dir(&dir).map_err(|e| keys_error(&e))?;
            let schedule = Schedule::read(&dir).map_err(|e| keys_error(&e))?;
            let mut entries: Vec<Entry> = files.iter().map(|k| schedule.entry_for(k)).collect();
            for entry in &schedule.keys {
                if !entries.iter().any(|e| e.kid == entry.kid) {
                    entries.push(entry.clone());
                }
            }
            entries.sort_by(|a, b| b.activates_at.cmp(&a.activates_at).then(a.kid.cmp(&b.kid)));
            let rows: Vec<Value> = entries.iter().map(|e| describe(e, now)).collect();
            if json {
                println!("{}", Value::Array(rows));
            } else {
                for row in rows {
                    let text = |name: &str| row[name].as_str().unwrap_or("-").to_owned();
                    println!(
                        "{}\t{}\tsigns from {}\tretires {}\tremoved {}",
                        text("kid"),
                        text("state"),
                        text("activates_at"),
                        text("retires_at"),
                        text("removed_at"),
                    );
                }
            }
        }
        KeysCommand::Rotate { json } => {
            KeyStore::open(&dir).map_err(|e| keys_error(&e))?;
            let rotation = key_schedule::rotate(&dir, now, config.access_token_ttl)
                .map_err(|e| keys_error(&e))?;
            if json {
                println!(
                    "{}",
                    json!({
                        "new": describe(&rotation.new, now),
                        "retiring": rotation.retiring.iter().map(|e| describe(e, now)).collect::<Vec<_>>(),
                    })
                );
            } else {
                println!(
                    "key {} is published now and signs from {}",
                    rotation.new.kid,
                    rfc3339(rotation.new.activates_at)
                );
                for old in &rotation.retiring {
                    println!(
                        "key {} stops signing then and is removed at {}",
                        old.kid,
                        old.removed_at.map(rfc3339).unwrap_or_default()
                    );
                }
            }
        }
        KeysCommand::Revoke { kid } => {
            let revocation = key_schedule::revoke(&dir, &kid, now).map_err(|e| keys_error(&e))?;
            println!(
                "key {} is revoked; key {} signs from now on",
                revocation.revoked.kid, revocation.signing.kid
            );
        }
    }
    Ok(())
}

fn describe(entry: &Entry, now: i64) -> Value {
    json!({
        "kid": entry.kid,
        "state": entry.state(now).as_str(),
        "created_at": rfc3339(entry.created_at),
        "activates_at": rfc3339(entry.activates_at),
        "retires_at": entry.retires_at.map(rfc3339),
        "removed_at": entry.removed_at.map(rfc3339),
    })
}
