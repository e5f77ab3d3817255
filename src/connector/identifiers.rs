//! Phone numbers to people: `resolve-identifier` asks WhatsApp whether a
//! number is on it (a contact lookup) and names their ghost; `pm` also
//! opens the direct chat's portal, made like one a message would make; and
//! a ghost invited to a direct chat the user made makes that room the chat
//! with them (bridgev2's way).

use std::sync::Arc;

use ruma::events::room::message::RoomMessageEventContent;
use ruma::{RoomId, UserId};
use tracing::debug;
use wa_client::Client;
use wa_core::jid::Jid;

use super::incoming::{ghost, ghost_ids};
use super::login::account_of;
use super::relations::jid_of_mxid;
use crate::appservice::Intent;
use crate::bridge::{ResolveError, Resolved};
use crate::connector::Bridge;
use crate::store::{Login, Portal, PortalKind, now_ms};

/// The shortest and longest numbers E.164 allows, country code included.
const DIGITS: std::ops::RangeInclusive<usize> = 7..=15;

/// The digits of a phone number as people write it (`+1 (555) 123-4567`),
/// if it is one.
fn phone_digits(identifier: &str) -> Option<String> {
    let rest = identifier.trim().trim_start_matches('+');
    let separators = |c: char| matches!(c, ' ' | '-' | '.' | '(' | ')');
    if !rest.chars().all(|c| c.is_ascii_digit() || separators(c)) {
        return None;
    }
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    (DIGITS.contains(&digits.len()) && !digits.starts_with('0')).then_some(digits)
}

/// Whom `identifier` names for `user`'s login, and with `start_chat` their
/// direct chat's portal.
pub(super) async fn resolve(
    bridge: &Arc<Bridge>,
    user: &UserId,
    identifier: &str,
    start_chat: bool,
) -> Result<Resolved, ResolveError> {
    let digits = phone_digits(identifier).ok_or_else(|| {
        ResolveError::Invalid(
            "that is not a phone number: give one with its country code, like +15551234567"
                .to_owned(),
        )
    })?;
    let (login, client) = account_of(bridge, user).await?;
    let answers = client
        .on_whatsapp(&[&digits])
        .await
        .map_err(ResolveError::failed)?;
    let id = format!("+{digits}");
    let Some(phone) = answers.into_iter().find(|a| a.is_in).and_then(|a| a.phone) else {
        return Err(ResolveError::NotFound(id, "WhatsApp"));
    };
    // The lookup may have paired a LID chat or ghost with this number.
    super::people::merge_number(bridge, &login, &client, &phone).await;
    let intent = ghost(bridge, &phone, None)
        .await
        .map_err(ResolveError::failed)?;
    let (network_id, _) = ghost_ids(bridge, &phone);
    let db = bridge.db();
    let saved = db
        .contact_name(&login.login_id, &network_id)
        .await
        .map_err(ResolveError::failed)?;
    let name = match saved {
        Some(name) => Some(name),
        None => db
            .ghost(&network_id)
            .await
            .map_err(ResolveError::failed)?
            .and_then(|g| g.display_name)
            .filter(|n| *n != id),
    };
    let room = match start_chat {
        true => Some(open_chat(bridge, (user, &login), &client, &phone).await?),
        false => None,
    };
    Ok(Resolved {
        id,
        name,
        ghost: intent.user_id().to_owned(),
        room,
    })
}

/// The portal of the direct chat with `phone`, made if there is none; the
/// user is invited again if they are not in it.
async fn open_chat(
    bridge: &Arc<Bridge>,
    (user, login): (&UserId, &Login),
    client: &Client,
    phone: &Jid,
) -> Result<ruma::OwnedRoomId, ResolveError> {
    let portal = super::portal::portal(bridge, login, client, phone, None)
        .await
        .map_err(ResolveError::failed)?;
    // Already in it, or invited: the invite is refused, which is fine.
    if let Err(e) = bridge.bot().invite(&portal.room_id, user).await {
        tracing::debug!(error = %e, "the user was not invited to their chat again");
    }
    Ok(portal.room_id)
}

/// `user` invited `ghost_id` to `room`, a direct chat that is no portal:
/// with someone on WhatsApp the user has no chat with yet, the room becomes
/// that chat (the ghost joins and brings the bot in); with one they have,
/// or with other people in the room, the ghost says so and leaves;
/// otherwise it declines.
pub(super) async fn direct_chat_invite(
    bridge: &Arc<Bridge>,
    room: &RoomId,
    user: &UserId,
    ghost_id: &UserId,
) {
    let Ok(ghost) = bridge.matrix().ghost_intent(ghost_id.localpart()) else {
        return;
    };
    let bound = match account_of(bridge, user).await {
        Ok((login, client)) => adopt_dm(bridge, (room, &ghost), &login, &client).await,
        Err(e) => Err(e.to_string()),
    };
    if let Err(why) = bound {
        debug!(%why, "a ghost declines an invite to a direct chat");
        if let Err(e) = ghost.leave(room).await {
            debug!(error = %e, "a ghost did not decline an invite");
        }
    }
}

