//! Acting as one user: the bot or a ghost.

use ruma::events::room::member::MembershipState;
use ruma::events::{MessageLikeEventContent, StateEventContent};
use std::collections::BTreeMap;
use std::time::Duration;

use ruma::api::client::account::whoami;
use ruma::api::client::config::{
    get_global_account_data, set_global_account_data, set_room_account_data,
};
use ruma::api::client::membership::invite_user::{
    self,
    v3::{InvitationRecipient, InviteUserId},
};
use ruma::api::client::membership::{
    get_member_events, join_room_by_id_or_alias, joined_members, joined_rooms, kick_user,
    leave_room, unban_user,
};
use ruma::api::client::message::send_message_event;
use ruma::api::client::presence::set_presence;
use ruma::api::client::profile::set_profile_field;
use ruma::api::client::push::{delete_pushrule, set_pushrule};
use ruma::api::client::read_marker::set_read_marker;
use ruma::api::client::receipt::create_receipt::{self, v3::ReceiptType};
use ruma::api::client::redact::redact_event;
use ruma::api::client::room::create_room;
use ruma::api::client::state::{get_state_event_for_key, send_state_event};
use ruma::api::client::tag::{create_tag, delete_tag, get_tags};
use ruma::api::client::typing::create_typing_event::{self, v3::Typing, v3::TypingInfo};
use ruma::events::tag::TagInfo;
use ruma::events::{
    GlobalAccountDataEventType, MessageLikeEventType, RoomAccountDataEventType, StateEventType,
};
use ruma::presence::PresenceState;
use ruma::profile::ProfileFieldValue;
use ruma::push::{NewPushRule, NewSimplePushRule, RuleKind};
use ruma::serde::Raw;
use ruma::{
    EventId, MilliSecondsSinceUnixEpoch, MxcUri, OwnedEventId, OwnedMxcUri, OwnedRoomId,
    OwnedTransactionId, OwnedUserId, RoomId, RoomOrAliasId, RoomVersionId, UInt, UserId,
};

use bytes::Bytes;
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

use super::client::{
    Body, Idempotent, MatrixClient, Outgoing, Req, encode_segment as enc, parse_mxc,
};
use super::error::ClientError;

/// `preset` of a new room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomPreset {
    /// Invite only, history shared.
    PrivateChat,
    /// Like private, invitees get the creator's power level.
    TrustedPrivateChat,
    /// Joinable by anyone.
    PublicChat,
}

/// One state event of `initial_state`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InitialState {
    /// Event type.
    #[serde(rename = "type")]
    pub kind: String,
    /// State key (often empty).
    pub state_key: String,
    /// Content.
    pub content: Value,
}

impl InitialState {
    /// The state event `content` (of its own type) under `state_key`.
    pub fn of<C: StateEventContent>(content: &C, state_key: &str) -> Result<Self, ClientError> {
        Ok(InitialState {
            kind: content.event_type().to_string(),
            state_key: state_key.to_owned(),
            content: serde_json::to_value(content)
                .map_err(|e| ClientError::Content(e.to_string()))?,
        })
    }
}

/// Parameters of `POST /createRoom` (sent as ruma's request).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateRoom {
    /// `name`.
    pub name: Option<String>,
    /// `topic`.
    pub topic: Option<String>,
    /// Users to invite.
    pub invite: Vec<OwnedUserId>,
    /// Flag invites as direct chats.
    pub is_direct: bool,
    /// `preset`.
    pub preset: Option<RoomPreset>,
    /// `room_alias_name` (the localpart of an alias to create).
    pub room_alias_name: Option<String>,
    /// `room_version`.
    pub room_version: Option<String>,
    /// `creation_content`.
    pub creation_content: Option<Value>,
    /// `initial_state` (e.g. `m.bridge`, `m.room.avatar`).
    pub initial_state: Vec<InitialState>,
    /// `power_level_content_override`.
    pub power_levels: Option<Value>,
}

