//! Groups (`w:g2`): create, query, add, remove, promote and demote members.
//! Member lists are cached per client and dropped on every group
//! notification.

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
    /// Its description, if it has one.
    pub description: Option<String>,
    /// The description's id (a new one names the one it replaces).
    pub description_id: Option<String>,
    /// How the group names its members on the wire.
    pub addressing: Addressing,
    /// Only admins may send messages (`<announcement/>`).
    pub announce: bool,
    /// Only admins may change the group's name, description and picture
    /// (`<locked/>`).
    pub locked: bool,
    /// The community this group belongs to (`<linked_parent jid/>`).
    pub parent: Option<Jid>,
    /// This is a community (`<parent/>`): the group that holds the
    /// community's groups, with no chat of its own.
    pub is_community: bool,
    /// This is its community's announcement group
    /// (`<default_sub_group/>`).
    pub is_announcements: bool,
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
    // whatsmeow `parseGroupNode`: `<description id><body>TEXT</body>`.
    let described = node.child("description");
    let description = described
        .and_then(|d| d.child("body"))
        .and_then(Node::content_bytes)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .filter(|d| !d.is_empty());
    let description_id = described.and_then(|d| d.attr_str("id")).map(str::to_owned);
    let info = GroupInfo {
        jid,
        subject: node.attr_str("subject").unwrap_or_default().to_owned(),
        participants,
        admins,
        description,
        description_id,
        addressing,
        // whatsmeow `parseGroupNode`: flags as empty children.
        announce: node.child("announcement").is_some(),
        locked: node.child("locked").is_some(),
        // whatsmeow `parseGroupNode` (`linked_parent`, `parent`,
        // `default_sub_group`).
        parent: node
            .child("linked_parent")
            .and_then(|p| p.attr_jid("jid"))
            .filter(|j| j.is_group())
            .cloned(),
        is_community: node.child("parent").is_some(),
        is_announcements: node.child("default_sub_group").is_some(),
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

pub(super) fn iq(to: Jid, kind: &'static str, child: Node) -> Node {
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

/// A change to a group's members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    /// Add them (`<add>`).
    Add,
    /// Remove them (`<remove>`).
    Remove,
    /// Make them admins (`<promote>`).
    Promote,
    /// Take their admin role (`<demote>`).
    Demote,
}

impl MemberChange {
    fn tag(self) -> &'static str {
        match self {
            MemberChange::Add => "add",
            MemberChange::Remove => "remove",
            MemberChange::Promote => "promote",
            MemberChange::Demote => "demote",
        }
    }
}

/// What the server answered for one member of a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberOutcome {
    /// The member, as the server names them.
    pub jid: Jid,
    /// The server's code when the change was refused for them (e.g. 403:
    /// their privacy settings allow only an invite; 409: already a member;
    /// 404: not a member), `None` when it was made.
    pub error: Option<u16>,
    /// With a 403 on an add: the code of the invite the server made for
    /// them instead (`<add_request code expiration>`), as whatsmeow reads it.
    pub invite_code: Option<String>,
}

