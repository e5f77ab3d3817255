//! Custom Matrix events the bridge sends, as typed contents: they go
//! through [`Intent::send`](super::Intent::send) like ruma's own.

use ruma::events::macros::EventContent;
use ruma::events::relation::Reference;
use serde::{Deserialize, Serialize};

/// `com.beeper.message_send_status`: what became of a message a user sent
/// into a bridged room (Beeper's bridge protocol, as mautrix bridges send
/// it; clients that know it show the status on the message).
#[derive(Clone, Debug, Serialize, Deserialize, EventContent)]
#[ruma_event(type = "com.beeper.message_send_status", kind = MessageLike)]
pub struct MessageSendStatusEventContent {
    /// The remote network's name.
    pub network: String,
    /// The event the status is about (`m.reference`).
    #[serde(rename = "m.relates_to")]
    pub relates_to: StatusRelation,
    /// What happened.
    pub status: SendStatus,
    /// Why it failed (`m_unsupported`, `m_generic_error`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The failure in words, for the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `{"rel_type": "m.reference", "event_id": ...}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "rel_type", rename = "m.reference")]
pub struct StatusRelation {
    /// The event referred to.
    #[serde(flatten)]
    pub reference: Reference,
}

/// The `status` of a [`MessageSendStatusEventContent`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SendStatus {
    /// The remote network has it.
    Success,
    /// It will not get there; sending it again will not help.
    FailPermanent,
    /// It did not get there yet; it may still.
    FailRetriable,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruma::OwnedEventId;
    use ruma::events::MessageLikeEventContent as _;
    use serde_json::json;

    #[test]
    fn the_status_event_has_beepers_shape() {
        let id = OwnedEventId::try_from("$e:x").unwrap_or_else(|_| unreachable!());
        let content = MessageSendStatusEventContent {
            network: "whatsapp".to_owned(),
            relates_to: StatusRelation {
                reference: Reference::new(id),
            },
            status: SendStatus::FailPermanent,
            reason: Some("m_unsupported".to_owned()),
            message: Some("no".to_owned()),
        };
        assert_eq!(
            content.event_type().to_string(),
            "com.beeper.message_send_status"
        );
        assert_eq!(
            serde_json::to_value(&content).ok(),
            Some(json!({
                "network": "whatsapp",
                "m.relates_to": {"rel_type": "m.reference", "event_id": "$e:x"},
                "status": "FAIL_PERMANENT",
                "reason": "m_unsupported",
                "message": "no",
            }))
        );
    }
}
