//! The queue of audit events that record no write of their own, as the
//! database handle carries it ([`super::db::Db::events`]); the events
//! themselves, their table and the writer are [`super::events`]. Apart, so
//! that the handle need not know the table.

use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;

/// An event as it is stored and listed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StoredEvent {
    pub id: String,
    /// Unix seconds.
    pub time: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub instance: String,
    pub client_address: Option<String>,
    pub client_id: Option<String>,
    pub subject: Option<String>,
    pub details: Value,
}

/// Where events recorded outside a transaction go: the writer task's queue
/// once [`run_writer`](super::events::run_writer) runs, else (the command line) straight to the table.
#[derive(Debug, Clone, Default)]
pub struct EventQueue(Arc<OnceLock<mpsc::Sender<StoredEvent>>>);

impl EventQueue {
    /// The writer's queue, once it runs.
    pub fn sender(&self) -> Option<&mpsc::Sender<StoredEvent>> {
        self.0.get()
    }

    /// Hands the queue to the writer; `Err` when a writer already has one.
    pub fn start(
        &self,
        sender: mpsc::Sender<StoredEvent>,
    ) -> Result<(), mpsc::Sender<StoredEvent>> {
        self.0.set(sender)
    }
}
