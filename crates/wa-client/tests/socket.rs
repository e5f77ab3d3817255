//! The socket against a Noise responder over a real loopback WebSocket.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use wa_client::{AuthError, ConnectOptions, Error, Event, ProtocolError, connect};
use wa_core::binary::{self, Node};
use wa_core::frame::{self, ServerFrameDecoder};
use wa_core::keys::KeyPair;
use wa_core::noise::cert::{self, CertError, ChainParams};
use wa_core::noise::{CipherState, NoiseError, ServerHandshake};

/// The server side of one accepted connection, after the handshake.
struct ServerConn {
    ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    send: CipherState,
    recv: CipherState,
    frames: ServerFrameDecoder,
}

impl ServerConn {
    async fn send(&mut self, node: &Node) {
        let ct = self.send.encrypt(&binary::encode(node).unwrap()).unwrap();
        self.send_frame(&ct).await;
    }

    async fn send_frame(&mut self, payload: &[u8]) {
        let mut out = Vec::new();
        frame::encode_frame(payload, &mut out).unwrap();
        self.ws.send(Message::Binary(out.into())).await.unwrap();
    }

    async fn recv(&mut self) -> Option<Node> {
        let f = next_frame(&mut self.ws, &mut self.frames).await?;
        Some(binary::decode(&self.recv.decrypt(&f).unwrap()).unwrap())
    }
}

