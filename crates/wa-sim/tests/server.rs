//! The simulator's server behaviours, driven by our own companion code:
//! linking, login by Noise key, limits, removal, offline queues and bad input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;
use wa_client::{AuthError, Error};
use wa_core::binary::Node;
use wa_core::jid::Jid;
use wa_sim::ScanError;

use support::{Device, link, login, next_end, next_node, start_sim};

#[tokio::test]
async fn link_then_login_then_success_carries_the_lid() {
    let sim = start_sim().await;
    let phone = sim.account("15551110000");
    let mut device = Device::new();
    let jid = link(&sim, &phone, &mut device).await.unwrap();
    assert_eq!(jid.to_string(), "15551110000:1@s.whatsapp.net");
    let (_conn, mut events, success) = login(&sim, &device).await;
    let lid = success.attr_jid("lid").unwrap();
    assert_eq!(
        lid.to_string(),
        format!("{}:1@lid", phone.lid().unwrap().user())
    );
    // Nothing was waiting: the offline marker says 0.
    let ib = next_node(&mut events).await;
    assert_eq!(ib.child("offline").unwrap().attr_str("count"), Some("0"));
}

#[tokio::test]
async fn a_fifth_companion_is_refused() {
    let sim = start_sim().await;
    let phone = sim.account("15551110001");
    for _ in 0..4 {
        link(&sim, &phone, &mut Device::new()).await.unwrap();
    }
    assert_eq!(phone.linked_devices(), vec![1, 2, 3, 4]);
    let err = link(&sim, &phone, &mut Device::new()).await.unwrap_err();
    assert_eq!(err, ScanError::TooManyDevices);
}

#[tokio::test]
async fn login_with_another_noise_key_is_refused_with_401() {
    let sim = start_sim().await;
    let phone = sim.account("15551110002");
    let mut device = Device::new();
    link(&sim, &phone, &mut device).await.unwrap();
    let mut impostor = Device::new();
    impostor.jid = device.jid.clone();
    let (_conn, mut events) = wa_client::connect(
        &support::options(&sim),
        &impostor.noise,
        &impostor.login_payload(),
    )
    .await
    .unwrap();
    assert!(matches!(
        next_end(&mut events).await,
        Error::Auth(AuthError::LoggedOut)
    ));
}

#[tokio::test]
async fn removal_logs_out_the_live_connection_and_later_logins() {
    let sim = start_sim().await;
    let phone = sim.account("15551110003");
    let mut device = Device::new();
    link(&sim, &phone, &mut device).await.unwrap();
    let (_conn, mut events, _) = login(&sim, &device).await;
    assert!(phone.remove_device(1).await);
    assert!(matches!(
        next_end(&mut events).await,
        Error::Auth(AuthError::LoggedOut)
    ));
    let (_conn, mut events) = wa_client::connect(
        &support::options(&sim),
        &device.noise,
        &device.login_payload(),
    )
    .await
    .unwrap();
    assert!(matches!(
        next_end(&mut events).await,
        Error::Auth(AuthError::LoggedOut)
    ));
}

#[tokio::test]
async fn unknown_iqs_get_501_and_pings_are_answered() {
    let sim = start_sim().await;
    let phone = sim.account("15551110004");
    let mut device = Device::new();
    link(&sim, &phone, &mut device).await.unwrap();
    let (conn, _events, _) = login(&sim, &device).await;
    let err = conn
        .iq(Node::new("iq")
            .attr("to", Jid::server_jid())
            .attr("type", "get")
            .attr("xmlns", "no:such:thing"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Iq { code: 501, .. }), "{err:?}");
    let pong = conn
        .iq(Node::new("iq")
            .attr("to", Jid::server_jid())
            .attr("type", "get")
            .attr("xmlns", "w:p")
            .children(vec![Node::new("ping")]))
        .await
        .unwrap();
    assert_eq!(pong.attr_str("type"), Some("result"));
}

