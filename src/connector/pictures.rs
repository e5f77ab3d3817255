//! Pictures (issue 20, points 1, 2 and 7).
//!
//! Groups' pictures are their rooms' avatars, both ways: a picture
//! WhatsApp announces (or one the group has when the room is made or the
//! login reconnects) is fetched, uploaded and set as `m.room.avatar`, by
//! the ghost of whoever changed it; the picture's id is kept, so an
//! unchanged one is neither fetched nor uploaded again. The portal's user
//! setting the room's avatar sets the group's picture; WhatsApp refusing
//! it (not an admin of a locked group) gets a failed status, a notice
//! saying why, and the avatar put back.
//!
//! Contacts' pictures are per login, as WhatsApp shows them: one user may
//! see a picture its owner hides from another. So a contact's picture is
//! the avatar of their ghost's member event in the rooms of the logins
//! that see it (with the name each user gave them, see
//! `incoming::show_as_known`), never the ghost's own profile avatar. It is
//! looked at when a direct chat's room is made (a group's: for its first
//! members), for a direct chat without a look yet at each connect, and on
//! picture notifications; a picture
//! taken away or hidden is taken away in the rooms too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ruma::events::room::avatar::RoomAvatarEventContent;
use ruma::{OwnedMxcUri, RoomId, UserId};
use tracing::debug;
use wa_client::{Client, Picture};
use wa_core::jid::{Jid, Server};

use super::relations::{refuse, user_event};
use crate::appservice::Event;
use crate::bridge::RemoteEvent;
use crate::connector::{Bridge, lock};
use crate::store::{ContactPicture, Login, Portal, StoreError};

/// The largest room avatar sent to WhatsApp as a group picture.
const MAX_AVATAR: usize = 5 << 20;

/// Brings the room of group `group` (if it has one) up to the group's
/// picture; `by` changed it, `announced` is the id a notification named
/// (`None`: removed, or not said).
pub(super) async fn group_picture(
    bridge: &Bridge,
    (login, client): (&Login, &Client),
    group: &Jid,
    (by, announced): (Option<&Jid>, Option<Option<&str>>),
) {
    if group.server() != &Server::Group {
        return;
    }
    if let Err(e) = sync(bridge, (login, client), group, (by, announced)).await {
        debug!(error = %e, "a group's picture not brought to its room");
    }
}

