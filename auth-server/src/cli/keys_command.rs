//! `auth-server keys list|rotate|revoke|import`: the signing keys and their
//! rotation (API.md, "Keys"). Each acts on the database, in the same
//! serialised transactions the servers use, while servers run: every one of
//! them picks the change up within 2 seconds. Nothing is written to
//! `KEYS_DIR`. `import` is the one way to add a key of one's own once the
//! database holds keys: files dropped into `KEYS_DIR` are not imported then.

use std::path::PathBuf;

use clap::Subcommand;
use rocket::figment::Figment;
use serde_json::Value;

use super::CliError;
use crate::admin::keys as admin_keys;
use crate::config::AppConfig;
use crate::keys::KeyStore;
use crate::keys::import::read_key_file;
use crate::keys::schedule;
use crate::store::db::Db;
use shared::clock::rfc3339;

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
    /// Add an RSA private key (PKCS#8 PEM, at least 2048 bits) as the `next`
    /// key: published now, it signs once every verifier has had time to
    /// fetch it, as a rotation's new key does; the current key then retires.
    Import {
        /// The PEM file.
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: KeysCommand, figment: &Figment) -> Result<(), CliError> {
    let config = AppConfig::from_figment(figment).map_err(|e| CliError(e.to_string()))?;
    let db = Db::connect(&config.database_url)
        .await
        .map_err(|e| CliError(format!("DATABASE_URL: {e}")))?;
    // Opening checks the key-encryption key, imports what an earlier
    // version left in KEYS_DIR into a database without keys and makes the
    // first key of an empty database, as the server would.
    let store = KeyStore::open(&config, &db)
        .await
        .map_err(|e| CliError(e.to_string()))?;
    let now = shared::clock::unix_now();
    match command {
        KeysCommand::List { json } => {
            let entries = admin_keys::list(&db, now).await?;
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
            let rotation =
                admin_keys::rotate(&store, config.publish_lead(), config.access_token_ttl, now)
                    .await
                    .map_err(|e| CliError(e.to_string()))?
                    .ok_or_else(|| CliError("the rotation did not happen".into()))?;
            print_rotation(&rotation, now, json);
        }
        KeysCommand::Import { file, json } => {
            let key = read_key_file(&file, &store.kek()).map_err(|e| CliError(e.to_string()))?;
            let rotation = schedule::import(
                store.db(),
                key,
                now,
                config.publish_lead(),
                config.access_token_ttl,
            )
            .await
            .map_err(|e| CliError(e.to_string()))?;
            tracing::info!(kid = %rotation.new.kid, file = %file.display(), "imported a key");
            print_rotation(&rotation, now, json);
        }
        KeysCommand::Revoke { kid } => {
            let revocation = admin_keys::revoke(&store, &kid, now)
                .await
                .map_err(|e| CliError(e.to_string()))?;
            println!(
                "key {} is revoked; key {} signs from now on",
                revocation.revoked.kid, revocation.signing.kid
            );
        }
    }
    Ok(())
}

/// What `rotate` and `import` say: the new key and the keys it retires.
fn print_rotation(rotation: &schedule::Rotation, now: i64, json: bool) {
    if json {
        println!("{}", admin_keys::describe_rotation(rotation, now));
        return;
    }
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

use admin_keys::describe;
