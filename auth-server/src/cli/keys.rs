//! `auth-server keys list`: what is in `KEYS_DIR`, which key signs.

use clap::Subcommand;
use rocket::figment::Figment;

use super::CliError;
use crate::config::AppConfig;
use crate::keys::KeyStore;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the keys, newest first; the first one signs.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: KeysCommand, figment: &Figment) -> Result<(), CliError> {
    match command {
        KeysCommand::List { json } => {
            let config = AppConfig::from_figment(figment).map_err(|e| CliError(e.to_string()))?;
            let store =
                KeyStore::open(&config.keys_dir).map_err(|e| CliError(format!("KEYS_DIR: {e}")))?;
            let ring = store.current();
            let rows: Vec<serde_json::Value> = ring
                .keys
                .iter()
                .map(|key| {
                    let modified = key
                        .modified
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs() as i64)
                        .unwrap_or(0);
                    serde_json::json!({
                        "kid": key.kid,
                        "state": if key.kid == ring.signing.kid { "active" } else { "published" },
                        "file": key.path.display().to_string(),
                        "created_at": crate::users::rfc3339(modified),
                    })
                })
                .collect();
            if json {
                println!("{}", serde_json::Value::Array(rows));
            } else {
                for row in rows {
                    println!(
                        "{}\t{}\t{}\t{}",
                        row["kid"].as_str().unwrap_or_default(),
                        row["state"].as_str().unwrap_or_default(),
                        row["created_at"].as_str().unwrap_or_default(),
                        row["file"].as_str().unwrap_or_default()
                    );
                }
            }
            Ok(())
        }
    }
}
