//! Groups' pictures as their rooms' avatars, both ways (issue 20, points
//! 1, 2 and 7): the picture a group has when its room is made (and a
//! member's, as her ghost's avatar in the room), Bob's new
//! one (set by his ghost), Alice's avatar in Matrix becoming the group's
//! picture, refused in a locked group where she is no admin (the avatar put
//! back, a notice saying why), and Bob removing it; the bot's avatar from
//! the config. Against a real Synapse
//! and wa-sim; Bob made the group, Alice is on the bridge.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::login::{Startup, start_logged_in_on};
use support::matrix::{MatrixUser, body, enc};

const WAIT: Duration = Duration::from_secs(40);
const ALICE_PN: &str = "15557798001";
const BOB_PN: &str = "15557798002";
const CAROL_PN: &str = "15557798003";
const BOT_AVATAR: &str = "mxc://synapse.test/wabridge-bot-avatar";

/// A made-up JPEG (the bridge passes the bytes on as they are).
fn jpeg(tag: &str) -> Vec<u8> {
    let mut bytes = vec![0xff, 0xd8, 0xff, 0xe0];
    bytes.extend_from_slice(tag.as_bytes());
    bytes
}

/// The picture a state event of `room` names in `field` (`kind` with
/// `key`: the room's `m.room.avatar`, a member's `m.room.member`),
/// downloaded, once `pred` holds of its content.
async fn picture_when(
    alice: &MatrixUser,
    (room, kind, key, field): (&str, &str, &str, &str),
    pred: impl Fn(&Value) -> bool,
) -> Option<Vec<u8>> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let state = alice.get_state(room, kind, key).await;
        if let Some(content) = state.filter(|c| pred(c)) {
            return match content[field].as_str() {
                Some(url) => Some(alice.download_media(url).await),
                None => None,
            };
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no such {kind} in {room}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The room's avatar ([`picture_when`]).
async fn avatar_when(
    alice: &MatrixUser,
    room: &str,
    pred: impl Fn(&Value) -> bool,
) -> Option<Vec<u8>> {
    picture_when(alice, (room, "m.room.avatar", "", "url"), pred).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_groups_picture_is_its_rooms_avatar_both_ways() {
    if support::synapse::venv().is_none() {
        return;
    }
    let sim = support::bridge::start_sim().await;
    let phone = sim.account(ALICE_PN);
    let bob = sim.account(BOB_PN);
    let carol = sim.account(CAROL_PN);
    assert!(carol.set_picture(None, Some(&jpeg("carol"))));
    let members = [ALICE_PN.to_owned(), CAROL_PN.to_owned()];
    let gid = sim.create_group(BOB_PN, "Pictured", &members).unwrap();
    assert!(bob.set_picture(Some(&gid), Some(&jpeg("first"))));
    let startup = Startup {
        configure: Some(|c| c.appservice.bot.avatar = Some(BOT_AVATAR.to_owned())),
        ..Startup::default()
    };
    let logged_in =
        start_logged_in_on(&sim, &phone, ALICE_PN, "wabridge-pictures", startup, WAIT).await;
    let alice = &logged_in.alice;
    // The bot's avatar, from the config.
    let path = format!("/_matrix/client/v3/profile/{}", enc(&logged_in.bot));
    assert_eq!(alice.get(&path).await["avatar_url"], BOT_AVATAR);
    let bob_ghost = format!("@whatsapp_{BOB_PN}:{}", logged_in.synapse.server_name());

    bob.send_group_text(&gid, "hello").await.unwrap();
    let room = alice.wait_for_invite(WAIT).await;
    alice.accept_invite(&room).await;
    let shown = avatar_when(alice, &room, |c| c["url"].is_string()).await;
    assert_eq!(
        shown,
        Some(jpeg("first")),
        "the group's picture when the room is made"
    );
    // A member's picture is her ghost's avatar in the room.
    let carol_ghost = format!("@whatsapp_{CAROL_PN}:{}", logged_in.synapse.server_name());
    let carols = member_avatar_when(alice, (&room, &carol_ghost), |c| {
        c["avatar_url"].is_string()
    })
    .await;
    assert_eq!(carols, Some(jpeg("carol")), "a member's picture");

    // Bob's new picture, set by his ghost.
    assert!(bob.set_picture(Some(&gid), Some(&jpeg("second"))));
    let (_, e) = alice
        .sync_until(WAIT, |r, e| {
            r == room && e["type"] == "m.room.avatar" && e["sender"] == bob_ghost.as_str()
        })
        .await;
    let url = e["content"]["url"].as_str().unwrap();
    assert_eq!(alice.download_media(url).await, jpeg("second"));

    // Alice's avatar in Matrix is the group's picture.
    let mxc = alice.upload_media("image/jpeg", jpeg("third")).await;
    alice
        .send_state(&room, "m.room.avatar", "", &json!({ "url": mxc }))
        .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while sim.picture(&gid) != Some(jpeg("third")) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the group's picture did not change"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Locked, where she is no admin: refused, said, and put back.
    assert!(bob.set_group_setting(&gid, "locked", true));
    let fourth = alice.upload_media("image/jpeg", jpeg("fourth")).await;
    alice
        .send_state(&room, "m.room.avatar", "", &json!({ "url": fourth }))
        .await;
    let (_, notice) = alice
        .sync_until(WAIT, |r, e| r == room && body(e).contains("refused"))
        .await;
    assert!(body(&notice).contains("picture"), "{notice}");
    let back = avatar_when(alice, &room, |c| c["url"] != fourth.as_str()).await;
    assert_eq!(back, Some(jpeg("third")), "the avatar is the group's again");
    assert_eq!(sim.picture(&gid), Some(jpeg("third")));

    // Bob removes it: so does the room.
    assert!(bob.set_picture(Some(&gid), None));
    assert_eq!(
        avatar_when(alice, &room, |c| c["url"].is_null()).await,
        None
    );
    logged_in.bridge.stop().await;
}

/// The avatar of `ghost`'s member event in `room` ([`picture_when`]).
async fn member_avatar_when(
    alice: &MatrixUser,
    (room, ghost): (&str, &str),
    pred: impl Fn(&Value) -> bool,
) -> Option<Vec<u8>> {
    picture_when(alice, (room, "m.room.member", ghost, "avatar_url"), pred).await
}

/// A contact's picture (issue 20, point 7) is their ghost's avatar in the
/// rooms of a user who may see it, not on the ghost's profile (another
/// user may not); a new one follows, one hidden from others is taken away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contacts_picture_shows_as_the_user_may_see_it() {
    if support::synapse::venv().is_none() {
        return;
    }
    let sim = support::bridge::start_sim().await;
    let phone = sim.account(ALICE_PN);
    let carol = sim.account(CAROL_PN);
    assert!(carol.set_picture(None, Some(&jpeg("carol one"))));
    let startup = Startup::default();
    let logged_in = start_logged_in_on(
        &sim,
        &phone,
        ALICE_PN,
        "wabridge-contact-pics",
        startup,
        WAIT,
    )
    .await;
    let alice = &logged_in.alice;
    let ghost = format!("@whatsapp_{CAROL_PN}:{}", logged_in.synapse.server_name());

    carol.send_text(ALICE_PN, "hi alice").await.unwrap();
    let room = alice.wait_for_invite(WAIT).await;
    alice.accept_invite(&room).await;
    alice
        .sync_until(WAIT, |r, e| r == room && body(e) == "hi alice")
        .await;
    let at = (room.as_str(), ghost.as_str());
    let shown = member_avatar_when(alice, at, |c| c["avatar_url"].is_string()).await;
    assert_eq!(shown, Some(jpeg("carol one")));
    let profile = alice
        .get(&format!("/_matrix/client/v3/profile/{}", enc(&ghost)))
        .await;
    assert!(
        profile["avatar_url"].is_null(),
        "not on the ghost's profile: {profile}"
    );

    let before = alice
        .get_state(&room, "m.room.member", &ghost)
        .await
        .unwrap();
    assert!(carol.set_picture(None, Some(&jpeg("carol two"))));
    let changed =
        |c: &Value| c["avatar_url"].is_string() && c["avatar_url"] != before["avatar_url"];
    assert_eq!(
        member_avatar_when(alice, at, changed).await,
        Some(jpeg("carol two"))
    );

    // Hidden from everyone: gone from the room.
    carol.set_privacy("profile", "none");
    assert!(carol.set_picture(None, Some(&jpeg("carol three"))));
    assert_eq!(
        member_avatar_when(alice, at, |c| c["avatar_url"].is_null()).await,
        None
    );
    logged_in.bridge.stop().await;
}
