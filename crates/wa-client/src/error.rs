//! Errors of the client driver, split by who is at fault: the network, the
//! protocol (either side speaking it wrong), or the server's verdict on us.

use wa_core::binary::{DecodeError, EncodeError, Node};
use wa_core::frame::FrameError;
use wa_core::noise::NoiseError;

/// A failure of the connection or of one request on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The socket could not be opened, or broke.
    #[error("network: {0}")]
    Network(String),
    /// Bytes or nodes that do not follow the protocol.
    #[error("protocol: {0}")]
    Protocol(#[from] ProtocolError),
    /// The server refused us or ended the stream with a reason.
    #[error("server: {0}")]
    Auth(#[from] AuthError),
    /// No answer in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// An IQ answered with `type="error"`.
    #[error("iq error {code}: {text}")]
    Iq {
        /// The `code` attribute of the `<error>` child.
        code: u16,
        /// The `text` attribute, if any.
        text: String,
        /// The whole answer, for callers that read more.
        node: Box<Node>,
    },
    /// The connection is closed (see the event stream for why).
    #[error("connection closed")]
    Closed,
}

/// Protocol violations, ours or the server's.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// Framing (header, lengths).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Noise handshake or transport, including certificate checks.
    #[error(transparent)]
    Noise(#[from] NoiseError),
    /// A frame that is not a node.
    #[error("undecodable node: {0}")]
    Decode(#[from] DecodeError),
    /// A node we could not encode.
    #[error("unencodable node: {0}")]
    Encode(#[from] EncodeError),
    /// A WebSocket message of a kind the protocol never uses.
    #[error("unexpected websocket message: {0}")]
    UnexpectedMessage(&'static str),
}

/// The server's verdict, from `<stream:error>` or `<failure>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// 401: this device was logged out (unlinked, or unknown to the server).
    #[error("logged out (401)")]
    LoggedOut,
    /// 403: the account is banned or the connection forbidden.
    #[error("forbidden (403)")]
    Forbidden,
    /// 405: the server considers this client version outdated.
    #[error("client version outdated (405)")]
    ClientOutdated,
    /// 515: the server asks for a reconnect (after pairing, for one).
    #[error("restart required (515)")]
    RestartRequired,
    /// Another connection of this device replaced this one.
    #[error("replaced by another connection")]
    Replaced,
    /// 503: the service is unavailable for now.
    #[error("service unavailable (503)")]
    ServiceUnavailable,
    /// Any other stream error or failure.
    #[error("stream error {code}: {text}")]
    Other {
        /// The code or reason.
        code: u16,
        /// Text from the node, if any.
        text: String,
    },
}

impl AuthError {
    /// The verdict a `<stream:error>` or `<failure>` node carries, if it is one.
    pub fn from_node(node: &Node) -> Option<AuthError> {
        let code_attr = match node.tag.as_ref() {
            "stream:error" => "code",
            "failure" => "reason",
            _ => return None,
        };
        // `<conflict type="replaced"/>`: another connection took over;
        // `type="device_removed"` comes with code 401 (whatsmeow
        // `connectionevents.go` handleStreamError).
        if node
            .child("conflict")
            .is_some_and(|c| c.attr_str("type") != Some("device_removed"))
        {
            return Some(AuthError::Replaced);
        }
        let code = node
            .attr_str(code_attr)
            .and_then(|c| c.parse::<u16>().ok())
            .unwrap_or(0);
        Some(match code {
            401 => AuthError::LoggedOut,
            403 => AuthError::Forbidden,
            405 => AuthError::ClientOutdated,
            515 => AuthError::RestartRequired,
            503 => AuthError::ServiceUnavailable,
            code => AuthError::Other {
                code,
                text: node
                    .attr_str("text")
                    .or_else(|| node.child_nodes().first().map(|c| c.tag.as_ref()))
                    .unwrap_or_default()
                    .to_owned(),
            },
        })
    }
}

impl Error {
    /// True when reconnecting may help (network trouble, restarts, timeouts);
    /// false when the server's verdict is final (logged out, banned, outdated).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Network(_) | Error::Timeout(_) | Error::Closed => true,
            Error::Auth(a) => matches!(
                a,
                AuthError::RestartRequired
                    | AuthError::ServiceUnavailable
                    | AuthError::Other { .. }
            ),
            Error::Protocol(_) | Error::Iq { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_errors_map_to_verdicts() {
        let n = |code: &'static str| Node::new("stream:error").attr("code", code);
        assert_eq!(AuthError::from_node(&n("401")), Some(AuthError::LoggedOut));
        assert_eq!(
            AuthError::from_node(&n("515")),
            Some(AuthError::RestartRequired)
        );
        let f = Node::new("failure").attr("reason", "405");
        assert_eq!(AuthError::from_node(&f), Some(AuthError::ClientOutdated));
        let c = Node::new("stream:error")
            .children(vec![Node::new("conflict").attr("type", "replaced")]);
        assert_eq!(AuthError::from_node(&c), Some(AuthError::Replaced));
        let removed = n("401").children(vec![Node::new("conflict").attr("type", "device_removed")]);
        assert_eq!(AuthError::from_node(&removed), Some(AuthError::LoggedOut));
        assert_eq!(AuthError::from_node(&Node::new("iq")), None);
        assert!(!Error::Auth(AuthError::LoggedOut).is_retryable());
        assert!(Error::Auth(AuthError::RestartRequired).is_retryable());
    }
}