impl CreateRoom {
    /// The request ruma makes of these parameters.
    fn request(&self) -> Result<create_room::v3::Request, ClientError> {
        let mut request = create_room::v3::Request::new();
        request.name.clone_from(&self.name);
        request.topic.clone_from(&self.topic);
        request.invite.clone_from(&self.invite);
        request.is_direct = self.is_direct;
        request.preset = self.preset.map(|p| match p {
            RoomPreset::PrivateChat => create_room::v3::RoomPreset::PrivateChat,
            RoomPreset::TrustedPrivateChat => create_room::v3::RoomPreset::TrustedPrivateChat,
            RoomPreset::PublicChat => create_room::v3::RoomPreset::PublicChat,
        });
        request.room_alias_name.clone_from(&self.room_alias_name);
        request.room_version = match &self.room_version {
            Some(v) => Some(RoomVersionId::try_from(v.as_str()).map_err(invalid)?),
            None => None,
        };
        request.creation_content = self.creation_content.as_ref().map(raw).transpose()?;
        request.initial_state = self
            .initial_state
            .iter()
            .map(raw)
            .collect::<Result<_, _>>()?;
        request.power_level_content_override = self.power_levels.as_ref().map(raw).transpose()?;
        Ok(request)
    }
}

/// A member from `GET /joined_members`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JoinedMember {
    /// `display_name`.
    pub display_name: Option<String>,
    /// `avatar_url`.
    pub avatar_url: Option<OwnedMxcUri>,
}

/// Whom an [`Intent`] acts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acting {
    /// The appservice's own user: no `?user_id=`.
    Bot,
    /// A user of the appservice's namespace: `?user_id=`, registered first.
    Ghost,
    /// A real user, through a double-puppet registration: `?user_id=`,
    /// never registered.
    Puppet,
}

/// Acts as one user through the appservice token.
#[derive(Debug, Clone)]
pub struct Intent {
    client: MatrixClient,
    user_id: OwnedUserId,
    acting: Acting,
}

const V3: &str = "/_matrix/client/v3";

impl Intent {
    pub(crate) fn new(client: MatrixClient, user_id: OwnedUserId, acting: Acting) -> Self {
        Self {
            client,
            user_id,
            acting,
        }
    }

    /// The user this intent acts as.
    pub fn user_id(&self) -> &UserId {
        &self.user_id
    }

    fn localpart(&self) -> &str {
        self.user_id.localpart()
    }

    /// Registers this user (ghosts only need it once; cached).
    pub async fn ensure_registered(&self) -> Result<(), ClientError> {
        self.client.ensure_registered(self.localpart()).await
    }

