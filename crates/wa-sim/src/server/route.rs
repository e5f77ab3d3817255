//! Routing of end-to-end encrypted stanzas: a sender's `<message>` becomes one
//! stanza per recipient device (each with its own `<enc>`), receipts go back
//! to the device that sent the message, and the sender gets the server `ack`.
//!
//! Addressing follows the sender: a chat addressed by LID is delivered in LID
//! form (with `sender_pn`), one addressed by phone number in PN form (with
//! `sender_lid`); a copy for the sender's own other devices carries
//! `recipient` and the peer's alternate address instead.

use std::collections::HashMap;
use std::sync::Arc;

use wa_core::binary::Node;
use wa_core::jid::{Jid, Server};

use super::{Routed, Shared, State, unix_now};

/// Routes a `<message>` from device `me`; returns the `ack` for the sender.
pub(crate) fn message(shared: &Arc<Shared>, me: &(String, u16), node: &Node) -> Node {
    let id = node.attr_str("id").unwrap_or_default().to_owned();
    let t = unix_now().to_string();
    let Some(chat) = node.attr_jid("to").cloned() else {
        return Node::new("ack")
            .attr("class", "message")
            .attr("id", id)
            .attr("error", "400");
    };
    let ack = Node::new("ack")
        .attr("class", "message")
        .attr("id", id.clone())
        .attr("from", chat.clone())
        .attr("t", t.clone());
    if chat.is_group() {
        return group_message(shared, me, node, &chat, ack);
    }
    let targets = direct_targets(node, &chat);
    let lid_form = chat.server() == &Server::Lid;
    // Both clients name the devices in the chat's own addressing: LID
    // devices for a LID chat (whatsmeow `sendDM`), phone-number devices
    // for a phone-number chat (Baileys `relayMessage`). A mix is a stanza
    // the server does not validate: 479, which Baileys reads as "malformed
    // addressing" (`handleBadAck`).
    if targets
        .iter()
        .any(|(to, _)| (to.server() == &Server::Lid) != lid_form)
    {
        return ack.attr("error", "479");
    }
    let mut state = shared.state();
    let token = node.child("tctoken").and_then(Node::content_bytes);
    if let Some((recipient, _)) = state.resolve(&chat.to_non_ad())
        && !state.tokens.admits(&me.0, &recipient, token)
    {
        return ack.attr("error", "463");
    }
    deliver_direct(&mut state, me, node, &chat, targets, (&id, &t));
    ack
}

/// The devices a 1:1 message is for, each with its `<enc>`: either
/// `<participants><to jid><enc/></to>..</participants>`, or (a retry resend
/// to one device) `<enc>` directly under the message, for the chat itself.
fn direct_targets(node: &Node, chat: &Jid) -> Vec<(Jid, Node)> {
    match node.child("participants") {
        Some(p) => p
            .children_by_tag("to")
            .filter_map(|to| Some((to.attr_jid("jid")?.clone(), to.child("enc")?.clone())))
            .collect(),
        None => node
            .child("enc")
            .map(|enc| vec![(chat.clone(), enc.clone())])
            .unwrap_or_default(),
    }
}