/// `<iq type=set xmlns=w:g2 to=GROUP><add|remove|promote|demote>
/// <participant jid [phone_number]>[<privacy>TOKEN</privacy>]</participant>
/// ...` (whatsmeow `UpdateGroupParticipants`: an add names a LID member's
/// phone number when known and carries their privacy token when we hold a
/// live one). After a removal our sender key for the group is renewed, so
/// whoever left cannot read on.
pub(crate) async fn change_members(
    shared: &Arc<Shared>,
    conn: &Connection,
    group: &Jid,
    change: MemberChange,
    participants: &[Jid],
) -> Result<Vec<MemberOutcome>, SendError> {
    let mut members = participant_nodes(participants);
    if change == MemberChange::Add {
        for (node, jid) in members.iter_mut().zip(participants) {
            // The phone number helps the server; a store that cannot say
            // it leaves it out, as a token it cannot read is left out.
            let pn = match jid.is_lid() {
                true => shared.store.pn_for_lid(jid.user()).await.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "phone number of a LID not readable; adding without");
                    None
                }),
                false => None,
            };
            if let Some(pn) = pn {
                *node = node.clone().attr("phone_number", Jid::user_jid(pn));
            }
            if let Some(token) = super::tokens::participant_token(shared, jid).await {
                node.content = wa_core::binary::Content::Nodes(vec![token]);
            }
        }
    }
    let tag = change.tag();
    let answer = conn
        .iq(iq(group.clone(), "set", Node::new(tag).children(members)))
        .await?;
    lock(&shared.groups).remove(&group.to_string());
    if change == MemberChange::Remove {
        // Do not wait for the notification: whoever is out must not read on.
        shared
            .crypto
            .rotate_sender_key(group, &shared.own.lid)
            .await?;
    }
    if answer.child(tag).is_none() {
        return Err(SendError::Malformed(format!(
            "the answer to a member change has no <{tag}>"
        )));
    }
    Ok(outcomes(&answer, tag))
}

/// Whether only admins may send (`announce`: `<announcement/>` or
/// `<not_announcement/>`) or only admins may change the group's info
/// (`locked`: `<locked/>` or `<unlocked/>`), the one `setting` says
/// (whatsmeow `SetGroupAnnounce`, `SetGroupLocked`).
pub(crate) async fn set_setting(
    shared: &Shared,
    conn: &Connection,
    group: &Jid,
    setting: GroupSetting,
) -> Result<(), SendError> {
    let tag = match setting {
        GroupSetting::Announce(true) => "announcement",
        GroupSetting::Announce(false) => "not_announcement",
        GroupSetting::Locked(true) => "locked",
        GroupSetting::Locked(false) => "unlocked",
    };
    conn.iq(iq(group.clone(), "set", Node::new(tag))).await?;
    lock(&shared.groups).remove(&group.to_string());
    Ok(())
}

/// One of a group's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupSetting {
    /// Only admins may send messages (or everyone may).
    Announce(bool),
    /// Only admins may change the group's info (or everyone may).
    Locked(bool),
}

/// What a group's invite link starts with; the rest is its code.
pub const INVITE_LINK_PREFIX: &str = "https://chat.whatsapp.com/";

/// The code of an invite link (or the code itself).
fn link_code(link: &str) -> &str {
    let link = link.trim();
    link.strip_prefix(INVITE_LINK_PREFIX).unwrap_or(link)
}

/// `group`'s invite link: `<iq type=get|set to=GROUP><invite/>` (set: a
/// new link, the old one revoked), answered `<invite code/>` (whatsmeow
/// 33cfac51 `GetGroupInviteLink`).
pub(crate) async fn invite_link(
    conn: &Connection,
    group: &Jid,
    reset: bool,
) -> Result<String, SendError> {
    let kind = if reset { "set" } else { "get" };
    let answer = conn
        .iq(iq(group.clone(), kind, Node::new("invite")))
        .await?;
    let code = answer
        .child("invite")
        .and_then(|i| i.attr_str("code"))
        .ok_or_else(|| SendError::Malformed("an invite link answer without a code".into()))?;
    Ok(format!("{INVITE_LINK_PREFIX}{code}"))
}

/// The group an invite link points to, without joining it: `<iq type=get
/// to=g.us><invite code/>`, answered with its `<group>` (whatsmeow
/// `GetGroupInfoFromLink`; 410: the link was reset, 406: no such link).
/// Not cached: we are not (yet) in it.
pub(crate) async fn info_from_link(conn: &Connection, link: &str) -> Result<GroupInfo, SendError> {
    let child = Node::new("invite").attr("code", link_code(link).to_owned());
    let answer = conn
        .iq(iq(Jid::new("", Server::Group), "get", child))
        .await?;
    answer
        .child("group")
        .and_then(parse)
        .map(|(info, _)| info)
        .ok_or_else(|| SendError::Malformed("a link's group info without a group".into()))
}

