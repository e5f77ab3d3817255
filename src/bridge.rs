//! The bridge core: the appservice handler (transactions in order, the bot's
//! management rooms and commands), the users' logins, and start/restore.
//!
//! The WhatsApp side lives in [`crate::connector`]; this module decides
//! what a Matrix event means and whom it concerns.

pub(crate) mod commands;
mod outbound;

use outbound::{
    OUTBOUND_DRAIN, OUTBOUND_IDLE, poll_event, queue_outbound, replay_outbound, run_outbound,
};

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Mutex;
use tracing::{debug, info, warn};

use crate::appservice::{
    self, Event, Handler, HandlerError, HsToken, Intent, MatrixClient, Transaction,
    TransactionStore, TxnStoreError,
};
use crate::config::Config;
use crate::connector::{self, LoginHandle};
use crate::store::Database;
use ruma::events::room::member::MembershipState;
use ruma::events::room::message::RoomMessageEventContent;
use ruma::{RoomAliasId, TransactionId, UserId};

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

/// Everything the bridge shares between the appservice and the logins.
pub struct Bridge {
    /// The configuration.
    pub config: Config,
    /// The database.
    pub db: Database,
    /// The homeserver client.
    pub matrix: MatrixClient,
    /// The bot.
    pub bot: Intent,
    /// Running logins, by Matrix user.
    pub logins: Mutex<HashMap<String, LoginHandle>>,
    /// Logins in progress (QR shown), by Matrix user.
    pub pairings: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
    /// (room, user) pairs known to be joined, so joins are not repeated.
    pub joined: Mutex<std::collections::HashSet<(String, String)>>,
    /// Held per (login, chat) while its portal room is made, so a chat that
    /// the live messages and the backfill reach at once still gets one
    /// room, and a big group's room holds up no other chat's.
    pub portal_creation: connector::locks::KeyedLocks<(String, String)>,
    /// Each user's room settings as last seen or set (tags, mute, read),
    /// by Matrix user: how the settings sync tells the user's own changes
    /// from the bridge's.
    pub room_settings: std::sync::Mutex<HashMap<String, connector::settings::Known>>,
    /// The user's receipts and typing last sent to WhatsApp.
    pub ephemeral: connector::ephemeral::State,
    /// Who shows online on WhatsApp.
    pub presence: connector::presence::State,
    /// Bounds the receipts and typing being sent to WhatsApp at once.
    pub ephemeral_slots: Arc<tokio::sync::Semaphore>,
    /// What the user sends from Matrix, queued per portal room.
    pub outbound: connector::queue::Queues<(Arc<Bridge>, Event)>,
    /// Commands and invites of the bot, queued per Matrix user: off the
    /// transaction worker, so one user's slow login or logout holds up
    /// nobody else (issue 18).
    pub chores: connector::queue::Queues<(Arc<Bridge>, Chore)>,
    /// Double-puppet clients by homeserver domain (`double_puppet.secrets`).
    pub puppets: HashMap<String, MatrixClient>,
    /// Set once the stored logins are restored and the last run's events
    /// replayed: transactions wait for it, so what the homeserver kept
    /// while the bridge was down finds its login (issue 18).
    pub ready: tokio::sync::watch::Sender<bool>,
    /// Events whose WhatsApp send is queued and not yet acknowledged by
    /// the server (see [`connector::acks`]): their rows stay until then.
    pub awaiting_ack: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Events the last run left unfinished, replayed at start: those
    /// already recorded as sent go out again under their recorded id.
    pub replaying: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Held by each task waiting for the server's ack of a send: shutdown
    /// waits until only this one is left before it closes the database.
    pub ack_tasks: Arc<()>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("bot", &self.bot.user_id())
            .finish_non_exhaustive()
    }
}

impl Bridge {
    /// Whether `mxid` is the bot or one of our ghosts (their events are our
    /// own echoes).
    pub fn is_ours(&self, mxid: &str) -> bool {
        if mxid == self.bot.user_id() {
            return true;
        }
        let Some((local, server)) = mxid.trim_start_matches('@').split_once(':') else {
            return false;
        };
        server == self.config.homeserver.domain && self.config.appservice.ghost_id(local).is_some()
    }

