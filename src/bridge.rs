//! The bridge core, network-neutral: the appservice handler (transactions
//! in order, the bot's management rooms and commands), what users send
//! into portals on its way out (kept, queued per portal, retried, its
//! status told), ghosts' room memberships, and start, restore and
//! shutdown.
//!
//! The chat network sits behind [`Network`]; `crate::connector` is
//! WhatsApp's. This module names no WhatsApp type and imports nothing of
//! the connector (`scripts/layout-check`).

pub mod change;
pub(crate) mod commands;
pub mod error;
pub mod ghost;
mod handler;
pub mod locks;
pub mod login;
pub mod message;
mod network;
mod outbound;
pub mod placeholder;
pub mod portal;
pub mod qr;
pub mod queue;
pub mod remote;
pub mod space;
pub mod status;

pub use change::{Actor, Change, RemoteSender};
pub use error::Error;
pub use handler::Chore;
pub use network::{LinkTarget, MatrixEvent, Network, ResolveError, Resolved};
pub use remote::RemoteEvent;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use crate::appservice::{
    self, ClientError, Event, Handler, HsToken, Intent, MatrixClient, TransactionStore,
};
use crate::config::Config;
use crate::store::Database;
use handler::{BridgeHandler, CHORE_LIMIT, EPHEMERAL_SLOTS, Txns, run_chore};
use outbound::{OUTBOUND_DRAIN, OUTBOUND_IDLE, replay_outbound, run_outbound};
use ruma::events::room::message::RoomMessageEventContent;
use ruma::{EventId, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};

/// Why the bridge could not run.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The database could not be opened.
    #[error("database: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The homeserver client could not be made.
    #[error("homeserver: {0}")]
    Matrix(#[from] appservice::ClientError),
    /// The appservice listener failed.
    #[error("appservice listener: {0}")]
    Listen(#[from] std::io::Error),
    /// The appservice server failed.
    #[error("appservice server: {0}")]
    Server(#[from] appservice::ServerError),
}

/// Everything the bridge shares between the appservice and the network.
pub struct Bridge<N: Network> {
    config: Config,
    db: Database,
    matrix: MatrixClient,
    bot: Intent,
    /// Double-puppet clients by homeserver domain (`double_puppet.secrets`).
    puppets: HashMap<String, MatrixClient>,
    /// (room, user) pairs known to be joined, so joins are not repeated.
    joined: tokio::sync::Mutex<HashSet<(OwnedRoomId, OwnedUserId)>>,
    /// Held per (login, chat) while its portal room is made, so a chat
    /// that the live messages and the backfill reach at once still gets
    /// one room, and a big group's room holds up no other chat's.
    portal_creation: locks::KeyedLocks<(String, String)>,
    /// What the users send from Matrix, queued per portal room.
    outbound: queue::Queues<(Arc<Bridge<N>>, Event)>,
    /// Commands and invites of the bot, queued per Matrix user: off the
    /// transaction worker, so one user's slow login or logout holds up
    /// nobody else (issue 18).
    chores: queue::Queues<(Arc<Bridge<N>>, Chore)>,
    /// Bounds the receipts and typing being handed to the network at once.
    ephemeral_slots: Arc<tokio::sync::Semaphore>,
    /// Set once the stored logins are restored and the last run's events
    /// replayed: transactions wait for it, so what the homeserver kept
    /// while the bridge was down finds its login (issue 18).
    ready: tokio::sync::watch::Sender<bool>,
    /// Events the last run left unfinished, replayed at start: those
    /// already recorded as sent go out again under their recorded id.
    replaying: std::sync::Mutex<HashSet<OwnedEventId>>,
    /// Logins in progress (a QR code shown), by Matrix user.
    logins_in_progress: tokio::sync::Mutex<HashMap<OwnedUserId, login::Running>>,
    /// The chat network.
    network: N,
}

impl<N: Network> std::fmt::Debug for Bridge<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("network", &N::ID)
            .field("bot", &self.bot.user_id())
            .finish_non_exhaustive()
    }
}

/// Marks events the bridge sent as the user (double puppeting), so their
/// echo is not bridged back (the key the mautrix bridges use).
pub const PUPPET_SOURCE_KEY: &str = "fi.mau.double_puppet_source";

/// Marks `content` as sent by the bridge as the user (see
/// [`PUPPET_SOURCE_KEY`]).
pub fn mark_as_puppet(content: &mut serde_json::Value) {
    content[PUPPET_SOURCE_KEY] = serde_json::Value::from("wabridge");
}

/// `content` as the JSON to send and its event type; marked (see
/// [`mark_as_puppet`]) when it is sent as the user (`as_user`).
pub fn content_to_send<C: ruma::events::MessageLikeEventContent>(
    content: &C,
    as_user: bool,
) -> Result<(String, serde_json::Value), ClientError> {
    let mut value =
        serde_json::to_value(content).map_err(|e| ClientError::Content(e.to_string()))?;
    if as_user {
        mark_as_puppet(&mut value);
    }
    Ok((content.event_type().to_string(), value))
}

impl<N: Network> Bridge<N> {
    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The database.
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// The homeserver client.
    pub fn matrix(&self) -> &MatrixClient {
        &self.matrix
    }

