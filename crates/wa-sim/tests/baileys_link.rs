//! Baileys rc14 against the simulator: linking end to end (QR scanned by the
//! scripted phone, ADV signatures checked both ways, restart after 515, login
//! by Noise key, prekeys uploaded, logged out when the phone removes it), and
//! two Baileys clients chatting 1:1 through it (usync, prekey bundles, fan-out
//! routing, pkmsg then msg).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use support::baileys::{Baileys, baileys_dir};
use tokio::net::TcpListener;
use wa_sim::Sim;

#[tokio::test]
async fn baileys_links_logs_in_and_is_logged_out_by_the_phone() {
    let Some(dir) = baileys_dir() else { return };
    let sim = Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let phone = sim.account("15550001111");
    let mut baileys = Baileys::start(&dir, &sim);

    let qr = baileys.next(&[]).await;
    assert_eq!(qr["event"], "qr", "{qr}");
    let jid = phone.scan(qr["qr"].as_str().unwrap()).await.unwrap();
    assert_eq!(jid.to_string(), "15550001111:1@s.whatsapp.net");

    let restart = baileys.next(&["qr"]).await;
    assert_eq!(restart["event"], "restart", "{restart}");
    let open = baileys.next(&[]).await;
    assert_eq!(open["event"], "open", "{open}");
    assert_eq!(open["me"]["id"], "15550001111:1@s.whatsapp.net");
    let lid = phone.lid().unwrap();
    assert_eq!(open["me"]["lid"], format!("{}:1@lid", lid.user()));
    assert_eq!(phone.linked_devices(), vec![1]);
    // Baileys uploads its first batch (812) before it reports "open".
    assert_eq!(sim.prekey_count("15550001111", 1), 812);

    assert!(phone.remove_device(1).await);
    let closed = baileys.next(&[]).await;
    assert_eq!(closed["event"], "close", "{closed}");
    assert_eq!(closed["status"], 401, "{closed}");
    assert!(phone.linked_devices().is_empty());
}

#[tokio::test]
async fn a_stale_or_foreign_qr_is_refused() {
    let sim = Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let phone = sim.account("15550002222");
    assert_eq!(
        phone.scan("2@nope,AAAA,AAAA,AAAA").await,
        Err(wa_sim::ScanError::UnknownRef)
    );
    assert!(matches!(
        phone.scan("just text").await,
        Err(wa_sim::ScanError::BadQr(_))
    ));
}

#[tokio::test]
async fn two_baileys_clients_chat_one_to_one_through_the_simulator() {
    let Some(dir) = baileys_dir() else { return };
    let sim = Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let (alice_phone, bob_phone) = (sim.account("15550003333"), sim.account("15550004444"));
    let mut alice = Baileys::start(&dir, &sim);
    let mut bob = Baileys::start(&dir, &sim);
    alice.link(&alice_phone).await;
    bob.link(&bob_phone).await;

    // Alice writes first (pkmsg), Bob answers, Alice writes again (msg).
    let sent = alice.send("15550004444@s.whatsapp.net", "hello bob").await;
    let got = bob.incoming().await;
    assert_eq!(
        (got["text"].as_str(), got["id"].as_str()),
        (Some("hello bob"), sent.as_deref())
    );
    assert_eq!(got["chat"], "15550003333@s.whatsapp.net");

    bob.send("15550003333@s.whatsapp.net", "hi alice").await;
    assert_eq!(alice.incoming().await["text"], "hi alice");

    alice.send("15550004444@s.whatsapp.net", "second").await;
    assert_eq!(bob.incoming().await["text"], "second");

    // What the server saw: Alice -> Bob's companion started with pkmsg and,
    // once Bob had answered, went on with msg.
    let to_bob: Vec<String> = sim
        .routed()
        .into_iter()
        .filter(|r| {
            r.from.user() == "15550003333" && r.to.to_string() == "15550004444:1@s.whatsapp.net"
        })
        .map(|r| r.enc_type)
        .collect();
    assert_eq!(to_bob, vec!["pkmsg", "msg"], "enc types Alice -> Bob");
    // Client fan-out reached both phones, which read everything: the peer's
    // messages and their own companion's sent copies.
    let texts = |got: Vec<wa_sim::Received>| {
        let mut t: Vec<(bool, String)> = got
            .into_iter()
            .map(|r| (r.from_me, r.text.unwrap_or_default()))
            .collect();
        t.sort();
        t
    };
    let bob_saw = texts(bob_phone.wait_received(3, Duration::from_secs(10)).await);
    assert_eq!(
        bob_saw,
        vec![
            (false, "hello bob".to_owned()),
            (false, "second".to_owned()),
            (true, "hi alice".to_owned())
        ]
    );
    let alice_saw = texts(alice_phone.wait_received(3, Duration::from_secs(10)).await);
    assert_eq!(
        alice_saw,
        vec![
            (false, "hi alice".to_owned()),
            (true, "hello bob".to_owned()),
            (true, "second".to_owned())
        ]
    );
}

