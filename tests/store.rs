//! The store on both backends: wa-client's conformance suite, the bridge
//! tables, isolation between logins, reopening, and corrupt rows.
//!
//! PostgreSQL tests use the cluster at `WABRIDGE_TEST_POSTGRES_URL` (from
//! `scripts/postgres start`; `scripts/test` sets it), each in a database of
//! its own. Without the variable they skip with a notice, unless
//! `WABRIDGE_REQUIRE_POSTGRES=1`, when they fail.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use ruma::{event_id, owned_event_id, owned_room_id, owned_user_id, room_id, user_id};
use sqlx::Connection as _;
use wa_client::DeviceState;
use wabridge::store::{Database, Ghost, Login, Message, Portal, PortalKind, StoreError};

#[path = "store/chat_settings.rs"]
mod chat_settings;
#[path = "store/communities.rs"]
mod communities;
#[path = "store/history.rs"]
mod history;
#[path = "store/people.rs"]
mod people;
#[path = "store/placeholders.rs"]
mod placeholders;
#[path = "store/polls.rs"]
mod polls;
#[path = "store/portal_creations.rs"]
mod portal_creations;
#[path = "store/reactions.rs"]
mod reactions;

/// A unique name for this process's `n`th temporary thing.
fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A temporary folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let path = std::env::temp_dir().join(unique("wabridge-store-test"));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }

    fn sqlite_uri(&self) -> String {
        format!("sqlite:{}", self.0.join("bridge.db").display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A database of its own on the test cluster, dropped by [`PgDb::drop_db`].
struct PgDb {
    admin: String,
    name: String,
    uri: String,
}

impl PgDb {
    /// `None` (after a notice) when no cluster is configured and none is
    /// required.
    async fn create() -> Result<Option<PgDb>> {
        let Ok(admin) = std::env::var("WABRIDGE_TEST_POSTGRES_URL") else {
            if std::env::var("WABRIDGE_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                bail!("WABRIDGE_REQUIRE_POSTGRES=1 but WABRIDGE_TEST_POSTGRES_URL is not set");
            }
            eprintln!(
                "notice: WABRIDGE_TEST_POSTGRES_URL not set, skipping a PostgreSQL test \
                 (scripts/postgres start prints one)"
            );
            return Ok(None);
        };
        let name = unique("wabridge_test");
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .context("connecting to WABRIDGE_TEST_POSTGRES_URL")?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        // Same server and user, another database: replace the URL's path.
        let (base, query) = admin.split_once('?').unwrap_or((&admin, ""));
        let scheme_end = base.find("://").map_or(0, |i| i + 3);
        let host_end = base[scheme_end..]
            .find('/')
            .map_or(base.len(), |i| scheme_end + i);
        let mut uri = format!("{}/{name}", &base[..host_end]);
        if !query.is_empty() {
            uri = format!("{uri}?{query}");
        }
        Ok(Some(PgDb { admin, name, uri }))
    }

    async fn drop_db(self) -> Result<()> {
        let mut conn = sqlx::PgConnection::connect(&self.admin).await?;
        sqlx::query(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .execute(&mut conn)
            .await?;
        Ok(())
    }
}

/// Runs `f` on a fresh SQLite file and reports how long it took.
async fn conformance_on(db: &Database, what: &str) -> Result<()> {
    let store = db.client_store("conformance");
    let started = Instant::now();
    wa_client::store::conformance(&*store).await?;
    println!(
        "conformance suite on {what}: {} ms",
        started.elapsed().as_millis()
    );
    Ok(())
}

#[tokio::test]
async fn conformance_sqlite_file() -> Result<()> {
    let dir = TempDir::new()?;
    let db = Database::connect(&dir.sqlite_uri()).await?;
    conformance_on(&db, "sqlite (file, WAL)").await?;
    db.close().await;
    Ok(())
}

#[tokio::test]
async fn conformance_sqlite_memory() -> Result<()> {
    let db = Database::connect("sqlite::memory:").await?;
    conformance_on(&db, "sqlite (memory)").await
}

#[tokio::test]
async fn conformance_postgres() -> Result<()> {
    let Some(pg) = PgDb::create().await? else {
        return Ok(());
    };
    let db = Database::connect(&pg.uri).await?;
    conformance_on(&db, "postgres").await?;
    db.close().await;
    pg.drop_db().await
}

/// Users, logins, portals, ghosts, messages and transactions round-trip.
async fn bridge_tables(db: &Database) -> Result<()> {
    let alice = db.ensure_user(user_id!("@alice:example.org")).await?;
    assert_eq!(alice.mxid, user_id!("@alice:example.org"));
    assert_eq!(alice.management_room, None);
    assert!(alice.created_at > 0);
    assert!(
        db.set_management_room(&alice.mxid, Some(room_id!("!mgmt:x")))
            .await?
    );
    assert!(
        !db.set_management_room(user_id!("@nobody:x"), Some(room_id!("!m2:x")))
            .await?
    );
    let again = db.ensure_user(&alice.mxid).await?;
    assert_eq!(again.management_room.as_deref(), Some(room_id!("!mgmt:x")));
    assert_eq!(again.created_at, alice.created_at, "ensure keeps the row");
    assert_eq!(db.user(user_id!("@bob:example.org")).await?, None);

    let mut login = Login {
        login_id: "L1".to_owned(),
        mxid: alice.mxid.clone(),
        phone: None,
        jid: None,
        created_at: 1_000,
    };
    db.save_login(&login).await?;
    login.phone = Some("15550001111".to_owned());
    login.jid = Some("15550001111:7@s.whatsapp.net".to_owned());
    login.created_at = 2_000;
    db.save_login(&login).await?;
    let stored = db.login("L1").await?.context("login saved")?;
    assert_eq!(stored.phone, login.phone);
    assert_eq!(stored.jid, login.jid);
    assert_eq!(stored.created_at, 1_000, "created_at kept on update");
    assert_eq!(db.login_of_user(&alice.mxid).await?, Some(stored.clone()));
    let second = Login {
        login_id: "L2".to_owned(),
        ..login.clone()
    };
    assert!(matches!(
        db.save_login(&second).await,
        Err(StoreError::Duplicate { table: "logins" })
    ));
    let orphan = Login {
        login_id: "L3".to_owned(),
        mxid: owned_user_id!("@ghost:x"),
        ..login.clone()
    };
    assert!(matches!(
        db.save_login(&orphan).await,
        Err(StoreError::MissingReference { table: "logins" })
    ));
    db.ensure_user(user_id!("@bob:example.org")).await?;
    db.save_login(&Login {
        login_id: "L0".to_owned(),
        mxid: owned_user_id!("@bob:example.org"),
        phone: None,
        jid: None,
        created_at: 500,
    })
    .await?;
    let all: Vec<String> = db.logins().await?.into_iter().map(|l| l.login_id).collect();
    assert_eq!(all, ["L0", "L1"], "every login, oldest first");

    let mut portal = Portal {
        login_id: "L1".to_owned(),
        chat_id: "120363@g.us".to_owned(),
        room_id: owned_room_id!("!group:x"),
        kind: PortalKind::Group,
        name: "Group".to_owned(),
        topic: Some("about".to_owned()),
        created_at: 3_000,
    };
    db.save_portal(&portal).await?;
    portal.name = "Renamed".to_owned();
    portal.topic = None;
    db.save_portal(&portal).await?;
    assert_eq!(db.portal("L1", "120363@g.us").await?, Some(portal.clone()));
    assert_eq!(
        db.portal_by_room(room_id!("!group:x")).await?,
        Some(portal.clone())
    );
    assert_eq!(db.portal("L0", "120363@g.us").await?, None, "per login");
    // Name and topic alone, the rest of the row untouched.
    db.set_portal_name("L1", "120363@g.us", "Renamed again")
        .await?;
    db.set_portal_topic("L1", "120363@g.us", Some("now about this"))
        .await?;
    let changed = db.portal("L1", "120363@g.us").await?.context("kept")?;
    assert_eq!(
        (changed.name.as_str(), changed.topic.as_deref()),
        ("Renamed again", Some("now about this"))
    );
    assert_eq!(changed.room_id, portal.room_id);
    db.set_portal_topic("L1", "120363@g.us", None).await?;
    portal = db.portal("L1", "120363@g.us").await?.context("kept")?;
    assert_eq!(portal.topic, None);
    let dm = Portal {
        chat_id: "15550002222@s.whatsapp.net".to_owned(),
        room_id: owned_room_id!("!dm:x"),
        kind: PortalKind::Dm,
        name: "Bob".to_owned(),
        topic: None,
        created_at: 4_000,
        ..portal.clone()
    };
    db.save_portal(&dm).await?;
    let stolen_room = Portal {
        chat_id: "other@g.us".to_owned(),
        ..portal.clone()
    };
    assert!(matches!(
        db.save_portal(&stolen_room).await,
        Err(StoreError::Duplicate { table: "portals" })
    ));
    assert_eq!(
        db.portals_of_login("L1").await?,
        [portal.clone(), dm.clone()]
    );

    let mut ghost = Ghost {
        network_id: "15550002222@s.whatsapp.net".to_owned(),
        localpart: "whatsapp_15550002222".to_owned(),
        display_name: None,
        avatar_url: None,
        name_set: false,
        contact_name: None,
    };
    db.save_ghost(&ghost).await?;
    ghost.display_name = Some("Bob".to_owned());
    ghost.contact_name = Some("Bob Builder".to_owned());
    ghost.avatar_url = Some("mxc://x/abc".into());
    ghost.name_set = true;
    db.save_ghost(&ghost).await?;
    assert_eq!(db.ghost(&ghost.network_id).await?, Some(ghost.clone()));
    assert_eq!(
        db.ghost_by_localpart("whatsapp_15550002222").await?,
        Some(ghost.clone())
    );
    assert_eq!(db.ghost("nobody").await?, None);

    let message = Message {
        login_id: "L1".to_owned(),
        chat_id: dm.chat_id.clone(),
        sender_id: dm.chat_id.clone(),
        message_id: "3EB0ABC".to_owned(),
        room_id: dm.room_id.clone(),
        event_id: owned_event_id!("$event1"),
        sent_at: 1_700_000_000_123,
    };
    db.save_message(&message).await?;
    assert_eq!(
        db.message_by_network_id("L1", &dm.chat_id, &dm.chat_id, "3EB0ABC")
            .await?,
        Some(message.clone())
    );
    assert_eq!(
        db.message_by_event(event_id!("$event1")).await?,
        Some(message.clone())
    );
    assert_eq!(
        db.newest_message_ts("L1", &dm.chat_id).await?,
        Some(1_700_000_000_123)
    );
    assert_eq!(db.newest_message_ts("L1", "no-such-chat").await?, None);
    assert_eq!(
        db.newest_message("L1", &dm.chat_id).await?,
        Some(message.clone())
    );
    assert_eq!(db.newest_message("L1", "no-such-chat").await?, None);
    assert_eq!(
        db.messages_between("L1", &dm.chat_id, "me", 0, i64::MAX, 10)
            .await?,
        std::slice::from_ref(&message)
    );
    assert!(
        db.messages_between("L1", &dm.chat_id, &dm.chat_id, 0, i64::MAX, 10)
            .await?
            .is_empty(),
        "not from that sender"
    );
    assert!(
        db.messages_between("L1", &dm.chat_id, "me", 1_700_000_000_123, i64::MAX, 10)
            .await?
            .is_empty(),
        "only after `after`"
    );
    assert_eq!(
        db.message_by_network_id("L1", &dm.chat_id, "someone-else", "3EB0ABC")
            .await?,
        None,
        "keyed by sender too"
    );
    assert!(matches!(
        db.save_message(&Message {
            event_id: owned_event_id!("$event2"),
            ..message.clone()
        })
        .await,
        Err(StoreError::Duplicate { table: "messages" })
    ));
    assert!(matches!(
        db.save_message(&Message {
            message_id: "OTHER".to_owned(),
            ..message.clone()
        })
        .await,
        Err(StoreError::Duplicate { table: "messages" })
    ));
    assert!(matches!(
        db.save_message(&Message {
            chat_id: "no-portal@g.us".to_owned(),
            event_id: owned_event_id!("$event3"),
            ..message.clone()
        })
        .await,
        Err(StoreError::MissingReference { table: "messages" })
    ));

    assert!(!db.transaction_processed("txn1").await?);
    db.mark_transaction_processed("txn1").await?;
    db.mark_transaction_processed("txn1").await?;
    assert!(db.transaction_processed("txn1").await?);
    assert!(!db.transaction_processed("txn2").await?);
    assert_eq!(db.prune_transactions(0).await?, 0);
    assert_eq!(db.prune_transactions(i64::MAX).await?, 1);
    assert!(!db.transaction_processed("txn1").await?);

    // Events on their way to WhatsApp: kept once, in order, until done.
    db.queue_outbound(room_id!("!dm:x"), event_id!("$out1"), "{}")
        .await?;
    db.queue_outbound(room_id!("!dm:x"), event_id!("$out2"), "{\"n\":2}")
        .await?;
    db.queue_outbound(room_id!("!dm:x"), event_id!("$out1"), "{\"replayed\":true}")
        .await?;
    assert!(db.outbound_pending(event_id!("$out1")).await?);
    assert!(!db.outbound_pending(event_id!("$nothing")).await?);
    assert_eq!(
        db.pending_outbound().await?,
        vec![
            (owned_room_id!("!dm:x"), "{}".to_owned()),
            (owned_room_id!("!dm:x"), "{\"n\":2}".to_owned())
        ]
    );
    db.outbound_done(event_id!("$out1")).await?;
    assert!(!db.outbound_pending(event_id!("$out1")).await?);
    db.outbound_done(event_id!("$out2")).await?;

    // A room is one user's management room: taking it takes it from the
    // user who had it.
    db.ensure_user(user_id!("@bob:example.org")).await?;
    assert!(
        db.set_management_room(user_id!("@bob:example.org"), Some(room_id!("!mgmt:x")))
            .await?
    );
    let alice_now = db.user(&alice.mxid).await?;
    assert_eq!(alice_now.and_then(|u| u.management_room), None);
    assert!(
        db.set_management_room(&alice.mxid, Some(room_id!("!mgmt:x")))
            .await?
    );

    // A user's names for contacts are theirs: per login, gone with it.
    db.set_contact_name("L1", "155@s.whatsapp.net", Some("Bob"))
        .await?;
    db.set_contact_name("L1", "155@s.whatsapp.net", Some("Bobby"))
        .await?;
    assert_eq!(
        db.contact_name("L1", "155@s.whatsapp.net")
            .await?
            .as_deref(),
        Some("Bobby")
    );
    assert_eq!(db.contact_name("L2", "155@s.whatsapp.net").await?, None);
    db.set_contact_name("L1", "166@s.whatsapp.net", Some("Carol"))
        .await?;
    db.set_contact_name("L1", "166@s.whatsapp.net", None)
        .await?;
    assert_eq!(db.contact_name("L1", "166@s.whatsapp.net").await?, None);

    // Seen ids and kept unacked messages (decrypted!) go after their
    // retention, over all logins.
    {
        let device = db.client_store("L1");
        let now_s = u64::try_from(wabridge::store::now_ms() / 1000)?;
        let old = now_s - wabridge::store::SEEN_KEPT_SECONDS - 10;
        device.keep_unacked("c", "", "old", b"plain", old).await?;
        device.keep_unacked("c", "", "new", b"plain", now_s).await?;
        assert!(device.mark_message_seen("c", "", "old", old).await?);
        let pruned = db.prune(wabridge::store::now_ms()).await?;
        assert_eq!(pruned.seen, 2, "{pruned:?}");
        assert!(device.unacked("c", "", "old").await?.is_none());
        assert!(device.unacked("c", "", "new").await?.is_some());
        assert!(
            device.mark_message_seen("c", "", "old", now_s).await?,
            "a forgotten id is new again"
        );
    }

    // Deleting a portal takes its messages; deleting a login takes the rest.
    assert!(db.delete_portal("L1", &dm.chat_id).await?);
    assert_eq!(db.message_by_event(event_id!("$event1")).await?, None);
    let device = db.client_store("L1");
    device.save(&DeviceState::new(&mut rand::rng())).await?;
    assert!(db.delete_login("L1").await?);
    assert!(!db.delete_login("L1").await?);
    assert_eq!(db.portal_by_room(room_id!("!group:x")).await?, None);
    assert!(device.load().await?.is_none(), "the device's keys go too");
    assert_eq!(db.login_of_user(&alice.mxid).await?, None);
    assert_eq!(
        db.contact_name("L1", "155@s.whatsapp.net").await?,
        None,
        "contact names go with their login"
    );
    Ok(())
}

#[tokio::test]
async fn bridge_tables_sqlite() -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new()?;
    let db = Database::connect(&dir.sqlite_uri()).await?;
    bridge_tables(&db).await?;
    // The file and its write-ahead log hold keys: the owner's only.
    for entry in std::fs::read_dir(&dir.0)? {
        let entry = entry?;
        let mode = entry.metadata()?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", entry.path().display());
    }
    Ok(())
}

#[tokio::test]
async fn bridge_tables_postgres() -> Result<()> {
    let Some(pg) = PgDb::create().await? else {
        return Ok(());
    };
    let db = Database::connect(&pg.uri).await?;
    bridge_tables(&db).await?;
    db.close().await;
    pg.drop_db().await
}

/// Two logins' client stores share tables but not rows.
async fn logins_are_isolated(db: &Database) -> Result<()> {
    let a = db.client_store("A");
    let b = db.client_store("B");
    a.save(&DeviceState::new(&mut rand::rng())).await?;
    a.store_sessions(&[("1.0".to_owned(), vec![1])]).await?;
    a.save_identities(&[("1.0".to_owned(), [1; 32])]).await?;
    a.store_prekeys(&wa_core::signal::generate_prekeys(1, 3, &mut rand::rng()))
        .await?;
    a.store_sender_key("g@g.us", "1.0", &[1]).await?;
    a.add_sender_key_holders("g@g.us", &["1@lid".to_owned()])
        .await?;
    a.store_lid_mapping("1555", "777").await?;
    assert!(a.store_privacy_token("1@lid", &[1], 10).await?);
    a.set_token_issued_at("1@lid", 10).await?;
    assert!(a.mark_message_seen("c", "s", "ID", 1).await?);

    assert!(b.load().await?.is_none());
    assert_eq!(b.load_sessions(&["1.0".to_owned()]).await?, [None]);
    assert_eq!(b.load_identity("1.0").await?, None);
    assert_eq!(b.prekey_count().await?, 0);
    assert_eq!(b.load_sender_key("g@g.us", "1.0").await?, None);
    assert!(b.sender_key_holders("g@g.us").await?.is_empty());
    assert_eq!(b.lid_for_pn("1555").await?, None);
    assert_eq!(b.privacy_token("1@lid").await?, None);
    assert_eq!(b.token_issued_at("1@lid").await?, None);
    assert!(
        b.store_privacy_token("1@lid", &[2], 5).await?,
        "A's newer token does not refuse B's"
    );
    assert_eq!(b.prune_privacy_tokens(u64::MAX).await?, 1, "B's only");
    assert!(
        b.mark_message_seen("c", "s", "ID", 1).await?,
        "B's own dedupe"
    );

    // B's writes and B's delete leave A alone.
    b.store_sessions(&[("1.0".to_owned(), vec![2])]).await?;
    b.save(&DeviceState::new(&mut rand::rng())).await?;
    b.delete().await?;
    assert!(a.load().await?.is_some());
    assert_eq!(a.load_sessions(&["1.0".to_owned()]).await?, [Some(vec![1])]);
    assert_eq!(a.prekey_count().await?, 3);
    assert_eq!(a.pn_for_lid("777").await?.as_deref(), Some("1555"));
    assert_eq!(
        a.privacy_token("1@lid")
            .await?
            .map(|t| (t.token, t.timestamp)),
        Some((vec![1], 10))
    );
    assert_eq!(a.token_issued_at("1@lid").await?, Some(10));
    a.delete().await?;
    assert_eq!(a.prekey_count().await?, 0);
    Ok(())
}

#[tokio::test]
async fn logins_are_isolated_sqlite() -> Result<()> {
    let dir = TempDir::new()?;
    logins_are_isolated(&Database::connect(&dir.sqlite_uri()).await?).await
}

#[tokio::test]
async fn logins_are_isolated_postgres() -> Result<()> {
    let Some(pg) = PgDb::create().await? else {
        return Ok(());
    };
    let db = Database::connect(&pg.uri).await?;
    logins_are_isolated(&db).await?;
    db.close().await;
    pg.drop_db().await
}

#[tokio::test]
async fn sqlite_file_keeps_data_across_reopen() -> Result<()> {
    let dir = TempDir::new()?;
    let uri = dir.sqlite_uri();
    let mut state = DeviceState::new(&mut rand::rng());
    state.jid = Some("15550001111:3@s.whatsapp.net".parse()?);
    {
        let db = Database::connect(&uri).await?;
        db.ensure_user(user_id!("@alice:x")).await?;
        db.client_store("L1").save(&state).await?;
        db.client_store("L1")
            .store_sessions(&[("1.0".to_owned(), vec![9, 9])])
            .await?;
        db.client_store("L1")
            .store_privacy_token("1@lid", &[7, 0, 7], 1_700_000_000)
            .await?;
        db.client_store("L1")
            .set_token_issued_at("2@lid", 1_700_000_100)
            .await?;
        db.mark_transaction_processed("t1").await?;
        db.close().await;
    }
    // Migrations already applied: a second connect applies nothing new.
    let db = Database::connect(&uri).await?;
    assert!(db.user(user_id!("@alice:x")).await?.is_some());
    assert!(db.transaction_processed("t1").await?);
    let store = db.client_store("L1");
    let loaded = store.load().await?.context("device kept")?;
    assert_eq!(loaded.jid, state.jid);
    assert_eq!(loaded.noise.private(), state.noise.private());
    assert_eq!(
        loaded.signed_prekey.signature(),
        state.signed_prekey.signature()
    );
    assert_eq!(
        store.load_sessions(&["1.0".to_owned()]).await?,
        [Some(vec![9, 9])]
    );
    let token = store.privacy_token("1@lid").await?.context("token kept")?;
    assert_eq!(
        (token.token, token.timestamp),
        (vec![7, 0, 7], 1_700_000_000)
    );
    assert_eq!(store.token_issued_at("2@lid").await?, Some(1_700_000_100));
    assert_eq!(store.token_issued_at("1@lid").await?, None);
    Ok(())
}

/// Damages stored rows behind the store's back (through `damage`, raw SQL
/// on the same database) and checks each read fails with a clear error.
async fn corrupt_rows<F, Fut>(db: &Database, damage: F) -> Result<()>
where
    F: Fn(&'static str) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let store = db.client_store("L1");
    store.save(&DeviceState::new(&mut rand::rng())).await?;
    store
        .save_identities(&[("1.0".to_owned(), [1; 32])])
        .await?;
    damage("UPDATE wa_devices SET noise_private = $1").await?;
    let err = store.load().await.err().context("a corrupt device loads")?;
    let text = err.to_string();
    assert!(
        matches!(err, wa_client::StoreError::Corrupt(_))
            && text.contains("wa_devices")
            && text.contains("noise_private")
            && text.contains("expected 32 bytes, found 3")
            && text.contains("login L1"),
        "{text}"
    );
    damage("UPDATE wa_identities SET identity_key = $1").await?;
    let err = store.load_identity("1.0").await.err();
    assert!(
        matches!(&err, Some(wa_client::StoreError::Corrupt(t)) if t.contains("identity_key")),
        "{err:?}"
    );

    // A Matrix id that is not one reads back as a corrupt row, not as a
    // string the bridge would send on.
    let alice = db.ensure_user(user_id!("@alice:x")).await?;
    db.save_login(&Login {
        login_id: "L1".to_owned(),
        mxid: alice.mxid,
        phone: None,
        jid: None,
        created_at: 1,
    })
    .await?;
    db.save_portal(&Portal {
        login_id: "L1".to_owned(),
        chat_id: "1@s.whatsapp.net".to_owned(),
        room_id: owned_room_id!("!dm:x"),
        kind: PortalKind::Dm,
        name: "Dm".to_owned(),
        topic: None,
        created_at: 1,
    })
    .await?;
    // `$1` is the three damage bytes; the room id becomes "no room 3".
    damage("UPDATE portals SET room_id = 'no room ' || length($1)").await?;
    let err = db.portal("L1", "1@s.whatsapp.net").await.err();
    let text = err.as_ref().map(ToString::to_string).unwrap_or_default();
    assert!(
        matches!(
            &err,
            Some(StoreError::Corrupt {
                table: "portals",
                ..
            })
        ) && text.contains("room_id")
            && text.contains("chat 1@s.whatsapp.net"),
        "{err:?}"
    );
    Ok(())
}

#[tokio::test]
async fn corrupt_row_sqlite() -> Result<()> {
    let dir = TempDir::new()?;
    let uri = dir.sqlite_uri();
    let db = Database::connect(&uri).await?;
    corrupt_rows(&db, |sql| {
        let uri = uri.clone();
        async move {
            let mut conn = sqlx::SqliteConnection::connect(&uri).await?;
            sqlx::query(sql)
                .bind(vec![1u8, 2, 3])
                .execute(&mut conn)
                .await?;
            Ok(())
        }
    })
    .await
}

#[tokio::test]
async fn corrupt_row_postgres() -> Result<()> {
    let Some(pg) = PgDb::create().await? else {
        return Ok(());
    };
    let db = Database::connect(&pg.uri).await?;
    corrupt_rows(&db, |sql| {
        let uri = pg.uri.clone();
        async move {
            let mut conn = sqlx::PgConnection::connect(&uri).await?;
            sqlx::query(sql)
                .bind(vec![1u8, 2, 3])
                .execute(&mut conn)
                .await?;
            Ok(())
        }
    })
    .await?;
    db.close().await;
    pg.drop_db().await
}
