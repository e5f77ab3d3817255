//! Media transfer: the `media_conn` handshake that names the media hosts,
//! and HTTPS upload and download of blobs sealed by [`wa_core::media`].
//!
//! - `<iq xmlns="w:m" type="set" to="s.whatsapp.net"><media_conn/></iq>` is
//!   answered with `<media_conn auth ttl auth_ttl max_buckets><host
//!   hostname/>...</media_conn>`; the answer is good for `ttl` seconds.
//! - Upload: `POST https://<host>/mms/<type>/<token>?auth=<auth>&token=<token>`
//!   with the blob as body, where `<token>` is the base64url SHA-256 of the
//!   blob (`fileEncSha256`) and `<type>` is [`MediaKind::mms_type`]. The host
//!   answers JSON `{"url", "direct_path"}`.
//! - Download: `GET https://<host><direct_path>` (whatsmeow adds
//!   `&hash=<token>&mms-type=<type>&__wa-mms=`, which we do too).
//!
//! The [`Client`](crate::Client) methods (`media_conn`, `upload`,
//! `download`, `history_sync`) drive this; the parsing and URL building here
//! do no I/O.

mod http;
#[cfg(test)]
mod tests;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::time::Instant;
use wa_core::binary::Node;
use wa_core::history::HistoryError;

pub use wa_core::media::MediaKind;

pub(crate) use http::Http;

/// Why a media transfer failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The `media_conn` IQ could not be sent or was refused (offline,
    /// timed out, or an IQ error).
    #[error("media_conn: {0}")]
    Connection(#[from] crate::Error),
    /// The `media_conn` answer lacks something we need.
    #[error("malformed media_conn answer: {0}")]
    BadMediaConn(&'static str),
    /// The configured media CA file could not be read or parsed.
    #[error("media CA {path}: {reason}")]
    Ca {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The HTTPS request failed before an answer (connect, TLS, timeout).
    #[error("media transport: {0}")]
    Transport(String),
    /// The media host answered with an error status.
    #[error("media host answered {status}")]
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// The upload answer was not the JSON we expect.
    #[error("unexpected upload answer: {0}")]
    BadResponse(String),
    /// The download is larger than its limit ([`MAX_DOWNLOAD`] at most).
    #[error("media larger than {limit} bytes")]
    TooLarge {
        /// The limit of that download, in bytes.
        limit: u64,
    },
    /// A direct path that does not start with `/`.
    #[error("direct path does not start with '/'")]
    BadDirectPath,
    /// The downloaded blob failed a check (hash, MAC, padding).
    #[error(transparent)]
    Decrypt(#[from] wa_core::media::MediaError),
    /// A history-sync chunk could not be located or unpacked.
    #[error(transparent)]
    History(#[from] HistoryError),
}

/// The most bytes one download may have (blobs are held in memory).
pub const MAX_DOWNLOAD: u64 = 512 << 20;

/// The media hosts and the upload credential, from `media_conn`.
/// `Debug` does not show the auth token.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaConn {
    auth: String,
    ttl: Duration,
    auth_ttl: Option<Duration>,
    max_buckets: Option<u32>,
    hosts: Vec<String>,
    fetched_at: Instant,
}

impl std::fmt::Debug for MediaConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaConn")
            .field("hosts", &self.hosts)
            .field("ttl", &self.ttl)
            .field("auth_ttl", &self.auth_ttl)
            .field("max_buckets", &self.max_buckets)
            .finish_non_exhaustive()
    }
}

impl MediaConn {
    /// The IQ that asks for it.
    pub fn request() -> Node {
        Node::new("iq")
            .attr("xmlns", "w:m")
            .attr("type", "set")
            .attr("to", wa_core::jid::Jid::server_jid())
            .children(vec![Node::new("media_conn")])
    }

    /// Reads the answer to [`MediaConn::request`] (the IQ result, or its
    /// `<media_conn>` child), received at `now`. `auth`, `ttl` and at least
    /// one host with a hostname are required.
    pub fn parse(answer: &Node, now: Instant) -> Result<MediaConn, MediaError> {
        let mc = if answer.tag == "media_conn" {
            answer
        } else {
            answer
                .child("media_conn")
                .ok_or(MediaError::BadMediaConn("no <media_conn>"))?
        };
        let auth = mc
            .attr_str("auth")
            .filter(|a| !a.is_empty())
            .ok_or(MediaError::BadMediaConn("no auth"))?
            .to_owned();
        let secs = |key| mc.attr_str(key).and_then(|s| s.parse::<u64>().ok());
        let ttl = secs("ttl").ok_or(MediaError::BadMediaConn("no ttl"))?;
        let hosts: Vec<String> = mc
            .children_by_tag("host")
            .filter_map(|h| h.attr_str("hostname"))
            .filter(|h| !h.is_empty() && !h.contains(['/', '?', '#', '@']))
            .map(str::to_owned)
            .collect();
        if hosts.is_empty() {
            return Err(MediaError::BadMediaConn("no host"));
        }
        Ok(MediaConn {
            auth,
            ttl: Duration::from_secs(ttl),
            auth_ttl: secs("auth_ttl").map(Duration::from_secs),
            max_buckets: secs("max_buckets").and_then(|n| u32::try_from(n).ok()),
            hosts,
            fetched_at: now,
        })
    }

    /// Hostnames (with port, if any), in the server's order of preference.
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// How long the answer is good for.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How long the auth token is good for, if the server said.
    pub fn auth_ttl(&self) -> Option<Duration> {
        self.auth_ttl
    }

    /// Whether the answer should be fetched again at `now`.
    pub fn expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.fetched_at) >= self.ttl
    }

    /// The upload URL of a blob of `kind` whose SHA-256 is `file_enc_sha256`,
    /// on `host`.
    pub fn upload_url(&self, host: &str, kind: MediaKind, file_enc_sha256: &[u8]) -> String {
        let token = URL_SAFE_NO_PAD.encode(file_enc_sha256);
        format!(
            "https://{host}/mms/{}/{token}?auth={}&token={token}",
            kind.mms_type(),
            form_encode(&self.auth),
        )
    }
}

/// The download URL of `direct_path` on `host`.
pub fn download_url(
    host: &str,
    direct_path: &str,
    kind: MediaKind,
    file_enc_sha256: Option<&[u8]>,
) -> Result<String, MediaError> {
    if !direct_path.starts_with('/') {
        return Err(MediaError::BadDirectPath);
    }
    let sep = if direct_path.contains('?') { '&' } else { '?' };
    let hash = file_enc_sha256
        .map(|h| URL_SAFE_NO_PAD.encode(h))
        .unwrap_or_default();
    Ok(format!(
        "https://{host}{direct_path}{sep}hash={hash}&mms-type={}&__wa-mms=",
        kind.mms_type()
    ))
}

/// What an upload gives the message that points at it.
#[derive(Clone, PartialEq, Eq)]
pub struct UploadedMedia {
    /// Full URL (`url` in media messages).
    pub url: String,
    /// Path on any media host (`directPath`).
    pub direct_path: String,
    /// `mediaKey`.
    pub media_key: [u8; 32],
    /// `fileSha256`: of the plaintext.
    pub file_sha256: [u8; 32],
    /// `fileEncSha256`: of the uploaded blob.
    pub file_enc_sha256: [u8; 32],
    /// `fileLength`: of the plaintext.
    pub file_length: u64,
}

impl std::fmt::Debug for UploadedMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadedMedia")
            .field("direct_path", &self.direct_path)
            .field("file_length", &self.file_length)
            .finish_non_exhaustive()
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