#[tokio::test]
async fn a_scripted_phone_and_baileys_chat_both_ways() {
    let Some(dir) = baileys_dir() else { return };
    let sim = Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let carol = sim.account("15550005555");
    let dave_phone = sim.account("15550006666");
    let mut dave = Baileys::start(&dir, &sim);
    dave.link(&dave_phone).await;

    // Baileys -> a phone: the phone decrypts it (pkmsg from a fetched bundle),
    // and Dave's own phone decrypts its sent-message copy.
    let id = dave.send("15550005555@s.whatsapp.net", "hi carol").await;
    let got = carol.wait_received(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].text.as_deref(), Some("hi carol"));
    assert_eq!(got[0].id, id.clone().unwrap());
    assert_eq!(got[0].from.to_string(), "15550006666:1@s.whatsapp.net");
    assert!(!got[0].from_me);
    let copy = dave_phone.wait_received(1, Duration::from_secs(10)).await;
    assert_eq!(copy.len(), 1, "{copy:?}");
    assert!(copy[0].from_me);
    assert_eq!(copy[0].chat.to_string(), "15550005555@s.whatsapp.net");
    assert_eq!(copy[0].text.as_deref(), Some("hi carol"));

    // A phone -> Baileys, then again (the session is answered now: msg).
    let id = carol.send_text("15550006666", "hello dave").await.unwrap();
    let got = dave.incoming().await;
    assert_eq!(got["text"], "hello dave");
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["chat"], "15550005555@s.whatsapp.net");
    carol.send_text("15550006666", "again").await.unwrap();
    assert_eq!(dave.incoming().await["text"], "again");
    let carol_to_dave: Vec<String> = sim
        .routed()
        .into_iter()
        .filter(|r| r.from.to_string() == "15550005555@s.whatsapp.net" && r.to.device() == 1)
        .map(|r| r.enc_type)
        .collect();
    assert_eq!(
        carol_to_dave,
        vec!["msg", "msg"],
        "Carol answers Dave's session"
    );
}

#[tokio::test]
async fn three_baileys_clients_chat_in_a_group() {
    let Some(dir) = baileys_dir() else { return };
    let sim = Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let pns = ["15550007777", "15550008888", "15550009999"];
    let mut clients = Vec::new();
    for pn in pns {
        let mut b = Baileys::start(&dir, &sim);
        b.link(&sim.account(pn)).await;
        clients.push(b);
    }
    let [a, b, c] = &mut clients[..] else {
        unreachable!()
    };

    a.command(serde_json::json!({
        "cmd": "group-create",
        "subject": "trio",
        "participants": [format!("{}@s.whatsapp.net", pns[1]), format!("{}@s.whatsapp.net", pns[2])],
    }))
    .await;
    let group = a.next(&["message"]).await;
    assert_eq!(group["event"], "group", "{group}");
    assert_eq!(group["subject"], "trio");
    let members: Vec<String> = pns.iter().map(|p| format!("{p}@s.whatsapp.net")).collect();
    assert_eq!(group["participants"], serde_json::json!(members));
    let gid = group["id"].as_str().unwrap().to_owned();
    assert!(gid.ends_with("@g.us"), "{gid}");

    a.send(&gid, "hello group").await;
    for peer in [&mut *b, &mut *c] {
        let got = peer.incoming().await;
        assert_eq!(got["chat"], gid.as_str());
        assert_eq!(got["text"], "hello group");
        assert_eq!(got["participant"], format!("{}@s.whatsapp.net", pns[0]));
    }
    b.send(&gid, "reply from b").await;
    for peer in [&mut *a, &mut *c] {
        let got = peer.incoming().await;
        assert_eq!(
            (got["chat"].as_str(), got["text"].as_str()),
            (Some(gid.as_str()), Some("reply from b"))
        );
    }
    a.send(&gid, "second").await;
    assert_eq!(b.incoming().await["text"], "second");
    assert_eq!(c.incoming().await["text"], "second");

    // A's first message carried the sender key to B's companion pairwise
    // (pkmsg) next to the skmsg; the second one needed only the skmsg.
    let a_to_b: Vec<String> = sim
        .routed()
        .into_iter()
        .filter(|r| {
            r.from.user() == pns[0] && r.to.to_string() == format!("{}:1@s.whatsapp.net", pns[1])
        })
        .map(|r| r.enc_type)
        .collect();
    assert_eq!(a_to_b, vec!["pkmsg", "skmsg", "skmsg"]);
}

