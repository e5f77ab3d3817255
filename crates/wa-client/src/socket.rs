//! One connection to a WhatsApp server: WebSocket, Noise handshake, then
//! encrypted nodes both ways, IQ request/response by id, keepalive pings.
//!
//! The connection owns two tasks: a reader (decrypts and decodes frames,
//! answers server pings, completes pending IQs, forwards the rest as
//! [`Event`]s) and a writer (encrypts and frames in send order). Reconnecting
//! is the caller's concern: a connection ends with one final
//! [`Event::Disconnected`] carrying the reason, and [`Error::is_retryable`]
//! tells whether trying again can help.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::{debug, warn};
use wa_core::binary::{self, Node};
use wa_core::frame::{self, FrameDecoder};
use wa_core::jid::Jid;
use wa_core::keys::KeyPair;
use wa_core::noise::{CipherState, ClientHandshake};

use crate::error::{AuthError, Error, ProtocolError};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// WebSocket URL, `wss://web.whatsapp.com/ws/chat` for the real service.
    pub url: String,
    /// Root public key the server's certificate chain must chain to.
    pub root_key: [u8; 32],
    /// Routing info for the `ED` prefix (from an earlier `<edge_routing>`).
    pub routing: Option<Vec<u8>>,
    /// Time allowed for TCP, TLS, WebSocket and Noise together.
    pub connect_timeout: Duration,
    /// Time an IQ may wait for its answer.
    pub iq_timeout: Duration,
    /// Interval between keepalive pings; `None` disables them.
    pub keepalive: Option<Duration>,
    /// How the device describes itself in its `ClientPayload` (WhatsApp
    /// Web version, device name, platform, history wanted).
    pub agent: wa_core::payload::Agent,
}

/// The real service's WebSocket URL.
pub const PRODUCTION_URL: &str = "wss://web.whatsapp.com/ws/chat";

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            url: PRODUCTION_URL.to_owned(),
            root_key: wa_core::noise::cert::PRODUCTION_ROOT_KEY,
            routing: None,
            connect_timeout: Duration::from_secs(20),
            iq_timeout: Duration::from_secs(60),
            keepalive: Some(Duration::from_secs(30)),
            agent: wa_core::payload::Agent::default(),
        }
    }
}

/// What the connection reports.
#[derive(Debug)]
pub enum Event {
    /// A node that was not the answer to one of our IQs.
    Node(Node),
    /// The connection ended; nothing follows.
    Disconnected(Error),
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Node>>>>;

/// A live, encrypted connection. Cheap to clone; every clone sends on it.
#[derive(Debug, Clone)]
pub struct Connection {
    out: mpsc::Sender<Vec<u8>>,
    pending: Pending,
    next_id: Arc<AtomicU64>,
    id_prefix: Arc<str>,
    iq_timeout: Duration,
    shutdown: Arc<tokio::sync::Notify>,
}

/// Connects, runs the handshake with our Noise `static_key` and
/// `client_payload` (an encoded `ClientPayload`), and starts the tasks.
pub async fn connect(
    opts: &ConnectOptions,
    static_key: &KeyPair,
    client_payload: &[u8],
) -> Result<(Connection, mpsc::Receiver<Event>), Error> {
    let (ws, transport) =
        tokio::time::timeout(opts.connect_timeout, open(opts, static_key, client_payload))
            .await
            .map_err(|_| Error::Timeout("connect"))??;
    let (send, recv, frames) = transport;
    Ok(start(ws, send, (recv, frames), opts))
}

async fn open(
    opts: &ConnectOptions,
    static_key: &KeyPair,
    client_payload: &[u8],
) -> Result<(Ws, (CipherState, CipherState, FrameDecoder)), Error> {
    let mut request = opts
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| Error::Network(format!("bad url: {e}")))?;
    request.headers_mut().insert(
        "Origin",
        tokio_tungstenite::tungstenite::http::HeaderValue::from_static("https://web.whatsapp.com"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| Error::Network(e.to_string()))?;

    let (hs, hello) =
        ClientHandshake::start(static_key, &mut rand::rng()).map_err(ProtocolError::from)?;
    let mut first =
        frame::connection_header(opts.routing.as_deref()).map_err(ProtocolError::from)?;
    frame::encode_frame(&hello, &mut first).map_err(ProtocolError::from)?;
    send_ws(&mut ws, first).await?;

    let mut frames = FrameDecoder::new();
    let reply = next_frame(&mut ws, &mut frames).await?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let verified = hs
        .read_server_hello(&reply, &opts.root_key, now)
        .map_err(ProtocolError::from)?;
    let (finish, transport) = verified
        .finish(client_payload)
        .map_err(ProtocolError::from)?;
    let mut out = Vec::with_capacity(finish.len() + 3);
    frame::encode_frame(&finish, &mut out).map_err(ProtocolError::from)?;
    send_ws(&mut ws, out).await?;
    let (send, recv) = transport.into_split();
    Ok((ws, (send, recv, frames)))
}

async fn send_ws(ws: &mut Ws, bytes: Vec<u8>) -> Result<(), Error> {
    ws.send(Message::Binary(bytes.into()))
        .await
        .map_err(|e| Error::Network(e.to_string()))
}

/// Reads WebSocket messages until `frames` yields a whole frame.
async fn next_frame<S>(ws: &mut S, frames: &mut FrameDecoder) -> Result<Vec<u8>, Error>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        if let Some(f) = frames.next_frame() {
            return Ok(f);
        }
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => frames.push(&b),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            Some(Ok(Message::Text(_))) => {
                return Err(ProtocolError::UnexpectedMessage("text").into());
            }
            Some(Ok(Message::Close(_))) | None => return Err(Error::Closed),
            Some(Err(e)) => return Err(Error::Network(e.to_string())),
        }
    }
}

