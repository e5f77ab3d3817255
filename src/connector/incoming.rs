//! A login's WhatsApp events into Matrix: messages into portal rooms (rooms
//! and ghosts made on first use), receipts, typing, presence, history and
//! the connection's ups and downs. (Matrix messages out: `outgoing.rs`.)
//!
//! A WhatsApp message is acknowledged only after its Matrix event was sent
//! and recorded, so a crash in between means a redelivery, not a loss.

use ruma::OwnedEventId;
use ruma::RoomId;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{debug, warn};
use wa_client::{
    ChatState, Client, ClientEvent, GroupChangeKind, IncomingMessage, Receipt, ReceiptKind,
};
use wa_core::jid::{Jid, Server};
use wa_core::proto::Message as WaMessage;

pub(super) use super::outgoing::{fail, queue_and_record};
use super::to_matrix::text::text_content;
use super::{backfill, media, polls, relations};
use crate::appservice::{ClientError, Intent};
use crate::bridge::ghost::GhostId;
use crate::bridge::message::RemoteMessage;
use crate::bridge::{RemoteEvent, RemoteSender, mark_as_puppet};
use crate::connector::Bridge;
use crate::store::{LidLearned, Login, Portal, StoreError, now_ms};
use ruma::events::room::member::{MembershipState, RoomMemberEventContent};
use ruma::events::room::message::RoomMessageEventContent;

/// Handles one login's client events until the client stops.
pub(super) async fn run_events(
    bridge: Arc<Bridge>,
    login: Login,
    client: Client,
    (mut events, mut lids): (
        mpsc::Receiver<ClientEvent>,
        mpsc::UnboundedReceiver<LidLearned>,
    ),
    history: Arc<backfill::Trigger>,
) {
    let inbound = super::ordering::Inbound::default();
    loop {
        // A pairing is stored before the message that taught it is
        // emitted: merging first puts that message where it belongs.
        let event = tokio::select! {
            biased;
            Some(pair) = lids.recv() => {
                super::people::learned(&bridge, &login, &client, pair).await;
                continue;
            }
            event = events.recv() => event,
        };
        let Some(event) = event else { break };
        match event {
            ClientEvent::Message(mut m) => {
                super::addressing::message_by_number(&client, &mut m).await;
                inbound.bridge(&bridge, &login, &client, Arc::from(m)).await;
            }
            ClientEvent::AppState(changes) => {
                super::appstate::apply_changes(&bridge, &login, &client, &changes).await;
            }
            ClientEvent::AppStateInvalid { collection, reason } => {
                warn!(
                    login = %login.login_id,
                    ?collection,
                    %reason,
                    "WhatsApp app state refused; nothing of it applied"
                );
            }
            ClientEvent::HistorySync(notice) => {
                super::history::ingest(&bridge, &login, &client, &notice, &history).await;
            }
            ClientEvent::LoggedOut(_) => {
                warn!(login = %login.login_id, "logged out by WhatsApp");
                let _ = bridge.db().delete_login(&login.login_id).await;
                if let Some(room) = bridge.management_room(&login.mxid).await {
                    bridge
                        .notice(
                            &room,
                            "You were logged out of WhatsApp (the device was unlinked). \
                             Send `login` to link it again.",
                        )
                        .await;
                }
                super::login::retire(&bridge, &login).await;
                break;
            }
            ClientEvent::Stopped(reason) => {
                let text = match reason {
                    wa_client::AuthError::ClientOutdated => {
                        super::login::outdated(&bridge, super::login::KEPT)
                    }
                    reason => format!("WhatsApp stopped this connection: {reason}"),
                };
                if let Some(room) = bridge.management_room(&login.mxid).await {
                    bridge.notice(&room, &text).await;
                }
                // The row stays: `login` replaces it.
                super::login::retire(&bridge, &login).await;
                break;
            }
            event @ (ClientEvent::Receipt(_)
            | ClientEvent::ChatState { .. }
            | ClientEvent::Presence { .. }
            | ClientEvent::GroupChange(_)) => shown(&bridge, (&login, &client), event).await,
            ClientEvent::Connected => connected(&bridge, &login, &client).await,
            ClientEvent::Call(call) => {
                super::calls::call(&bridge, (&login, &client), call).await;
            }
            event @ ClientEvent::Undecryptable { .. } => {
                super::unreadable::undecryptable(&bridge, (&login, &client), event).await;
            }
            ClientEvent::Picture { of, author, id } => {
                let said = (author.as_ref(), id.as_deref());
                super::pictures::changed(&bridge, (&login, &client), &of, said).await;
            }
            ClientEvent::Disconnected { reason, .. } => {
                debug!(login = %login.login_id, %reason, "disconnected");
            }
            _ => {}
        }
    }
}

