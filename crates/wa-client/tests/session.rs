//! The companion's session start against wa-sim: the privacy settings,
//! blocklist and props it reads and acts on, the prekey digest check, and
//! trusted-contact privacy tokens (kept, sent, issued; 463 without one).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use wa_client::store::{DeviceStore, LidStore, PrivacyTokenStore};
use wa_client::{ClientEvent, MemberChange, SendError};
use wa_core::jid::Jid;
use wa_sim::{HistoryScript, ScriptChat, Sender};

#[path = "support/companion.rs"]
mod companion;
use companion::{next_message, paired, sim, start, stop, wait_for};

/// Polls `probe` every 50 ms for up to 10 s.
async fn eventually(what: &str, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !probe() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn session_start_reads_privacy_and_blocklist_and_acts_on_them() {
    let sim = sim().await;
    let mine = sim.account("15554449000");
    let bob = sim.account("15554449001");
    let carol = sim.account("15554449002");
    let store = paired(&sim, &mine).await;

    // While the companion is away Bob writes; then the user blocks him and
    // turns read receipts off on the phone. The server already holds Bob's
    // message for the companion, so only the client can keep it out.
    bob.send_text("15554449000", "let me in").await.unwrap();
    mine.set_blocked("15554449001", true);
    mine.set_privacy("readreceipts", "none");
    let (client, mut events) = start(&sim, &store).await;

    let info = client.session_info();
    assert!(info.read_receipts_off(), "{info:?}");
    assert!(info.is_blocked(&Jid::user_jid("15554449001")));
    assert!(!info.is_blocked(&Jid::user_jid("15554449002")));
    assert_eq!(info.props.get("10518").map(String::as_str), Some("true"));
    assert!(!info.prekeys_reuploaded, "the digest matched the upload");

    // Bob's queued message is dropped; Carol's, sent after, comes first.
    let from_carol = carol.send_text("15554449000", "hello").await.unwrap();
    let m = next_message(&mut events).await;
    assert_eq!(m.id, from_carol, "bob's message was not bridged");

    // Read receipts off: `read-self`, which the server keeps from Carol.
    // The chat state sent after it shows what Carol would have got by then.
    let carol_jid = Jid::user_jid("15554449002");
    client
        .mark_read(&carol_jid, None, std::slice::from_ref(&from_carol))
        .await
        .unwrap();
    client
        .send_chat_state(&carol_jid, wa_client::ChatState::Composing)
        .await
        .unwrap();
    eventually("carol sees the chat state", || {
        !carol.chat_states().is_empty()
    })
    .await;
    assert!(
        carol.read_receipts().is_empty(),
        "{:?}",
        carol.read_receipts()
    );

    // Read receipts on again: after the next login Carol sees blue ticks.
    mine.set_privacy("readreceipts", "all");
    assert!(sim.cut("15554449000", client.jid().device()));
    wait_for(&mut events, |e| {
        matches!(e, ClientEvent::Connected).then_some(())
    })
    .await;
    assert!(!client.session_info().read_receipts_off());
    client
        .mark_read(&carol_jid, None, std::slice::from_ref(&from_carol))
        .await
        .unwrap();
    eventually("carol sees the read receipt", || {
        !carol.read_receipts().is_empty()
    })
    .await;
    assert_eq!(carol.read_receipts()[0].ids, vec![from_carol]);
    stop(client, events).await;
}

#[tokio::test]
async fn privacy_tokens_are_kept_sent_and_issued() {
    let sim = sim().await;
    sim.record_stanzas();
    let mine = sim.account("15554449200");
    let bob = sim.account("15554449201");
    let store = paired(&sim, &mine).await;
    let (client, mut events) = start(&sim, &store).await;
    let bob_jid = Jid::user_jid("15554449201");
    sim.restrict_reachout("15554449200", true);

    // Restricted, and Bob never wrote: the server refuses with 463, and the
    // error says what that means.
    let refused = client.send_text(&bob_jid, "hi bob").await.unwrap_err();
    let SendError::Refused(why) = &refused else {
        panic!("expected a refusal, got {refused:?}");
    };
    assert!(
        why.starts_with("463 (") && why.contains("privacy token"),
        "{why}"
    );

    // Bob writes: his phone gives us its token, which the client keeps and
    // sends with the next message, which now passes.
    bob.send_text("15554449200", "hello there").await.unwrap();
    next_message(&mut events).await;
    let lid = store.lid_for_pn("15554449201").await.unwrap().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while store
        .privacy_token(&format!("{lid}@lid"))
        .await
        .unwrap()
        .is_none()
    {
        assert!(Instant::now() < deadline, "bob's token is kept");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent = client.send_text(&bob_jid, "hi again").await.unwrap();
    let got = bob.wait_received(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].id, sent.id);

    // Following Bob's presence carries his token too.
    assert!(!sim.presence_subscribed_with_token("15554449200", "15554449201"));
    client.subscribe_presence(&bob_jid).await.unwrap();
    eventually("the subscription carries the token", || {
        sim.presence_subscribed_with_token("15554449200", "15554449201")
    })
    .await;

    // And our own token went to Bob after we wrote to him.
    eventually("our token is issued", || {
        sim.has_issued_token("15554449200", "15554449201")
    })
    .await;

    // A group with Bob names him with his token (whatsmeow `CreateGroup`).
    let device = client.jid().device();
    client
        .create_group("with bob", std::slice::from_ref(&bob_jid))
        .await
        .unwrap();
    let bobs = sim.issued_token("15554449201", "15554449200").unwrap();
    let create = sim
        .stanzas_sent("15554449200", device)
        .into_iter()
        .rev()
        .find_map(|n| n.child("create").cloned())
        .expect("the create IQ");
    let member = create.child("participant").expect("Bob");
    assert_eq!(
        member.child("privacy").and_then(|p| p.content_bytes()),
        Some(&bobs[..])
    );

    // Bob reinstalls: we give him our token again (whatsmeow
    // `notification.go`), so his new install holds it.
    let ours = sim.issued_token("15554449200", "15554449201").unwrap();
    sim.notify_identity_change("15554449201", "15554449200");
    eventually("our token is given again", || {
        sim.issued_token("15554449200", "15554449201") != Some(ours.clone())
    })
    .await;
    stop(client, events).await;
}

/// A token the contact gave us before this companion existed comes with
/// the history (whatsmeow `handleHistorySync`): kept, it lets the first
/// message through a reach-out restriction without waiting for a new one.
#[tokio::test]
async fn a_privacy_token_from_history_is_kept_and_sent() {
    let sim = sim().await;
    let mine = sim.account("15554449400");
    let bob = sim.account("15554449401");
    sim.restrict_reachout("15554449400", true);
    // Bob wrote to the phone once: the server gave us his token then.
    bob.send_text("15554449400", "hello from before")
        .await
        .unwrap();
    let token = sim
        .issued_token("15554449401", "15554449400")
        .expect("Bob's phone gave its token");
    let given_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    mine.set_history(
        HistoryScript::new().chat(
            ScriptChat::direct("15554449401")
                .text(
                    Sender::Pn("15554449401".into()),
                    "hello from before",
                    given_at,
                )
                .privacy_token(token.clone(), given_at),
        ),
    );
    let store = paired(&sim, &mine).await;
    let (client, mut events) = start(&sim, &store).await;
    let lid = store.lid_for_pn("15554449401").await.unwrap();
    assert!(
        store
            .privacy_token(&format!("{}@lid", lid.clone().unwrap_or_default()))
            .await
            .unwrap()
            .is_none()
    );
    mine.send_history(client.jid().device()).await.unwrap();
    let notice = wait_for(&mut events, |e| match e {
        ClientEvent::HistorySync(n) => Some((**n).clone()),
        _ => None,
    })
    .await;
    client.history_sync(&notice.notification).await.unwrap();
    let key = match store.lid_for_pn("15554449401").await.unwrap() {
        Some(lid) => format!("{lid}@lid"),
        None => "15554449401@s.whatsapp.net".to_owned(),
    };
    let kept = store.privacy_token(&key).await.unwrap().expect("kept");
    assert_eq!((kept.token, kept.timestamp), (token, given_at));
    // Restricted, we never got a token notification on this companion:
    // only the one from history lets the message through.
    let sent = client
        .send_text(&Jid::user_jid("15554449401"), "hi bob")
        .await
        .unwrap();
    let got = bob.wait_received(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].id, sent.id);
    stop(client, events).await;
}