async fn next_frame(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    frames: &mut ServerFrameDecoder,
) -> Option<Vec<u8>> {
    loop {
        if let Some(f) = frames.next_frame().unwrap() {
            return Some(f);
        }
        match ws.next().await? {
            Ok(Message::Binary(b)) => frames.push(&b),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

struct Harness {
    url: String,
    root: KeyPair,
    listener: TcpListener,
    key: KeyPair,
}

async fn harness() -> Harness {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut rng = rand::rng();
    Harness {
        url: format!("ws://{}/ws/chat", listener.local_addr().unwrap()),
        root: KeyPair::generate(&mut rng),
        listener,
        key: KeyPair::generate(&mut rng),
    }
}

impl Harness {
    fn options(&self) -> ConnectOptions {
        ConnectOptions {
            url: self.url.clone(),
            root_key: *self.root.public(),
            keepalive: None,
            iq_timeout: Duration::from_secs(10),
            ..ConnectOptions::default()
        }
    }

    /// Accepts one connection and runs the responder handshake.
    async fn accept(&self) -> ServerConn {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let chain = cert::issue_chain(
            &self.root,
            self.key.public(),
            &ChainParams {
                intermediate_serial: 1,
                leaf_serial: 2,
                not_before: now - 60,
                not_after: now + 3600,
            },
            &mut rand::rng(),
        );
        let (tcp, _) = self.listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let mut frames = ServerFrameDecoder::new();
        let hello = next_frame(&mut ws, &mut frames).await.unwrap();
        let (waiting, reply) = ServerHandshake::new(&self.key)
            .unwrap()
            .read_client_hello(&hello, &chain, &mut rand::rng())
            .unwrap();
        let mut out = Vec::new();
        frame::encode_frame(&reply, &mut out).unwrap();
        ws.send(Message::Binary(out.into())).await.unwrap();
        let finish = next_frame(&mut ws, &mut frames).await.unwrap();
        let done = waiting.read_client_finish(&finish).unwrap();
        assert_eq!(done.payload, b"payload");
        let (send, recv) = done.transport.into_split();
        ServerConn {
            ws,
            send,
            recv,
            frames,
        }
    }
}

async fn next_event(events: &mut tokio::sync::mpsc::Receiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("event in time")
        .expect("event stream open")
}

fn client_key() -> KeyPair {
    KeyPair::generate(&mut rand::rng())
}

#[tokio::test]
async fn thousand_frames_both_ways() {
    let h = harness().await;
    let opts = h.options();
    let server = tokio::spawn(async move {
        let mut s = h.accept().await;
        for i in 0..1000u32 {
            let n = Node::new("message")
                .attr("id", i.to_string())
                .bytes(i.to_be_bytes().repeat(usize::try_from(i % 300).unwrap()));
            s.send(&n).await;
        }
        for i in 0..1000u32 {
            let n = s.recv().await.unwrap();
            assert_eq!(n.attr_str("id"), Some(i.to_string().as_str()));
            assert_eq!(
                n.content_bytes().unwrap().len(),
                usize::try_from(i).unwrap() * 10
            );
        }
        s
    });
    let (conn, mut events) = connect(&opts, &client_key(), b"payload").await.unwrap();
    for i in 0..1000u32 {
        conn.send(&Node::new("message").attr("id", i.to_string()).bytes(vec![
            7;
            usize::try_from(i).unwrap()
                * 10
        ]))
        .await
        .unwrap();
    }
    for i in 0..1000u32 {
        match next_event(&mut events).await {
            Event::Node(n) => {
                assert_eq!(n.attr_str("id"), Some(i.to_string().as_str()));
                assert_eq!(
                    n.content_bytes().unwrap(),
                    i.to_be_bytes()
                        .repeat(usize::try_from(i % 300).unwrap())
                        .as_slice()
                );
            }
            Event::Disconnected(e) => panic!("disconnected: {e}"),
        }
    }
    let _server = server.await.unwrap();
}

#[tokio::test]
async fn iqs_are_matched_by_id_in_any_order() {
    let h = harness().await;
    let opts = h.options();
    let server = tokio::spawn(async move {
        let mut s = h.accept().await;
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(s.recv().await.unwrap());
        }
        // Answer in reverse order; the middle one with an error.
        for (i, iq) in got.iter().enumerate().rev() {
            let id = iq.attr_str("id").unwrap().to_owned();
            let tag = iq.child_nodes()[0].tag.to_string();
            let answer = if i == 1 {
                Node::new("iq")
                    .attr("id", id)
                    .attr("type", "error")
                    .children(vec![
                        Node::new("error")
                            .attr("code", "404")
                            .attr("text", "item-not-found"),
                    ])
            } else {
                Node::new("iq")
                    .attr("id", id)
                    .attr("type", "result")
                    .children(vec![Node::new(tag)])
            };
            s.send(&answer).await;
        }
        s
    });
    let (conn, _events) = connect(&opts, &client_key(), b"payload").await.unwrap();
    let ask = |tag: &'static str| {
        let conn = conn.clone();
        async move {
            conn.iq(Node::new("iq")
                .attr("type", "get")
                .children(vec![Node::new(tag)]))
                .await
        }
    };
    let a = tokio::spawn(ask("one"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let b = tokio::spawn(ask("two"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let c = tokio::spawn(ask("three"));
    assert_eq!(a.await.unwrap().unwrap().child_nodes()[0].tag, "one");
    match b.await.unwrap() {
        Err(Error::Iq { code, text, .. }) => {
            assert_eq!((code, text.as_str()), (404, "item-not-found"))
        }
        other => panic!("expected iq error, got {other:?}"),
    }
    assert_eq!(c.await.unwrap().unwrap().child_nodes()[0].tag, "three");
    let _server = server.await.unwrap();
}

#[tokio::test]
async fn unanswered_iq_times_out() {
    let h = harness().await;
    let mut opts = h.options();
    opts.iq_timeout = Duration::from_millis(300);
    let server = tokio::spawn(async move {
        let mut s = h.accept().await;
        let _ignored = s.recv().await;
        s
    });
    let (conn, _events) = connect(&opts, &client_key(), b"payload").await.unwrap();
    let err = conn
        .iq(Node::new("iq").attr("type", "get"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    let _server = server.await.unwrap();
}

#[tokio::test]
async fn keepalive_pings_and_server_pings_are_answered() {
    let h = harness().await;
    let mut opts = h.options();
    opts.keepalive = Some(Duration::from_millis(100));
    let server = tokio::spawn(async move {
        let mut s = h.accept().await;
        s.send(
            &Node::new("iq")
                .attr("id", "srv-1")
                .attr("type", "get")
                .attr("xmlns", "urn:xmpp:ping"),
        )
        .await;
        let (mut pings, mut pong) = (0, false);
        while pings < 3 || !pong {
            let n = s.recv().await.unwrap();
            match (n.attr_str("type"), n.attr_str("xmlns")) {
                (Some("get"), Some("w:p")) => {
                    assert!(n.child("ping").is_some());
                    pings += 1;
                    let id = n.attr_str("id").unwrap().to_owned();
                    s.send(&Node::new("iq").attr("id", id).attr("type", "result"))
                        .await;
                }
                (Some("result"), _) => {
                    assert_eq!(n.attr_str("id"), Some("srv-1"));
                    pong = true;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        s
    });
    let (_conn, _events) = connect(&opts, &client_key(), b"payload").await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn stream_error_401_ends_the_connection_as_logged_out() {
    let h = harness().await;
    let opts = h.options();
    let server = tokio::spawn(async move {
        let mut s = h.accept().await;
        s.send(&Node::new("stream:error").attr("code", "401")).await;
        s
    });
    let (conn, mut events) = connect(&opts, &client_key(), b"payload").await.unwrap();
    match next_event(&mut events).await {
        Event::Disconnected(Error::Auth(AuthError::LoggedOut)) => {}
        other => panic!("expected logged out, got {other:?}"),
    }
    let _server = server.await.unwrap();
    let err = conn
        .iq(Node::new("iq").attr("type", "get"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Closed), "{err:?}");
}

#[tokio::test]
async fn garbage_after_handshake_is_a_protocol_error() {
    let h = harness().await;
    let opts = h.options();
    let server = tokio::spawn(async move {
        let mut s = h.accept().await;
        s.send_frame(b"definitely not ciphertext").await;
        s
    });
    let (_conn, mut events) = connect(&opts, &client_key(), b"payload").await.unwrap();
    match next_event(&mut events).await {
        Event::Disconnected(Error::Protocol(ProtocolError::Noise(NoiseError::Decrypt))) => {}
        other => panic!("expected decrypt error, got {other:?}"),
    }
    let _server = server.await.unwrap();
}

#[tokio::test]
async fn untrusted_root_is_refused_at_connect() {
    let h = harness().await;
    let mut opts = h.options();
    opts.root_key = cert::PRODUCTION_ROOT_KEY;
    let server = tokio::spawn(async move {
        let (tcp, _) = h.listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let mut frames = ServerFrameDecoder::new();
        let hello = next_frame(&mut ws, &mut frames).await.unwrap();
        let chain = cert::issue_chain(
            &h.root,
            h.key.public(),
            &ChainParams {
                intermediate_serial: 1,
                leaf_serial: 2,
                not_before: 0,
                not_after: u64::MAX,
            },
            &mut rand::rng(),
        );
        let (_w, reply) = ServerHandshake::new(&h.key)
            .unwrap()
            .read_client_hello(&hello, &chain, &mut rand::rng())
            .unwrap();
        let mut out = Vec::new();
        frame::encode_frame(&reply, &mut out).unwrap();
        ws.send(Message::Binary(out.into())).await.unwrap();
        ws
    });
    let err = connect(&opts, &client_key(), b"payload").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Protocol(ProtocolError::Noise(NoiseError::Cert(
                CertError::UntrustedRoot
            )))
        ),
        "{err:?}"
    );
    let _ws = server.await.unwrap();
}

#[tokio::test]
async fn refused_tcp_is_a_network_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let opts = ConnectOptions {
        url: format!("ws://{addr}/ws/chat"),
        ..ConnectOptions::default()
    };
    let err = connect(&opts, &client_key(), b"payload").await.unwrap_err();
    assert!(matches!(err, Error::Network(_)), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn wss_to_a_server_that_is_not_tls_is_a_network_error() {
    use tokio::io::AsyncWriteExt;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let _ = tcp.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
    });
    let opts = ConnectOptions {
        url: format!("wss://{addr}/ws/chat"),
        ..ConnectOptions::default()
    };
    let err = connect(&opts, &client_key(), b"payload").await.unwrap_err();
    assert!(matches!(err, Error::Network(_)), "{err:?}");
    server.await.unwrap();
}
