//! Groups (`w:g2`): create, query, participants, subject, description,
//! leave; `w:gp2` notifications to members. A group is addressed by phone
//! number (`addressing_mode="pn"`, members as `jid=PN lid=LID`) or, as the
//! service makes new groups now, by LID (`addressing_mode="lid"`, members
//! as `jid=LID phone_number=PN`; whatsmeow `group.go` `parseParticipant`,
//! Baileys `extractGroupMetadata`): [`crate::Sim::address_groups_by_lid`].

use std::collections::BTreeMap;
use std::sync::Arc;

use wa_core::binary::Node;
use wa_core::jid::{Jid, Server};

use super::communities::{self, Community};
use super::{Shared, State, unix_now};

/// How many members a group may have: 1024, WhatsApp's published limit.
/// A member more is refused with `error="500"` (open-wa
/// `AddParticipantErrorStatusCode::GROUP_FULL`).
pub const MAX_MEMBERS: usize = 1024;

/// A group's state on the server.
#[derive(Debug, Clone)]
pub struct Group {
    /// Subject (name).
    pub subject: String,
    /// When the subject was set, and by whom (phone number).
    pub subject_time: u64,
    /// Who set the subject.
    pub subject_owner: String,
    /// Creator's phone number.
    pub creator: String,
    /// Creation time.
    pub creation: u64,
    /// Description, with its id.
    pub description: Option<(String, String)>,
    /// Members by phone number, with `superadmin`/`admin` or `None`.
    pub members: BTreeMap<String, Option<&'static str>>,
    /// Addressed by LID (else by phone number).
    pub lid: bool,
    /// Only admins may send (`<announcement/>`).
    pub announce: bool,
    /// Only admins may change the subject and description (`<locked/>`).
    pub locked: bool,
    /// The disappearing-messages timer (seconds), if on.
    pub timer: Option<u32>,
    /// The code of the group's invite link, once an admin asked for it.
    pub invite_code: Option<String>,
    /// Codes of links reset since (they answer "gone").
    pub revoked_codes: Vec<String>,
    /// The community (its parent group's id) this group is linked to.
    pub parent: Option<String>,
    /// Set on a community's parent group (`<parent/>`).
    pub community: Option<Community>,
    /// The community's announcement group (`<default_sub_group/>`).
    pub default_sub: bool,
}

/// How group stanzas name account `pn` (device `device`): its LID in a
/// LID-addressed group, else its phone number; the other form beside it
/// (not a hidden number: [`crate::Sim::hide_number`]).
pub(crate) fn member_jids(state: &State, pn: &str, device: u16, lid: bool) -> (Jid, Option<Jid>) {
    let account = state.accounts.get(pn);
    let as_pn = Jid::with_device(pn.to_owned(), device, Server::User);
    let (jid, alt) = match account.map(|a| a.lid_jid(device)) {
        Some(as_lid) if lid => (as_lid, Some(as_pn)),
        Some(as_lid) => (as_pn, Some(as_lid)),
        None => (as_pn, None),
    };
    (jid, alt.filter(|_| !lid || state.number_shown(pn)))
}

/// A `<participant>` naming member `pn` in the group's addressing, with
/// its other address (`phone_number` in LID groups, `lid` in others).
pub(super) fn member_node(state: &State, pn: &str, lid: bool) -> Node {
    let (jid, alt) = member_jids(state, pn, 0, lid);
    let node = Node::new("participant").attr("jid", jid);
    match alt {
        Some(alt) => node.attr(if lid { "phone_number" } else { "lid" }, alt),
        None => node,
    }
}

pub(super) fn error(id: &str, from: &Jid, code: &'static str, text: &'static str) -> Node {
    Node::new("iq")
        .attr("from", from.clone())
        .attr("type", "error")
        .attr("id", id.to_owned())
        .children(vec![
            Node::new("error").attr("code", code).attr("text", text),
        ])
}

pub(super) fn result(id: &str, from: &Jid, children: Vec<Node>) -> Node {
    let iq = Node::new("iq")
        .attr("from", from.clone())
        .attr("type", "result")
        .attr("id", id.to_owned());
    if children.is_empty() {
        iq
    } else {
        iq.children(children)
    }
}

