//! A network message that changes one bridged before: a reaction, an edit,
//! a deletion (bridgev2's reaction, edit and remove events). The network
//! says which message it changes and how ([`Change`]); the core finds the
//! bridged message, checks the sender may change it, and shows the change
//! in its room.
//!
//! Who may: anyone reacts; only the sender edits (or the login's own
//! account, from another device); only the sender deletes, or whom the
//! network lets delete others' messages (a group admin on WhatsApp).
//! Anything else changes nothing.

use std::future::Future;

use ruma::events::MessageLikeEventContent;
use ruma::events::reaction::ReactionEventContent;
use ruma::events::relation::{Annotation, Replacement};
use ruma::events::room::message::{
    MessageType, Relation, RoomMessageEventContent, RoomMessageEventContentWithoutRelation,
};
use ruma::{OwnedEventId, UserId};
use tracing::{debug, info, warn};

use super::ghost::GhostId;
use super::message::RemoteMessage;
use super::{Bridge, Error, Network, content_to_send};
use crate::appservice::Intent;
use crate::store::{Message, Portal, Reaction};

/// Who sent a network message, as the core shows it in Matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSender {
    /// The sender, for their ghost.
    pub ghost: GhostId,
    /// The sender's own name, if the message carried one.
    pub name: Option<String>,
}

/// Who acts in Matrix for a network message.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The ghost, the user's puppet, or the bot.
    pub intent: Intent,
    /// Sent as the Matrix user themself (double puppeting): marked, so its
    /// echo is not bridged back.
    pub as_user: bool,
}

/// How a network message changes one bridged before.
#[derive(Debug, Clone)]
pub enum Change {
    /// The sender's reaction to it; an empty one takes theirs away.
    React(String),
    /// Its new content.
    Edit(MessageType),
    /// Deleted for everyone.
    Delete,
}

impl<N: Network> Bridge<N> {
    /// Who shows `m` in Matrix: the sender's ghost (named by the message's
    /// name, if any); for the login's own messages from another device the
    /// user's puppet (double puppeting), else the bot.
    pub async fn actor(
        &self,
        user: &UserId,
        m: &RemoteMessage,
        sender: &RemoteSender,
    ) -> Result<Actor, Error> {
        if !m.from_me {
            let intent = self
                .named_ghost(&sender.ghost, sender.name.as_deref())
                .await?;
            return Ok(Actor {
                intent,
                as_user: false,
            });
        }
        Ok(match self.puppet(user) {
            Some(intent) => Actor {
                intent,
                as_user: true,
            },
            None => Actor {
                intent: self.bot.clone(),
                as_user: false,
            },
        })
    }

    /// Applies `change`, which `m` makes to the message `target_id` of
    /// `portal`, as `actor`; returns the Matrix event it made, if any. A
    /// target that is not bridged, or a change the sender may not make,
    /// makes none. `deletes_for_others` says whether the sender may delete
    /// other people's messages; it is awaited only for such a deletion.
    pub async fn change_remote(
        &self,
        portal: &Portal,
        m: &RemoteMessage,
        actor: &Actor,
        (target_id, change): (&str, Change),
        deletes_for_others: impl Future<Output = bool> + Send,
    ) -> Result<Option<OwnedEventId>, Error> {
        let Some(target) = self
            .db
            .message_by_id(&m.login_id, &m.chat_id, target_id)
            .await?
        else {
            debug!(id = %m.message_id, "the target of a reaction, edit or deletion is not bridged");
            return Ok(None);
        };
        let by_sender = target.sender_id == m.sender_id || m.from_me;
        match change {
            Change::React(emoji) => self.react(portal, m, actor, &target, &emoji).await,
            Change::Edit(_) if !by_sender => {
                debug!(id = %m.message_id, "an edit of someone else's message; ignored");
                Ok(None)
            }
            Change::Edit(content) => self.edit(portal, m, actor, &target, content).await,
            Change::Delete if !by_sender && !deletes_for_others.await => {
                // Only the sender (or whom the network lets) deletes a
                // message: anyone else's deletion deletes nothing.
                info!(id = %m.message_id, "a deletion of someone else's message; ignored");
                Ok(None)
            }
            Change::Delete => self.delete(portal, m, actor, &target).await,
        }
    }

