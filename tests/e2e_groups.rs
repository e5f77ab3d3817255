//! Groups in Matrix. Who may delete a message (issue 18, defect 6): a
//! member's revoke of someone else's message deletes nothing in Matrix; a
//! group admin's does, as WhatsApp lets admins delete for everyone. Then
//! the group's changes on WhatsApp reach the room (issue 20): its name and
//! description, its disappearing-messages timer (a notice from the
//! changer's ghost), a member added (their ghost joins), made admin and back
//! (a moderator's power level, then the default), and one removed (their
//! ghost is removed, the reason naming who did it); the room is made with
//! the group's description and admins, and a change the bridge missed is
//! caught up when it reconnects. Alice's own renaming and describing of
//! the room in Matrix reaches the group, and so do her invites, kicks,
//! power levels and leaving (the second test). Starting chats and making
//! or joining groups from Matrix: `e2e_people.rs`. Bob made the group
//! (its super admin); Carol is a member; Dave joins later; Alice is on the
//! bridge.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use serde_json::json;
use support::login::start_logged_in;
use support::matrix::{body, membership, redacts};
use wa_core::jid::Jid;
use wa_core::proto::message::ProtocolMessage;
use wa_core::proto::message::protocol_message::Type as ProtocolType;
use wa_core::proto::{Message as WaMessage, MessageKey};

const WAIT: Duration = Duration::from_secs(40);
const ALICE_PN: &str = "15557796001";
const BOB_PN: &str = "15557796002";
const CAROL_PN: &str = "15557796003";
const DAVE_PN: &str = "15557796004";

