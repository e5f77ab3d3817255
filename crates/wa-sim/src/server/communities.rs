//! Communities (`w:g2`): a community is a parent group (`<parent/>` in its
//! `<group>`) with an announcement group (`<default_sub_group/>`, only
//! admins send) and the groups linked to it (`<linked_parent jid/>`).
//! Everyone in a linked group is a member of the community: of its parent
//! and announcement groups. Facts from whatsmeow 33cfac51 `group.go`
//! (`CreateGroup`, `LinkGroup`, `UnlinkGroup`, `GetSubGroups`,
//! `parseGroupNode`, `parseGroupLinkTargetNode`, `parseGroupChange`) and
//! Baileys 7.0.0-rc14 `lib/Socket/communities.js`.
//!
//! Not modelled: the community's general chat (`<create_general_chat/>`)
//! and non-admins' sub-group suggestions
//! (`<allow_non_admin_sub_group_creation/>`), both accepted and ignored at
//! create; membership approval (`default_membership_approval_mode` is kept
//! and shown, not enforced); leaving or deleting a whole community.

use wa_core::binary::Node;
use wa_core::jid::{Jid, Server};

use super::groups::{
    Ask, Group, create_asked, created, error, member_jids, member_node, notify, result,
};
use super::{Sim, State};

/// What makes a group a community's parent group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Community {
    /// `default_membership_approval_mode` as created (`request_required`
    /// from both clients): shown in `<parent/>`, not enforced.
    pub default_membership_approval_mode: String,
}

/// The community children of group `g`'s `<group>` node, as whatsmeow's
/// `parseGroupNode` reads them: `<parent default_membership_approval_mode/>`
/// on a parent, `<linked_parent jid/>` on a linked group and
/// `<default_sub_group/>` on the announcement group.
pub(super) fn children(g: &Group) -> Vec<Node> {
    let mut children = Vec::new();
    if let Some(c) = &g.community {
        let mut parent = Node::new("parent");
        if !c.default_membership_approval_mode.is_empty() {
            let mode = c.default_membership_approval_mode.clone();
            parent = parent.attr("default_membership_approval_mode", mode);
        }
        children.push(parent);
    }
    if let Some(p) = &g.parent {
        let jid = Jid::new(p.clone(), Server::Group);
        children.push(Node::new("linked_parent").attr("jid", jid));
    }
    if g.default_sub {
        children.push(Node::new("default_sub_group"));
    }
    children
}

/// A group JID in attribute `key` of `node`: a JID on the wire (both
/// clients send one), or a bare id.
fn group_jid(node: &Node, key: &str) -> Option<Jid> {
    if let Some(jid) = node.attr_jid(key) {
        return Some(jid.clone());
    }
    let id = node.attr_str(key)?;
    Some(
        id.parse::<Jid>()
            .unwrap_or_else(|_| Jid::new(id, Server::Group)),
    )
}

/// The announcement group of community `parent` (a group id).
fn announcement_of(state: &State, parent: &str) -> Option<String> {
    state
        .groups
        .iter()
        .find(|(_, g)| g.default_sub && g.parent.as_deref() == Some(parent))
        .map(|(gid, _)| gid.clone())
}

/// `<create>` with `<parent default_membership_approval_mode/>` (a
/// community: its parent group and announcement group, both of the asker as
/// super admin and the participants; the answer is the parent's `<group>`)
/// or with `<linked_parent jid/>` (a group in that community, whose
/// members join the community).
pub(super) fn create(state: &mut State, ask: &Ask<'_>) -> Node {
    let action = ask.action;
    let Some(parent) = action.child("parent") else {
        return create_linked(state, ask);
    };
    if action.child("linked_parent").is_some() {
        return error(ask.id, ask.to, "400", "bad-request");
    }
    // `<create_general_chat/>` and `<allow_non_admin_sub_group_creation/>`
    // (Baileys' `communityCreate`) are accepted and ignored: wa-sim has
    // neither a general chat nor suggestions.
    let mode = parent
        .attr_str("default_membership_approval_mode")
        .unwrap_or_default()
        .to_owned();
    let community = Community {
        default_membership_approval_mode: mode,
    };
    let pid = create_asked(state, ask, |g| g.community = Some(community));
    create_asked(state, ask, |g| {
        g.parent = Some(pid.user().to_owned());
        g.default_sub = true;
        g.announce = true;
        g.description = None;
    });
    created(state, ask, &pid)
}

