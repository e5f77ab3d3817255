//! The simulated server: accepts WebSocket connections on an injected
//! listener, runs the Noise responder with a certificate chain made at start,
//! and speaks the first steps of the protocol.
//!
//! What exists so far: the handshake; registration of an unpaired companion
//! (`pair-device` with fresh refs, recorded so a test or a scripted phone can
//! scan them); keepalive pings; `failure 401` for logins of unknown devices;
//! `501` for IQs the simulator does not know.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, info, warn};
use wa_core::binary::{self, Node};
use wa_core::frame::{self, ServerFrameDecoder};
use wa_core::jid::Jid;
use wa_core::keys::KeyPair;
use wa_core::noise::cert::{self, ChainParams};
use wa_core::noise::{CipherState, ServerHandshake};
use wa_core::proto::ClientPayload;

/// Refs handed out per registration (the client shows them one after another).
pub const REFS_PER_PAIRING: usize = 6;

/// A companion that asked to be paired: what its QR codes will carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The client's Noise static public key.
    pub noise_key: [u8; 32],
    /// The client's Signal identity public key (`eIdent`).
    pub identity_key: Vec<u8>,
    /// The refs sent in `pair-device`, in order.
    pub refs: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    registrations: Vec<Registration>,
}

/// A running simulator.
#[derive(Debug)]
pub struct Sim {
    root: KeyPair,
    url: String,
    state: Arc<Mutex<State>>,
    registered: Arc<Notify>,
    shutdown: Arc<Notify>,
}

struct Shared {
    static_key: KeyPair,
    chain: Vec<u8>,
    state: Arc<Mutex<State>>,
    registered: Arc<Notify>,
}

impl Sim {
    /// Starts serving on `listener` (bind `127.0.0.1:0` in tests).
    pub async fn start(listener: TcpListener) -> std::io::Result<Sim> {
        let mut rng = rand::rng();
        let root = KeyPair::generate(&mut rng);
        let static_key = KeyPair::generate(&mut rng);
        let now = unix_now();
        let chain = cert::issue_chain(
            &root,
            static_key.public(),
            &ChainParams {
                intermediate_serial: 1,
                leaf_serial: 2,
                not_before: now.saturating_sub(3600),
                not_after: now + 10 * 365 * 24 * 3600,
            },
            &mut rng,
        );
        let url = format!("ws://{}/ws/chat", listener.local_addr()?);
        let state = Arc::new(Mutex::new(State::default()));
        let registered = Arc::new(Notify::new());
        let shutdown = Arc::new(Notify::new());
        let shared = Arc::new(Shared {
            static_key,
            chain,
            state: state.clone(),
            registered: registered.clone(),
        });
        tokio::spawn(accept_loop(listener, shared, shutdown.clone()));
        info!(%url, root = %hex::encode(root.public()), "wa-sim listening");
        Ok(Sim {
            root,
            url,
            state,
            registered,
            shutdown,
        })
    }

    /// The root public key clients must trust (instead of the production one).
    pub fn root_public_key(&self) -> [u8; 32] {
        *self.root.public()
    }

    /// The WebSocket URL clients connect to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Registrations seen so far.
    pub fn registrations(&self) -> Vec<Registration> {
        self.state
            .lock()
            .map(|s| s.registrations.clone())
            .unwrap_or_default()
    }

    /// Waits until at least `n` registrations were seen, or `timeout` passes.
    pub async fn wait_registrations(&self, n: usize, timeout: Duration) -> Vec<Registration> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.registered.notified();
            let regs = self.registrations();
            if regs.len() >= n {
                return regs;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.registrations();
            }
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.shutdown.notify_waiters();
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, shutdown: Arc<Notify>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = shutdown.notified() => return,
        };
        match accepted {
            Ok((tcp, peer)) => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve(tcp, shared).await {
                        debug!(%peer, error = %e, "connection ended");
                    }
                });
            }
            Err(e) => warn!(error = %e, "accept failed"),
        }
    }
}