/// A revoke, in group `gid`, of message `id` that `sender` sent.
fn revoke(gid: &Jid, id: &str, sender: &str) -> WaMessage {
    let mut p = ProtocolMessage {
        key: Some(MessageKey {
            remote_jid: Some(gid.to_string()),
            from_me: Some(false),
            id: Some(id.to_owned()),
            participant: Some(format!("{sender}@s.whatsapp.net")),
        }),
        ..ProtocolMessage::default()
    };
    p.set_type(ProtocolType::Revoke);
    WaMessage {
        protocol_message: Some(Box::new(p)),
        ..WaMessage::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_by_whom_may_and_group_changes_reach_the_room() {
    if support::synapse::venv().is_none() {
        return;
    }
    let sim = support::bridge::start_sim().await;
    let phone = sim.account(ALICE_PN);
    let bob = sim.account(BOB_PN);
    let carol = sim.account(CAROL_PN);
    sim.account(DAVE_PN);
    let gid = sim
        .create_group(
            BOB_PN,
            "Admins",
            &[ALICE_PN.to_owned(), CAROL_PN.to_owned()],
        )
        .expect("the group is made");
    assert!(bob.set_group_description(&gid, Some("Admins only")));
    let logged_in =
        start_logged_in(&sim, &phone, ALICE_PN, "wabridge-group-revoke", false, WAIT).await;
    let alice = &logged_in.alice;

    let bob_id = bob.send_group_text(&gid, "from bob").await.unwrap();
    let room = alice.wait_for_invite(WAIT).await;
    alice.accept_invite(&room).await;
    // Made with the group's description as its topic, and Bob, the
    // group's super admin, a moderator.
    let ghost = |pn: &str| format!("@whatsapp_{pn}:{}", logged_in.synapse.server_name());
    let topic = alice.get_state(&room, "m.room.topic", "").await;
    assert_eq!(topic.unwrap()["topic"], "Admins only");
    let (bob_ghost, carol_ghost) = (ghost(BOB_PN), ghost(CAROL_PN));
    let (_, levels) = alice
        .sync_until(WAIT, |r, e| {
            r == room
                && e["type"] == "m.room.power_levels"
                && e["content"]["users"][bob_ghost.as_str()] == 50
        })
        .await;
    assert!(
        levels["content"]["users"][carol_ghost.as_str()].is_null(),
        "{levels}"
    );
    let (_, bob_event) = alice
        .sync_until(WAIT, |r, e| r == room && body(e) == "from bob")
        .await;
    let carol_id = carol.send_group_text(&gid, "from carol").await.unwrap();
    let (_, carol_event) = alice
        .sync_until(WAIT, |r, e| r == room && body(e) == "from carol")
        .await;
    let redacted = |event: &serde_json::Value, all: &[serde_json::Value]| {
        let id = event["event_id"].as_str().unwrap_or_default();
        all.iter()
            .any(|e| e["type"] == "m.room.redaction" && redacts(e) == id)
    };

    // Carol, a member, deletes Bob's message: nothing happens in Matrix.
    carol
        .send_group_message(&gid, revoke(&gid, &bob_id, BOB_PN))
        .await
        .unwrap();
    carol
        .send_group_text(&gid, "after carol's deletion")
        .await
        .unwrap();
    alice
        .sync_until(WAIT, |r, e| {
            r == room && body(e) == "after carol's deletion"
        })
        .await;
    let all = alice.room_messages(&room).await;
    assert!(
        !redacted(&bob_event, &all),
        "a member cannot delete another's message"
    );

    // Bob, the group's admin, deletes Carol's message: it is redacted.
    bob.send_group_message(&gid, revoke(&gid, &carol_id, CAROL_PN))
        .await
        .unwrap();
    let carol_event_id = carol_event["event_id"].as_str().unwrap().to_owned();
    alice
        .sync_until(WAIT, |r, e| {
            r == room && e["type"] == "m.room.redaction" && redacts(e) == carol_event_id
        })
        .await;
    let all = alice.room_messages(&room).await;
    assert!(
        redacted(&carol_event, &all),
        "an admin deletes for everyone"
    );
    assert!(!redacted(&bob_event, &all), "and Bob's message stays");

    // Bob renames the group and describes it: the room follows.
    assert!(bob.set_group_subject(&gid, "Admins and friends"));
    alice
        .sync_until(WAIT, |r, e| {
            r == room && e["type"] == "m.room.name" && e["content"]["name"] == "Admins and friends"
        })
        .await;
    assert!(bob.set_group_description(&gid, Some("Who may delete what")));
    alice
        .sync_until(WAIT, |r, e| {
            r == room
                && e["type"] == "m.room.topic"
                && e["content"]["topic"] == "Who may delete what"
        })
        .await;

    // Bob turns disappearing messages on, then off: his ghost says so.
    let bob_says = |text: &'static str| {
        let (room, bob_ghost) = (room.clone(), bob_ghost.clone());
        move |r: &str, e: &serde_json::Value| {
            r == room
                && e["sender"] == bob_ghost.as_str()
                && e["content"]["msgtype"] == "m.notice"
                && body(e) == text
        }
    };
    assert!(bob.set_group_timer(&gid, Some(7 * 86_400)));
    let turned_on = "Disappearing messages were turned on: 7 days.";
    alice.sync_until(WAIT, bob_says(turned_on)).await;
    assert!(bob.set_group_timer(&gid, None));
    let turned_off = "Disappearing messages were turned off.";
    alice.sync_until(WAIT, bob_says(turned_off)).await;

    // Bob adds Dave: Bob's ghost invites his, which joins. Bob removes
    // Carol: hers is removed, and the reason says who removed her.
    let dave_ghost = ghost(DAVE_PN);
    assert!(bob.change_group_members(&gid, "add", &[DAVE_PN]));
    let (_, invite) = alice
        .sync_until(WAIT, membership(&room, &dave_ghost, "invite"))
        .await;
    assert_eq!(
        invite["sender"],
        ghost(BOB_PN).as_str(),
        "the adder: {invite}"
    );
    alice
        .sync_until(WAIT, membership(&room, &dave_ghost, "join"))
        .await;
    // Bob makes Dave an admin: a moderator in the room; then not again.
    let dave_level = |e: &serde_json::Value| e["content"]["users"][dave_ghost.as_str()].as_i64();
    assert!(bob.change_group_members(&gid, "promote", &[DAVE_PN]));
    alice
        .sync_until(WAIT, |r, e| {
            r == room && e["type"] == "m.room.power_levels" && dave_level(e) == Some(50)
        })
        .await;
    assert!(bob.change_group_members(&gid, "demote", &[DAVE_PN]));
    alice
        .sync_until(WAIT, |r, e| {
            r == room && e["type"] == "m.room.power_levels" && dave_level(e).is_none()
        })
        .await;
    assert!(bob.change_group_members(&gid, "remove", &[CAROL_PN]));
    let (_, removal) = alice
        .sync_until(WAIT, membership(&room, &carol_ghost, "leave"))
        .await;
    let reason = removal["content"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains(&format!("+{BOB_PN}")), "{removal}");

    // Alice renames it on her phone: the bot shows it (she has no ghost).
    assert!(phone.set_group_subject(&gid, "Alice's name for it"));
    let (_, renamed) = alice
        .sync_until(WAIT, |r, e| {
            r == room && e["type"] == "m.room.name" && e["content"]["name"] == "Alice's name for it"
        })
        .await;
    assert_eq!(renamed["sender"], logged_in.bot.as_str(), "{renamed}");
    let alice_ghost = ghost(ALICE_PN);
    let members = alice.get_state(&room, "m.room.member", &alice_ghost).await;
    assert!(members.is_none(), "no ghost of Alice: {members:?}");

    // Alice renames the room and gives it a topic in Matrix (her portal,
    // where she may): the group follows on WhatsApp.
    let state = || sim.group_subject_and_description(&gid).unwrap();
    alice
        .send_state(
            &room,
            "m.room.name",
            "",
            &json!({"name": "Named in Matrix"}),
        )
        .await;
    eventually("the group is renamed", || state().0 == "Named in Matrix").await;
    alice
        .send_state(
            &room,
            "m.room.topic",
            "",
            &json!({"topic": "Described in Matrix"}),
        )
        .await;
    eventually("the group is described", || {
        state().1.as_deref() == Some("Described in Matrix")
    })
    .await;

    // A change whose notification the bridge never gets (lost on the way)
    // is caught up when it connects again: it reads each group then.
    let device = phone.linked_devices()[0];
    sim.drop_next(ALICE_PN, device, 1);
    assert!(bob.set_group_subject(&gid, "Renamed while away"));
    assert_eq!(
        sim.dropped(ALICE_PN, device),
        1,
        "the next stanza (the notification) was lost"
    );
    assert!(sim.cut(ALICE_PN, device), "the bridge was connected");
    alice
        .sync_until(WAIT, |r, e| {
            r == room && e["type"] == "m.room.name" && e["content"]["name"] == "Renamed while away"
        })
        .await;
    logged_in.bridge.stop().await;
}

const ERIN_PN: &str = "15557796005";
const FAY_PN: &str = "15557796006";

/// Alice runs a group from Matrix (issue 20, point 2). In the group Bob
/// made her an admin of, she invites Dave's ghost (Dave is added), makes
/// him a moderator and back (admin, then not), kicks Carol's ghost (Carol
/// is removed), invites Erin, whose privacy lets only an invite link add
/// her, and Fay when the group is full (both refused: a notice says why
/// and the ghost declines), and leaves
/// the room (she leaves the group). In Bob's other group, where she is no
/// admin, her kick of Bob's ghost and her making Carol a moderator are
/// refused: notices say why and the room is put back as the group has it.
/// Bob's settings (only admins send, only admins edit) become the room's
/// levels; Alice opens the info again from Matrix where she may, and is
/// refused where she may not. Removed from Bob's group, Alice is told and
/// taken out of its room; added back, she is invited again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_runs_a_group_from_matrix_as_far_as_whatsapp_lets_them() {
    if support::synapse::venv().is_none() {
        return;
    }
    let sim = support::bridge::start_sim().await;
    let phone = sim.account(ALICE_PN);
    let bob = sim.account(BOB_PN);
    sim.account(CAROL_PN);
    sim.account(DAVE_PN);
    let erin = sim.account(ERIN_PN);
    erin.set_privacy("groupadd", "none");
    sim.account(FAY_PN);
    let members = [ALICE_PN.to_owned(), CAROL_PN.to_owned()];
    let ours = sim.create_group(BOB_PN, "Alice's too", &members).unwrap();
    assert!(bob.change_group_members(&ours, "promote", &[ALICE_PN]));
    let bobs = sim.create_group(BOB_PN, "Bob's only", &members).unwrap();
    let logged_in =
        start_logged_in(&sim, &phone, ALICE_PN, "wabridge-group-admin", false, WAIT).await;
    let alice = &logged_in.alice;
    let alice_id = alice.user_id.clone();
    let ghost = |pn: &str| format!("@whatsapp_{pn}:{}", logged_in.synapse.server_name());
    let (bob_ghost, carol_ghost) = (ghost(BOB_PN), ghost(CAROL_PN));
    let (dave_ghost, erin_ghost) = (ghost(DAVE_PN), ghost(ERIN_PN));

    // Each group's room, with Alice at the owner's level (she may change
    // power levels and kick; WhatsApp says whether it allows it).
    let mut rooms = Vec::new();
    for gid in [&ours, &bobs] {
        bob.send_group_text(gid, "hello").await.unwrap();
        let room = alice.wait_for_invite(WAIT).await;
        alice.accept_invite(&room).await;
        alice
            .sync_until(WAIT, |r, e| {
                r == room
                    && e["type"] == "m.room.power_levels"
                    && e["content"]["users"][alice_id.as_str()] == 100
            })
            .await;
        rooms.push(room);
    }
    let (room, bobs_room) = (rooms[0].clone(), rooms[1].clone());
    let in_group = |gid: &Jid, pn: &str| sim.group_members(gid).unwrap().contains_key(pn);
    let is_admin = |gid: &Jid, pn: &str| {
        sim.group_members(gid)
            .unwrap()
            .get(pn)
            .copied()
            .flatten()
            .is_some()
    };

    // Invited: Dave is added, and his ghost joins.
    alice.invite(&room, &dave_ghost).await;
    eventually("Dave is added", || in_group(&ours, DAVE_PN)).await;
    alice
        .sync_until(WAIT, membership(&room, &dave_ghost, "join"))
        .await;

    // A moderator: an admin; the default again: not.
    let set_level = |room: String, user: String, level: Option<i64>| async move {
        let mut levels = alice
            .get_state(&room, "m.room.power_levels", "")
            .await
            .unwrap();
        match level {
            Some(l) => levels["users"][user.as_str()] = json!(l),
            None => {
                levels["users"].as_object_mut().unwrap().remove(&user);
            }
        }
        alice
            .send_state(&room, "m.room.power_levels", "", &levels)
            .await
    };
    set_level(room.clone(), dave_ghost.clone(), Some(50)).await;
    eventually("Dave is an admin", || is_admin(&ours, DAVE_PN)).await;
    set_level(room.clone(), dave_ghost.clone(), None).await;
    eventually("Dave is no admin", || !is_admin(&ours, DAVE_PN)).await;
    assert!(in_group(&ours, DAVE_PN), "and still a member");

    // Kicked: Carol is removed.
    alice.kick(&room, &carol_ghost).await;
    eventually("Carol is removed", || !in_group(&ours, CAROL_PN)).await;

    // Erin lets nobody add her: refused, said, and her ghost declines.
    alice.invite(&room, &erin_ghost).await;
    let notice = |room: &str, what: &str| {
        let (room, what) = (room.to_owned(), what.to_owned());
        move |r: &str, e: &serde_json::Value| {
            r == room
                && e["content"]["msgtype"] == "m.notice"
                && body(e).contains(&format!("Your {what} was not bridged"))
        }
    };
    let (_, said) = alice.sync_until(WAIT, notice(&room, "invite")).await;
    assert!(body(&said).contains("privacy"), "{said}");
    alice
        .sync_until(WAIT, membership(&room, &erin_ghost, "leave"))
        .await;
    assert!(!in_group(&ours, ERIN_PN));

    // The group is full: Fay's add is refused (500), said, and her ghost
    // declines.
    let members = sim.group_members(&ours).unwrap().len();
    sim.limit_group_size(members);
    let fay_ghost = ghost(FAY_PN);
    alice.invite(&room, &fay_ghost).await;
    let (_, said) = alice.sync_until(WAIT, notice(&room, "invite")).await;
    assert!(body(&said).contains("the group is full"), "{said}");
    alice
        .sync_until(WAIT, membership(&room, &fay_ghost, "leave"))
        .await;
    assert!(!in_group(&ours, FAY_PN));

    // In Bob's group she is no admin: the kick is refused and Bob's ghost
    // is back; Carol made a moderator is refused and put back.
    alice.kick(&bobs_room, &bob_ghost).await;
    let (mut told, mut back) = (false, false);
    let refused_kick = notice(&bobs_room, "removal");
    alice
        .sync_until(WAIT, |r, e| {
            told |= refused_kick(r, e);
            back |= told
                && r == bobs_room
                && e["type"] == "m.room.member"
                && e["state_key"] == bob_ghost.as_str()
                && e["content"]["membership"] == "join";
            told && back
        })
        .await;
    assert!(in_group(&bobs, BOB_PN), "Bob is still in his group");
    set_level(bobs_room.clone(), carol_ghost.clone(), Some(50)).await;
    let (mut told, mut back) = (false, false);
    let refused_level = notice(&bobs_room, "power level change");
    alice
        .sync_until(WAIT, |r, e| {
            told |= refused_level(r, e);
            back |= told
                && r == bobs_room
                && e["type"] == "m.room.power_levels"
                && e["content"]["users"][carol_ghost.as_str()].is_null();
            told && back
        })
        .await;
    assert!(!is_admin(&bobs, CAROL_PN));

    // Settings: Bob lets only admins send, then only admins change the
    // info; the room's levels follow. Alice (an admin) opens the info to
    // everyone again from Matrix: the group follows.
    let levels_where = |room: &str, check: fn(&serde_json::Value) -> bool| {
        let room = room.to_owned();
        move |r: &str, e: &serde_json::Value| {
            r == room && e["type"] == "m.room.power_levels" && check(&e["content"])
        }
    };
    assert!(bob.set_group_setting(&ours, "announcement", true));
    alice
        .sync_until(WAIT, levels_where(&room, |c| c["events_default"] == 50))
        .await;
    assert!(bob.set_group_setting(&ours, "locked", true));
    alice
        .sync_until(
            WAIT,
            levels_where(&room, |c| c["events"]["m.room.name"] == 50),
        )
        .await;
    let mut levels = alice
        .get_state(&room, "m.room.power_levels", "")
        .await
        .unwrap();
    levels["events"]["m.room.name"] = json!(0);
    alice
        .send_state(&room, "m.room.power_levels", "", &levels)
        .await;
    eventually("the group's info is open", || {
        sim.group_settings(&ours) == Some((true, false))
    })
    .await;
    // In Bob's group she may not: refused, and the level put back.
    let mut levels = alice
        .get_state(&bobs_room, "m.room.power_levels", "")
        .await
        .unwrap();
    levels["events_default"] = json!(50);
    alice
        .send_state(&bobs_room, "m.room.power_levels", "", &levels)
        .await;
    let (mut told, mut back) = (false, false);
    let refused_level = notice(&bobs_room, "power level change");
    // Omitted when 0, the default.
    let put_back = levels_where(&bobs_room, |c| {
        c["events_default"].as_i64().unwrap_or(0) == 0
    });
    alice
        .sync_until(WAIT, |r, e| {
            told |= refused_level(r, e);
            back |= told && put_back(r, e);
            told && back
        })
        .await;
    assert_eq!(sim.group_settings(&bobs), Some((false, false)));

    // Bob removes her from his group: the room says so and she is out of
    // it; he adds her back: she is invited again.
    assert!(bob.change_group_members(&bobs, "remove", &[ALICE_PN]));
    let (mut told, mut out) = (false, false);
    alice
        .sync_until(WAIT, |r, e| {
            told |= r == bobs_room
                && body(e).contains(&format!(
                    "You were removed from this group on WhatsApp by +{BOB_PN}"
                ));
            out |= r == bobs_room
                && e["type"] == "m.room.member"
                && e["state_key"] == alice_id.as_str()
                && e["content"]["membership"] == "leave";
            told && out
        })
        .await;
    assert!(bob.change_group_members(&bobs, "add", &[ALICE_PN]));
    let back = alice.wait_for_invite(WAIT).await;
    assert_eq!(back, bobs_room, "invited back into the same room");

    // She leaves the room: she leaves the group (the homeserver said she
    // had joined it: a declined invite leaves nothing, see the unit test of
    // `was_joined`); Bob's group stays hers.
    alice.leave(&room).await;
    eventually("Alice left the group", || !in_group(&ours, ALICE_PN)).await;
    assert!(in_group(&bobs, ALICE_PN));
    logged_in.bridge.stop().await;
}

/// Waits until `check` holds (polling), or panics naming `what`.
async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