/// Joins the group an invite link points to: `<iq type=set to=g.us>
/// <invite code/>`, answered `<group jid/>` (whatsmeow `JoinGroupWithLink`;
/// a group that needs an admin's approval answers
/// `<membership_approval_request jid/>` instead: the request is made).
pub(crate) async fn join_with_link(conn: &Connection, link: &str) -> Result<LinkJoin, SendError> {
    let child = Node::new("invite").attr("code", link_code(link).to_owned());
    let answer = conn
        .iq(iq(Jid::new("", Server::Group), "set", child))
        .await?;
    let (node, awaiting_approval) = match answer.child("group") {
        Some(group) => (Some(group), false),
        None => (answer.child("membership_approval_request"), true),
    };
    let group = node
        .and_then(|g| g.attr_jid("jid"))
        .cloned()
        .ok_or_else(|| SendError::Malformed("a join answer without the group".into()))?;
    Ok(LinkJoin {
        group,
        awaiting_approval,
    })
}

/// What joining by a link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkJoin {
    /// The group.
    pub group: Jid,
    /// The group's admins must approve first: only a request was made.
    pub awaiting_approval: bool,
}

/// Leaves `group`: `<iq to=g.us><leave><group id=GROUP/></leave>` (whatsmeow
/// `LeaveGroup`); the members left are told by the server.
pub(crate) async fn leave(
    shared: &Shared,
    conn: &Connection,
    group: &Jid,
) -> Result<(), SendError> {
    let child = Node::new("leave").children(vec![Node::new("group").attr("id", group.clone())]);
    conn.iq(iq(Jid::new("", Server::Group), "set", child))
        .await?;
    lock(&shared.groups).remove(&group.to_string());
    Ok(())
}

/// Renames `group`: `<subject>NAME</subject>` (whatsmeow `SetGroupName`).
pub(crate) async fn set_subject(
    conn: &Connection,
    group: &Jid,
    subject: &str,
) -> Result<(), SendError> {
    let child = Node::new("subject").bytes(subject.as_bytes());
    conn.iq(iq(group.clone(), "set", child)).await?;
    Ok(())
}

/// Sets `group`'s description, or removes it (`None` or empty):
/// `<description id=NEW prev=OLD><body>TEXT</body>` or `delete="true"`
/// without a body (whatsmeow `SetGroupTopic`); `prev` is the id of the one
/// it replaces, if any.
pub(crate) async fn set_description(
    conn: &Connection,
    group: &Jid,
    previous: Option<&str>,
    description: Option<&str>,
) -> Result<(), SendError> {
    let mut child = Node::new("description").attr("id", super::new_message_id());
    if let Some(previous) = previous {
        child = child.attr("prev", previous.to_owned());
    }
    child = match description.filter(|d| !d.is_empty()) {
        Some(d) => child.children(vec![Node::new("body").bytes(d.as_bytes())]),
        None => child.attr("delete", "true"),
    };
    conn.iq(iq(group.clone(), "set", child)).await?;
    Ok(())
}

/// The `<participant jid [error]>` answers under the `tag` child.
fn outcomes(answer: &Node, tag: &str) -> Vec<MemberOutcome> {
    let Some(list) = answer.child(tag) else {
        return Vec::new();
    };
    list.children_by_tag("participant")
        .filter_map(|p| {
            let error = p
                .attr_str("error")
                .and_then(|e| e.parse::<u16>().ok())
                .filter(|e| *e != 0);
            Some(MemberOutcome {
                jid: p.attr_jid("jid")?.clone(),
                error,
                invite_code: error
                    .and_then(|_| p.child("add_request")?.attr_str("code"))
                    .map(str::to_owned),
            })
        })
        .collect()
}
