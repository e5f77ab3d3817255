//! Chat settings and stars: merged field by field, gone at logout.

use anyhow::{Context as _, Result};
use wabridge::store::{ChatSettings, Database};

use super::{PgDb, TempDir};
use ruma::event_id;

/// Chat settings merge field by field; stars come and go; logout empties
/// both.
async fn chat_settings_tables(db: &Database) -> Result<()> {
    assert_eq!(db.chat_settings("L", "a").await?, None);
    db.update_chat_settings(
        "L",
        "a",
        ChatSettings {
            archived: Some(true),
            mute_until: Some(-1),
            ..ChatSettings::default()
        },
    )
    .await?;
    db.update_chat_settings(
        "L",
        "a",
        ChatSettings {
            archived: Some(false),
            pinned: Some(true),
            read: Some(false),
            ..ChatSettings::default()
        },
    )
    .await?;
    let got = db.chat_settings("L", "a").await?.context("row")?;
    assert_eq!(
        got,
        ChatSettings {
            archived: Some(false),
            pinned: Some(true),
            mute_until: Some(-1),
            read: Some(false),
        },
        "only the fields an update has are replaced"
    );
    assert_eq!(got.muted_at(5), Some(true));
    assert_eq!(db.chat_settings("other-login", "a").await?, None);

    assert_eq!(db.star("L", "a", "M1").await?, None);
    db.save_star("L", "a", "M1", event_id!("$star1")).await?;
    db.save_star("L", "a", "M1", event_id!("$star2")).await?;
    assert_eq!(
        db.star("L", "a", "M1").await?.as_deref(),
        Some(event_id!("$star2"))
    );
    assert!(db.delete_star("L", "a", "M1").await?);
    assert!(!db.delete_star("L", "a", "M1").await?);
    db.save_star("L", "a", "M2", event_id!("$star3")).await?;

    db.delete_login("L").await?;
    assert_eq!(db.chat_settings("L", "a").await?, None, "logout empties it");
    assert_eq!(db.star("L", "a", "M2").await?, None, "logout empties it");
    Ok(())
}

#[tokio::test]
async fn chat_settings_tables_sqlite() -> Result<()> {
    let dir = TempDir::new()?;
    chat_settings_tables(&Database::connect(&dir.sqlite_uri()).await?).await
}

#[tokio::test]
async fn chat_settings_tables_postgres() -> Result<()> {
    let Some(pg) = PgDb::create().await? else {
        return Ok(());
    };
    let db = Database::connect(&pg.uri).await?;
    chat_settings_tables(&db).await?;
    db.close().await;
    pg.drop_db().await
}