    /// The sender's reaction to `target`: a new emoji takes the place of
    /// their earlier one (redacted), an empty one only takes it away.
    async fn react(
        &self,
        portal: &Portal,
        m: &RemoteMessage,
        actor: &Actor,
        target: &Message,
        emoji: &str,
    ) -> Result<Option<OwnedEventId>, Error> {
        let old = self
            .db
            .reaction(
                &m.login_id,
                &m.chat_id,
                &target.sender_id,
                &target.message_id,
                &m.sender_id,
            )
            .await?;
        if let Some(old) = &old {
            if old.emoji == emoji {
                return Ok(Some(old.event_id.clone()));
            }
            let txn = m.txn_id("r");
            if let Err(e) = actor
                .intent
                .redact(&portal.room_id, &old.event_id, None, &txn)
                .await
            {
                warn!(error = %e, "could not redact a replaced reaction");
            }
            self.db.delete_reaction(&old.event_id).await?;
        }
        if emoji.is_empty() {
            return Ok(None);
        }
        let reaction =
            ReactionEventContent::new(Annotation::new(target.event_id.clone(), emoji.to_owned()));
        let event_id = self.send_as(portal, m, actor, &reaction).await?;
        self.db
            .save_reaction(&Reaction {
                login_id: m.login_id.clone(),
                chat_id: m.chat_id.clone(),
                target_sender_id: target.sender_id.clone(),
                target_message_id: target.message_id.clone(),
                reactor_id: m.sender_id.clone(),
                emoji: emoji.to_owned(),
                room_id: portal.room_id.clone(),
                event_id: event_id.clone(),
                sent_at: i64::try_from(m.ts_ms).unwrap_or(i64::MAX),
            })
            .await?;
        Ok(Some(event_id))
    }

    /// An edit of `target` as its `m.replace`, with the fallback (`* `
    /// and the new content) for clients that do not show edits.
    async fn edit(
        &self,
        portal: &Portal,
        m: &RemoteMessage,
        actor: &Actor,
        target: &Message,
        new: MessageType,
    ) -> Result<Option<OwnedEventId>, Error> {
        let mut content = RoomMessageEventContent::new(fallback(&new));
        content.relates_to = Some(Relation::Replacement(Replacement::new(
            target.event_id.clone(),
            RoomMessageEventContentWithoutRelation::new(new),
        )));
        let event_id = self.send_as(portal, m, actor, &content).await?;
        self.record_remote(&portal.room_id, m, &event_id).await?;
        Ok(Some(event_id))
    }

    /// A deletion of `target` as a redaction of its event. The user's own
    /// deletion with double puppeting is redacted by the bot, so its echo
    /// is not taken for a new redaction; a sender that may not redact
    /// leaves it to the bot.
    async fn delete(
        &self,
        portal: &Portal,
        m: &RemoteMessage,
        actor: &Actor,
        target: &Message,
    ) -> Result<Option<OwnedEventId>, Error> {
        let by = if actor.as_user {
            &self.bot
        } else {
            &actor.intent
        };
        let txn = m.txn_id("");
        let event_id = match by
            .redact(&portal.room_id, &target.event_id, None, &txn)
            .await
        {
            Ok(id) => id,
            Err(e) => {
                debug!(error = %e, "the sender could not redact; the bot does");
                self.bot
                    .redact(&portal.room_id, &target.event_id, None, &txn)
                    .await?
            }
        };
        self.record_remote(&portal.room_id, m, &event_id).await?;
        Ok(Some(event_id))
    }

    /// Sends `content` for `m` into the portal as `actor`, at the
    /// message's time and under its transaction id.
    async fn send_as<C: MessageLikeEventContent>(
        &self,
        portal: &Portal,
        m: &RemoteMessage,
        actor: &Actor,
        content: &C,
    ) -> Result<OwnedEventId, Error> {
        let (kind, value) = content_to_send(content, actor.as_user)?;
        let txn = m.txn_id("");
        Ok(actor
            .intent
            .send_message_event(&portal.room_id, &kind, &value, &txn, Some(m.ts_ms))
            .await?)
    }
}

/// What clients that do not show edits show for one: the new content
/// with `* ` before it.
fn fallback(new: &MessageType) -> MessageType {
    let body = format!("* {}", new.body());
    match new {
        MessageType::Text(text) => match &text.formatted {
            Some(html) => MessageType::text_html(body, format!("* {}", html.body)),
            None => MessageType::text_plain(body),
        },
        MessageType::Notice(_) => MessageType::notice_plain(body),
        _ => MessageType::text_plain(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_falls_back_to_a_starred_copy() {
        let json = |m: MessageType| serde_json::to_value(m).unwrap();
        let html = MessageType::text_html("*hi*", "<b>hi</b>");
        assert_eq!(
            json(fallback(&html)),
            json(MessageType::text_html("* *hi*", "* <b>hi</b>"))
        );
        let plain = MessageType::text_plain("hi");
        assert_eq!(
            json(fallback(&plain)),
            json(MessageType::text_plain("* hi"))
        );
    }
}
