//! Logging a paired device in, and the IQs it owes the server before it is
//! online: prekey count (and upload when low), then `passive set <active/>`,
//! then the web client's session-start queries (`login/start.rs`).
//!
//! New one-time prekeys are saved to the [`PreKeyStore`] (and the advanced
//! id counter to the [`DeviceStore`]) *before* they are uploaded, so a peer
//! can never hold a prekey whose private half we lost.
//!
//! [`PreKeyStore`]: crate::store::PreKeyStore
//! [`DeviceStore`]: crate::store::DeviceStore

use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{debug, info};
use wa_core::binary::Node;
use wa_core::jid::Jid;
use wa_core::signal::{self, KEY_TYPE_DJB, PreKey, SignalError, SignedPreKey};

mod start;
pub use start::SessionInfo;

use crate::error::{AuthError, Error};
use crate::own_device::DeviceState;
use crate::socket::{self, ConnectOptions, Connection, Event};
use crate::store::{Store, StoreError};

/// One-time prekeys uploaded when the server has none (whatsmeow, Baileys).
pub const INITIAL_PREKEY_COUNT: u32 = 812;
/// Prekeys uploaded when the server runs low.
pub const REFILL_PREKEY_COUNT: u32 = 50;
/// Below this many prekeys on the server, upload more.
pub const MIN_PREKEY_COUNT: u32 = 5;
/// A signed prekey older than this (seconds) is rotated at login: a week,
/// as Signal clients do.
pub const SIGNED_PREKEY_MAX_AGE: u64 = 7 * 24 * 3600;

/// How to log in.
#[derive(Debug, Clone)]
pub struct LoginOptions {
    /// Where to connect.
    pub connect: ConnectOptions,
    /// How long to wait for `<success>` after connecting.
    pub success_timeout: Duration,
}

impl Default for LoginOptions {
    fn default() -> Self {
        LoginOptions {
            connect: ConnectOptions::default(),
            success_timeout: Duration::from_secs(20),
        }
    }
}

/// Why login failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The state has no JID: pair first.
    #[error("device is not paired")]
    NotPaired,
    /// The server refused us (`<failure>` or a stream error): 401 means
    /// this device was unlinked and must pair again.
    #[error("login refused: {0}")]
    Auth(AuthError),
    /// Connecting failed or the connection broke, or a post-login IQ failed.
    #[error("connection: {0}")]
    Connection(#[source] Error),
    /// The server answered something else than `<success>` or `<failure>`.
    #[error("unexpected answer to login: {0}")]
    Unexpected(String),
    /// Saving new prekeys failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Our keys could not be put on the wire.
    #[error(transparent)]
    Keys(#[from] SignalError),
}

impl LoginError {
    /// Whether trying again cannot help: the device is not paired or was
    /// unlinked, the account is refused, the client is outdated, another
    /// connection took over, or our own keys are broken. Anything else
    /// (the network, a timeout, 503, the store) may pass.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            LoginError::NotPaired
                | LoginError::Keys(_)
                | LoginError::Auth(
                    AuthError::LoggedOut
                        | AuthError::Forbidden
                        | AuthError::ClientOutdated
                        | AuthError::Replaced
                )
        )
    }
}

impl From<Error> for LoginError {
    fn from(e: Error) -> Self {
        match e {
            Error::Auth(a) => LoginError::Auth(a),
            e => LoginError::Connection(e),
        }
    }
}

/// A logged-in connection.
#[derive(Debug)]
pub struct LoggedIn {
    /// The connection, ready for use.
    pub conn: Connection,
    /// Its events; the first ones are what arrived while we were away.
    pub events: mpsc::Receiver<Event>,
    /// The `<success>` node (server time `t`, our `lid`, ...).
    pub success: Node,
    /// How many one-time prekeys were uploaded during login.
    pub uploaded_prekeys: u32,
    /// What the session-start queries told us (privacy, blocklist, props).
    pub session: SessionInfo,
}

/// Logs the paired device `state` in and runs the post-login IQs.
///
/// `state` is updated (LID from `<success>`, new prekeys) and saved to
/// `store` whenever it changes.
#[tracing::instrument(skip_all, fields(jid = ?state.jid.as_ref().map(ToString::to_string)))]
pub async fn login(
    opts: &LoginOptions,
    state: &mut DeviceState,
    store: &dyn Store,
) -> Result<LoggedIn, LoginError> {
    let payload = state
        .login_payload(&opts.connect.agent)
        .ok_or(LoginError::NotPaired)?;
    let (conn, mut events) = socket::connect(&opts.connect, &state.noise, &payload).await?;
    let success = match tokio::time::timeout(opts.success_timeout, events.recv()).await {
        Ok(Some(Event::Node(n))) if n.tag == "success" => n,
        Ok(Some(Event::Node(n))) => {
            conn.close();
            return Err(LoginError::Unexpected(n.to_string()));
        }
        Ok(Some(Event::Disconnected(e))) => return Err(e.into()),
        Ok(None) => return Err(Error::Closed.into()),
        Err(_) => {
            conn.close();
            return Err(Error::Timeout("login success").into());
        }
    };
    info!("logged in");
    match after_success(&conn, &success, state, store).await {
        Ok((uploaded_prekeys, session)) => Ok(LoggedIn {
            conn,
            events,
            success,
            uploaded_prekeys,
            session,
        }),
        Err(e) => {
            conn.close();
            Err(e)
        }
    }
}