/// The `<group>` node of metadata answers and notifications.
pub(super) fn group_node(state: &State, gid: &Jid, g: &Group) -> Node {
    let mut children: Vec<Node> = g
        .members
        .iter()
        .map(|(pn, role)| {
            let p = member_node(state, pn, g.lid);
            match role {
                Some(r) => p.attr("type", *r),
                None => p,
            }
        })
        .collect();
    if let Some((id, body)) = &g.description {
        children.push(
            Node::new("description")
                .attr("id", id.clone())
                .children(vec![Node::new("body").bytes(body.as_bytes())]),
        );
    }
    // Settings as empty children (whatsmeow `parseGroupNode`).
    for (on, tag) in [(g.announce, "announcement"), (g.locked, "locked")] {
        if on {
            children.push(Node::new(tag));
        }
    }
    if let Some(timer) = g.timer {
        children.push(Node::new("ephemeral").attr("expiration", timer.to_string()));
    }
    children.extend(communities::children(g));
    let (creator, creator_alt) = member_jids(state, &g.creator, 0, g.lid);
    let (owner, owner_alt) = member_jids(state, &g.subject_owner, 0, g.lid);
    let mut node = Node::new("group")
        .attr("id", gid.user().to_owned())
        .attr("creator", creator)
        .attr("creation", g.creation.to_string())
        .attr("subject", g.subject.clone())
        .attr("s_t", g.subject_time.to_string())
        .attr("s_o", owner)
        .attr("addressing_mode", if g.lid { "lid" } else { "pn" })
        .attr("size", g.members.len().to_string());
    if g.lid {
        // The phone numbers beside the LIDs (whatsmeow `parseGroupNode`).
        if let Some(pn) = creator_alt {
            node = node.attr("creator_pn", pn);
        }
        if let Some(pn) = owner_alt {
            node = node.attr("s_o_pn", pn);
        }
    }
    node.children(children)
}

/// Sends `<notification type="w:gp2">` with `child` to every device of every
/// member of `gid` (and of `extra`, e.g. someone just removed).
pub(super) fn notify(state: &mut State, gid: &Jid, actor: &str, child: Node, extra: &[String]) {
    let Some(g) = state.groups.get(gid.user()) else {
        return;
    };
    let mut to: Vec<String> = g.members.keys().cloned().collect();
    to.extend(extra.iter().cloned());
    let (actor_jid, actor_alt) = member_jids(state, actor, 0, g.lid);
    let mut note = Node::new("notification")
        .attr("from", gid.clone())
        .attr("type", "w:gp2")
        .attr("id", format!("{}", rand::random::<u32>()))
        .attr("t", unix_now().to_string())
        .attr("participant", actor_jid);
    if g.lid {
        note = note.attr("addressing_mode", "lid");
        if let Some(pn) = actor_alt {
            note = note.attr("participant_pn", pn);
        }
    }
    let note = note.children(vec![child]);
    for pn in to {
        for device in state.devices_of(&pn) {
            state.deliver(&(pn.clone(), device), note.clone());
        }
    }
}

fn participants_of(node: &Node) -> Vec<String> {
    node.children_by_tag("participant")
        .filter_map(|p| p.attr_jid("jid"))
        .filter_map(|j| match j.server() {
            Server::User | Server::Lid => Some(j.clone()),
            _ => None,
        })
        .map(|j| j.user().to_owned())
        .collect()
}

/// Whether the account `pn`'s privacy setting `groupadd` lets `me` add
/// them (`add` is the `<add>` IQ): `all` does; `none` never does; `contacts`
/// does when the add names them with the trusted-contact token they gave
/// `me` (`<participant jid><privacy>TOKEN</privacy>`, whatsmeow
/// `UpdateGroupParticipants`). wa-sim has no address books, so the token
/// stands for "is a contact": a model, not the server's rule.
fn may_add(state: &State, me: &str, pn: &str, add: &Node) -> bool {
    match state.settings.privacy_value(pn, "groupadd").as_deref() {
        Some("none") => false,
        Some("contacts") => add.children_by_tag("participant").any(|p| {
            let names = p.attr_jid("jid").is_some_and(|j| {
                resolve(state, vec![j.user().to_owned()]).first() == Some(&pn.to_owned())
            });
            let token = p.child("privacy").and_then(|t| t.content_bytes());
            names && token.is_some_and(|t| state.tokens.is_token_of(pn, me, t))
        }),
        _ => true,
    }
}

