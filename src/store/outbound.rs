//! Events from Matrix on their way to WhatsApp (`outbound_events` table):
//! kept from the homeserver's transaction until they are handled.

use ruma::{EventId, OwnedRoomId, RoomId};

use super::{Database, StoreError, matrix_id};

impl Database {
    /// Keeps event `event_id` of `room` (its JSON) until
    /// [`Database::outbound_done`]; one already kept (a replayed
    /// transaction) stays as it is.
    pub async fn queue_outbound(
        &self,
        room_id: &RoomId,
        event_id: &EventId,
        event: &str,
    ) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO outbound_events (room_id, event_id, event) VALUES ($1, $2, $3) \
                 ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(room_id.as_str())
            .bind(event_id.as_str())
            .bind(event)
            .execute(p)
            .await
            .map_err(StoreError::on_write("outbound_events"))?;
        });
        Ok(())
    }

    /// Forgets event `event_id`: it was handled.
    pub async fn outbound_done(&self, event_id: &EventId) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| {
            sqlx::query("DELETE FROM outbound_events WHERE event_id = $1")
                .bind(event_id.as_str())
                .execute(p)
                .await
                .map_err(StoreError::on_write("outbound_events"))?;
        });
        Ok(())
    }

    /// Whether event `event_id` is kept, not yet handled.
    pub async fn outbound_pending(&self, event_id: &EventId) -> Result<bool, StoreError> {
        // A text column: `SELECT 1` is a 32-bit integer in PostgreSQL.
        let row: Option<(String,)> = with_pool!(&self.pool, |p| {
            sqlx::query_as("SELECT event_id FROM outbound_events WHERE event_id = $1")
                .bind(event_id.as_str())
                .fetch_optional(p)
                .await?
        });
        Ok(row.is_some())
    }

    /// The events not yet handled, as (room, JSON), in the order they came.
    pub async fn pending_outbound(&self) -> Result<Vec<(OwnedRoomId, String)>, StoreError> {
        let rows: Vec<(String, String, String)> = with_pool!(&self.pool, |p| {
            sqlx::query_as("SELECT room_id, event_id, event FROM outbound_events ORDER BY seq")
                .fetch_all(p)
                .await?
        });
        rows.into_iter()
            .map(|(room, id, event)| {
                let key = format!("event {id}");
                Ok((matrix_id("outbound_events", "room_id", &key, room)?, event))
            })
            .collect()
    }
}