/// The privacy-token props of the server steer what the client does
/// (Baileys rc14 `Socket/chats.js`): 14303 names whom our token is issued
/// to (the phone number by default, the LID when on); 10518 off keeps the
/// contact's token off our 1:1 messages.
#[tokio::test]
async fn the_servers_props_steer_privacy_tokens() {
    let sim = sim().await;
    sim.record_stanzas();
    let mine = sim.account("15554449600");
    let bob = sim.account("15554449601");
    sim.account("15554449602");
    sim.restrict_reachout("15554449600", true);
    let store = paired(&sim, &mine).await;
    let (client, mut events) = start(&sim, &store).await;
    let device = client.jid().device();
    let sent_by_us = |sim: &wa_sim::Sim| sim.stanzas_sent("15554449600", device);
    let issued_to = |stanzas: &[wa_core::binary::Node]| -> Vec<String> {
        stanzas
            .iter()
            .filter(|n| n.tag == "iq" && n.attr_str("xmlns") == Some("privacy"))
            .filter_map(|n| n.child("tokens")?.child("token")?.attr_jid("jid"))
            .map(Jid::to_string)
            .collect()
    };
    let message = |stanzas: &[wa_core::binary::Node], id: &str| {
        stanzas
            .iter()
            .find(|n| n.tag == "message" && n.attr_str("id") == Some(id))
            .cloned()
            .expect("our message")
    };

    // Default props: Bob's token rides on our message; ours goes to his
    // phone number.
    bob.send_text("15554449600", "hello there").await.unwrap();
    next_message(&mut events).await;
    let bob_lid = bob.lid().unwrap().to_non_ad();
    let deadline = Instant::now() + Duration::from_secs(10);
    while store
        .privacy_token(&bob_lid.to_string())
        .await
        .unwrap()
        .is_none()
    {
        assert!(Instant::now() < deadline, "bob's token is kept");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bob_jid = Jid::user_jid("15554449601");
    let sent = client.send_text(&bob_jid, "hi bob").await.unwrap();
    assert!(
        message(&sent_by_us(&sim), &sent.id)
            .child("tctoken")
            .is_some()
    );
    eventually("our token is issued to bob", || {
        sim.has_issued_token("15554449600", "15554449601")
    })
    .await;
    assert_eq!(issued_to(&sent_by_us(&sim)), ["15554449601@s.whatsapp.net"]);
    stop(client, events).await;

    // The server turns both props (and lifts the restriction, which would
    // refuse a message without a token): tokens stay off 1:1 messages
    // (Bob's is still held and good), and ours is issued to the LID.
    sim.restrict_reachout("15554449600", false);
    sim.set_prop("10518", Some("false"));
    sim.set_prop("14303", Some("true"));
    let (client, events) = start(&sim, &store).await;
    assert!(!client.session_info().tokens_on_one_to_one());
    let held = store.privacy_token(&bob_lid.to_string()).await.unwrap();
    assert!(held.is_some(), "bob's token is still held");
    let carol_jid = Jid::user_jid("15554449602");
    let to_carol = client.send_text(&carol_jid, "hi carol").await.unwrap();
    let to_bob = client.send_text(&bob_jid, "hi again").await.unwrap();
    assert!(
        message(&sent_by_us(&sim), &to_bob.id)
            .child("tctoken")
            .is_none()
    );
    assert!(
        message(&sent_by_us(&sim), &to_carol.id)
            .child("tctoken")
            .is_none()
    );
    let carol_lid = sim.account("15554449602").lid().unwrap().to_non_ad();
    eventually("our token is issued to carol's LID", || {
        issued_to(&sent_by_us(&sim)).contains(&carol_lid.to_string())
    })
    .await;
    stop(client, events).await;
}

/// A group's subject and description set, the description removed
/// (whatsmeow `SetGroupName`, `SetGroupTopic`), then the group left
/// (`LeaveGroup`); a group we are not in refuses.
#[tokio::test]
async fn a_group_is_renamed_described_undescribed_and_left() {
    let sim = sim().await;
    let mine = sim.account("15554449710");
    sim.account("15554449711");
    let store = paired(&sim, &mine).await;
    let (client, _events) = start(&sim, &store).await;
    let group = client
        .create_group("before", &[Jid::user_jid("15554449711")])
        .await
        .unwrap()
        .jid;
    client.set_group_subject(&group, "after").await.unwrap();
    client
        .set_group_description(&group, Some("what it is for"))
        .await
        .unwrap();
    let info = client.group_info(&group).await.unwrap();
    assert_eq!(info.subject, "after");
    assert_eq!(info.description.as_deref(), Some("what it is for"));
    let first_id = info.description_id.clone();
    assert!(first_id.is_some(), "{info:?}");
    client.set_group_description(&group, None).await.unwrap();
    let info = client.group_info(&group).await.unwrap();
    assert_eq!(info.description, None, "removed");
    let outsider = Jid::new("120363000000000001".to_owned(), wa_core::jid::Server::Group);
    assert!(
        client.set_group_subject(&outsider, "x").await.is_err(),
        "a group that does not exist refuses"
    );
    client.leave_group(&group).await.unwrap();
    assert!(
        client.group_info(&group).await.is_err(),
        "a group left is no longer ours to read"
    );
    let members = sim.group_members(&group).unwrap();
    assert!(!members.contains_key("15554449710"), "{members:?}");
    assert!(members.contains_key("15554449711"), "{members:?}");
}

/// Member changes of a group: an add carries the member's privacy token
/// when we hold one (whatsmeow `UpdateGroupParticipants`), and what the
/// server refuses comes back per member with its code (and the invite it
/// made instead), never as a silent success.
#[tokio::test]
async fn member_changes_carry_tokens_and_report_refusals() {
    let sim = sim().await;
    sim.record_stanzas();
    let mine = sim.account("15554449700");
    let bob = sim.account("15554449701");
    let carol = sim.account("15554449702");
    sim.account("15554449703");
    // Bob lets only contacts add him (in wa-sim: who holds his token);
    // Carol lets nobody. Token notifications reach restricted accounts.
    bob.set_privacy("groupadd", "contacts");
    carol.set_privacy("groupadd", "none");
    sim.restrict_reachout("15554449700", true);
    let store = paired(&sim, &mine).await;
    let (client, mut events) = start(&sim, &store).await;
    let device = client.jid().device();
    let (bob_jid, carol_jid, dave_jid) = (
        Jid::user_jid("15554449701"),
        Jid::user_jid("15554449702"),
        Jid::user_jid("15554449703"),
    );
    let group = client
        .create_group("members", std::slice::from_ref(&dave_jid))
        .await
        .unwrap()
        .jid;

    // Bob never wrote: no token, refused with an invite instead.
    let out = client
        .change_members(&group, MemberChange::Add, std::slice::from_ref(&bob_jid))
        .await
        .unwrap();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].error, Some(403));
    assert!(out[0].invite_code.is_some(), "{out:?}");

    // Bob writes; with his token the add passes, and the IQ carried it.
    bob.send_text("15554449700", "add me").await.unwrap();
    next_message(&mut events).await;
    let bob_lid = bob.lid().unwrap().to_non_ad().to_string();
    eventually_async("bob's token is kept", || async {
        store.privacy_token(&bob_lid).await.unwrap().is_some()
    })
    .await;
    let out = client
        .change_members(
            &group,
            MemberChange::Add,
            &[bob_jid.clone(), carol_jid.clone()],
        )
        .await
        .unwrap();
    let by_user = |user: &str| {
        out.iter()
            .find(|o| o.jid.user() == user)
            .unwrap_or_else(|| panic!("{user} answered: {out:?}"))
    };
    assert_eq!(by_user("15554449701").error, None);
    assert_eq!(by_user("15554449702").error, Some(403));
    let add = sim
        .stanzas_sent("15554449700", device)
        .into_iter()
        .rev()
        .find_map(|n| n.child("add").cloned())
        .expect("the add IQ");
    let bobs = sim.issued_token("15554449701", "15554449700").unwrap();
    let named = add
        .children_by_tag("participant")
        .find(|p| p.attr_jid("jid") == Some(&bob_jid))
        .expect("bob in the add");
    assert_eq!(
        named.child("privacy").and_then(|p| p.content_bytes()),
        Some(&bobs[..])
    );

    // Promote, demote and remove, each as the server then has it.
    let admin_of = |info: &wa_client::GroupInfo, jid: &Jid| info.admins.contains(jid);
    client
        .change_members(
            &group,
            MemberChange::Promote,
            std::slice::from_ref(&bob_jid),
        )
        .await
        .unwrap();
    assert!(admin_of(
        &client.group_info(&group).await.unwrap(),
        &bob_jid
    ));
    client
        .change_members(&group, MemberChange::Demote, std::slice::from_ref(&bob_jid))
        .await
        .unwrap();
    assert!(!admin_of(
        &client.group_info(&group).await.unwrap(),
        &bob_jid
    ));
    let out = client
        .remove_participants(&group, std::slice::from_ref(&dave_jid))
        .await
        .unwrap();
    assert_eq!(out[0].error, None, "{out:?}");
    let members = client.group_info(&group).await.unwrap().participants;
    assert!(members.contains(&bob_jid) && !members.contains(&dave_jid));
    // Removing someone who is not a member says so.
    let out = client
        .remove_participants(&group, std::slice::from_ref(&dave_jid))
        .await
        .unwrap();
    assert_eq!(out[0].error, Some(404), "{out:?}");
    stop(client, events).await;
}

