//! Prekeys, digests, rotation, contact lookup and group administration,
//! driven by our own companion code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use sha1::{Digest, Sha1};
use wa_client::Error;
use wa_core::binary::Node;
use wa_core::jid::Jid;
use wa_core::signal::{self, SignedPreKey};

use support::{Device, link, login, next_node, online, start_sim};

fn iq(xmlns: &'static str, kind: &'static str, children: Vec<Node>) -> Node {
    Node::new("iq")
        .attr("to", Jid::server_jid())
        .attr("type", kind)
        .attr("xmlns", xmlns)
        .children(children)
}

/// A `w:g2` IQ to `to` with one child.
fn g2(to: Jid, kind: &'static str, child: Node) -> Node {
    Node::new("iq")
        .attr("to", to)
        .attr("type", kind)
        .attr("xmlns", "w:g2")
        .children(vec![child])
}

/// `<participant jid=pn@s.whatsapp.net/>`.
fn p(pn: &str) -> Node {
    Node::new("participant").attr("jid", Jid::user_jid(pn.to_owned()))
}

fn id3(id: u32) -> Vec<u8> {
    signal::encode_key_id(id).unwrap().to_vec()
}

#[tokio::test]
async fn uploaded_prekeys_are_counted_digested_and_handed_out_once() {
    let sim = start_sim().await;
    let (conn, _events, device) = online(&sim, "15553330001").await;
    let mut rng = rand::rng();
    let prekeys = signal::generate_prekeys(1, 3, &mut rng);
    let list = prekeys
        .iter()
        .map(|k| {
            Node::new("key").children(vec![
                Node::new("id").bytes(id3(k.id())),
                Node::new("value").bytes(k.public().to_vec()),
            ])
        })
        .collect();
    conn.iq(iq("encrypt", "set", vec![Node::new("list").children(list)]))
        .await
        .unwrap();
    let count = conn
        .iq(iq("encrypt", "get", vec![Node::new("count")]))
        .await
        .unwrap();
    assert_eq!(count.child("count").unwrap().attr_str("value"), Some("3"));

    // The digest: what the server holds, and a SHA-1 the client can recompute.
    let digest = conn
        .iq(iq("encrypt", "get", vec![Node::new("digest")]))
        .await
        .unwrap();
    let digest = digest.child("digest").unwrap();
    let mut hash = Sha1::new();
    hash.update(device.identity.public());
    hash.update(device.signed_prekey.public());
    hash.update(device.signed_prekey.signature());
    for k in &prekeys {
        hash.update(k.public());
    }
    assert_eq!(
        digest.child("hash").unwrap().content_bytes().unwrap(),
        hash.finalize().as_slice()
    );
    assert_eq!(
        digest
            .child("registration")
            .unwrap()
            .content_bytes()
            .unwrap(),
        signal::encode_registration_id(device.registration_id)
    );

    // Another account fetches the bundle three times, then once more.
    let (other, _other_events, _) = online(&sim, "15553330002").await;
    let me: Jid = "15553330001:1@s.whatsapp.net".parse().unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        let answer = other
            .iq(iq(
                "encrypt",
                "get",
                vec![Node::new("key").children(vec![Node::new("user").attr("jid", me.clone())])],
            ))
            .await
            .unwrap();
        let user = answer.child("list").unwrap().child("user").unwrap().clone();
        assert_eq!(user.attr_jid("jid"), Some(&me));
        seen.push(
            user.child("key")
                .map(|k| k.child("id").unwrap().content_bytes().unwrap().to_vec()),
        );
    }
    assert_eq!(seen, vec![Some(id3(1)), Some(id3(2)), Some(id3(3)), None]);
    let count = conn
        .iq(iq("encrypt", "get", vec![Node::new("count")]))
        .await
        .unwrap();
    assert_eq!(count.child("count").unwrap().attr_str("value"), Some("0"));
}

