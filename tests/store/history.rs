//! History tables: chunks stored once by id, chats merged, messages not
//! doubled, read back in order.

use anyhow::{Context as _, Result};
use wabridge::store::{Database, HistoryChat, HistoryChunk, HistoryMessage};

use super::{PgDb, TempDir};

fn history_message(chat: &str, id: &str, ts: i64) -> HistoryMessage {
    HistoryMessage {
        chat_id: chat.to_owned(),
        sender_id: "15550001".to_owned(),
        message_id: id.to_owned(),
        from_me: id.ends_with('m'),
        ts,
        push_name: Some("Bob".to_owned()),
        payload: id.as_bytes().to_vec(),
    }
}

/// History chunks: stored once by id, chats merged, messages not doubled,
/// read back newest chats first and messages oldest first, bridged marks
/// only move forward, and logout empties it.
async fn history_tables(db: &Database) -> Result<()> {
    let first = HistoryChunk {
        chunk_id: "N1".into(),
        sync_type: 0,
        chunk_order: None,
        progress: Some(10),
        chats: vec![
            HistoryChat {
                chat_id: "a".into(),
                name: Some("Alpha".into()),
                last_ts: 3_000,
                unread: 2,
                archived: true,
                mute_until: Some(-1),
                ..HistoryChat::default()
            },
            HistoryChat {
                chat_id: "b".into(),
                last_ts: 5_000,
                pinned: true,
                ..HistoryChat::default()
            },
        ],
        messages: vec![
            history_message("a", "a2", 2_000),
            history_message("a", "a1m", 1_000),
            history_message("b", "b1", 5_000),
        ],
    };
    assert!(db.save_history_chunk("L", &first).await?, "new chunk");
    assert!(
        !db.save_history_chunk("L", &first).await?,
        "the same chunk again is recognised"
    );
    let later = HistoryChunk {
        chunk_id: "N2".into(),
        sync_type: 3,
        chunk_order: Some(1),
        progress: Some(100),
        chats: vec![HistoryChat {
            chat_id: "a".into(),
            name: None,
            last_ts: 2_500,
            ..HistoryChat::default()
        }],
        messages: vec![
            history_message("a", "a0", 500),
            history_message("a", "a2", 2_000),
        ],
    };
    assert!(db.save_history_chunk("L", &later).await?);
    assert_eq!(db.history_counts("L").await?, (2, 2, 4));

    let chats = db.recent_history_chats("L", 10).await?;
    let ids: Vec<&str> = chats.iter().map(|c| c.chat_id.as_str()).collect();
    assert_eq!(ids, ["b", "a"], "newest activity first");
    let a = db.history_chat("L", "a").await?.context("chat a")?;
    assert_eq!(a.name.as_deref(), Some("Alpha"), "a known name is kept");
    assert_eq!(a.last_ts, 3_000, "the newest activity is kept");
    assert!(db.recent_history_chats("L", 1).await?.len() == 1);

    let all = db.history_messages("L", "a", None, 100).await?;
    let ids: Vec<&str> = all.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids, ["a0", "a1m", "a2"], "oldest first, a2 once");
    assert!(all[1].from_me);
    assert_eq!(all[2].payload, b"a2");
    let newest_two = db.history_messages("L", "a", None, 2).await?;
    let ids: Vec<&str> = newest_two.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids, ["a1m", "a2"], "the limit keeps the newest");
    let after = db.history_messages("L", "a", Some(1_000), 100).await?;
    assert_eq!(after.len(), 1, "only messages after the mark");

    db.set_history_bridged("L", "a", 1_000).await?;
    db.set_history_bridged("L", "a", 500).await?;
    assert_eq!(
        db.history_chat("L", "a").await?.and_then(|c| c.bridged_ts),
        Some(1_000),
        "the mark never moves back"
    );
    assert!(db.history_chat("OTHER", "a").await?.is_none(), "per login");

    // Pruning forgets the bridged history (a0, a1m: at or before the
    // mark), keeps the rest, and transaction ids after their retention.
    db.mark_transaction_processed("t1").await?;
    let now = wabridge::store::now_ms();
    let pruned = db.prune(now).await?;
    assert_eq!((pruned.transactions, pruned.history), (0, 2), "{pruned:?}");
    let left = db.history_messages("L", "a", None, 100).await?;
    let ids: Vec<&str> = left.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids, ["a2"], "what is not bridged yet stays");
    assert_eq!(db.history_messages("L", "b", None, 100).await?.len(), 1);
    assert!(db.transaction_processed("t1").await?);
    let week_on = now + wabridge::store::TRANSACTIONS_KEPT_MS + 1;
    assert_eq!(db.prune(week_on).await?.transactions, 1);
    assert!(!db.transaction_processed("t1").await?);

    db.delete_login("L").await?;
    assert_eq!(
        db.history_counts("L").await?,
        (0, 0, 0),
        "logout empties it"
    );
    Ok(())
}

#[tokio::test]
async fn history_tables_sqlite() -> Result<()> {
    let dir = TempDir::new()?;
    history_tables(&Database::connect(&dir.sqlite_uri()).await?).await
}

#[tokio::test]
async fn history_tables_postgres() -> Result<()> {
    let Some(pg) = PgDb::create().await? else {
        return Ok(());
    };
    let db = Database::connect(&pg.uri).await?;
    history_tables(&db).await?;
    db.close().await;
    pg.drop_db().await
}
