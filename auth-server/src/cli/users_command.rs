//! `auth-server users create|update|delete`: accounts managed by an
//! operator, the only way to make or unmake an admin. The password is read
//! from standard input so it never shows in the process list or shell
//! history. Changing a user's rights or deleting the user revokes their
//! refresh token families at once, on every instance sharing the database.
//! The rules and events are [`crate::admin::users`]'s, which the admin API
//! calls too; this is a thin front that reads flags and prints.

use std::io::Read;

use clap::Subcommand;
use rocket::figment::Figment;
use shared::clock::{Clock, SystemClock};

use super::CliError;
use crate::admin::Actor;
use crate::admin::users::{self as accounts, NewAccount};
use crate::config::AppConfig;
use crate::errors::ApiError;
use crate::store::db::Db;

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

/// One line for an operation refused or failed.
fn failed(doing: &str, email: &str, error: ApiError) -> CliError {
    match error {
        ApiError::Validation(errors) => {
            let list: Vec<String> = errors
                .iter()
                .map(|e| match e.field.as_str() {
                    "body" => e.message.clone(),
                    field => format!("{field} {}", e.message),
                })
                .collect();
            CliError(format!("invalid user: {}", list.join("; ")))
        }
        ApiError::Conflict(_) => CliError("an account with this email already exists".into()),
        ApiError::NotFound => CliError(format!("no account has the email {email}")),
        other => CliError(format!("cannot {doing} the user: {other}")),
    }
}

pub async fn run(command: UsersCommand, figment: &Figment) -> Result<(), CliError> {
    let now = SystemClock.now();
    match command {
        UsersCommand::Create { email, name, admin } => {
            let (config, db) = open(figment).await?;
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .map_err(|e| {
                    CliError(format!("cannot read the password from standard input: {e}"))
                })?;
            let account = NewAccount {
                email: &email,
                name: name.as_deref(),
                password: password.trim_end_matches(['\r', '\n']),
                admin,
            };
            let user = accounts::create(
                &db,
                account,
                config.password_min_length,
                &Actor::CommandLine,
                now,
            )
            .await
            .map_err(|e| failed("create", &email, e))?;
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
            let admin = match (admin, no_admin) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            let changes = accounts::changes(admin, name.as_deref()).map_err(|e| match e {
                ApiError::Validation(errors) if errors.iter().any(|e| e.field == "body") => {
                    CliError("nothing to change: give --admin, --no-admin or --name".into())
                }
                ApiError::Validation(errors) => CliError(format!(
                    "--name {}",
                    errors
                        .first()
                        .map(|e| e.message.as_str())
                        .unwrap_or_default()
                )),
                other => CliError(other.to_string()),
            })?;
            let (config, db) = open(figment).await?;
            let updated = accounts::update(
                &db,
                &email,
                &changes,
                config.access_token_ttl,
                &Actor::CommandLine,
                now,
            )
            .await
            .map_err(|e| failed("update", &email.trim().to_lowercase(), e))?;
            println!("{}", accounts::describe_change(&updated));
            Ok(())
        }
        UsersCommand::Delete { email } => {
            let (config, db) = open(figment).await?;
            let deleted = accounts::delete(
                &db,
                &email,
                config.access_token_ttl,
                &Actor::CommandLine,
                now,
            )
            .await
            .map_err(|e| failed("delete", &email.trim().to_lowercase(), e))?;
            println!("{}", accounts::describe_change(&deleted));
            Ok(())
        }
    }
}
