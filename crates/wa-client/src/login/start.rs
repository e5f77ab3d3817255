//! The queries the web client makes once it is online, after the prekey
//! count and `passive set <active/>` (Baileys rc14 `Socket/socket.js` on
//! `CB:success`, then `Socket/chats.js` `executeInitQueries`): the prekey
//! digest check, the server's props, the blocklist and the privacy
//! settings. None of them may stop a login: a server that does not answer
//! one (or answers an error) leaves its part of [`SessionInfo`] empty.

use std::collections::BTreeMap;

use tracing::{debug, warn};
use wa_core::binary::Node;
use wa_core::jid::Jid;

use super::{LoginError, REFILL_PREKEY_COUNT, server_iq, upload_prekeys};
use crate::error::Error;
use crate::own_device::DeviceState;
use crate::socket::Connection;
use crate::store::Store;

/// What the server told us about the account at session start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionInfo {
    /// Privacy settings by category (`readreceipts`, `last`, `online`,
    /// `profile`, `status`, `groupadd`, ...): `all`, `contacts`, `none`, ...
    pub privacy: BTreeMap<String, String>,
    /// Contacts the user blocked.
    pub blocklist: Vec<Jid>,
    /// Server props (`abt`) by name or config code.
    pub props: BTreeMap<String, String>,
    /// The props' hash, sent back on the next query.
    pub props_hash: Option<String>,
    /// True when the digest check found the server's prekeys out of step
    /// with ours and uploaded fresh ones.
    pub prekeys_reuploaded: bool,
}

impl SessionInfo {
    /// Read receipts are off in the user's privacy settings: the receipts
    /// we send for read messages must be `read-self`, so the senders do not
    /// see blue ticks (Baileys `readMessages`, whatsmeow `MarkRead`).
    pub fn read_receipts_off(&self) -> bool {
        self.privacy.get("readreceipts").map(String::as_str) == Some("none")
    }

    /// AB prop 10518 (`privacy_token_sending_on_all_1_on_1_messages`): our
    /// 1:1 messages carry the contact's privacy token. On unless the server
    /// says otherwise (Baileys rc14 `Socket/chats.js`, `messages-send.js`).
    pub fn tokens_on_one_to_one(&self) -> bool {
        self.prop_flag("10518", "privacy_token_sending_on_all_1_on_1_messages")
            .unwrap_or(true)
    }

    /// AB prop 14303 (`lid_trusted_token_issue_to_lid`): our token is
    /// issued to the contact's LID rather than their phone number. Off
    /// unless the server says otherwise, as the official web client
    /// (Baileys rc14 `Utils/tc-token-utils.js` `resolveIssuanceJid`).
    pub fn issue_tokens_to_lid(&self) -> bool {
        self.prop_flag("14303", "lid_trusted_token_issue_to_lid")
            .unwrap_or(false)
    }

    /// A boolean prop, by config code or name: `true`/`1` or anything else.
    fn prop_flag(&self, code: &str, name: &str) -> Option<bool> {
        let value = self.props.get(code).or_else(|| self.props.get(name))?;
        Some(value == "true" || value == "1")
    }

    /// True when the user blocked `jid` (compared without device).
    pub fn is_blocked(&self, jid: &Jid) -> bool {
        self.blocklist
            .iter()
            .any(|b| b.user() == jid.user() && b.server() == jid.server())
    }
}

/// Runs the queries in the official client's order and gathers their
/// answers. (Props are asked for in full each time: no `hash` of earlier
/// ones is kept across connections.)
pub(super) async fn run(
    conn: &Connection,
    state: &mut DeviceState,
    store: &dyn Store,
) -> Result<SessionInfo, LoginError> {
    let mut info = SessionInfo {
        prekeys_reuploaded: check_digest(conn, state, store).await?,
        ..SessionInfo::default()
    };
    let props = Node::new("props").attr("protocol", "1");
    if let Some(answer) = optional(conn, server_iq("abt", "get").children(vec![props])).await {
        (info.props, info.props_hash) = parse_props(&answer);
    }
    if let Some(answer) = optional(conn, server_iq("blocklist", "get")).await {
        info.blocklist = parse_blocklist(&answer);
    }
    let privacy = server_iq("privacy", "get").children(vec![Node::new("privacy")]);
    if let Some(answer) = optional(conn, privacy).await {
        info.privacy = parse_privacy(&answer);
    }
    Ok(info)
}

/// An IQ whose failure only costs its answer; a broken connection still
/// surfaces at the next read.
async fn optional(conn: &Connection, iq: Node) -> Option<Node> {
    let what = iq.attr_str("xmlns").unwrap_or_default().to_owned();
    match conn.iq(iq).await {
        Ok(answer) => Some(answer),
        Err(e) => {
            debug!(query = %what, error = %e, "session-start query not answered");
            None
        }
    }
}

