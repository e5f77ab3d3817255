//! App-state storage on the server: patches pushed and fetched by version,
//! 409 for a device that is behind, paging, `server_sync` to the other
//! devices. Patches are opaque bytes here; the phone's own patches are
//! checked in `phone_appstate.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use tokio::sync::mpsc;
use wa_client::{Connection, Event};
use wa_core::binary::Node;
use wa_core::jid::Jid;
use wa_sim::Sim;

use support::{Device, link, login, next_node, start_sim};

/// A companion of `pn` (linked now), logged in and past its offline marker.
async fn device_of(sim: &Sim, pn: &str) -> (Connection, mpsc::Receiver<Event>) {
    let phone = sim.account(pn);
    let mut device = Device::new();
    link(sim, &phone, &mut device).await.unwrap();
    let (conn, mut events, _) = login(sim, &device).await;
    assert_eq!(next_node(&mut events).await.tag, "ib");
    (conn, events)
}

fn sync_iq(collections: Vec<Node>) -> Node {
    Node::new("iq")
        .attr("to", Jid::server_jid())
        .attr("type", "set")
        .attr("xmlns", "w:sync:app:state")
        .children(vec![Node::new("sync").children(collections)])
}

fn push(name: &str, version: u64, patch: &[u8]) -> Node {
    sync_iq(vec![
        Node::new("collection")
            .attr("name", name.to_owned())
            .attr("version", version.to_string())
            .attr("return_snapshot", "false")
            .children(vec![Node::new("patch").bytes(patch.to_vec())]),
    ])
}

fn fetch(name: &str, version: u64) -> Node {
    sync_iq(vec![
        Node::new("collection")
            .attr("name", name.to_owned())
            .attr("version", version.to_string())
            .attr("return_snapshot", "false"),
    ])
}

fn collection(answer: &Node) -> &Node {
    answer
        .child("sync")
        .and_then(|s| s.child("collection"))
        .unwrap_or_else(|| panic!("no sync/collection in {answer}"))
}

fn patches(c: &Node) -> Vec<Vec<u8>> {
    c.child("patches")
        .map(|p| {
            p.children_by_tag("patch")
                .map(|p| p.content_bytes().unwrap().to_vec())
                .collect()
        })
        .unwrap_or_default()
}

/// A patch as the server hands it out: as pushed, then `version{version}`.
fn served(patch: &[u8], version: u8) -> Vec<u8> {
    let mut out = patch.to_vec();
    out.extend_from_slice(&[0x0a, 0x02, 0x08, version]);
    out
}

/// Some bytes shaped like a patch: a snapshot MAC (field 4).
fn opaque(n: u8) -> Vec<u8> {
    let mut p = vec![0x22, 0x20];
    p.extend_from_slice(&[n; 32]);
    p
}

#[tokio::test]
async fn pushed_patches_come_back_numbered() {
    let sim = start_sim().await;
    let pn = "15557770001";
    let (conn, _events) = device_of(&sim, pn).await;
    let answer = conn.iq(push("regular_low", 0, &opaque(1))).await.unwrap();
    let c = collection(&answer);
    assert_eq!(c.attr_str("name"), Some("regular_low"));
    assert_eq!(c.attr_str("version"), Some("1"));
    assert_eq!(c.attr_str("type"), None);
    let answer = conn.iq(push("regular_low", 1, &opaque(2))).await.unwrap();
    assert_eq!(collection(&answer).attr_str("version"), Some("2"));
    assert_eq!(sim.app_state_version(pn, "regular_low"), 2);
    assert_eq!(sim.app_state_version(pn, "regular_high"), 0);

    let answer = conn.iq(fetch("regular_low", 0)).await.unwrap();
    let c = collection(&answer);
    assert_eq!(c.attr_str("version"), Some("2"));
    assert_eq!(c.attr_str("has_more_patches"), Some("false"));
    assert_eq!(
        patches(c),
        vec![served(&opaque(1), 1), served(&opaque(2), 2)]
    );
    assert!(c.child("snapshot").is_none());
    let answer = conn.iq(fetch("regular_low", 1)).await.unwrap();
    assert_eq!(patches(collection(&answer)), vec![served(&opaque(2), 2)]);
    // Up to date: nothing, and no error.
    let answer = conn.iq(fetch("regular_low", 2)).await.unwrap();
    assert!(patches(collection(&answer)).is_empty());
    // An empty collection answers version 0.
    let answer = conn.iq(fetch("critical_block", 0)).await.unwrap();
    assert_eq!(collection(&answer).attr_str("version"), Some("0"));
}

