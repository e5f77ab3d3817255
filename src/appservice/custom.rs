//! Custom Matrix events the bridge sends, as typed contents: they go
//! through [`Intent::send`](super::Intent::send) like ruma's own.

use ruma::OwnedUserId;
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

/// `m.bridge` (MSC2346): what a bridged room bridges, for clients that
/// show it (the state key names the bridge, `domain/appservice id`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, EventContent)]
#[ruma_event(type = "m.bridge", kind = State, state_key_type = String)]
pub struct BridgeEventContent {
    /// The bridge's bot.
    pub bridgebot: OwnedUserId,
    /// The remote network.
    pub protocol: BridgeSection,
    /// The remote chat.
    pub channel: BridgeSection,
}

/// The same content under its older name, `uk.half-shot.bridge`, which
/// some clients still read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, EventContent)]
#[ruma_event(type = "uk.half-shot.bridge", kind = State, state_key_type = String)]
pub struct HalfShotBridgeEventContent {
    /// As in [`BridgeEventContent`].
    pub bridgebot: OwnedUserId,
    /// As in [`BridgeEventContent`].
    pub protocol: BridgeSection,
    /// As in [`BridgeEventContent`].
    pub channel: BridgeSection,
}

impl From<BridgeEventContent> for HalfShotBridgeEventContent {
    fn from(info: BridgeEventContent) -> Self {
        HalfShotBridgeEventContent {
            bridgebot: info.bridgebot,
            protocol: info.protocol,
            channel: info.channel,
        }
    }
}

/// `protocol` or `channel` of [`BridgeEventContent`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeSection {
    /// Its id on the remote network.
    pub id: String,
    /// Its name for people.
    pub displayname: String,
}

/// `fi.wabridge.portal_creation` (empty state key): which portal creation
/// a room was made for, so a run that died after making it adopts the
/// room instead of making another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, EventContent)]
#[ruma_event(type = "fi.wabridge.portal_creation", kind = State, state_key_type = String)]
pub struct PortalCreationEventContent {
    /// The login the portal belongs to.
    pub login: String,
    /// The remote chat.
    pub chat: String,
    /// The random marker of this creation.
    pub marker: String,
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
    fn the_bridge_info_has_msc2346s_shape_under_both_names() {
        use ruma::events::StateEventContent as _;
        let info = BridgeEventContent {
            bridgebot: OwnedUserId::try_from("@bot:x").unwrap_or_else(|_| unreachable!()),
            protocol: BridgeSection {
                id: "whatsapp".to_owned(),
                displayname: "WhatsApp".to_owned(),
            },
            channel: BridgeSection {
                id: "123@g.us".to_owned(),
                displayname: "Friends".to_owned(),
            },
        };
        let json = json!({
            "bridgebot": "@bot:x",
            "protocol": {"id": "whatsapp", "displayname": "WhatsApp"},
            "channel": {"id": "123@g.us", "displayname": "Friends"},
        });
        assert_eq!(info.event_type().to_string(), "m.bridge");
        assert_eq!(serde_json::to_value(&info).ok(), Some(json.clone()));
        let old = HalfShotBridgeEventContent::from(info);
        assert_eq!(old.event_type().to_string(), "uk.half-shot.bridge");
        assert_eq!(serde_json::to_value(&old).ok(), Some(json));
        let marker = PortalCreationEventContent {
            login: "l".to_owned(),
            chat: "c".to_owned(),
            marker: "m".to_owned(),
        };
        assert_eq!(
            marker.event_type().to_string(),
            "fi.wabridge.portal_creation"
        );
        assert_eq!(
            serde_json::to_value(&marker).ok(),
            Some(json!({"login": "l", "chat": "c", "marker": "m"}))
        );
    }

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
