//! Device lists (usync) and prekey bundles: what a sender needs before it can
//! encrypt to every device of a user.

use std::collections::HashMap;
use std::sync::Arc;

use prost::Message as _;
use wa_core::adv;
use wa_core::binary::Node;
use wa_core::jid::{Jid, Server};
use wa_core::proto::AdvKeyIndexList;

use super::{Shared, unix_now};
use crate::account::{Account, BundleKeys};

fn result(id: &str, children: Vec<Node>) -> Node {
    Node::new("iq")
        .attr("from", Jid::server_jid())
        .attr("type", "result")
        .attr("id", id.to_owned())
        .children(children)
}

/// `<usync>`: devices (with the account-signed key-index list) and LIDs of
/// the listed users. Unknown users are left out.
pub(super) fn query(shared: &Arc<Shared>, id: &str, iq: &Node) -> Node {
    let Some(usync) = iq.child("usync") else {
        return result(id, Vec::new());
    };
    let wants = |proto: &str| usync.child("query").and_then(|q| q.child(proto)).is_some();
    let (want_devices, want_lid) = (wants("devices"), wants("lid"));
    let want_contact = wants("contact");
    // whatsmeow asks `<contact addressing_mode="lid"/>`: the account is then
    // named by its LID, with its number in `pn_jid`.
    let contact_by_lid = usync
        .child("query")
        .and_then(|q| q.child("contact"))
        .and_then(|c| c.attr_str("addressing_mode"))
        == Some("lid");
    let list: Vec<Node> = usync
        .child("list")
        .map(|l| l.children_by_tag("user").cloned().collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut guard = shared.state();
    let state = &mut *guard;
    // Contact lookup by phone number: `<user><contact>+1555..</contact></user>`
    // answers `type="in"` with the user's JID if the number is on the
    // network, `type="out"` if not.
    let mut users = Vec::new();
    for user in list {
        if let Some(jid) = user.attr_jid("jid") {
            users.push(jid.clone());
            continue;
        }
        let Some(number) = user.child("contact").and_then(Node::content_bytes) else {
            continue;
        };
        let text = String::from_utf8_lossy(number).into_owned();
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        let known = want_contact && state.accounts.contains_key(&digits);
        let contact = Node::new("contact")
            .attr("type", if known { "in" } else { "out" })
            .bytes(text.into_bytes());
        let mut node = Node::new("user");
        let lid = state.accounts.get(&digits).map(|a| a.lid_jid(0));
        match (known, lid) {
            (true, Some(lid)) if contact_by_lid => {
                node = node.attr("jid", lid).attr("pn_jid", Jid::user_jid(digits));
            }
            (true, _) => node = node.attr("jid", Jid::user_jid(digits)),
            (false, _) => {}
        }
        out.push(node.children(vec![contact]));
    }
    for jid in users {
        let Some((pn, _)) = state.resolve(&jid.to_non_ad()) else {
            continue;
        };
        let Some(account) = state.accounts.get(&pn) else {
            continue;
        };
        let mut children = Vec::new();
        if want_devices {
            children.push(devices(account, &mut state.key_index_lists));
        }
        if want_lid && jid.server() == &Server::User {
            children.push(Node::new("lid").attr("val", account.lid_jid(0)));
        }
        out.push(Node::new("user").attr("jid", jid).children(children));
    }
    drop(guard);
    let sid = usync.attr_str("sid").unwrap_or_default().to_owned();
    result(
        id,
        vec![
            Node::new("usync")
                .attr("sid", sid)
                .attr("mode", "query")
                .attr("last", "true")
                .attr("index", "0")
                .children(vec![Node::new("list").children(out)]),
        ],
    )
}

/// An account's signed key-index list as the phone last signed it. The
/// server only stores it: it is signed again only when the companions
/// change, so a usync of many users costs no signatures.
#[derive(Debug, Clone)]
pub(crate) struct SignedList {
    current_index: u32,
    valid_indexes: Vec<u32>,
    ts: u64,
    bytes: Vec<u8>,
}

/// Signs `account`'s current key-index list (as its phone does after a link
/// or an unlink).
pub(crate) fn sign_list<R: rand::CryptoRng + ?Sized>(
    account: &Account,
    now: u64,
    rng: &mut R,
) -> SignedList {
    let current_index = account.next_key_index.saturating_sub(1);
    let valid_indexes = valid_indexes(account);
    let list = AdvKeyIndexList {
        raw_id: Some(account.raw_id),
        timestamp: Some(now),
        current_index: Some(current_index),
        valid_indexes: valid_indexes.clone(),
        account_type: None,
    };
    let signed = adv::sign_key_index_list(&account.identity, &list, rng);
    SignedList {
        current_index,
        valid_indexes,
        ts: now,
        bytes: signed.encode_to_vec(),
    }
}

fn valid_indexes(account: &Account) -> Vec<u32> {
    account
        .companions
        .values()
        .filter(|c| !c.unsigned)
        .map(|c| c.key_index)
        .collect()
}

fn devices(account: &Account, lists: &mut HashMap<String, SignedList>) -> Node {
    let mut list = vec![Node::new("device").attr("id", "0")];
    for (device, c) in &account.companions {
        list.push(
            Node::new("device")
                .attr("id", device.to_string())
                .attr("key-index", c.key_index.to_string()),
        );
    }
    let current_index = account.next_key_index.saturating_sub(1);
    let fresh = lists.get(&account.pn).is_some_and(|l| {
        l.current_index == current_index && l.valid_indexes == valid_indexes(account)
    });
    if !fresh {
        let signed = sign_list(account, unix_now(), &mut rand::rng());
        lists.insert(account.pn.clone(), signed);
    }
    let (ts, bytes) = lists
        .get(&account.pn)
        .map(|l| (l.ts, l.bytes.clone()))
        .unwrap_or_default();
    Node::new("devices").children(vec![
        Node::new("device-list").children(list),
        Node::new("key-index-list")
            .attr("ts", ts.to_string())
            .bytes(bytes),
    ])
}

/// `<key><user jid/>..</key>`: one bundle per existing device, each one-time
/// prekey handed out once. Unknown devices are left out.
pub(super) fn prekey_bundles(shared: &Arc<Shared>, id: &str, iq: &Node) -> Node {
    let wanted: Vec<Jid> = iq
        .child("key")
        .map(|k| {
            k.children_by_tag("user")
                .filter_map(|u| u.attr_jid("jid").cloned())
                .collect()
        })
        .unwrap_or_default();
    let mut users = Vec::new();
    let mut state = shared.state();
    for jid in wanted {
        let Some((pn, device)) = state.resolve(&jid) else {
            continue;
        };
        let Some(account) = state.accounts.get_mut(&pn) else {
            continue;
        };
        let identity = (device != 0)
            .then(|| account.companions.get(&device))
            .flatten()
            .map(|c| c.signed_identity.encode_to_vec());
        let Some(keys) = account.keys_mut(device) else {
            continue;
        };
        users.push(bundle(jid, keys, identity));
    }
    result(id, vec![Node::new("list").children(users)])
}

fn be(n: u32, len: usize) -> Vec<u8> {
    n.to_be_bytes()[4 - len..].to_vec()
}

fn bundle(jid: Jid, keys: &mut BundleKeys, device_identity: Option<Vec<u8>>) -> Node {
    let mut children = vec![
        Node::new("registration").bytes(be(keys.registration_id, 4)),
        Node::new("type").bytes(vec![5u8]),
        Node::new("identity").bytes(keys.identity.clone()),
        Node::new("skey").children(vec![
            Node::new("id").bytes(be(keys.signed_prekey_id, 3)),
            Node::new("value").bytes(keys.signed_prekey.clone()),
            Node::new("signature").bytes(keys.signed_prekey_signature.clone()),
        ]),
    ];
    if let Some((pid, public)) = keys.take_prekey() {
        children.push(Node::new("key").children(vec![
            Node::new("id").bytes(be(pid, 3)),
            Node::new("value").bytes(public),
        ]));
    }
    if let Some(identity) = device_identity {
        children.push(Node::new("device-identity").bytes(identity));
    }
    Node::new("user").attr("jid", jid).children(children)
}
