//! Matrix -> WhatsApp, the handlers: a poll the user starts (MSC3381 `poll.start`) and
//! the user's votes (`poll.response`), both the unstable
//! (`org.matrix.msc3381.*`) and the stable (`m.poll.*`) forms.
//!
//! A poll goes out as a `PollCreationMessage` (the v3 field for a single
//! choice, as WhatsApp's own clients do) with a fresh `messageSecret`. The
//! Matrix answer ids are kept next to the option names, so a vote from
//! Matrix names options by their hash and a vote from WhatsApp comes back
//! as a `poll.response` naming the ids.

use ruma::{RoomId, UserId};
use std::sync::Arc;

use wa_client::Client;
use wa_core::jid::{Jid, Server};
use wa_core::msgsecret::{VoteContext, seal_vote};
use wa_core::proto::Message as WaMessage;
use wa_core::proto::message::{PollUpdateMessage, PollVoteMessage};

use crate::appservice::Event;
use crate::connector::Bridge;
use crate::connector::acks::SendId;
use crate::connector::from_matrix::polls::{
    chosen_options, creation_message, parse_start, response_answers,
};
use crate::connector::incoming::queue_and_record;
use crate::connector::relations::{
    chat_of, key_of, message_in, new_user_event, refuse, user_event,
};
use crate::store::{MatrixPoll, Poll, StoreError, now_ms};

/// The user's poll in a portal, to WhatsApp; the poll is kept so votes on
/// it can be read and sealed.
pub async fn poll_start_from_matrix(
    bridge: &Arc<Bridge>,
    room: &RoomId,
    sender: &UserId,
    event: &Event,
) -> Result<(), StoreError> {
    let what = "poll";
    let Some((portal, login, client, _, resend)) =
        new_user_event(bridge, room, sender, event, what).await?
    else {
        return Ok(());
    };
    let start = match parse_start(&event.kind, &event.content) {
        Ok(start) => start,
        Err(why) => {
            refuse(bridge, room, event, what, why).await;
            return Ok(());
        }
    };
    let Some(chat) = chat_of(bridge, room, event, what, &portal).await else {
        return Ok(());
    };
    if let Some(poll_id) = resend {
        // Sent again as it was: the same id and secret.
        let Some(poll) = bridge
            .db()
            .poll(&login.login_id, &portal.chat_id, &poll_id)
            .await?
        else {
            return Ok(());
        };
        let message = creation_message(&start, poll.secret);
        let id = SendId::Recorded(poll_id);
        queue_and_record(bridge, &portal, &client, event, &chat, (id, message)).await;
        return Ok(());
    }
    let secret = rand::random::<[u8; 32]>().to_vec();
    let message = creation_message(&start, secret.clone());
    // Kept before it leaves: a vote can come as soon as it is out.
    let poll_id = Client::new_message_id();
    let (answer_ids, options) = start.answers.into_iter().unzip();
    bridge
        .db()
        .save_poll(&Poll {
            login_id: login.login_id,
            chat_id: portal.chat_id.clone(),
            sender_id: client.jid().to_non_ad().to_string(),
            poll_id: poll_id.clone(),
            secret,
            options,
            selectable: start.selectable,
            matrix: Some(MatrixPoll {
                answer_ids,
                response_type: start.response_type.to_owned(),
            }),
        })
        .await?;
    queue_and_record(
        bridge,
        &portal,
        &client,
        event,
        &chat,
        (SendId::Chosen(poll_id), message),
    )
    .await;
    Ok(())
}

