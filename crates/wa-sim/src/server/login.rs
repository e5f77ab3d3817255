//! A paired companion logging in: recognised by username, device and its
//! Noise static key; then the IQs a client sends before it is online.

use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::info;
use wa_core::binary::Node;
use wa_core::proto::ClientPayload;

use super::session::Session;
use super::{ConnError, Push, Shared, appstate, groups, route, unix_now, usync};

pub(super) async fn run(
    mut session: Session,
    shared: &Arc<Shared>,
    noise_key: [u8; 32],
    payload: ClientPayload,
) -> Result<(), ConnError> {
    let pn = payload.username.map(|u| u.to_string()).unwrap_or_default();
    let device = payload
        .device
        .and_then(|d| u16::try_from(d).ok())
        .unwrap_or(0);
    let lid = {
        let state = shared.state();
        state.accounts.get(&pn).and_then(|account| {
            let companion = account.companions.get(&device)?;
            (companion.noise_key == noise_key).then(|| account.lid_jid(device))
        })
    };
    let Some(lid) = lid else {
        // Unknown device, or a known one with another key: logged out.
        return session
            .send(&Node::new("failure").attr("reason", "401"))
            .await;
    };
    let hold = shared.state().faults.holding(&(pn.clone(), device));
    if let Some(until) = hold {
        tokio::time::sleep_until(until).await;
    }
    if shared.state().faults.refusing(&(pn.clone(), device)) {
        return session
            .send(&Node::new("failure").attr("reason", "503"))
            .await;
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let me = (pn.clone(), device);
    shared.state().online.insert(me.clone(), tx.clone());
    info!(%pn, device, "companion logged in");
    let success = Node::new("success")
        .attr("t", unix_now().to_string())
        .attr("lid", lid);
    // Messages sent on this connection and not yet confirmed by a receipt:
    // like the real server, they are delivered again at the next login.
    let mut unacked = Unacked::default();
    let result = serve(&mut session, shared, &me, &success, &mut rx, &mut unacked).await;
    rx.close();
    requeue(shared, &me, &tx, rx, unacked);
    result
}

/// Serves a logged-in connection: `<success>`, what arrived while the
/// device was away, then its stanzas and the server's pushes until the
/// connection ends.
async fn serve(
    session: &mut Session,
    shared: &Arc<Shared>,
    me: &(String, u16),
    success: &Node,
    rx: &mut mpsc::UnboundedReceiver<Push>,
    unacked: &mut Unacked,
) -> Result<(), ConnError> {
    let (pn, device) = (&me.0, me.1);
    session.send(success).await?;
    // What arrived while the device was away, then the end-of-offline marker.
    let queued = shared.state().offline.remove(me).unwrap_or_default();
    for node in &queued {
        unacked.sent(node);
        session.send(node).await?;
    }
    let offline = Node::new("ib").children(vec![
        Node::new("offline").attr("count", queued.len().to_string()),
    ]);
    session.send(&offline).await?;
    loop {
        tokio::select! {
            node = session.recv() => {
                let node = node?;
                shared.state().recorder.sent(me, &node);
                match node.tag.as_ref() {
                    "iq" => answer_iq(session, shared, (pn, device), &node).await?,
                    "message" => {
                        let ack = route::message(shared, me, &node);
                        session.send(&ack).await?;
                    }
                    "receipt" => {
                        unacked.confirmed(&node);
                        if let Some(ack) = route::receipt(shared, me, &node) {
                            session.send(&ack).await?;
                        }
                    }
                    "presence" => route::presence(shared, me, &node),
                    "ib" => {
                        if let Some(id) = node
                            .child("unified_session")
                            .and_then(|u| u.attr_str("id"))
                        {
                            shared.state().unified_sessions.insert(me.clone(), id.to_owned());
                        }
                    }
                    "chatstate" => route::chatstate(shared, me, &node),
                    "ack" if node.attr_str("class") == Some("message") => {
                        unacked.confirmed(&node);
                    }
                    _ => {}
                }
            }
            push = rx.recv() => match push {
                Some(Push::LoggedOut) => return session.device_removed().await,
                Some(Push::Deliver(node)) => {
                    unacked.sent(&node);
                    session.send(&node).await?;
                }
                Some(Push::Cut) => return Err(ConnError::Closed),
                Some(Push::Pair(_)) | None => {}
            },
        }
    }
}

/// After the connection: the device is offline (unless a newer connection
/// took its place), and what it was not given goes back to its queue.
fn requeue(
    shared: &Shared,
    me: &(String, u16),
    tx: &mpsc::UnboundedSender<Push>,
    mut rx: mpsc::UnboundedReceiver<Push>,
    unacked: Unacked,
) {
    let mut state = shared.state();
    if state.online.get(me).is_some_and(|t| t.same_channel(tx)) {
        state.online.remove(me);
    }
    // Messages never confirmed, then stanzas pushed but not sent, go back
    // to the front of the queue in the order they came.
    let mut back = unacked.into_nodes();
    while let Ok(push) = rx.try_recv() {
        if let Push::Deliver(node) = push {
            back.push(node);
        }
    }
    if !back.is_empty() {
        let queue = state.offline.entry(me.clone()).or_default();
        back.append(queue);
        *queue = back;
    }
}

/// What kind of stanza `node` is, without its values: the tag, the `type`
/// and `xmlns` values that tell IQs apart, every attribute name, and the
/// tags of its children (for comparing clients on the wire).
/// `<message>` stanzas a connection sent whose receipt has not come.
#[derive(Default)]
struct Unacked(Vec<Node>);

impl Unacked {
    fn sent(&mut self, node: &Node) {
        if node.tag == "message" {
            self.0.push(node.clone());
        }
    }

    /// A `<receipt>` (of any type, with further ids in `<list>`) or an
    /// `<ack class="message">` from the device confirms the ids it names.
    fn confirmed(&mut self, node: &Node) {
        let mut ids: Vec<&str> = node.attr_str("id").into_iter().collect();
        if let Some(list) = node.child("list") {
            ids.extend(
                list.children_by_tag("item")
                    .filter_map(|item| item.attr_str("id")),
            );
        }
        self.0
            .retain(|m| m.attr_str("id").is_none_or(|id| !ids.contains(&id)));
    }

    fn into_nodes(self) -> Vec<Node> {
        self.0
    }
}

async fn answer_iq(
    session: &mut Session,
    shared: &Arc<Shared>,
    (pn, device): (&str, u16),
    node: &Node,
) -> Result<(), ConnError> {
    let Some(id) = node.attr_str("id").map(str::to_owned) else {
        return Ok(());
    };
    let first = node.child_nodes().first().map(|c| c.tag.as_ref());
    match (node.attr_str("type"), node.attr_str("xmlns"), first) {
        (Some("result" | "error"), _, _) => Ok(()),
        (Some("get"), Some("w:p"), _) => session.result(&id, Vec::new()).await,
        (Some("set"), Some("passive"), first) => {
            session.result(&id, Vec::new()).await?;
            if first == Some("active") {
                // Online and past its prekey upload: the phone sends keys and history.
                crate::phone::history::companion_active(shared, pn, device);
            }
            Ok(())
        }
        (Some("set"), Some("md"), Some("remove-companion-device")) => {
            remove_own_device(session, shared, (pn, device), &id, node).await
        }
        (Some("get"), Some("abt"), Some("props")) => {
            let props = shared.state().settings.props_node();
            session.result(&id, vec![props]).await
        }
        (Some("get"), Some("blocklist"), _) => {
            let list = shared.state().settings.blocklist_node(pn);
            session.result(&id, vec![list]).await
        }
        (Some("set"), Some("privacy"), Some("tokens")) => {
            super::tokens::iq(shared, pn, node);
            session.result(&id, Vec::new()).await
        }
        (Some("get"), Some("privacy"), Some("privacy")) => {
            let privacy = shared.state().settings.privacy_node(pn);
            session.result(&id, vec![privacy]).await
        }
        (Some("set"), Some("w:m"), Some("media_conn")) => match shared.media.media_conn() {
            Some(conn) => session.result(&id, vec![conn]).await,
            None => session.not_implemented(&id).await,
        },
        (Some("get" | "set"), Some("w:profile:picture"), _) => {
            let answer = super::pictures::iq(shared, pn, &id, node);
            session.send(&answer).await
        }
        (Some("get" | "set"), Some("w:g2"), _) => {
            let answer = groups::iq(shared, pn, &id, node);
            session.send(&answer).await
        }
        (Some("set"), Some("w:sync:app:state"), _) => {
            let answer = appstate::iq(shared, &(pn.to_owned(), device), &id, node);
            session.send(&answer).await
        }
        (Some("get"), Some("usync"), _) => {
            let answer = usync::query(shared, &id, node);
            session.send(&answer).await
        }
        (kind, Some("encrypt"), first) => {
            encrypt_iq(session, shared, (pn, device), &id, (kind, first), node).await
        }
        _ => session.not_implemented(&id).await,
    }
}

/// Answers an `encrypt` IQ (`kind` is its `type`, `first` its first
/// child's tag): how many of our prekeys the server holds, others' prekey
/// bundles, the digest of our keys, a signed prekey rotation, or an upload
/// of prekeys.
async fn encrypt_iq(
    session: &mut Session,
    shared: &Arc<Shared>,
    (pn, device): (&str, u16),
    id: &str,
    (kind, first): (Option<&str>, Option<&str>),
    node: &Node,
) -> Result<(), ConnError> {
    match (kind, first) {
        (Some("get"), Some("count")) => {
            let count = shared
                .state()
                .accounts
                .get(pn)
                .and_then(|a| a.companions.get(&device))
                .map_or(0, |c| c.keys.prekeys.len());
            session
                .result(
                    id,
                    vec![Node::new("count").attr("value", count.to_string())],
                )
                .await
        }
        (Some("get"), Some("key")) => {
            let answer = usync::prekey_bundles(shared, id, node);
            session.send(&answer).await
        }
        (Some("get"), Some("digest")) => {
            let digest = shared
                .state()
                .accounts
                .get(pn)
                .and_then(|a| a.companions.get(&device))
                .map(|c| key_digest(&c.keys));
            match digest {
                Some(d) => session.result(id, vec![d]).await,
                None => session.error(id, "404", "item-not-found").await,
            }
        }
        (Some("set"), Some("rotate")) => {
            let skey = node
                .child("rotate")
                .and_then(|r| r.child("skey"))
                .and_then(signed_prekey);
            let Some((skey_id, value, signature)) = skey else {
                return session.error(id, "400", "bad-request").await;
            };
            if let Some(c) = shared
                .state()
                .accounts
                .get_mut(pn)
                .and_then(|a| a.companions.get_mut(&device))
            {
                c.keys.signed_prekey_id = skey_id;
                c.keys.signed_prekey = value;
                c.keys.signed_prekey_signature = signature;
            }
            session.result(id, Vec::new()).await
        }
        (Some("set"), _) if node.child("list").is_some() => {
            let keys: Vec<(u32, Vec<u8>)> = node
                .child("list")
                .map(|l| l.children_by_tag("key").filter_map(prekey).collect())
                .unwrap_or_default();
            let skey = node.child("skey").and_then(signed_prekey);
            if let Some(c) = shared
                .state()
                .accounts
                .get_mut(pn)
                .and_then(|a| a.companions.get_mut(&device))
            {
                c.keys.prekeys.extend(keys);
                if let Some((id, value, signature)) = skey {
                    c.keys.signed_prekey_id = id;
                    c.keys.signed_prekey = value;
                    c.keys.signed_prekey_signature = signature;
                }
            }
            session.result(id, Vec::new()).await
        }
        _ => session.not_implemented(id).await,
    }
}

/// A companion logs itself out (whatsmeow's `Logout`, Baileys' `logout`):
/// `<iq xmlns="md" type="set"><remove-companion-device jid=OWN
/// reason="user_initiated"/>`. The device is unlinked from the account,
/// the IQ answered, and its stream then ends with 401 as for a device the
/// phone removed. A companion naming any other device is refused: only
/// the phone unlinks others.
async fn remove_own_device(
    session: &mut Session,
    shared: &Arc<Shared>,
    (pn, device): (&str, u16),
    id: &str,
    node: &Node,
) -> Result<(), ConnError> {
    let named = node
        .child("remove-companion-device")
        .and_then(|r| r.attr_jid("jid"));
    let own = named.is_some_and(|j| j.user() == pn && j.device() == device && !j.is_lid());
    if !own {
        return session.error(id, "403", "forbidden").await;
    }
    let online = {
        let mut state = shared.state();
        if let Some(account) = state.accounts.get_mut(pn) {
            account.companions.remove(&device);
        }
        state.online.remove(&(pn.to_owned(), device))
    };
    session.result(id, Vec::new()).await?;
    if let Some(tx) = online {
        let _ = tx.send(Push::LoggedOut);
    }
    Ok(())
}

/// A `<key><id>3 bytes</id><value>32 bytes</value></key>`.
fn prekey(key: &Node) -> Option<(u32, Vec<u8>)> {
    let id = key.child("id")?.content_bytes()?;
    let value = key.child("value")?.content_bytes()?;
    if id.len() != 3 || value.len() != 32 {
        return None;
    }
    Some((be_u32(id), value.to_vec()))
}

/// A `<skey><id/><value/><signature/></skey>`.
fn signed_prekey(skey: &Node) -> Option<(u32, Vec<u8>, Vec<u8>)> {
    let (id, value) = prekey(skey)?;
    let signature = skey.child("signature")?.content_bytes()?;
    (signature.len() == 64).then(|| (id, value, signature.to_vec()))
}

pub(crate) fn be_u32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0u32, |acc, b| acc << 8 | u32::from(*b))
}