/// Polls the async `probe` every 50 ms for up to 10 s.
async fn eventually_async<F: std::future::Future<Output = bool>>(
    what: &str,
    mut probe: impl FnMut() -> F,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !probe().await {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Without the contact's token, a 1:1 message carries a cstoken made with
/// the account's salt from app state (whatsmeow `generateCsToken`).
#[tokio::test]
async fn without_a_token_the_message_carries_a_cstoken_from_the_app_state_salt() {
    let sim = sim().await;
    sim.record_stanzas();
    let mine = sim.account("15554449500");
    let bob = sim.account("15554449501");
    mine.set_history(HistoryScript::new());
    let store = paired(&sim, &mine).await;
    let (client, events) = start(&sim, &store).await;
    let device = client.jid().device();
    let salt = vec![0x5a; 32];
    mine.set_nct_salt(salt.clone()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.load().await.unwrap().unwrap().nct_salt.as_deref() != Some(&salt[..]) {
        assert!(Instant::now() < deadline, "the salt is kept");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent = client
        .send_text(&Jid::user_jid("15554449501"), "hi bob")
        .await
        .unwrap();
    let stanza = sim
        .stanzas_sent("15554449500", device)
        .into_iter()
        .find(|n| n.tag == "message" && n.attr_str("id") == Some(sent.id.as_str()))
        .expect("our message");
    let bob_lid = bob.lid().unwrap().to_non_ad().to_string();
    assert_eq!(
        stanza.child("cstoken").and_then(|c| c.content_bytes()),
        Some(&wa_core::cstoken::cstoken(&salt, &bob_lid)[..])
    );
    assert!(stanza.child("tctoken").is_none());
    stop(client, events).await;
}

#[tokio::test]
async fn a_prekey_digest_mismatch_uploads_fresh_prekeys() {
    let sim = sim().await;
    let mine = sim.account("15554449100");
    let store = paired(&sim, &mine).await;
    let (client, mut events) = start(&sim, &store).await;
    let device = client.jid().device();
    assert!(!client.session_info().prekeys_reuploaded);
    let before = sim.prekey_count("15554449100", device);

    assert!(sim.scramble_prekeys("15554449100", device));
    assert!(sim.cut("15554449100", device));
    wait_for(&mut events, |e| {
        matches!(e, ClientEvent::Connected).then_some(())
    })
    .await;
    assert!(client.session_info().prekeys_reuploaded);
    assert_eq!(
        sim.prekey_count("15554449100", device),
        before + wa_client::login::REFILL_PREKEY_COUNT as usize
    );
    stop(client, events).await;
}

#[tokio::test]
async fn going_online_waits_for_the_push_name_then_sends_the_unified_session() {
    let sim = sim().await;
    let mine = sim.account("15554449300");
    // The phone shares its app-state keys once the companion is active.
    mine.set_history(HistoryScript::new());
    let store = paired(&sim, &mine).await;
    let (client, events) = start(&sim, &store).await;
    let device = client.jid().device();
    // No push name yet: like whatsmeow and Baileys, nothing is sent.
    client.send_presence(true).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sim.unified_session("15554449300", device), None);
    assert_eq!(sim.presence("15554449300"), None);
    // The name comes through app state; the presence asked for follows.
    mine.set_push_name("Mine").await.unwrap();
    eventually("the unified session arrives", || {
        sim.unified_session("15554449300", device).is_some()
    })
    .await;
    eventually("the presence arrives", || {
        sim.presence("15554449300") == Some(true)
    })
    .await;
    let id: i64 = sim
        .unified_session("15554449300", device)
        .unwrap()
        .parse()
        .unwrap();
    // (now + 3 days) mod a week, in ms; the simulator's clock is ours.
    let week = 7 * 24 * 3600 * 1000;
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let expected = (now + 3 * 24 * 3600 * 1000) % week;
    let gap = (expected - id).rem_euclid(week);
    assert!(
        gap < 5_000 || gap > week - 5_000,
        "id {id}, expected about {expected}"
    );
    stop(client, events).await;
}

/// A contact lookup (whatsmeow `IsOnWhatsApp`): a number on WhatsApp comes
/// back with its phone JID and LID (kept as a mapping), one that is not
/// says so; both with the query as asked.
#[tokio::test]
async fn numbers_are_looked_up_on_whatsapp() {
    let sim = sim().await;
    let mine = sim.account("15554449720");
    let bob = sim.account("15554449721");
    let store = paired(&sim, &mine).await;
    let (client, _events) = start(&sim, &store).await;
    let answers = client
        .on_whatsapp(&["+15554449721", "15554449799"])
        .await
        .unwrap();
    assert_eq!(answers.len(), 2, "{answers:?}");
    let found = answers.iter().find(|a| a.query == "+15554449721").unwrap();
    assert!(found.is_in, "{found:?}");
    assert_eq!(found.phone, Some(Jid::user_jid("15554449721")));
    let bob_lid = bob.lid().unwrap().to_non_ad();
    assert_eq!(found.lid.as_ref(), Some(&bob_lid));
    let kept = client
        .lid_for_pn(&Jid::user_jid("15554449721"))
        .await
        .unwrap();
    assert_eq!(kept, Some(bob_lid), "the mapping is kept");
    let missing = answers.iter().find(|a| a.query == "+15554449799").unwrap();
    assert!(!missing.is_in && missing.phone.is_none(), "{missing:?}");
}