    /// A request as this user (`?user_id=` for ghosts, which are registered
    /// first: the homeserver refuses `user_id` of unknown users).
    async fn req(&self, method: Method, path: String) -> Result<Req<'_>, ClientError> {
        Ok(Req::new(method, path).acting_as(self.as_user().await?))
    }

    /// The `user_id` a request of this intent names (none for the bot); a
    /// ghost is registered first.
    async fn as_user(&self) -> Result<Option<&str>, ClientError> {
        if self.acting == Acting::Ghost {
            self.ensure_registered().await?;
        }
        Ok((self.acting != Acting::Bot).then_some(self.user_id.as_str()))
    }

    /// Sends a client-server request of ruma's as this intent (see
    /// [`MatrixClient::call`]).
    async fn call<R: Outgoing>(
        &self,
        request: R,
        idempotent: Idempotent,
    ) -> Result<R::IncomingResponse, ClientError> {
        let as_user = self.as_user().await?;
        self.client.call(request, as_user, idempotent).await
    }

    /// `GET /account/whoami`: the user the homeserver takes this intent
    /// for (checks a double-puppet token before it is used).
    pub async fn whoami(&self) -> Result<OwnedUserId, ClientError> {
        let answer = self
            .call(whoami::v3::Request::new(), Idempotent::Yes)
            .await?;
        Ok(answer.user_id)
    }

    /// One `GET /sync` as this user: `filter` inline, `since` the last
    /// `next_batch`, long-polling up to `timeout_ms`.
    pub async fn sync(
        &self,
        since: Option<&str>,
        filter: &Value,
        timeout_ms: u64,
    ) -> Result<Value, ClientError> {
        let mut req = self
            .req(Method::GET, format!("{V3}/sync"))
            .await?
            .query("filter", filter.to_string())
            .query("timeout", timeout_ms.to_string())
            .idempotent(Idempotent::Yes);
        if let Some(since) = since {
            req = req.query("since", since);
        }
        self.client.json(req).await
    }

    /// Puts a tag (`m.favourite`, `m.lowpriority`) on a room for this user.
    pub async fn set_room_tag(&self, room_id: &RoomId, tag: &str) -> Result<(), ClientError> {
        let request = create_tag::v3::Request::new(
            self.user_id.clone(),
            room_id.to_owned(),
            tag.to_owned(),
            TagInfo::new(),
        );
        self.call(request, Idempotent::Yes).await?;
        Ok(())
    }

    /// Removes a tag; a tag that is not there is fine.
    pub async fn remove_room_tag(&self, room_id: &RoomId, tag: &str) -> Result<(), ClientError> {
        let request =
            delete_tag::v3::Request::new(self.user_id.clone(), room_id.to_owned(), tag.to_owned());
        match self.call(request, Idempotent::Yes).await {
            Ok(_) => Ok(()),
            Err(e) if e.is("M_NOT_FOUND") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// This user's tags on a room (the keys of `tags`).
    pub async fn room_tags(&self, room_id: &RoomId) -> Result<Vec<String>, ClientError> {
        let request = get_tags::v3::Request::new(self.user_id.clone(), room_id.to_owned());
        let answer = self.call(request, Idempotent::Yes).await?;
        Ok(answer.tags.keys().map(ToString::to_string).collect())
    }

    /// Mutes a room for this user: a room push rule with no actions (the
    /// form clients write for "mute").
    pub async fn mute_room(&self, room_id: &RoomId) -> Result<(), ClientError> {
        let rule = NewPushRule::Room(NewSimplePushRule::new(room_id.to_owned(), Vec::new()));
        self.call(set_pushrule::v3::Request::new(rule), Idempotent::Yes)
            .await?;
        Ok(())
    }

    /// Removes the room's mute rule; none there is fine.
    pub async fn unmute_room(&self, room_id: &RoomId) -> Result<(), ClientError> {
        let request = delete_pushrule::v3::Request::new(RuleKind::Room, room_id.to_string());
        match self.call(request, Idempotent::Yes).await {
            Ok(_) => Ok(()),
            Err(e) if e.is("M_NOT_FOUND") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Moves this user's fully-read marker and public read receipt to
    /// `event_id`.
    pub async fn mark_read(&self, room_id: &RoomId, event_id: &EventId) -> Result<(), ClientError> {
        let mut request = set_read_marker::v3::Request::new(room_id.to_owned());
        request.fully_read = Some(event_id.to_owned());
        request.read_receipt = Some(event_id.to_owned());
        self.call(request, Idempotent::Yes).await?;
        Ok(())
    }

    /// Sets this user's global display name.
    pub async fn set_displayname(&self, name: &str) -> Result<(), ClientError> {
        let field = ProfileFieldValue::DisplayName(name.to_owned());
        let request = set_profile_field::v3::Request::new(self.user_id.clone(), field);
        self.call(request, Idempotent::Yes).await?;
        Ok(())
    }

    /// Sets this user's global avatar (`mxc://` URI, or empty to remove).
    pub async fn set_avatar_url(&self, mxc: &MxcUri) -> Result<(), ClientError> {
        let field = ProfileFieldValue::AvatarUrl(mxc.to_owned());
        let request = set_profile_field::v3::Request::new(self.user_id.clone(), field);
        self.call(request, Idempotent::Yes).await?;
        Ok(())
    }

    /// Sets this user's presence: `online`, `unavailable` or `offline`.
    pub async fn set_presence(&self, presence: &str) -> Result<(), ClientError> {
        let request =
            set_presence::v3::Request::new(self.user_id.clone(), PresenceState::from(presence));
        self.call(request, Idempotent::Yes).await?;
        Ok(())
    }

    /// Creates a room; returns its id.
    pub async fn create_room(&self, params: &CreateRoom) -> Result<OwnedRoomId, ClientError> {
        let answer = self.call(params.request()?, Idempotent::No).await?;
        Ok(answer.room_id)
    }

    /// Invites `user_id` to `room_id`. Already invited or joined is fine.
    pub async fn invite(&self, room_id: &RoomId, user_id: &UserId) -> Result<(), ClientError> {
        self.invite_saying(room_id, user_id, None).await
    }

    /// [`Intent::invite`] with a reason in the member event.
    pub async fn invite_saying(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        reason: Option<&str>,
    ) -> Result<(), ClientError> {
        let mut invitee = InviteUserId::new(user_id.to_owned());
        invitee.reason = reason.map(str::to_owned);
        let invitee = InvitationRecipient::UserId(invitee);
        let request = invite_user::v3::Request::new(room_id.to_owned(), invitee);
        match self.call(request, Idempotent::Yes).await {
            Ok(_) => Ok(()),
            // Synapse answers 403 "already in the room" for joined users.
            Err(e)
                if e.is("M_FORBIDDEN")
                    && e.matrix()
                        .is_some_and(|m| m.error.contains("already in the room")) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Joins a room by id or alias; returns the room id.
    pub async fn join(&self, room: &RoomOrAliasId) -> Result<OwnedRoomId, ClientError> {
        self.join_saying(room, None).await
    }

    /// [`Intent::join`] with a reason in the member event.
    pub async fn join_saying(
        &self,
        room: &RoomOrAliasId,
        reason: Option<&str>,
    ) -> Result<OwnedRoomId, ClientError> {
        let mut request = join_room_by_id_or_alias::v3::Request::new(room.to_owned());
        request.reason = reason.map(str::to_owned);
        let joined = self.call(request, Idempotent::Yes).await?;
        Ok(joined.room_id)
    }

    /// Kicks `user_id` out of `room_id`, saying why.
    pub async fn kick(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        reason: &str,
    ) -> Result<(), ClientError> {
        let mut request = kick_user::v3::Request::new(room_id.to_owned(), user_id.to_owned());
        request.reason = Some(reason.to_owned());
        self.call(request, Idempotent::Yes).await?;
        Ok(())
    }

    /// Lifts the ban of `user_id` from `room_id` (they may be invited again).
    pub async fn unban(&self, room_id: &RoomId, user_id: &UserId) -> Result<(), ClientError> {
        let request = unban_user::v3::Request::new(room_id.to_owned(), user_id.to_owned());
        self.call(request, Idempotent::Yes).await?;
        Ok(())
    }

    /// Leaves (or rejects an invite to) a room.
    pub async fn leave(&self, room_id: &RoomId) -> Result<(), ClientError> {
        let request = leave_room::v3::Request::new(room_id.to_owned());
        self.call(request, Idempotent::Yes).await?;
        Ok(())
    }

    /// Sends `content` as a message event of its type (ruma's contents,
    /// or ours for custom events: see [`super::custom`]); `txn_id` makes
    /// retries idempotent and `ts` sets `origin_server_ts`. Returns the
    /// event id.
    pub async fn send<C: MessageLikeEventContent>(
        &self,
        room_id: &RoomId,
        content: &C,
        txn_id: &str,
        ts: Option<u64>,
    ) -> Result<OwnedEventId, ClientError> {
        let value =
            serde_json::to_value(content).map_err(|e| ClientError::Content(e.to_string()))?;
        let kind = content.event_type().to_string();
        self.send_message_event(room_id, &kind, &value, txn_id, ts)
            .await
    }

    /// Sets `content` as the state event of its type under `state_key`
    /// (see [`Intent::send`]); returns the event id.
    pub async fn send_state<C: StateEventContent>(
        &self,
        room_id: &RoomId,
        content: &C,
        state_key: &str,
        ts: Option<u64>,
    ) -> Result<OwnedEventId, ClientError> {
        let value =
            serde_json::to_value(content).map_err(|e| ClientError::Content(e.to_string()))?;
        let kind = content.event_type().to_string();
        self.send_state_event(room_id, &kind, state_key, &value, ts)
            .await
    }

    /// Sends a message event; `txn_id` makes retries idempotent and `ts`
    /// sets `origin_server_ts` (appservices only). Returns the event id.
    pub async fn send_message_event(
        &self,
        room_id: &RoomId,
        event_type: &str,
        content: &Value,
        txn_id: &str,
        ts: Option<u64>,
    ) -> Result<OwnedEventId, ClientError> {
        let mut request = send_message_event::v3::Request::new_raw(
            room_id.to_owned(),
            OwnedTransactionId::from(txn_id),
            MessageLikeEventType::from(event_type),
            raw(content)?,
        );
        request.timestamp = ts.and_then(millis);
        let sent = self.call(request, Idempotent::Yes).await?;
        Ok(sent.event_id)
    }

    /// Sets a state event; returns the event id.
    pub async fn send_state_event(
        &self,
        room_id: &RoomId,
        event_type: &str,
        state_key: &str,
        content: &Value,
        ts: Option<u64>,
    ) -> Result<OwnedEventId, ClientError> {
        let mut request = send_state_event::v3::Request::new_raw(
            room_id.to_owned(),
            StateEventType::from(event_type),
            state_key.to_owned(),
            raw(content)?,
        );
        request.timestamp = ts.and_then(millis);
        let sent = self.call(request, Idempotent::Yes).await?;
        Ok(sent.event_id)
    }

    /// Reads a state event's content; `None` if there is none.
    pub async fn get_state_event(
        &self,
        room_id: &RoomId,
        event_type: &str,
        state_key: &str,
    ) -> Result<Option<Value>, ClientError> {
        let request = get_state_event_for_key::v3::Request::new(
            room_id.to_owned(),
            StateEventType::from(event_type),
            state_key.to_owned(),
        );
        match self.call(request, Idempotent::Yes).await {
            Ok(answer) => serde_json::from_str(answer.event_or_content.get())
                .map(Some)
                .map_err(|e| ClientError::InvalidResponse(e.to_string())),
            Err(e) if e.is("M_NOT_FOUND") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Redacts an event; returns the redaction's event id.
    pub async fn redact(
        &self,
        room_id: &RoomId,
        event_id: &EventId,
        reason: Option<&str>,
        txn_id: &str,
    ) -> Result<OwnedEventId, ClientError> {
        let txn = OwnedTransactionId::from(txn_id);
        let mut request =
            redact_event::v3::Request::new(room_id.to_owned(), event_id.to_owned(), txn);
        request.reason = reason.map(str::to_owned);
        let redaction = self.call(request, Idempotent::Yes).await?;
        Ok(redaction.event_id)
    }

    /// Starts typing (for up to `timeout`), or stops (`None`).
    pub async fn typing(
        &self,
        room_id: &RoomId,
        timeout: Option<Duration>,
    ) -> Result<(), ClientError> {
        let state = match timeout {
            Some(t) => Typing::Yes(TypingInfo::new(t)),
            None => Typing::No,
        };
        let request =
            create_typing_event::v3::Request::new(self.user_id.clone(), room_id.to_owned(), state);
        self.call(request, Idempotent::Yes).await?;
        Ok(())
    }

    /// Sends a receipt (`m.read`, `m.read.private`) up to `event_id`.
    pub async fn send_receipt(
        &self,
        room_id: &RoomId,
        receipt_type: &str,
        event_id: &EventId,
    ) -> Result<(), ClientError> {
        let kind = ReceiptType::from(receipt_type);
        let request =
            create_receipt::v3::Request::new(room_id.to_owned(), kind, event_id.to_owned());
        self.call(request, Idempotent::Yes).await?;
        Ok(())
    }

    /// Uploads media; returns its `mxc://` URI.
    pub async fn upload_media(
        &self,
        data: Bytes,
        content_type: &str,
        filename: Option<&str>,
    ) -> Result<OwnedMxcUri, ClientError> {
        let mut req = self
            .req(Method::POST, "/_matrix/media/v3/upload".into())
            .await?;
        if let Some(f) = filename {
            req = req.query("filename", f);
        }
        req.body = Some(Body::Bytes {
            data,
            content_type: content_type.to_owned(),
        });
        let v = self.client.json(req).await?;
        str_field(&v, "content_uri").map(OwnedMxcUri::from)
    }

    /// Downloads media by `mxc://` URI (authenticated media API), up to the
    /// client's size limit.
    pub async fn download_media(&self, mxc: &MxcUri) -> Result<Bytes, ClientError> {
        let (server, id) = parse_mxc(mxc.as_str())?;
        let path = format!(
            "/_matrix/client/v1/media/download/{}/{}",
            enc(server),
            enc(id)
        );
        let req = self.req(Method::GET, path).await?;
        let limit = self.client.max_download();
        self.client.send_limited(req, Some(limit)).await
    }

    /// The rooms this user is joined to.
    pub async fn joined_rooms(&self) -> Result<Vec<OwnedRoomId>, ClientError> {
        let request = joined_rooms::v3::Request::new();
        let answer = self.call(request, Idempotent::Yes).await?;
        Ok(answer.joined_rooms)
    }

    /// Everyone the room names as a member now, with their membership
    /// (joined, invited, left, ...): `GET /rooms/{id}/members`. One member
    /// event that does not read fails the whole answer.
    pub async fn members(
        &self,
        room_id: &RoomId,
    ) -> Result<Vec<(OwnedUserId, MembershipState)>, ClientError> {
        let request = get_member_events::v3::Request::new(room_id.to_owned());
        let answer = self.call(request, Idempotent::Yes).await?;
        // A member event that does not read is an error, not a member left
        // out: whoever asks whether a room is private must not take an
        // unknown member for none.
        answer
            .chunk
            .iter()
            .map(|e| {
                let member = || -> Option<(OwnedUserId, MembershipState)> {
                    let user: OwnedUserId = e.get_field("state_key").ok()??;
                    let content: Value = e.get_field("content").ok()??;
                    let membership = content.get("membership")?.as_str()?;
                    Some((user, MembershipState::from(membership)))
                };
                member().ok_or_else(|| {
                    ClientError::InvalidResponse("a member event that does not read".to_owned())
                })
            })
            .collect()
    }

    /// The joined members of a room, by user id.
    pub async fn joined_members(
        &self,
        room_id: &RoomId,
    ) -> Result<BTreeMap<OwnedUserId, JoinedMember>, ClientError> {
        let request = joined_members::v3::Request::new(room_id.to_owned());
        let answer = self.call(request, Idempotent::Yes).await?;
        Ok(answer
            .joined
            .into_iter()
            .map(|(user, m)| {
                let member = JoinedMember {
                    display_name: m.display_name,
                    avatar_url: m.avatar_url,
                };
                (user, member)
            })
            .collect())
    }

    /// This user's global account data of `event_type` (e.g. `m.direct`);
    /// `None` if unset.
    pub async fn get_account_data(&self, event_type: &str) -> Result<Option<Value>, ClientError> {
        let kind = GlobalAccountDataEventType::from(event_type);
        let request = get_global_account_data::v3::Request::new(self.user_id.clone(), kind);
        match self.call(request, Idempotent::Yes).await {
            Ok(answer) => answer
                .account_data
                .deserialize_as_unchecked()
                .map(Some)
                .map_err(|e| ClientError::InvalidResponse(e.to_string())),
            Err(e) if e.is("M_NOT_FOUND") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets this user's global account data of `event_type`.
    pub async fn set_account_data(
        &self,
        event_type: &str,
        content: &Value,
    ) -> Result<(), ClientError> {
        let kind = GlobalAccountDataEventType::from(event_type);
        let request = set_global_account_data::v3::Request::new_raw(
            self.user_id.clone(),
            kind,
            raw(content)?,
        );
        self.call(request, Idempotent::Yes).await?;
        Ok(())
    }

    /// Sets this user's account data of `event_type` in one room (e.g.
    /// `m.marked_unread`).
    pub async fn set_room_account_data(
        &self,
        room_id: &RoomId,
        event_type: &str,
        content: &Value,
    ) -> Result<(), ClientError> {
        let kind = RoomAccountDataEventType::from(event_type);
        let request = set_room_account_data::v3::Request::new_raw(
            self.user_id.clone(),
            room_id.to_owned(),
            kind,
            raw(content)?,
        );
        self.call(request, Idempotent::Yes).await?;
        Ok(())
    }
}

fn str_field(v: &Value, key: &str) -> Result<String, ClientError> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ClientError::InvalidResponse(format!("no `{key}` in answer")))
}

/// `content` as ruma's raw JSON of any type.
fn raw<T>(content: &impl Serialize) -> Result<Raw<T>, ClientError> {
    let json = serde_json::value::to_raw_value(content)
        .map_err(|e| ClientError::Content(e.to_string()))?;
    Ok(Raw::from_json(json))
}

/// A timestamp in unix milliseconds as ruma's (out of range: none).
fn millis(ms: u64) -> Option<MilliSecondsSinceUnixEpoch> {
    UInt::new(ms).map(MilliSecondsSinceUnixEpoch)
}

/// An identifier ruma refuses: nothing is sent.
fn invalid(e: ruma::IdParseError) -> ClientError {
    ClientError::Content(format!("not a valid Matrix identifier: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_room_json() {
        let c = CreateRoom {
            name: Some("n".into()),
            invite: vec![ruma::owned_user_id!("@a:x")],
            is_direct: true,
            preset: Some(RoomPreset::TrustedPrivateChat),
            initial_state: vec![InitialState {
                kind: "m.bridge".into(),
                state_key: "x/wa".into(),
                content: json!({"a": 1}),
            }],
            power_levels: Some(json!({"users": {}})),
            ..CreateRoom::default()
        };
        // What goes out: the body of the request ruma makes of it.
        let body = |c: &CreateRoom| -> Value {
            use super::super::client::{PathInput, TokenAuth};
            use ruma::api::OutgoingRequest as _;
            use ruma::api::auth_scheme::AccessToken;
            use ruma::api::path_builder::VersionHistory;
            let http = c
                .request()
                .unwrap()
                .try_into_http_request::<Vec<u8>>(
                    "http://h",
                    <AccessToken as TokenAuth>::input(),
                    <VersionHistory as PathInput>::input(),
                )
                .unwrap();
            assert_eq!(http.uri().path(), "/_matrix/client/v3/createRoom");
            serde_json::from_slice(http.body()).unwrap()
        };
        assert_eq!(
            body(&c),
            json!({
                "name": "n", "invite": ["@a:x"], "is_direct": true,
                "preset": "trusted_private_chat",
                "initial_state": [{"type": "m.bridge", "state_key": "x/wa", "content": {"a": 1}}],
                "power_level_content_override": {"users": {}}
            })
        );
        assert_eq!(body(&CreateRoom::default()), json!({}));
    }

    #[test]
    fn localparts() {
        let c = MatrixClient::new("http://x", "t", "example.org").unwrap();
        let i = c.ghost_intent("whatsapp_123").unwrap();
        assert_eq!(i.user_id(), "@whatsapp_123:example.org");
        assert_eq!(i.localpart(), "whatsapp_123");
    }
}
