//! Matrix polls as WhatsApp polls: an MSC3381 `poll.start` (unstable
//! `org.matrix.msc3381.*` and stable `m.poll.*` forms) read into the
//! question and options WhatsApp can show, or the reason it cannot; the
//! `PollCreationMessage` for it (the v3 field for a single choice, as
//! WhatsApp's own clients do); a `poll.response` read into the answer ids
//! it names, and those ids as the options' hashes a vote carries.

use serde_json::Value;
use wa_core::msgsecret::option_hash;
use wa_core::proto::message::PollCreationMessage;
use wa_core::proto::message::poll_creation_message::Option as PollOption;
use wa_core::proto::{Message as WaMessage, MessageContextInfo};

use crate::store::Poll;

/// WhatsApp's clients offer at most this many options.
const MAX_OPTIONS: usize = 12;

/// A poll start event, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::connector) struct PollStart {
    /// The question.
    pub question: String,
    /// Each answer's id and text, in order.
    pub answers: Vec<(String, String)>,
    /// How many options a voter may choose; 0 for any number.
    pub selectable: u32,
    /// The event type of a vote on it.
    pub response_type: &'static str,
}

/// Reads MSC3381 poll start `content` of event type `kind`; the error says
/// why WhatsApp cannot show it.
pub(in crate::connector) fn parse_start(
    kind: &str,
    content: &Value,
) -> Result<PollStart, &'static str> {
    let (poll, id_key, response_type) = match kind {
        "m.poll.start" => (content.get("m.poll"), "m.id", "m.poll.response"),
        _ => (
            content.get("org.matrix.msc3381.poll.start"),
            "id",
            "org.matrix.msc3381.poll.response",
        ),
    };
    let poll = poll.ok_or("it is not a valid poll")?;
    let question = poll
        .get("question")
        .and_then(text_of)
        .map(|q| q.trim().to_owned())
        .filter(|q| !q.is_empty())
        .ok_or("the poll has no question")?;
    let mut answers: Vec<(String, String)> = Vec::new();
    for answer in poll
        .get("answers")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let id = answer
            .get(id_key)
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or("an answer has no id")?;
        // WhatsApp shows each option on one line.
        let text = text_of(answer)
            .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|t| !t.is_empty())
            .ok_or("an answer has no text")?;
        if answers.iter().any(|(i, t)| i == id || *t == text) {
            return Err("two answers are the same");
        }
        answers.push((id.to_owned(), text));
    }
    if answers.len() < 2 || answers.len() > MAX_OPTIONS {
        return Err("WhatsApp polls have 2 to 12 options");
    }
    // MSC3381: one choice unless said otherwise; "as many as there are
    // options" is WhatsApp's "any number".
    let max = poll
        .get("max_selections")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .max(1);
    let selectable = if max >= answers.len() as u64 {
        0
    } else {
        u32::try_from(max).unwrap_or(0)
    };
    Ok(PollStart {
        question,
        answers,
        selectable,
        response_type,
    })
}

/// The plain text of an MSC1767 text holder: `org.matrix.msc1767.text`,
/// the stable `m.text` (a list of representations), or `body`.
fn text_of(v: &Value) -> Option<String> {
    if let Some(t) = v.get("org.matrix.msc1767.text").and_then(Value::as_str) {
        return Some(t.to_owned());
    }
    match v.get("m.text") {
        Some(Value::String(t)) => return Some(t.clone()),
        Some(Value::Array(reps)) => {
            let plain = reps.iter().find(|r| {
                r.get("mimetype")
                    .and_then(Value::as_str)
                    .is_none_or(|m| m == "text/plain")
            });
            if let Some(body) = plain.and_then(|r| r.get("body")).and_then(Value::as_str) {
                return Some(body.to_owned());
            }
        }
        _ => {}
    }
    v.get("body").and_then(Value::as_str).map(str::to_owned)
}

/// The WhatsApp message of `poll`, sealed later votes with `secret`.
pub(in crate::connector) fn creation_message(poll: &PollStart, secret: Vec<u8>) -> WaMessage {
    let creation = PollCreationMessage {
        name: Some(poll.question.clone()),
        options: poll
            .answers
            .iter()
            .map(|(_, text)| PollOption {
                option_name: Some(text.clone()),
                ..PollOption::default()
            })
            .collect(),
        selectable_options_count: Some(poll.selectable),
        ..PollCreationMessage::default()
    };
    let mut message = WaMessage {
        message_context_info: Some(MessageContextInfo {
            message_secret: Some(secret),
            ..MessageContextInfo::default()
        }),
        ..WaMessage::default()
    };
    if poll.selectable == 1 {
        message.poll_creation_message_v3 = Some(Box::new(creation));
    } else {
        message.poll_creation_message = Some(Box::new(creation));
    }
    message
}