/// Online (again): presence, people merged, contacts' pictures not looked
/// at yet, groups brought up to date; on the event loop (one IQ per group),
/// so what comes meanwhile waits and is applied after.
async fn connected(bridge: &Arc<Bridge>, login: &Login, client: &Client) {
    debug!(login = %login.login_id, "connected");
    super::presence::on_connected(bridge, login, client).await;
    super::people::merge_known(bridge, login, client).await;
    super::pictures::unseen_contacts(bridge, login, client).await;
    super::groups::resync_groups(bridge, login, client).await;
}

/// Tells the portal of `chat`, if it has one, that a message could not be
/// bridged: the homeserver refused it for good.
pub(super) async fn gave_up(bridge: &Bridge, login: &Login, chat: &Jid, e: &IncomingError) {
    let Ok(Some(portal)) = bridge
        .db()
        .portal(&login.login_id, &chat.to_non_ad().to_string())
        .await
    else {
        return;
    };
    let content = RoomMessageEventContent::notice_plain(format!(
        "⚠️ A message could not be shown here ({e}); open WhatsApp on your phone to read it"
    ));
    let txn = format!("wagaveup{}", now_ms());
    if let Err(e) = bridge
        .bot()
        .send(&portal.room_id, &content, &txn, None)
        .await
    {
        debug!(error = %e, "could not tell the room about a lost message");
    }
}

