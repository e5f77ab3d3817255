//! Groups (`w:g2`): create, query, remove members. Member lists are cached
//! per client and dropped on every group notification.

use std::sync::Arc;

use wa_core::binary::Node;
use wa_core::jid::{Jid, Server};

use super::{SendError, Shared, lock};
use crate::socket::Connection;

/// A group as the server describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// `ID@g.us`.
    pub jid: Jid,
    /// Its name.
    pub subject: String,
    /// Members (user JIDs), ourselves included.
    pub participants: Vec<Jid>,
    /// Members that are admins (or the super admin).
    pub admins: Vec<Jid>,
}

fn parse(node: &Node) -> Option<GroupInfo> {
    let id = node.attr_str("id")?;
    let jid = if id.contains('@') {
        id.parse().ok()?
    } else {
        Jid::new(id.to_owned(), Server::Group)
    };
    let mut participants = Vec::new();
    let mut admins = Vec::new();
    for p in node.children_by_tag("participant") {
        let Some(j) = p.attr_jid("jid") else {
            continue;
        };
        participants.push(j.to_non_ad());
        if p.attr_str("type").is_some_and(|t| t.contains("admin")) {
            admins.push(j.to_non_ad());
        }
    }
    Some(GroupInfo {
        jid,
        subject: node.attr_str("subject").unwrap_or_default().to_owned(),
        participants,
        admins,
    })
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
    let create = Node::new("create")
        .attr("subject", subject.to_owned())
        .attr("key", super::new_message_id())
        .children(participant_nodes(participants));
    let answer = conn
        .iq(iq(Jid::new("", Server::Group), "set", create))
        .await?;
    let info = answer
        .child("group")
        .and_then(parse)
        .ok_or_else(|| SendError::Refused(format!("unexpected create answer: {answer}")))?;
    remember(shared, &info);
    Ok(info)
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
    let info = answer
        .child("group")
        .and_then(parse)
        .ok_or_else(|| SendError::Refused(format!("unexpected group answer: {answer}")))?;
    remember(shared, &info);
    Ok(info)
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
