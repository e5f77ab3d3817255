//! Bulk setup: populated accounts list their companions in usync with a
//! signed key-index list, hand out bundles whose ADV identities verify, and
//! groups made in server state answer `w:g2` queries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashMap;
use std::time::Instant;

use prost::Message as _;
use wa_core::adv;
use wa_core::binary::Node;
use wa_core::jid::{Jid, Server};
use wa_core::proto::{AdvSignedDeviceIdentity, AdvSignedKeyIndexList};
use wa_core::signal;

use support::{online, start_sim};

fn iq(xmlns: &'static str, to: Jid, kind: &'static str, children: Vec<Node>) -> Node {
    Node::new("iq")
        .attr("to", to)
        .attr("type", kind)
        .attr("xmlns", xmlns)
        .children(children)
}

fn usync(users: &[Jid]) -> Node {
    iq(
        "usync",
        Jid::server_jid(),
        "get",
        vec![
            Node::new("usync")
                .attr("sid", "p1")
                .attr("mode", "query")
                .attr("context", "message")
                .children(vec![
                    Node::new("query").children(vec![
                        Node::new("devices").attr("version", "2"),
                        Node::new("lid"),
                    ]),
                    Node::new("list").children(
                        users
                            .iter()
                            .map(|u| Node::new("user").attr("jid", u.clone()))
                            .collect(),
                    ),
                ]),
        ],
    )
}

fn bundles(devices: &[Jid]) -> Node {
    iq(
        "encrypt",
        Jid::server_jid(),
        "get",
        vec![
            Node::new("key").children(
                devices
                    .iter()
                    .map(|d| Node::new("user").attr("jid", d.clone()))
                    .collect(),
            ),
        ],
    )
}