/// `<create>` with `<linked_parent jid=P/>`: P must be a community (404)
/// the asker is a member of (403).
fn create_linked(state: &mut State, ask: &Ask<'_>) -> Node {
    let parent = ask
        .action
        .child("linked_parent")
        .and_then(|l| group_jid(l, "jid"));
    let Some(parent) = parent else {
        return error(ask.id, ask.to, "400", "bad-request");
    };
    let p = state.groups.get(parent.user());
    let Some(p) = p.filter(|p| p.community.is_some()) else {
        return error(ask.id, ask.to, "404", "item-not-found");
    };
    if !p.members.contains_key(ask.me) {
        return error(ask.id, ask.to, "403", "forbidden");
    }
    let gid = create_asked(state, ask, |g| g.parent = Some(parent.user().to_owned()));
    let members: Vec<String> = state
        .groups
        .get(gid.user())
        .map(|g| g.members.keys().cloned().collect())
        .unwrap_or_default();
    join(state, ask.me, gid.user(), &members);
    created(state, ask, &gid)
}

/// Makes `pns`, members of group `gid` (a linked group, an announcement
/// group or a parent), members of its community: of the parent and the
/// announcement group, each group's members told of an `<add>` by `actor`.
/// Nothing for a group in no community.
pub(super) fn join(state: &mut State, actor: &str, gid: &str, pns: &[String]) {
    let Some(g) = state.groups.get(gid) else {
        return;
    };
    let parent = match (&g.parent, &g.community) {
        (Some(p), _) => p.clone(),
        (None, Some(_)) => gid.to_owned(),
        (None, None) => return,
    };
    let announcement = announcement_of(state, &parent);
    for target in std::iter::once(parent).chain(announcement) {
        let Some(t) = state.groups.get_mut(&target) else {
            continue;
        };
        let mut added = Vec::new();
        for pn in pns {
            if !t.members.contains_key(pn) {
                t.members.insert(pn.clone(), None);
                added.push(pn.clone());
            }
        }
        if added.is_empty() {
            continue;
        }
        let lid = t.lid;
        let members = added.iter().map(|pn| member_node(state, pn, lid)).collect();
        let add = Node::new("add").children(members);
        notify(state, &Jid::new(target, Server::Group), actor, add, &[]);
    }
}

/// `<links>`, `<unlink>` or `<sub_groups/>` sent to community `group` by a
/// member of it (`is_admin`: an admin). Linking and unlinking are its
/// admins'; a group that is no community has no sub groups to change (404).
pub(super) fn iq(state: &mut State, ask: &Ask<'_>, group: &Group, is_admin: bool) -> Node {
    let tag = ask.action.tag.as_ref();
    if tag == "sub_groups" {
        return sub_groups(state, ask);
    }
    if !is_admin {
        return error(ask.id, ask.to, "403", "forbidden");
    }
    if group.community.is_none() {
        return error(ask.id, ask.to, "404", "item-not-found");
    }
    match tag {
        "links" => link(state, ask),
        _ => unlink(state, ask),
    }
}

/// `<links><link link_type="sub_group"><group jid=C/></link></links>`
/// (whatsmeow `LinkGroup`, Baileys `communityLinkGroup`): each C must exist
/// (404), be no community (400), be linked to no other community (409) and
/// have the asker as an admin (403); it is linked, its members join the
/// community, and both sides are told. Other link types: 400.
fn link(state: &mut State, ask: &Ask<'_>) -> Node {
    let (id, to, parent) = (ask.id, ask.to, ask.to.user());
    let mut linked = Vec::new();
    for l in ask.action.children_by_tag("link") {
        if l.attr_str("link_type") != Some("sub_group") {
            return error(id, to, "400", "bad-request");
        }
        linked.extend(
            l.children_by_tag("group")
                .filter_map(|g| group_jid(g, "jid")),
        );
    }
    if linked.is_empty() {
        return error(id, to, "400", "bad-request");
    }
    for c in &linked {
        let Some(g) = state.groups.get(c.user()) else {
            return error(id, to, "404", "item-not-found");
        };
        if g.community.is_some() {
            return error(id, to, "400", "bad-request");
        }
        if g.parent.as_deref().is_some_and(|p| p != parent) {
            return error(id, to, "409", "conflict");
        }
        if g.members.get(ask.me).copied().flatten().is_none() {
            return error(id, to, "403", "forbidden");
        }
    }
    for c in linked {
        let Some(g) = state.groups.get_mut(c.user()) else {
            continue;
        };
        if g.parent.is_some() {
            continue; // Linked here already.
        }
        g.parent = Some(parent.to_owned());
        let members: Vec<String> = g.members.keys().cloned().collect();
        join(state, ask.me, c.user(), &members);
        tell(state, ask.me, to, &c, "link");
    }
    result(id, to, Vec::new())
}