async fn sync(
    bridge: &Bridge,
    (login, client): (&Login, &Client),
    group: &Jid,
    (by, announced): (Option<&Jid>, Option<Option<&str>>),
) -> Result<(), Failure> {
    let chat_id = group.to_string();
    let db = bridge.db();
    if db.portal(&login.login_id, &chat_id).await?.is_none() {
        return Ok(());
    }
    let known = db.portal_picture(&login.login_id, &chat_id).await?;
    if announced.is_some_and(|id| id == known.as_deref()) {
        return Ok(());
    }
    let (avatar, id) = match client.picture(group, known.as_deref()).await? {
        Picture::Unchanged => return Ok(()),
        Picture::None | Picture::Hidden if known.is_none() => return Ok(()),
        Picture::None | Picture::Hidden => (None, None),
        Picture::At { id, url } => {
            let jpeg = client.download_picture(&url).await?;
            let mxc = bridge
                .bot()
                .upload_media(Bytes::from(jpeg), "image/jpeg", Some("picture.jpg"))
                .await?;
            (Some(mxc), Some(id))
        }
    };
    let by = match by.filter(|a| !super::addressing::is_own(client, a)) {
        Some(a) => Some(super::incoming::ghost_id(
            &super::addressing::by_number(client, a).await,
        )),
        None => None,
    };
    let event = RemoteEvent::Pictured {
        chat_id: chat_id.clone(),
        avatar,
        by,
    };
    bridge.handle_remote(login, event).await?;
    db.set_portal_picture(&login.login_id, &chat_id, id.as_deref())
        .await?;
    Ok(())
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The least time between two fetches of one picture for one login: a
/// contact (or group admin) changing theirs over and over costs the
/// homeserver one upload per this, the last one shown in the end.
const PICTURE_SPACING: Duration = Duration::from_secs(20);

/// When each (login, contact or group) picture was fetched last, and
/// whether a fetch is waiting for its turn; and the one look at a new
/// group's members' pictures that may run at a time (many rooms made at
/// once, as when a community's space is filled, look one after another).
#[derive(Debug)]
pub struct Throttle(
    Mutex<HashMap<(String, String), (Instant, bool)>>,
    tokio::sync::Semaphore,
);

impl Default for Throttle {
    fn default() -> Throttle {
        Throttle(Mutex::default(), tokio::sync::Semaphore::new(1))
    }
}

impl Throttle {
    /// Whether to fetch now (`Ok(None)`, noted as fetched), after a wait
    /// (`Ok(Some(wait))`: the caller fetches then), or not at all (`Err`:
    /// a fetch already waits, and will bring the newest picture).
    fn turn(&self, key: (String, String)) -> Result<Option<Duration>, ()> {
        let mut map = lock(&self.0);
        let now = Instant::now();
        map.retain(|_, (at, waiting)| *waiting || now.duration_since(*at) < PICTURE_SPACING);
        match map.get_mut(&key) {
            None => {
                map.insert(key, (now, false));
                Ok(None)
            }
            Some((_, true)) => Err(()),
            Some((at, waiting)) => {
                let next = *at + PICTURE_SPACING;
                *at = next;
                *waiting = true;
                Ok(Some(next.saturating_duration_since(now)))
            }
        }
    }

    /// The fetch that waited has run.
    fn done(&self, key: &(String, String)) {
        let mut map = lock(&self.0);
        if let Some((_, waiting)) = map.get_mut(key) {
            *waiting = false;
        }
    }
}

/// WhatsApp says `of`'s picture changed: by `author`, to `id` (`None`:
/// removed). At most one fetch per [`PICTURE_SPACING`] per login and
/// picture: a change inside it is fetched when its turn comes (then the
/// newest picture is shown, by no one in particular).
pub(super) async fn changed(
    bridge: &Arc<Bridge>,
    (login, client): (&Login, &Client),
    of: &Jid,
    (author, id): (Option<&Jid>, Option<&str>),
) {
    let key = (login.login_id.clone(), of.to_non_ad().to_string());
    let wait = match bridge.network().pictures.turn(key.clone()) {
        Ok(None) => {
            return match of.is_group() {
                true => group_picture(bridge, (login, client), of, (author, Some(id))).await,
                false => contact_picture(bridge, (login, client), of, Some(id)).await,
            };
        }
        Ok(Some(wait)) => wait,
        Err(()) => return,
    };
    debug!(?wait, "a picture changed again soon; fetched later");
    let (bridge, login, client, of) = (bridge.clone(), login.clone(), client.clone(), of.clone());
    tokio::spawn(async move {
        tokio::time::sleep(wait).await;
        bridge.network().pictures.done(&key);
        let on = (&login, &client);
        match of.is_group() {
            true => group_picture(&bridge, on, &of, (None, None)).await,
            false => contact_picture(&bridge, on, &of, None).await,
        }
    });
}

/// Brings what `login` shows of contact `user`'s picture up to date (see
/// the module's notes); `announced` is the id a notification named
/// (`Some(None)`: removed).
pub(super) async fn contact_picture(
    bridge: &Bridge,
    (login, client): (&Login, &Client),
    user: &Jid,
    announced: Option<Option<&str>>,
) {
    if !matches!(user.server(), Server::User | Server::Lid)
        || super::addressing::is_own(client, user)
    {
        return;
    }
    if let Err(e) = refresh(bridge, (login, client), user, announced).await {
        debug!(error = %e, "a contact's picture not brought to the rooms");
    }
}

async fn refresh(
    bridge: &Bridge,
    (login, client): (&Login, &Client),
    user: &Jid,
    announced: Option<Option<&str>>,
) -> Result<(), Failure> {
    let person = super::addressing::by_number(client, &user.to_non_ad()).await;
    let who = super::incoming::ghost_id(&person);
    let db = bridge.db();
    // Someone the bridge shows nowhere: nothing to show it on.
    if db.ghost(&who.network_id).await?.is_none() {
        return Ok(());
    }
    let known = db.contact_picture(&login.login_id, &who.network_id).await?;
    let known_id = known
        .as_ref()
        .map(|k| k.picture_id.as_str())
        .filter(|id| !id.is_empty());
    if announced.is_some_and(|id| known.is_some() && id == known_id) {
        return Ok(());
    }
    let now = match client.picture(&person, known_id).await? {
        Picture::Unchanged => return Ok(()),
        Picture::None | Picture::Hidden => ContactPicture {
            picture_id: String::new(),
            avatar_url: None,
        },
        Picture::At { id, url } => {
            let mxc = match db.uploaded_picture(&who.network_id, &id).await? {
                Some(mxc) => mxc,
                None => {
                    let jpeg = client.download_picture(&url).await?;
                    let bot = bridge.bot();
                    bot.upload_media(Bytes::from(jpeg), "image/jpeg", Some("picture.jpg"))
                        .await?
                }
            };
            ContactPicture {
                picture_id: id,
                avatar_url: Some(mxc),
            }
        }
    };
    db.set_contact_picture(&login.login_id, &who.network_id, &now)
        .await?;
    if known.and_then(|k| k.avatar_url) == now.avatar_url {
        return Ok(());
    }
    let intent = bridge
        .matrix()
        .ghost_intent(&bridge.ghost_localpart(&who))?;
    super::incoming::contact_nick_everywhere(bridge, login, (&person, &intent), true).await;
    Ok(())
}

/// How many members of a new group's room get their picture looked at
/// when it is made: the rest as they change it (a thousand-member group
/// would otherwise cost a thousand queries at once).
const MEMBERS_LOOKED_AT: usize = 64;

/// A group's room was made: the pictures of its members the login has
/// not looked at yet (up to [`MEMBERS_LOOKED_AT`]).
pub(super) async fn group_members(
    bridge: &Bridge,
    (login, client): (&Login, &Client),
    members: &[Jid],
) {
    let Ok(_turn) = bridge.network().pictures.1.acquire().await else {
        return;
    };
    let mut looked = 0;
    for member in members {
        if looked == MEMBERS_LOOKED_AT {
            break;
        }
        let person = super::addressing::by_number(client, &member.to_non_ad()).await;
        let who = super::incoming::ghost_id(&person);
        match bridge
            .db()
            .contact_picture(&login.login_id, &who.network_id)
            .await
        {
            Ok(None) => {}
            Ok(Some(_)) => continue,
            Err(e) => {
                debug!(error = %e, "a member's picture not looked at");
                continue;
            }
        }
        looked += 1;
        contact_picture(bridge, (login, client), member, None).await;
    }
}

/// At a connect: the contacts of the login's direct chats it has not
/// looked at yet (those made before pictures were bridged).
pub(super) async fn unseen_contacts(bridge: &Bridge, login: &Login, client: &Client) {
    let unseen = match bridge
        .db()
        .dm_contacts_without_picture(&login.login_id)
        .await
    {
        Ok(chats) => chats,
        Err(e) => {
            debug!(error = %e, "direct chats not read; contacts' pictures not looked at");
            return;
        }
    };
    for contact in unseen.iter().filter_map(|c| c.parse::<Jid>().ok()) {
        contact_picture(bridge, (login, client), &contact, None).await;
    }
}

/// The portal's user set (or removed) the avatar of a group's room.
pub(super) async fn from_matrix(
    bridge: &Arc<Bridge>,
    (room, sender): (&RoomId, &UserId),
    event: &Event,
) -> Result<(), StoreError> {
    const WHAT: &str = "picture change";
    if !super::groups::is_group(bridge, room).await? {
        return Ok(());
    }
    let Some((portal, _, client, _)) = user_event(bridge, room, sender, event, WHAT).await? else {
        return Ok(());
    };
    let Ok(group) = portal.chat_id.parse::<Jid>() else {
        return Ok(());
    };
    let Ok(content) = serde_json::from_value::<RoomAvatarEventContent>(event.content.clone())
    else {
        refuse(bridge, room, event, WHAT, "it is not a valid room avatar").await;
        return Ok(());
    };
    let jpeg = match content.url.as_deref() {
        Some(mxc) => match bridge.bot().download_media(mxc).await {
            Ok(b) if b.len() <= MAX_AVATAR => Some(b.to_vec()),
            Ok(_) => {
                let why = "the picture is larger than WhatsApp takes (5 MiB)";
                return refused(bridge, &portal, event, why).await;
            }
            Err(e) => {
                let why = format!("the picture could not be read from the homeserver: {e}");
                return refused(bridge, &portal, event, &why).await;
            }
        },
        None => None,
    };
    match client.set_picture(&group, jpeg).await {
        // Kept, so WhatsApp's echo changes nothing.
        Ok(id) => {
            bridge
                .db()
                .set_portal_picture(&portal.login_id, &portal.chat_id, id.as_deref())
                .await
        }
        Err(e) => {
            let why = format!("WhatsApp refused it: {e}");
            refused(bridge, &portal, event, &why).await
        }
    }
}

/// Says why, and puts the room's avatar back as it was before `event`.
async fn refused(
    bridge: &Bridge,
    portal: &Portal,
    event: &Event,
    why: &str,
) -> Result<(), StoreError> {
    refuse(bridge, &portal.room_id, event, "picture change", why).await;
    let before: Option<OwnedMxcUri> = event
        .raw
        .get("unsigned")
        .and_then(|u| u.get("prev_content"))
        .and_then(|c| serde_json::from_value::<RoomAvatarEventContent>(c.clone()).ok())
        .and_then(|c| c.url);
    let mut content = RoomAvatarEventContent::new();
    content.url = before;
    if let Err(e) = bridge
        .bot()
        .send_state(&portal.room_id, &content, "", None)
        .await
    {
        debug!(error = %e, "the room's avatar was not put back");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_picture_changed_over_and_over_is_fetched_at_a_bounded_rate() {
        let throttle = Throttle::default();
        let key = |of: &str| ("login".to_owned(), of.to_owned());
        assert_eq!(throttle.turn(key("carol")), Ok(None), "the first: now");
        let Ok(Some(wait)) = throttle.turn(key("carol")) else {
            panic!("the second soon after waits");
        };
        assert!(wait > PICTURE_SPACING - Duration::from_secs(1) && wait <= PICTURE_SPACING);
        assert_eq!(throttle.turn(key("carol")), Err(()), "one waits already");
        assert_eq!(
            throttle.turn(key("dave")),
            Ok(None),
            "others are not held up"
        );
        throttle.done(&key("carol"));
        let Ok(Some(wait)) = throttle.turn(key("carol")) else {
            panic!("after the waited fetch, the next waits its turn again");
        };
        assert!(
            wait > PICTURE_SPACING,
            "counted from the waited fetch: {wait:?}"
        );
    }
}
