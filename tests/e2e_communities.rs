//! Communities as spaces (issue 20, point 8), with Baileys (rc14, from
//! npm) as the other party, a real Synapse, wa-sim and the bridge. Bob
//! makes a community with Baileys' own calls (`communityCreate`,
//! `communityCreateGroup` with Alice in it): Alice gets a space named after
//! it holding the group's room and the announcement group's. A group Bob
//! links into the community joins the space, and leaves it when he unlinks
//! it; the community renamed renames the space; Alice removed from a group
//! takes its room out of the space, and added back puts it in again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::baileys::baileys_dir;
use support::login::start_logged_in;
use support::matrix::{MatrixUser, body};
use support::peer::Peer;

const WAIT: Duration = Duration::from_secs(40);
const ALICE_PN: &str = "15557850001";
const BOB_PN: &str = "15557850002";

/// Accepts Alice's invites until she is in a room bridged to each of
/// `chats` and in a space; returns the rooms in `chats`' order, then the
/// space.
async fn rooms_for(alice: &MatrixUser, bridge_key: &str, chats: &[&str]) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut found: Vec<Option<String>> = vec![None; chats.len() + 1];
    while found.iter().any(Option::is_none) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "rooms for {chats:?} and a space: {found:?}"
        );
        for room in alice.invites().await {
            alice.accept_invite(&room).await;
        }
        for room in alice.joined_rooms().await {
            let create = alice.get_state(&room, "m.room.create", "").await;
            if create.is_some_and(|c| c["type"] == "m.space") {
                found[chats.len()] = Some(room);
                continue;
            }
            let info = alice.get_state(&room, "m.bridge", bridge_key).await;
            let channel = info.map(|i| i["channel"]["id"].clone());
            if let Some(i) = chats.iter().position(|c| channel == Some(json!(c))) {
                found[i] = Some(room);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    found.into_iter().flatten().collect()
}

/// Waits until `room` is (or is no longer) a child of `space`, and its
/// parent link says the same.
async fn child_of(alice: &MatrixUser, space: &str, room: &str, linked: bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let child = alice.get_state(space, "m.space.child", room).await;
        let parent = alice.get_state(room, "m.space.parent", space).await;
        let has_via = |c: &Option<Value>| {
            c.as_ref()
                .and_then(|c| c["via"].as_array())
                .is_some_and(|v| !v.is_empty())
        };
        if has_via(&child) == linked && has_via(&parent) == linked {
            if linked {
                assert_eq!(parent.unwrap()["canonical"], true);
            }
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{room} in {space} should be {linked}: {child:?} {parent:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_community_is_a_space_of_its_groups() {
    if support::synapse::venv().is_none() {
        return;
    }
    let Some(baileys) = baileys_dir() else {
        return;
    };
    let sim = support::bridge::start_sim().await;
    let alice_phone = sim.account(ALICE_PN);
    alice_phone.set_history(wa_sim::HistoryScript::new());
    let bob_phone = sim.account(BOB_PN);
    let logged_in = start_logged_in(
        &sim,
        &alice_phone,
        ALICE_PN,
        "wabridge-communities",
        false,
        WAIT,
    )
    .await;
    let alice = &logged_in.alice;
    let bridge_key = format!("{}/whatsapp", logged_in.synapse.server_name());
    let mut peer = Peer::start(&baileys, &sim);
    peer.link(&bob_phone).await;
    let alice_jid = format!("{ALICE_PN}@s.whatsapp.net");

    // Bob makes a community and a group in it with Alice: she is in the
    // community, its announcement group and the group.
    let made = peer
        .group(
            "",
            "community-create",
            json!({"subject": "Neighbours", "description": "Our street"}),
        )
        .await;
    let community = made["id"].as_str().expect("the community's id").to_owned();
    let made = peer
        .group(
            &community,
            "community-create-group",
            json!({"subject": "Garden", "participants": [alice_jid]}),
        )
        .await;
    let garden = made["id"].as_str().expect("the group's id").to_owned();
    let community_jid = community.parse().unwrap();
    let announcements = sim
        .sub_groups(&community_jid)
        .into_iter()
        .map(|g| g.to_string())
        .find(|g| *g != garden)
        .expect("the announcement group");

    // Alice's space, named after the community, holds both rooms: the
    // group's as she joins it, the announcement group's with the space.
    let rooms = rooms_for(alice, &bridge_key, &[&garden, &announcements]).await;
    let (garden_room, announcements_room, space) = (&rooms[0], &rooms[1], &rooms[2]);
    let name = alice.get_state(space, "m.room.name", "").await;
    assert_eq!(name.unwrap()["name"], "Neighbours");
    child_of(alice, space, garden_room, true).await;
    child_of(alice, space, announcements_room, true).await;
    assert_eq!(
        alice.joined_members(space).await.len(),
        2,
        "only Alice and the bot"
    );

    // A group of Bob's with Alice, linked into the community, then out.
    let books = sim
        .create_group(BOB_PN, "Books", &[ALICE_PN.to_owned()])
        .unwrap()
        .to_string();
    peer.send_group_text(&books, "about books").await;
    let books_room = &rooms_for(alice, &bridge_key, &[&books]).await[0];
    alice
        .sync_until(WAIT, |r, e| r == books_room && body(e) == "about books")
        .await;
    peer.group(&community, "community-link", json!({"child": books}))
        .await;
    child_of(alice, space, books_room, true).await;
    peer.group(&community, "community-unlink", json!({"child": books}))
        .await;
    child_of(alice, space, books_room, false).await;

    // The community renamed: so is the space.
    peer.group(&community, "subject", json!({"subject": "Our street"}))
        .await;
    alice
        .sync_until(WAIT, |r, e| {
            r == space && e["type"] == "m.room.name" && e["content"]["name"] == "Our street"
        })
        .await;

    // Alice removed from the group: its room leaves the space.
    let removed = peer
        .group(&garden, "remove", json!({"participants": [alice_jid]}))
        .await;
    assert_eq!(removed[0]["status"], "200", "{removed}");
    child_of(alice, space, garden_room, false).await;
    child_of(alice, space, announcements_room, true).await;

    // Added back: the room is hers again, and in the space again.
    let added = peer
        .group(&garden, "add", json!({"participants": [alice_jid]}))
        .await;
    assert_eq!(added[0]["status"], "200", "{added}");
    let deadline = tokio::time::Instant::now() + WAIT;
    while !alice.invites().await.contains(garden_room) {
        assert!(tokio::time::Instant::now() < deadline, "invited back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    alice.accept_invite(garden_room).await;
    child_of(alice, space, garden_room, true).await;
}