/// The user's vote in a portal, sealed for the poll it answers and sent to
/// WhatsApp. No valid answer withdraws the vote, as MSC3381 counts it.
pub async fn poll_response_from_matrix(
    bridge: &Arc<Bridge>,
    room: &RoomId,
    sender: &UserId,
    event: &Event,
) -> Result<(), StoreError> {
    let what = "vote";
    let Some((portal, login, client, _, resend)) =
        new_user_event(bridge, room, sender, event, what).await?
    else {
        return Ok(());
    };
    let rel = event.relates_to().unwrap_or_default();
    let (Some("m.reference"), Some(target), Some(chosen)) = (
        rel.rel_type.as_deref(),
        rel.event_id.as_deref(),
        response_answers(&event.kind, &event.content),
    ) else {
        refuse(bridge, room, event, what, "it is not a valid poll response").await;
        return Ok(());
    };
    let target = message_in(bridge, room, target).await?;
    let poll = match &target {
        Some(t) => {
            bridge
                .db()
                .poll(&login.login_id, &t.chat_id, &t.message_id)
                .await?
        }
        None => None,
    };
    let (Some(target), Some(poll)) = (target, poll) else {
        refuse(
            bridge,
            room,
            event,
            what,
            "that poll is not on WhatsApp in this chat",
        )
        .await;
        return Ok(());
    };
    if poll.matrix.is_none() {
        // Shown as text: its answers have no Matrix ids to name them.
        refuse(
            bridge,
            room,
            event,
            what,
            "that poll is not shown as a Matrix poll",
        )
        .await;
        return Ok(());
    }
    let Some(chat) = chat_of(bridge, room, event, what, &portal).await else {
        return Ok(());
    };
    let selected = chosen_options(&poll, &chosen);
    let vote = WaMessage {
        poll_update_message: Some(PollUpdateMessage {
            poll_creation_message_key: Some(key_of(&client, &chat, &target)),
            vote: Some(seal(&client, &poll, selected)),
            sender_timestamp_ms: Some(now_ms()),
            ..PollUpdateMessage::default()
        }),
        ..WaMessage::default()
    };
    let id = SendId::or_new(resend);
    queue_and_record(bridge, &portal, &client, event, &chat, (id, vote)).await;
    Ok(())
}

/// The user's end of a poll in a portal: WhatsApp polls stay open, so a
/// failed status and a notice.
pub async fn poll_end_from_matrix(
    bridge: &Arc<Bridge>,
    room: &RoomId,
    sender: &UserId,
    event: &Event,
) -> Result<(), StoreError> {
    if user_event(bridge, room, sender, event, "poll end")
        .await?
        .is_some()
    {
        crate::bridge::status::refused(
            bridge,
            room,
            event,
            "message",
            "WhatsApp polls cannot be ended; they stay open",
            crate::bridge::status::Reason::Unsupported,
        )
        .await;
    }
    Ok(())
}

/// `selected` sealed as the logged-in account's vote on `poll`, naming
/// the poll's sender and the voter as the vote's recipients name them: 1:1
/// messages go LID-addressed (as whatsmeow sends them), so there our own
/// LID (as voter, and as the sender of our own polls); in a group, the form
/// of the poll's sender.
fn seal(
    client: &Client,
    poll: &Poll,
    selected: Vec<Vec<u8>>,
) -> wa_core::proto::message::PollEncValue {
    let in_group = poll
        .chat_id
        .parse::<Jid>()
        .is_ok_and(|chat| chat.is_group());
    let sender = poll.sender_id.parse::<Jid>().ok();
    let by_lid = !in_group || sender.as_ref().is_some_and(|s| *s.server() == Server::Lid);
    let own = if by_lid { client.lid() } else { client.jid() };
    let voter = own.to_non_ad().to_string();
    let ours = sender.is_some_and(|s| s.user() == client.jid().user());
    let poll_sender = if ours && by_lid {
        voter.clone()
    } else {
        poll.sender_id.clone()
    };
    let iv: [u8; 12] = rand::random();
    let ctx = VoteContext {
        poll_id: &poll.poll_id,
        poll_sender: &poll_sender,
        voter: &voter,
    };
    seal_vote(
        &poll.secret,
        ctx,
        &PollVoteMessage {
            selected_options: selected,
        },
        iv,
    )
}