#[tokio::test]
async fn messages_to_an_offline_device_wait_for_its_next_login() {
    let sim = start_sim().await;
    let alice = sim.account("15551110005");
    let bob = sim.account("15551110006");
    let mut device = Device::new();
    link(&sim, &bob, &mut device).await.unwrap();
    // Bob's companion is offline: the phone's message is queued for it.
    let id = alice
        .send_text("15551110006", "while you were away")
        .await
        .unwrap();
    assert_eq!(sim.queued("15551110006", 1), 1);
    let (_conn, mut events, _) = login(&sim, &device).await;
    let msg = next_node(&mut events).await;
    assert_eq!(msg.tag, "message", "{msg}");
    assert_eq!(msg.attr_str("id"), Some(id.as_str()));
    assert_eq!(
        msg.attr_jid("from").unwrap().to_string(),
        "15551110005@s.whatsapp.net"
    );
    assert_eq!(msg.child("enc").unwrap().attr_str("type"), Some("pkmsg"));
    let ib = next_node(&mut events).await;
    assert_eq!(ib.child("offline").unwrap().attr_str("count"), Some("1"));
    assert_eq!(sim.queued("15551110006", 1), 0);
}

#[tokio::test]
async fn a_message_without_recipient_is_refused_and_unknown_devices_are_skipped() {
    let sim = start_sim().await;
    let phone = sim.account("15551110007");
    let mut device = Device::new();
    link(&sim, &phone, &mut device).await.unwrap();
    let (conn, mut events, _) = login(&sim, &device).await;
    let _ib = next_node(&mut events).await;
    conn.send(&Node::new("message").attr("id", "X1").attr("type", "text"))
        .await
        .unwrap();
    let ack = next_node(&mut events).await;
    assert_eq!(
        (ack.tag.as_ref(), ack.attr_str("error")),
        ("ack", Some("400"))
    );
    let stray = Node::new("message")
        .attr("id", "X2")
        .attr("to", Jid::user_jid("19999999999"))
        .attr("type", "text")
        .children(vec![Node::new("participants").children(vec![
                Node::new("to")
                    .attr(
                        "jid",
                        "19999999999:3@s.whatsapp.net".parse::<Jid>().unwrap(),
                    )
                    .children(vec![
                        Node::new("enc")
                            .attr("v", "2")
                            .attr("type", "msg")
                            .bytes(vec![1, 2, 3]),
                    ]),
            ])]);
    conn.send(&stray).await.unwrap();
    let ack = next_node(&mut events).await;
    assert_eq!((ack.tag.as_ref(), ack.attr_str("id")), ("ack", Some("X2")));
    assert!(
        sim.routed().is_empty(),
        "nothing routed to a device that does not exist"
    );
}