#[derive(Debug, thiserror::Error)]
pub(super) enum IncomingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("homeserver: {0}")]
    Matrix(#[from] crate::appservice::ClientError),
    #[error("whatsapp: {0}")]
    WhatsApp(#[from] wa_client::SendError),
}

impl IncomingError {
    /// Whether trying again later may succeed: the homeserver unreachable,
    /// failing (5xx) or rate-limiting, the database failing, WhatsApp's
    /// connection down. A refusal (4xx, bad input) is not.
    pub(super) fn is_transient(&self) -> bool {
        use crate::bridge::error::{matrix_is_transient, store_is_transient};
        match self {
            IncomingError::Store(e) => store_is_transient(e),
            IncomingError::Matrix(e) => matrix_is_transient(e),
            IncomingError::WhatsApp(e) => matches!(
                e,
                wa_client::SendError::Connection(_) | wa_client::SendError::Crypto(_)
            ),
        }
    }
}

impl From<crate::bridge::Error> for IncomingError {
    fn from(e: crate::bridge::Error) -> Self {
        match e {
            crate::bridge::Error::Store(e) => IncomingError::Store(e),
            crate::bridge::Error::Matrix(e) => IncomingError::Matrix(e),
        }
    }
}

/// Who a WhatsApp user is to the core: their non-AD JID, the number (or
/// `lid-` and the LID) in the localpart, `+number` until a name is known.
pub(super) fn ghost_id(user: &Jid) -> GhostId {
    let user = user.to_non_ad();
    let (local_id, fallback_name) = match user.server() {
        Server::Lid => (format!("lid-{}", user.user()), user.user().to_owned()),
        Server::User => (user.user().to_owned(), format!("+{}", user.user())),
        _ => (user.user().to_owned(), user.user().to_owned()),
    };
    GhostId {
        network_id: user.to_string(),
        local_id,
        fallback_name,
    }
}

/// The ghost's network id and Matrix localpart for a WhatsApp user.
pub(super) fn ghost_ids(bridge: &Bridge, user: &Jid) -> (String, String) {
    let id = ghost_id(user);
    let localpart = bridge.ghost_localpart(&id);
    (id.network_id, localpart)
}

/// The ghost of `user`, registered, with its name set when we learn one:
/// the contact's own push name. The ghost is everyone's, so a name from
/// one user's address book is shown in that user's rooms only (see
/// `contact_nick`), again after each rename.
pub(super) async fn ghost(
    bridge: &Bridge,
    user: &Jid,
    name: Option<&str>,
) -> Result<Intent, IncomingError> {
    Ok(bridge.named_ghost(&ghost_id(user), name).await?)
}

/// After the ghost's own name changed: the homeserver rewrote its member
/// events in every room with that name, so each user's own name for the
/// contact is shown again in that user's rooms.
pub(super) async fn renew_contact_nicks(bridge: &Bridge, user: &Jid, intent: &Intent) {
    let (network_id, _) = ghost_ids(bridge, user);
    let logins = match bridge.db().logins_naming(&network_id).await {
        Ok(l) => l,
        Err(e) => {
            debug!(error = %e, "contact names not renewed");
            return;
        }
    };
    for login_id in logins {
        match bridge.db().login(&login_id).await {
            Ok(Some(login)) => {
                contact_nick_everywhere(bridge, &login, (user, intent), false).await;
            }
            Ok(None) => {}
            Err(e) => debug!(error = %e, "contact names not renewed"),
        }
    }
}

/// `ghost`'s member event in `room` went from `before` to `now`: if
/// `before` showed the ghost as the room's user knows them (their name,
/// the picture they see) and `now` does not, the homeserver overwrote it
/// (its profile propagation): [`contact_nick`] shows theirs again. Only
/// then: anything else (the bridge's own event, a homeserver that allows
/// no per-room names) ends here, so this never loops.
pub(super) async fn ghost_profile_in_room(
    bridge: &Bridge,
    room: &RoomId,
    ghost: &ruma::UserId,
    (before, now): (&RoomMemberEventContent, &RoomMemberEventContent),
) {
    let db = bridge.db();
    let found = async {
        let Some(portal) = db.portal_by_room(room).await? else {
            return Ok(None);
        };
        let login = db.login(&portal.login_id).await?;
        let row = db.ghost_by_localpart(ghost.localpart()).await?;
        let Some((login, row)) = login.zip(row) else {
            return Ok(None);
        };
        let (name, avatar) = known_as(bridge, &login, &row.network_id).await?;
        Ok::<_, StoreError>(Some((login, row, name, avatar)))
    };
    let (login, row, name, avatar) = match found.await {
        Ok(Some(found)) => found,
        Ok(None) => return,
        Err(e) => {
            debug!(error = %e, "how the user knows a ghost not read");
            return;
        }
    };
    let shows_view = |m: &RoomMemberEventContent| {
        name.as_ref()
            .is_none_or(|n| m.displayname.as_ref() == Some(n))
            && avatar
                .as_ref()
                .is_none_or(|a| m.avatar_url.as_ref() == Some(a))
    };
    if name.is_none() && avatar.is_none() || !shows_view(before) || shows_view(now) {
        return;
    }
    let (Ok(user), Ok(intent)) = (
        row.network_id.parse::<Jid>(),
        bridge.matrix().ghost_intent(ghost.localpart()),
    ) else {
        return;
    };
    contact_nick(bridge, &login, room, (&user, &intent)).await;
}

/// [`show_as_known`] in each of `login`'s portals the ghost is in.
pub(super) async fn contact_nick_everywhere(
    bridge: &Bridge,
    login: &Login,
    (user, intent): (&Jid, &Intent),
    always: bool,
) {
    // The homeserver knows them all (the bridge's own list starts empty).
    let present = match intent.joined_rooms().await {
        Ok(rooms) => rooms,
        Err(_) => bridge.rooms_joined_by(intent.user_id()).await,
    };
    let portals = match bridge.db().portals_of_login(&login.login_id).await {
        Ok(p) => p,
        Err(e) => {
            debug!(error = %e, "portals not read; contact name not shown");
            return;
        }
    };
    for portal in portals {
        if present.contains(&portal.room_id) {
            show_as_known(bridge, login, &portal.room_id, (user, intent), always).await;
        }
    }
}

/// Shows `user` in `room` (a room of `login`) as `login`'s user knows
/// them: the name they gave them in their address book and the picture
/// they may see, as a member event of the ghost's own. Nothing when the
/// user has neither (the ghost's own name shows).
pub(super) async fn contact_nick(
    bridge: &Bridge,
    login: &Login,
    room: &RoomId,
    (user, intent): (&Jid, &Intent),
) {
    show_as_known(bridge, login, room, (user, intent), false).await;
}

/// How `login`'s user knows contact `network_id`: the name they gave
/// them, the picture they may see.
async fn known_as(
    bridge: &Bridge,
    login: &Login,
    network_id: &str,
) -> Result<(Option<String>, Option<ruma::OwnedMxcUri>), StoreError> {
    let db = bridge.db();
    let name = db.contact_name(&login.login_id, network_id).await?;
    let picture = db.contact_picture(&login.login_id, network_id).await?;
    Ok((name, picture.and_then(|p| p.avatar_url)))
}

/// [`contact_nick`]; with `always`, also when the user has neither (a
/// picture just taken away is taken away in the room too).
pub(super) async fn show_as_known(
    bridge: &Bridge,
    login: &Login,
    room: &RoomId,
    (user, intent): (&Jid, &Intent),
    always: bool,
) {
    let (network_id, _) = ghost_ids(bridge, user);
    let db = bridge.db();
    let (name, avatar) = match known_as(bridge, login, &network_id).await {
        Ok(known) => known,
        Err(e) => {
            debug!(error = %e, "contact name and picture not read");
            return;
        }
    };
    if name.is_none() && avatar.is_none() && !always {
        return;
    }
    let name = match name {
        Some(name) => Some(name),
        None => db
            .ghost(&network_id)
            .await
            .ok()
            .flatten()
            .and_then(|g| g.display_name),
    };
    let mut content = RoomMemberEventContent::new(MembershipState::Join);
    content.displayname = name;
    content.avatar_url = avatar;
    if let Err(e) = intent
        .send_state(room, &content, intent.user_id().as_str(), None)
        .await
    {
        debug!(error = %e, "contact name and picture not shown in the room");
    }
}

/// A WhatsApp message as the bridge renders it, live or from history.
#[derive(Debug, Clone, Copy)]
pub(super) struct Incoming<'a> {
    /// The chat.
    pub chat: &'a Jid,
    /// Who sent it (a device JID is fine).
    pub sender: &'a Jid,
    /// The message id.
    pub id: &'a str,
    /// Sent by the logged-in account, from any of its devices.
    pub from_me: bool,
    /// The sender's push name.
    pub push_name: Option<&'a str>,
    /// The content.
    pub message: &'a WaMessage,
    /// When it was sent (unix ms).
    pub ts_ms: u64,
}