/// The answer ids a poll response `content` of type `kind` chose.
pub(in crate::connector) fn response_answers(kind: &str, content: &Value) -> Option<Vec<String>> {
    let list = match kind {
        "m.poll.response" => content.get("m.selections"),
        _ => content
            .get("org.matrix.msc3381.poll.response")
            .and_then(|r| r.get("answers")),
    }?;
    Some(
        list.as_array()?
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
    )
}

/// The hashes of the options `chosen` (Matrix answer ids) names; ids the
/// poll does not have are left out, each option counts once, and only the
/// first as many as the poll allows count (as MSC3381 says).
pub(in crate::connector) fn chosen_options(poll: &Poll, chosen: &[String]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let ids = poll.matrix.as_ref().map(|m| m.answer_ids.as_slice());
    let most = match poll.selectable {
        0 => usize::MAX,
        n => usize::try_from(n).unwrap_or(usize::MAX),
    };
    for id in chosen {
        if out.len() == most {
            break;
        }
        let name = ids
            .and_then(|ids| ids.iter().position(|i| i == id))
            .and_then(|at| poll.options.get(at));
        if let Some(name) = name {
            let hash = option_hash(name).to_vec();
            if !out.contains(&hash) {
                out.push(hash);
            }
        }
    }
    out
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MatrixPoll;
    use serde_json::json;

    fn unstable(answers: Value, max: Option<u64>) -> Value {
        let mut poll = json!({
            "question": {"org.matrix.msc1767.text": "Lunch?", "body": "Lunch?"},
            "kind": "org.matrix.msc3381.poll.disclosed",
            "answers": answers,
        });
        if let Some(max) = max {
            poll["max_selections"] = json!(max);
        }
        json!({"org.matrix.msc3381.poll.start": poll, "org.matrix.msc1767.text": "Lunch?"})
    }

    #[test]
    fn an_unstable_poll_is_read_with_its_ids_and_choice() {
        let answers = json!([
            {"id": "a1", "org.matrix.msc1767.text": "Pizza"},
            {"id": "a2", "org.matrix.msc1767.text": "Soup\nand bread"},
            {"id": "a3", "org.matrix.msc1767.text": "Nothing"},
        ]);
        let start = parse_start(
            "org.matrix.msc3381.poll.start",
            &unstable(answers.clone(), None),
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(start.question, "Lunch?");
        assert_eq!(
            start.answers,
            vec![
                ("a1".to_owned(), "Pizza".to_owned()),
                ("a2".to_owned(), "Soup and bread".to_owned()),
                ("a3".to_owned(), "Nothing".to_owned()),
            ]
        );
        assert_eq!(start.selectable, 1, "one choice unless said otherwise");
        assert_eq!(start.response_type, "org.matrix.msc3381.poll.response");
        let two = parse_start(
            "org.matrix.msc3381.poll.start",
            &unstable(answers.clone(), Some(2)),
        );
        assert_eq!(two.map(|s| s.selectable), Ok(2));
        let all = parse_start("org.matrix.msc3381.poll.start", &unstable(answers, Some(3)));
        assert_eq!(all.map(|s| s.selectable), Ok(0), "any number");
    }

    #[test]
    fn a_stable_poll_is_read_from_its_text_representations() {
        let content = json!({
            "m.poll": {
                "question": {"m.text": [
                    {"mimetype": "text/html", "body": "<b>Where?</b>"},
                    {"body": "Where?"},
                ]},
                "kind": "m.poll.undisclosed",
                "max_selections": 2,
                "answers": [
                    {"m.id": "x", "m.text": [{"body": "Park"}]},
                    {"m.id": "y", "m.text": [{"mimetype": "text/plain", "body": "Beach"}]},
                    {"m.id": "z", "m.text": [{"body": "Home"}]},
                ],
            },
            "m.text": [{"body": "Where?"}],
        });
        let start = parse_start("m.poll.start", &content).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(start.question, "Where?");
        assert_eq!(start.answers[1], ("y".to_owned(), "Beach".to_owned()));
        assert_eq!(start.selectable, 2);
        assert_eq!(start.response_type, "m.poll.response");
    }

    #[test]
    fn polls_whatsapp_cannot_show_are_refused_with_a_reason() {
        let kind = "org.matrix.msc3381.poll.start";
        let one = json!([{"id": "a", "org.matrix.msc1767.text": "Yes"}]);
        assert_eq!(
            parse_start(kind, &unstable(one, None)),
            Err("WhatsApp polls have 2 to 12 options")
        );
        let many: Vec<Value> = (0..13)
            .map(|i| json!({"id": format!("a{i}"), "org.matrix.msc1767.text": format!("{i}")}))
            .collect();
        assert!(parse_start(kind, &unstable(json!(many), None)).is_err());
        let same = json!([
            {"id": "a", "org.matrix.msc1767.text": "Yes"},
            {"id": "b", "org.matrix.msc1767.text": " Yes "},
        ]);
        assert_eq!(
            parse_start(kind, &unstable(same, None)),
            Err("two answers are the same")
        );
        let no_id = json!([
            {"org.matrix.msc1767.text": "Yes"},
            {"id": "b", "org.matrix.msc1767.text": "No"},
        ]);
        assert_eq!(
            parse_start(kind, &unstable(no_id, None)),
            Err("an answer has no id")
        );
        let mut no_question = unstable(json!([]), None);
        no_question["org.matrix.msc3381.poll.start"]["question"] = json!({"body": "  "});
        assert_eq!(
            parse_start(kind, &no_question),
            Err("the poll has no question")
        );
        assert_eq!(
            parse_start(kind, &json!({"body": "not a poll"})),
            Err("it is not a valid poll")
        );
    }

    #[test]
    fn a_single_choice_poll_uses_the_v3_field_and_carries_its_secret() {
        let start = PollStart {
            question: "Q".to_owned(),
            answers: vec![("a".into(), "A".into()), ("b".into(), "B".into())],
            selectable: 1,
            response_type: "m.poll.response",
        };
        let m = creation_message(&start, vec![7; 32]);
        let poll = m.poll_creation_message_v3.as_deref();
        assert_eq!(poll.and_then(|p| p.name.as_deref()), Some("Q"));
        assert_eq!(poll.and_then(|p| p.selectable_options_count), Some(1));
        assert!(m.poll_creation_message.is_none());
        assert_eq!(
            m.message_context_info.and_then(|c| c.message_secret),
            Some(vec![7; 32])
        );
        let any = creation_message(
            &PollStart {
                selectable: 0,
                ..start
            },
            vec![1; 32],
        );
        let names: Vec<_> = any
            .poll_creation_message
            .as_deref()
            .map(|p| {
                p.options
                    .iter()
                    .filter_map(|o| o.option_name.clone())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(names, vec!["A".to_owned(), "B".to_owned()]);
    }

    #[test]
    fn votes_name_known_answers_once_by_their_hash() {
        let poll = Poll {
            login_id: "L".into(),
            chat_id: "c".into(),
            sender_id: "1@s.whatsapp.net".into(),
            poll_id: "P".into(),
            secret: vec![0; 32],
            options: vec!["Park".into(), "Beach".into()],
            selectable: 0,
            matrix: Some(MatrixPoll {
                answer_ids: vec!["x".into(), "y".into()],
                response_type: "m.poll.response".into(),
            }),
        };
        let chosen = ["y", "nope", "y", "x"].map(str::to_owned);
        assert_eq!(
            chosen_options(&poll, &chosen),
            vec![option_hash("Beach").to_vec(), option_hash("Park").to_vec()]
        );
        assert!(chosen_options(&poll, &[]).is_empty(), "a withdrawn vote");
        let single = Poll {
            selectable: 1,
            ..poll.clone()
        };
        assert_eq!(
            chosen_options(&single, &chosen),
            vec![option_hash("Beach").to_vec()],
            "only the first counts on a single-choice poll"
        );
        let unstable = json!({"org.matrix.msc3381.poll.response": {"answers": ["a", 3, "b"]}});
        assert_eq!(
            response_answers("org.matrix.msc3381.poll.response", &unstable),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        let stable = json!({"m.selections": []});
        assert_eq!(response_answers("m.poll.response", &stable), Some(vec![]));
        assert_eq!(response_answers("m.poll.response", &unstable), None);
    }
}
