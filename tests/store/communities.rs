//! `community_spaces` and `community_children`: a login's space per
//! community, which portals each holds, a portal moved between spaces or
//! out, and both gone with the login.

use anyhow::Result;
use wabridge::store::{Database, Login, Portal, PortalKind, Space};

use super::{PgDb, TempDir};
use ruma::{owned_room_id, user_id};

async fn communities(db: &Database) -> Result<()> {
    let erin = db.ensure_user(user_id!("@erin:example.org")).await?;
    let fay = db.ensure_user(user_id!("@fay:example.org")).await?;
    let login = |id: &str| Login {
        login_id: id.to_owned(),
        mxid: if id == "CS1" {
            erin.mxid.clone()
        } else {
            fay.mxid.clone()
        },
        phone: None,
        jid: None,
        created_at: 1_000,
    };
    db.save_login(&login("CS1")).await?;
    db.save_login(&login("CS2")).await?;
    let group = "120363000000000001@g.us";
    let portal = Portal {
        login_id: "CS1".to_owned(),
        chat_id: group.to_owned(),
        room_id: owned_room_id!("!garden:x"),
        kind: PortalKind::Group,
        name: "Garden".to_owned(),
        topic: None,
        created_at: 5_000,
    };
    db.save_portal(&portal).await?;
    let neighbours = Space {
        community_id: "120363000000000009@g.us".to_owned(),
        room_id: owned_room_id!("!neighbours:x"),
        name: "Neighbours".to_owned(),
    };

    // Saving a space ends its creation record, as a portal's save does.
    let (_, resumed) = db
        .start_portal_creation("CS1", &neighbours.community_id, "m-1")
        .await?;
    assert!(!resumed);
    db.save_community_space("CS1", &neighbours).await?;
    let (marker, resumed) = db
        .start_portal_creation("CS1", &neighbours.community_id, "m-2")
        .await?;
    assert_eq!((marker.as_str(), resumed), ("m-2", false));

    // The space is the login's only.
    let id = &neighbours.community_id;
    assert_eq!(
        db.community_space("CS1", id).await?,
        Some(neighbours.clone())
    );
    assert_eq!(db.community_space("CS2", id).await?, None);
    assert_eq!(db.community_spaces("CS1").await?, vec![neighbours.clone()]);
    assert!(db.community_spaces("CS2").await?.is_empty());

    // A portal in it, then renamed, then out of it.
    assert_eq!(db.community_of("CS1", group).await?, None);
    db.set_community_of("CS1", group, Some(id)).await?;
    assert_eq!(
        db.community_of("CS1", group).await?,
        Some(neighbours.clone())
    );
    db.set_community_name("CS1", id, "Street").await?;
    let renamed = db.community_of("CS1", group).await?;
    assert_eq!(renamed.map(|s| s.name).as_deref(), Some("Street"));
    db.set_community_of("CS1", group, None).await?;
    assert_eq!(db.community_of("CS1", group).await?, None);

    // Moved to another community's space.
    let other = Space {
        community_id: "120363000000000008@g.us".to_owned(),
        room_id: owned_room_id!("!other:x"),
        name: "Other".to_owned(),
    };
    db.save_community_space("CS1", &other).await?;
    db.set_community_of("CS1", group, Some(id)).await?;
    db.set_community_of("CS1", group, Some(&other.community_id))
        .await?;
    assert_eq!(db.community_of("CS1", group).await?, Some(other.clone()));

    // A child of a space that is not there, or of a portal that is not
    // there, is refused.
    let none = "120363000000000007@g.us";
    assert!(db.set_community_of("CS1", group, Some(none)).await.is_err());
    assert!(db.set_community_of("CS2", group, Some(id)).await.is_err());

    // Gone with the login.
    assert!(db.delete_login("CS1").await?);
    db.save_login(&login("CS1")).await?;
    assert!(db.community_spaces("CS1").await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn communities_sqlite() -> Result<()> {
    let dir = TempDir::new()?;
    let db = Database::connect(&dir.sqlite_uri()).await?;
    communities(&db).await
}

#[tokio::test]
async fn communities_postgres() -> Result<()> {
    let Some(pg) = PgDb::create().await? else {
        return Ok(());
    };
    let db = Database::connect(&pg.uri).await?;
    communities(&db).await?;
    db.close().await;
    pg.drop_db().await
}
