//! `auth-server events list`: the audit trail (API.md, "Audit events and
//! key metrics"), newest first, as text lines or one JSON array.

use clap::Subcommand;
use rocket::figment::Figment;

use super::CliError;
use crate::admin;
use crate::config::AppConfig;
use crate::store::db::Db;
use crate::store::events::{After, Filter, MAX_PAGE};

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// List audit events, newest first.
    List {
        /// Only events of this type (login_failed, token_issued, …).
        #[arg(long = "type", value_name = "TYPE")]
        kind: Option<String>,
        /// Only events at or after this time (RFC 3339, e.g. 2026-01-31T12:00:00Z).
        #[arg(long, value_name = "RFC3339")]
        since: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: EventsCommand, figment: &Figment) -> Result<(), CliError> {
    let EventsCommand::List { kind, since, json } = command;
    let since = match since.as_deref() {
        Some(text) => Some(admin::parse_time(text).ok_or_else(|| {
            CliError(format!(
                "--since {text:?} is not an RFC 3339 time (such as 2026-01-31T12:00:00Z)"
            ))
        })?),
        None => None,
    };
    let config = AppConfig::from_figment(figment).map_err(|e| CliError(e.to_string()))?;
    let db = Db::connect(&config.database_url)
        .await
        .map_err(|e| CliError(format!("DATABASE_URL: {e}")))?;
    let mut filter = Filter {
        kind,
        since,
        after: None,
        limit: MAX_PAGE,
    };
    // Page by page, so that a long trail is never held whole in memory.
    let mut first = true;
    if json {
        print!("[");
    }
    loop {
        let page = admin::list_events(&db, &filter).await?;
        for event in &page {
            if json {
                print!(
                    "{}{}",
                    if first { "" } else { "," },
                    admin::describe_event(event)
                );
            } else {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    shared::clock::rfc3339(event.time),
                    event.kind,
                    event.subject.as_deref().unwrap_or("-"),
                    event.client_id.as_deref().unwrap_or("-"),
                    event.client_address.as_deref().unwrap_or("-"),
                    event.details
                );
            }
            first = false;
        }
        match page.last() {
            Some(last) if page.len() as i64 == MAX_PAGE => {
                filter.after = Some(After {
                    time: last.time,
                    id: last.id.clone(),
                });
            }
            _ => break,
        }
    }
    if json {
        println!("]");
    }
    Ok(())
}