#[tokio::test]
async fn a_rotated_signed_prekey_is_served_in_bundles() {
    let sim = start_sim().await;
    let (conn, _events, device) = online(&sim, "15553330003").await;
    let next = SignedPreKey::generate(&device.identity, 2, &mut rand::rng()).unwrap();
    let skey = Node::new("skey").children(vec![
        Node::new("id").bytes(id3(2)),
        Node::new("value").bytes(next.public().to_vec()),
        Node::new("signature").bytes(next.signature().to_vec()),
    ]);
    conn.iq(iq(
        "encrypt",
        "set",
        vec![Node::new("rotate").children(vec![skey])],
    ))
    .await
    .unwrap();
    let bad = conn
        .iq(iq("encrypt", "set", vec![Node::new("rotate")]))
        .await
        .unwrap_err();
    assert!(matches!(bad, Error::Iq { code: 400, .. }), "{bad:?}");
    let (other, _other_events, _) = online(&sim, "15553330004").await;
    let answer = other
        .iq(iq(
            "encrypt",
            "get",
            vec![Node::new("key").children(vec![Node::new("user").attr(
                "jid",
                "15553330003:1@s.whatsapp.net".parse::<Jid>().unwrap(),
            )])],
        ))
        .await
        .unwrap();
    let skey = answer
        .child("list")
        .unwrap()
        .child("user")
        .unwrap()
        .child("skey")
        .unwrap()
        .clone();
    assert_eq!(skey.child("id").unwrap().content_bytes().unwrap(), id3(2));
    assert_eq!(
        skey.child("value").unwrap().content_bytes().unwrap(),
        next.public()
    );
}

#[tokio::test]
async fn contacts_are_looked_up_by_phone_number() {
    let sim = start_sim().await;
    let (conn, _events, _) = online(&sim, "15553330005").await;
    sim.account("15553330006");
    let user = |n: &str| Node::new("user").children(vec![Node::new("contact").bytes(n.as_bytes())]);
    let answer = conn
        .iq(iq(
            "usync",
            "get",
            vec![
                Node::new("usync")
                    .attr("sid", "c1")
                    .attr("mode", "query")
                    .attr("context", "interactive")
                    .children(vec![
                        Node::new("query").children(vec![Node::new("contact")]),
                        Node::new("list")
                            .children(vec![user("+1 555 333 0006"), user("+15559999999")]),
                    ]),
            ],
        ))
        .await
        .unwrap();
    let users: Vec<Node> = answer
        .child("usync")
        .unwrap()
        .child("list")
        .unwrap()
        .children_by_tag("user")
        .cloned()
        .collect();
    assert_eq!(users.len(), 2);
    assert_eq!(
        users[0].attr_jid("jid").unwrap().to_string(),
        "15553330006@s.whatsapp.net"
    );
    assert_eq!(
        users[0].child("contact").unwrap().attr_str("type"),
        Some("in")
    );
    assert_eq!(users[1].attr_jid("jid"), None);
    assert_eq!(
        users[1].child("contact").unwrap().attr_str("type"),
        Some("out")
    );
}

