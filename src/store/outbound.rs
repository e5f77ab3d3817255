//! Events from Matrix on their way to WhatsApp (`outbound_events` table):
//! kept from the homeserver's transaction until they are handled.

use super::{Database, StoreError};

impl Database {
    /// Keeps event `event_id` of `room` (its JSON) until
    /// [`Database::outbound_done`]; one already kept (a replayed
    /// transaction) stays as it is.
    pub async fn queue_outbound(
        &self,
        room_id: &str,
        event_id: &str,
        event: &str,
    ) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO outbound_events (room_id, event_id, event) VALUES ($1, $2, $3) \
                 ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(room_id)
            .bind(event_id)
            .bind(event)
            .execute(p)
            .await
            .map_err(StoreError::on_write("outbound_events"))?;
        });
        Ok(())
    }

    /// Forgets event `event_id`: it was handled.
    pub async fn outbound_done(&self, event_id: &str) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| {
            sqlx::query("DELETE FROM outbound_events WHERE event_id = $1")
                .bind(event_id)
                .execute(p)
                .await
                .map_err(StoreError::on_write("outbound_events"))?;
        });
        Ok(())
    }

    /// Whether event `event_id` is kept, not yet handled.
    pub async fn outbound_pending(&self, event_id: &str) -> Result<bool, StoreError> {
        // A text column: `SELECT 1` is a 32-bit integer in PostgreSQL.
        let row: Option<(String,)> = with_pool!(&self.pool, |p| {
            sqlx::query_as("SELECT event_id FROM outbound_events WHERE event_id = $1")
                .bind(event_id)
                .fetch_optional(p)
                .await?
        });
        Ok(row.is_some())
    }

    /// The events not yet handled, as (room, JSON), in the order they came.
    pub async fn pending_outbound(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows: Vec<(String, String)> = with_pool!(&self.pool, |p| {
            sqlx::query_as("SELECT room_id, event FROM outbound_events ORDER BY seq")
                .fetch_all(p)
                .await?
        });
        Ok(rows)
    }
}