/// `<participant jid error="403"><add_request code expiration/>`: the
/// server refuses to add `pn` and makes an invite for them instead
/// (whatsmeow `parseParticipant`).
fn invite_instead(pn: &str) -> Node {
    let code = format!("{:016x}", rand::random::<u64>());
    let expiration = (unix_now() + 3 * 86_400).to_string();
    Node::new("participant")
        .attr("jid", Jid::user_jid(pn.to_owned()))
        .attr("error", "403")
        .children(vec![
            Node::new("add_request")
                .attr("code", code)
                .attr("expiration", expiration),
        ])
}

/// The phone numbers of `users` (phone numbers or LID users); unknown ones
/// are left out. Members named by LID are kept by phone number.
pub(super) fn resolve(state: &State, users: Vec<String>) -> Vec<String> {
    users
        .into_iter()
        .filter_map(|u| {
            if state.accounts.contains_key(&u) {
                Some(u)
            } else {
                state.lids.get(&u).cloned()
            }
        })
        .collect()
}

/// A new group of `creator` (its super admin) and `members` (phone numbers
/// of existing accounts; duplicates and the creator are ignored), not
/// stored yet.
fn new_group(
    state: &State,
    creator: &str,
    subject: &str,
    members: impl IntoIterator<Item = String>,
) -> Group {
    let now = unix_now();
    let mut roles = BTreeMap::new();
    roles.insert(creator.to_owned(), Some("superadmin"));
    for pn in members {
        roles.entry(pn).or_insert(None);
    }
    Group {
        subject: subject.to_owned(),
        subject_time: now,
        subject_owner: creator.to_owned(),
        creator: creator.to_owned(),
        creation: now,
        description: None,
        members: roles,
        lid: state.lid_groups,
        announce: false,
        locked: false,
        timer: None,
        invite_code: None,
        revoked_codes: Vec::new(),
        parent: None,
        community: None,
        default_sub: false,
    }
}

/// Stores `group` under a new id, which it returns.
fn insert(state: &mut State, group: Group) -> Jid {
    let gid = loop {
        let user = format!("120363{:012}", rand::random::<u64>() % 1_000_000_000_000);
        if !state.groups.contains_key(&user) {
            break Jid::new(user, Server::Group);
        }
    };
    state.groups.insert(gid.user().to_owned(), group);
    gid
}

/// Creates a group of `creator` (its super admin) and `members` (phone
/// numbers of existing accounts; duplicates and the creator are ignored) and
/// returns its id and metadata node. Sends no notification.
pub(super) fn create(
    state: &mut State,
    creator: &str,
    subject: &str,
    members: impl IntoIterator<Item = String>,
) -> (Jid, Node) {
    let group = new_group(state, creator, subject, members);
    let gid = insert(state, group);
    let meta = state
        .groups
        .get(gid.user())
        .map_or_else(|| Node::new("group"), |g| group_node(state, &gid, g));
    (gid, meta)
}

/// The group a `<create subject>` IQ asks for: the asker (super admin) and
/// its `<participant>`s, with the `<description id><body>` it may carry
/// (Baileys' `communityCreate` sends one; an empty body is none), shaped by
/// `shape`, stored and told to its members with `<create>`.
pub(super) fn create_asked(
    state: &mut State,
    ask: &Ask<'_>,
    shape: impl FnOnce(&mut Group),
) -> Jid {
    let action = ask.action;
    let members = resolve(state, participants_of(action));
    let subject = action.attr_str("subject").unwrap_or_default();
    let mut group = new_group(state, ask.me, subject, members);
    group.description = action.child("description").and_then(|d| {
        let body = d.child("body")?.content_bytes().filter(|b| !b.is_empty())?;
        let id = d.attr_str("id").unwrap_or_default().to_owned();
        Some((id, String::from_utf8_lossy(body).into_owned()))
    });
    shape(&mut group);
    let gid = insert(state, group);
    if let Some(g) = state.groups.get(gid.user()) {
        let create = Node::new("create").children(vec![group_node(state, &gid, g)]);
        notify(state, &gid, ask.me, create, &[]);
    }
    gid
}