#[tokio::test]
async fn group_administration_and_its_notifications() {
    let sim = start_sim().await;
    let (admin, _admin_events, _) = online(&sim, "15553330007").await;
    let phone = sim.account("15553330008");
    let mut member = Device::new();
    link(&sim, &phone, &mut member).await.unwrap();
    let (member_conn, mut member_events, _) = login(&sim, &member).await;
    let _ib = next_node(&mut member_events).await;
    sim.account("15553330009");

    let created = admin
        .iq(g2(
            Jid::new("", wa_core::jid::Server::Group),
            "set",
            Node::new("create")
                .attr("subject", "club")
                .children(vec![p("15553330008")]),
        ))
        .await
        .unwrap();
    let group = created.child("group").unwrap();
    let gid = Jid::new(group.attr_str("id").unwrap(), wa_core::jid::Server::Group);
    assert_eq!(group.attr_str("subject"), Some("club"));
    assert_eq!(group.children_by_tag("participant").count(), 2);
    let note = next_node(&mut member_events).await;
    assert_eq!(
        (note.tag.as_ref(), note.attr_str("type")),
        ("notification", Some("w:gp2"))
    );
    assert!(note.child("create").is_some());

    // Add one who exists, and one already in: the second is a 409.
    let added = admin
        .iq(g2(
            gid.clone(),
            "set",
            Node::new("add").children(vec![p("15553330009"), p("15553330008")]),
        ))
        .await
        .unwrap();
    let errors: Vec<Option<&str>> = added
        .child("add")
        .unwrap()
        .children_by_tag("participant")
        .map(|p| p.attr_str("error"))
        .collect();
    assert_eq!(errors, vec![None, Some("409")]);
    assert!(next_node(&mut member_events).await.child("add").is_some());

    // A plain member may not remove anyone; the admin may.
    let refused = member_conn
        .iq(g2(
            gid.clone(),
            "set",
            Node::new("remove").children(vec![p("15553330009")]),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, Error::Iq { code: 403, .. }),
        "{refused:?}"
    );
    admin
        .iq(g2(
            gid.clone(),
            "set",
            Node::new("remove").children(vec![p("15553330008")]),
        ))
        .await
        .unwrap();
    assert!(
        next_node(&mut member_events)
            .await
            .child("remove")
            .is_some()
    );
    let after = admin
        .iq(g2(
            gid.clone(),
            "get",
            Node::new("query").attr("request", "interactive"),
        ))
        .await
        .unwrap();
    let members: Vec<String> = after
        .child("group")
        .unwrap()
        .children_by_tag("participant")
        .map(|p| p.attr_jid("jid").unwrap().user().to_owned())
        .collect();
    assert_eq!(members, vec!["15553330007", "15553330009"]);
    let gone = member_conn
        .iq(g2(
            gid,
            "get",
            Node::new("query").attr("request", "interactive"),
        ))
        .await
        .unwrap_err();
    assert!(matches!(gone, Error::Iq { code: 403, .. }), "{gone:?}");
}

#[tokio::test]
async fn group_subject_description_and_roles() {
    let sim = start_sim().await;
    let (admin, _admin_events, _) = online(&sim, "15553330010").await;
    let (member, mut member_events, _) = online(&sim, "15553330011").await;
    let created = admin
        .iq(g2(
            Jid::new("", wa_core::jid::Server::Group),
            "set",
            Node::new("create")
                .attr("subject", "one")
                .children(vec![p("15553330011")]),
        ))
        .await
        .unwrap();
    let gid = Jid::new(
        created.child("group").unwrap().attr_str("id").unwrap(),
        wa_core::jid::Server::Group,
    );
    let _create = next_node(&mut member_events).await;

    admin
        .iq(g2(
            gid.clone(),
            "set",
            Node::new("subject").bytes(b"two".to_vec()),
        ))
        .await
        .unwrap();
    let note = next_node(&mut member_events).await;
    assert_eq!(
        note.child("subject").unwrap().attr_str("subject"),
        Some("two")
    );
    admin
        .iq(g2(
            gid.clone(),
            "set",
            Node::new("description")
                .attr("id", "d1")
                .children(vec![Node::new("body").bytes(b"about us".to_vec())]),
        ))
        .await
        .unwrap();
    let _desc = next_node(&mut member_events).await;
    admin
        .iq(g2(
            gid.clone(),
            "set",
            Node::new("promote").children(vec![p("15553330011")]),
        ))
        .await
        .unwrap();
    let _promote = next_node(&mut member_events).await;

    let meta = member
        .iq(g2(
            gid.clone(),
            "get",
            Node::new("query").attr("request", "interactive"),
        ))
        .await
        .unwrap();
    let group = meta.child("group").unwrap();
    assert_eq!(group.attr_str("subject"), Some("two"));
    assert_eq!(
        group
            .child("description")
            .unwrap()
            .child("body")
            .unwrap()
            .content_bytes(),
        Some(&b"about us"[..])
    );
    let roles: Vec<Option<&str>> = group
        .children_by_tag("participant")
        .map(|p| p.attr_str("type"))
        .collect();
    assert_eq!(roles, vec![Some("superadmin"), Some("admin")]);
    // Demoted again, the member may no longer add anyone.
    member
        .iq(g2(
            gid.clone(),
            "set",
            Node::new("demote").children(vec![p("15553330011")]),
        ))
        .await
        .unwrap();
    let refused = member
        .iq(g2(
            gid,
            "set",
            Node::new("add").children(vec![p("15553330010")]),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, Error::Iq { code: 403, .. }),
        "{refused:?}"
    );
}
