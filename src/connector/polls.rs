//! Polls from WhatsApp, and votes from WhatsApp as they arrive.
//!
//! A poll is a text list, or with `bridge.polls_as_events` an MSC3381
//! poll whose answer ids are the hex of the options' hashes. A vote on a
//! poll Matrix knows as a poll (started there, or shown as one) is a
//! `poll.response` of the voter's naming the answers chosen, so Matrix
//! clients count it; on a poll shown as text it is a notice from the
//! voter, in reply to the poll, naming the options.
//!
//! A vote is sealed with a key derived from the poll's `messageSecret`
//! ([`wa_core::msgsecret`]), so every poll bridged from WhatsApp is kept
//! with its secret and option names. The key also depends on how the voter
//! wrote both JIDs (phone number or LID); each form the bridge knows is
//! tried, and the GCM tag tells which one was used.

use ruma::OwnedEventId;
use ruma::events::poll::response::PollResponseEventContent;
use ruma::events::poll::unstable_response::UnstablePollResponseEventContent;
use ruma::events::relation::{InReplyTo, Reply};
use ruma::events::room::message::{Relation, RoomMessageEventContent};
use tracing::debug;
use wa_client::Client;
use wa_core::jid::Jid;
use wa_core::msgsecret::{VoteContext, open_vote, option_hash};
use wa_core::proto::message::PollUpdateMessage;

use super::incoming::{Incoming, IncomingError, send_and_record};
use crate::appservice::{ClientError, Intent};
use crate::connector::Bridge;
use crate::store::{Login, MatrixPoll, Poll, Portal};

mod outgoing;

use crate::connector::to_matrix::polls::answer_id;
pub(super) use crate::connector::to_matrix::polls::{creation, start_event, update};
pub use outgoing::{poll_end_from_matrix, poll_response_from_matrix, poll_start_from_matrix};

/// Keeps what later votes on poll `m` need (its secret and options); for a
/// poll shown as a poll event (`as_event`), its answer ids too.
pub(super) async fn remember(
    bridge: &Bridge,
    login: &Login,
    m: &Incoming<'_>,
    as_event: bool,
) -> Result<(), IncomingError> {
    let Some(poll) = creation(m.message) else {
        return Ok(());
    };
    let secret = [m.message, wa_core::content::unwrap(m.message)]
        .into_iter()
        .find_map(|c| c.message_context_info.as_ref()?.message_secret.clone());
    let Some(secret) = secret else {
        debug!(id = %m.id, "a poll without a message secret; its votes cannot be read");
        return Ok(());
    };
    let options: Vec<String> = poll
        .options
        .iter()
        .filter_map(|o| o.option_name.clone())
        .collect();
    let matrix = as_event.then(|| MatrixPoll {
        answer_ids: options.iter().map(|o| answer_id(o)).collect(),
        response_type: "org.matrix.msc3381.poll.response".to_owned(),
    });
    bridge
        .db()
        .save_poll(&Poll {
            login_id: login.login_id.clone(),
            chat_id: m.chat.to_string(),
            sender_id: m.sender.to_non_ad().to_string(),
            poll_id: m.id.to_owned(),
            secret,
            options,
            selectable: poll.selectable_options_count.unwrap_or(0),
            matrix,
        })
        .await?;
    Ok(())
}