/// Why a connection ended early.
#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("websocket: {0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("framing: {0}")]
    Frame(#[from] frame::FrameError),
    #[error("noise: {0}")]
    Noise(#[from] wa_core::noise::NoiseError),
    #[error("node: {0}")]
    Decode(#[from] binary::DecodeError),
    #[error("node: {0}")]
    Encode(#[from] binary::EncodeError),
    #[error("client payload is not a ClientPayload")]
    BadPayload,
    #[error("peer closed")]
    Closed,
}

struct Conn {
    ws: WebSocketStream<TcpStream>,
    frames: ServerFrameDecoder,
}

impl Conn {
    async fn next_frame(&mut self) -> Result<Vec<u8>, ConnError> {
        loop {
            if let Some(f) = self.frames.next_frame()? {
                return Ok(f);
            }
            match self.ws.next().await {
                Some(Ok(Message::Binary(b))) => self.frames.push(&b),
                Some(Ok(Message::Close(_))) | None => return Err(ConnError::Closed),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
            }
        }
    }

    async fn send_frame(&mut self, payload: &[u8]) -> Result<(), ConnError> {
        let mut out = Vec::with_capacity(payload.len() + 3);
        frame::encode_frame(payload, &mut out)?;
        self.ws.send(Message::Binary(out.into())).await?;
        Ok(())
    }
}

async fn serve(tcp: TcpStream, shared: Arc<Shared>) -> Result<(), ConnError> {
    let ws = tokio_tungstenite::accept_async(tcp).await?;
    let mut conn = Conn {
        ws,
        frames: ServerFrameDecoder::new(),
    };
    let hello = conn.next_frame().await?;
    let (waiting, reply) = ServerHandshake::new(&shared.static_key)?.read_client_hello(
        &hello,
        &shared.chain,
        &mut rand::rng(),
    )?;
    conn.send_frame(&reply).await?;
    let finish = conn.next_frame().await?;
    let done = waiting.read_client_finish(&finish)?;
    let payload =
        ClientPayload::decode(done.payload.as_slice()).map_err(|_| ConnError::BadPayload)?;
    let (send, recv) = done.transport.into_split();
    let mut session = Session {
        conn,
        send,
        recv,
        ids: 0,
    };
    match payload.device_pairing_data {
        Some(reg) if payload.username.is_none() => {
            let refs: Vec<String> = (0..REFS_PER_PAIRING).map(|_| new_ref()).collect();
            let registration = Registration {
                noise_key: done.client_static,
                identity_key: reg.e_ident.unwrap_or_default(),
                refs: refs.clone(),
            };
            let id = session.next_id();
            let pair = Node::new("iq")
                .attr("from", Jid::server_jid())
                .attr("type", "set")
                .attr("id", id)
                .attr("xmlns", "md")
                .children(vec![
                    Node::new("pair-device").children(
                        refs.into_iter()
                            .map(|r| Node::new("ref").bytes(r))
                            .collect(),
                    ),
                ]);
            session.send(&pair).await?;
            if let Ok(mut s) = shared.state.lock() {
                s.registrations.push(registration);
            }
            shared.registered.notify_waiters();
        }
        _ => {
            // No paired devices exist yet: every login is an unknown device.
            session
                .send(&Node::new("failure").attr("reason", "401"))
                .await?;
            return Ok(());
        }
    }
    session.run().await
}

fn new_ref() -> String {
    let mut bytes = [0u8; 36];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
    format!("2@{}", STANDARD.encode(bytes))
}

struct Session {
    conn: Conn,
    send: CipherState,
    recv: CipherState,
    ids: u64,
}

impl Session {
    fn next_id(&mut self) -> String {
        self.ids += 1;
        format!("sim-{}", self.ids)
    }

    async fn send(&mut self, node: &Node) -> Result<(), ConnError> {
        let ct = self.send.encrypt(&binary::encode(node)?)?;
        self.conn.send_frame(&ct).await
    }

    async fn recv(&mut self) -> Result<Node, ConnError> {
        let f = self.conn.next_frame().await?;
        Ok(binary::decode(&self.recv.decrypt(&f)?)?)
    }

    /// Answers what the simulator knows; refuses the rest with 501.
    async fn run(&mut self) -> Result<(), ConnError> {
        loop {
            let node = self.recv().await?;
            if node.tag != "iq" {
                continue;
            }
            let Some(id) = node.attr_str("id").map(str::to_owned) else {
                continue;
            };
            match (node.attr_str("type"), node.attr_str("xmlns")) {
                (Some("result" | "error"), _) => {}
                (Some("get"), Some("w:p")) => {
                    let pong = Node::new("iq")
                        .attr("from", Jid::server_jid())
                        .attr("type", "result")
                        .attr("id", id);
                    self.send(&pong).await?;
                }
                _ => {
                    let err = Node::new("iq")
                        .attr("from", Jid::server_jid())
                        .attr("type", "error")
                        .attr("id", id)
                        .children(vec![
                            Node::new("error")
                                .attr("code", "501")
                                .attr("text", "feature-not-implemented"),
                        ]);
                    self.send(&err).await?;
                }
            }
        }
    }
}
