//! `polls`: a poll's secret and options kept, replaced, missing for other
//! chats, and gone with its portal.

use anyhow::Result;
use wabridge::store::{Database, Login, MatrixPoll, Poll, Portal, PortalKind};

use super::{PgDb, TempDir};
use ruma::{owned_room_id, user_id};

async fn polls(db: &Database) -> Result<()> {
    let user = db.ensure_user(user_id!("@dora:example.org")).await?;
    let login = Login {
        login_id: "PL1".to_owned(),
        mxid: user.mxid.clone(),
        phone: None,
        jid: None,
        created_at: 1_000,
    };
    db.save_login(&login).await?;
    let chat = "15550005555@s.whatsapp.net";
    let mut poll = Poll {
        login_id: "PL1".to_owned(),
        chat_id: chat.to_owned(),
        sender_id: chat.to_owned(),
        poll_id: "3EB0P".to_owned(),
        secret: vec![0, 255, 7, 0],
        options: vec![
            "Tuesday".to_owned(),
            "Friday,\nlate".to_owned(),
            String::new(),
        ],
        selectable: 2,
        matrix: None,
    };
    assert!(db.save_poll(&poll).await.is_err(), "its portal must exist");
    db.save_portal(&Portal {
        login_id: "PL1".to_owned(),
        chat_id: chat.to_owned(),
        room_id: owned_room_id!("!poll:x"),
        kind: PortalKind::Dm,
        name: "Dee".to_owned(),
        topic: None,
        created_at: 5_000,
    })
    .await?;
    db.save_poll(&poll).await?;
    assert_eq!(db.poll("PL1", chat, "3EB0P").await?, Some(poll.clone()));
    assert_eq!(db.poll("PL1", "other@s.whatsapp.net", "3EB0P").await?, None);
    poll.options.push("Never".to_owned());
    db.save_poll(&poll).await?;
    assert_eq!(db.poll("PL1", chat, "3EB0P").await?, Some(poll.clone()));
    // A poll started in Matrix keeps its answer ids, whatever they hold.
    let mut matrix_poll = poll.clone();
    matrix_poll.poll_id = "3EB0M".to_owned();
    matrix_poll.matrix = Some(MatrixPoll {
        answer_ids: vec![
            "a\"1".to_owned(),
            "b\n2".to_owned(),
            "ü".to_owned(),
            "4".to_owned(),
        ],
        response_type: "org.matrix.msc3381.poll.response".to_owned(),
    });
    db.save_poll(&matrix_poll).await?;
    assert_eq!(db.poll("PL1", chat, "3EB0M").await?, Some(matrix_poll));
    assert_eq!(db.poll("PL1", chat, "3EB0P").await?, Some(poll.clone()));
    assert!(db.delete_portal("PL1", chat).await?);
    assert_eq!(
        db.poll("PL1", chat, "3EB0P").await?,
        None,
        "gone with its portal"
    );
    Ok(())
}

#[tokio::test]
async fn polls_sqlite() -> Result<()> {
    let dir = TempDir::new()?;
    let db = Database::connect(&dir.sqlite_uri()).await?;
    polls(&db).await
}

#[tokio::test]
async fn polls_postgres() -> Result<()> {
    let Some(pg) = PgDb::create().await? else {
        return Ok(());
    };
    let db = Database::connect(&pg.uri).await?;
    polls(&db).await?;
    db.close().await;
    pg.drop_db().await
}
