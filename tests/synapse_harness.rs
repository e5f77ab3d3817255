//! The Synapse test harness itself (tests/support/synapse.rs and
//! tests/support/matrix.rs): a real homeserver with an appservice
//! registration loaded, two users, a DM, a message through /sync.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::matrix::MatrixUser;
use support::synapse::Synapse;

#[tokio::test]
async fn synapse_dm_round_trip() {
    let began = Instant::now();
    let dir = std::env::temp_dir().join(format!("wabridge-harness-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let reg = dir.join("registration.yaml");
    // An appservice whose URL nobody listens on: Synapse must still load it.
    std::fs::write(
        &reg,
        "id: harness\n\
         url: http://127.0.0.1:9\n\
         as_token: harness-as-token\n\
         hs_token: harness-hs-token\n\
         sender_localpart: harnessbot\n\
         rate_limited: false\n\
         namespaces:\n  users:\n    - exclusive: true\n      regex: '@harness_.*:synapse\\.test'\n  aliases: []\n  rooms: []\n",
    )
    .unwrap();

    let Some(hs) = Synapse::start_or_skip(std::slice::from_ref(&reg)).await else {
        return;
    };
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(hs.server_name(), "synapse.test");

    // The registration is loaded: its as_token authenticates as its bot.
    let bot = MatrixUser::new(
        hs.base_url(),
        "@harnessbot:synapse.test",
        "harness-as-token",
    );
    let who = bot.get("/_matrix/client/v3/account/whoami").await;
    assert_eq!(who["user_id"], "@harnessbot:synapse.test");

    let alice = hs.register_user("alice", "alice-password", true).await;
    let bob = hs.register_user("bob", "bob-password", false).await;
    assert_eq!(alice.user_id, hs.user_id("alice"));
    assert_eq!(bob.user_id, "@bob:synapse.test");

    let room = alice.create_dm(&bob.user_id).await;
    let sent = alice.send_text(&room, "hello bob").await;

    let invited = bob.wait_for_invite(Duration::from_secs(30)).await;
    assert_eq!(invited, room);
    bob.accept_invite(&room).await;
    assert_eq!(bob.joined_rooms().await, vec![room.clone()]);

    let (got_room, ev) = bob
        .sync_until(Duration::from_secs(30), |_, ev| {
            ev["type"] == "m.room.message" && ev["content"]["body"] == "hello bob"
        })
        .await;
    assert_eq!(got_room, room);
    assert_eq!(ev["event_id"], sent.as_str());
    assert_eq!(ev["sender"], alice.user_id.as_str());

    // And back, through the queue of events already synced.
    let reply = bob.send_text(&room, "hi alice").await;
    let (_, ev) = alice
        .sync_until(Duration::from_secs(30), |r, ev| {
            r == room && ev["event_id"] == reply.as_str()
        })
        .await;
    assert_eq!(ev["content"]["body"], "hi alice");

    let history = alice.room_messages(&room).await;
    let bodies: Vec<_> = history
        .iter()
        .filter(|e| e["type"] == "m.room.message")
        .map(|e| e["content"]["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["hello bob", "hi alice"]);
    let mut members = alice.joined_members(&room).await;
    members.sort();
    assert_eq!(members, [alice.user_id.clone(), bob.user_id.clone()]);

    let create = alice.get_state(&room, "m.room.create", "").await.unwrap();
    assert!(create["room_version"].is_string(), "{create}");
    assert!(alice.get_state(&room, "m.room.topic", "").await.is_none());

    // Media, through the authenticated download API.
    let mxc = alice
        .upload_media("text/plain", b"some bytes".to_vec())
        .await;
    assert_eq!(bob.download_media(&mxc).await, b"some bytes");

    // Account data: the DM is recorded as m.direct by clients, not by us.
    assert!(bob.account_data("m.direct").await.is_none());
    alice
        .put(
            &format!(
                "/_matrix/client/v3/user/{}/account_data/m.direct",
                support::matrix::enc(&alice.user_id)
            ),
            &json!({ bob.user_id.clone(): [room.clone()] }),
        )
        .await;
    assert_eq!(
        alice.account_data("m.direct").await.unwrap()[&bob.user_id][0],
        room.as_str()
    );

    eprintln!(
        "synapse harness: startup {:.2?}, whole test {:.2?}",
        hs.startup_time(),
        began.elapsed()
    );
}