/// The answer to a create: the new group's `<group>`.
pub(super) fn created(state: &State, ask: &Ask<'_>, gid: &Jid) -> Node {
    let meta = state
        .groups
        .get(gid.user())
        .map(|g| group_node(state, gid, g));
    result(
        ask.id,
        &Jid::new("", Server::Group),
        meta.into_iter().collect(),
    )
}

/// Answers a `w:g2` IQ from the account `me`.
pub(crate) fn iq(shared: &Arc<Shared>, me: &str, id: &str, node: &Node) -> Node {
    let mut state = shared.state();
    let to = node
        .attr_jid("to")
        .cloned()
        .unwrap_or_else(|| Jid::new("", Server::Group));
    let Some(action) = node.child_nodes().first() else {
        return error(id, &to, "400", "bad-request");
    };
    let ask = Ask {
        me,
        id,
        to: &to,
        action,
    };
    match action.tag.as_ref() {
        // A community, or a group in one: `communities`.
        "create" if action.child("parent").is_some() || action.child("linked_parent").is_some() => {
            communities::create(&mut state, &ask)
        }
        "create" => {
            let gid = create_asked(&mut state, &ask, |_| {});
            created(&state, &ask, &gid)
        }
        "leave" => leave(&mut state, &ask),
        // A link's code, sent to `g.us`: what it points to, or joining by it.
        "invite" if to.user().is_empty() => {
            by_link(&mut state, &ask, node.attr_str("type") == Some("set"))
        }
        tag => {
            let Some(group) = state.groups.get(to.user()).cloned() else {
                return error(id, &to, "404", "item-not-found");
            };
            if !group.members.contains_key(me) {
                return error(id, &to, "403", "forbidden");
            }
            let is_admin = group.members.get(me).copied().flatten().is_some();
            match tag {
                "query" => result(id, &to, vec![group_node(&state, &to, &group)]),
                "add" | "remove" | "promote" | "demote" => {
                    if !is_admin {
                        return error(id, &to, "403", "forbidden");
                    }
                    change_members(&mut state, &ask, &group, tag)
                }
                // A locked group's info is its admins' to change.
                "subject" | "description" if group.locked && !is_admin => {
                    error(id, &to, "403", "forbidden")
                }
                "subject" => set_subject(&mut state, &ask, &group),
                "description" => set_description(&mut state, &ask),
                "invite" => {
                    // whatsmeow `GetGroupInviteLink`: admins only (401).
                    if !is_admin {
                        return error(id, &to, "401", "not-authorized");
                    }
                    let reset = node.attr_str("type") == Some("set");
                    invite_code(&mut state, &ask, reset)
                }
                // The timer is the group's info: a locked group's admins'.
                "ephemeral" | "not_ephemeral" if group.locked && !is_admin => {
                    error(id, &to, "403", "forbidden")
                }
                "ephemeral" | "not_ephemeral" => set_timer(&mut state, &ask),
                "links" | "unlink" | "sub_groups" => {
                    communities::iq(&mut state, &ask, &group, is_admin)
                }
                "announcement" | "not_announcement" | "locked" | "unlocked" => {
                    if !is_admin {
                        return error(id, &to, "403", "forbidden");
                    }
                    set_setting(&mut state, &ask, tag)
                }
                _ => error(id, &to, "501", "feature-not-implemented"),
            }
        }
    }
}

/// A `w:g2` IQ being answered: who asked, the IQ's id, the group it is
/// sent to, and its one action child.
pub(super) struct Ask<'a> {
    pub(super) me: &'a str,
    pub(super) id: &'a str,
    pub(super) to: &'a Jid,
    pub(super) action: &'a Node,
}

/// `<leave>`: the asker leaves each group named, and the members left are
/// told.
fn leave(state: &mut State, ask: &Ask<'_>) -> Node {
    let me = ask.me;
    let gids: Vec<Jid> = ask
        .action
        .children_by_tag("group")
        .filter_map(|g| {
            // A JID on the wire (whatsmeow and Baileys both send one), or
            // a bare id.
            if let Some(jid) = g.attr_jid("id") {
                return Some(jid.clone());
            }
            let id = g.attr_str("id")?;
            Some(
                id.parse::<Jid>()
                    .unwrap_or_else(|_| Jid::new(id, Server::Group)),
            )
        })
        .collect();
    for gid in gids {
        let removed = state
            .groups
            .get_mut(gid.user())
            .is_some_and(|g| g.members.remove(me).is_some());
        if removed {
            let lid = state.groups.get(gid.user()).is_some_and(|g| g.lid);
            let leave = Node::new("leave").children(vec![member_node(state, me, lid)]);
            notify(state, &gid, me, leave, &[me.to_owned()]);
        }
    }
    result(ask.id, ask.to, Vec::new())
}