/// Delivers a 1:1 message from device `me` to each of `targets` (unless
/// it blocked the sender), addressed as `chat` is: by LID with the
/// sender's number beside it, or by number with its LID; a copy for one of
/// the sender's own devices names the chat in `recipient` instead. `id`
/// and `t` are the message's id and the server's time for it.
fn deliver_direct(
    state: &mut State,
    me: &(String, u16),
    node: &Node,
    chat: &Jid,
    targets: Vec<(Jid, Node)>,
    (id, t): (&str, &str),
) {
    let kind = node.attr_str("type").unwrap_or("text").to_owned();
    let device_identity = node.child("device-identity").cloned();
    let lid_form = chat.server() == &Server::Lid;
    let Some(sender) = state.accounts.get(&me.0) else {
        return;
    };
    let (sender_pn, sender_lid) = (sender.pn_jid(me.1), sender.lid_jid(me.1));
    let (sender_pn_user, sender_lid_user) = (sender.pn_jid(0), sender.lid_jid(0));
    let notify = state
        .push_names
        .get(&me.0)
        .cloned()
        .unwrap_or_else(|| me.0.clone());
    // The peer's other address, for copies to our own devices.
    let peer_alt = state.resolve(&chat.to_non_ad()).and_then(|(pn, _)| {
        let a = state.accounts.get(&pn)?;
        Some(if lid_form {
            ("peer_recipient_pn", a.pn_jid(0))
        } else {
            ("peer_recipient_lid", a.lid_jid(0))
        })
    });
    for (to, enc) in targets {
        let Some(target) = state.resolve(&to) else {
            continue;
        };
        if state.settings.blocks(&target.0, &me.0) {
            // The recipient blocked the sender: the server keeps it from
            // them (the sender sees it as sent, never delivered).
            continue;
        }
        let from = if lid_form { &sender_lid } else { &sender_pn };
        let mut out = Node::new("message")
            .attr("from", from.clone())
            .attr("id", id.to_owned())
            .attr("t", t.to_owned())
            .attr("type", kind.clone());
        if target.0 == me.0 {
            // A resend to one of our own devices names the chat in `recipient`.
            let conversation = node
                .attr_jid("recipient")
                .cloned()
                .unwrap_or_else(|| chat.to_non_ad());
            out = out.attr("recipient", conversation);
            if let Some((k, v)) = &peer_alt {
                out = out.attr(*k, v.clone());
            }
        } else {
            out = out.attr("notify", notify.clone());
            out = match lid_form {
                true if !state.number_shown(&me.0) => out,
                true => out.attr("sender_pn", sender_pn_user.clone()),
                false => out.attr("sender_lid", sender_lid_user.clone()),
            };
        }
        let mut children = vec![enc.clone()];
        if let Some(di) = &device_identity {
            children.push(di.clone());
        }
        // A bot's reply names the message it answers (and, streamed, the
        // reply it continues); only bots' stanzas carry them on.
        if sender_pn_user.is_bot() {
            children.extend(node.child("meta").cloned());
            children.extend(node.child("bot").cloned());
        }
        state.routed.push(Routed {
            from: sender_pn.clone(),
            to: Jid::with_device(target.0.clone(), target.1, Server::User),
            enc_type: enc.attr_str("type").unwrap_or_default().to_owned(),
            ciphertext: enc.content_bytes().unwrap_or_default().to_vec(),
        });
        state.deliver(&target, out.children(children));
    }
}

/// Routes a group message: every device of every member but the sender gets
/// the `skmsg`, preceded by its own pairwise `enc` (the sender key
/// distribution) when the sender included one for it.
fn group_message(
    shared: &Arc<Shared>,
    me: &(String, u16),
    node: &Node,
    gid: &Jid,
    ack: Node,
) -> Node {
    let id = node.attr_str("id").unwrap_or_default().to_owned();
    let t = unix_now().to_string();
    let kind = node.attr_str("type").unwrap_or("text").to_owned();
    let mut state = shared.state();
    let Some(group) = state.groups.get(gid.user()) else {
        return ack.attr("error", "404");
    };
    if !group.members.contains_key(&me.0) {
        return ack.attr("error", "403");
    }
    let members: Vec<String> = group.members.keys().cloned().collect();
    let lid_group = group.lid;
    // As in 1:1 chats, devices are named in the group's addressing (LID
    // devices in a LID group: whatsmeow `sendGroup`, Baileys `relayMessage`
    // from the members' `jid`); anything else is not validated (479).
    if names_other_addressing(node, lid_group) {
        return ack.attr("error", "479");
    }
    let resend = resend_target(&state, node);
    let skmsg = node
        .children_by_tag("enc")
        .find(|e| e.attr_str("type") == Some("skmsg"))
        .cloned();
    let device_identity = node.child("device-identity").cloned();
    let mut pairwise = pairwise_encs(&state, node);
    let Some((sender_pn, head)) = group_copy_head(&state, me, gid, lid_group, (&id, &t, &kind))
    else {
        return ack;
    };
    let targets: Vec<(String, u16)> = match &resend {
        Some((target, enc)) => {
            pairwise.insert(target.clone(), enc.clone());
            vec![target.clone()]
        }
        None => members
            .iter()
            .flat_map(|pn| state.devices_of(pn).into_iter().map(|d| (pn.clone(), d)))
            .collect(),
    };
    for target in targets {
        let (pn, device) = target.clone();
        if &target == me {
            continue;
        }
        let mut children = Vec::new();
        if let Some(enc) = pairwise.get(&target) {
            children.push(enc.clone());
        }
        if let Some(enc) = &skmsg {
            children.push(enc.clone());
        }
        if children.is_empty() {
            continue;
        }
        for enc in &children {
            state.routed.push(Routed {
                from: sender_pn.clone(),
                to: Jid::with_device(pn.clone(), device, Server::User),
                enc_type: enc.attr_str("type").unwrap_or_default().to_owned(),
                ciphertext: enc.content_bytes().unwrap_or_default().to_vec(),
            });
        }
        if let Some(di) = &device_identity {
            children.push(di.clone());
        }
        state.deliver(&target, head.clone().children(children));
    }
    ack
}