    /// The bot.
    pub fn bot(&self) -> &Intent {
        &self.bot
    }

    /// The chat network and its state.
    pub fn network(&self) -> &N {
        &self.network
    }

    /// Whether `mxid` is the bot or one of our ghosts (their events are our
    /// own echoes).
    pub fn is_ours(&self, mxid: &UserId) -> bool {
        if mxid == self.bot.user_id() {
            return true;
        }
        mxid.server_name() == self.config.homeserver.domain.as_str()
            && self.config.appservice.ghost_id(mxid.localpart()).is_some()
    }

    /// Whether `mxid` is one of our ghosts (ours, and not the bot).
    pub fn is_ghost(&self, mxid: &UserId) -> bool {
        mxid != self.bot.user_id() && self.is_ours(mxid)
    }

    /// The intent acting as the real user `mxid`, if double puppeting is
    /// configured for their homeserver.
    pub fn puppet(&self, mxid: &UserId) -> Option<Intent> {
        self.puppets
            .get(mxid.server_name().as_str())
            .map(|c| c.puppet_intent(mxid))
    }

    /// Posts a notice as the bot.
    pub async fn notice(&self, room: &RoomId, text: &str) {
        let content = RoomMessageEventContent::notice_plain(text);
        if let Err(e) = self.bot.send(room, &content, &txn_id(), None).await {
            warn!(%room, error = %e, "could not post a notice");
        }
    }

    /// The management room of `mxid`, if there is one.
    pub async fn management_room(&self, mxid: &UserId) -> Option<OwnedRoomId> {
        self.db
            .user(mxid)
            .await
            .ok()
            .flatten()
            .and_then(|u| u.management_room)
    }

    /// Makes sure `intent` is in `room` (invited by the bot, then joined);
    /// true if it joined now.
    pub async fn ensure_joined(&self, room: &RoomId, intent: &Intent) -> Result<bool, ClientError> {
        let key = (room.to_owned(), intent.user_id().to_owned());
        if self.joined.lock().await.contains(&key) {
            return Ok(false);
        }
        if let Err(e) = self.bot.invite(room, intent.user_id()).await {
            tracing::debug!(error = %e, "invite before join failed; trying to join anyway");
        }
        intent.join(room.into()).await?;
        self.joined.lock().await.insert(key);
        Ok(true)
    }

    /// Whether `user` is known to be in `room` (joined through the bridge
    /// since it started, or noted).
    pub async fn is_joined(&self, room: &RoomId, user: &UserId) -> bool {
        self.joined
            .lock()
            .await
            .contains(&(room.to_owned(), user.to_owned()))
    }

    /// Records that `user` is in `room` (it joined by other means).
    pub async fn note_joined(&self, room: &RoomId, user: &UserId) {
        self.joined
            .lock()
            .await
            .insert((room.to_owned(), user.to_owned()));
    }

    /// Records that `user` is no longer in `room`.
    pub async fn note_left(&self, room: &RoomId, user: &UserId) {
        self.joined
            .lock()
            .await
            .remove(&(room.to_owned(), user.to_owned()));
    }

    /// The rooms `user` is known to be in.
    pub async fn rooms_joined_by(&self, user: &UserId) -> Vec<OwnedRoomId> {
        let joined = self.joined.lock().await;
        joined
            .iter()
            .filter(|(_, u)| u == user)
            .map(|(room, _)| room.clone())
            .collect()
    }

    /// Waits until no one else makes the portal of `chat` for `login`; the
    /// guard holds others off until dropped.
    pub async fn creating_portal(
        &self,
        login: &str,
        chat: &str,
    ) -> locks::KeyGuard<'_, (String, String)> {
        self.portal_creation
            .lock((login.to_owned(), chat.to_owned()))
            .await
    }

    /// Whether `event_id` is an event the last run left unfinished, being
    /// replayed now (and no longer, once asked).
    pub fn take_replaying(&self, event_id: &EventId) -> bool {
        self.replaying
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(event_id)
    }
}

/// A fresh transaction id for events the bridge sends.
pub fn txn_id() -> String {
    let bytes: [u8; 12] = rand::random();
    format!("wab{}", hex::encode(bytes))
}