fn start(
    ws: Ws,
    send: CipherState,
    (recv, frames): (CipherState, FrameDecoder),
    opts: &ConnectOptions,
) -> (Connection, mpsc::Receiver<Event>) {
    let (sink, stream) = ws.split();
    let (out_tx, out_rx) = mpsc::channel::<Vec<u8>>(256);
    let (ev_tx, ev_rx) = mpsc::channel::<Event>(1024);
    let pending: Pending = Arc::default();
    let shutdown = Arc::new(tokio::sync::Notify::new());
    let conn = Connection {
        out: out_tx,
        pending: pending.clone(),
        next_id: Arc::new(AtomicU64::new(1)),
        id_prefix: Arc::from(format!(
            "{}.{}-",
            rand::random::<u16>(),
            rand::random::<u16>()
        )),
        iq_timeout: opts.iq_timeout,
        shutdown: shutdown.clone(),
    };
    let (fail_tx, fail_rx) = mpsc::channel::<Error>(4);
    let (ended_tx, ended_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(writer(sink, send, out_rx, fail_tx.clone(), ended_rx));
    tokio::spawn(reader(
        stream,
        (recv, frames),
        conn.clone(),
        ev_tx,
        (fail_rx, ended_tx),
        shutdown,
    ));
    if let Some(every) = opts.keepalive {
        tokio::spawn(keepalive(conn.clone(), every, fail_tx));
    }
    (conn, ev_rx)
}

async fn writer(
    mut sink: futures_util::stream::SplitSink<Ws, Message>,
    mut cipher: CipherState,
    mut out: mpsc::Receiver<Vec<u8>>,
    fail: mpsc::Sender<Error>,
    mut ended: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let plain = tokio::select! {
            p = out.recv() => match p {
                Some(p) => p,
                None => break,
            },
            _ = ended.changed() => break,
        };
        let result = cipher
            .encrypt(&plain)
            .map_err(|e| Error::Protocol(e.into()))
            .and_then(|ct| {
                let mut framed = Vec::with_capacity(ct.len() + 3);
                frame::encode_frame(&ct, &mut framed)
                    .map(|()| framed)
                    .map_err(|e| Error::Protocol(e.into()))
            });
        let framed = match result {
            Ok(f) => f,
            Err(e) => {
                let _ = fail.send(e).await;
                break;
            }
        };
        if let Err(e) = sink.send(Message::Binary(framed.into())).await {
            let _ = fail.send(Error::Network(e.to_string())).await;
            break;
        }
    }
    let _ = sink.close().await;
}

