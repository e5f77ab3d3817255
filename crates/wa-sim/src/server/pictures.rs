//! Profile and group pictures (`xmlns="w:profile:picture"`), in the shapes
//! whatsmeow 33cfac51 sends and reads (`user.go` `GetProfilePictureInfo`,
//! `group.go` `SetGroupPhoto`, `notification.go` `handlePictureNotification`):
//!
//! - get: `<iq type=get to=s.whatsapp.net target=JID><picture type=image
//!   query=url [id=KNOWN]/></iq>` answers `<picture id url direct_path
//!   type/>`, `<picture status="304"/>` when `id` is still the current one,
//!   404 without a picture, 401 when the owner's `profile` privacy is
//!   `none` (the simulator keeps no address books, so `contacts` lets
//!   everyone see it);
//! - set: `<iq type=set to=s.whatsapp.net target=JID><picture
//!   type=image>JPEG</picture></iq>` (no `<picture>`: removed), for the
//!   account itself or a group it may edit (an admin, or any member of an
//!   unlocked group); answers `<picture id/>`;
//! - then `<notification type=picture from=JID><set|delete jid=JID
//!   author=WHO [id]/></notification>` to the group's members, or, for an
//!   account, to every other account.

use std::sync::Arc;

use wa_core::binary::Node;
use wa_core::jid::{Jid, Server};

use super::{Shared, State, unix_now};

/// A picture: its id and where the media host keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Picture {
    pub(crate) id: String,
    pub(crate) direct_path: String,
}

/// Answers a `w:profile:picture` IQ from account `me`.
pub(crate) fn iq(shared: &Arc<Shared>, me: &str, id: &str, node: &Node) -> Node {
    let Some(target) = node.attr_jid("target").map(Jid::to_non_ad) else {
        return answer(id, Err(("400", "bad-request")));
    };
    let mut state = shared.state();
    let Some(key) = key_of(&state, &target) else {
        return answer(id, Err(("404", "item-not-found")));
    };
    match node.attr_str("type") {
        Some("get") => {
            let known = node.child("picture").and_then(|p| p.attr_str("id"));
            answer(id, get(shared, &state, me, &key, known))
        }
        Some("set") => {
            let jpeg = node
                .child("picture")
                .and_then(Node::content_bytes)
                .map(<[u8]>::to_vec);
            answer(id, set(shared, &mut state, me, (&key, &target), jpeg))
        }
        _ => answer(id, Err(("400", "bad-request"))),
    }
}

/// Whose picture `target` names: an account's phone number or a group's
/// JID string; `None` if there is no such account or group.
fn key_of(state: &State, target: &Jid) -> Option<String> {
    match target.server() {
        Server::Group => state
            .groups
            .contains_key(target.user())
            .then(|| target.to_string()),
        _ => state.resolve(target).map(|(pn, _)| pn),
    }
}

type Answer = Result<Vec<Node>, (&'static str, &'static str)>;

fn get(shared: &Shared, state: &State, me: &str, key: &str, known: Option<&str>) -> Answer {
    if key != me
        && state.accounts.contains_key(key)
        && state.settings.privacy_value(key, "profile").as_deref() == Some("none")
    {
        return Err(("401", "not-authorized"));
    }
    let Some(p) = state.pictures.get(key) else {
        return Err(("404", "item-not-found"));
    };
    if known == Some(p.id.as_str()) {
        return Ok(vec![Node::new("picture").attr("status", "304")]);
    }
    let url = format!("https://{}{}", shared.media.host(), p.direct_path);
    Ok(vec![
        Node::new("picture")
            .attr("id", p.id.clone())
            .attr("url", url)
            .attr("direct_path", p.direct_path.clone())
            .attr("type", "image"),
    ])
}

fn set(
    shared: &Shared,
    state: &mut State,
    me: &str,
    (key, target): (&str, &Jid),
    jpeg: Option<Vec<u8>>,
) -> Answer {
    let group = state
        .groups
        .get(target.user())
        .filter(|_| target.server() == &Server::Group);
    let allowed = match group {
        Some(g) => {
            let role = g.members.get(me);
            role.is_some_and(|r| r.is_some()) || (role.is_some() && !g.locked)
        }
        None => key == me,
    };
    if !allowed {
        return Err(("403", "forbidden"));
    }
    let picture = match jpeg {
        Some(jpeg) if !jpeg.is_empty() => {
            let direct_path = shared
                .media
                .put_blob("image", jpeg)
                .ok_or(("500", "internal-server-error"))?;
            let picture = Picture {
                id: format!("{}{:03}", unix_now(), rand::random::<u16>() % 1000),
                direct_path,
            };
            state.pictures.insert(key.to_owned(), picture.clone());
            Some(picture)
        }
        _ => {
            state.pictures.remove(key);
            None
        }
    };
    announce(state, target, me, picture.as_ref().map(|p| p.id.as_str()));
    Ok(picture
        .map(|p| vec![Node::new("picture").attr("id", p.id)])
        .unwrap_or_default())
}

/// Tells those who see `target`'s picture that `author` changed it
/// (`id`: the new one; `None`: removed).
pub(crate) fn announce(state: &mut State, target: &Jid, author: &str, id: Option<&str>) {
    let child = match id {
        Some(id) => Node::new("set").attr("id", id.to_owned()),
        None => Node::new("delete"),
    };
    let child = child
        .attr("jid", target.clone())
        .attr("author", Jid::user_jid(author.to_owned()));
    let note = Node::new("notification")
        .attr("from", target.clone())
        .attr("type", "picture")
        .attr("id", format!("{}", rand::random::<u32>()))
        .attr("t", unix_now().to_string())
        .children(vec![child]);
    let to: Vec<String> = match state.groups.get(target.user()) {
        Some(g) if target.server() == &Server::Group => g.members.keys().cloned().collect(),
        _ => state
            .accounts
            .keys()
            .filter(|pn| pn.as_str() != author)
            .cloned()
            .collect(),
    };
    for pn in to {
        for device in state.devices_of(&pn) {
            state.deliver(&(pn.clone(), device), note.clone());
        }
    }
}

fn answer(id: &str, answer: Answer) -> Node {
    let server = Jid::server_jid();
    match answer {
        Ok(children) => super::groups::result(id, &server, children),
        Err((code, text)) => super::groups::error(id, &server, code, text),
    }
}