impl Incoming<'_> {
    /// The message as the core keys it, for `login`.
    pub(super) fn remote(&self, login: &Login) -> RemoteMessage {
        RemoteMessage {
            login_id: login.login_id.clone(),
            chat_id: self.chat.to_string(),
            sender_id: self.sender.to_non_ad().to_string(),
            message_id: self.id.to_owned(),
            ts_ms: self.ts_ms,
            from_me: self.from_me,
        }
    }

    fn text(&self) -> Option<&str> {
        self.message.conversation.as_deref().or_else(|| {
            self.message
                .extended_text_message
                .as_ref()
                .and_then(|e| e.text.as_deref())
        })
    }
}

/// A WhatsApp message into its portal, recorded.
pub(super) async fn to_matrix(
    bridge: &Arc<Bridge>,
    login: &Login,
    client: &Client,
    m: &IncomingMessage,
) -> Result<(), IncomingError> {
    let incoming = Incoming {
        chat: &m.chat,
        sender: &m.sender,
        id: &m.id,
        from_me: m.from_me,
        push_name: m.push_name.as_deref(),
        message: &m.message,
        ts_ms: m.timestamp.saturating_mul(1000),
    };
    if already_bridged(bridge, login, &incoming).await? {
        return Ok(());
    }
    let push_name = if m.from_me {
        None
    } else {
        m.push_name.as_deref()
    };
    let portal = super::portal::portal(bridge, login, client, &m.chat, push_name).await?;
    deliver(bridge, login, client, &portal, &incoming).await?;
    // Read, but not as a message of its own (a reaction, an edit, a vote):
    // a placeholder it left is taken away.
    let sender = ghost_id(&m.sender);
    bridge
        .clear_placeholder(&incoming.remote(login), &sender)
        .await?;
    Ok(())
}

