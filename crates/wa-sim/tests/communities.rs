//! Communities (`w:g2`): a community's parent and announcement groups, groups
//! made in it or linked to it and unlinked, what members are told, and
//! the server's refusals; then Baileys rc14's own community calls
//! (`scripts/baileys/peer.mjs`) against the simulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeSet;

use support::baileys::{Baileys, baileys_dir};
use support::{next_node, online, start_sim};
use tokio::sync::mpsc;
use wa_client::{Connection, Event};
use wa_core::binary::Node;
use wa_core::jid::{Jid, Server};

const ALICE: &str = "15553330001";
const BOB: &str = "15553330002";
const CAROL: &str = "15553330003";
const DAVE: &str = "15553330004";

/// A `w:g2` IQ of `kind` with `action`, to `to`.
fn g2(to: &Jid, kind: &'static str, action: Node) -> Node {
    Node::new("iq")
        .attr("to", to.clone())
        .attr("type", kind)
        .attr("xmlns", "w:g2")
        .children(vec![action])
}

fn server() -> Jid {
    Jid::new("", Server::Group)
}

/// The error code the server answers `iq` with.
async fn refusal(conn: &Connection, iq: Node) -> u16 {
    match conn.iq(iq).await {
        Err(wa_client::Error::Iq { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The `<group>` of `gid` as a member's query gets it.
async fn metadata(conn: &Connection, gid: &Jid) -> Node {
    let query = Node::new("query").attr("request", "interactive");
    let answer = conn.iq(g2(gid, "get", query)).await.unwrap();
    answer.child("group").expect("a group").clone()
}

/// The child of the next `w:gp2` notification from `gid` whose child is
/// `tag` (other stanzas are skipped).
async fn gp2(events: &mut mpsc::Receiver<Event>, gid: &Jid, tag: &str) -> Node {
    loop {
        let n = next_node(events).await;
        let ours = n.tag == "notification"
            && n.attr_str("type") == Some("w:gp2")
            && n.attr_jid("from") == Some(gid);
        if let Some(child) = n.child(tag).filter(|_| ours) {
            return child.clone();
        }
    }
}

fn roles(
    pairs: &[(&str, Option<&'static str>)],
) -> std::collections::BTreeMap<String, Option<&'static str>> {
    pairs.iter().map(|(pn, r)| ((*pn).to_owned(), *r)).collect()
}

fn link(child: &Jid) -> Node {
    let group = Node::new("group").attr("jid", child.clone());
    let link = Node::new("link")
        .attr("link_type", "sub_group")
        .children(vec![group]);
    Node::new("links").children(vec![link])
}

fn unlink(child: &Jid) -> Node {
    Node::new("unlink")
        .attr("unlink_type", "sub_group")
        .children(vec![Node::new("group").attr("jid", child.clone())])
}

#[tokio::test]
async fn a_community_has_a_parent_and_an_announcement_group() {
    let sim = start_sim().await;
    let (conn, mut events, _) = online(&sim, ALICE).await;
    let alice = sim.account(ALICE);
    sim.account(BOB);

    let (parent, announcement) = alice.create_community("Street", &[BOB]).unwrap();
    assert!(sim.is_community(&parent));
    assert!(!sim.is_community(&announcement));
    assert_eq!(sim.group_parent(&announcement), Some(parent.clone()));
    assert_eq!(sim.group_parent(&parent), None);
    assert_eq!(sim.sub_groups(&parent), vec![announcement.clone()]);
    let both = roles(&[(ALICE, Some("superadmin")), (BOB, None)]);
    assert_eq!(sim.group_members(&parent), Some(both.clone()));
    assert_eq!(sim.group_members(&announcement), Some(both));
    assert_eq!(sim.group_settings(&announcement), Some((true, false)));
    assert_eq!(sim.group_by_subject("Street"), Some(parent.clone()));
    // The members were told of both groups.
    let created = gp2(&mut events, &parent, "create").await;
    assert!(created.child("group").unwrap().child("parent").is_some());
    let created = gp2(&mut events, &announcement, "create").await;
    assert!(
        created
            .child("group")
            .unwrap()
            .child("default_sub_group")
            .is_some()
    );

    // The metadata, as whatsmeow's parseGroupNode and Baileys read it.
    let meta = metadata(&conn, &parent).await;
    let mode = meta.child("parent").expect("<parent/>");
    assert_eq!(
        mode.attr_str("default_membership_approval_mode"),
        Some("request_required")
    );
    assert!(meta.child("linked_parent").is_none() && meta.child("announcement").is_none());
    let meta = metadata(&conn, &announcement).await;
    assert_eq!(
        meta.child("linked_parent").unwrap().attr_jid("jid"),
        Some(&parent)
    );
    assert!(meta.child("default_sub_group").is_some() && meta.child("announcement").is_some());
    assert!(meta.child("parent").is_none());
    assert_eq!(meta.attr_str("subject"), Some("Street"));
}

/// Baileys' `communityCreate` stanza: a description, no participants,
/// and the two flags wa-sim accepts and ignores. A plain create's
/// description is kept too.
#[tokio::test]
async fn creates_keep_the_description_they_carry() {
    let sim = start_sim().await;
    let (conn, _events, _) = online(&sim, ALICE).await;
    sim.account(BOB);
    let description = |text: &str| {
        Node::new("description")
            .attr("id", "0123456789AB")
            .children(vec![Node::new("body").bytes(text.as_bytes())])
    };
    let create = Node::new("create")
        .attr("subject", "Neighbours")
        .children(vec![
            description("Our street"),
            Node::new("parent").attr("default_membership_approval_mode", "request_required"),
            Node::new("allow_non_admin_sub_group_creation"),
            Node::new("create_general_chat"),
        ]);
    let answer = conn.iq(g2(&server(), "set", create)).await.unwrap();
    let group = answer.child("group").unwrap();
    assert!(group.child("parent").is_some(), "{group}");
    let parent = Jid::new(group.attr_str("id").unwrap(), Server::Group);
    assert_eq!(
        sim.group_subject_and_description(&parent),
        Some(("Neighbours".to_owned(), Some("Our street".to_owned())))
    );
    assert_eq!(
        sim.group_members(&parent),
        Some(roles(&[(ALICE, Some("superadmin"))]))
    );
    let subs = sim.sub_groups(&parent);
    assert_eq!(subs.len(), 1);
    assert_eq!(
        sim.group_subject_and_description(&subs[0]),
        Some(("Neighbours".to_owned(), None))
    );

    let create = Node::new("create").attr("subject", "plain").children(vec![
        Node::new("participant").attr("jid", Jid::user_jid(BOB)),
        description("about us"),
    ]);
    let answer = conn.iq(g2(&server(), "set", create)).await.unwrap();
    let gid = Jid::new(
        answer.child("group").unwrap().attr_str("id").unwrap(),
        Server::Group,
    );
    assert_eq!(
        sim.group_subject_and_description(&gid),
        Some(("plain".to_owned(), Some("about us".to_owned())))
    );
    assert!(!sim.is_community(&gid));
}

#[tokio::test]
async fn a_group_made_in_a_community_brings_its_members_in() {
    let sim = start_sim().await;
    let (_bob_conn, mut bob_events, _) = online(&sim, BOB).await;
    let (dave_conn, _dave_events, _) = online(&sim, DAVE).await;
    let alice = sim.account(ALICE);
    sim.account(CAROL);
    let (parent, announcement) = alice.create_community("Town", &[BOB]).unwrap();

    let garden = alice.create_group_in(&parent, "Garden", &[CAROL]).unwrap();
    assert_eq!(sim.group_parent(&garden), Some(parent.clone()));
    let subs: BTreeSet<Jid> = sim.sub_groups(&parent).into_iter().collect();
    assert_eq!(subs, BTreeSet::from([garden.clone(), announcement.clone()]));
    assert_eq!(
        sim.group_members(&garden),
        Some(roles(&[(ALICE, Some("superadmin")), (CAROL, None)]))
    );
    let town = roles(&[(ALICE, Some("superadmin")), (BOB, None), (CAROL, None)]);
    assert_eq!(sim.group_members(&parent), Some(town.clone()));
    assert_eq!(sim.group_members(&announcement), Some(town));
    // The community's members are told Carol joined, in each group.
    for gid in [&parent, &announcement] {
        let add = gp2(&mut bob_events, gid, "add").await;
        let joined: Vec<_> = add
            .children_by_tag("participant")
            .map(|p| p.attr_jid("jid").unwrap().user().to_owned())
            .collect();
        assert_eq!(joined, vec![CAROL]);
    }

    // Only the community's members make groups in it; only a community
    // has groups made in it.
    let in_parent = |parent: &Jid| {
        Node::new("create")
            .attr("subject", "Mine")
            .children(vec![Node::new("linked_parent").attr("jid", parent.clone())])
    };
    let iq = g2(&server(), "set", in_parent(&parent));
    assert_eq!(refusal(&dave_conn, iq).await, 403);
    assert_eq!(
        sim.account(DAVE).create_group_in(&parent, "Mine", &[]),
        None
    );
    let nowhere = Jid::new("120363000000000001", Server::Group);
    let iq = g2(&server(), "set", in_parent(&nowhere));
    assert_eq!(refusal(&dave_conn, iq).await, 404);
    let iq = g2(&server(), "set", in_parent(&garden));
    assert_eq!(refusal(&dave_conn, iq).await, 404);
    assert_eq!(sim.sub_groups(&parent).len(), 2);

    // Whoever is added to a group of the community later is in it too.
    assert!(alice.change_group_members(&garden, "add", &[DAVE]));
    assert!(sim.group_members(&parent).unwrap().contains_key(DAVE));
    assert!(sim.group_members(&announcement).unwrap().contains_key(DAVE));
    assert!(alice.change_group_members(&garden, "remove", &[DAVE]));
    assert!(sim.group_members(&parent).unwrap().contains_key(DAVE));
}

#[tokio::test]
async fn groups_are_linked_and_unlinked_by_community_admins() {
    let sim = start_sim().await;
    let (alice_conn, mut alice_events, _) = online(&sim, ALICE).await;
    let (bob_conn, _bob_events, _) = online(&sim, BOB).await;
    let (_dave_conn, mut dave_events, _) = online(&sim, DAVE).await;
    let alice = sim.account(ALICE);
    let (parent, announcement) = alice.create_community("Club", &[BOB]).unwrap();
    let books = sim
        .create_group(ALICE, "Book club", &[DAVE.to_owned()])
        .unwrap();

    // A member who is no admin of the community links nothing.
    assert_eq!(
        refusal(&bob_conn, g2(&parent, "set", link(&books))).await,
        403
    );
    assert!(alice.link_group(&parent, &books));
    assert_eq!(sim.group_parent(&books), Some(parent.clone()));
    assert!(sim.group_members(&parent).unwrap().contains_key(DAVE));
    assert!(sim.group_members(&announcement).unwrap().contains_key(DAVE));
    // The group's members learn of their community, the community's of
    // its new group.
    let told = gp2(&mut dave_events, &books, "link").await;
    assert_eq!(told.attr_str("link_type"), Some("parent_group"));
    let target = told.child("group").unwrap();
    assert_eq!(target.attr_jid("jid"), Some(&parent));
    assert_eq!(target.attr_str("subject"), Some("Club"));
    let told = gp2(&mut alice_events, &parent, "link").await;
    assert_eq!(told.attr_str("link_type"), Some("sub_group"));
    let target = told.child("group").unwrap();
    assert_eq!(target.attr_jid("jid"), Some(&books));
    assert_eq!(target.attr_str("subject"), Some("Book club"));

    // Any member lists the community's groups (whatsmeow GetSubGroups).
    let answer = bob_conn
        .iq(g2(&parent, "get", Node::new("sub_groups")))
        .await
        .unwrap();
    let listed: Vec<(String, bool)> = answer
        .child("sub_groups")
        .unwrap()
        .children_by_tag("group")
        .map(|g| {
            let id = g.attr_str("id").unwrap().to_owned();
            (id, g.child("default_sub_group").is_some())
        })
        .collect();
    let want = BTreeSet::from([
        (announcement.user().to_owned(), true),
        (books.user().to_owned(), false),
    ]);
    assert_eq!(listed.into_iter().collect::<BTreeSet<_>>(), want);

    // The announcement group stays; a group is in one community at a time.
    let iq = g2(&parent, "set", unlink(&announcement));
    assert_eq!(refusal(&alice_conn, iq).await, 400);
    let (other, _) = alice.create_community("Other", &[]).unwrap();
    assert_eq!(
        refusal(&alice_conn, g2(&other, "set", link(&books))).await,
        409
    );
    assert_eq!(
        refusal(&bob_conn, g2(&parent, "set", unlink(&books))).await,
        403
    );

    assert!(alice.unlink_group(&parent, &books));
    assert_eq!(sim.group_parent(&books), None);
    assert_eq!(sim.sub_groups(&parent), vec![announcement.clone()]);
    assert!(sim.group_members(&parent).unwrap().contains_key(DAVE));
    let told = gp2(&mut dave_events, &books, "unlink").await;
    assert_eq!(told.attr_str("unlink_type"), Some("parent_group"));
    assert_eq!(told.attr_str("unlink_reason"), Some("unlink_group"));
    assert_eq!(told.child("group").unwrap().attr_jid("jid"), Some(&parent));
    let told = gp2(&mut alice_events, &parent, "unlink").await;
    assert_eq!(told.attr_str("unlink_type"), Some("sub_group"));
    assert_eq!(told.child("group").unwrap().attr_jid("jid"), Some(&books));
    assert!(!alice.unlink_group(&parent, &books), "no longer linked");
    // Now free, it can join the other community.
    assert!(alice.link_group(&other, &books));
    assert_eq!(sim.group_parent(&books), Some(other));
}

/// Baileys' `group` command `action` (with the fields of `extra`): its
/// result. A call Baileys fails fails the test.
async fn group(baileys: &mut Baileys, action: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut cmd = serde_json::json!({"cmd": "group", "action": action});
    for (k, v) in extra.as_object().unwrap() {
        cmd[k] = v.clone();
    }
    baileys.command(cmd).await;
    loop {
        let ev = baileys.next(&[]).await;
        assert_ne!(ev["event"], "error", "Baileys' {action}: {ev}");
        if ev["event"] == "group-done" {
            return ev["result"].clone();
        }
    }
}

/// Baileys' own community calls: `communityCreate`, `communityCreateGroup`
/// with a scripted phone's account, `communityFetchLinkedGroups`.
#[tokio::test]
async fn baileys_makes_a_community_and_a_group_in_it() {
    let Some(dir) = baileys_dir() else { return };
    let sim = start_sim().await;
    let mut baileys = Baileys::start_script(&dir, &sim, "peer.mjs");
    baileys.link(&sim.account(ALICE)).await;
    sim.account(BOB);

    let made = group(
        &mut baileys,
        "community-create",
        serde_json::json!({"subject": "Baileys street", "description": "hello"}),
    )
    .await;
    let parent: Jid = made["id"].as_str().unwrap().parse().unwrap();
    assert!(sim.is_community(&parent), "{made}");
    assert_eq!(made["metadata"]["isCommunity"], true, "{made}");
    assert_eq!(made["metadata"]["desc"], "hello", "{made}");

    let made = group(
        &mut baileys,
        "community-create-group",
        serde_json::json!({
            "subject": "Baileys garden",
            "participants": [format!("{BOB}@s.whatsapp.net")],
            "group": parent.to_string(),
        }),
    )
    .await;
    let garden: Jid = made["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(sim.group_parent(&garden), Some(parent.clone()));
    assert_eq!(
        made["metadata"]["linkedParent"],
        parent.to_string(),
        "{made}"
    );
    assert!(sim.group_members(&parent).unwrap().contains_key(BOB));

    let linked = group(
        &mut baileys,
        "community-linked",
        serde_json::json!({"group": parent.to_string()}),
    )
    .await;
    assert_eq!(linked["isCommunity"], true, "{linked}");
    let ids: BTreeSet<String> = linked["linkedGroups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_owned())
        .collect();
    let want: BTreeSet<String> = sim.sub_groups(&parent).iter().map(Jid::to_string).collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids, want);
}