/// What every copy of a group message starts with: the group, the
/// message's `id`, time `t` and type `kind`, and the sender (device `me`)
/// in the group's addressing with the other form beside it (a bare user,
/// as whatsmeow's `parseMessageSource` expects), and its push name. Also
/// the sender's phone-number device JID. `None` for an unknown sender.
fn group_copy_head(
    state: &State,
    me: &(String, u16),
    gid: &Jid,
    lid_group: bool,
    (id, t, kind): (&str, &str, &str),
) -> Option<(Jid, Node)> {
    let sender = state.accounts.get(&me.0)?;
    let (sender_pn, sender_lid) = (sender.pn_jid(me.1), sender.lid_jid(me.1));
    let notify = state
        .push_names
        .get(&me.0)
        .cloned()
        .unwrap_or_else(|| me.0.clone());
    let out = Node::new("message")
        .attr("from", gid.clone())
        .attr("id", id.to_owned())
        .attr("t", t.to_owned())
        .attr("type", kind.to_owned());
    let out = match lid_group {
        true => out
            .attr("participant", sender_lid.clone())
            .attr("addressing_mode", "lid"),
        false => out
            .attr("participant", sender_pn.clone())
            .attr("addressing_mode", "pn")
            .attr("participant_lid", sender_lid.to_non_ad()),
    };
    let out = match lid_group && state.number_shown(&me.0) {
        true => out.attr("participant_pn", sender_pn.to_non_ad()),
        false => out,
    };
    Some((sender_pn, out.attr("notify", notify)))
}

/// Whether a group message names a device outside the group's addressing
/// (`lid_group`), among its `<to>` nodes or in `participant`.
fn names_other_addressing(node: &Node, lid_group: bool) -> bool {
    let named = node
        .child("participants")
        .into_iter()
        .flat_map(|p| p.children_by_tag("to"))
        .filter_map(|to| to.attr_jid("jid"))
        .chain(node.attr_jid("participant"));
    named
        .into_iter()
        .any(|j| (j.server() == &Server::Lid) != lid_group)
}

/// A retry resend: `participant` names the one device, whose pairwise
/// `<enc>` (message and sender key together) sits directly under the
/// message.
fn resend_target(state: &State, node: &Node) -> Option<((String, u16), Node)> {
    node.attr_jid("participant").and_then(|p| {
        let enc = node
            .children_by_tag("enc")
            .find(|e| e.attr_str("type") != Some("skmsg"))?;
        Some((state.resolve(p)?, enc.clone()))
    })
}

/// Pairwise encs by the device they are for, whichever form named it.
fn pairwise_encs(state: &State, node: &Node) -> HashMap<(String, u16), Node> {
    let mut pairwise = HashMap::new();
    if let Some(p) = node.child("participants") {
        for to in p.children_by_tag("to") {
            let target = to.attr_jid("jid").and_then(|jid| state.resolve(jid));
            if let (Some(target), Some(enc)) = (target, to.child("enc")) {
                pairwise.insert(target, enc.clone());
            }
        }
    }
    pairwise
}