#[tokio::test]
async fn scripted_phones_and_baileys_chat_in_a_group_with_sender_keys() {
    let Some(dir) = baileys_dir() else { return };
    let sim = Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let (a_pn, b_pn, p_pn) = ("15550011111", "15550022222", "15550033333");
    let a_phone = sim.account(a_pn);
    let pat = sim.account(p_pn); // a phone with no companions
    let mut a = Baileys::start(&dir, &sim);
    a.link(&a_phone).await;
    let mut b = Baileys::start(&dir, &sim);
    b.link(&sim.account(b_pn)).await;

    a.command(serde_json::json!({
        "cmd": "group-create",
        "subject": "mixed",
        "participants": [format!("{b_pn}@s.whatsapp.net"), format!("{p_pn}@s.whatsapp.net")],
    }))
    .await;
    let group = a.expect("group", &["message"]).await;
    let gid: wa_core::jid::Jid = group["id"].as_str().unwrap().parse().unwrap();

    // Baileys -> group: the phone member and A's own phone read it.
    let id = a.send(&gid.to_string(), "hi all").await.unwrap();
    assert_eq!(b.incoming().await["text"], "hi all");
    let got = pat.wait_received(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        (got[0].id.as_str(), got[0].text.as_deref()),
        (id.as_str(), Some("hi all"))
    );
    assert_eq!(got[0].chat, gid);
    assert_eq!(got[0].from.to_string(), format!("{a_pn}:1@s.whatsapp.net"));
    let own = a_phone.wait_received(1, Duration::from_secs(10)).await;
    assert_eq!(
        own.first().and_then(|r| r.text.as_deref()),
        Some("hi all"),
        "{own:?}"
    );

    // A phone -> group, twice: the second needs no new sender key.
    let id = pat.send_group_text(&gid, "phone here").await.unwrap();
    for peer in [&mut a, &mut b] {
        let got = peer.incoming().await;
        assert_eq!(
            (got["text"].as_str(), got["id"].as_str()),
            (Some("phone here"), Some(id.as_str()))
        );
        assert_eq!(got["participant"], format!("{p_pn}@s.whatsapp.net"));
    }
    pat.send_group_text(&gid, "and again").await.unwrap();
    assert_eq!(a.incoming().await["text"], "and again");
    assert_eq!(b.incoming().await["text"], "and again");
    let to_a: Vec<String> = sim
        .routed()
        .into_iter()
        .filter(|r| r.from.user() == p_pn && r.to.to_string() == format!("{a_pn}:1@s.whatsapp.net"))
        .map(|r| r.enc_type)
        .collect();
    assert_eq!(
        to_a,
        vec!["msg", "skmsg", "skmsg"],
        "key once (A had a session), then skmsg"
    );
}

#[tokio::test]
async fn baileys_as_a_fifth_companion_is_refused() {
    let Some(dir) = baileys_dir() else { return };
    let sim = Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let phone = sim.account("15550044444");
    for _ in 0..4 {
        support::link(&sim, &phone, &mut support::Device::new())
            .await
            .unwrap();
    }
    let mut fifth = Baileys::start(&dir, &sim);
    let qr = fifth.expect("qr", &[]).await;
    assert_eq!(
        phone.scan(qr["qr"].as_str().unwrap()).await,
        Err(wa_sim::ScanError::TooManyDevices)
    );
    assert_eq!(phone.linked_devices(), vec![1, 2, 3, 4]);
}