/// `encrypt get <digest/>`: compares the server's copy of our bundle with
/// ours; when it differs (or the server has none) uploads fresh prekeys
/// with our identity and signed prekey. True if it uploaded.
async fn check_digest(
    conn: &Connection,
    state: &mut DeviceState,
    store: &dyn Store,
) -> Result<bool, LoginError> {
    let answer = conn
        .iq(server_iq("encrypt", "get").children(vec![Node::new("digest")]))
        .await;
    let digest = match answer {
        Ok(answer) => answer.child("digest").cloned(),
        // 404: the server holds no bundle for us.
        Err(Error::Iq { code: 404, .. }) => None,
        Err(Error::Iq { code, .. }) => {
            debug!(code, "prekey digest not offered");
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    };
    if digest.as_ref().is_some_and(|d| digest_matches(d, state)) {
        return Ok(false);
    }
    warn!("the server's copy of our keys differs from ours; uploading fresh ones");
    upload_prekeys(conn, state, store, REFILL_PREKEY_COUNT).await?;
    Ok(true)
}

/// True when `<digest>` names the bundle we hold: registration id,
/// identity key and signed prekey (id, key, signature). The SHA-1 `<hash>`
/// over the one-time prekeys is not recomputed: that takes a store read per
/// prekey (812 after a first login) at every login, and Baileys does not
/// check it either.
fn digest_matches(digest: &Node, state: &DeviceState) -> bool {
    fn bytes(node: Option<&Node>) -> Option<&[u8]> {
        node.and_then(Node::content_bytes)
    }
    let skey = digest.child("skey");
    bytes(digest.child("registration")) == Some(&state.registration_id.to_be_bytes()[..])
        && bytes(digest.child("identity")) == Some(&state.identity.public()[..])
        && bytes(skey.and_then(|s| s.child("id")))
            == Some(&state.signed_prekey.id().to_be_bytes()[1..])
        && bytes(skey.and_then(|s| s.child("value"))) == Some(&state.signed_prekey.public()[..])
        && bytes(skey.and_then(|s| s.child("signature")))
            == Some(&state.signed_prekey.signature()[..])
}

/// `<props hash><prop name|config_code value|config_value/>...</props>`.
fn parse_props(answer: &Node) -> (BTreeMap<String, String>, Option<String>) {
    let Some(props) = answer.child("props") else {
        return (BTreeMap::new(), None);
    };
    let values = props
        .children_by_tag("prop")
        .filter_map(|p| {
            let name = p.attr_str("name").or_else(|| p.attr_str("config_code"))?;
            let value = p
                .attr_str("value")
                .or_else(|| p.attr_str("config_value"))
                .unwrap_or_default();
            Some((name.to_owned(), value.to_owned()))
        })
        .collect();
    (values, props.attr_str("hash").map(str::to_owned))
}

/// `<list><item jid/>...</list>` (Baileys `fetchBlocklist`).
fn parse_blocklist(answer: &Node) -> Vec<Jid> {
    answer
        .child("list")
        .map(|l| {
            l.children_by_tag("item")
                .filter_map(|i| {
                    i.attr_jid("jid")
                        .cloned()
                        .or_else(|| i.attr_str("jid")?.parse().ok())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `<privacy><category name value/>...</privacy>`.
fn parse_privacy(answer: &Node) -> BTreeMap<String, String> {
    answer
        .child("privacy")
        .map(|p| {
            p.children_by_tag("category")
                .filter_map(|c| {
                    Some((
                        c.attr_str("name")?.to_owned(),
                        c.attr_str("value")?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_and_junk_is_skipped() {
        let props =
            Node::new("iq").children(vec![Node::new("props").attr("hash", "h1").children(vec![
                Node::new("prop").attr("name", "a").attr("value", "1"),
                Node::new("prop")
                    .attr("config_code", "10518")
                    .attr("config_value", "true"),
                Node::new("prop").attr("value", "nameless"),
            ])]);
        let (values, hash) = parse_props(&props);
        assert_eq!(hash.as_deref(), Some("h1"));
        assert_eq!(values.len(), 2);
        assert_eq!(values["10518"], "true");

        let list = Node::new("iq").children(vec![Node::new("list").children(vec![
            Node::new("item").attr("jid", "15550001111@s.whatsapp.net"),
            Node::new("item").attr("jid", "not a jid"),
            Node::new("item"),
        ])]);
        let blocked = parse_blocklist(&list);
        assert_eq!(blocked.len(), 1);
        let info = SessionInfo {
            blocklist: blocked,
            ..SessionInfo::default()
        };
        assert!(info.is_blocked(&"15550001111:3@s.whatsapp.net".parse().unwrap()));
        assert!(!info.is_blocked(&"15550001112@s.whatsapp.net".parse().unwrap()));

        let privacy = Node::new("iq").children(vec![Node::new("privacy").children(vec![
            Node::new("category")
                .attr("name", "readreceipts")
                .attr("value", "none"),
            Node::new("category").attr("name", "last"),
        ])]);
        let info = SessionInfo {
            privacy: parse_privacy(&privacy),
            ..SessionInfo::default()
        };
        assert!(info.read_receipts_off());
        assert_eq!(info.privacy.len(), 1);
        assert!(!SessionInfo::default().read_receipts_off());
        assert!(parse_privacy(&Node::new("iq")).is_empty());
    }

    #[test]
    fn token_props_have_the_official_defaults_and_follow_the_server() {
        let none = SessionInfo::default();
        assert!(none.tokens_on_one_to_one());
        assert!(!none.issue_tokens_to_lid());
        let by_code = SessionInfo {
            props: [("10518", "false"), ("14303", "1")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into(),
            ..SessionInfo::default()
        };
        assert!(!by_code.tokens_on_one_to_one());
        assert!(by_code.issue_tokens_to_lid());
        let by_name = SessionInfo {
            props: [("lid_trusted_token_issue_to_lid", "true")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into(),
            ..SessionInfo::default()
        };
        assert!(by_name.issue_tokens_to_lid());
    }
}
