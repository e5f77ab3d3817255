//! A scripted phone hands a new companion its history: the app-state keys,
//! an inline bootstrap chunk, RECENT chunks and push names as encrypted
//! blobs on the media host, all of which decode to the script.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use wa_core::history::{self, HistoryError};
use wa_core::media::{self, MediaError, MediaKind};
use wa_core::proto::history_sync::HistorySyncType;
use wa_core::proto::message::HistorySyncNotification;
use wa_core::proto::message::protocol_message::Type;
use wa_core::proto::{Conversation, HistorySync};
use wa_sim::{HistoryFault, HistoryScript, ScriptChat, ScriptMessage, Sender, Sim};

use support::peer::Companion;
use support::start_sim;

/// Downloads, checks and decrypts a notification's blob.
async fn download(sim: &Sim, n: &HistorySyncNotification) -> Result<Vec<u8>, MediaError> {
    let (status, blob) = support::https::get(sim, n.direct_path.as_deref().unwrap()).await;
    assert_eq!(status, 200);
    media::decrypt(
        MediaKind::History,
        n.media_key.as_deref().unwrap(),
        &blob,
        n.file_enc_sha256.as_deref(),
        n.file_sha256.as_deref(),
    )
}

async fn chunk(sim: &Sim, n: &HistorySyncNotification) -> HistorySync {
    let compressed = match &n.initial_hist_bootstrap_inline_payload {
        Some(inline) => inline.clone(),
        None => download(sim, n).await.unwrap(),
    };
    history::decode_blob(&compressed).unwrap()
}