/// Whether this message already has its Matrix event.
pub(super) async fn already_bridged(
    bridge: &Bridge,
    login: &Login,
    m: &Incoming<'_>,
) -> Result<bool, IncomingError> {
    Ok(bridge
        .db()
        .message_by_network_id(
            &login.login_id,
            &m.chat.to_string(),
            &m.sender.to_non_ad().to_string(),
            m.id,
        )
        .await?
        .is_some())
}

/// Sends one message into `portal` with its original time and records it;
/// returns the event id. The transaction id is derived from the message, so
/// a send repeated after a crash is the same event to the homeserver.
/// Attachments are downloaded through `client`.
pub(super) async fn deliver(
    bridge: &Bridge,
    login: &Login,
    client: &Client,
    portal: &Portal,
    m: &Incoming<'_>,
) -> Result<Option<OwnedEventId>, IncomingError> {
    // Classified once, on what the chat shows: disappearing-chat, bot,
    // album and similar wrappers are transport, not content.
    let peeled = wa_core::content::transparent(m.message);
    let m = &Incoming {
        message: &peeled,
        ..*m
    };
    // The user's own from another device: their puppet, else the bot (the
    // message then marked as theirs); anyone else's: their ghost.
    let sender = RemoteSender {
        ghost: ghost_id(m.sender),
        name: m.push_name.filter(|_| !m.from_me).map(str::to_owned),
    };
    let actor = bridge.actor(&login.mxid, &m.remote(login), &sender).await?;
    let (intent, puppet) = (&actor.intent, actor.as_user);
    if let Some(update) = polls::update(m.message) {
        if !puppet {
            bridge.ensure_joined(&portal.room_id, intent).await?;
        }
        return polls::vote(bridge, login, client, portal, m, intent, update).await;
    }
    if let Some(action) = wa_core::content::action(m.message) {
        if !puppet {
            bridge.ensure_joined(&portal.room_id, intent).await?;
        }
        return relations::apply(bridge, (login, client), portal, m, &actor, action).await;
    }
    // A poll as a poll event, where configured; not the user's own without
    // double puppeting (that one is a notice from the bot).
    let poll_event = polls::creation(m.message)
        .filter(|_| bridge.config().bridge.polls_as_events && (puppet || !m.from_me));
    let (event_type, mut content) = match (
        crate::connector::to_matrix::media::Attachment::of(m.message),
        poll_event,
    ) {
        (Some(attachment), _) => media::to_matrix(bridge, client, intent, &attachment).await?,
        (None, Some(poll)) => (
            "org.matrix.msc3381.poll.start",
            polls::start_event(poll, &text_content(m.text(), m.message)),
        ),
        (None, None) => match crate::connector::to_matrix::vcard::card(m.message) {
            Some(card) => media::card_to_matrix(intent, card).await?,
            None => ("m.room.message", text_content(m.text(), m.message)),
        },
    };
    if puppet {
        mark_as_puppet(&mut content);
    } else if m.from_me && content.get("url").is_none() {
        let body = content["body"].as_str().unwrap_or_default();
        let notice =
            RoomMessageEventContent::notice_plain(format!("(sent from your phone) {body}"));
        content = serde_json::to_value(notice).map_err(|e| ClientError::Content(e.to_string()))?;
    }
    relations::decorate(bridge, (login, client), portal, m, &mut content).await?;
    if !puppet && bridge.ensure_joined(&portal.room_id, intent).await? && !m.from_me {
        contact_nick(bridge, login, &portal.room_id, (m.sender, intent)).await;
    }
    let event_id = send_and_record(bridge, login, portal, m, intent, event_type, &content).await?;
    polls::remember(bridge, login, m, poll_event.is_some()).await?;
    Ok(Some(event_id))
}

/// Sends `m`'s Matrix event and records it (see [`Bridge::send_remote`]).
pub(super) async fn send_and_record(
    bridge: &Bridge,
    login: &Login,
    portal: &Portal,
    m: &Incoming<'_>,
    intent: &Intent,
    event_type: &str,
    content: &serde_json::Value,
) -> Result<OwnedEventId, IncomingError> {
    let remote = m.remote(login);
    let sent = bridge
        .send_remote(&portal.room_id, intent, &remote, (event_type, content))
        .await?;
    Ok(sent)
}

