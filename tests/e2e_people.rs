//! People and new chats from Matrix (issue 20, points 3 and 4): a chat
//! started by phone number (`pm`, `resolve-identifier`) or by inviting a
//! contact's ghost to a direct chat; groups joined by their invite link
//! (`resolve-link`, `join`, `invite-link`) and made from Matrix
//! (`create-group`). Against a real Synapse and wa-sim; Alice is on the
//! bridge.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use serde_json::json;
use support::login::start_logged_in;
use support::matrix::{MatrixUser, body, membership};
use wa_core::jid::Jid;
use wa_sim::{HistoryScript, ScriptChat, ScriptMessage, Sender};

const WAIT: Duration = Duration::from_secs(40);
const ALICE_PN: &str = "15557797001";
const BOB_PN: &str = "15557797002";
const CAROL_PN: &str = "15557797003";
const DAVE_PN: &str = "15557797004";

/// Alice sends `line` in `room`; the text of the bot's notice there that
/// contains `answer`.
async fn said_back(alice: &MatrixUser, room: &str, line: &str, answer: &str) -> String {
    alice.send_text(room, line).await;
    let (_, said) = alice
        .sync_until(WAIT, |r, e| {
            r == room && e["content"]["msgtype"] == "m.notice" && body(e).contains(answer)
        })
        .await;
    body(&said).to_owned()
}

/// Starting a chat by phone number (issue 20, point 4): `resolve-identifier`
/// says whether a number is on WhatsApp and names its ghost; `pm` (and its
/// alias `start-chat`) opens the direct chat's room, where a message
/// reaches the contact, and gives the same room again; a number not on
/// WhatsApp and something that is no number get clear answers. Then a
/// group by its invite link (issue 20, point 3): `resolve-link`, `join`,
/// `invite-link` in its room (refused to a member, given to an admin), a
/// reset link gone, and someone joining by the link shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chats_are_started_by_number_and_groups_joined_by_link() {
    if support::synapse::venv().is_none() {
        return;
    }
    let sim = support::bridge::start_sim().await;
    let phone = sim.account(ALICE_PN);
    let carol = sim.account(CAROL_PN);
    let logged_in =
        start_logged_in(&sim, &phone, ALICE_PN, "wabridge-start-chat", false, WAIT).await;
    let (alice, management) = (&logged_in.alice, logged_in.management.clone());
    let carol_ghost = format!("@whatsapp_{CAROL_PN}:{}", logged_in.synapse.server_name());
    let said = said_back(
        alice,
        &management,
        "resolve-identifier +1 555 779 7003",
        "is on WhatsApp",
    )
    .await;
    assert!(said.contains(&format!("+{CAROL_PN}")), "{said}");
    assert!(said.contains(&carol_ghost), "{said}");
    said_back(
        alice,
        &management,
        "pm +15557797099",
        "+15557797099 is not on WhatsApp",
    )
    .await;
    said_back(alice, &management, "pm hello", "not a phone number").await;

    let said = said_back(alice, &management, "start-chat +15557797003", "is open").await;
    let room = alice.wait_for_invite(WAIT).await;
    assert!(said.contains(&room), "the answer links the room: {said}");
    alice.accept_invite(&room).await;
    alice.send_text(&room, "hello from matrix").await;
    let got = carol.wait_received(1, WAIT).await;
    assert_eq!(got[0].text.as_deref(), Some("hello from matrix"));
    let said = said_back(alice, &management, "pm +15557797003", "is open").await;
    assert!(said.contains(&room), "the same room: {said}");

    // Bob's group by its link: what it is, then joined; in its room Alice
    // (no admin) may not have its link; made an admin, she may. A link
    // reset is gone; Dave joining by the link shows as his ghost joining.
    let bob = sim.account(BOB_PN);
    sim.account(DAVE_PN);
    let gid = sim
        .create_group(BOB_PN, "By link", &[CAROL_PN.to_owned()])
        .unwrap();
    let code = bob.group_invite_code(&gid, false).unwrap();
    let link = format!("https://chat.whatsapp.com/{code}");
    let resolve = format!("resolve-link {link}");
    said_back(
        alice,
        &management,
        &resolve,
        "points to “By link”, 2 members",
    )
    .await;
    let said = said_back(
        alice,
        &management,
        &format!("join {link}"),
        "You joined “By link”",
    )
    .await;
    let group_room = alice.wait_for_invite(WAIT).await;
    assert!(said.contains(&group_room), "{said}");
    assert!(sim.group_members(&gid).unwrap().contains_key(ALICE_PN));
    alice.accept_invite(&group_room).await;
    said_back(
        alice,
        &group_room,
        "!wa invite-link",
        "only the group's admins may",
    )
    .await;
    assert!(bob.change_group_members(&gid, "promote", &[ALICE_PN]));
    let said = said_back(
        alice,
        &group_room,
        "!wa invite-link",
        "invite link: https://chat.whatsapp.com/",
    )
    .await;
    assert!(said.contains(&code), "the group's link: {said}");
    let new_code = bob.group_invite_code(&gid, true).unwrap();
    assert_ne!(new_code, code);
    said_back(alice, &management, &resolve, "was reset").await;
    assert!(sim.account(DAVE_PN).join_group_by_link(&new_code));
    let dave_ghost = format!("@whatsapp_{DAVE_PN}:{}", logged_in.synapse.server_name());
    alice
        .sync_until(WAIT, membership(&group_room, &dave_ghost, "join"))
        .await;
    logged_in.bridge.stop().await;
}

