//! One person, one ghost, one direct chat (issue 20, point 5).
//!
//! WhatsApp names an account by phone number or by LID. The key of its
//! ghost and of a login's chat with it is the phone number when the login
//! knows it, else the LID (`addressing.rs` reads a LID as its number before
//! anything is looked up). That choice, rather than LID-first:
//! - portals are per login, and a login reads a LID as a number only when
//!   its own account was told that number, so a ghost's Matrix ID shows a
//!   number only in rooms of a user whose WhatsApp shows it too;
//! - the ghosts and rooms every existing install has (keyed by number)
//!   stay as they are: no re-keying of every chat and ghost.
//!
//! The split that remains is a contact first seen by LID alone (its number
//! hidden, as in a community) whose number the login learns later. Then
//! this module moves, for that login, what was keyed by the LID to the
//! number: the rows (`Database::merge_person`), the ghost in each of the
//! login's rooms (the number's ghost joins with the LID ghost's power
//! level, the LID ghost leaves), and the direct chat: its room becomes the
//! number's chat, or, if the number already had one, the LID's room points
//! to it (a notice and an `m.room.tombstone`). It runs as the client learns
//! a pairing, and at each connect for pairings learned before (or by a
//! version without this module), each person once per login.

use std::collections::HashSet;

use ruma::events::room::tombstone::RoomTombstoneEventContent;
use ruma::{OwnedRoomId, RoomId};
use tracing::{debug, info, warn};
use wa_client::Client;
use wa_core::jid::{Jid, Server};

use super::incoming::{IncomingError, contact_nick, ghost, ghost_id};
use crate::appservice::{ClientError, Intent};
use crate::connector::Bridge;
use crate::store::{DirectChat, Ghost, LidLearned, Login};

/// A pairing the client has just learned.
pub(super) async fn learned(bridge: &Bridge, login: &Login, client: &Client, pair: LidLearned) {
    let lid = Jid::new(&pair.lid, Server::Lid);
    let pn = Jid::new(&pair.pn, Server::User);
    merge(bridge, login, client, &lid, &pn).await;
}

/// Every LID the login still keeps a chat under, and every LID ghost not
/// yet merged for it, whose number the login now knows: merged.
pub(super) async fn merge_known(bridge: &Bridge, login: &Login, client: &Client) {
    let lids = match bridge.db().lid_keyed(&login.login_id).await {
        Ok(l) => l,
        Err(e) => {
            warn!(error = %e, "LID-keyed chats and ghosts not read; none merged");
            return;
        }
    };
    for lid in lids {
        let Ok(lid) = lid.parse::<Jid>() else {
            continue;
        };
        match client.pn_for_lid(&lid).await {
            Ok(Some(pn)) => merge(bridge, login, client, &lid, &pn.to_non_ad()).await,
            Ok(None) => {}
            Err(e) => debug!(error = %e, "LID mapping not read"),
        }
    }
}

/// What the login keeps under the LID of `pn`, if it knows it, merged now
/// (before a chat with `pn` is opened: its LID chat may be the one).
pub(super) async fn merge_number(bridge: &Bridge, login: &Login, client: &Client, pn: &Jid) {
    match client.lid_for_pn(&pn.to_non_ad()).await {
        Ok(Some(lid)) => merge(bridge, login, client, &lid.to_non_ad(), &pn.to_non_ad()).await,
        Ok(None) => {}
        Err(e) => debug!(error = %e, "LID mapping not read"),
    }
}

async fn merge(bridge: &Bridge, login: &Login, client: &Client, lid: &Jid, pn: &Jid) {
    if super::addressing::is_own(client, pn) || super::addressing::is_own(client, lid) {
        return;
    }
    match try_merge(bridge, login, lid, pn).await {
        Ok(true) => {
            info!(login = %login.login_id, "a contact's LID chat and ghost merged into their number's")
        }
        Ok(false) => {}
        // Tried again at the next connect.
        Err(e) => warn!(login = %login.login_id, error = %e, "a contact's LID rows not merged yet"),
    }
}