/// `<unlink unlink_type="sub_group"><group jid=C/></unlink>` (whatsmeow
/// `UnlinkGroup`, Baileys `communityUnlinkGroup`): each C must be linked to
/// this community (404) and not be its announcement group (400); it is
/// unlinked (its members stay in the community) and both sides are told.
fn unlink(state: &mut State, ask: &Ask<'_>) -> Node {
    let (id, to, parent) = (ask.id, ask.to, ask.to.user());
    if ask.action.attr_str("unlink_type") != Some("sub_group") {
        return error(id, to, "400", "bad-request");
    }
    let unlinked: Vec<Jid> = ask
        .action
        .children_by_tag("group")
        .filter_map(|g| group_jid(g, "jid"))
        .collect();
    if unlinked.is_empty() {
        return error(id, to, "400", "bad-request");
    }
    for c in &unlinked {
        let g = state.groups.get(c.user());
        let Some(g) = g.filter(|g| g.parent.as_deref() == Some(parent)) else {
            return error(id, to, "404", "item-not-found");
        };
        if g.default_sub {
            return error(id, to, "400", "bad-request");
        }
    }
    for c in unlinked {
        let was = state.groups.get_mut(c.user()).and_then(|g| g.parent.take());
        if was.is_some() {
            tell(state, ask.me, to, &c, "unlink");
        }
    }
    result(id, to, Vec::new())
}

/// Tells a link or unlink (`tag`) of `child` to community `parent`: its
/// members get `<TAG TAG_type="sub_group"><group jid=CHILD subject s_t/>`,
/// the child's `<TAG TAG_type="parent_group"><group jid=PARENT .../>`
/// (whatsmeow `parseGroupChange`, `parseGroupLinkTargetNode`); an unlink
/// says `unlink_reason="unlink_group"`.
fn tell(state: &mut State, actor: &str, parent: &Jid, child: &Jid, tag: &'static str) {
    let kind = if tag == "link" {
        "link_type"
    } else {
        "unlink_type"
    };
    for (to, other, link_type) in [
        (parent, child, "sub_group"),
        (child, parent, "parent_group"),
    ] {
        let Some(target) = state
            .groups
            .get(other.user())
            .map(|g| target_node(other, g))
        else {
            continue;
        };
        let mut node = Node::new(tag).attr(kind, link_type);
        if tag == "unlink" {
            node = node.attr("unlink_reason", "unlink_group");
        }
        notify(state, to, actor, node.children(vec![target]), &[]);
    }
}

/// `<group jid subject s_t>` naming group `gid` in a link or unlink,
/// with `<default_sub_group/>` for an announcement group.
fn target_node(gid: &Jid, g: &Group) -> Node {
    let node = Node::new("group")
        .attr("jid", gid.clone())
        .attr("subject", g.subject.clone())
        .attr("s_t", g.subject_time.to_string());
    match g.default_sub {
        true => node.children(vec![Node::new("default_sub_group")]),
        false => node,
    }
}

/// `<sub_groups/>` (whatsmeow `GetSubGroups`, Baileys
/// `communityFetchLinkedGroups`): `<sub_groups><group id subject s_t
/// creation creator size>[<default_sub_group/>]</group>...` for each group
/// linked to the community (none for a group that is no community).
fn sub_groups(state: &State, ask: &Ask<'_>) -> Node {
    let parent = ask.to.user();
    let groups: Vec<Node> = state
        .groups
        .iter()
        .filter(|(_, g)| g.parent.as_deref() == Some(parent))
        .map(|(gid, g)| {
            let node = Node::new("group")
                .attr("id", gid.clone())
                .attr("subject", g.subject.clone())
                .attr("s_t", g.subject_time.to_string())
                .attr("creation", g.creation.to_string())
                .attr("creator", member_jids(state, &g.creator, 0, g.lid).0)
                .attr("size", g.members.len().to_string());
            match g.default_sub {
                true => node.children(vec![Node::new("default_sub_group")]),
                false => node,
            }
        })
        .collect();
    let list = match groups.is_empty() {
        true => Node::new("sub_groups"),
        false => Node::new("sub_groups").children(groups),
    };
    result(ask.id, ask.to, vec![list])
}

impl Sim {
    /// The community (its parent group) group `gid` is linked to, if any;
    /// a community's announcement group is linked to it too.
    pub fn group_parent(&self, gid: &Jid) -> Option<Jid> {
        let state = self.shared.state();
        let parent = state.groups.get(gid.user())?.parent.clone()?;
        Some(Jid::new(parent, Server::Group))
    }

    /// The groups linked to community `parent`, its announcement group
    /// included (in id order).
    pub fn sub_groups(&self, parent: &Jid) -> Vec<Jid> {
        let state = self.shared.state();
        state
            .groups
            .iter()
            .filter(|(_, g)| g.parent.as_deref() == Some(parent.user()))
            .map(|(gid, _)| Jid::new(gid.clone(), Server::Group))
            .collect()
    }

    /// Whether `gid` is a community's parent group.
    pub fn is_community(&self, gid: &Jid) -> bool {
        let state = self.shared.state();
        state
            .groups
            .get(gid.user())
            .is_some_and(|g| g.community.is_some())
    }
}