    /// The intent acting as the real user `mxid`, if double puppeting is
    /// configured for their homeserver.
    pub fn puppet(&self, mxid: &str) -> Option<Intent> {
        let (_, domain) = mxid.split_once(':')?;
        self.puppets.get(domain).map(|c| c.puppet_intent(mxid))
    }

    /// Posts a notice as the bot.
    pub async fn notice(&self, room: &str, text: &str) {
        let content = RoomMessageEventContent::notice_plain(text);
        if let Err(e) = self.bot.send(room, &content, &txn_id(), None).await {
            warn!(%room, error = %e, "could not post a notice");
        }
    }

    /// The management room of `mxid`, if there is one.
    pub async fn management_room(&self, mxid: &str) -> Option<String> {
        self.db
            .user(mxid)
            .await
            .ok()
            .flatten()
            .and_then(|u| u.management_room)
    }
}

/// A fresh transaction id for events the bridge sends.
pub fn txn_id() -> String {
    let bytes: [u8; 12] = rand::random();
    format!("wab{}", hex::encode(bytes))
}

/// Runs the bridge with a loaded, validated config until Ctrl-C.
pub async fn run(config: Config) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let addr = format!(
        "{}:{}",
        config.appservice.hostname, config.appservice.port.0
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    info!(%addr, "appservice listening");
    run_with(config, listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

/// Runs the bridge on `listener` until `shutdown` completes (tests inject
/// both).
pub async fn run_with(
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
    let bot = matrix.bot_intent(&config.appservice.bot.username);
    let puppets = puppet_clients(&config)?;
    let bridge = Arc::new(Bridge {
        config,
        db,
        matrix,
        bot,
        logins: Mutex::new(HashMap::new()),
        pairings: Mutex::new(HashMap::new()),
        joined: Mutex::new(std::collections::HashSet::new()),
        portal_creation: connector::locks::KeyedLocks::default(),
        room_settings: std::sync::Mutex::default(),
        ephemeral: connector::ephemeral::State::default(),
        presence: connector::presence::State::default(),
        ephemeral_slots: Arc::new(tokio::sync::Semaphore::new(EPHEMERAL_SLOTS)),
        outbound: connector::queue::Queues::new(run_outbound, OUTBOUND_IDLE),
        chores: connector::queue::Queues::new(run_chore, OUTBOUND_IDLE),
        puppets,
        ready: tokio::sync::watch::Sender::new(false),
        awaiting_ack: std::sync::Mutex::default(),
        replaying: std::sync::Mutex::default(),
        ack_tasks: Arc::new(()),
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
    connector::restore_logins(&bridge).await;
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

/// Registers the bot and sets its name, then pings the homeserver so the
/// transactions it queued while we were away flow now.
async fn introduce(bridge: &Bridge) {
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
/// handed over, finishes running commands, and closes every WhatsApp
/// connection and pairing.
async fn stop_work(bridge: &Bridge) {
    // What the homeserver handed over is sent before the clients stop.
    if !bridge.outbound.drain(OUTBOUND_DRAIN).await {
        warn!("some events from Matrix were still being sent at shutdown");
    }
    if !bridge.chores.drain(CHORE_LIMIT).await {
        warn!("some commands were still running at shutdown");
    }
    let logins: Vec<_> = bridge.logins.lock().await.drain().map(|(_, l)| l).collect();
    for login in &logins {
        login.stop();
    }
    // Each client finishes the node in hand and closes its socket; what
    // was not acknowledged the server delivers again at the next start.
    let closed = async {
        for login in &logins {
            login.client.stopped().await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(5), closed)
        .await
        .is_err()
    {
        warn!("a WhatsApp connection did not close in time");
    }
    // The acks that came before the connections closed are written down
    // before the database closes (the others end with the clients).
    let acked = async {
        while Arc::strong_count(&bridge.ack_tasks) > 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(5), acked)
        .await
        .is_err()
    {
        warn!("some acknowledged sends were still being recorded at shutdown");
    }
    for (_, p) in bridge.pairings.lock().await.drain() {
        p.abort();
    }
}

/// How often the bridge forgets what is past its retention (see
/// [`crate::store::Pruned`]).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Prunes the database at start, then every [`PRUNE_EVERY`].
async fn prune_now_and_then(bridge: Arc<Bridge>) {
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

/// The transaction dedupe table.
struct Txns(Arc<Bridge>);

#[async_trait]
impl TransactionStore for Txns {
    async fn is_processed(&self, txn: &TransactionId) -> Result<bool, TxnStoreError> {
        self.0
            .db
            .transaction_processed(txn.as_str())
            .await
            .map_err(TxnStoreError::new)
    }

    async fn mark_processed(&self, txn: &TransactionId) -> Result<(), TxnStoreError> {
        self.0
            .db
            .mark_transaction_processed(txn.as_str())
            .await
            .map_err(TxnStoreError::new)
    }
}

struct BridgeHandler(Arc<Bridge>);

#[async_trait]
impl Handler for BridgeHandler {
    async fn handle(&self, txn: Transaction) -> Result<(), HandlerError> {
        // The homeserver sends its backlog as soon as we answer its ping,
        // which comes before the logins are back: the events wait for
        // them (transactions run one at a time, so a retry of this one
        // waits behind it and is then a duplicate).
        let mut ready = self.0.ready.subscribe();
        if ready.wait_for(|r| *r).await.is_err() {
            return Err(HandlerError::new("the bridge is shutting down"));
        }
        // Each event on its own: what one of them cannot do is logged (and
        // told to its sender) and holds up no other event, transaction or
        // user (issue 18).
        for event in txn.events {
            handle_event(&self.0, &event).await;
        }
        // Receipts and typing: best effort, off the worker, never a reason
        // to retry; dropped when too many are still on their way.
        if !txn.ephemeral.is_empty() {
            match self.0.ephemeral_slots.clone().try_acquire_owned() {
                Ok(slot) => {
                    let (bridge, events) = (self.0.clone(), txn.ephemeral);
                    tokio::spawn(async move {
                        for event in &events {
                            connector::ephemeral::handle(&bridge, event).await;
                        }
                        drop(slot);
                    });
                }
                Err(_) => debug!(
                    events = txn.ephemeral.len(),
                    "receipts and typing dropped: too many still on their way"
                ),
            }
        }
        Ok(())
    }

    /// The homeserver asks whether one of our users exists: it does once
    /// registered, so it is registered before the answer (the spec's "create
    /// on demand").
    async fn query_user(&self, user_id: &UserId) -> bool {
        let bridge = &self.0;
        let user_id = user_id.as_str();
        if !bridge.is_ours(user_id) {
            return false;
        }
        let registered = if user_id == bridge.bot.user_id() {
            bridge.bot.ensure_registered().await
        } else {
            let local = user_id
                .trim_start_matches('@')
                .split_once(':')
                .map_or("", |(local, _)| local);
            // Only ghosts the bridge would make: a number or a LID.
            let id = bridge.config.appservice.ghost_id(local).unwrap_or_default();
            let digits = id.strip_prefix("lid-").unwrap_or(&id);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
            bridge.matrix.ghost_intent(local).ensure_registered().await
        };
        match registered {
            Ok(()) => true,
            Err(e) => {
                warn!(%user_id, error = %e, "could not register a user the homeserver asked for");
                false
            }
        }
    }

    async fn query_room(&self, _alias: &RoomAliasId) -> bool {
        false
    }
}

/// One event. What goes to WhatsApp is queued per portal room (see
/// [`connector::queue`]) and commands and invites per user (see
/// [`Chore`]), so the transaction is answered at once and nothing here
/// fails it.
async fn handle_event(bridge: &Arc<Bridge>, event: &Event) {
    let (Some(room), Some(sender)) = (event.room_id.as_ref(), event.sender.as_ref()) else {
        return;
    };
    let (room, sender) = (room.as_str(), sender.as_str());
    if bridge.is_ours(sender) {
        return;
    }
    if event.content.get(connector::PUPPET_SOURCE_KEY).is_some() {
        // Sent by us as the user (double puppeting): an echo.
        return;
    }
    if matches!(
        event.kind.as_str(),
        "m.room.message" | "m.sticker" | "m.reaction" | "m.room.redaction"
    ) {
        connector::presence::active(bridge, sender).await;
    }
    match event.kind.as_str() {
        "m.room.member" => {
            let Some(member) = event.member() else {
                return;
            };
            if event.state_key.as_deref() == Some(bridge.bot.user_id())
                && member.membership == MembershipState::Invite
            {
                let chore = Chore::Invited {
                    room: room.to_owned(),
                    sender: sender.to_owned(),
                    is_direct: member.is_direct.unwrap_or(false),
                };
                bridge.chores.push(sender, (bridge.clone(), chore));
            }
        }
        // A sticker has no body to read as a command.
        "m.sticker" | "m.reaction" | "m.room.redaction" => {
            queue_outbound(bridge, room, event).await;
        }
        kind if poll_event(kind).is_some() => queue_outbound(bridge, room, event).await,
        "m.room.message" => {
            let Some(message) = event.message() else {
                // What ruma cannot read is no command; in a portal, the
                // connector tells the sender why it is not bridged.
                queue_outbound(bridge, room, event).await;
                return;
            };
            let body = message.msgtype.body().trim();
            let management = bridge.management_room(sender).await;
            let prefix = &bridge.config.bridge.command_prefix;
            let command = if management.as_deref() == Some(room) {
                Some((body, commands::Place::Management))
            } else {
                body.strip_prefix(prefix.as_str())
                    .map(|rest| (rest.trim(), commands::Place::Elsewhere))
            };
            match command {
                Some((line, place)) => {
                    let chore = Chore::Command {
                        room: room.to_owned(),
                        place,
                        sender: sender.to_owned(),
                        line: line.to_owned(),
                    };
                    bridge.chores.push(sender, (bridge.clone(), chore));
                }
                None => queue_outbound(bridge, room, event).await,
            }
        }
        _ => {}
    }
}

/// What the bot does for one Matrix user, off the transaction worker.
#[derive(Debug, Clone)]
pub enum Chore {
    /// A command line, from `sender` in `room`.
    Command {
        /// The room.
        room: String,
        /// Whether it is the sender's management room.
        place: commands::Place,
        /// Who sent it.
        sender: String,
        /// The command, without the prefix.
        line: String,
    },
    /// The bot was invited into `room` by `sender`.
    Invited {
        /// The room.
        room: String,
        /// Who invited.
        sender: String,
        /// Whether the invite is a direct chat's.
        is_direct: bool,
    },
}

/// How long one command or invite may take before its user's next one runs.
const CHORE_LIMIT: Duration = Duration::from_secs(120);
/// How many transactions' receipts and typing may be on their way at once.
const EPHEMERAL_SLOTS: usize = 16;

fn run_chore(
    (bridge, chore): (Arc<Bridge>, Chore),
) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let work = async {
            match &chore {
                Chore::Command {
                    room,
                    place,
                    sender,
                    line,
                } => commands::run(&bridge, (room, *place), sender, line).await,
                Chore::Invited {
                    room,
                    sender,
                    is_direct,
                } => bot_invited(&bridge, room, sender, *is_direct).await,
            }
        };
        if tokio::time::timeout(CHORE_LIMIT, work).await.is_err() {
            warn!(?CHORE_LIMIT, "a command or invite took too long; given up");
        }
    })
}

/// The bot was invited into `room` by `sender`. Users the bridge does not
/// serve are declined; a direct chat becomes the sender's management room
/// only while nobody else is in it.
async fn bot_invited(bridge: &Arc<Bridge>, room: &str, sender: &str, is_direct: bool) {
    let allowed = bridge
        .config
        .bridge
        .permission_for(sender)
        .is_some_and(|l| l >= crate::config::Level::User);
    if !allowed {
        info!(%room, "declining an invite from a user the bridge does not serve");
        if let Err(e) = bridge.bot.leave(room).await {
            warn!(%room, error = %e, "could not decline an invite");
        }
        return;
    }
    if let Err(e) = bridge.bot.join(room).await {
        warn!(%room, error = %e, "bot could not join");
        return;
    }
    if !is_direct {
        return;
    }
    if !commands::private(bridge, room, sender).await {
        bridge.notice(room, commands::NOT_PRIVATE).await;
        return;
    }
    let stored = async {
        bridge.db.ensure_user(sender).await?;
        bridge.db.set_management_room(sender, Some(room)).await
    }
    .await;
    if let Err(e) = stored {
        warn!(%room, error = %e, "could not record a management room");
        bridge
            .notice(
                room,
                "Sorry, I could not set this room up as your management room; try again later.",
            )
            .await;
        return;
    }
    bridge
        .notice(
            room,
            "Hello! This is your WhatsApp bridge management room. Send `login` to link \
             your WhatsApp account, or `help` for the commands.",
        )
        .await;
}
