//! Acting as one user: the bot or a ghost.

use ruma::events::room::member::MembershipState;
use ruma::events::{MessageLikeEventContent, StateEventContent};
use std::collections::BTreeMap;

use bytes::Bytes;
use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};

use super::client::{Body, Idempotent, MatrixClient, Req, encode_segment as enc, parse_mxc};
use super::error::ClientError;

/// `preset` of a new room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
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

/// Parameters of `POST /createRoom`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CreateRoom {
    /// `name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `topic`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Users to invite.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invite: Vec<String>,
    /// Flag invites as direct chats.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_direct: bool,
    /// `preset`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<RoomPreset>,
    /// `room_alias_name` (the localpart of an alias to create).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_alias_name: Option<String>,
    /// `room_version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_version: Option<String>,
    /// `creation_content`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_content: Option<Value>,
    /// `initial_state` (e.g. `m.bridge`, `m.room.avatar`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub initial_state: Vec<InitialState>,
    /// `power_level_content_override`.
    #[serde(
        rename = "power_level_content_override",
        skip_serializing_if = "Option::is_none"
    )]
    pub power_levels: Option<Value>,
}

/// A member from `GET /joined_members`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JoinedMember {
    /// `display_name`.
    pub display_name: Option<String>,
    /// `avatar_url`.
    pub avatar_url: Option<String>,
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
    user_id: String,
    acting: Acting,
}

const V3: &str = "/_matrix/client/v3";

impl Intent {
    pub(crate) fn new(client: MatrixClient, user_id: String, acting: Acting) -> Self {
        Self {
            client,
            user_id,
            acting,
        }
    }