/// `create-group` (issue 20, point 3): in the management room with phone
/// numbers, a new group and its new room; in a room Alice made with
/// Carol's and Dave's ghosts invited, a group of them bound to that room
/// (messages go both ways there). A room with another Matrix user in it is
/// refused (they would read the group), and so is a number not on
/// WhatsApp.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_are_created_from_matrix() {
    if support::synapse::venv().is_none() {
        return;
    }
    let sim = support::bridge::start_sim().await;
    let phone = sim.account(ALICE_PN);
    let carol = sim.account(CAROL_PN);
    sim.account(DAVE_PN);
    let logged_in =
        start_logged_in(&sim, &phone, ALICE_PN, "wabridge-create-group", false, WAIT).await;
    let (alice, management) = (&logged_in.alice, logged_in.management.clone());
    let members = |gid: &Jid| {
        sim.group_members(gid)
            .unwrap()
            .into_keys()
            .collect::<Vec<_>>()
    };

    // From the management room, by numbers.
    said_back(
        alice,
        &management,
        "create-group Nobody +15557797099",
        "+15557797099 is not on WhatsApp",
    )
    .await;
    let said = said_back(
        alice,
        &management,
        &format!("create-group By numbers +{CAROL_PN}"),
        "The group is made",
    )
    .await;
    let made = alice.wait_for_invite(WAIT).await;
    assert!(said.contains(&made), "{said}");
    let gid = sim.group_by_subject("By numbers").unwrap();
    assert_eq!(members(&gid), [ALICE_PN, CAROL_PN]);

    // In a room of Alice's with two ghosts invited: that room is bound.
    let ghost = |pn: &str| format!("@whatsapp_{pn}:{}", logged_in.synapse.server_name());
    let room = alice
        .create_room(&json!({
            "name": "Made in Matrix",
            "preset": "private_chat",
            "invite": [logged_in.bot, ghost(CAROL_PN), ghost(DAVE_PN)],
            // Room version 12: Alice, its creator, outranks everyone.
            "power_level_content_override": {"users": {logged_in.bot.as_str(): 100}},
        }))
        .await;
    alice
        .sync_until(WAIT, membership(&room, &logged_in.bot, "join"))
        .await;
    let said = said_back(alice, &room, "!wa create-group", "The group is made").await;
    assert!(said.contains(&room), "this very room: {said}");
    let gid = sim.group_by_subject("Made in Matrix").unwrap();
    assert_eq!(members(&gid), [ALICE_PN, CAROL_PN, DAVE_PN]);
    // The members' ghosts joined before the answer.
    for pn in [CAROL_PN, DAVE_PN] {
        let member = alice.get_state(&room, "m.room.member", &ghost(pn)).await;
        assert_eq!(member.unwrap()["membership"], "join", "{pn}");
    }
    carol
        .send_group_text(&gid, "hello, new group")
        .await
        .unwrap();
    alice
        .sync_until(WAIT, |r, e| r == room && body(e) == "hello, new group")
        .await;
    alice.send_text(&room, "hello from the room").await;
    let got = carol.wait_received(1, WAIT).await;
    assert_eq!(got[0].text.as_deref(), Some("hello from the room"));

    // A room with another Matrix user in it is refused.
    let bob = logged_in
        .synapse
        .register_user("bob", "secret-pw", false)
        .await;
    let shared = alice
        .create_room(&json!({
            "name": "Shared",
            "preset": "private_chat",
            "invite": [logged_in.bot, bob.user_id, ghost(CAROL_PN)],
        }))
        .await;
    alice
        .sync_until(WAIT, membership(&shared, &logged_in.bot, "join"))
        .await;
    said_back(alice, &shared, "!wa create-group", "would read the chat").await;
    assert!(sim.group_by_subject("Shared").is_none());
    logged_in.bridge.stop().await;
}

