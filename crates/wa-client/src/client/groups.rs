//! Groups (`w:g2`): create, query, remove members. Member lists are cached
//! per client and dropped on every group notification.

use std::sync::Arc;

use wa_core::binary::Node;
use wa_core::jid::{Jid, Server};

use super::{SendError, Shared, lock};
use crate::socket::Connection;

/// How a group names its members on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Addressing {
    /// By phone number (`addressing_mode="pn"`, older groups).
    #[default]
    PhoneNumber,
    /// By LID (`addressing_mode="lid"`, as the service makes new groups).
    Lid,
}

/// A group as the server describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// `ID@g.us`.
    pub jid: Jid,
    /// Its name.
    pub subject: String,
    /// Members (user JIDs), ourselves included: by phone number where the
    /// server gives it (a LID-addressed group gives both), else by LID.
    pub participants: Vec<Jid>,
    /// Members that are admins (or the super admin), named as in
    /// `participants`.
    pub admins: Vec<Jid>,
    /// How the group names its members on the wire.
    pub addressing: Addressing,
}

/// A `<group>` node, and the (phone number, LID) pairs it names.
fn parse(node: &Node) -> Option<(GroupInfo, Vec<(Jid, Jid)>)> {
    let id = node.attr_str("id")?;
    let jid = if id.contains('@') {
        id.parse().ok()?
    } else {
        Jid::new(id.to_owned(), Server::Group)
    };
    let addressing = match node.attr_str("addressing_mode") {
        Some("lid") => Addressing::Lid,
        _ => Addressing::PhoneNumber,
    };
    let mut participants = Vec::new();
    let mut admins = Vec::new();
    let mut pairs = Vec::new();
    for p in node.children_by_tag("participant") {
        let Some(j) = p.attr_jid("jid").map(Jid::to_non_ad) else {
            continue;
        };
        // whatsmeow `parseParticipant`: a LID member's number is in
        // `phone_number`, a numbered member's LID in `lid`.
        let (pn, lid) = if j.is_lid() {
            (
                p.attr_jid("phone_number").map(Jid::to_non_ad),
                Some(j.clone()),
            )
        } else {
            (Some(j.clone()), p.attr_jid("lid").map(Jid::to_non_ad))
        };
        if let (Some(pn), Some(lid)) = (&pn, &lid)
            && pn.server() == &Server::User
            && lid.is_lid()
        {
            pairs.push((pn.clone(), lid.clone()));
        }
        let member = pn.filter(|pn| pn.server() == &Server::User).unwrap_or(j);
        if p.attr_str("type").is_some_and(|t| t.contains("admin")) {
            admins.push(member.clone());
        }
        participants.push(member);
    }
    let info = GroupInfo {
        jid,
        subject: node.attr_str("subject").unwrap_or_default().to_owned(),
        participants,
        admins,
        addressing,
    };
    Some((info, pairs))
}

/// Parses the `<group>` of `answer`, keeps the LID mappings it gives (as
/// whatsmeow does from group info) and caches the group.
async fn learn(shared: &Shared, answer: &Node, what: &str) -> Result<GroupInfo, SendError> {
    let (info, pairs) = answer
        .child("group")
        .and_then(parse)
        .ok_or_else(|| SendError::Refused(format!("unexpected {what} answer: {answer}")))?;
    for (pn, lid) in pairs {
        shared
            .store
            .store_lid_mapping(pn.user(), lid.user())
            .await?;
    }
    remember(shared, &info);
    Ok(info)
}

fn iq(to: Jid, kind: &'static str, child: Node) -> Node {
    Node::new("iq")
        .attr("to", to)
        .attr("type", kind)
        .attr("xmlns", "w:g2")
        .children(vec![child])
}

fn participant_nodes(jids: &[Jid]) -> Vec<Node> {
    jids.iter()
        .map(|j| Node::new("participant").attr("jid", j.to_non_ad()))
        .collect()
}

fn remember(shared: &Shared, info: &GroupInfo) {
    lock(&shared.groups).insert(info.jid.to_string(), info.clone());
}

pub(crate) async fn create(
    shared: &Arc<Shared>,
    conn: &Connection,
    subject: &str,
    participants: &[Jid],
) -> Result<GroupInfo, SendError> {
    // Each member with the token they gave us, if we hold a live one
    // (whatsmeow `CreateGroup`).
    let mut members = participant_nodes(participants);
    for (node, jid) in members.iter_mut().zip(participants) {
        if let Some(token) = super::tokens::participant_token(shared, jid).await {
            node.content = wa_core::binary::Content::Nodes(vec![token]);
        }
    }
    let create = Node::new("create")
        .attr("subject", subject.to_owned())
        .attr("key", super::new_message_id())
        .children(members);
    let answer = conn
        .iq(iq(Jid::new("", Server::Group), "set", create))
        .await?;
    learn(shared, &answer, "create").await
}

pub(crate) async fn query(
    shared: &Arc<Shared>,
    conn: &Connection,
    group: &Jid,
) -> Result<GroupInfo, SendError> {
    let answer = conn
        .iq(iq(
            group.clone(),
            "get",
            Node::new("query").attr("request", "interactive"),
        ))
        .await?;
    learn(shared, &answer, "group").await
}

/// The group's members, cached.
pub(crate) async fn members(
    shared: &Arc<Shared>,
    conn: &Connection,
    group: &Jid,
) -> Result<GroupInfo, SendError> {
    let cached = lock(&shared.groups).get(&group.to_string()).cloned();
    match cached {
        Some(info) => Ok(info),
        None => query(shared, conn, group).await,
    }
}

pub(crate) async fn remove(
    shared: &Arc<Shared>,
    conn: &Connection,
    group: &Jid,
    participants: &[Jid],
) -> Result<(), SendError> {
    conn.iq(iq(
        group.clone(),
        "set",
        Node::new("remove").children(participant_nodes(participants)),
    ))
    .await?;
    lock(&shared.groups).remove(&group.to_string());
    // Do not wait for the notification: whoever is out must not read on.
    shared
        .crypto
        .rotate_sender_key(group, &shared.own.lid)
        .await?;
    Ok(())
}