/// Forwards a `<receipt>` from device `me` to the device it names in `to`.
pub(crate) fn receipt(shared: &Arc<Shared>, me: &(String, u16), node: &Node) -> Option<Node> {
    let id = node.attr_str("id")?.to_owned();
    let kind = node.attr_str("type").map(str::to_owned);
    let mut ack = Node::new("ack")
        .attr("class", "receipt")
        .attr("id", id.clone());
    if let Some(k) = &kind {
        ack = ack.attr("type", k.clone());
    }
    let Some(to) = node.attr_jid("to").cloned() else {
        return Some(ack);
    };
    ack = ack.attr("from", to.clone());
    if kind.as_deref() == Some("sender") {
        return Some(ack);
    }
    let mut state = shared.state();
    if to.is_group() {
        // A group receipt goes to the sending device named in `participant`.
        let target = state.resolve(node.attr_jid("participant")?)?;
        let lid_group = state.groups.get(to.user()).is_some_and(|g| g.lid);
        let account = state.accounts.get(&me.0)?;
        let reader = if lid_group {
            account.lid_jid(me.1)
        } else {
            account.pn_jid(me.1)
        };
        let mut out = Node::new("receipt")
            .attr("from", to.clone())
            .attr("participant", reader)
            .attr("id", id)
            .attr("t", unix_now().to_string());
        if let Some(k) = kind {
            out = out.attr("type", k);
        }
        if !node.child_nodes().is_empty() {
            out = out.children(node.child_nodes().to_vec());
        }
        state.deliver(&target, out);
        return Some(ack);
    }
    let target = state.resolve(&to)?;
    if matches!(kind.as_deref(), Some("read-self" | "played-self")) && target.0 != me.0 {
        // Read receipts are off for the reader: the sender is not told
        // (whatsmeow types/presence.go: "read-self").
        return Some(ack);
    }
    let account = state.accounts.get(&me.0)?;
    // Like the real server, `from` names the receipt's sending device (a
    // retry must be answered to that device alone).
    let from = if to.server() == &Server::Lid {
        account.lid_jid(me.1)
    } else {
        account.pn_jid(me.1)
    };
    let mut out = Node::new("receipt").attr("from", from).attr("id", id).attr(
        "t",
        node.attr_str("t")
            .map_or_else(|| unix_now().to_string(), str::to_owned),
    );
    if let Some(k) = kind {
        out = out.attr("type", k);
    }
    // Everything the receipt carries goes along: `<list>` of further ids, or a
    // retry request's `<retry>`, `<registration>` and `<keys>`.
    if !node.child_nodes().is_empty() {
        out = out.children(node.child_nodes().to_vec());
    }
    state.deliver(&target, out);
    Some(ack)
}

/// `<presence>`: `name` sets the push name others see in `notify`;
/// `available`/`unavailable` go to the devices that subscribed to this
/// account; `subscribe` registers such a device and tells it the current state.
pub(crate) fn presence(shared: &Arc<Shared>, me: &(String, u16), node: &Node) {
    let mut state = shared.state();
    if let Some(name) = node.attr_str("name") {
        state.push_names.insert(me.0.clone(), name.to_owned());
    }
    match node.attr_str("type") {
        Some("subscribe") => {
            let Some(target) = node
                .attr_jid("to")
                .and_then(|j| state.resolve(&j.to_non_ad()))
            else {
                return;
            };
            if node.child("tctoken").is_some() {
                state.tokens.subscribed_with_token(&me.0, &target.0);
            }
            let subs = state.subscribers.entry(target.0.clone()).or_default();
            if !subs.contains(me) {
                subs.push(me.clone());
            }
            if let Some(update) = state.presence.get(&target.0).cloned() {
                let out = presence_node(&target.0, &update);
                state.deliver(me, out);
            }
        }
        Some(kind @ ("available" | "unavailable")) => {
            let update = (kind == "available", unix_now());
            state.presence.insert(me.0.clone(), update);
            let out = presence_node(&me.0, &update);
            for sub in state.subscribers.get(&me.0).cloned().unwrap_or_default() {
                state.deliver(&sub, out.clone());
            }
        }
        _ => {}
    }
}

fn presence_node(pn: &str, (available, t): &(bool, u64)) -> Node {
    let out = Node::new("presence").attr("from", Jid::user_jid(pn.to_owned()));
    if *available {
        out.attr("type", "available")
    } else {
        out.attr("type", "unavailable").attr("last", t.to_string())
    }
}

/// `<chatstate to><composing/>|<paused/></chatstate>` goes to every device of
/// the peer (or of every other group member, with `participant`).
pub(crate) fn chatstate(shared: &Arc<Shared>, me: &(String, u16), node: &Node) {
    let Some(to) = node.attr_jid("to").cloned() else {
        return;
    };
    let children = node.child_nodes().to_vec();
    let mut state = shared.state();
    let sender = Jid::user_jid(me.0.clone());
    let (out, accounts) = if to.is_group() {
        let Some(group) = state.groups.get(to.user()) else {
            return;
        };
        let members: Vec<String> = group.members.keys().cloned().collect();
        let out = Node::new("chatstate")
            .attr("from", to.clone())
            .attr("participant", sender);
        (out, members)
    } else {
        let Some((pn, _)) = state.resolve(&to.to_non_ad()) else {
            return;
        };
        (Node::new("chatstate").attr("from", sender), vec![pn])
    };
    let out = out.children(children);
    for pn in accounts {
        for device in state.devices_of(&pn) {
            if (pn.as_str(), device) != (me.0.as_str(), me.1) {
                state.deliver(&(pn.clone(), device), out.clone());
            }
        }
    }
}
