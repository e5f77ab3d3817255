//! WhatsApp communities as the core's spaces. A group says its community
//! in its metadata (`GroupInfo::parent`), and links and unlinks come as
//! group changes; the core keeps one space per login and community with
//! the rooms of the community's groups the user is in. When a space is
//! made, and at each reconnect, the community's groups are listed
//! (`sub_groups`) and those the user is in get their portal, the
//! announcement group among them; a community's group the user joins later
//! gets its portal as they join (other groups wait for their first
//! message, as before).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tracing::debug;
use wa_client::{Client, GroupChange, GroupChangeKind, LinkKind};
use wa_core::jid::Jid;

use crate::bridge::RemoteEvent;
use crate::bridge::space::Community;
use crate::connector::Bridge;
use crate::store::Login;

/// What a community is called when its name cannot be read.
const UNNAMED: &str = "WhatsApp community";

/// The community `id` as the core names it: by `subject` if given, else
/// by what the server says of it.
async fn community(client: &Client, id: &Jid, subject: &str) -> Community {
    let name = if subject.is_empty() {
        match client.group_info(id).await {
            Ok(info) if !info.subject.is_empty() => info.subject,
            Ok(_) => UNNAMED.to_owned(),
            Err(e) => {
                debug!(error = %e, "a community's name not read");
                UNNAMED.to_owned()
            }
        }
    } else {
        subject.to_owned()
    };
    Community {
        id: id.to_string(),
        name,
    }
}

/// The core's event for a link or unlink change: which group's room goes
/// into (or out of) which community's space. A notification to a group
/// names its community; one to a community names the group.
pub(super) async fn link_event(client: &Client, change: &GroupChange) -> Option<RemoteEvent> {
    let (kind, other, linked) = match &change.kind {
        GroupChangeKind::Linked { kind, group } => (*kind, group, true),
        GroupChangeKind::Unlinked { kind, group, .. } => (*kind, group, false),
        _ => return None,
    };
    let (chat, parent) = match kind {
        LinkKind::Parent => (&change.group, &other.jid),
        LinkKind::Sub => (&other.jid, &change.group),
        LinkKind::Sibling => return None,
    };
    let subject = if kind == LinkKind::Parent {
        other.subject.as_str()
    } else {
        ""
    };
    let community = match linked {
        true => Some(community(client, parent, subject).await),
        false => None,
    };
    Some(RemoteEvent::Parent {
        chat_id: chat.to_string(),
        community,
    })
}

/// Puts the portal of group `chat` in the space of its community `parent`
/// (or out of any); a space made now is filled with the community's other
/// groups the user is in, off the caller's way.
pub(super) async fn place(
    bridge: &Arc<Bridge>,
    (login, client): (&Login, &Client),
    chat: &Jid,
    parent: Option<&Jid>,
) {
    let mut made = false;
    let community = match parent {
        None => None,
        Some(p) => match bridge
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
                Some(community(client, p, "").await)
            }
            Err(e) => {
                debug!(error = %e, "a community's space not read");
                return;
            }
        },
    };
    let event = RemoteEvent::Parent {
        chat_id: chat.to_string(),
        community,
    };
    if let Err(e) = bridge.handle_remote(login, event).await {
        debug!(error = %e, "a group not put in its community's space");
        return;
    }
    if let Some(parent) = parent.filter(|_| made) {
        let (bridge, login, client, parent) = (
            bridge.clone(),
            login.clone(),
            client.clone(),
            parent.clone(),
        );
        tokio::spawn(filling(bridge, login, client, parent));
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

/// Gives each group of `community` the user is in its portal (which puts
/// it in the space); groups the user is not in are left out.
pub(super) async fn fill(
    bridge: &Arc<Bridge>,
    (login, client): (&Login, &Client),
    community: &Jid,
) {
    let groups = match client.sub_groups(community).await {
        Ok(groups) => groups,
        Err(e) => {
            debug!(error = %e, "a community's groups not listed");
            return;
        }
    };
    for group in groups {
        // Not a member: the group's metadata is refused, no portal made.
        if let Err(e) = super::portal::portal(bridge, login, client, &group.jid, None).await {
            debug!(error = %e, "a community's group not bridged");
        }
    }
}

/// The user's account is in group `group` now (created, added, joined):
/// a group of a community gets its portal at once, so the community's
/// space (made with it if need be) shows it.
pub(super) async fn joined(bridge: &Arc<Bridge>, (login, client): (&Login, &Client), group: &Jid) {
    match client.group_info(group).await {
        Ok(info) if info.parent.is_some() => {
            if let Err(e) = super::portal::portal(bridge, login, client, group, None).await {
                debug!(error = %e, "a joined community group not bridged");
            }
        }
        Ok(_) => {}
        Err(e) => debug!(error = %e, "a joined group not read"),
    }
}

/// At a reconnect: each space of `login` gets the groups the user joined
/// while the bridge was away.
pub(super) async fn refill(bridge: &Arc<Bridge>, login: &Login, client: &Client) {
    let spaces = match bridge.db().community_spaces(&login.login_id).await {
        Ok(spaces) => spaces,
        Err(e) => {
            debug!(error = %e, "spaces not read");
            return;
        }
    };
    for space in spaces {
        if let Ok(community) = space.community_id.parse::<Jid>() {
            fill(bridge, (login, client), &community).await;
        }
    }
}