/// A direct chat Alice makes in Matrix with a contact's ghost invited
/// becomes the chat with them (issue 20, point 4, bridgev2's way): the
/// ghost joins, messages go both ways there. A second such room gets a
/// pointer to the first and the ghost leaves, as it does from a room with
/// another Matrix user in it; a ghost of a number not on WhatsApp declines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_chat_made_in_matrix_becomes_the_chat() {
    if support::synapse::venv().is_none() {
        return;
    }
    let sim = support::bridge::start_sim().await;
    let phone = sim.account(ALICE_PN);
    let carol = sim.account(CAROL_PN);
    let logged_in =
        start_logged_in(&sim, &phone, ALICE_PN, "wabridge-dm-invite", false, WAIT).await;
    let alice = &logged_in.alice;
    let ghost = |pn: &str| format!("@whatsapp_{pn}:{}", logged_in.synapse.server_name());

    let carol_ghost = ghost(CAROL_PN);
    let room = alice.create_dm(&carol_ghost).await;
    alice
        .sync_until(WAIT, membership(&room, &carol_ghost, "join"))
        .await;
    alice
        .sync_until(WAIT, membership(&room, &logged_in.bot, "join"))
        .await;
    alice.send_text(&room, "hi from a chat I made").await;
    let got = carol.wait_received(1, WAIT).await;
    assert_eq!(got[0].text.as_deref(), Some("hi from a chat I made"));
    carol.send_text(ALICE_PN, "hi back").await.unwrap();
    alice
        .sync_until(WAIT, |r, e| r == room && body(e) == "hi back")
        .await;

    let again = alice.create_dm(&carol_ghost).await;
    let (_, pointer) = alice
        .sync_until(WAIT, |r, e| r == again && body(e).contains("already"))
        .await;
    assert!(body(&pointer).contains(&room), "{pointer}");
    alice
        .sync_until(WAIT, membership(&again, &carol_ghost, "leave"))
        .await;

    // With someone else in the room: the ghost says so and leaves.
    sim.account(DAVE_PN);
    let dave_ghost = ghost(DAVE_PN);
    let bob = logged_in
        .synapse
        .register_user("bob", "secret-pw", false)
        .await;
    let shared = alice
        .create_room(&json!({
            "is_direct": true,
            "preset": "trusted_private_chat",
            "invite": [bob.user_id, dave_ghost],
        }))
        .await;
    alice
        .sync_until(WAIT, |r, e| {
            r == shared && body(e).contains("would read the chat")
        })
        .await;
    alice
        .sync_until(WAIT, membership(&shared, &dave_ghost, "leave"))
        .await;

    let nobody = ghost("15557797099");
    let declined = alice.create_dm(&nobody).await;
    alice
        .sync_until(WAIT, membership(&declined, &nobody, "leave"))
        .await;
    logged_in.bridge.stop().await;
}

fn text(t: &str) -> wa_core::proto::Message {
    wa_core::proto::Message {
        conversation: Some(t.to_owned()),
        ..Default::default()
    }
}