/// Shows vote `update` (sent as `m`) in the poll's room; returns the
/// notice's event id.
pub(super) async fn vote(
    bridge: &Bridge,
    login: &Login,
    client: &Client,
    portal: &Portal,
    m: &Incoming<'_>,
    intent: &Intent,
    update: &PollUpdateMessage,
) -> Result<Option<OwnedEventId>, IncomingError> {
    let poll_id = update
        .poll_creation_message_key
        .as_ref()
        .and_then(|k| k.id.as_deref())
        .unwrap_or_default();
    let poll = bridge
        .db()
        .poll(&login.login_id, &m.chat.to_string(), poll_id)
        .await?;
    let chosen = match &poll {
        Some(p) => open(client, p, m, update).await,
        None => None,
    };
    let target = match &poll {
        Some(p) => {
            bridge
                .db()
                .message_by_network_id(&p.login_id, &p.chat_id, &p.sender_id, &p.poll_id)
                .await?
        }
        None => None,
    };
    // Without double puppeting the user's own vote would count as the
    // bot's: that one stays a notice. With it, the event is marked so its
    // echo is not bridged back.
    let puppeted = m.from_me && bridge.puppet(&login.mxid).is_some();
    let as_voter = !m.from_me || puppeted;
    let json = |content: Result<serde_json::Value, serde_json::Error>| {
        let mut content = content.map_err(|e| ClientError::Content(e.to_string()))?;
        if puppeted {
            crate::bridge::mark_as_puppet(&mut content);
        }
        Ok::<_, IncomingError>(content)
    };
    if let (Some(p), Some(names), Some(target)) = (&poll, &chosen, &target)
        && let Some(matrix) = &p.matrix
        && as_voter
    {
        let ids: Vec<String> = names
            .iter()
            .filter_map(|name| {
                let at = p.options.iter().position(|o| o == name)?;
                matrix.answer_ids.get(at).cloned()
            })
            .collect();
        let start = target.event_id.clone();
        let content = if matrix.response_type == "m.poll.response" {
            json(serde_json::to_value(PollResponseEventContent::new(
                ids.into(),
                start,
            )))?
        } else {
            json(serde_json::to_value(UnstablePollResponseEventContent::new(
                ids, start,
            )))?
        };
        return send_and_record(
            bridge,
            login,
            portal,
            m,
            intent,
            &matrix.response_type,
            &content,
        )
        .await
        .map(Some);
    }
    let body = match (&poll, &chosen) {
        (None, _) => "voted in a poll the bridge has not seen".to_owned(),
        (Some(_), None) => "voted, but the vote could not be read".to_owned(),
        (Some(_), Some(names)) if names.is_empty() => "withdrew their vote".to_owned(),
        (Some(_), Some(names)) => format!("voted for: {}", names.join(", ")),
    };
    let mut notice = RoomMessageEventContent::notice_plain(format!("🗳️ {body}"));
    if let Some(target) = target {
        let to = InReplyTo::new(target.event_id);
        notice.relates_to = Some(Relation::Reply(Reply::new(to)));
    }
    let content = json(serde_json::to_value(notice))?;
    send_and_record(bridge, login, portal, m, intent, "m.room.message", &content)
        .await
        .map(Some)
}

/// `user` as written, and its other form (LID or phone number) if the
/// client knows it.
async fn forms(client: &Client, user: &Jid) -> Vec<String> {
    let other = if user.is_lid() {
        client.pn_for_lid(user).await
    } else {
        client.lid_for_pn(user).await
    };
    let mut all = vec![user.to_string()];
    if let Ok(Some(other)) = other {
        all.push(other.to_string());
    }
    all
}

/// The names of the options the vote chose, trying each form of the
/// voter's and the poll sender's JIDs the bridge knows (phone number and
/// LID: a chat addressed by LID seals votes with LIDs).
async fn open(
    client: &Client,
    poll: &Poll,
    m: &Incoming<'_>,
    update: &PollUpdateMessage,
) -> Option<Vec<String>> {
    let sealed = update.vote.as_ref()?;
    let own = [
        client.jid().to_non_ad().to_string(),
        client.lid().to_non_ad().to_string(),
    ];
    let mut voters = forms(client, &m.sender.to_non_ad()).await;
    if m.from_me {
        voters.extend(own.iter().cloned());
    }
    let mut senders = match poll.sender_id.parse::<Jid>() {
        Ok(sender) => forms(client, &sender).await,
        Err(_) => vec![poll.sender_id.clone()],
    };
    if own.contains(&poll.sender_id) {
        senders.extend(own.iter().cloned());
    }
    let vote = voters.iter().find_map(|voter| {
        senders.iter().find_map(|sender| {
            let ctx = VoteContext {
                poll_id: &poll.poll_id,
                poll_sender: sender,
                voter,
            };
            open_vote(&poll.secret, ctx, sealed).ok()
        })
    })?;
    Some(
        vote.selected_options
            .iter()
            .map(|hash| {
                poll.options
                    .iter()
                    .find(|name| option_hash(name).as_slice() == hash.as_slice())
                    .cloned()
                    .unwrap_or_else(|| "(an option the bridge does not know)".to_owned())
            })
            .collect(),
    )
}
