//! Fault injection and the smaller stanzas (presence, chatstate), driven by
//! our own companion code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use prost::Message as _;
use wa_client::{AuthError, Error};
use wa_core::adv;
use wa_core::binary::Node;
use wa_core::jid::Jid;
use wa_core::proto::{AdvSignedDeviceIdentity, AdvSignedKeyIndexList};

use support::{Device, link, next_end, next_node, online, start_sim};

#[tokio::test]
async fn dropped_stanzas_never_arrive_and_are_counted() {
    let sim = start_sim().await;
    let alice = sim.account("15552220001");
    let (_conn, mut events, _) = online(&sim, "15552220002").await;
    sim.drop_next("15552220002", 1, 1);
    alice.send_text("15552220002", "lost").await.unwrap();
    let kept = alice.send_text("15552220002", "kept").await.unwrap();
    let msg = next_node(&mut events).await;
    assert_eq!(msg.attr_str("id"), Some(kept.as_str()));
    assert_eq!(sim.dropped("15552220002", 1), 1);
}

#[tokio::test]
async fn a_delayed_stanza_is_overtaken_by_the_next() {
    let sim = start_sim().await;
    let alice = sim.account("15552220003");
    let (_conn, mut events, _) = online(&sim, "15552220004").await;
    sim.delay_next("15552220004", 1, 1, Duration::from_secs(1));
    let first = alice.send_text("15552220004", "slow").await.unwrap();
    let second = alice.send_text("15552220004", "fast").await.unwrap();
    let a = next_node(&mut events).await;
    let b = next_node(&mut events).await;
    assert_eq!(a.attr_str("id"), Some(second.as_str()));
    assert_eq!(b.attr_str("id"), Some(first.as_str()));
}

#[tokio::test]
async fn a_cut_socket_ends_the_connection_without_a_verdict() {
    let sim = start_sim().await;
    let (_conn, mut events, _) = online(&sim, "15552220005").await;
    assert!(sim.cut("15552220005", 1));
    let end = next_end(&mut events).await;
    assert!(end.is_retryable(), "{end:?}");
    assert!(!matches!(end, Error::Auth(_)), "{end:?}");
}

#[tokio::test]
async fn refused_logins_get_503_which_is_retryable() {
    let sim = start_sim().await;
    let phone = sim.account("15552220006");
    let mut device = Device::new();
    link(&sim, &phone, &mut device).await.unwrap();
    sim.refuse_logins("15552220006", 1, Duration::from_secs(60));
    let (_conn, mut events) = wa_client::connect(
        &support::options(&sim),
        &device.noise,
        &device.login_payload(),
    )
    .await
    .unwrap();
    let end = next_end(&mut events).await;
    assert!(
        matches!(end, Error::Auth(AuthError::ServiceUnavailable)),
        "{end:?}"
    );
    assert!(end.is_retryable());
}

#[tokio::test]
async fn an_injected_device_is_outside_the_signed_list_and_its_identity_fails_adv() {
    let sim = start_sim().await;
    let (conn, _events, _) = online(&sim, "15552220007").await;
    sim.account("15552220008");
    assert!(sim.inject_unsigned_device("15552220008", 7));

    let usync = Node::new("iq")
        .attr("to", Jid::server_jid())
        .attr("type", "get")
        .attr("xmlns", "usync")
        .children(vec![
            Node::new("usync")
                .attr("sid", "s1")
                .attr("mode", "query")
                .attr("context", "message")
                .children(vec![
                    Node::new("query").children(vec![Node::new("devices").attr("version", "2")]),
                    Node::new("list").children(vec![
                        Node::new("user").attr("jid", Jid::user_jid("15552220008")),
                    ]),
                ]),
        ]);
    let answer = conn.iq(usync).await.unwrap();
    let devices = answer
        .child("usync")
        .and_then(|u| u.child("list"))
        .and_then(|l| l.child("user"))
        .and_then(|u| u.child("devices"))
        .unwrap();
    let listed: Vec<(String, Option<String>)> = devices
        .child("device-list")
        .unwrap()
        .children_by_tag("device")
        .map(|d| {
            (
                d.attr_str("id").unwrap().to_owned(),
                d.attr_str("key-index").map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let injected_index: u32 = listed[1].1.as_deref().unwrap().parse().unwrap();

    // The account key: the phone's identity, from its prekey bundle.
    let bundles = conn
        .iq(Node::new("iq")
            .attr("to", Jid::server_jid())
            .attr("type", "get")
            .attr("xmlns", "encrypt")
            .children(vec![Node::new("key").children(vec![
                Node::new("user").attr("jid", Jid::user_jid("15552220008")),
                Node::new("user").attr(
                    "jid",
                    "15552220008:7@s.whatsapp.net".parse::<Jid>().unwrap(),
                ),
            ])]))
        .await
        .unwrap();
    let users: Vec<&Node> = bundles
        .child("list")
        .unwrap()
        .children_by_tag("user")
        .collect();
    assert_eq!(users.len(), 2);
    let account_key = users[0].child("identity").unwrap().content_bytes().unwrap();

    let signed = AdvSignedKeyIndexList::decode(
        devices
            .child("key-index-list")
            .unwrap()
            .content_bytes()
            .unwrap(),
    )
    .unwrap();
    let list = adv::verify_key_index_list(&signed, account_key).unwrap();
    assert!(!list.valid_indexes.contains(&injected_index), "{list:?}");

    let identity = AdvSignedDeviceIdentity::decode(
        users[1]
            .child("device-identity")
            .unwrap()
            .content_bytes()
            .unwrap(),
    )
    .unwrap();
    let device_key = users[1].child("identity").unwrap().content_bytes().unwrap();
    assert!(adv::verify_device_identity(&identity, device_key, account_key).is_err());
}

#[tokio::test]
async fn presence_and_chatstate_reach_the_peer() {
    let sim = start_sim().await;
    let (alice, _alice_events, _) = online(&sim, "15552220009").await;
    let (bob, mut bob_events, _) = online(&sim, "15552220010").await;
    bob.send(
        &Node::new("presence")
            .attr("type", "subscribe")
            .attr("to", Jid::user_jid("15552220009")),
    )
    .await
    .unwrap();
    // A ping round trip on Bob's connection: the server has handled the
    // subscription (stanzas of one connection are handled in order).
    bob.iq(Node::new("iq")
        .attr("to", Jid::server_jid())
        .attr("type", "get")
        .attr("xmlns", "w:p")
        .children(vec![Node::new("ping")]))
        .await
        .unwrap();
    alice
        .send(
            &Node::new("presence")
                .attr("type", "available")
                .attr("name", "Alice"),
        )
        .await
        .unwrap();
    let p = next_node(&mut bob_events).await;
    assert_eq!(
        (p.tag.as_ref(), p.attr_str("type")),
        ("presence", Some("available"))
    );
    assert_eq!(
        p.attr_jid("from").unwrap().to_string(),
        "15552220009@s.whatsapp.net"
    );

    alice
        .send(
            &Node::new("chatstate")
                .attr("to", Jid::user_jid("15552220010"))
                .children(vec![Node::new("composing")]),
        )
        .await
        .unwrap();
    let c = next_node(&mut bob_events).await;
    assert_eq!(c.tag, "chatstate");
    assert_eq!(
        c.attr_jid("from").unwrap().to_string(),
        "15552220009@s.whatsapp.net"
    );
    assert!(c.child("composing").is_some());
}
