//! Calls, as far as a companion that cannot take them needs them: who is
//! calling, in which chat, by voice or video, and how it ends. A `<call>`
//! stanza holds one action (whatsmeow 33cfac51 `call.go`
//! `handleCallEvent`): `offer` (a 1:1 call ringing this device, with the
//! media it offers and the call's key sealed for it in `<enc>`),
//! `offer_notice` (a group call: `media` and `type="group"`), `accept`,
//! `reject`, `terminate` (with a `reason`), and transport details. The
//! call id and its creator are attributes of the action. The sealed call
//! key is never opened or kept: the bridge does not take calls.

use wa_core::binary::Node;
use wa_core::jid::Jid;

/// A call action, as a `<call>` stanza carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The call's id (`call-id`).
    pub id: String,
    /// The device that sent the stanza (`from`).
    pub from: Jid,
    /// Who started the call (`call-creator`).
    pub creator: Jid,
    /// The group, for a group call (`group-jid`).
    pub group: Option<Jid>,
    /// When (unix seconds, `t`).
    pub timestamp: u64,
    /// What happened.
    pub action: CallAction,
}

/// What a `<call>` stanza says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallAction {
    /// It rings (`offer`, or `offer_notice` for a group call).
    Offer {
        /// A video call (`<video>` in the offer, `media="video"` in a
        /// notice); else voice.
        video: bool,
    },
    /// Taken (`accept`): on another device of ours when it comes from one.
    Accept,
    /// Declined (`reject`).
    Reject,
    /// Over (`terminate`), with the reason the server gives, if any.
    Terminate {
        /// `reason`, e.g. `timeout`.
        reason: Option<String>,
    },
    /// Anything else (transport, relay latency, ...), by its tag.
    Other(String),
}

/// Reads a `<call>` stanza; `None` when it is not one action with a call
/// id and a creator (nothing to tell the user).
pub(crate) fn parse(node: &Node) -> Option<Call> {
    let [action] = node.child_nodes() else {
        return None;
    };
    let id = action.attr_str("call-id")?.to_owned();
    let creator = action.attr_jid("call-creator")?.to_non_ad();
    let from = node.attr_jid("from")?.clone();
    let group = action
        .attr_jid("group-jid")
        .filter(|g| g.is_group())
        .cloned();
    let timestamp = node
        .attr_str("t")
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(super::recv::unix_now);
    let action = match action.tag.as_ref() {
        "offer" => CallAction::Offer {
            video: action.child("video").is_some(),
        },
        "offer_notice" => CallAction::Offer {
            video: action.attr_str("media") == Some("video"),
        },
        "accept" => CallAction::Accept,
        "reject" => CallAction::Reject,
        "terminate" => CallAction::Terminate {
            reason: action.attr_str("reason").map(str::to_owned),
        },
        other => CallAction::Other(other.to_owned()),
    };
    Some(Call {
        id,
        from,
        creator,
        group,
        timestamp,
        action,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(action: Node) -> Node {
        Node::new("call")
            .attr(
                "from",
                Jid::with_device("15550001".to_owned(), 0, wa_core::jid::Server::User),
            )
            .attr("id", "ABC")
            .attr("t", "1700000000")
            .children(vec![action])
    }

    #[test]
    fn offers_notices_and_ends_are_read_and_the_sealed_key_is_not() {
        let offer = Node::new("offer")
            .attr("call-id", "C1")
            .attr("call-creator", Jid::user_jid("15550001"))
            .children(vec![
                Node::new("audio").attr("enc", "opus").attr("rate", "16000"),
                Node::new("video").attr("enc", "vp8"),
                Node::new("enc")
                    .attr("v", "2")
                    .attr("type", "pkmsg")
                    .bytes(vec![1, 2, 3]),
            ]);
        let read = parse(&call(offer)).unwrap();
        assert_eq!(read.id, "C1");
        assert_eq!(read.creator, Jid::user_jid("15550001"));
        assert_eq!((read.group, read.timestamp), (None, 1_700_000_000));
        assert_eq!(read.action, CallAction::Offer { video: true });

        let group: Jid = "120363000000000001@g.us".parse().unwrap();
        let notice = Node::new("offer_notice")
            .attr("call-id", "C2")
            .attr("call-creator", Jid::user_jid("15550001"))
            .attr("media", "audio")
            .attr("type", "group")
            .attr("group-jid", group.clone());
        let read = parse(&call(notice)).unwrap();
        assert_eq!(
            (read.group, read.action),
            (Some(group), CallAction::Offer { video: false })
        );

        let end = Node::new("terminate")
            .attr("call-id", "C1")
            .attr("call-creator", Jid::user_jid("15550001"))
            .attr("reason", "timeout");
        let read = parse(&call(end)).unwrap();
        let reason = Some("timeout".to_owned());
        assert_eq!(read.action, CallAction::Terminate { reason });

        // Not one action, or no call id: nothing.
        assert_eq!(
            parse(&Node::new("call").attr("from", Jid::user_jid("1"))),
            None
        );
        let bare = Node::new("accept").attr("call-creator", Jid::user_jid("15550001"));
        assert_eq!(parse(&call(bare)), None);
    }
}
