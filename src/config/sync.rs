//! `backfill` and `double_puppet`: what a user sees of their WhatsApp
//! history at login, and acting as the real Matrix user for their own
//! messages and chat settings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Token;

/// `backfill`: history bridged into new portals at login.
///
/// On by default: missing history is what users of the existing bridge
/// report most. History goes only into new, empty rooms (the homeserver
/// orders events by arrival, `ts` only sets their shown time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backfill {
    /// Whether history is bridged at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// How many of the most recent chats get a room at login (0: none,
    /// rooms then appear on the first new message).
    #[serde(default = "default_max_initial_chats")]
    pub max_initial_chats: u32,
    /// How many of each chat's latest messages are bridged at most.
    #[serde(default = "default_max_initial_messages")]
    pub max_initial_messages: u32,
    /// Ask the phone for its whole history at link time (`DeviceProps.
    /// requireFullSync`) rather than the recent chats only. Off: the
    /// bridge only fills the most recent chats, so the rest is wasted.
    #[serde(default)]
    pub request_full_sync: bool,
    /// With `request_full_sync`: how many days back (none: the phone's
    /// own limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_sync_days: Option<u32>,
}

impl Default for Backfill {
    fn default() -> Backfill {
        Backfill {
            enabled: true,
            max_initial_chats: default_max_initial_chats(),
            max_initial_messages: default_max_initial_messages(),
            request_full_sync: false,
            full_sync_days: None,
        }
    }
}

fn yes() -> bool {
    true
}

fn default_max_initial_chats() -> u32 {
    50
}

fn default_max_initial_messages() -> u32 {
    100
}

/// `double_puppet`: acting as the logged-in Matrix user through an extra
/// appservice registration (the method the mautrix bridges use).
///
/// `secrets` maps a homeserver domain to `as_token:<token>` of a
/// registration with an empty `url`, a non-exclusive user namespace for
/// that domain and `rate_limited: false`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoublePuppet {
    /// Domain -> `as_token:<token>`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, Token>,
}

impl DoublePuppet {
    /// The appservice token that acts as users of `domain`, if configured.
    pub fn as_token(&self, domain: &str) -> Option<&str> {
        self.secrets
            .get(domain)
            .and_then(|t| t.expose().strip_prefix("as_token:"))
    }
}