#[tokio::test]
async fn several_collections_in_one_request() {
    let sim = start_sim().await;
    let pn = "15557770002";
    let (conn, _events) = device_of(&sim, pn).await;
    conn.iq(push("regular_high", 0, &opaque(7))).await.unwrap();
    let request = sync_iq(
        ["regular_high", "regular_low", "nonsense"]
            .iter()
            .map(|n| {
                Node::new("collection")
                    .attr("name", *n)
                    .attr("version", "0")
                    .attr("return_snapshot", "false")
            })
            .collect(),
    );
    let answer = conn.iq(request).await.unwrap();
    let cs: Vec<&Node> = answer
        .child("sync")
        .unwrap()
        .children_by_tag("collection")
        .collect();
    assert_eq!(cs.len(), 3);
    assert_eq!(patches(cs[0]), vec![served(&opaque(7), 1)]);
    assert!(patches(cs[1]).is_empty());
    assert_eq!(cs[2].attr_str("type"), Some("error"));
    assert_eq!(cs[2].child("error").unwrap().attr_str("code"), Some("400"));
}

#[tokio::test]
async fn a_push_on_an_old_version_gets_409_and_the_winners() {
    let sim = start_sim().await;
    let pn = "15557770003";
    let (a, _ea) = device_of(&sim, pn).await;
    let (b, _eb) = device_of(&sim, pn).await;
    a.iq(push("regular_low", 0, &opaque(1))).await.unwrap();
    a.iq(push("regular_low", 1, &opaque(2))).await.unwrap();
    // B still thinks the collection is empty.
    let answer = b.iq(push("regular_low", 0, &opaque(3))).await.unwrap();
    assert_eq!(answer.attr_str("type"), Some("result"));
    let c = collection(&answer);
    assert_eq!(c.attr_str("type"), Some("error"));
    let error = c.child("error").unwrap();
    assert_eq!(error.attr_str("code"), Some("409"));
    assert_eq!(error.attr_str("text"), Some("conflict"));
    assert_eq!(c.attr_str("has_more_patches"), Some("false"));
    assert_eq!(
        patches(c),
        vec![served(&opaque(1), 1), served(&opaque(2), 2)]
    );
    assert_eq!(sim.app_state_version(pn, "regular_low"), 2);
    // Rebased on the winners, it lands.
    let answer = b.iq(push("regular_low", 2, &opaque(3))).await.unwrap();
    assert_eq!(collection(&answer).attr_str("version"), Some("3"));
}

#[tokio::test]
async fn the_other_devices_hear_of_a_new_patch() {
    let sim = start_sim().await;
    let pn = "15557770004";
    let (a, mut ea) = device_of(&sim, pn).await;
    let (_b, mut eb) = device_of(&sim, pn).await;
    a.iq(push("critical_unblock_low", 0, &opaque(1)))
        .await
        .unwrap();
    let note = loop {
        let n = next_node(&mut eb).await;
        if n.tag == "notification" {
            break n;
        }
    };
    assert_eq!(note.attr_str("type"), Some("server_sync"));
    assert_eq!(note.attr_jid("from"), Some(&Jid::user_jid(pn)));
    assert!(note.attr_str("id").is_some() && note.attr_str("t").is_some());
    let c = note.child("collection").unwrap();
    assert_eq!(c.attr_str("name"), Some("critical_unblock_low"));
    assert_eq!(c.attr_str("version"), Some("1"));
    // The pusher is not told.
    let quiet = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            if next_node(&mut ea).await.tag == "notification" {
                break;
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "the pushing device got a server_sync");
}

#[tokio::test]
async fn a_long_collection_comes_in_pages() {
    let sim = start_sim().await;
    let pn = "15557770005";
    let (conn, _events) = device_of(&sim, pn).await;
    for v in 0..60u8 {
        sim.push_app_state_patch(pn, 0, "regular", u64::from(v), opaque(v));
    }
    let answer = conn.iq(fetch("regular", 0)).await.unwrap();
    let c = collection(&answer);
    assert_eq!(c.attr_str("has_more_patches"), Some("true"));
    assert_eq!(c.attr_str("version"), Some("50"));
    assert_eq!(patches(c).len(), wa_sim::server::appstate::PAGE);
    let answer = conn.iq(fetch("regular", 50)).await.unwrap();
    let c = collection(&answer);
    assert_eq!(c.attr_str("has_more_patches"), Some("false"));
    assert_eq!(c.attr_str("version"), Some("60"));
    assert_eq!(patches(c).len(), 10);
    assert_eq!(patches(c)[9], served(&opaque(59), 60));
}
