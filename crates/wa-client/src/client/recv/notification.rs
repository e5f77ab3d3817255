//! Notification stanzas: device lists, identities, prekeys, group changes,
//! privacy tokens and app-state syncs the server tells us of.

use std::sync::Arc;

use tracing::info;
use wa_core::binary::Node;
use wa_core::jid::{Jid, Server};

use super::super::communities::{LinkKind, linked_group};
use super::super::event::{ClientEvent, GroupChange, GroupChangeKind};
use super::super::{Shared, appstate, lock, tokens};
use super::{HandleError, ack};
use crate::error::Error;
use crate::login;
use crate::socket::Connection;

/// Handles one `<notification>` by its `type`, then acknowledges it
/// whether or not handling it succeeded.
pub(super) async fn notification(
    shared: &Arc<Shared>,
    conn: &Connection,
    node: &Node,
) -> Result<(), HandleError> {
    let result = match node.attr_str("type") {
        Some("devices") => devices_changed(shared, node).await,
        Some("encrypt") if node.child("identity").is_some() => {
            identity_notification(shared, conn, node).await
        }
        Some("encrypt") => prekeys_low(shared, conn, node).await,
        Some("w:gp2") => group_changed(shared, node).await,
        Some("picture") => {
            pictures_changed(shared, node).await;
            Ok(())
        }
        Some("privacy_token") => tokens::received(shared, node)
            .await
            .map_err(HandleError::from),
        Some("server_sync") => {
            appstate::server_sync(shared, node).await;
            Ok(())
        }
        _ => Ok(()),
    };
    ack(conn, node, "notification").await?;
    result
}

/// `<notification type="picture"><set|add jid id author/>` (a new
/// picture) or `<delete jid author/>`, one event per child.
async fn pictures_changed(shared: &Arc<Shared>, node: &Node) {
    for child in node.child_nodes() {
        let id = match child.tag.as_ref() {
            "set" | "add" => match child.attr_str("id") {
                Some(id) => Some(id.to_owned()),
                None => continue,
            },
            "delete" => None,
            _ => continue,
        };
        let Some(of) = child.attr_jid("jid").map(Jid::to_non_ad) else {
            continue;
        };
        let author = child.attr_jid("author").map(Jid::to_non_ad);
        shared.emit(ClientEvent::Picture { of, author, id }).await;
    }
}

async fn devices_changed(shared: &Arc<Shared>, node: &Node) -> Result<(), HandleError> {
    let Some(from) = node.attr_jid("from").map(Jid::to_non_ad) else {
        return Ok(());
    };
    let lid = crate::device_lists::lid_of(&*shared.store, &from).await?;
    for user in [Some(from.clone()), lid].into_iter().flatten() {
        shared.store.delete_devices(&user.to_string()).await?;
    }
    shared
        .emit(ClientEvent::DevicesChanged { user: from })
        .await;
    Ok(())
}

/// `<notification type="encrypt" from><identity/>`: the contact
/// reinstalled. Our token goes to them again (the sessions renew themselves
/// with their next `pkmsg`).
async fn identity_notification(
    shared: &Arc<Shared>,
    conn: &Connection,
    node: &Node,
) -> Result<(), HandleError> {
    let Some(from) = node.attr_jid("from").map(Jid::to_non_ad) else {
        return Ok(());
    };
    if !matches!(from.server(), Server::User | Server::Lid) {
        return Ok(());
    }
    tokens::reissue(shared, conn, &from).await?;
    Ok(())
}

async fn prekeys_low(
    shared: &Arc<Shared>,
    conn: &Connection,
    node: &Node,
) -> Result<(), HandleError> {
    let Some(count) = node
        .child("count")
        .and_then(|c| c.attr_str("value"))
        .and_then(|v| v.parse::<u32>().ok())
    else {
        return Ok(());
    };
    if count >= login::MIN_PREKEY_COUNT {
        return Ok(());
    }
    info!(count, "server is low on our prekeys; uploading more");
    let mut state = shared.state.lock().await;
    login::upload_prekeys(conn, &mut state, &*shared.store, login::REFILL_PREKEY_COUNT)
        .await
        .map_err(|e| match e {
            login::LoginError::Store(s) => HandleError::from(s),
            login::LoginError::Connection(c) => HandleError::Connection(c),
            other => HandleError::Connection(Error::Network(other.to_string())),
        })
}

