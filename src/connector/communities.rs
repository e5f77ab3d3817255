//! WhatsApp communities as the core's spaces. A group says its community
//! in its metadata (`GroupInfo::parent`), and links and unlinks come as
//! group changes; the core keeps one space per login and community with
//! the rooms of the community's groups the user is in. When a space is
//! made, and at each reconnect, the community's groups are listed
//! (`sub_groups`) and those the user is a member of get their portal, the
//! announcement group among them; a community's group the user joins later
//! gets its portal as they join (other groups wait for their first
//! message, as before). A community itself has no chat, so no portal.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tracing::debug;
use wa_client::{Client, GroupChange, GroupChangeKind, GroupInfo, LinkKind};
use wa_core::jid::Jid;

use crate::bridge::RemoteEvent;
use crate::bridge::space::Community;
use crate::connector::Bridge;
use crate::store::Login;

/// What a community is called when its name cannot be read.
const UNNAMED: &str = "WhatsApp community";

/// A link or unlink between a group and its community, as a change
/// names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Link {
    /// The group.
    pub chat: Jid,
    /// Its community.
    pub community: Jid,
    /// The community's name, when the change says it.
    pub name: Option<String>,
    /// Linked (else unlinked).
    pub linked: bool,
}

/// The link a group change makes or undoes, if it is one. Told to a
/// group, the change names its community (`parent_group`); told to a
/// community, the group (`sub_group`).
pub(super) fn link_of(change: &GroupChange) -> Option<Link> {
    let (kind, other, linked) = match &change.kind {
        GroupChangeKind::Linked { kind, group } => (*kind, group, true),
        GroupChangeKind::Unlinked { kind, group, .. } => (*kind, group, false),
        _ => return None,
    };
    let link = match kind {
        LinkKind::Parent => Link {
            chat: change.group.clone(),
            community: other.jid.clone(),
            name: Some(other.subject.clone()).filter(|s| !s.is_empty()),
            linked,
        },
        LinkKind::Sub => Link {
            chat: other.jid.clone(),
            community: change.group.clone(),
            name: None,
            linked,
        },
        LinkKind::Sibling => return None,
    };
    (link.chat != link.community).then_some(link)
}

/// Applies a link or unlink to the group's room, if the login has one:
/// into the community's space, or out of it (only if it is that
/// community's).
pub(super) async fn apply_link(
    bridge: &Arc<Bridge>,
    (login, client): (&Login, &Client),
    link: Link,
) {
    let db = bridge.db();
    let chat_id = link.chat.to_string();
    match db.portal(&login.login_id, &chat_id).await {
        Ok(Some(_)) => {}
        Ok(None) => return,
        Err(e) => return debug!(error = %e, "a linked group's portal not read"),
    }
    if link.linked {
        let parent = (&link.community, link.name.as_deref());
        return place(bridge, (login, client), &link.chat, Some(parent)).await;
    }
    let current = db.community_of(&login.login_id, &chat_id).await;
    let in_it = match current {
        Ok(space) => space.is_some_and(|s| s.community_id == link.community.to_string()),
        Err(e) => return debug!(error = %e, "a group's space not read"),
    };
    if in_it {
        let out = RemoteEvent::Parent {
            chat_id,
            community: None,
        };
        if let Err(e) = bridge.handle_remote(login, out).await {
            debug!(error = %e, "a group not taken out of its community's space");
        }
    }
}

/// Puts the portal of group `chat` in the space of its community `parent`
/// (named, if the caller knows the name), or out of any; a space made now
/// is filled with the community's other groups the user is in, off the
/// caller's way.
pub(super) async fn place(
    bridge: &Arc<Bridge>,
    (login, client): (&Login, &Client),
    chat: &Jid,
    parent: Option<(&Jid, Option<&str>)>,
) {
    let parent = parent.filter(|(p, _)| *p != chat);
    let mut made = false;
    let community = match parent {
        None => None,
        Some((p, name)) => match bridge
            .db()
            .community_space(&login.login_id, &p.to_string())
            .await
        {
            Ok(Some(space)) => Some(Community {
                id: space.community_id,
                name: space.name,
            }),
            Ok(None) => {
                made = true;
                Some(community(client, p, name).await)
            }
            Err(e) => return debug!(error = %e, "a community's space not read"),
        },
    };
    let event = RemoteEvent::Parent {
        chat_id: chat.to_string(),
        community,
    };
    if let Err(e) = bridge.handle_remote(login, event).await {
        return debug!(error = %e, "a group not put in its community's space");
    }
    if let Some((parent, _)) = parent.filter(|_| made) {
        let (bridge, login, client, parent) = (
            bridge.clone(),
            login.clone(),
            client.clone(),
            parent.clone(),
        );
        tokio::spawn(filling(bridge, login, client, parent));
    }
}

/// The community `id` as the core names it: `name` if known, else as the
/// server says.
async fn community(client: &Client, id: &Jid, name: Option<&str>) -> Community {
    let name = match name {
        Some(name) => name.to_owned(),
        None => match client.group_info(id).await {
            Ok(info) if !info.subject.is_empty() => info.subject,
            Ok(_) => UNNAMED.to_owned(),
            Err(e) => {
                debug!(error = %e, "a community's name not read");
                UNNAMED.to_owned()
            }
        },
    };
    Community {
        id: id.to_string(),
        name,
    }
}