/// The display name `user` has in `room`, as `reader` reads its state,
/// once it is `want` (the address book comes with the app state, which
/// may follow the first messages); what it is after `WAIT` otherwise.
async fn member_name(reader: &MatrixUser, room: &str, user: &str, want: &str) -> Option<String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let state = reader.get_state(room, "m.room.member", user).await;
        let name = state.and_then(|s| s["displayname"].as_str().map(str::to_owned));
        if name.as_deref() == Some(want) || tokio::time::Instant::now() >= deadline {
            return name;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The membership `user` has in `room`, as Alice reads the room's state.
async fn member(alice: &MatrixUser, room: &str, user: &str) -> String {
    let state = alice.get_state(room, "m.room.member", user).await;
    state.map_or_else(String::new, |s| {
        s["membership"].as_str().unwrap_or_default().to_owned()
    })
}

/// One person, one ghost, one chat (issue 20, point 5). Dave writes by
/// number, then by LID: one room, one ghost, in his chat and in a
/// LID-addressed group. Carol's number is hidden (as a community hides
/// it): she shows as her LID's ghost, in the group and in a chat of her
/// own; once she writes by number, WhatsApp pairs the two, and the same
/// chat goes on under her number's ghost, which also takes the LID ghost's
/// place in the group; `pm` finds that chat. Then a database as a bridge
/// before this left it (Erin's pairing stored, her chat still under her
/// LID): the next start moves her chat and ghost the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_person_is_one_ghost_however_whatsapp_names_them() {
    if support::synapse::venv().is_none() {
        return;
    }
    const ERIN_PN: &str = "15557797005";
    const FRANK_PN: &str = "15557797006";
    let sim = support::bridge::start_sim().await;
    sim.address_groups_by_lid(true);
    let phone = sim.account(ALICE_PN);
    let carol = sim.account(CAROL_PN);
    let dave = sim.account(DAVE_PN);
    let erin = sim.account(ERIN_PN);
    let members = [ALICE_PN.to_owned(), CAROL_PN.to_owned()];
    let gid = sim
        .create_group(DAVE_PN, "Numbers hidden", &members)
        .unwrap();
    sim.hide_number(CAROL_PN, true);
    sim.hide_number(ERIN_PN, true);
    // Frank's chat is in the phone's history under his LID (paired with
    // his number in the chunk, as the phone sends chats moved to LIDs).
    let frank = sim.account(FRANK_PN);
    let history =
        ScriptChat::direct_by_lid(FRANK_PN, &frank.lid().unwrap()).message(ScriptMessage::new(
            "3EB0F1",
            Sender::Pn(FRANK_PN.to_owned()),
            "frank from history",
            1_790_000_000,
        ));
    phone.set_history(HistoryScript::new().chat(history));
    let logged_in =
        start_logged_in(&sim, &phone, ALICE_PN, "wabridge-one-ghost", false, WAIT).await;
    let alice = &logged_in.alice;
    let server = logged_in.synapse.server_name().to_owned();
    let ghost = |local: &str| format!("@whatsapp_{local}:{server}");
    let lid_ghost = |p: &wa_sim::Phone| ghost(&format!("lid-{}", p.lid().unwrap().user()));
    let said = |room: String, text: &'static str| {
        move |r: &str, e: &serde_json::Value| r == room && body(e) == text
    };

    // History by LID and a message by number: one chat, one ghost.
    let done = |t: &str| t.contains("1 of 1");
    support::history::wait_backfill_notice(alice, &logged_in.management, WAIT, done).await;
    let dm_frank = alice.wait_for_invite(WAIT).await;
    alice.accept_invite(&dm_frank).await;
    let (_, e) = alice
        .sync_until(WAIT, said(dm_frank.clone(), "frank from history"))
        .await;
    assert_eq!(e["sender"], ghost(FRANK_PN));
    frank.send_text(ALICE_PN, "frank live").await.unwrap();
    let (room, e) = alice.sync_until(WAIT, |_, e| body(e) == "frank live").await;
    assert_eq!(
        (room.as_str(), &e["sender"]),
        (dm_frank.as_str(), &json!(ghost(FRANK_PN)))
    );

    // Dave: by number, then by LID, one chat and one ghost.
    dave.send_text(ALICE_PN, "dave by number").await.unwrap();
    let dm_dave = alice.wait_for_invite(WAIT).await;
    alice.accept_invite(&dm_dave).await;
    let (_, e) = alice
        .sync_until(WAIT, said(dm_dave.clone(), "dave by number"))
        .await;
    assert_eq!(e["sender"], ghost(DAVE_PN));
    dave.send_message_by_lid(ALICE_PN, text("dave by LID"))
        .await
        .unwrap();
    let (room, e) = alice
        .sync_until(WAIT, |_, e| body(e) == "dave by LID")
        .await;
    assert_eq!(
        (room.as_str(), &e["sender"]),
        (dm_dave.as_str(), &json!(ghost(DAVE_PN)))
    );

    // The group names everyone by LID; Dave's number comes along, Carol's
    // does not.
    dave.send_group_text(&gid, "dave in the group")
        .await
        .unwrap();
    let group = alice.wait_for_invite(WAIT).await;
    alice.accept_invite(&group).await;
    let (_, e) = alice
        .sync_until(WAIT, said(group.clone(), "dave in the group"))
        .await;
    assert_eq!(e["sender"], ghost(DAVE_PN));
    carol
        .send_group_text(&gid, "carol in the group")
        .await
        .unwrap();
    let (_, e) = alice
        .sync_until(WAIT, said(group.clone(), "carol in the group"))
        .await;
    assert_eq!(e["sender"], lid_ghost(&carol));

    carol
        .send_message_by_lid(ALICE_PN, text("carol by LID"))
        .await
        .unwrap();
    let dm_carol = alice.wait_for_invite(WAIT).await;
    alice.accept_invite(&dm_carol).await;
    let (_, e) = alice
        .sync_until(WAIT, said(dm_carol.clone(), "carol by LID"))
        .await;
    assert_eq!(e["sender"], lid_ghost(&carol));

    // By number: the same chat, her number's ghost, in both rooms.
    carol.send_text(ALICE_PN, "carol by number").await.unwrap();
    let (room, e) = alice
        .sync_until(WAIT, |_, e| body(e) == "carol by number")
        .await;
    assert_eq!(room, dm_carol, "no second chat for Carol");
    let state = alice
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/state",
            support::matrix::enc(&dm_carol)
        ))
        .await;
    let info = state
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["type"] == "m.bridge");
    let channel = info.map(|e| e["content"]["channel"]["id"].clone());
    assert_eq!(
        channel,
        Some(json!(format!("{CAROL_PN}@s.whatsapp.net"))),
        "{state}"
    );
    assert_eq!(e["sender"], ghost(CAROL_PN));
    for room in [&dm_carol, &group] {
        assert_eq!(
            member(alice, room, &ghost(CAROL_PN)).await,
            "join",
            "{room}"
        );
        assert_eq!(
            member(alice, room, &lid_ghost(&carol)).await,
            "leave",
            "{room}"
        );
    }
    alice.send_text(&dm_carol, "one chat").await;
    // (Dave's group message came to Carol before.)
    let got = carol.wait_received(2, WAIT).await;
    assert!(
        got.iter().any(|m| m.text.as_deref() == Some("one chat")),
        "{got:?}"
    );
    carol.send_group_text(&gid, "carol again").await.unwrap();
    let (_, e) = alice
        .sync_until(WAIT, said(group.clone(), "carol again"))
        .await;
    assert_eq!(e["sender"], ghost(CAROL_PN));
    // Dave mentions Carol by her LID: the pill is her number's ghost.
    let carol_lid = carol.lid().unwrap();
    let mention = format!("@{} knows", carol_lid.user());
    dave.send_rich_text(ALICE_PN, &mention, None, std::slice::from_ref(&carol_lid))
        .await
        .unwrap();
    let (_, e) = alice
        .sync_until(WAIT, |r, e| r == dm_dave && body(e).ends_with(" knows"))
        .await;
    assert_eq!(
        e["content"]["m.mentions"]["user_ids"],
        json!([ghost(CAROL_PN)])
    );
    let answer = said_back(
        alice,
        &logged_in.management,
        &format!("pm +{CAROL_PN}"),
        "matrix.to",
    )
    .await;
    assert!(answer.contains(&dm_carol), "{answer}");

    // Erin's chat, under her LID when the bridge stops.
    erin.send_message_by_lid(ALICE_PN, text("erin by LID"))
        .await
        .unwrap();
    let dm_erin = alice.wait_for_invite(WAIT).await;
    alice.accept_invite(&dm_erin).await;
    let (_, e) = alice
        .sync_until(WAIT, said(dm_erin.clone(), "erin by LID"))
        .await;
    assert_eq!(e["sender"], lid_ghost(&erin));
    logged_in.bridge.stop().await;
    // The pairing stored as a bridge before this stored it, nothing moved.
    let db = wabridge::store::Database::connect(&logged_in.config.database.uri)
        .await
        .unwrap();
    let mxid = ruma::UserId::parse(alice.user_id.as_str()).unwrap();
    let login = db.login_of_user(&mxid).await.unwrap().unwrap();
    let erin_lid = erin.lid().unwrap();
    db.client_store(&login.login_id)
        .store_lid_mapping(ERIN_PN, erin_lid.user())
        .await
        .unwrap();
    db.close().await;
    let bridge = support::bridge::Bridge::start(&logged_in.config, logged_in.port).await;
    alice
        .sync_until(WAIT, membership(&dm_erin, &lid_ghost(&erin), "leave"))
        .await;
    assert_eq!(member(alice, &dm_erin, &ghost(ERIN_PN)).await, "join");
    erin.send_text(ALICE_PN, "erin by number").await.unwrap();
    let (room, e) = alice
        .sync_until(WAIT, |_, e| body(e) == "erin by number")
        .await;
    assert_eq!(
        (room.as_str(), &e["sender"]),
        (dm_erin.as_str(), &json!(ghost(ERIN_PN)))
    );
    bridge.stop().await;
}

