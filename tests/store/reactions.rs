//! `reactions`: one per reactor per message, replaced, found by event, gone
//! with their portal.

use anyhow::Result;
use wabridge::store::{Database, Login, Message, Portal, PortalKind, Reaction, StoreError};

use super::{PgDb, TempDir};
use ruma::{event_id, owned_event_id, owned_room_id, owned_user_id, user_id};

/// Reactions: one per reactor per message, replaced by a new one, found by
/// their event, gone with their portal; messages found by id alone.
async fn reaction_table(db: &Database) -> Result<()> {
    db.ensure_user(user_id!("@alice:example.org")).await?;
    db.save_login(&Login {
        login_id: "L1".to_owned(),
        mxid: owned_user_id!("@alice:example.org"),
        phone: None,
        jid: None,
        created_at: 1,
    })
    .await?;
    let chat = "15550002222@s.whatsapp.net";
    db.save_portal(&Portal {
        login_id: "L1".to_owned(),
        chat_id: chat.to_owned(),
        room_id: owned_room_id!("!dm:x"),
        kind: PortalKind::Dm,
        name: "Bob".to_owned(),
        topic: None,
        created_at: 2,
    })
    .await?;
    db.save_message(&Message {
        login_id: "L1".to_owned(),
        chat_id: chat.to_owned(),
        sender_id: chat.to_owned(),
        message_id: "3EB0M".to_owned(),
        room_id: owned_room_id!("!dm:x"),
        event_id: owned_event_id!("$m"),
        sent_at: 3,
    })
    .await?;
    let found = db.message_by_id("L1", chat, "3EB0M").await?;
    assert_eq!(found.map(|m| m.event_id), Some(owned_event_id!("$m")));
    assert_eq!(db.message_by_id("L1", chat, "nope").await?, None);
    assert_eq!(db.message_by_id("L1", "other@g.us", "3EB0M").await?, None);

    let thumbs = Reaction {
        login_id: "L1".to_owned(),
        chat_id: chat.to_owned(),
        target_sender_id: chat.to_owned(),
        target_message_id: "3EB0M".to_owned(),
        reactor_id: "15550001111@s.whatsapp.net".to_owned(),
        emoji: "👍".to_owned(),
        room_id: owned_room_id!("!dm:x"),
        event_id: owned_event_id!("$r1"),
        sent_at: 4,
    };
    db.save_reaction(&thumbs).await?;
    let key = ("L1", chat, chat, "3EB0M", "15550001111@s.whatsapp.net");
    assert_eq!(
        db.reaction(key.0, key.1, key.2, key.3, key.4).await?,
        Some(thumbs.clone())
    );
    assert_eq!(
        db.reaction_by_event(event_id!("$r1")).await?,
        Some(thumbs.clone())
    );
    // A new emoji from the same reactor replaces the old one.
    let heart = Reaction {
        emoji: "❤️".to_owned(),
        event_id: owned_event_id!("$r2"),
        sent_at: 5,
        ..thumbs.clone()
    };
    db.save_reaction(&heart).await?;
    assert_eq!(
        db.reaction(key.0, key.1, key.2, key.3, key.4).await?,
        Some(heart.clone())
    );
    assert_eq!(db.reaction_by_event(event_id!("$r1")).await?, None);
    // Another reactor's reaction is its own row, and cannot reuse an event.
    let other = Reaction {
        reactor_id: chat.to_owned(),
        event_id: owned_event_id!("$r3"),
        ..thumbs.clone()
    };
    db.save_reaction(&other).await?;
    assert!(matches!(
        db.save_reaction(&Reaction {
            reactor_id: "third".to_owned(),
            event_id: owned_event_id!("$r3"),
            ..thumbs.clone()
        })
        .await,
        Err(StoreError::Duplicate { table: "reactions" })
    ));
    assert!(matches!(
        db.save_reaction(&Reaction {
            chat_id: "nowhere@g.us".to_owned(),
            event_id: owned_event_id!("$r4"),
            ..thumbs.clone()
        })
        .await,
        Err(StoreError::MissingReference { table: "reactions" })
    ));
    assert!(db.delete_reaction(event_id!("$r2")).await?);
    assert!(!db.delete_reaction(event_id!("$r2")).await?);
    assert_eq!(db.reaction(key.0, key.1, key.2, key.3, key.4).await?, None);
    assert_eq!(db.reaction_by_event(event_id!("$r3")).await?, Some(other));
    db.delete_login("L1").await?;
    assert_eq!(
        db.reaction_by_event(event_id!("$r3")).await?,
        None,
        "gone with the portal"
    );
    Ok(())
}

#[tokio::test]
async fn reaction_table_sqlite() -> Result<()> {
    let dir = TempDir::new()?;
    let db = Database::connect(&dir.sqlite_uri()).await?;
    reaction_table(&db).await
}

#[tokio::test]
async fn reaction_table_postgres() -> Result<()> {
    let Some(pg) = PgDb::create().await? else {
        return Ok(());
    };
    let db = Database::connect(&pg.uri).await?;
    reaction_table(&db).await?;
    db.close().await;
    pg.drop_db().await
}