/// True if there was anything to merge.
async fn try_merge(
    bridge: &Bridge,
    login: &Login,
    lid: &Jid,
    pn: &Jid,
) -> Result<bool, IncomingError> {
    let db = bridge.db();
    let lid_id = lid.to_string();
    // No chat is made for the number meanwhile (nor merged twice at once).
    let _creating = bridge
        .creating_portal(&login.login_id, &pn.to_string())
        .await;
    let known = db.ghost(&ghost_id(lid).network_id).await?;
    let chat = db.portal(&login.login_id, &lid_id).await?;
    // History kept under the LID would make its own room when backfilled.
    let history = db.history_chat(&login.login_id, &lid_id).await?;
    if known.is_none() && chat.is_none() && history.is_none() {
        return Ok(false);
    }
    // A chat under both keys: the LID's room says where the chat goes on
    // before anything moves, so a failure leaves all for the next try.
    let number_chat = db.portal(&login.login_id, &pn.to_string()).await?;
    if let (Some(old), Some(new)) = (&chat, &number_chat) {
        retire(bridge, &old.room_id, &new.room_id).await?;
    }
    let moved = db
        .merge_person(&login.login_id, &lid_id, &pn.to_string())
        .await?;
    // The room's bridge info names the chat by its new key.
    if let (DirectChat::Moved { room_id }, Some(old)) = (&moved, &chat)
        && let Err(e) = bridge
            .mark_bridged(bridge.bot(), &old.room_id, (&pn.to_string(), &old.name))
            .await
    {
        debug!(error = %e, %room_id, "a moved chat's bridge info not renamed");
    }
    if let Some(old) = known {
        let mut ours: HashSet<OwnedRoomId> = db
            .portals_of_login(&login.login_id)
            .await?
            .into_iter()
            .map(|p| p.room_id)
            .collect();
        if let DirectChat::Retired { old_room, .. } = &moved {
            ours.extend(old_room.parse::<OwnedRoomId>().ok());
        }
        let old_intent = bridge.matrix().ghost_intent(&old.localpart)?;
        for room in old_intent.joined_rooms().await? {
            if ours.contains(&room) {
                swap(bridge, login, &room, (&old_intent, &old), (lid, pn)).await?;
            }
        }
    }
    db.merged_person(&login.login_id, &lid_id, &pn.to_string())
        .await?;
    Ok(true)
}

/// In `room`, the number's ghost takes the LID ghost's place: it joins
/// with the same power level, then the LID ghost leaves.
async fn swap(
    bridge: &Bridge,
    login: &Login,
    room: &RoomId,
    (old, old_row): (&Intent, &Ghost),
    (lid, pn): (&Jid, &Jid),
) -> Result<(), IncomingError> {
    // A new ghost for the number keeps the name the LID's had (the
    // person's push name), unless that was only the LID's digits.
    let fresh = bridge.db().ghost(&ghost_id(pn).network_id).await?.is_none();
    let name = old_row
        .display_name
        .as_deref()
        .filter(|n| fresh && *n != lid.user());
    let new = ghost(bridge, pn, name).await?;
    bridge.ensure_joined(room, &new).await?;
    contact_nick(bridge, login, room, (pn, &new)).await;
    move_level(bridge, room, old, &new).await?;
    match old.leave(room).await {
        // 403: it was no longer in the room.
        Ok(()) => {}
        Err(ClientError::Matrix(e)) if e.status == 403 => {}
        Err(e) => return Err(e.into()),
    }
    bridge.note_left(room, old.user_id()).await;
    Ok(())
}

/// Gives `new` the power level `old` had in `room`, if it had one of its
/// own. `old`'s stays: in rooms before version 12 the LID ghost that made
/// a direct chat is at the bot's level, which the bot may not lower (it
/// leaves the room next, so its level is moot).
async fn move_level(
    bridge: &Bridge,
    room: &RoomId,
    old: &Intent,
    new: &Intent,
) -> Result<(), crate::bridge::Error> {
    bridge
        .change_levels(room, |levels| {
            let Some(level) = levels.users.get(old.user_id()).copied() else {
                return false;
            };
            levels.users.insert(new.user_id().to_owned(), level) != Some(level)
        })
        .await
}

/// The LID's direct chat ends in favour of the number's: it says so and
/// points to the room that goes on.
async fn retire(bridge: &Bridge, old: &RoomId, new: &RoomId) -> Result<(), ClientError> {
    let text = format!(
        "WhatsApp now shows this contact by their number: this chat continues in \
         https://matrix.to/#/{new}"
    );
    bridge.notice(old, &text).await;
    let tombstone = RoomTombstoneEventContent::new(text, new.to_owned());
    bridge.bot().send_state(old, &tombstone, "", None).await?;
    Ok(())
}
