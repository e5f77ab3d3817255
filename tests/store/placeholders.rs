//! `placeholders`: one per message, marked lost, replaced, dropped, pruned
//! after the seen messages' 30 days, and gone with the login.

use anyhow::Result;
use wabridge::store::{Database, Login, Placeholder, SEEN_KEPT_SECONDS};

use super::{PgDb, TempDir};
use ruma::{owned_event_id, owned_room_id, user_id};

async fn placeholders(db: &Database) -> Result<()> {
    let user = db.ensure_user(user_id!("@gil:example.org")).await?;
    let login = Login {
        login_id: "PH1".to_owned(),
        mxid: user.mxid.clone(),
        phone: None,
        jid: None,
        created_at: 1_000,
    };
    db.save_login(&login).await?;
    let chat = "15550007777@s.whatsapp.net";
    let key = ("PH1", chat, chat, "3EB0AAAA");
    let other = ("PH1", chat, chat, "3EB0BBBB");
    assert_eq!(db.placeholder(key).await?, None);

    let waiting = Placeholder {
        room_id: owned_room_id!("!chat:x"),
        event_id: owned_event_id!("$waiting:x"),
        failed: false,
    };
    let now_s = wabridge::store::now_ms() / 1000;
    db.save_placeholder(key, &waiting, now_s).await?;
    assert_eq!(db.placeholder(key).await?, Some(waiting.clone()));
    assert_eq!(db.placeholder(other).await?, None, "its own message's only");
    let lost = Placeholder {
        failed: true,
        ..waiting.clone()
    };
    db.save_placeholder(key, &lost, now_s).await?;
    assert_eq!(db.placeholder(key).await?, Some(lost));
    db.drop_placeholder(key).await?;
    assert_eq!(db.placeholder(key).await?, None);

    // Kept as long as the seen messages, then pruned.
    let old = now_s - i64::try_from(SEEN_KEPT_SECONDS)? - 10;
    db.save_placeholder(key, &waiting, old).await?;
    db.save_placeholder(other, &waiting, now_s).await?;
    db.prune(now_s * 1000).await?;
    assert_eq!(db.placeholder(key).await?, None, "past its time");
    assert!(db.placeholder(other).await?.is_some(), "within it");

    // Gone with the login.
    assert!(db.delete_login("PH1").await?);
    db.save_login(&login).await?;
    assert_eq!(db.placeholder(other).await?, None);
    Ok(())
}

#[tokio::test]
async fn placeholders_sqlite() -> Result<()> {
    let dir = TempDir::new()?;
    let db = Database::connect(&dir.sqlite_uri()).await?;
    placeholders(&db).await
}

#[tokio::test]
async fn placeholders_postgres() -> Result<()> {
    let Some(pg) = PgDb::create().await? else {
        return Ok(());
    };
    let db = Database::connect(&pg.uri).await?;
    placeholders(&db).await?;
    db.close().await;
    pg.drop_db().await
}
