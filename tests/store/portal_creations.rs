//! `portal_creations`: a creation on record until its portal is saved, its
//! marker kept across attempts, and gone with its login.

use anyhow::Result;
use wabridge::store::{Database, Login, Portal, PortalKind};

use super::{PgDb, TempDir};
use ruma::{owned_room_id, user_id};

async fn portal_creations(db: &Database) -> Result<()> {
    let user = db.ensure_user(user_id!("@carol:example.org")).await?;
    let login = Login {
        login_id: "PC1".to_owned(),
        mxid: user.mxid.clone(),
        phone: None,
        jid: None,
        created_at: 1_000,
    };
    db.save_login(&login).await?;
    let chat = "15550003333@s.whatsapp.net";

    // The first attempt records its marker; a later one (a restart) gets
    // that marker back and learns an earlier run got this far.
    let (marker, resumed) = db.start_portal_creation("PC1", chat, "m-1").await?;
    assert_eq!((marker.as_str(), resumed), ("m-1", false));
    let (marker, resumed) = db.start_portal_creation("PC1", chat, "m-2").await?;
    assert_eq!((marker.as_str(), resumed), ("m-1", true));
    // Another chat's creation is its own.
    let other = "15550004444@s.whatsapp.net";
    let (marker, resumed) = db.start_portal_creation("PC1", other, "m-3").await?;
    assert_eq!((marker.as_str(), resumed), ("m-3", false));

    // Saving the portal ends its creation, and only its own.
    let portal = Portal {
        login_id: "PC1".to_owned(),
        chat_id: chat.to_owned(),
        room_id: owned_room_id!("!made:x"),
        kind: PortalKind::Dm,
        name: "Dee".to_owned(),
        topic: None,
        created_at: 5_000,
    };
    db.save_portal(&portal).await?;
    let (marker, resumed) = db.start_portal_creation("PC1", chat, "m-4").await?;
    assert_eq!(
        (marker.as_str(), resumed),
        ("m-4", false),
        "a chat made again (its portal deleted) gets a new marker"
    );
    let (marker, resumed) = db.start_portal_creation("PC1", other, "m-5").await?;
    assert_eq!((marker.as_str(), resumed), ("m-3", true));

    // A creation for a login that does not exist is refused; a deleted
    // login's creations go with it.
    assert!(db.start_portal_creation("nope", chat, "m-6").await.is_err());
    assert!(db.delete_login("PC1").await?);
    db.save_login(&login).await?;
    let (marker, resumed) = db.start_portal_creation("PC1", other, "m-7").await?;
    assert_eq!((marker.as_str(), resumed), ("m-7", false));
    Ok(())
}

#[tokio::test]
async fn portal_creations_sqlite() -> Result<()> {
    let dir = TempDir::new()?;
    let db = Database::connect(&dir.sqlite_uri()).await?;
    portal_creations(&db).await
}

#[tokio::test]
async fn portal_creations_postgres() -> Result<()> {
    let Some(pg) = PgDb::create().await? else {
        return Ok(());
    };
    let db = Database::connect(&pg.uri).await?;
    portal_creations(&db).await?;
    db.close().await;
    pg.drop_db().await
}
