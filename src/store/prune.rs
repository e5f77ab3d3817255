//! What the bridge forgets, and when (issue 18). The retention of each
//! table is a constant here and in the README:
//!
//! - `appservice_transactions`: 7 days (the homeserver retries a
//!   transaction for hours, not weeks).
//! - `wa_seen_messages` and `wa_unacked_messages` (decrypted messages whose
//!   receipt never went out), and `placeholders` (notices in place of
//!   messages not read yet): 30 days, about as long as WhatsApp's server
//!   keeps a message for a device that is away.
//! - `history_messages`: as soon as their chat's backfill has bridged
//!   past them (messages older than the newest bridged are never bridged
//!   later); a chat never opened keeps its history until its login goes.

use super::{Database, StoreError};

/// How long a handled transaction id is remembered.
pub const TRANSACTIONS_KEPT_MS: i64 = 7 * 24 * 3600 * 1000;
/// How long a received message id (and an unacked message) is kept.
pub const SEEN_KEPT_SECONDS: u64 = 30 * 24 * 3600;

/// What one pruning removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Handled transaction ids.
    pub transactions: u64,
    /// Seen message ids, kept unacked messages and placeholders, over all
    /// logins.
    pub seen: u64,
    /// Bridged history messages.
    pub history: u64,
}

impl Database {
    /// Forgets what is past its retention at `now_ms` (unix ms).
    pub async fn prune(&self, now_ms: i64) -> Result<Pruned, StoreError> {
        let transactions = self
            .prune_transactions(now_ms.saturating_sub(TRANSACTIONS_KEPT_MS))
            .await?;
        let before = u64::try_from(now_ms / 1000)
            .unwrap_or(0)
            .saturating_sub(SEEN_KEPT_SECONDS);
        let before = i64::try_from(before).unwrap_or(i64::MAX);
        let mut seen = 0u64;
        for sql in [
            "DELETE FROM wa_seen_messages WHERE seen_at < $1",
            "DELETE FROM wa_unacked_messages WHERE kept_at < $1",
            "DELETE FROM placeholders WHERE created_at < $1",
        ] {
            let n = with_pool!(&self.pool, |p| {
                sqlx::query(sql)
                    .bind(before)
                    .execute(p)
                    .await?
                    .rows_affected()
            });
            seen = seen.saturating_add(n);
        }
        let history = with_pool!(&self.pool, |p| {
            sqlx::query(
                "DELETE FROM history_messages WHERE EXISTS (SELECT 1 FROM history_chats c \
                 WHERE c.login_id = history_messages.login_id \
                 AND c.chat_id = history_messages.chat_id \
                 AND c.bridged_ts IS NOT NULL AND history_messages.ts <= c.bridged_ts)",
            )
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(Pruned {
            transactions,
            seen,
            history,
        })
    }
}
