//! Acting as a real Matrix user through a double-puppet registration, on a
//! real Synapse: the intents the bridge uses to mirror WhatsApp's archive,
//! pin, mute and read state, and to send the user's own messages with
//! their original time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use serde_json::json;
use support::matrix::enc;
use support::synapse::{self, Synapse};
use wabridge::appservice::MatrixClient;
use wabridge::config::Registration;

#[tokio::test]
async fn puppet_intent_tags_mutes_reads_and_sends_with_ts() {
    let dir = std::env::temp_dir().join(format!("wabridge-dp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let registration = Registration::double_puppet(synapse::SERVER_NAME);
    let reg_path = dir.join("doublepuppet.yaml");
    std::fs::write(&reg_path, registration.to_yaml().unwrap()).unwrap();
    let Some(hs) = Synapse::start_or_skip(std::slice::from_ref(&reg_path)).await else {
        return;
    };
    let _ = std::fs::remove_dir_all(&dir);

    let alice = hs.register_user("alice", "alice-password", false).await;
    let room = alice
        .create_room(&json!({"preset": "private_chat", "name": "chat"}))
        .await;
    let room = ruma::OwnedRoomId::try_from(room).unwrap();
    let alice_id = ruma::OwnedUserId::try_from(alice.user_id.as_str()).unwrap();
    let client = MatrixClient::new(
        hs.base_url(),
        registration.as_token.expose(),
        hs.server_name(),
    )
    .unwrap();
    let puppet = client.puppet_intent(&alice_id);
    assert_eq!(puppet.whoami().await.unwrap(), alice.user_id);
    assert_eq!(
        client.upload_limit().await,
        Some(600 << 20),
        "the homeserver's upload limit (max_upload_size 600M in the test config)"
    );

    // Pin <-> m.favourite, archive <-> m.lowpriority.
    puppet.set_room_tag(&room, "m.favourite").await.unwrap();
    puppet.set_room_tag(&room, "m.lowpriority").await.unwrap();
    let tags_path = format!(
        "/_matrix/client/v3/user/{}/rooms/{}/tags",
        enc(&alice.user_id),
        enc(room.as_str())
    );
    let tags = alice.get(&tags_path).await;
    assert!(tags["tags"]["m.favourite"].is_object(), "{tags}");
    assert!(tags["tags"]["m.lowpriority"].is_object(), "{tags}");
    puppet
        .remove_room_tag(&room, "m.lowpriority")
        .await
        .unwrap();
    puppet
        .remove_room_tag(&room, "m.lowpriority")
        .await
        .expect("removing a missing tag is fine");
    assert_eq!(
        puppet.room_tags(&room).await.unwrap(),
        vec!["m.favourite".to_owned()]
    );

    // Mute <-> a room push rule without actions.
    puppet.mute_room(&room).await.unwrap();
    let rule_path = format!(
        "/_matrix/client/v3/pushrules/global/room/{}",
        enc(room.as_str())
    );
    let rule = alice.get(&rule_path).await;
    assert_eq!(rule["actions"], json!([]), "{rule}");
    assert_eq!(rule["rule_id"], room.as_str());
    puppet.unmute_room(&room).await.unwrap();
    let (status, _) = alice
        .try_request(reqwest::Method::GET, &rule_path, None)
        .await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND, "rule removed");
    puppet
        .unmute_room(&room)
        .await
        .expect("unmuting twice is fine");

    // The user's own message from the phone, with its original time.
    let ts = 1_600_000_000_000u64;
    let event = puppet
        .send_message_event(
            &room,
            "m.room.message",
            &json!({"msgtype": "m.text", "body": "from my phone"}),
            "dp-txn-1",
            Some(ts),
        )
        .await
        .unwrap();
    let (_, ev) = alice
        .sync_until(Duration::from_secs(30), |r, e| {
            r == room && e["event_id"] == event.as_str()
        })
        .await;
    assert_eq!(ev["sender"], alice.user_id.as_str());
    assert_eq!(ev["origin_server_ts"], ts, "ts is honoured for puppets");

    // Read <-> the fully-read marker and read receipt.
    puppet.mark_read(&room, &event).await.unwrap();
    let marker = alice
        .get(&format!(
            "/_matrix/client/v3/user/{}/rooms/{}/account_data/m.fully_read",
            enc(&alice.user_id),
            enc(room.as_str())
        ))
        .await;
    assert_eq!(marker["event_id"], event.as_str());
}
