//! One connection after the handshake: encrypted nodes in and out.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use wa_core::binary::{self, Node};
use wa_core::frame::{self, ServerFrameDecoder};
use wa_core::jid::Jid;
use wa_core::noise::CipherState;

use super::ConnError;

/// The WebSocket and the frame decoder, before and after the handshake.
pub(crate) struct Conn {
    pub(crate) ws: WebSocketStream<TcpStream>,
    pub(crate) frames: ServerFrameDecoder,
}

impl Conn {
    /// The next frame; cancel-safe (partial input stays in the decoder).
    pub(crate) async fn next_frame(&mut self) -> Result<Vec<u8>, ConnError> {
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

    pub(crate) async fn send_frame(&mut self, payload: &[u8]) -> Result<(), ConnError> {
        let mut out = Vec::with_capacity(payload.len() + 3);
        frame::encode_frame(payload, &mut out)?;
        self.ws.send(Message::Binary(out.into())).await?;
        Ok(())
    }
}

/// An encrypted session.
pub(crate) struct Session {
    pub(crate) conn: Conn,
    pub(crate) send: CipherState,
    pub(crate) recv: CipherState,
    ids: u64,
}

impl Session {
    pub(crate) fn new(conn: Conn, send: CipherState, recv: CipherState) -> Session {
        Session {
            conn,
            send,
            recv,
            ids: 0,
        }
    }

    pub(crate) fn next_id(&mut self) -> String {
        self.ids += 1;
        format!("sim-{}", self.ids)
    }

    pub(crate) async fn send(&mut self, node: &Node) -> Result<(), ConnError> {
        let ct = self.send.encrypt(&binary::encode(node)?)?;
        self.conn.send_frame(&ct).await
    }

    /// The next node; cancel-safe.
    pub(crate) async fn recv(&mut self) -> Result<Node, ConnError> {
        let f = self.conn.next_frame().await?;
        Ok(binary::decode(&self.recv.decrypt(&f)?)?)
    }

    /// Ends the stream with `<stream:error code=..>` and closes the socket.
    pub(crate) async fn stream_error(&mut self, code: &'static str) -> Result<(), ConnError> {
        self.end_stream(Node::new("stream:error").attr("code", code))
            .await
    }

    /// Ends the stream of a device that was unlinked (by the phone, or by
    /// itself): `<stream:error code="401"><conflict type="device_removed"/>`.
    pub(crate) async fn device_removed(&mut self) -> Result<(), ConnError> {
        let error = Node::new("stream:error")
            .attr("code", "401")
            .children(vec![Node::new("conflict").attr("type", "device_removed")]);
        self.end_stream(error).await
    }

    async fn end_stream(&mut self, error: Node) -> Result<(), ConnError> {
        self.send(&error).await?;
        // The peer reads the error before the socket goes: a client that
        // handles frames in a queue (Baileys) could otherwise see the close
        // first and report a dropped connection instead of the verdict.
        let drain = async { while self.conn.next_frame().await.is_ok() {} };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), drain).await;
        let _ = self.conn.ws.close(None).await;
        Ok(())
    }

    /// Answers an IQ the simulator does not know: 501, as the real service does.
    pub(crate) async fn not_implemented(&mut self, id: &str) -> Result<(), ConnError> {
        self.error(id, "501", "feature-not-implemented").await
    }

    /// An IQ error answer with `code` and `text`.
    pub(crate) async fn error(
        &mut self,
        id: &str,
        code: &'static str,
        text: &'static str,
    ) -> Result<(), ConnError> {
        let err = Node::new("iq")
            .attr("from", Jid::server_jid())
            .attr("type", "error")
            .attr("id", id.to_owned())
            .children(vec![
                Node::new("error").attr("code", code).attr("text", text),
            ]);
        self.send(&err).await
    }

    /// An empty `type=result` answer to `id`.
    pub(crate) async fn result(&mut self, id: &str, children: Vec<Node>) -> Result<(), ConnError> {
        let mut iq = Node::new("iq")
            .attr("from", Jid::server_jid())
            .attr("type", "result")
            .attr("id", id.to_owned());
        if !children.is_empty() {
            iq = iq.children(children);
        }
        self.send(&iq).await
    }
}