fn jids(node: &Node) -> Vec<Jid> {
    node.children_by_tag("participant")
        .filter_map(|p| p.attr_jid("jid").cloned())
        .collect()
}

/// A `<link>` or `<unlink>` group change; `None` when it names no group
/// or an unknown kind of link.
fn link_change(child: &Node) -> Option<GroupChangeKind> {
    let group = child.child("group").and_then(linked_group)?;
    if child.tag == "link" {
        let kind = LinkKind::parse(child.attr_str("link_type")?)?;
        return Some(GroupChangeKind::Linked { kind, group });
    }
    let kind = LinkKind::parse(child.attr_str("unlink_type")?)?;
    let reason = child.attr_str("unlink_reason").unwrap_or("unlink_group");
    Some(GroupChangeKind::Unlinked {
        kind,
        group,
        reason: reason.to_owned(),
    })
}

async fn group_changed(shared: &Arc<Shared>, node: &Node) -> Result<(), HandleError> {
    let Some(group) = node.attr_jid("from").cloned() else {
        return Ok(());
    };
    lock(&shared.groups).remove(&group.to_string());
    let actor = node.attr_jid("participant").cloned();
    for child in node.child_nodes() {
        let kind = match child.tag.as_ref() {
            "create" => {
                let g = child.child("group");
                GroupChangeKind::Created {
                    subject: g
                        .and_then(|g| g.attr_str("subject"))
                        .unwrap_or_default()
                        .to_owned(),
                    participants: g.map(jids).unwrap_or_default(),
                }
            }
            "add" if child.attr_str("reason") == Some("invite") => {
                GroupChangeKind::JoinedByLink(jids(child))
            }
            "add" => GroupChangeKind::Added(jids(child)),
            "remove" => GroupChangeKind::Removed(jids(child)),
            "leave" => GroupChangeKind::Left(jids(child)),
            "promote" => GroupChangeKind::Promoted(jids(child)),
            "demote" => GroupChangeKind::Demoted(jids(child)),
            "subject" => {
                GroupChangeKind::Subject(child.attr_str("subject").unwrap_or_default().to_owned())
            }
            "description" => GroupChangeKind::Description(
                child
                    .child("body")
                    .and_then(Node::content_bytes)
                    .map(|b| String::from_utf8_lossy(b).into_owned()),
            ),
            // whatsmeow `parseGroupChange`.
            "announcement" => GroupChangeKind::Announce(true),
            "not_announcement" => GroupChangeKind::Announce(false),
            "locked" => GroupChangeKind::Locked(true),
            "unlocked" => GroupChangeKind::Locked(false),
            "delete" => GroupChangeKind::Deleted,
            // whatsmeow `parseGroupChange`: `<ephemeral expiration>`.
            "ephemeral" => GroupChangeKind::Timer(
                child
                    .attr_str("expiration")
                    .and_then(|e| e.parse::<u32>().ok())
                    .filter(|e| *e > 0),
            ),
            "not_ephemeral" => GroupChangeKind::Timer(None),
            // whatsmeow `parseGroupChange`: `<link link_type><group/>`,
            // `<unlink unlink_type unlink_reason><group/>`.
            "link" | "unlink" => match link_change(child) {
                Some(kind) => kind,
                None => GroupChangeKind::Other(child.tag.to_string()),
            },
            other => GroupChangeKind::Other(other.to_owned()),
        };
        if matches!(kind, GroupChangeKind::Removed(_) | GroupChangeKind::Left(_)) {
            // Whoever left must not read what we send next.
            shared
                .crypto
                .rotate_sender_key(&group, &shared.own.lid)
                .await?;
        }
        shared
            .emit(ClientEvent::GroupChange(GroupChange {
                group: group.clone(),
                actor: actor.clone(),
                kind,
            }))
            .await;
    }
    Ok(())
}