/// Names per user (issue 20, point 6): Alice and Bob are both on the
/// bridge and both have Carol in their address book, under names of their
/// own. Each sees their own name for her ghost in their rooms (her member
/// event there), her ghost's own profile name is the one she chose (her
/// push name), and neither's rooms show the other's name for her.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_see_their_own_names_for_a_shared_contact() {
    if support::synapse::venv().is_none() {
        return;
    }
    use support::login::{Qr, Startup, login_by_qr, open_management_room, start_logged_in_on};
    let sim = support::bridge::start_sim().await;
    let alice_phone = sim.account(ALICE_PN);
    let bob_phone = sim.account(BOB_PN);
    let carol = sim.account(CAROL_PN);
    sim.set_push_name(CAROL_PN, "Carol C.");
    let named = |name: &str| {
        HistoryScript::new().chat(ScriptChat::direct(CAROL_PN).name(name).message(
            ScriptMessage::new(
                "3EB0C0",
                Sender::Pn(CAROL_PN.to_owned()),
                "long ago",
                1_790_000_000,
            ),
        ))
    };
    alice_phone.set_history(named("Caz from work"));
    bob_phone.set_history(named("Carol next door"));
    let startup = Startup {
        configure: Some(|c| {
            let bob = format!("@bob:{}", support::synapse::SERVER_NAME);
            c.bridge
                .permissions
                .insert(bob, wabridge::config::Level::User);
        }),
        ..Startup::default()
    };
    let logged_in = start_logged_in_on(
        &sim,
        &alice_phone,
        ALICE_PN,
        "wabridge-two-users",
        startup,
        WAIT,
    )
    .await;
    let alice = &logged_in.alice;
    let bob = logged_in
        .synapse
        .register_user("bob", "secret-pw", false)
        .await;
    let bob_management = open_management_room(&bob, &logged_in.bot, WAIT).await;
    login_by_qr(&bob, &bob_management, &bob_phone, BOB_PN, Qr::First, WAIT).await;
    let carol_ghost = format!("@whatsapp_{CAROL_PN}:{}", logged_in.synapse.server_name());

    carol.send_text(ALICE_PN, "hi alice").await.unwrap();
    carol.send_text(BOB_PN, "hi bob").await.unwrap();
    let mut rooms = Vec::new();
    for (user, text) in [(alice, "hi alice"), (&bob, "hi bob")] {
        let room = user.wait_for_invite(WAIT).await;
        user.accept_invite(&room).await;
        user.sync_until(WAIT, |r, e| r == room && body(e) == text)
            .await;
        rooms.push(room);
    }
    assert_eq!(
        member_name(alice, &rooms[0], &carol_ghost, "Caz from work")
            .await
            .as_deref(),
        Some("Caz from work")
    );
    assert_eq!(
        member_name(&bob, &rooms[1], &carol_ghost, "Carol next door")
            .await
            .as_deref(),
        Some("Carol next door")
    );
    let path = format!(
        "/_matrix/client/v3/profile/{}/displayname",
        support::matrix::enc(&carol_ghost)
    );
    assert_eq!(alice.get(&path).await["displayname"], "Carol C.");
    for (user, room, other) in [
        (alice, &rooms[0], "Carol next door"),
        (&bob, &rooms[1], "Caz from work"),
    ] {
        let shown = user.room_messages(room).await;
        let leaked: Vec<_> = shown
            .iter()
            .filter(|e| e.to_string().contains(other))
            .collect();
        assert!(
            leaked.is_empty(),
            "{} sees {other:?}: {leaked:?}",
            user.user_id
        );
    }
    logged_in.bridge.stop().await;
}
