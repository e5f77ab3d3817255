//! Errors of the appservice layer.

use std::error::Error as StdError;
use std::fmt;

use serde_json::Value;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A handler could not process a transaction. The transaction is answered
/// 500 and not marked processed, so the homeserver sends it again.
#[derive(Debug, thiserror::Error)]
#[error("transaction handler failed: {0}")]
pub struct HandlerError(#[source] pub BoxError);

impl HandlerError {
    /// Wraps any error.
    pub fn new(e: impl Into<BoxError>) -> Self {
        Self(e.into())
    }
}

/// A [`TransactionStore`](super::TransactionStore) failed.
#[derive(Debug, thiserror::Error)]
#[error("transaction store failed: {0}")]
pub struct TxnStoreError(#[source] pub BoxError);

impl TxnStoreError {
    /// Wraps any error.
    pub fn new(e: impl Into<BoxError>) -> Self {
        Self(e.into())
    }
}

/// The appservice HTTP server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Accepting or serving connections failed.
    #[error("appservice server i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// An error response from the homeserver (`{errcode, error}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixError {
    /// HTTP status.
    pub status: u16,
    /// `errcode`, e.g. `M_FORBIDDEN`; `M_UNKNOWN` when the body had none.
    pub errcode: String,
    /// `error`, the human-readable message (may be empty).
    pub error: String,
    /// `retry_after_ms` of an `M_LIMIT_EXCEEDED`, or the `Retry-After` header.
    pub retry_after_ms: Option<u64>,
}

impl fmt::Display for MatrixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.errcode)?;
        if !self.error.is_empty() {
            write!(f, ": {}", self.error)?;
        }
        Ok(())
    }
}

impl StdError for MatrixError {}

/// At most this much of a non-JSON error body is kept as the message.
const MAX_ERROR_TEXT: usize = 200;

impl MatrixError {
    /// Builds the error of a non-2xx response from its status and body.
    /// Never fails: a body that is not a Matrix error becomes `M_UNKNOWN`
    /// with (the start of) the body as message.
    pub fn from_response(status: u16, body: &[u8], retry_after_header_ms: Option<u64>) -> Self {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let field = |k: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let errcode = field("errcode");
        let error = match (&errcode, field("error")) {
            (_, Some(e)) => e,
            (Some(_), None) => String::new(),
            (None, None) => {
                let text = String::from_utf8_lossy(body);
                let mut end = text.len().min(MAX_ERROR_TEXT);
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text.get(..end).unwrap_or_default().trim().to_owned()
            }
        };
        let retry_after_ms = parsed
            .as_ref()
            .and_then(|v| v.get("retry_after_ms"))
            .and_then(Value::as_u64)
            .or(retry_after_header_ms);
        Self {
            status,
            errcode: errcode.unwrap_or_else(|| "M_UNKNOWN".to_owned()),
            error,
            retry_after_ms,
        }
    }

    /// True for this `errcode`.
    pub fn is(&self, errcode: &str) -> bool {
        self.errcode == errcode
    }
}

/// A request to the homeserver failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The homeserver answered with an error.
    #[error("homeserver error: {0}")]
    Matrix(#[from] MatrixError),
    /// The request did not get an answer (connect, TLS, timeout, reset).
    #[error("request to homeserver failed: {0}")]
    Network(#[source] reqwest::Error),
    /// The homeserver URL in the configuration is unusable.
    #[error("invalid homeserver url: {0}")]
    InvalidUrl(String),
    /// A 2xx answer whose body is not what the spec says.
    #[error("invalid response from homeserver: {0}")]
    InvalidResponse(String),
    /// An `mxc://` URI that is not `mxc://<server>/<media id>`.
    #[error("invalid mxc uri: {0:?}")]
    InvalidMxc(String),
    /// An event's content could not be written as JSON.
    #[error("event content not writable: {0}")]
    Content(String),
    /// A download exceeded the configured size limit.
    #[error("media larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
}

impl ClientError {
    /// The Matrix error, if the homeserver answered with one.
    pub fn matrix(&self) -> Option<&MatrixError> {
        match self {
            Self::Matrix(e) => Some(e),
            _ => None,
        }
    }

    /// True if the homeserver answered with this `errcode`.
    pub fn is(&self, errcode: &str) -> bool {
        self.matrix().is_some_and(|e| e.is(errcode))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_matrix_errors() {
        let e = MatrixError::from_response(
            429,
            br#"{"errcode":"M_LIMIT_EXCEEDED","error":"slow down","retry_after_ms":1500}"#,
            Some(9000),
        );
        assert_eq!(e.errcode, "M_LIMIT_EXCEEDED");
        assert_eq!(e.error, "slow down");
        assert_eq!(e.retry_after_ms, Some(1500));
        assert_eq!(e.to_string(), "429 M_LIMIT_EXCEEDED: slow down");

        let e = MatrixError::from_response(403, br#"{"errcode":"M_FORBIDDEN"}"#, None);
        assert_eq!(
            (e.status, e.errcode.as_str(), e.error.as_str()),
            (403, "M_FORBIDDEN", "")
        );
        assert_eq!(e.to_string(), "403 M_FORBIDDEN");
    }

    #[test]
    fn non_json_errors_become_unknown() {
        let e = MatrixError::from_response(502, b"<html>Bad Gateway</html>", Some(2000));
        assert_eq!(e.errcode, "M_UNKNOWN");
        assert_eq!(e.error, "<html>Bad Gateway</html>");
        assert_eq!(e.retry_after_ms, Some(2000));

        let long = "é".repeat(300);
        let e = MatrixError::from_response(500, long.as_bytes(), None);
        assert!(e.error.len() <= MAX_ERROR_TEXT);

        let e = MatrixError::from_response(500, b"[1,2]", None);
        assert_eq!(e.errcode, "M_UNKNOWN");
        let e = MatrixError::from_response(500, &[0xff, 0xfe], None);
        assert_eq!(e.errcode, "M_UNKNOWN");
    }

    #[test]
    fn client_error_helpers() {
        let e = ClientError::from(MatrixError::from_response(
            400,
            br#"{"errcode":"M_USER_IN_USE","error":"taken"}"#,
            None,
        ));
        assert!(e.is("M_USER_IN_USE"));
        assert!(!ClientError::InvalidMxc("x".into()).is("M_USER_IN_USE"));
    }
}