#[tokio::test]
async fn populated_companions_are_listed_signed_and_verify() {
    let sim = start_sim().await;
    let (conn, _events, _) = online(&sim, "15554440000").await;
    let started = Instant::now();
    let pns = sim.populate(15_554_450_000, 20, 2);
    eprintln!(
        "populate 20 x 3 devices: {:?} (debug build)",
        started.elapsed()
    );
    assert_eq!(pns.len(), 20);
    assert_eq!(pns[0], "15554450000");
    assert_eq!(pns[19], "15554450019");

    // usync: three devices each, companions with key indexes 1 and 2.
    let users: Vec<Jid> = pns.iter().map(|pn| Jid::user_jid(pn.clone())).collect();
    let answer = conn.iq(usync(&users)).await.unwrap();
    let listed: Vec<Node> = answer
        .child("usync")
        .unwrap()
        .child("list")
        .unwrap()
        .children_by_tag("user")
        .cloned()
        .collect();
    assert_eq!(listed.len(), 20);
    let mut lists = HashMap::new();
    let mut devices = Vec::new();
    for user in &listed {
        let jid = user.attr_jid("jid").unwrap().clone();
        let lid = user.child("lid").unwrap().attr_jid("val").unwrap().clone();
        assert_eq!(lid.server(), &Server::Lid);
        let d = user.child("devices").unwrap();
        let ids: Vec<(u16, Option<u32>)> = d
            .child("device-list")
            .unwrap()
            .children_by_tag("device")
            .map(|n| {
                (
                    n.attr_str("id").unwrap().parse().unwrap(),
                    n.attr_str("key-index").map(|k| k.parse().unwrap()),
                )
            })
            .collect();
        assert_eq!(ids, vec![(0, None), (1, Some(1)), (2, Some(2))]);
        let list = d.child("key-index-list").unwrap();
        let list = AdvSignedKeyIndexList::decode(list.content_bytes().unwrap()).unwrap();
        lists.insert(jid.user().to_owned(), list);
        for (id, _) in ids {
            devices.push(Jid::with_device(lid.user().to_owned(), id, Server::Lid));
        }
    }
    assert_eq!(devices.len(), 60);

    // Bundles: the phone's identity is the account key; each companion's
    // ADV identity is signed by it and by the companion, and the account
    // signed its key-index list.
    let answer = conn.iq(bundles(&devices)).await.unwrap();
    let got: Vec<Node> = answer
        .child("list")
        .unwrap()
        .children_by_tag("user")
        .cloned()
        .collect();
    assert_eq!(got.len(), 60);
    let mut account_keys = HashMap::new();
    for user in &got {
        let jid = user.attr_jid("jid").unwrap();
        if jid.device() == 0 {
            let identity = user.child("identity").unwrap().content_bytes().unwrap();
            account_keys.insert(jid.user().to_owned(), identity.to_vec());
        }
    }
    let mut by_lid_pn = HashMap::new();
    for user in &listed {
        let pn = user.attr_jid("jid").unwrap().user().to_owned();
        let lid = user.child("lid").unwrap().attr_jid("val").unwrap().user();
        by_lid_pn.insert(lid.to_owned(), pn);
    }
    for user in &got {
        let jid = user.attr_jid("jid").unwrap();
        let account_key = &account_keys[jid.user()];
        let pn = &by_lid_pn[jid.user()];
        let valid = adv::verify_key_index_list(&lists[pn], account_key)
            .unwrap()
            .valid_indexes;
        assert_eq!(valid, vec![1, 2]);
        let identity = user.child("identity").unwrap().content_bytes().unwrap();
        let skey = user.child("skey").unwrap();
        let skey_value: [u8; 32] = skey
            .child("value")
            .unwrap()
            .content_bytes()
            .unwrap()
            .try_into()
            .unwrap();
        assert!(wa_core::keys::verify(
            identity,
            &signal::signed_prekey_message(&skey_value),
            skey.child("signature").unwrap().content_bytes().unwrap(),
        ));
        assert!(user.child("key").is_some(), "a one-time prekey");
        if jid.device() == 0 {
            assert!(user.child("device-identity").is_none());
            continue;
        }
        let signed = AdvSignedDeviceIdentity::decode(
            user.child("device-identity")
                .unwrap()
                .content_bytes()
                .unwrap(),
        )
        .unwrap();
        let details = adv::verify_device_identity(&signed, identity, account_key).unwrap();
        assert_eq!(details.key_index, Some(u32::from(jid.device())));
    }

    // Nothing is connected: what is routed to them waits.
    assert_eq!(sim.queued(&pns[0], 1), 0);
    assert!(sim.account(&pns[0]).lid().is_some());
}

#[tokio::test]
async fn a_group_made_in_state_answers_queries() {
    let sim = start_sim().await;
    let (conn, mut events, _) = online(&sim, "15554460000").await;
    let mut members = sim.populate(15_554_470_000, 30, 0);
    members.push("15559999999".to_owned()); // no account: left out
    assert_eq!(sim.create_group("15550000001", "none", &members), None);
    let gid = sim
        .create_group("15554460000", "bulk", &members)
        .expect("creator exists");
    assert!(gid.is_group());
    // The creator's connected companion got the create notification.
    let note = support::next_node(&mut events).await;
    assert_eq!(note.attr_str("type"), Some("w:gp2"), "{note}");

    let answer = conn
        .iq(iq(
            "w:g2",
            gid.clone(),
            "get",
            vec![Node::new("query").attr("request", "interactive")],
        ))
        .await
        .unwrap();
    let group = answer.child("group").unwrap();
    assert_eq!(group.attr_str("subject"), Some("bulk"));
    assert_eq!(group.attr_str("size"), Some("31"));
    let admins: Vec<String> = group
        .children_by_tag("participant")
        .filter(|p| p.attr_str("type").is_some())
        .map(|p| p.attr_jid("jid").unwrap().user().to_owned())
        .collect();
    assert_eq!(admins, vec!["15554460000".to_owned()]);
}