#[tokio::test]
async fn garbage_on_the_socket_closes_that_connection_only() {
    let sim = start_sim().await;
    for garbage in [
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        [&b"WA\x06\x03"[..], &[0, 0, 5], b"junk!"].concat(),
        [&b"WA\x06\x03"[..], &[0, 0, 2], &[0xff, 0xff]].concat(),
    ] {
        let (mut ws, _) = tokio_tungstenite::connect_async(sim.url()).await.unwrap();
        ws.send(Message::Binary(garbage.into())).await.unwrap();
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            use futures_util::StreamExt;
            loop {
                match ws.next().await {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the server hung up on garbage");
    }
    // The server still serves everyone else.
    let phone = sim.account("15551110008");
    link(&sim, &phone, &mut Device::new()).await.unwrap();
}

#[tokio::test]
async fn the_sender_gets_delivery_and_read_receipts_from_a_phone() {
    use prost::Message as _;
    use wa_core::signal::{self, MemoryStore, PreKeyBundle, SignalAddress};

    let sim = start_sim().await;
    let bob = sim.account("15551110009");
    let phone = sim.account("15551110010");
    let mut device = Device::new();
    link(&sim, &phone, &mut device).await.unwrap();
    let (conn, mut events, _) = login(&sim, &device).await;
    let _ib = next_node(&mut events).await;

    // The companion encrypts to Bob's phone from its fetched bundle.
    let bob_phone: Jid = "15551110009@s.whatsapp.net".parse().unwrap();
    let answer = conn
        .iq(Node::new("iq")
            .attr("to", Jid::server_jid())
            .attr("type", "get")
            .attr("xmlns", "encrypt")
            .children(vec![
                Node::new("key").children(vec![Node::new("user").attr("jid", bob_phone.clone())]),
            ]))
        .await
        .unwrap();
    let user = answer.child("list").unwrap().child("user").unwrap();
    let bytes = |n: &Node, tag: &str| n.child(tag).unwrap().content_bytes().unwrap().to_vec();
    let skey = user.child("skey").unwrap();
    let key = user.child("key").unwrap();
    let bundle = PreKeyBundle {
        registration: bytes(user, "registration"),
        key_type: bytes(user, "type"),
        identity: bytes(user, "identity"),
        signed_prekey: signal::BundleSignedPreKey {
            id: bytes(skey, "id"),
            value: bytes(skey, "value"),
            signature: bytes(skey, "signature"),
        },
        prekey: Some(signal::BundlePreKey {
            id: bytes(key, "id"),
            value: bytes(key, "value"),
        }),
    };
    let mut store = MemoryStore::new(&device.identity, device.registration_id).unwrap();
    let bob_lid = bob.lid().unwrap();
    let address = SignalAddress::from_jid(&bob_lid).unwrap();
    let mut rng = rand::make_rng::<rand::rngs::StdRng>();
    signal::process_prekey_bundle(&mut store, &address, &bundle, &mut rng)
        .await
        .unwrap();
    let text = wa_core::proto::Message {
        conversation: Some("read me".into()),
        ..Default::default()
    };
    let padded = signal::pad(&text.encode_to_vec(), 3);
    let (kind, ciphertext) = signal::encrypt(&mut store, &address, &padded)
        .await
        .unwrap();
    let message = Node::new("message")
        .attr("id", "3EB0RECEIPTS")
        .attr("to", Jid::user_jid("15551110009"))
        .attr("type", "text")
        .children(vec![Node::new("participants").children(vec![
            Node::new("to").attr("jid", bob_phone).children(vec![
                Node::new("enc").attr("v", "2").attr("type", kind.as_str()).bytes(ciphertext),
            ]),
        ])]);
    conn.send(&message).await.unwrap();
    let ack = next_node(&mut events).await;
    assert_eq!(
        (ack.tag.as_ref(), ack.attr_str("id")),
        ("ack", Some("3EB0RECEIPTS"))
    );

    // Bob's phone decrypts it and sends a delivery receipt to our device.
    let got = bob.wait_received(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].text.as_deref(), Some("read me"));
    let delivered = next_node(&mut events).await;
    assert_eq!(delivered.tag, "receipt", "{delivered}");
    assert_eq!(delivered.attr_str("id"), Some("3EB0RECEIPTS"));
    assert_eq!(delivered.attr_str("type"), None);
    assert_eq!(
        delivered.attr_jid("from").unwrap().to_string(),
        "15551110009@s.whatsapp.net"
    );

    // When Bob reads it, a read receipt follows.
    assert_eq!(bob.mark_read(&["3EB0RECEIPTS"]), 1);
    let read = next_node(&mut events).await;
    assert_eq!(
        (read.tag.as_ref(), read.attr_str("type")),
        ("receipt", Some("read"))
    );
    assert_eq!(read.attr_str("id"), Some("3EB0RECEIPTS"));
}

#[tokio::test]
async fn refs_expire_one_after_another() {
    let sim = start_sim().await;
    sim.set_ref_lifetimes(Duration::from_secs(1), Duration::from_secs(2));
    let phone = sim.account("15551110011");
    let device = Device::new();
    let (_conn, mut events) = wa_client::connect(
        &support::options(&sim),
        &device.noise,
        &device.registration_payload(),
    )
    .await
    .unwrap();
    let pair_device = next_node(&mut events).await;
    let refs: Vec<String> = pair_device
        .child("pair-device")
        .unwrap()
        .children_by_tag("ref")
        .map(|r| String::from_utf8(r.content_bytes().unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(refs.len(), 6);
    let qr = |r: &str| {
        use base64::Engine;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        format!(
            "{r},{},{},{}",
            b64(device.noise.public()),
            b64(device.identity.public()),
            b64(&device.adv_secret)
        )
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The first ref lived 1 s; the second lives until 3 s.
    assert_eq!(phone.scan(&qr(&refs[0])).await, Err(ScanError::ExpiredRef));
    let second = tokio::spawn({
        let phone = phone.clone();
        let qr = qr(&refs[1]);
        async move { phone.scan(&qr).await }
    });
    let success = next_node(&mut events).await;
    assert!(success.child("pair-success").is_some(), "{success}");
    second.abort();
}

/// What the server says to a payload sent with Noise key `key`, as the
/// connection reports it.
async fn verdict(sim: &wa_sim::Sim, key: &wa_core::keys::KeyPair, payload: &[u8]) -> Error {
    let (_conn, mut events) = wa_client::connect(&support::options(sim), key, payload)
        .await
        .unwrap();
    next_end(&mut events).await
}

/// [`verdict`] for a payload from a fresh key.
async fn verdict_of(sim: &wa_sim::Sim, payload: &wa_core::proto::ClientPayload) -> Error {
    use prost::Message as _;
    let key = wa_core::keys::KeyPair::generate(&mut rand::rng());
    verdict(sim, &key, &payload.encode_to_vec()).await
}

#[tokio::test]
async fn a_payload_without_a_current_version_gets_405() {
    use wa_core::payload::Agent;
    let sim = start_sim().await;
    let phone = sim.account("15551110009");
    let mut device = Device::new();
    link(&sim, &phone, &mut device).await.unwrap();
    let jid = device.jid.clone().unwrap();
    let username: u64 = jid.user().parse().unwrap();

    // Registration and login with no user agent at all.
    let bare_login = wa_core::proto::ClientPayload {
        username: Some(username),
        device: Some(u32::from(jid.device())),
        passive: Some(true),
        pull: Some(true),
        ..Default::default()
    };
    let mut bare_registration = Agent::default().registration(&device.registration_keys());
    bare_registration.user_agent = None;
    for payload in [&bare_login, &bare_registration] {
        assert!(matches!(
            verdict_of(&sim, payload).await,
            Error::Auth(AuthError::ClientOutdated)
        ));
    }

    // A version older than the server's minimum, then the minimum raised
    // above the one we send: both outdated.
    let old = Agent {
        version: "2.2413.51".parse().unwrap(),
        ..Agent::default()
    };
    assert!(matches!(
        verdict_of(&sim, &old.login(username, u32::from(jid.device()))).await,
        Error::Auth(AuthError::ClientOutdated)
    ));
    let (_conn, _events, _success) = login(&sim, &device).await;
    sim.set_min_version("2.3000.2000000000".parse().unwrap());
    assert!(matches!(
        verdict(&sim, &device.noise, &device.login_payload()).await,
        Error::Auth(AuthError::ClientOutdated)
    ));
    assert_eq!(
        sim.registrations().len(),
        1,
        "refused registrations are not kept"
    );
}

#[tokio::test]
async fn a_registration_without_device_props_is_refused() {
    use wa_core::payload::Agent;
    let sim = start_sim().await;
    let device = Device::new();
    let mut registration = Agent::default().registration(&device.registration_keys());
    if let Some(data) = registration.device_pairing_data.as_mut() {
        data.device_props = None;
    }
    assert!(matches!(
        verdict_of(&sim, &registration).await,
        Error::Auth(AuthError::Other { code: 400, .. })
    ));
    assert!(sim.registrations().is_empty());
}

/// The next stanza that is not a notification (which may come any time).
async fn next_answer(events: &mut tokio::sync::mpsc::Receiver<wa_client::Event>) -> Node {
    loop {
        let node = next_node(events).await;
        if node.tag != "notification" {
            return node;
        }
    }
}

/// Clients name the devices of a message in the chat's addressing: LID
/// devices for a LID chat or group, phone-number devices otherwise. A mix
/// is refused with 479, as the real server refuses malformed addressing.
#[tokio::test]
async fn devices_named_outside_the_chats_addressing_are_refused_with_479() {
    use wa_core::jid::Server;
    let sim = start_sim().await;
    let phone = sim.account("15551110031");
    let peer = sim.account("15551110032");
    let mut device = Device::new();
    link(&sim, &phone, &mut device).await.unwrap();
    let (conn, mut events, _) = login(&sim, &device).await;
    let _ib = next_node(&mut events).await;
    let peer_pn = Jid::user_jid("15551110032");
    let peer_lid = peer.lid().unwrap().to_non_ad();
    let to = |jid: Jid, kind: &'static str| {
        Node::new("to").attr("jid", jid).children(vec![
            Node::new("enc")
                .attr("v", "2")
                .attr("type", kind)
                .bytes(vec![1, 2, 3]),
        ])
    };
    let message = |id: &'static str, chat: &Jid, tos: Vec<Node>| {
        Node::new("message")
            .attr("id", id)
            .attr("to", chat.clone())
            .attr("type", "text")
            .children(vec![Node::new("participants").children(tos)])
    };
    let by_pn = Jid::with_device(peer_pn.user(), 0, Server::User);
    let by_lid = Jid::with_device(peer_lid.user(), 0, Server::Lid);
    for (id, chat, device) in [
        ("M1", &peer_lid, by_pn.clone()),
        ("M2", &peer_pn, by_lid.clone()),
    ] {
        conn.send(&message(id, chat, vec![to(device, "msg")]))
            .await
            .unwrap();
        let ack = next_answer(&mut events).await;
        assert_eq!(
            (ack.attr_str("id"), ack.attr_str("error")),
            (Some(id), Some("479")),
            "{ack}"
        );
    }
    assert!(
        sim.routed().is_empty(),
        "nothing of a refused stanza is routed"
    );

    // A LID-addressed group names its members by LID, numbers beside them.
    sim.address_groups_by_lid(true);
    let create = Node::new("iq")
        .attr("id", "G1")
        .attr("to", Jid::new("", Server::Group))
        .attr("type", "set")
        .attr("xmlns", "w:g2")
        .children(vec![
            Node::new("create")
                .attr("subject", "lid")
                .attr("key", "K1")
                .children(vec![Node::new("participant").attr("jid", peer_pn.clone())]),
        ]);
    conn.send(&create).await.unwrap();
    let answer = next_answer(&mut events).await;
    let group = answer.child("group").expect("the group");
    assert_eq!(group.attr_str("addressing_mode"), Some("lid"));
    let member = group
        .children_by_tag("participant")
        .find(|p| p.attr_jid("jid") == Some(&peer_lid))
        .expect("the peer by LID");
    assert_eq!(member.attr_jid("phone_number"), Some(&peer_pn));
    let gid = Jid::new(group.attr_str("id").unwrap(), Server::Group);
    let skmsg = || {
        Node::new("enc")
            .attr("v", "2")
            .attr("type", "skmsg")
            .bytes(vec![4, 5, 6])
    };
    let group_message = |id: &'static str, device: Jid| {
        let mut m = message(id, &gid, vec![to(device, "pkmsg")]);
        if let wa_core::binary::Content::Nodes(children) = &mut m.content {
            children.push(skmsg());
        }
        m
    };
    conn.send(&group_message("G2", by_pn)).await.unwrap();
    let ack = next_answer(&mut events).await;
    assert_eq!(
        (ack.attr_str("id"), ack.attr_str("error")),
        (Some("G2"), Some("479"))
    );
    conn.send(&group_message("G3", by_lid)).await.unwrap();
    let ack = next_answer(&mut events).await;
    assert_eq!(
        (ack.attr_str("id"), ack.attr_str("error")),
        (Some("G3"), None)
    );
    assert!(
        sim.routed().iter().any(|r| r.to.user() == peer_pn.user()),
        "the LID-named device got its copy"
    );
}