/// `<add>`, `<remove>`, `<promote>` or `<demote>` (`tag`) by an admin:
/// each participant's outcome in the answer (an add the member's privacy
/// refuses gets an invite instead), and the members told of the changes.
fn change_members(state: &mut State, ask: &Ask<'_>, group: &Group, tag: &str) -> Node {
    let (me, id, to, action) = (ask.me, ask.id, ask.to, ask.action);
    let users = resolve(state, participants_of(action));
    let mut answers = Vec::new();
    let mut changed = Vec::new();
    let refused: Vec<String> = match tag {
        "add" => users
            .iter()
            .filter(|pn| !may_add(state, me, pn, action))
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    let limit = state.group_size_limit.unwrap_or(MAX_MEMBERS);
    if let Some(g) = state.groups.get_mut(to.user()) {
        for pn in users {
            if refused.contains(&pn) {
                answers.push(invite_instead(&pn));
                continue;
            }
            if tag == "add" && !g.members.contains_key(&pn) && g.members.len() >= limit {
                let full = Node::new("participant").attr("jid", Jid::user_jid(pn.clone()));
                answers.push(full.attr("error", "500"));
                continue;
            }
            let ok = match tag {
                "add" => g.members.insert(pn.clone(), None).is_none(),
                "remove" => g.members.remove(&pn).is_some(),
                "promote" => g.members.get_mut(&pn).map(|r| *r = Some("admin")).is_some(),
                _ => g.members.get_mut(&pn).map(|r| *r = None).is_some(),
            };
            let mut p = Node::new("participant").attr("jid", Jid::user_jid(pn.clone()));
            if ok {
                changed.push(pn);
            } else {
                p = p.attr("error", if tag == "add" { "409" } else { "404" });
            }
            answers.push(p);
        }
    }
    if !changed.is_empty() {
        let child = Node::new(tag.to_owned()).children(
            changed
                .iter()
                .map(|pn| member_node(state, pn, group.lid))
                .collect(),
        );
        let extra = if tag == "remove" {
            changed.clone()
        } else {
            Vec::new()
        };
        notify(state, to, me, child, &extra);
        if tag == "add" {
            // A linked group's members are the community's.
            communities::join(state, me, to.user(), &changed);
        }
    }
    result(id, to, vec![Node::new(tag.to_owned()).children(answers)])
}

/// `<subject>`: the group's new subject, told to its members.
fn set_subject(state: &mut State, ask: &Ask<'_>, group: &Group) -> Node {
    let (me, to) = (ask.me, ask.to);
    let subject =
        String::from_utf8_lossy(ask.action.content_bytes().unwrap_or_default()).into_owned();
    let now = unix_now();
    if let Some(g) = state.groups.get_mut(to.user()) {
        g.subject = subject.clone();
        g.subject_time = now;
        g.subject_owner = me.to_owned();
    }
    let child = Node::new("subject")
        .attr("subject", subject)
        .attr("s_t", now.to_string())
        .attr("s_o", member_jids(state, me, 0, group.lid).0);
    notify(state, to, me, child, &[]);
    result(ask.id, to, Vec::new())
}

/// `<ephemeral expiration=N/>` or `<not_ephemeral/>` (whatsmeow
/// `SetDisappearingTimer` for a group): the timer set and the members told
/// with the same child.
fn set_timer(state: &mut State, ask: &Ask<'_>) -> Node {
    let timer = match ask.action.tag.as_ref() {
        "ephemeral" => ask
            .action
            .attr_str("expiration")
            .and_then(|e| e.parse::<u32>().ok())
            .filter(|e| *e > 0),
        _ => None,
    };
    if let Some(g) = state.groups.get_mut(ask.to.user()) {
        g.timer = timer;
    }
    let child = match timer {
        Some(t) => Node::new("ephemeral").attr("expiration", t.to_string()),
        None => Node::new("not_ephemeral"),
    };
    notify(state, ask.to, ask.me, child, &[]);
    result(ask.id, ask.to, Vec::new())
}

/// `<invite/>` to a group by an admin: its link's code (made on first
/// ask), or with `reset` a new one, the old one revoked.
fn invite_code(state: &mut State, ask: &Ask<'_>, reset: bool) -> Node {
    let Some(g) = state.groups.get_mut(ask.to.user()) else {
        return error(ask.id, ask.to, "404", "item-not-found");
    };
    if reset && let Some(old) = g.invite_code.take() {
        g.revoked_codes.push(old);
    }
    let code = g.invite_code.get_or_insert_with(new_code).clone();
    result(ask.id, ask.to, vec![Node::new("invite").attr("code", code)])
}

/// A link code as the server makes them: 22 letters and digits.
fn new_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..22)
        .map(|_| char::from(ALPHABET[usize::from(rand::random::<u8>()) % ALPHABET.len()]))
        .collect()
}

