//! WhatsApp polls as Matrix polls: which message creates a poll or votes
//! on one, and a poll as an MSC3381 poll start whose answer ids are the
//! hex of the options' hashes (the hashes votes name options by).

use serde_json::json;
use wa_core::msgsecret::option_hash;
use wa_core::proto::Message as WaMessage;
use wa_core::proto::message::{PollCreationMessage, PollUpdateMessage};

/// The vote `m` is, if it is one.
pub(in crate::connector) fn update(m: &WaMessage) -> Option<&PollUpdateMessage> {
    m.poll_update_message.as_ref()
}

/// The poll `m` creates, if it is one (wrappers looked through).
pub(in crate::connector) fn creation(m: &WaMessage) -> Option<&PollCreationMessage> {
    let inner = wa_core::content::unwrap(m);
    [
        &inner.poll_creation_message,
        &inner.poll_creation_message_v2,
        &inner.poll_creation_message_v3,
        &inner.poll_creation_message_v5,
        &inner.poll_creation_message_v6,
    ]
    .into_iter()
    .find_map(Option::as_deref)
}

/// The id a poll event from WhatsApp gives option `name` in Matrix: the
/// hex of the hash votes name it by.
pub(in crate::connector) fn answer_id(name: &str) -> String {
    hex::encode(option_hash(name))
}

/// Poll `p` as an MSC3381 poll start (the unstable names clients send),
/// with the text of `fallback` for clients that do not know polls.
pub(in crate::connector) fn start_event(
    p: &PollCreationMessage,
    fallback: &serde_json::Value,
) -> serde_json::Value {
    let options: Vec<&str> = p
        .options
        .iter()
        .filter_map(|o| o.option_name.as_deref())
        .collect();
    let question = p.name.as_deref().unwrap_or_default();
    let max = match p.selectable_options_count.unwrap_or(0) {
        0 => options.len(),
        n => usize::try_from(n).unwrap_or(usize::MAX).min(options.len()),
    };
    let answers: Vec<serde_json::Value> = options
        .iter()
        .map(|o| json!({"id": answer_id(o), "org.matrix.msc1767.text": o}))
        .collect();
    let body = fallback["body"].clone();
    json!({
        "org.matrix.msc3381.poll.start": {
            "question": {"org.matrix.msc1767.text": question, "body": question, "msgtype": "m.text"},
            "kind": "org.matrix.msc3381.poll.disclosed",
            "max_selections": max,
            "answers": answers,
        },
        "org.matrix.msc1767.text": body,
        "body": body,
    })
}
#[cfg(test)]
mod tests {
    use super::*;
    use wa_core::proto::message::poll_creation_message::Option as PollOption;

    #[test]
    fn a_whatsapp_poll_as_a_poll_event_names_answers_by_their_hash() {
        let poll = PollCreationMessage {
            name: Some("Drinks?".into()),
            options: ["Tea", "Coffee", "Water"]
                .iter()
                .map(|o| PollOption {
                    option_name: Some((*o).into()),
                    ..PollOption::default()
                })
                .collect(),
            selectable_options_count: Some(2),
            ..PollCreationMessage::default()
        };
        let event = start_event(&poll, &json!({"body": "Poll: Drinks?"}));
        let start = &event["org.matrix.msc3381.poll.start"];
        assert_eq!(start["question"]["org.matrix.msc1767.text"], "Drinks?");
        assert_eq!(start["max_selections"], 2);
        assert_eq!(start["answers"][1]["org.matrix.msc1767.text"], "Coffee");
        assert_eq!(
            start["answers"][1]["id"],
            hex::encode(option_hash("Coffee")).as_str()
        );
        assert_eq!(event["org.matrix.msc1767.text"], "Poll: Drinks?");
        let any = PollCreationMessage {
            selectable_options_count: Some(0),
            ..poll
        };
        let event = start_event(&any, &json!({"body": ""}));
        assert_eq!(event["org.matrix.msc3381.poll.start"]["max_selections"], 3);
    }
}