/// Runs the bridge with a loaded, validated config until Ctrl-C.
pub async fn run<N: Network>(network: N, config: Config) -> Result<(), BridgeError> {
    let addr = format!(
        "{}:{}",
        config.appservice.hostname, config.appservice.port.0
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    info!(%addr, "appservice listening");
    run_with(network, config, listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

/// Runs the bridge on `listener` until `shutdown` completes (tests inject
/// both).
pub async fn run_with<N: Network>(
    network: N,
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BridgeError> {
    for warning in config.insecure_links() {
        warn!("{warning}");
    }
    let db = Database::connect(&config.database.uri).await?;
    let matrix = MatrixClient::new(
        &config.homeserver.address,
        config.appservice.as_token.expose(),
        &config.homeserver.domain,
    )?
    .with_max_download(config.bridge.max_media_bytes);
    let bot = matrix.bot_intent(&config.appservice.bot.username)?;
    let puppets = puppet_clients(&config)?;
    let bridge = Arc::new(Bridge {
        config,
        db,
        matrix,
        bot,
        puppets,
        joined: tokio::sync::Mutex::default(),
        portal_creation: locks::KeyedLocks::default(),
        outbound: queue::Queues::new(run_outbound, OUTBOUND_IDLE),
        chores: queue::Queues::new(run_chore, OUTBOUND_IDLE),
        ephemeral_slots: Arc::new(tokio::sync::Semaphore::new(EPHEMERAL_SLOTS)),
        ready: tokio::sync::watch::Sender::new(false),
        replaying: std::sync::Mutex::default(),
        logins_in_progress: tokio::sync::Mutex::default(),
        network,
    });
    let handler: Arc<dyn Handler> = Arc::new(BridgeHandler(bridge.clone()));
    let txns: Arc<dyn TransactionStore> = Arc::new(Txns(bridge.clone()));
    let hs_token = HsToken::new(bridge.config.appservice.hs_token.expose());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(appservice::serve(
        listener,
        hs_token,
        handler,
        txns,
        async move {
            let _ = stop_rx.await;
        },
    ));

    introduce(&bridge).await;
    N::restore_logins(&bridge).await;
    replay_outbound(&bridge).await;
    bridge.ready.send_replace(true);
    let pruning = tokio::spawn(prune_now_and_then(bridge.clone()));

    shutdown.await;
    info!("shutting down");
    pruning.abort();
    let _ = stop_tx.send(());
    let served = server.await;
    stop_work(&bridge).await;
    match served {
        Ok(r) => r?,
        Err(e) => warn!(error = %e, "appservice task ended badly"),
    }
    bridge.db.close().await;
    Ok(())
}

/// A client for each homeserver whose double-puppet secret is an
/// appservice token (`as_token:...`); only the bridge's own homeserver is
/// reachable through the configured address.
fn puppet_clients(config: &Config) -> Result<HashMap<String, MatrixClient>, BridgeError> {
    let mut puppets = HashMap::new();
    for (domain, secret) in &config.double_puppet.secrets {
        let Some(token) = secret.expose().strip_prefix("as_token:") else {
            continue; // refused by Config::validate
        };
        if *domain == config.homeserver.domain {
            puppets.insert(
                domain.clone(),
                MatrixClient::new(&config.homeserver.address, token, domain)?,
            );
        } else {
            warn!(%domain, "double puppeting only works for the bridge's own homeserver");
        }
    }
    Ok(puppets)
}

/// Registers the bot and sets its name and avatar, then pings the homeserver so the
/// transactions it queued while we were away flow now.
async fn introduce<N: Network>(bridge: &Bridge<N>) {
    if let Err(e) = bridge.bot.ensure_registered().await {
        warn!(error = %e, "could not register the bot");
    }
    if let Err(e) = bridge
        .bot
        .set_displayname(&bridge.config.appservice.bot.displayname)
        .await
    {
        warn!(error = %e, "could not set the bot's name");
    }
    // Validated as an mxc:// URI when the config was read.
    let avatar = bridge.config.appservice.bot.avatar.as_deref();
    if let Some(avatar) = avatar.filter(|a| !a.is_empty())
        && let Err(e) = bridge
            .bot
            .set_avatar_url(<&ruma::MxcUri>::from(avatar))
            .await
    {
        warn!(error = %e, "could not set the bot's avatar");
    }
    match bridge
        .matrix
        .ping(&bridge.config.appservice.id, Some(&txn_id()))
        .await
    {
        Ok(ms) => info!(ms, "homeserver reached us"),
        Err(e) => warn!(error = %e, "homeserver ping failed"),
    }
}

/// At shutdown, once no transaction comes in: sends what the homeserver
/// handed over, finishes running commands, stops the logins in progress,
/// and lets the network close its connections.
async fn stop_work<N: Network>(bridge: &Arc<Bridge<N>>) {
    // What the homeserver handed over is sent before the clients stop.
    if !bridge.outbound.drain(OUTBOUND_DRAIN).await {
        warn!("some events from Matrix were still being sent at shutdown");
    }
    if !bridge.chores.drain(CHORE_LIMIT).await {
        warn!("some commands were still running at shutdown");
    }
    // Logins in progress first: one that links now would start a client
    // after the network closed the others.
    login::cancel_all(bridge, Duration::from_secs(5)).await;
    N::stop(bridge).await;
}

/// How often the bridge forgets what is past its retention (see
/// [`crate::store::Pruned`]).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Prunes the database at start, then every [`PRUNE_EVERY`].
async fn prune_now_and_then<N: Network>(bridge: Arc<Bridge<N>>) {
    loop {
        match bridge.db.prune(crate::store::now_ms()).await {
            Ok(p) if p == crate::store::Pruned::default() => {}
            Ok(p) => info!(
                transactions = p.transactions,
                seen = p.seen,
                history = p.history,
                "forgot what is past its retention"
            ),
            Err(e) => warn!(error = %e, "pruning the database failed"),
        }
        tokio::time::sleep(PRUNE_EVERY).await;
    }
}
