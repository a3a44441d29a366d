//! `auth-server users create|update|delete`: accounts managed by an
//! operator, the only way to make or unmake an admin. The password is read
//! from standard input so it never shows in the process list or shell
//! history. Changing a user's rights or deleting the user revokes their
//! refresh token families at once, on every instance sharing the database.

use std::io::Read;

use clap::Subcommand;
use rocket::figment::Figment;
use shared::clock::{Clock, SystemClock};

use super::CliError;
use crate::accounts::{check_name, validate_new_user};
use crate::admin::{self, Actor};
use crate::config::AppConfig;
use crate::store::db::Db;
use crate::store::users::{UpdatedUser, UserChanges};

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
    /// Change a user's rights or name; a change of rights revokes the
    /// user's refresh tokens.
    Update {
        email: String,
        /// Grant the `profiles:read` scope.
        #[arg(long, conflicts_with = "no_admin")]
        admin: bool,
        /// Take the `profiles:read` scope away.
        #[arg(long)]
        no_admin: bool,
        /// New display name (1 to 100 characters).
        #[arg(long)]
        name: Option<String>,
    },
    /// Delete a user and revoke their refresh tokens.
    Delete { email: String },
}

/// The settings and database a command works on.
async fn open(figment: &Figment) -> Result<(AppConfig, Db), CliError> {
    let config = AppConfig::from_figment(figment).map_err(|e| CliError(e.to_string()))?;
    let db = Db::connect(&config.database_url)
        .await
        .map_err(|e| CliError(format!("DATABASE_URL: {e}")))?;
    Ok((config, db))
}

fn describe(updated: &UpdatedUser) -> serde_json::Value {
    let user = &updated.user;
    serde_json::json!({
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "admin": user.is_admin,
        "revoked_refresh_families": updated.revoked_families,
    })
}

fn no_account(email: &str) -> CliError {
    CliError(format!("no account has the email {email}"))
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
            let user = admin::create_user(&db, new_user, &Actor::CommandLine, SystemClock.now())
                .await
                .map_err(|e| CliError(format!("cannot create the user: {e}")))?
                .ok_or_else(|| CliError("an account with this email already exists".into()))?;
            println!(
                "{}",
                serde_json::json!({"id": user.id, "email": user.email, "name": user.name, "admin": user.is_admin})
            );
            Ok(())
        }
        UsersCommand::Update {
            email,
            admin,
            no_admin,
            name,
        } => {
            let name = name.map(|n| n.trim().to_owned());
            if let Some(name) = &name {
                check_name(name).map_err(|message| CliError(format!("--name {message}")))?;
            }
            let changes = UserChanges {
                is_admin: match (admin, no_admin) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
                name,
            };
            if changes.is_admin.is_none() && changes.name.is_none() {
                return Err(CliError(
                    "nothing to change: give --admin, --no-admin or --name".into(),
                ));
            }
            let (config, db) = open(figment).await?;
            let email = email.trim().to_lowercase();
            let now = SystemClock.now();
            let expires = now + config.access_token_ttl;
            let updated =
                admin::update_user(&db, &email, &changes, &Actor::CommandLine, now, expires)
                    .await
                    .map_err(|e| CliError(format!("cannot update the user: {e}")))?
                    .ok_or_else(|| no_account(&email))?;
            println!("{}", describe(&updated));
            Ok(())
        }
        UsersCommand::Delete { email } => {
            let (config, db) = open(figment).await?;
            let email = email.trim().to_lowercase();
            let now = SystemClock.now();
            let expires = now + config.access_token_ttl;
            let deleted = admin::delete_user(&db, &email, &Actor::CommandLine, now, expires)
                .await
                .map_err(|e| CliError(format!("cannot delete the user: {e}")))?
                .ok_or_else(|| no_account(&email))?;
            println!("{}", describe(&deleted));
            Ok(())
        }
    }
}