/// [`fill`] as a task of its own. Named and boxed: filling makes portals,
/// which place groups, which may start filling, and a future may not hold
/// itself.
fn filling(
    bridge: Arc<Bridge>,
    login: Login,
    client: Client,
    community: Jid,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move { fill(&bridge, (&login, &client), &community).await })
}

/// Whether the login's own account is a member of the group `info` says.
fn is_member(client: &Client, info: &GroupInfo) -> bool {
    let own = |j: &Jid| super::addressing::is_own(client, j);
    info.participants.iter().any(own)
}

/// Gives each group of `community` the user is a member of its portal
/// (which puts it in the space); a group whose metadata the server shows
/// to a non-member is left out all the same. The community's own name is
/// brought up to date too (renamed while the bridge was away).
async fn fill(bridge: &Arc<Bridge>, (login, client): (&Login, &Client), community: &Jid) {
    let groups = match client.sub_groups(community).await {
        Ok(groups) => groups,
        Err(e) => return debug!(error = %e, "a community's groups not listed"),
    };
    for group in groups {
        if group.jid == *community {
            continue;
        }
        let info = match client.group_info(&group.jid).await {
            Ok(info) if is_member(client, &info) && !info.is_community => info,
            Ok(_) => continue,
            Err(e) => {
                debug!(error = %e, "a community's group not read (not a member?)");
                continue;
            }
        };
        bridged(bridge, (login, client), &info).await;
    }
    if let Ok(info) = client.group_info(community).await
        && !info.subject.is_empty()
    {
        let renamed = RemoteEvent::Renamed {
            chat_id: community.to_string(),
            name: info.subject,
            by: None,
        };
        if let Err(e) = bridge.handle_remote(login, renamed).await {
            debug!(error = %e, "a community's space not renamed");
        }
    }
}

/// The portal of the community group `info` describes (made now if need
/// be), in its community's space: a portal made now is placed as it is
/// made; one made before (the user left and came back) is placed again.
async fn bridged(bridge: &Arc<Bridge>, (login, client): (&Login, &Client), info: &GroupInfo) {
    let chat_id = info.jid.to_string();
    let existed = matches!(
        bridge.db().portal(&login.login_id, &chat_id).await,
        Ok(Some(_))
    );
    if let Err(e) = super::portal::group_portal(bridge, (login, client), info).await {
        return debug!(error = %e, "a community's group not bridged");
    }
    if existed {
        let parent = info.parent.as_ref().map(|p| (p, None));
        place(bridge, (login, client), &info.jid, parent).await;
    }
}

/// The user's account is in group `group` now (created, added, joined):
/// a group of a community gets its portal at once, so the community's
/// space (made with it if need be) shows it.
pub(super) async fn joined(bridge: &Arc<Bridge>, (login, client): (&Login, &Client), group: &Jid) {
    match client.group_info(group).await {
        Ok(info) if info.parent.is_some() && !info.is_community => {
            bridged(bridge, (login, client), &info).await;
        }
        Ok(_) => {}
        Err(e) => debug!(error = %e, "a joined group not read"),
    }
}

/// At a reconnect: each space of `login` gets the groups the user joined
/// while the bridge was away, and the community's name.
pub(super) async fn refill(bridge: &Arc<Bridge>, login: &Login, client: &Client) {
    let spaces = match bridge.db().community_spaces(&login.login_id).await {
        Ok(spaces) => spaces,
        Err(e) => return debug!(error = %e, "spaces not read"),
    };
    for space in spaces {
        if let Ok(community) = space.community_id.parse::<Jid>() {
            fill(bridge, (login, client), &community).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wa_client::LinkedGroup;

    fn change(to: &str, kind: GroupChangeKind) -> GroupChange {
        GroupChange {
            group: to.parse().unwrap(),
            actor: None,
            kind,
        }
    }

    fn other(jid: &str, subject: &str) -> LinkedGroup {
        LinkedGroup {
            jid: jid.parse().unwrap(),
            subject: subject.to_owned(),
            is_announcements: false,
        }
    }

    #[test]
    fn a_link_names_the_group_and_its_community_whichever_side_is_told() {
        let (group, community) = ("1203630001@g.us", "1203639999@g.us");
        let told_group = change(
            group,
            GroupChangeKind::Linked {
                kind: LinkKind::Parent,
                group: other(community, "Street"),
            },
        );
        let told_community = change(
            community,
            GroupChangeKind::Unlinked {
                kind: LinkKind::Sub,
                group: other(group, "Garden"),
                reason: "unlink_group".to_owned(),
            },
        );
        let want = |name: Option<&str>, linked| Link {
            chat: group.parse().unwrap(),
            community: community.parse().unwrap(),
            name: name.map(str::to_owned),
            linked,
        };
        assert_eq!(link_of(&told_group), Some(want(Some("Street"), true)));
        assert_eq!(link_of(&told_community), Some(want(None, false)));
        let sibling = change(
            group,
            GroupChangeKind::Linked {
                kind: LinkKind::Sibling,
                group: other("1203630002@g.us", "Books"),
            },
        );
        assert_eq!(link_of(&sibling), None, "siblings are not parents");
        let itself = change(
            group,
            GroupChangeKind::Linked {
                kind: LinkKind::Parent,
                group: other(group, "Garden"),
            },
        );
        assert_eq!(link_of(&itself), None, "a group is not its own community");
        assert_eq!(link_of(&change(group, GroupChangeKind::Deleted)), None);
    }
}