/// A client event the core shows (receipt, typing, presence, a group's
/// change), then what a group change means for the user's community
/// spaces.
async fn shown(bridge: &Arc<Bridge>, (login, client): (&Login, &Client), event: ClientEvent) {
    let joined = own_joined(client, &event);
    let link = match &event {
        ClientEvent::GroupChange(change) => super::communities::link_of(change),
        _ => None,
    };
    for remote in remote_events(client, event).await {
        if let Err(e) = bridge.handle_remote(login, remote).await {
            debug!(error = %e, "a WhatsApp event not bridged");
        }
    }
    if let Some(group) = joined {
        super::communities::joined(bridge, (login, client), &group).await;
    }
    if let Some(link) = link {
        super::communities::apply_link(bridge, (login, client), link).await;
    }
}

/// The group the login's own account is now in, if `event` says so: made
/// with it, or it added (or joined by link).
fn own_joined(client: &Client, event: &ClientEvent) -> Option<Jid> {
    let ClientEvent::GroupChange(change) = event else {
        return None;
    };
    let own = match &change.kind {
        GroupChangeKind::Created { .. } => true,
        GroupChangeKind::Added(who) | GroupChangeKind::JoinedByLink(who) => {
            who.iter().any(|j| super::addressing::is_own(client, j))
        }
        _ => false,
    };
    own.then(|| change.group.clone())
}

/// What the core shows of a client event: a contact's read receipt,
/// typing or presence, a group's change.
async fn remote_events(client: &Client, event: ClientEvent) -> Vec<RemoteEvent> {
    if let ClientEvent::GroupChange(change) = event {
        return super::groups::group_change(client, change).await;
    }
    let one = match event {
        ClientEvent::Receipt(r) if r.kind == ReceiptKind::Read => read_event(client, r).await,
        ClientEvent::ChatState { chat, from, state } => {
            Some(typing_event(client, &chat, &from, state).await)
        }
        ClientEvent::Presence {
            from, available, ..
        } => Some(RemoteEvent::Presence {
            who: ghost_id(&from),
            online: available,
        }),
        _ => None,
    };
    one.into_iter().collect()
}

/// A contact's read receipt as the core's event; none for one of our own
/// devices (that is no contact's receipt).
async fn read_event(client: &Client, r: Receipt) -> Option<RemoteEvent> {
    let chat = super::addressing::by_number(client, &r.chat).await;
    let reader = super::addressing::by_number(client, &r.from).await;
    if reader.user() == client.jid().user() {
        return None;
    }
    Some(RemoteEvent::Read {
        chat_id: chat.to_non_ad().to_string(),
        reader: ghost_id(&reader),
        own_id: client.jid().to_non_ad().to_string(),
        message_ids: r.ids,
    })
}

/// WhatsApp clients repeat "composing" while one types: this covers a gap.
const TYPING_LASTS: Duration = Duration::from_secs(30);

/// A contact types (or stops), as the core's event.
async fn typing_event(client: &Client, chat: &Jid, from: &Jid, state: ChatState) -> RemoteEvent {
    let chat = super::addressing::by_number(client, chat).await;
    let from = super::addressing::by_number(client, from).await;
    let on = matches!(state, ChatState::Composing | ChatState::Recording);
    RemoteEvent::Typing {
        chat_id: chat.to_non_ad().to_string(),
        who: ghost_id(&from),
        timeout: on.then_some(TYPING_LASTS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appservice::{ClientError, MatrixError};

    fn matrix(status: u16) -> IncomingError {
        IncomingError::Matrix(ClientError::Matrix(MatrixError {
            status,
            errcode: "M_UNKNOWN".to_owned(),
            error: String::new(),
            retry_after_ms: None,
        }))
    }

    #[test]
    fn only_what_may_pass_is_tried_again() {
        assert!(matrix(502).is_transient(), "a failing homeserver");
        assert!(matrix(429).is_transient(), "rate limited");
        assert!(!matrix(413).is_transient(), "too large: never");
        assert!(!matrix(403).is_transient(), "forbidden: never");
        assert!(
            !IncomingError::Store(StoreError::Duplicate { table: "messages" }).is_transient(),
            "a duplicate is not a failure that passes"
        );
        assert!(
            !IncomingError::WhatsApp(wa_client::SendError::Malformed("x".to_owned()))
                .is_transient()
        );
    }
}