/// `<digest>`: the registration id, the key ids the server holds and a SHA-1
/// over identity, signed prekey, its signature and those prekeys in order,
/// so the client can compare with what it has.
fn key_digest(keys: &crate::account::BundleKeys) -> Node {
    use sha1::{Digest, Sha1};
    let mut hash = Sha1::new();
    hash.update(&keys.identity);
    hash.update(&keys.signed_prekey);
    hash.update(&keys.signed_prekey_signature);
    let mut ids = Vec::with_capacity(keys.prekeys.len());
    for (id, public) in &keys.prekeys {
        hash.update(public);
        ids.push(Node::new("id").bytes(id.to_be_bytes()[1..].to_vec()));
    }
    Node::new("digest").children(vec![
        Node::new("type").bytes(vec![5u8]),
        Node::new("registration").bytes(keys.registration_id.to_be_bytes().to_vec()),
        Node::new("identity").bytes(keys.identity.clone()),
        Node::new("skey").children(vec![
            Node::new("id").bytes(keys.signed_prekey_id.to_be_bytes()[1..].to_vec()),
            Node::new("value").bytes(keys.signed_prekey.clone()),
            Node::new("signature").bytes(keys.signed_prekey_signature.clone()),
        ]),
        Node::new("list").children(ids),
        Node::new("hash").bytes(hash.finalize().to_vec()),
    ])
}
