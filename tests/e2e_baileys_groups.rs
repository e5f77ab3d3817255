//! Baileys (rc14, from npm) as the other party of a group (issue 20): a
//! real Synapse, wa-sim and the bridge; Bob's account is driven by Baileys
//! (scripts/baileys/peer.mjs, a companion of Bob's phone), Alice is on the
//! bridge. What Bob changes with Baileys' own group calls
//! (`groupUpdateSubject`, `groupUpdateDescription`,
//! `groupParticipantsUpdate`, `groupSettingUpdate`) shows in Alice's room;
//! what Alice changes in Matrix shows in Baileys' `groupMetadata`; a link
//! Baileys makes (`groupInviteCode`) resolves from Matrix, and Baileys joins
//! by the link Alice gets (`groupAcceptInvite`); a group picture Baileys
//! sets (`updateProfilePicture`) is the room's avatar, and the room's
//! avatar Alice sets is what Baileys fetches (`profilePictureUrl`). So
//! wa-sim answers
//! Baileys' stanzas for these as it answers ours.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use support::baileys::baileys_dir;
use support::login::start_logged_in;
use support::matrix::{MatrixUser, body, membership};
use support::peer::Peer;

const WAIT: Duration = Duration::from_secs(40);
const ALICE_PN: &str = "15557820001";
const BOB_PN: &str = "15557820002";
const CAROL_PN: &str = "15557820003";
const DAVE_PN: &str = "15557820004";

/// `pn`'s entry in Baileys' metadata of the group, if they are in it.
fn participant<'m>(metadata: &'m Value, pn: &str) -> Option<&'m Value> {
    let jid = format!("{pn}@s.whatsapp.net");
    metadata["participants"]
        .as_array()?
        .iter()
        .find(|p| p["id"] == jid.as_str() || p["phoneNumber"] == jid.as_str())
}

