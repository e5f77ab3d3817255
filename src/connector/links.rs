//! Groups' invite links: `invite-link` in a group's room gives (or resets)
//! its link, `resolve-link` says what a link points to, and `join` joins
//! the group and opens its portal.

use std::sync::Arc;

use ruma::{RoomId, UserId};
use wa_client::{Error as WaError, INVITE_LINK_PREFIX, SendError};
use wa_core::jid::Jid;

use super::login::account_of;
use crate::bridge::{LinkTarget, ResolveError};
use crate::connector::Bridge;
use crate::store::PortalKind;

/// What WhatsApp's refusal of a link request means for the user.
fn refused(e: SendError) -> ResolveError {
    let invalid = |why: &str| ResolveError::Invalid(why.to_owned());
    match e {
        SendError::Connection(WaError::Iq {
            code: 401 | 403, ..
        }) => invalid("only the group's admins may do that"),
        SendError::Connection(WaError::Iq { code: 406, .. }) => {
            invalid("that link does not lead to any group")
        }
        SendError::Connection(WaError::Iq { code: 410, .. }) => {
            invalid("that link was reset by the group's admins")
        }
        other => ResolveError::Failed(other.to_string()),
    }
}

/// The invite link of the group whose portal is `room`, for its user.
pub(super) async fn invite_link(
    bridge: &Arc<Bridge>,
    room: &RoomId,
    user: &UserId,
    reset: bool,
) -> Result<String, ResolveError> {
    let portal = bridge
        .db()
        .portal_by_room(room)
        .await
        .map_err(ResolveError::failed)?;
    let Some(portal) = portal.filter(|p| p.kind == PortalKind::Group) else {
        return Err(ResolveError::Invalid(
            "this room is not a WhatsApp group's".to_owned(),
        ));
    };
    let login = bridge
        .db()
        .login(&portal.login_id)
        .await
        .map_err(ResolveError::failed)?;
    if login.is_none_or(|l| l.mxid != user) {
        return Err(ResolveError::Invalid(
            "only the user whose group this room bridges may ask for its link".to_owned(),
        ));
    }
    let (_, client) = account_of(bridge, user).await?;
    let chat = portal
        .chat_id
        .parse::<Jid>()
        .map_err(ResolveError::failed)?;
    client
        .group_invite_link(&chat, reset)
        .await
        .map_err(refused)
}

/// Whether `link` is a group invite link (the code alone is taken too).
fn is_link(link: &str) -> bool {
    let code = link.strip_prefix(INVITE_LINK_PREFIX).unwrap_or(link);
    !code.is_empty() && code.len() <= 64 && code.chars().all(|c| c.is_ascii_alphanumeric())
}

/// What `link` points to; with `join`, the group joined and its portal
/// opened (the user invited).
pub(super) async fn follow_link(
    bridge: &Arc<Bridge>,
    user: &UserId,
    link: &str,
    join: bool,
) -> Result<LinkTarget, ResolveError> {
    if !is_link(link) {
        return Err(ResolveError::Invalid(format!(
            "that is not a WhatsApp group link: they look like {INVITE_LINK_PREFIX}..."
        )));
    }
    let (login, client) = account_of(bridge, user).await?;
    if !join {
        let info = client.group_info_from_link(link).await.map_err(refused)?;
        return Ok(LinkTarget {
            name: info.subject,
            topic: info.description,
            members: info.participants.len(),
            room: None,
        });
    }
    let joined = client.join_group_with_link(link).await.map_err(refused)?;
    if joined.awaiting_approval {
        return Err(ResolveError::Invalid(
            "this group's admins approve who joins: your request was sent; once they accept \
             it, the group's room opens with its next message"
                .to_owned(),
        ));
    }
    let group = joined.group;
    let info = client.group_info(&group).await.map_err(refused)?;
    let portal = super::portal::portal(bridge, &login, &client, &group, None)
        .await
        .map_err(ResolveError::failed)?;
    // A portal made before (the user was in the group once) invites no one.
    if let Err(e) = bridge.bot().invite(&portal.room_id, user).await {
        tracing::debug!(error = %e, "the user was not invited to the group's room again");
    }
    Ok(LinkTarget {
        name: info.subject,
        topic: info.description,
        members: info.participants.len(),
        room: Some(portal.room_id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_codes_are_taken_and_nothing_else() {
        assert!(is_link("https://chat.whatsapp.com/AbC123xyz"));
        assert!(is_link("AbC123xyz"));
        for bad in [
            "",
            "https://chat.whatsapp.com/",
            "https://evil.example/x",
            "a b",
            "x/../y",
        ] {
            assert!(!is_link(bad), "{bad:?}");
        }
    }
}
