//! One person, one key (issue 20, point 5): rows a login keeps under a
//! contact's LID, written by the store API as every version so far writes
//! them, are moved to the contact's phone number; another login's rows
//! stay; a chat under both keys keeps the number's and drops the LID's.

use anyhow::{Context as _, Result};
use ruma::{owned_event_id, owned_room_id};
use wabridge::store::{Database, DirectChat, Ghost, Login, Message, Portal, PortalKind, Reaction};

use super::{PgDb, TempDir};

const LID: &str = "100000000000042@lid";
const PN: &str = "15550004242@s.whatsapp.net";
const GROUP: &str = "120363000000000042@g.us";

async fn login(db: &Database, id: &str, mxid: &str) -> Result<()> {
    let mxid: ruma::OwnedUserId = mxid.try_into()?;
    db.ensure_user(&mxid).await?;
    db.save_login(&Login {
        login_id: id.to_owned(),
        mxid,
        phone: None,
        jid: None,
        created_at: 1,
    })
    .await?;
    Ok(())
}

async fn portal(db: &Database, login: &str, chat: &str, room: &str) -> Result<()> {
    db.save_portal(&Portal {
        login_id: login.to_owned(),
        chat_id: chat.to_owned(),
        room_id: room.try_into()?,
        kind: match chat.ends_with("@g.us") {
            true => PortalKind::Group,
            false => PortalKind::Dm,
        },
        name: "Carol".to_owned(),
        topic: None,
        created_at: 2,
    })
    .await?;
    Ok(())
}

async fn message(db: &Database, login: &str, (chat, sender): (&str, &str), id: &str) -> Result<()> {
    let room = db
        .portal(login, chat)
        .await?
        .map(|p| p.room_id)
        .context("portal")?;
    db.save_message(&Message {
        login_id: login.to_owned(),
        chat_id: chat.to_owned(),
        sender_id: sender.to_owned(),
        message_id: id.to_owned(),
        room_id: room,
        event_id: format!("${login}{id}{}", &chat[..3]).try_into()?,
        sent_at: 3,
    })
    .await?;
    Ok(())
}

async fn merge_table(db: &Database) -> Result<()> {
    login(db, "L1", "@alice:example.org").await?;
    login(db, "L2", "@bob:example.org").await?;
    for l in ["L1", "L2"] {
        portal(db, l, LID, &format!("!lid{l}:x")).await?;
        portal(db, l, GROUP, &format!("!group{l}:x")).await?;
        message(db, l, (LID, LID), "M1").await?;
        message(db, l, (GROUP, LID), "M2").await?;
        db.set_contact_name(l, LID, Some("Caz")).await?;
    }
    db.save_reaction(&Reaction {
        login_id: "L1".to_owned(),
        chat_id: GROUP.to_owned(),
        target_sender_id: LID.to_owned(),
        target_message_id: "M2".to_owned(),
        reactor_id: LID.to_owned(),
        emoji: "👍".to_owned(),
        room_id: owned_room_id!("!groupL1:x"),
        event_id: owned_event_id!("$r"),
        sent_at: 4,
    })
    .await?;
    db.save_ghost(&Ghost {
        network_id: LID.to_owned(),
        localpart: "whatsapp_lid-100000000000042".to_owned(),
        display_name: Some("Carol".to_owned()),
        avatar_url: None,
        name_set: true,
        contact_name: None,
    })
    .await?;
    // Listed for L1 once it knows her number (and for L2 by its chat).
    db.client_store("L1")
        .store_lid_mapping("15550004242", "100000000000042")
        .await?;
    assert_eq!(db.lid_keyed("L1").await?, vec![LID.to_owned()]);

    let moved = db.merge_person("L1", LID, PN).await?;
    assert_eq!(
        moved,
        DirectChat::Moved {
            room_id: "!lidL1:x".to_owned()
        }
    );
    assert_eq!(db.portal("L1", LID).await?, None);
    let dm = db
        .portal("L1", PN)
        .await?
        .context("the chat under the number")?;
    assert_eq!(
        (dm.room_id, dm.kind, dm.name),
        (
            owned_room_id!("!lidL1:x"),
            PortalKind::Dm,
            "Carol".to_owned()
        )
    );
    let m1 = db
        .message_by_id("L1", PN, "M1")
        .await?
        .context("M1 moved")?;
    assert_eq!((m1.chat_id.as_str(), m1.sender_id.as_str()), (PN, PN));
    assert!(
        db.message_by_network_id("L1", GROUP, PN, "M2")
            .await?
            .is_some()
    );
    assert!(
        db.message_by_network_id("L1", GROUP, LID, "M2")
            .await?
            .is_none()
    );
    let r = db
        .reaction("L1", GROUP, PN, "M2", PN)
        .await?
        .context("reaction moved")?;
    assert_eq!(r.emoji, "👍");
    assert_eq!(db.contact_name("L1", PN).await?.as_deref(), Some("Caz"));
    assert_eq!(db.contact_name("L1", LID).await?, None);

    // The other login's rows are its own business.
    assert!(db.portal("L2", LID).await?.is_some());
    assert!(
        db.message_by_network_id("L2", GROUP, LID, "M2")
            .await?
            .is_some()
    );
    assert_eq!(db.contact_name("L2", LID).await?.as_deref(), Some("Caz"));

    // Again: nothing more to move. The ghost is listed until the login is
    // done with it (its rooms too), then no more.
    assert_eq!(db.merge_person("L1", LID, PN).await?, DirectChat::None);
    assert_eq!(db.lid_keyed("L1").await?, vec![LID.to_owned()]);
    db.merged_person("L1", LID, PN).await?;
    db.merged_person("L1", LID, PN).await?;
    assert_eq!(db.lid_keyed("L1").await?, Vec::<String>::new());
    assert_eq!(db.lid_keyed("L2").await?, vec![LID.to_owned()]);

    // A chat under both keys (made before the pairing was known): the
    // number's stays, the LID's goes with its messages.
    portal(db, "L2", PN, "!pnL2:x").await?;
    message(db, "L2", (PN, PN), "M1").await?;
    let retired = db.merge_person("L2", LID, PN).await?;
    assert_eq!(
        retired,
        DirectChat::Retired {
            old_room: "!lidL2:x".to_owned(),
            room_id: "!pnL2:x".to_owned()
        }
    );
    assert_eq!(db.portal("L2", LID).await?, None);
    assert_eq!(
        db.portal("L2", PN).await?.map(|p| p.room_id),
        Some(owned_room_id!("!pnL2:x"))
    );
    assert_eq!(db.message_by_id("L2", LID, "M1").await?, None);
    let kept = db
        .message_by_id("L2", PN, "M1")
        .await?
        .context("the number's M1")?;
    assert_eq!(kept.event_id, owned_event_id!("$L2M1155"));
    assert!(
        db.message_by_network_id("L2", GROUP, PN, "M2")
            .await?
            .is_some()
    );

    assert!(db.delete_login("L1").await?);
    assert!(db.portal("L2", PN).await?.is_some());
    Ok(())
}

#[tokio::test]
async fn a_person_moves_from_lid_to_number_sqlite() -> Result<()> {
    let dir = TempDir::new()?;
    let db = Database::connect(&dir.sqlite_uri()).await?;
    merge_table(&db).await?;
    db.close().await;
    Ok(())
}

#[tokio::test]
async fn a_person_moves_from_lid_to_number_postgres() -> Result<()> {
    let Some(pg) = PgDb::create().await? else {
        return Ok(());
    };
    let db = Database::connect(&pg.uri).await?;
    merge_table(&db).await?;
    db.close().await;
    pg.drop_db().await
}