/// The chat with the person behind `ghost` made of `room`, or the way to
/// the one there is; why not, if neither.
async fn adopt_dm(
    bridge: &Arc<Bridge>,
    (room, ghost): (&RoomId, &Intent),
    login: &Login,
    client: &Client,
) -> Result<(), String> {
    let jid = jid_of_mxid(bridge, login, client, ghost.user_id()).ok_or("not a contact's ghost")?;
    let phone = match jid.is_lid() {
        true => client.pn_for_lid(&jid).await.map_err(|e| e.to_string())?,
        false => Some(jid),
    };
    let phone = phone.ok_or("no phone number known for the LID")?;
    let answers = client
        .on_whatsapp(&[phone.user()])
        .await
        .map_err(|e| e.to_string())?;
    if !answers.iter().any(|a| a.is_in) {
        return Err("the number is not on WhatsApp".to_owned());
    }
    super::people::merge_number(bridge, login, client, &phone).await;
    let chat_id = phone.to_string();
    let _creating = bridge.creating_portal(&login.login_id, &chat_id).await;
    let db = bridge.db();
    ghost.join(room.into()).await.map_err(|e| e.to_string())?;
    bridge.note_joined(room, ghost.user_id()).await;
    let existing = db.portal(&login.login_id, &chat_id).await;
    let existing = existing.map_err(|e| e.to_string())?;
    // A room others are in, may join or read would show them the chat
    // (and the way to the one there is).
    let shared = super::portal::not_private(bridge, ghost, room, &login.mxid).await;
    let pointer = match (&existing, shared.map_err(|e| e.to_string())?) {
        (_, Some(why)) => Some(format!(
            "I cannot be your chat here: {why}. Start one with just me, invite-only."
        )),
        (Some(existing), None) => Some(format!(
            "You have a chat with me already: https://matrix.to/#/{}",
            existing.room_id
        )),
        (None, None) => None,
    };
    if let Some(pointer) = pointer {
        let there = RoomMessageEventContent::notice_plain(pointer);
        let said = ghost
            .send(room, &there, &crate::bridge::txn_id(), None)
            .await;
        let left = ghost.leave(room).await;
        if let Some(e) = said.err().or(left.err()) {
            debug!(error = %e, "a ghost did not point to the chat there is");
        }
        return Ok(());
    }
    let (network_id, _) = ghost_ids(bridge, &phone);
    let saved = db.contact_name(&login.login_id, &network_id).await;
    let name = saved
        .ok()
        .flatten()
        .unwrap_or_else(|| format!("+{}", phone.user()));
    let portal = Portal {
        login_id: login.login_id.clone(),
        chat_id: chat_id.clone(),
        room_id: room.to_owned(),
        kind: PortalKind::Dm,
        name: name.clone(),
        topic: None,
        created_at: now_ms(),
    };
    bridge
        .save_portal(&portal, &login.mxid)
        .await
        .map_err(|e| e.to_string())?;
    // The bot in (for notices and statuses), invited by the ghost; then
    // the room marked as bridged, as far as the ghost may.
    let bot = bridge.bot();
    let joined = match ghost.invite(room, bot.user_id()).await {
        Ok(()) => bot.join(room.into()).await.map(drop),
        Err(e) => Err(e),
    };
    if let Err(e) = joined {
        debug!(error = %e, "the bot is not in a direct chat made by the user");
    }
    if let Err(e) = bridge.mark_bridged(ghost, room, (&chat_id, &name)).await {
        debug!(error = %e, "a direct chat made by the user was not marked as bridged");
    }
    super::incoming::contact_nick(bridge, login, room, (&phone, ghost)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_as_people_write_them() {
        assert_eq!(phone_digits("+15551234567").as_deref(), Some("15551234567"));
        assert_eq!(
            phone_digits(" +1 (555) 123-4567 ").as_deref(),
            Some("15551234567")
        );
        assert_eq!(
            phone_digits("4915112345678").as_deref(),
            Some("4915112345678")
        );
        for bad in [
            "",
            "+",
            "+1555",
            "hello",
            "+1555123456789012",
            "+1555abc4567",
            "015551234567",
        ] {
            assert_eq!(phone_digits(bad), None, "{bad:?}");
        }
    }
}