/// Everything the companion gets, in order, each acknowledged with
/// `hist_sync`: the key share's key count, then the notifications.
async fn receive_all(c: &mut Companion, chunks: usize) -> (usize, Vec<HistorySyncNotification>) {
    let (_, share) = c.next_protocol().await;
    assert_eq!(share.r#type, Some(Type::AppStateSyncKeyShare as i32));
    let keys = share.app_state_sync_key_share.unwrap().keys;
    for k in &keys {
        assert_eq!(k.key_id.as_ref().unwrap().key_id.as_ref().unwrap().len(), 6);
        assert_eq!(
            k.key_data
                .as_ref()
                .unwrap()
                .key_data
                .as_ref()
                .unwrap()
                .len(),
            32
        );
    }
    let mut notifications = Vec::new();
    for _ in 0..chunks {
        let (node, p) = c.next_protocol().await;
        assert_eq!(p.r#type, Some(Type::HistorySyncNotification as i32));
        c.receipt(&node, "hist_sync").await;
        notifications.push(p.history_sync_notification.unwrap());
    }
    (keys.len(), notifications)
}

fn script(group: &wa_core::jid::Jid) -> HistoryScript {
    HistoryScript::new()
        .bootstrap_chats(1)
        .chats_per_chunk(1)
        .chat(
            ScriptChat::direct("15558880002")
                .name("Bob Builder")
                .message(ScriptMessage::new(
                    "B1",
                    Sender::Pn("15558880002".into()),
                    "hi",
                    1_700_000_000,
                ))
                .message(ScriptMessage::new(
                    "B2",
                    Sender::Me,
                    "hello bob",
                    1_700_000_060,
                ))
                .unread(1)
                .pinned()
                .muted_until(1_900_000_000_000),
        )
        .chat(
            ScriptChat::group(group)
                .name("Team")
                .message(ScriptMessage::new(
                    "G1",
                    Sender::Pn("15558880003".into()),
                    "standup?",
                    1_700_000_100,
                ))
                .message(ScriptMessage::new("G2", Sender::Me, "in 5", 1_700_000_200)),
        )
        .chat(
            ScriptChat::direct("15558880003")
                .name("Carol")
                .message(ScriptMessage::new(
                    "C1",
                    Sender::Pn("15558880003".into()),
                    "old news",
                    1_600_000_000,
                ))
                .archived(),
        )
        .push_name("15558880002", "bobby")
        .push_name("15558880003", "caz")
}

fn by_id(conversations: &[Conversation]) -> BTreeMap<String, &Conversation> {
    conversations
        .iter()
        .map(|c| (c.id.clone().unwrap(), c))
        .collect()
}

#[tokio::test]
async fn a_new_companion_gets_keys_and_the_scripted_history() {
    let sim = start_sim().await;
    let pn = "15558880001";
    let phone = sim.account(pn);
    sim.account("15558880002");
    sim.account("15558880003");
    let group = sim
        .create_group(pn, "Team", &["15558880002".into(), "15558880003".into()])
        .unwrap();
    phone.set_history(script(&group));
    let mut c = Companion::link(&sim, &phone, true).await;

    // Bootstrap (the newest chat: the group), two RECENT, one PUSH_NAME.
    let (keys, notes) = receive_all(&mut c, 4).await;
    assert_eq!(keys, 1);
    let kinds: Vec<(i32, u32)> = notes
        .iter()
        .map(|n| (n.sync_type.unwrap(), n.chunk_order.unwrap()))
        .collect();
    use wa_core::proto::message::HistorySyncType as T;
    assert_eq!(
        kinds,
        vec![
            (T::InitialBootstrap as i32, 0),
            (T::Recent as i32, 1),
            (T::Recent as i32, 2),
            (T::PushName as i32, 0)
        ]
    );
    assert!(notes[0].initial_hist_bootstrap_inline_payload.is_some());
    assert!(notes[0].direct_path.is_none());
    assert!(notes[1..].iter().all(|n| n.direct_path.is_some()));

    let mut chunks = Vec::new();
    for n in &notes {
        chunks.push(chunk(&sim, n).await);
    }
    assert_eq!(
        chunks[0].sync_type,
        Some(HistorySyncType::InitialBootstrap as i32)
    );
    assert_eq!(
        by_id(&chunks[0].conversations).keys().collect::<Vec<_>>(),
        vec![&group.to_string()]
    );
    assert_eq!(chunks[1].chunk_order, Some(1));
    let all: Vec<Conversation> = chunks[..3]
        .iter()
        .flat_map(|c| c.conversations.clone())
        .collect();
    let all = by_id(&all);
    assert_eq!(all.len(), 3);

    let bob = all["15558880002@s.whatsapp.net"];
    assert_eq!(bob.name.as_deref(), Some("Bob Builder"));
    assert_eq!(bob.unread_count, Some(1));
    assert!(bob.pinned.unwrap() > 0);
    assert_eq!(bob.mute_end_time, Some(1_900_000_000));
    assert_eq!(bob.archived, Some(false));
    assert_eq!(bob.conversation_timestamp, Some(1_700_000_060));
    // Newest first.
    let texts: Vec<(String, bool, String, u64)> = bob
        .messages
        .iter()
        .map(|m| {
            let w = m.message.as_ref().unwrap();
            let key = w.key.as_ref().unwrap();
            (
                key.id.clone().unwrap(),
                key.from_me.unwrap(),
                w.message.as_ref().unwrap().conversation.clone().unwrap(),
                w.message_timestamp.unwrap(),
            )
        })
        .collect();
    assert_eq!(
        texts,
        vec![
            ("B2".into(), true, "hello bob".into(), 1_700_000_060),
            ("B1".into(), false, "hi".into(), 1_700_000_000),
        ]
    );
    assert!(all["15558880003@s.whatsapp.net"].archived.unwrap());
    let team = all[&group.to_string()];
    assert_eq!(team.name.as_deref(), Some("Team"));
    let g1 = team.messages.iter().find(|m| {
        m.message
            .as_ref()
            .unwrap()
            .key
            .as_ref()
            .unwrap()
            .id
            .as_deref()
            == Some("G1")
    });
    let key = g1.unwrap().message.as_ref().unwrap().key.clone().unwrap();
    assert_eq!(
        key.participant.as_deref(),
        Some("15558880003@s.whatsapp.net")
    );
    assert_eq!(key.remote_jid, Some(group.to_string()));

    let names = &chunks[3];
    assert_eq!(names.sync_type, Some(HistorySyncType::PushName as i32));
    let names: Vec<(String, String)> = names
        .pushnames
        .iter()
        .map(|p| (p.id.clone().unwrap(), p.pushname.clone().unwrap()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("15558880002@s.whatsapp.net".into(), "bobby".into()),
            ("15558880003@s.whatsapp.net".into(), "caz".into())
        ]
    );

    // The phone saw every hist_sync receipt, for the ids it sent.
    let receipts = phone.wait_history_receipts(4, Duration::from_secs(5)).await;
    let sent: Vec<String> = phone.history_sent().into_iter().map(|s| s.id).collect();
    assert_eq!(
        receipts.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        sent
    );
    assert!(receipts.iter().all(|r| r.device == 1));
}

#[tokio::test]
async fn a_big_history_comes_in_several_chunks() {
    let sim = start_sim().await;
    let pn = "15558880011";
    let phone = sim.account(pn);
    let script = HistoryScript::synthetic(200, 50, 15_559_000_000, 1_650_000_000)
        .bootstrap_chats(5)
        .chats_per_chunk(40);
    phone.set_history(script.clone());
    let mut c = Companion::link(&sim, &phone, true).await;
    // 5 inline, 195 in 5 RECENT chunks, push names.
    let (_, notes) = receive_all(&mut c, 7).await;
    let mut messages = 0;
    let mut chats = 0;
    for n in &notes[..6] {
        let sync = chunk(&sim, n).await;
        chats += sync.conversations.len();
        messages += sync
            .conversations
            .iter()
            .map(|c| c.messages.len())
            .sum::<usize>();
    }
    assert_eq!((chats, messages), (200, 200 * 50));
    let progress: Vec<u32> = notes[..6].iter().map(|n| n.progress.unwrap()).collect();
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "{progress:?}");
    assert_eq!(progress[5], 100);
    assert_eq!(chunk(&sim, &notes[6]).await.pushnames.len(), 200);
}

#[tokio::test]
async fn spoiled_history_blobs_fail_their_checks() {
    let sim = start_sim().await;
    let pn = "15558880021";
    let phone = sim.account(pn);
    phone.set_history(
        HistoryScript::synthetic(3, 2, 15_559_100_000, 1_650_000_000)
            .bootstrap_chats(1)
            .chats_per_chunk(1),
    );
    phone.corrupt_next_history_blob(HistoryFault::Truncated);
    let mut c = Companion::link(&sim, &phone, true).await;
    let (_, notes) = receive_all(&mut c, 4).await;
    // The first blob decrypts, but does not inflate; the next is fine.
    let compressed = download(&sim, &notes[1]).await.unwrap();
    assert!(matches!(
        history::decode_blob(&compressed),
        Err(HistoryError::Inflate(_))
    ));
    chunk(&sim, &notes[2]).await;

    phone.corrupt_next_history_blob(HistoryFault::WrongFileHash);
    let mut c2 = Companion::link(&sim, &phone, true).await;
    let (_, notes) = receive_all(&mut c2, 4).await;
    assert_eq!(
        download(&sim, &notes[1]).await,
        Err(MediaError::HashMismatch)
    );
    chunk(&sim, &notes[2]).await;
}

#[tokio::test]
async fn without_a_script_the_phone_sends_nothing() {
    let sim = start_sim().await;
    let phone = sim.account("15558880031");
    let mut c = Companion::link(&sim, &phone, true).await;
    let quiet = tokio::time::timeout(Duration::from_millis(300), c.next_protocol()).await;
    assert!(quiet.is_err());
    assert!(phone.history_sent().is_empty());
}
