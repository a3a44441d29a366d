//! `auth-server users create`: accounts made by an operator, the only way
//! to make an admin. The password is read from standard input so it never
//! shows in the process list or shell history.

use std::io::Read;

use clap::Subcommand;
use rocket::figment::Figment;
use shared::clock::{Clock, SystemClock};

use super::CliError;
use crate::config::AppConfig;
use crate::db::Db;
use crate::users::{insert_user, validate_new_user};

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        /// Display name; defaults to the part of the email before `@`.
        #[arg(long)]
        name: Option<String>,
        /// Grant the `profiles:read` scope (read any profile).
        #[arg(long)]
        admin: bool,
    },
}

pub async fn run(command: UsersCommand, figment: &Figment) -> Result<(), CliError> {
    match command {
        UsersCommand::Create { email, name, admin } => {
            let config = AppConfig::from_figment(figment).map_err(|e| CliError(e.to_string()))?;
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .map_err(|e| {
                    CliError(format!("cannot read the password from standard input: {e}"))
                })?;
            let password = password.trim_end_matches(['\r', '\n']);
            let name =
                name.unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
            let mut new_user = validate_new_user(
                Some(&email),
                Some(&name),
                Some(password),
                config.password_min_length,
            )
            .map_err(|errors| {
                let list: Vec<String> = errors
                    .iter()
                    .map(|e| format!("{} {}", e.field, e.message))
                    .collect();
                CliError(format!("invalid user: {}", list.join("; ")))
            })?;
            new_user.is_admin = admin;
            let db = Db::connect(&config.database_url)
                .await
                .map_err(|e| CliError(format!("DATABASE_URL: {e}")))?;
            let user = insert_user(&db, new_user, SystemClock.now())
                .await
                .map_err(|e| CliError(format!("cannot create the user: {e}")))?
                .ok_or_else(|| CliError("an account with this email already exists".into()))?;
            println!(
                "{}",
                serde_json::json!({"id": user.id, "email": user.email, "name": user.name, "admin": user.is_admin})
            );
            Ok(())
        }
    }
}