/// The next state event of `kind` in `room` for which `want` holds.
async fn state(alice: &MatrixUser, room: &str, kind: &str, want: impl Fn(&Value) -> bool) {
    alice
        .sync_until(WAIT, |r, e| {
            r == room && e["type"] == kind && want(&e["content"])
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_changes_between_baileys_and_matrix() {
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
    sim.account(CAROL_PN);
    sim.account(DAVE_PN);
    let logged_in = start_logged_in(
        &sim,
        &alice_phone,
        ALICE_PN,
        "wabridge-baileys-groups",
        false,
        WAIT,
    )
    .await;
    let alice = &logged_in.alice;
    let mut peer = Peer::start(&baileys, &sim);
    peer.link(&bob_phone).await;
    let ghost = |pn: &str| format!("@whatsapp_{pn}:{}", logged_in.synapse.server_name());
    let jid = |pn: &str| format!("{pn}@s.whatsapp.net");

    let gid = sim
        .create_group(
            BOB_PN,
            "Made by Bob",
            &[ALICE_PN.to_owned(), CAROL_PN.to_owned()],
        )
        .unwrap();
    let g = gid.to_string();
    peer.send_group_text(&g, "welcome").await;
    let room = alice.wait_for_invite(WAIT).await;
    alice.accept_invite(&room).await;
    alice
        .sync_until(WAIT, |r, e| r == room && body(e) == "welcome")
        .await;

    // Baileys -> Matrix.
    peer.group(&g, "subject", json!({"subject": "Renamed by Baileys"}))
        .await;
    state(alice, &room, "m.room.name", |c| {
        c["name"] == "Renamed by Baileys"
    })
    .await;
    peer.group(
        &g,
        "description",
        json!({"description": "Described by Baileys"}),
    )
    .await;
    state(alice, &room, "m.room.topic", |c| {
        c["topic"] == "Described by Baileys"
    })
    .await;
    let added = peer
        .group(&g, "add", json!({"participants": [jid(DAVE_PN)]}))
        .await;
    assert_eq!(added[0]["status"], "200", "{added}");
    let dave = ghost(DAVE_PN);
    alice
        .sync_until(WAIT, membership(&room, &dave, "join"))
        .await;
    peer.group(&g, "promote", json!({"participants": [jid(DAVE_PN)]}))
        .await;
    state(alice, &room, "m.room.power_levels", |c| {
        c["users"][dave.as_str()] == 50
    })
    .await;
    peer.group(&g, "setting", json!({"setting": "announcement"}))
        .await;
    state(alice, &room, "m.room.power_levels", |c| {
        c["events_default"] == 50
    })
    .await;
    peer.group(&g, "remove", json!({"participants": [jid(DAVE_PN)]}))
        .await;
    alice
        .sync_until(WAIT, membership(&room, &dave, "leave"))
        .await;

    // Matrix -> Baileys, once Bob has made Alice an admin.
    peer.group(&g, "promote", json!({"participants": [jid(ALICE_PN)]}))
        .await;
    alice
        .send_state(
            &room,
            "m.room.name",
            "",
            &json!({"name": "Renamed in Matrix"}),
        )
        .await;
    alice
        .send_state(
            &room,
            "m.room.topic",
            "",
            &json!({"topic": "Described in Matrix"}),
        )
        .await;
    let carol = ghost(CAROL_PN);
    let mut levels = alice
        .get_state(&room, "m.room.power_levels", "")
        .await
        .unwrap();
    levels["users"][carol.as_str()] = json!(50);
    alice
        .send_state(&room, "m.room.power_levels", "", &levels)
        .await;
    alice.invite(&room, &ghost(DAVE_PN)).await;
    let deadline = std::time::Instant::now() + WAIT;
    let metadata = loop {
        let m = peer.group(&g, "metadata", json!({})).await;
        let done = m["subject"] == "Renamed in Matrix"
            && m["desc"] == "Described in Matrix"
            && participant(&m, CAROL_PN).is_some_and(|p| p["admin"] == "admin")
            && participant(&m, DAVE_PN).is_some();
        if done {
            break m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Baileys' metadata: {m}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(metadata["announce"], true, "{metadata}");

    // Pictures: Baileys' updateProfilePicture is the room's avatar, set by
    // Bob's ghost (the bytes the server keeps: Baileys re-encodes them);
    // Alice's avatar in Matrix is what Baileys fetches as the group's.
    peer.group(&g, "picture", json!({"color": 0x3366_99ff_u32}))
        .await;
    let bob_ghost = ghost(BOB_PN);
    let (_, set) = alice
        .sync_until(WAIT, |r, e| {
            r == room && e["type"] == "m.room.avatar" && e["sender"] == bob_ghost.as_str()
        })
        .await;
    let shown = alice
        .download_media(set["content"]["url"].as_str().unwrap())
        .await;
    assert_eq!(Some(shown), sim.picture(&gid), "Baileys' picture");
    let ours = b"\xff\xd8\xff\xe0set in Matrix".to_vec();
    let mxc = alice.upload_media("image/jpeg", ours.clone()).await;
    alice
        .send_state(&room, "m.room.avatar", "", &json!({ "url": mxc }))
        .await;
    let want = base64::engine::general_purpose::STANDARD.encode(&ours);
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let seen = peer.group(&g, "picture-of", json!({})).await;
        if seen == want.as_str() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "Baileys sees {seen}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Links: Baileys' code resolves from Matrix; Bob leaves, then joins
    // again by the link Alice gets in the room.
    let code = peer.group(&g, "invite-code", json!({})).await;
    let code = code.as_str().unwrap().to_owned();
    let management = logged_in.management.clone();
    alice
        .send_text(
            &management,
            &format!("resolve-link https://chat.whatsapp.com/{code}"),
        )
        .await;
    alice
        .sync_until(WAIT, |r, e| {
            r == management && body(e).contains("“Renamed in Matrix”")
        })
        .await;
    alice.send_text(&room, "!wa invite-link").await;
    let (_, said) = alice
        .sync_until(WAIT, |r, e| r == room && body(e).contains("invite link: "))
        .await;
    let link = body(&said).rsplit(' ').next().unwrap().to_owned();
    let bob = ghost(BOB_PN);
    peer.group(&g, "leave", json!({})).await;
    alice
        .sync_until(WAIT, membership(&room, &bob, "leave"))
        .await;
    let code = link.trim_start_matches("https://chat.whatsapp.com/");
    let joined = peer.group(&g, "accept-invite", json!({"code": code})).await;
    assert_eq!(
        joined,
        g.as_str(),
        "Baileys joined the group by Alice's link"
    );
    let (_, join) = alice
        .sync_until(WAIT, membership(&room, &bob, "join"))
        .await;
    let reason = join["content"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("invite link"), "joined by the link: {join}");
    logged_in.bridge.stop().await;
}
