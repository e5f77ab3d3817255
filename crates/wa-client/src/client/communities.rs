//! Communities: a community is a group of its own (`<parent/>` in its
//! metadata, no chat) that groups are linked to, its announcement group
//! among them (`<default_sub_group/>`). Which groups a community holds is
//! asked of the community (`<sub_groups/>`); a group says its community in
//! its own metadata (`<linked_parent jid/>`, [`super::GroupInfo::parent`]).
//! Facts from whatsmeow 33cfac51 `group.go` (`GetSubGroups`,
//! `parseGroupLinkTargetNode`, `parseGroupChange`) and Baileys
//! 7.0.0-rc14 `communities.js` (`communityFetchLinkedGroups`).

use wa_core::binary::Node;
use wa_core::jid::{Jid, Server};

use super::SendError;
use super::groups::iq;
use crate::socket::Connection;

/// A group linked to a community, as the community lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedGroup {
    /// `ID@g.us`.
    pub jid: Jid,
    /// Its name.
    pub subject: String,
    /// It is the community's announcement group.
    pub is_announcements: bool,
}

/// Which way a link between groups goes, as a notification names the
/// other group (whatsmeow `GroupLinkChangeType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// The other group is this group's community (`parent_group`): told
    /// to the linked group's members.
    Parent,
    /// The other group is linked to this community (`sub_group`): told to
    /// the community's members.
    Sub,
    /// Another group of the same community (`sibling_group`).
    Sibling,
}

impl LinkKind {
    pub(crate) fn parse(s: &str) -> Option<LinkKind> {
        match s {
            "parent_group" => Some(LinkKind::Parent),
            "sub_group" => Some(LinkKind::Sub),
            "sibling_group" => Some(LinkKind::Sibling),
            _ => None,
        }
    }
}

/// A `<group>` naming a linked group: `jid`, or `id` without the server
/// (whatsmeow `parseGroupLinkTargetNode`).
pub(crate) fn linked_group(node: &Node) -> Option<LinkedGroup> {
    let jid = match node.attr_jid("jid") {
        Some(j) => j.clone(),
        None => Jid::new(node.attr_str("id")?.to_owned(), Server::Group),
    };
    if !jid.is_group() {
        return None;
    }
    Some(LinkedGroup {
        jid,
        subject: node.attr_str("subject").unwrap_or_default().to_owned(),
        is_announcements: node.child("default_sub_group").is_some(),
    })
}

/// The groups linked to `community`: `<iq type=get to=COMMUNITY>
/// <sub_groups/>`, answered `<sub_groups><group id subject>
/// [<default_sub_group/>]</group>...` (whatsmeow `GetSubGroups`). It lists
/// them all, those we are not in too.
pub(crate) async fn sub_groups(
    conn: &Connection,
    community: &Jid,
) -> Result<Vec<LinkedGroup>, SendError> {
    let answer = conn
        .iq(iq(community.clone(), "get", Node::new("sub_groups")))
        .await?;
    let list = answer
        .child("sub_groups")
        .ok_or_else(|| SendError::Malformed("a sub-groups answer without <sub_groups>".into()))?;
    Ok(list
        .children_by_tag("group")
        .filter_map(linked_group)
        .collect())
}
