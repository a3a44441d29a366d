//! Where a key is in its walk (API.md, "Keys"): `next` (published, not
//! yet signing) → `active` (signing) → `retiring` (published until every
//! token it signed has expired) → `removed`.
//!
//! The walk is a few instants stored with each key; a key's state is
//! derived from those instants and the clock, so no process has to be
//! awake when a key changes state, and every instance reading the same
//! rows agrees on which key signs ([`signer`]).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// Removed keys are listed this long. Their rows (tombstones) stay for
/// good, so that a removed kid never comes back.
pub const REMOVED_LISTED: i64 = 30 * 24 * 3600;

/// Where a key is in its walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    Next,
    Active,
    Retiring,
    Removed,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retiring => "retiring",
            KeyState::Removed => "removed",
        }
    }

    /// Whether the JWK Set carries the key.
    pub fn is_published(self) -> bool {
        !matches!(self, KeyState::Removed)
    }
}

/// One key's instants (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub kid: String,
    pub created_at: i64,
    /// From here on the key may sign.
    pub activates_at: i64,
    /// From here on it no longer signs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retires_at: Option<i64>,
    /// From here on it is no longer published, and its private key erased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_at: Option<i64>,
}

impl Entry {
    /// A key that has been active since `since` and has no end planned.
    pub fn active_since(kid: &str, since: i64) -> Entry {
        Entry {
            kid: kid.to_owned(),
            created_at: since,
            activates_at: since,
            retires_at: None,
            removed_at: None,
        }
    }

    pub fn state(&self, now: i64) -> KeyState {
        if self.removed_at.is_some_and(|t| t <= now) {
            KeyState::Removed
        } else if self.retires_at.is_some_and(|t| t <= now) {
            KeyState::Retiring
        } else if self.activates_at <= now {
            KeyState::Active
        } else {
            KeyState::Next
        }
    }

    /// The first instant after `now` at which the state changes.
    pub fn next_change(&self, now: i64) -> Option<i64> {
        [Some(self.activates_at), self.retires_at, self.removed_at]
            .into_iter()
            .flatten()
            .filter(|t| *t > now)
            .min()
    }
}

/// The schedule of every key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub keys: Vec<Entry>,
}

impl Schedule {
    pub fn in_state(&self, state: KeyState, now: i64) -> impl Iterator<Item = &Entry> {
        self.keys.iter().filter(move |e| e.state(now) == state)
    }
}

/// The key that signs at `now` among those present: the latest activated
/// of the active ones (ties broken by kid, so every instance agrees).
pub fn signer(schedule: &Schedule, present: &HashSet<&str>, now: i64) -> Option<Entry> {
    schedule
        .in_state(KeyState::Active, now)
        .filter(|e| present.contains(e.kid.as_str()))
        .max_by(|a, b| a.activates_at.cmp(&b.activates_at).then(b.kid.cmp(&a.kid)))
        .cloned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entry(activates: i64, retires: Option<i64>, removed: Option<i64>) -> Entry {
        Entry {
            kid: "k".into(),
            created_at: 0,
            activates_at: activates,
            retires_at: retires,
            removed_at: removed,
        }
    }

    #[test]
    fn a_key_walks_next_active_retiring_removed() {
        let e = entry(100, Some(200), Some(300));
        assert_eq!(e.state(99), KeyState::Next);
        assert_eq!(e.state(100), KeyState::Active);
        assert_eq!(e.state(199), KeyState::Active);
        assert_eq!(e.state(200), KeyState::Retiring);
        assert_eq!(e.state(300), KeyState::Removed);
        assert_eq!(e.next_change(50), Some(100));
        assert_eq!(e.next_change(150), Some(200));
        assert_eq!(e.next_change(250), Some(300));
        assert_eq!(e.next_change(300), None);
        assert!(KeyState::Next.is_published() && KeyState::Retiring.is_published());
        assert!(!KeyState::Removed.is_published());
    }

    #[test]
    fn an_unplanned_key_stays_active() {
        let e = Entry::active_since("k", 10);
        assert_eq!(e.state(1_000_000), KeyState::Active);
        assert_eq!(e.next_change(10), None);
    }

    #[test]
    fn the_latest_activated_key_signs() {
        let schedule = Schedule {
            keys: vec![
                Entry::active_since("old", 10),
                Entry {
                    kid: "new".into(),
                    ..entry(20, None, None)
                },
                Entry {
                    kid: "gone".into(),
                    ..entry(30, Some(30), Some(30))
                },
            ],
        };
        let present: HashSet<&str> = ["old", "new", "gone"].into_iter().collect();
        assert_eq!(signer(&schedule, &present, 25).unwrap().kid, "new");
        assert_eq!(signer(&schedule, &present, 15).unwrap().kid, "old");
        let only_old: HashSet<&str> = ["old"].into_iter().collect();
        assert_eq!(signer(&schedule, &only_old, 25).unwrap().kid, "old");
    }
}