async fn reader(
    mut stream: futures_util::stream::SplitStream<Ws>,
    (mut cipher, mut frames): (CipherState, FrameDecoder),
    conn: Connection,
    events: mpsc::Sender<Event>,
    (mut fail, ended): (mpsc::Receiver<Error>, tokio::sync::watch::Sender<bool>),
    shutdown: Arc<tokio::sync::Notify>,
) {
    let reason = loop {
        let frame = tokio::select! {
            f = next_frame(&mut stream, &mut frames) => f,
            Some(e) = fail.recv() => break e,
            () = shutdown.notified() => break Error::Closed,
        };
        let node = match frame.and_then(|f| {
            let plain = cipher.decrypt(&f).map_err(ProtocolError::from)?;
            Ok(binary::decode(&plain).map_err(ProtocolError::from)?)
        }) {
            Ok(n) => n,
            Err(e) => break e,
        };
        if let Some(verdict) = AuthError::from_node(&node) {
            break Error::Auth(verdict);
        }
        if node.tag == "xmlstreamend" {
            break Error::Closed;
        }
        if let Err(e) = conn.route(node, &events).await {
            break e;
        }
    };
    debug!(error = %reason, "connection ended");
    let _ = ended.send(true);
    if let Ok(mut p) = conn.pending.lock() {
        p.clear();
    }
    let _ = events.send(Event::Disconnected(reason)).await;
}

async fn keepalive(conn: Connection, every: Duration, fail: mpsc::Sender<Error>) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        let ping = Node::new("iq")
            .attr("to", Jid::server_jid())
            .attr("type", "get")
            .attr("xmlns", "w:p")
            .children(vec![Node::new("ping")]);
        match conn.iq(ping).await {
            Ok(_) => {}
            Err(Error::Closed) => return,
            Err(e) => {
                warn!(error = %e, "keepalive failed");
                let _ = fail.send(e).await;
                return;
            }
        }
    }
}

impl Connection {
    /// Sends a node. Order is kept between sends.
    pub async fn send(&self, node: &Node) -> Result<(), Error> {
        let bytes = binary::encode(node).map_err(ProtocolError::from)?;
        self.out.send(bytes).await.map_err(|_| Error::Closed)
    }

    /// A fresh id for a stanza.
    pub fn new_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{}{n}", self.id_prefix)
    }

    /// Sends an IQ and waits for its answer: the `type="result"` node, or
    /// [`Error::Iq`] for `type="error"`. An `id` is set if the node has none.
    pub async fn iq(&self, mut node: Node) -> Result<Node, Error> {
        let id = match node.attr_str("id") {
            Some(id) => id.to_owned(),
            None => {
                let id = self.new_id();
                node.attrs.insert("id", id.clone());
                id
            }
        };
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .map_err(|_| Error::Closed)?
            .insert(id.clone(), tx);
        if let Err(e) = self.send(&node).await {
            self.forget(&id);
            return Err(e);
        }
        let answer = match tokio::time::timeout(self.iq_timeout, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => return Err(Error::Closed),
            Err(_) => {
                self.forget(&id);
                return Err(Error::Timeout("iq answer"));
            }
        };
        if answer.attr_str("type") == Some("error") {
            let err = answer.child("error");
            return Err(Error::Iq {
                code: err
                    .and_then(|e| e.attr_str("code"))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0),
                text: err
                    .and_then(|e| e.attr_str("text"))
                    .unwrap_or_default()
                    .to_owned(),
                node: Box::new(answer),
            });
        }
        Ok(answer)
    }

    fn forget(&self, id: &str) {
        if let Ok(mut p) = self.pending.lock() {
            p.remove(id);
        }
    }

    /// Ends the connection; the event stream then reports [`Error::Closed`].
    pub fn close(&self) {
        self.shutdown.notify_one();
    }

    /// True once the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.out.is_closed()
    }

    /// Waits until the connection has ended and its socket was closed.
    pub async fn closed(&self) {
        self.out.closed().await;
    }

    async fn route(&self, node: Node, events: &mpsc::Sender<Event>) -> Result<(), Error> {
        if node.tag == "iq" {
            let kind = node.attr_str("type");
            if matches!(kind, Some("result" | "error")) {
                let waiter = node
                    .attr_str("id")
                    .and_then(|id| self.pending.lock().ok()?.remove(id));
                if let Some(tx) = waiter {
                    let _ = tx.send(node);
                    return Ok(());
                }
            } else if kind == Some("get") && node.attr_str("xmlns") == Some("urn:xmpp:ping") {
                let mut pong = Node::new("iq")
                    .attr("to", Jid::server_jid())
                    .attr("type", "result");
                if let Some(id) = node.attr_str("id") {
                    pong.attrs.insert("id", id.to_owned());
                }
                return self.send(&pong).await;
            }
        }
        events
            .send(Event::Node(node))
            .await
            .map_err(|_| Error::Closed)
    }
}