/// `<invite code/>` to `g.us`: the group the code's link points to
/// (whatsmeow `GetGroupInfoFromLink`), or with `join` the asker joins it
/// (`JoinGroupWithLink`: the answer names the group, and the members are
/// told of an `<add reason="invite">`). A reset link's code is gone (410),
/// one never made is not acceptable (406).
fn by_link(state: &mut State, ask: &Ask<'_>, join: bool) -> Node {
    let code = ask.action.attr_str("code").unwrap_or_default();
    let found = state
        .groups
        .iter()
        .find(|(_, g)| g.invite_code.as_deref() == Some(code))
        .map(|(gid, g)| (Jid::new(gid.clone(), Server::Group), g.clone()));
    let Some((gid, group)) = found else {
        let revoked = state
            .groups
            .values()
            .any(|g| g.revoked_codes.iter().any(|c| c == code));
        return match revoked {
            true => error(ask.id, ask.to, "410", "gone"),
            false => error(ask.id, ask.to, "406", "not-acceptable"),
        };
    };
    if !join {
        return result(ask.id, ask.to, vec![group_node(state, &gid, &group)]);
    }
    let me = ask.me.to_owned();
    let added = state
        .groups
        .get_mut(gid.user())
        .is_some_and(|g| g.members.insert(me.clone(), None).is_none());
    if added {
        let member = member_node(state, &me, group.lid);
        let add = Node::new("add")
            .attr("reason", "invite")
            .children(vec![member]);
        notify(state, &gid, &me, add, &[]);
        communities::join(state, &me, gid.user(), std::slice::from_ref(&me));
    }
    result(ask.id, ask.to, vec![Node::new("group").attr("jid", gid)])
}

/// `<announcement>`, `<not_announcement>`, `<locked>` or `<unlocked>`
/// (`tag`) by an admin: the setting changed and the members told, with the
/// same tag (whatsmeow `parseGroupChange`).
fn set_setting(state: &mut State, ask: &Ask<'_>, tag: &str) -> Node {
    if let Some(g) = state.groups.get_mut(ask.to.user()) {
        match tag {
            "announcement" | "not_announcement" => g.announce = tag == "announcement",
            _ => g.locked = tag == "locked",
        }
    }
    notify(state, ask.to, ask.me, Node::new(tag.to_owned()), &[]);
    result(ask.id, ask.to, Vec::new())
}

/// `<description>`: the group's new description (or none, without a
/// `<body>`), told to its members.
fn set_description(state: &mut State, ask: &Ask<'_>) -> Node {
    let (me, to, action) = (ask.me, ask.to, ask.action);
    let body = action
        .child("body")
        .and_then(Node::content_bytes)
        .map(|b| String::from_utf8_lossy(b).into_owned());
    let desc_id = action.attr_str("id").unwrap_or_default().to_owned();
    if let Some(g) = state.groups.get_mut(to.user()) {
        g.description = body.clone().map(|b| (desc_id.clone(), b));
    }
    // A removal is told with a `<delete/>` child, which is what whatsmeow's
    // `parseGroupChange` looks for (the setting IQ says it by attribute).
    let child = Node::new("description").attr("id", desc_id);
    let child = match body {
        Some(b) => child.children(vec![Node::new("body").bytes(b.into_bytes())]),
        None => child.children(vec![Node::new("delete")]),
    };
    notify(state, to, me, child, &[]);
    result(ask.id, to, Vec::new())
}