    /// The user this intent acts as.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    fn localpart(&self) -> &str {
        self.user_id
            .strip_prefix('@')
            .and_then(|s| s.split_once(':'))
            .map_or("", |(l, _)| l)
    }

    /// Registers this user (ghosts only need it once; cached).
    pub async fn ensure_registered(&self) -> Result<(), ClientError> {
        self.client.ensure_registered(self.localpart()).await
    }

    /// A request as this user (`?user_id=` for ghosts, which are registered
    /// first: the homeserver refuses `user_id` of unknown users).
    async fn req(&self, method: Method, path: String) -> Result<Req<'_>, ClientError> {
        if self.acting == Acting::Ghost {
            self.ensure_registered().await?;
        }
        let as_user = (self.acting != Acting::Bot).then_some(self.user_id.as_str());
        Ok(Req::new(method, path).acting_as(as_user))
    }

    /// `GET /account/whoami`: the user the homeserver takes this intent
    /// for (checks a double-puppet token before it is used).
    pub async fn whoami(&self) -> Result<String, ClientError> {
        let req = self
            .req(Method::GET, format!("{V3}/account/whoami"))
            .await?;
        let v = self.client.json(req).await?;
        str_field(&v, "user_id")
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

    fn tag_path(&self, room_id: &str, tag: &str) -> String {
        format!(
            "{V3}/user/{}/rooms/{}/tags/{}",
            enc(&self.user_id),
            enc(room_id),
            enc(tag)
        )
    }

    /// Puts a tag (`m.favourite`, `m.lowpriority`) on a room for this user.
    pub async fn set_room_tag(&self, room_id: &str, tag: &str) -> Result<(), ClientError> {
        let req = self
            .req(Method::PUT, self.tag_path(room_id, tag))
            .await?
            .json(json!({}))
            .idempotent(Idempotent::Yes);
        self.client.json(req).await?;
        Ok(())
    }

    /// Removes a tag; a tag that is not there is fine.
    pub async fn remove_room_tag(&self, room_id: &str, tag: &str) -> Result<(), ClientError> {
        let req = self
            .req(Method::DELETE, self.tag_path(room_id, tag))
            .await?
            .idempotent(Idempotent::Yes);
        match self.client.json(req).await {
            Ok(_) => Ok(()),
            Err(e) if e.is("M_NOT_FOUND") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// This user's tags on a room (the keys of `tags`).
    pub async fn room_tags(&self, room_id: &str) -> Result<Vec<String>, ClientError> {
        let path = format!(
            "{V3}/user/{}/rooms/{}/tags",
            enc(&self.user_id),
            enc(room_id)
        );
        let req = self.req(Method::GET, path).await?;
        let v = self.client.json(req).await?;
        Ok(v.get("tags")
            .and_then(Value::as_object)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default())
    }

    fn room_rule_path(&self, room_id: &str) -> String {
        format!("{V3}/pushrules/global/room/{}", enc(room_id))
    }

    /// Mutes a room for this user: a room push rule with no actions (the
    /// form clients write for "mute").
    pub async fn mute_room(&self, room_id: &str) -> Result<(), ClientError> {
        let req = self
            .req(Method::PUT, self.room_rule_path(room_id))
            .await?
            .json(json!({"actions": []}))
            .idempotent(Idempotent::Yes);
        self.client.json(req).await?;
        Ok(())
    }

    /// Removes the room's mute rule; none there is fine.
    pub async fn unmute_room(&self, room_id: &str) -> Result<(), ClientError> {
        let req = self
            .req(Method::DELETE, self.room_rule_path(room_id))
            .await?
            .idempotent(Idempotent::Yes);
        match self.client.json(req).await {
            Ok(_) => Ok(()),
            Err(e) if e.is("M_NOT_FOUND") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Moves this user's fully-read marker and public read receipt to
    /// `event_id`.
    pub async fn mark_read(&self, room_id: &str, event_id: &str) -> Result<(), ClientError> {
        let path = format!("{V3}/rooms/{}/read_markers", enc(room_id));
        let req = self
            .req(Method::POST, path)
            .await?
            .json(json!({"m.fully_read": event_id, "m.read": event_id}))
            .idempotent(Idempotent::Yes);
        self.client.json(req).await?;
        Ok(())
    }

    fn profile_path(&self, field: &str) -> String {
        format!("{V3}/profile/{}/{field}", enc(&self.user_id))
    }

    /// Sets this user's global display name.
    pub async fn set_displayname(&self, name: &str) -> Result<(), ClientError> {
        let req = self
            .req(Method::PUT, self.profile_path("displayname"))
            .await?;
        self.client
            .json(req.json(json!({"displayname": name})))
            .await?;
        Ok(())
    }

    /// Sets this user's global avatar (`mxc://` URI, or empty to remove).
    pub async fn set_avatar_url(&self, mxc: &str) -> Result<(), ClientError> {
        let req = self
            .req(Method::PUT, self.profile_path("avatar_url"))
            .await?;
        self.client
            .json(req.json(json!({"avatar_url": mxc})))
            .await?;
        Ok(())
    }

    /// Sets this user's presence: `online`, `unavailable` or `offline`.
    pub async fn set_presence(&self, presence: &str) -> Result<(), ClientError> {
        let path = format!("{V3}/presence/{}/status", enc(&self.user_id));
        let req = self.req(Method::PUT, path).await?;
        self.client
            .json(req.json(json!({"presence": presence})))
            .await?;
        Ok(())
    }

    /// Creates a room; returns its id.
    pub async fn create_room(&self, params: &CreateRoom) -> Result<String, ClientError> {
        let body = serde_json::to_value(params)
            .map_err(|e| ClientError::InvalidResponse(format!("encoding createRoom: {e}")))?;
        let req = self.req(Method::POST, format!("{V3}/createRoom")).await?;
        let v = self.client.json(req.json(body)).await?;
        str_field(&v, "room_id")
    }

    /// Invites `user_id` to `room_id`. Already invited or joined is fine.
    pub async fn invite(&self, room_id: &str, user_id: &str) -> Result<(), ClientError> {
        let req = self
            .req(Method::POST, format!("{V3}/rooms/{}/invite", enc(room_id)))
            .await?
            .idempotent(Idempotent::Yes);
        match self
            .client
            .json(req.json(json!({"user_id": user_id})))
            .await
        {
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
    pub async fn join(&self, room_id_or_alias: &str) -> Result<String, ClientError> {
        let req = self
            .req(Method::POST, format!("{V3}/join/{}", enc(room_id_or_alias)))
            .await?
            .idempotent(Idempotent::Yes);
        let v = self.client.json(req.json(json!({}))).await?;
        str_field(&v, "room_id")
    }

    /// Leaves (or rejects an invite to) a room.
    pub async fn leave(&self, room_id: &str) -> Result<(), ClientError> {
        let req = self
            .req(Method::POST, format!("{V3}/rooms/{}/leave", enc(room_id)))
            .await?
            .idempotent(Idempotent::Yes);
        self.client.json(req.json(json!({}))).await?;
        Ok(())
    }

    /// Sends `content` as a message event of its type (ruma's contents,
    /// or ours for custom events: see [`super::custom`]); `txn_id` makes
    /// retries idempotent and `ts` sets `origin_server_ts`. Returns the
    /// event id.
    pub async fn send<C: MessageLikeEventContent>(
        &self,
        room_id: &str,
        content: &C,
        txn_id: &str,
        ts: Option<u64>,
    ) -> Result<String, ClientError> {
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
        room_id: &str,
        content: &C,
        state_key: &str,
        ts: Option<u64>,
    ) -> Result<String, ClientError> {
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
        room_id: &str,
        event_type: &str,
        content: &Value,
        txn_id: &str,
        ts: Option<u64>,
    ) -> Result<String, ClientError> {
        let path = format!(
            "{V3}/rooms/{}/send/{}/{}",
            enc(room_id),
            enc(event_type),
            enc(txn_id)
        );
        let mut req = self.req(Method::PUT, path).await?.json(content.clone());
        if let Some(ts) = ts {
            req = req.query("ts", ts.to_string());
        }
        let v = self.client.json(req).await?;
        str_field(&v, "event_id")
    }

    /// Sets a state event; returns the event id.
    pub async fn send_state_event(
        &self,
        room_id: &str,
        event_type: &str,
        state_key: &str,
        content: &Value,
        ts: Option<u64>,
    ) -> Result<String, ClientError> {
        let path = format!(
            "{V3}/rooms/{}/state/{}/{}",
            enc(room_id),
            enc(event_type),
            enc(state_key)
        );
        let mut req = self.req(Method::PUT, path).await?.json(content.clone());
        if let Some(ts) = ts {
            req = req.query("ts", ts.to_string());
        }
        let v = self.client.json(req).await?;
        str_field(&v, "event_id")
    }

    /// Reads a state event's content; `None` if there is none.
    pub async fn get_state_event(
        &self,
        room_id: &str,
        event_type: &str,
        state_key: &str,
    ) -> Result<Option<Value>, ClientError> {
        let path = format!(
            "{V3}/rooms/{}/state/{}/{}",
            enc(room_id),
            enc(event_type),
            enc(state_key)
        );
        let req = self.req(Method::GET, path).await?;
        match self.client.json(req).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is("M_NOT_FOUND") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Redacts an event; returns the redaction's event id.
    pub async fn redact(
        &self,
        room_id: &str,
        event_id: &str,
        reason: Option<&str>,
        txn_id: &str,
    ) -> Result<String, ClientError> {
        let path = format!(
            "{V3}/rooms/{}/redact/{}/{}",
            enc(room_id),
            enc(event_id),
            enc(txn_id)
        );
        let body = reason.map_or_else(|| json!({}), |r| json!({"reason": r}));
        let req = self.req(Method::PUT, path).await?.json(body);
        let v = self.client.json(req).await?;
        str_field(&v, "event_id")
    }

    /// Starts (with a timeout in ms) or stops typing.
    pub async fn typing(
        &self,
        room_id: &str,
        typing: bool,
        timeout_ms: u64,
    ) -> Result<(), ClientError> {
        let path = format!("{V3}/rooms/{}/typing/{}", enc(room_id), enc(&self.user_id));
        let body = if typing {
            json!({"typing": true, "timeout": timeout_ms})
        } else {
            json!({"typing": false})
        };
        let req = self.req(Method::PUT, path).await?.json(body);
        self.client.json(req).await?;
        Ok(())
    }

    /// Sends a receipt (`m.read`, `m.read.private`) up to `event_id`.
    pub async fn send_receipt(
        &self,
        room_id: &str,
        receipt_type: &str,
        event_id: &str,
    ) -> Result<(), ClientError> {
        let path = format!(
            "{V3}/rooms/{}/receipt/{}/{}",
            enc(room_id),
            enc(receipt_type),
            enc(event_id)
        );
        let req = self
            .req(Method::POST, path)
            .await?
            .json(json!({}))
            .idempotent(Idempotent::Yes);
        self.client.json(req).await?;
        Ok(())
    }

    /// Uploads media; returns its `mxc://` URI.
    pub async fn upload_media(
        &self,
        data: Bytes,
        content_type: &str,
        filename: Option<&str>,
    ) -> Result<String, ClientError> {
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
        str_field(&v, "content_uri")
    }

    /// Downloads media by `mxc://` URI (authenticated media API), up to the
    /// client's size limit.
    pub async fn download_media(&self, mxc: &str) -> Result<Bytes, ClientError> {
        let (server, id) = parse_mxc(mxc)?;
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
    pub async fn joined_rooms(&self) -> Result<Vec<String>, ClientError> {
        let req = self.req(Method::GET, format!("{V3}/joined_rooms")).await?;
        let v = self.client.json(req).await?;
        v.get("joined_rooms")
            .and_then(Value::as_array)
            .map(|rooms| {
                rooms
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .ok_or_else(|| ClientError::InvalidResponse("no `joined_rooms` list".into()))
    }

    /// Everyone the room names as a member now, with their membership
    /// (joined, invited, left, ...): `GET /rooms/{id}/members`.
    pub async fn members(
        &self,
        room_id: &str,
    ) -> Result<Vec<(String, MembershipState)>, ClientError> {
        let path = format!("{V3}/rooms/{}/members", enc(room_id));
        let req = self.req(Method::GET, path).await?;
        let v = self.client.json(req).await?;
        let chunk = v
            .get("chunk")
            .and_then(Value::as_array)
            .ok_or_else(|| ClientError::InvalidResponse("no `chunk` list".into()))?;
        Ok(chunk
            .iter()
            .filter_map(|e| {
                let user = e.get("state_key")?.as_str()?;
                let membership = e.get("content")?.get("membership")?.as_str()?;
                Some((user.to_owned(), MembershipState::from(membership)))
            })
            .collect())
    }

    /// The joined members of a room, by user id.
    pub async fn joined_members(
        &self,
        room_id: &str,
    ) -> Result<BTreeMap<String, JoinedMember>, ClientError> {
        let path = format!("{V3}/rooms/{}/joined_members", enc(room_id));
        let req = self.req(Method::GET, path).await?;
        let v = self.client.json(req).await?;
        let joined = v
            .get("joined")
            .and_then(Value::as_object)
            .ok_or_else(|| ClientError::InvalidResponse("no `joined` object".into()))?;
        Ok(joined
            .iter()
            .map(|(user, m)| {
                let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
                (
                    user.clone(),
                    JoinedMember {
                        display_name: s("display_name"),
                        avatar_url: s("avatar_url"),
                    },
                )
            })
            .collect())
    }

    fn account_data_path(&self, event_type: &str) -> String {
        format!(
            "{V3}/user/{}/account_data/{}",
            enc(&self.user_id),
            enc(event_type)
        )
    }

    /// This user's global account data of `event_type` (e.g. `m.direct`);
    /// `None` if unset.
    pub async fn get_account_data(&self, event_type: &str) -> Result<Option<Value>, ClientError> {
        let req = self
            .req(Method::GET, self.account_data_path(event_type))
            .await?;
        match self.client.json(req).await {
            Ok(v) => Ok(Some(v)),
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
        let req = self
            .req(Method::PUT, self.account_data_path(event_type))
            .await?
            .json(content.clone());
        self.client.json(req).await?;
        Ok(())
    }

    /// Sets this user's account data of `event_type` in one room (e.g.
    /// `m.marked_unread`).
    pub async fn set_room_account_data(
        &self,
        room_id: &str,
        event_type: &str,
        content: &Value,
    ) -> Result<(), ClientError> {
        let path = format!(
            "{V3}/user/{}/rooms/{}/account_data/{}",
            enc(&self.user_id),
            enc(room_id),
            enc(event_type)
        );
        let req = self
            .req(Method::PUT, path)
            .await?
            .json(content.clone())
            .idempotent(Idempotent::Yes);
        self.client.json(req).await?;
        Ok(())
    }
}

fn str_field(v: &Value, key: &str) -> Result<String, ClientError> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ClientError::InvalidResponse(format!("no `{key}` in answer")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_room_json() {
        let c = CreateRoom {
            name: Some("n".into()),
            invite: vec!["@a:x".into()],
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
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({
                "name": "n", "invite": ["@a:x"], "is_direct": true,
                "preset": "trusted_private_chat",
                "initial_state": [{"type": "m.bridge", "state_key": "x/wa", "content": {"a": 1}}],
                "power_level_content_override": {"users": {}}
            })
        );
        assert_eq!(
            serde_json::to_value(CreateRoom::default()).unwrap(),
            json!({})
        );
    }

    #[test]
    fn localparts() {
        let c = MatrixClient::new("http://x", "t", "example.org").unwrap();
        let i = c.ghost_intent("whatsapp_123");
        assert_eq!(i.user_id(), "@whatsapp_123:example.org");
        assert_eq!(i.localpart(), "whatsapp_123");
    }
}