async fn after_success(
    conn: &Connection,
    success: &Node,
    state: &mut DeviceState,
    store: &dyn Store,
) -> Result<(u32, SessionInfo), LoginError> {
    let lid = success
        .attr_jid("lid")
        .cloned()
        .or_else(|| success.attr_str("lid").and_then(|s| s.parse().ok()));
    if lid.is_some() && lid != state.lid {
        state.lid = lid;
        store.save(state).await?;
    }

    let on_server = prekey_count(conn).await?;
    debug!(on_server, "prekeys on server");
    let wanted = if on_server == 0 {
        INITIAL_PREKEY_COUNT
    } else if on_server < MIN_PREKEY_COUNT {
        REFILL_PREKEY_COUNT
    } else {
        0
    };
    if wanted > 0 {
        upload_prekeys(conn, state, store, wanted).await?;
    }

    let age = unix_now().saturating_sub(state.signed_prekey_created);
    if age >= SIGNED_PREKEY_MAX_AGE {
        rotate_signed_prekey(conn, state, store).await?;
    }

    let active = server_iq("passive", "set").children(vec![Node::new("active")]);
    conn.iq(active).await?;
    let session = start::run(conn, state, store).await?;
    Ok((wanted, session))
}

/// `<iq xmlns=encrypt type=get><count/></iq>` -> `<count value=N/>`.
async fn prekey_count(conn: &Connection) -> Result<u32, LoginError> {
    let answer = conn
        .iq(server_iq("encrypt", "get").children(vec![Node::new("count")]))
        .await?;
    answer
        .child("count")
        .and_then(|c| c.attr_str("value"))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| LoginError::Unexpected(format!("prekey count answer: {answer}")))
}

/// Generates `count` prekeys, saves them, then uploads them with our
/// identity and signed prekey.
pub async fn upload_prekeys(
    conn: &Connection,
    state: &mut DeviceState,
    store: &dyn Store,
    count: u32,
) -> Result<(), LoginError> {
    let fresh = state.generate_prekeys(count, &mut rand::rng());
    store.save(state).await?;
    store.store_prekeys(&fresh).await?;
    conn.iq(upload_node(state, &fresh)?).await?;
    info!(count, "prekeys uploaded");
    Ok(())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Replaces the signed prekey: the new one is stored (the old one kept, for
/// sessions peers start from bundles they fetched before) and saved before
/// `<iq xmlns=encrypt type=set><rotate><skey/></rotate>` publishes it.
pub async fn rotate_signed_prekey(
    conn: &Connection,
    state: &mut DeviceState,
    store: &dyn Store,
) -> Result<(), LoginError> {
    let old = state.signed_prekey.clone();
    let fresh = SignedPreKey::generate(
        &state.identity,
        old.id() % signal::MAX_KEY_ID + 1,
        &mut rand::rng(),
    )?;
    store.store_signed_prekey(&old).await?;
    store.store_signed_prekey(&fresh).await?;
    state.signed_prekey = fresh;
    state.signed_prekey_created = unix_now();
    store.save(state).await?;
    let skey = &state.signed_prekey;
    conn.iq(
        server_iq("encrypt", "set").children(vec![Node::new("rotate").children(vec![
            Node::new("skey").children(vec![
                Node::new("id").bytes(signal::encode_key_id(skey.id())?.to_vec()),
                Node::new("value").bytes(skey.public().to_vec()),
                Node::new("signature").bytes(skey.signature().to_vec()),
            ]),
        ])]),
    )
    .await?;
    info!(id = skey.id(), "signed prekey rotated");
    Ok(())
}

/// `<iq xmlns=encrypt type=set><registration/><type/><identity/>
/// <list><key><id/><value/></key>..</list><skey><id/><value/><signature/></skey>`.
fn upload_node(state: &DeviceState, prekeys: &[PreKey]) -> Result<Node, SignalError> {
    let keys = prekeys
        .iter()
        .map(|k| {
            Ok(Node::new("key").children(vec![
                Node::new("id").bytes(signal::encode_key_id(k.id())?.to_vec()),
                Node::new("value").bytes(k.public().to_vec()),
            ]))
        })
        .collect::<Result<Vec<_>, SignalError>>()?;
    let skey = &state.signed_prekey;
    Ok(server_iq("encrypt", "set").children(vec![
        Node::new("registration")
            .bytes(signal::encode_registration_id(state.registration_id).to_vec()),
        Node::new("type").bytes(vec![KEY_TYPE_DJB]),
        Node::new("identity").bytes(state.identity.public().to_vec()),
        Node::new("list").children(keys),
        Node::new("skey").children(vec![
            Node::new("id").bytes(signal::encode_key_id(skey.id())?.to_vec()),
            Node::new("value").bytes(skey.public().to_vec()),
            Node::new("signature").bytes(skey.signature().to_vec()),
        ]),
    ]))
}

fn server_iq(xmlns: &'static str, kind: &'static str) -> Node {
    Node::new("iq")
        .attr("to", Jid::server_jid())
        .attr("xmlns", xmlns)
        .attr("type", kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_node_has_the_wire_layout() {
        let mut state = DeviceState::new(&mut rand::rng());
        let fresh = state.generate_prekeys(2, &mut rand::rng());
        let node = upload_node(&state, &fresh).unwrap();
        assert_eq!(
            node.child("registration")
                .unwrap()
                .content_bytes()
                .unwrap()
                .len(),
            4
        );
        assert_eq!(
            node.child("type").unwrap().content_bytes(),
            Some(&[5u8][..])
        );
        let ids: Vec<&[u8]> = node
            .child("list")
            .unwrap()
            .children_by_tag("key")
            .map(|k| k.child("id").unwrap().content_bytes().unwrap())
            .collect();
        assert_eq!(ids, [&[0u8, 0, 1][..], &[0, 0, 2][..]]);
        let skey = node.child("skey").unwrap();
        assert_eq!(
            skey.child("signature")
                .unwrap()
                .content_bytes()
                .unwrap()
                .len(),
            64
        );
    }
}
