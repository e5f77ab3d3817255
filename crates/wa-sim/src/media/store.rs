//! What the media host keeps, and the rules an upload must pass: the
//! `media_conn` auth, a known media type, a path token that is the
//! base64url SHA-256 of the body (WhatsApp's `fileEncSha256`), and a size
//! bound. No I/O here: the HTTP layer feeds requests in.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use sha2::{Digest as _, Sha256};

/// The largest blob taken: as much as our client downloads (real servers
/// take more; the benchmarks send a 100 MB video).
pub(crate) const MAX_BLOB: usize = 512 << 20;

/// Why an upload was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UploadError {
    /// `auth` is missing or is not the one `media_conn` handed out.
    #[error("bad or missing auth")]
    Unauthorized,
    /// The path is not `/mms/<type>/<token>` with a type we serve.
    #[error("unknown media type")]
    UnknownType,
    /// The token is not base64url of 32 bytes.
    #[error("token is not the base64url of a SHA-256")]
    BadToken,
    /// The body does not hash to the token.
    #[error("body does not hash to the token")]
    HashMismatch,
    /// The body is larger than [`MAX_BLOB`].
    #[error("body too large")]
    TooLarge,
}

impl UploadError {
    /// The HTTP status this refusal is answered with.
    pub(crate) fn status(self) -> u16 {
        match self {
            UploadError::Unauthorized => 401,
            UploadError::UnknownType => 404,
            UploadError::BadToken | UploadError::HashMismatch => 400,
            UploadError::TooLarge => 413,
        }
    }
}

/// An upload that passed the checks made before its body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    /// The `t62.*` segment of the direct path, by media type.
    class: &'static str,
    /// The SHA-256 the body must have.
    hash: [u8; 32],
}

/// Where a stored blob can be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Uploaded {
    /// `https://<host><direct_path>`.
    pub(crate) url: String,
    /// `/v/t62.<class>/<name>.enc?<query>`.
    pub(crate) direct_path: String,
}

/// How the host fails a download, for tests of bad media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaFault {
    /// Answer with this HTTP status and no blob.
    Status(u16),
    /// Declare the whole blob's length but send only this many bytes,
    /// then close the connection.
    Truncate(usize),
}

/// The blobs of one media host, by direct path (without its query).
#[derive(Debug)]
pub(crate) struct Store {
    host: String,
    auth: String,
    blobs: Mutex<HashMap<String, Bytes>>,
    faults: Mutex<HashMap<String, MediaFault>>,
}

impl Store {
    /// An empty store for `host` (`127.0.0.1:PORT`) that accepts `auth`.
    pub(crate) fn new(host: String, auth: String) -> Store {
        Store {
            host,
            auth,
            blobs: Mutex::new(HashMap::new()),
            faults: Mutex::new(HashMap::new()),
        }
    }

    /// The `media_conn` auth uploads must carry.
    pub(crate) fn auth(&self) -> &str {
        &self.auth
    }

    /// The host, as `media_conn` names it.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// Checks an upload of `kind` with path `token` and query `auth` before
    /// its body is read.
    pub(crate) fn admit(
        &self,
        kind: &str,
        token: &str,
        auth: Option<&str>,
    ) -> Result<Ticket, UploadError> {
        if auth != Some(self.auth.as_str()) {
            return Err(UploadError::Unauthorized);
        }
        let class = class_of(kind).ok_or(UploadError::UnknownType)?;
        // Baileys strips the padding, whatsmeow keeps it.
        let hash = URL_SAFE_NO_PAD
            .decode(token.trim_end_matches('='))
            .ok()
            .and_then(|h| <[u8; 32]>::try_from(h).ok())
            .ok_or(UploadError::BadToken)?;
        Ok(Ticket { class, hash })
    }

    /// Stores `body` if it hashes to the ticket's token.
    pub(crate) fn put(&self, ticket: Ticket, body: Bytes) -> Result<Uploaded, UploadError> {
        if body.len() > MAX_BLOB {
            return Err(UploadError::TooLarge);
        }
        if Sha256::digest(&body).as_slice() != ticket.hash {
            return Err(UploadError::HashMismatch);
        }
        let (path, direct_path) = direct_path(ticket.class);
        self.blobs().insert(path, body);
        Ok(Uploaded {
            url: format!("https://{}{direct_path}", self.host),
            direct_path,
        })
    }

    /// The blob at `path` (a direct path; its query is ignored).
    pub(crate) fn get(&self, path: &str) -> Option<Bytes> {
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        self.blobs().get(path).cloned()
    }

    /// Fails downloads of `path` (without its query) as `fault` says.
    pub(crate) fn set_fault(&self, path: &str, fault: MediaFault) {
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        self.faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path.to_owned(), fault);
    }

    /// The fault set for `path`, if any.
    pub(crate) fn fault(&self, path: &str) -> Option<MediaFault> {
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        self.faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(path)
            .copied()
    }

    fn blobs(&self) -> std::sync::MutexGuard<'_, HashMap<String, Bytes>> {
        self.blobs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The `t62.*` class real direct paths carry for each upload type (the one
/// for app state and history blobs is made up).
fn class_of(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "image" => "t62.7118-24",
        "video" => "t62.7161-24",
        "audio" => "t62.7117-24",
        "document" => "t62.7119-24",
        "md-app-state" | "md-msg-hist" => "t62.36145-24",
        _ => return None,
    })
}

/// A fresh direct path shaped like a real one: `(path, path?query)`.
fn direct_path(class: &str) -> (String, String) {
    let (a, b, c): (u32, u64, u64) = rand::random();
    let oh: [u8; 16] = rand::random();
    let path = format!(
        "/v/{class}/{}_{}_{}_n.enc",
        a % 1_000_000_000,
        b % 10_000_000_000_000_000,
        c % 10_000_000_000_000_000_000
    );
    let expires = crate::server::unix_now() + 30 * 24 * 3600;
    let full = format!(
        "{path}?ccb=11-4&oh=01_{}&oe={expires:08X}&_nc_sid=5e03e0",
        URL_SAFE_NO_PAD.encode(oh)
    );
    (path, full)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn token(body: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(body))
    }

    #[test]
    fn an_upload_is_stored_under_its_direct_path() {
        let store = Store::new("127.0.0.1:1".into(), "sekrit".into());
        let body = Bytes::from_static(b"ciphertext and mac");
        let ticket = store
            .admit("document", &token(&body), Some("sekrit"))
            .unwrap();
        let up = store.put(ticket, body.clone()).unwrap();
        assert!(up.direct_path.starts_with("/v/t62.7119-24/"), "{up:?}");
        assert_eq!(up.url, format!("https://127.0.0.1:1{}", up.direct_path));
        assert_eq!(store.get(&up.direct_path), Some(body.clone()));
        let bare = up.direct_path.split('?').next().unwrap();
        assert_eq!(store.get(bare), Some(body));
        assert_eq!(store.get("/v/t62.7119-24/nope_n.enc"), None);
    }

    #[test]
    fn uploads_are_checked() {
        let store = Store::new("h".into(), "sekrit".into());
        let t = token(b"x");
        assert_eq!(
            store.admit("image", &t, None),
            Err(UploadError::Unauthorized)
        );
        assert_eq!(
            store.admit("image", &t, Some("other")),
            Err(UploadError::Unauthorized)
        );
        assert_eq!(
            store.admit("pdf", &t, Some("sekrit")),
            Err(UploadError::UnknownType)
        );
        assert_eq!(
            store.admit("image", "not*base64", Some("sekrit")),
            Err(UploadError::BadToken)
        );
        assert_eq!(
            store.admit("image", "AAAA", Some("sekrit")),
            Err(UploadError::BadToken)
        );
        // whatsmeow's padded token is fine too.
        let padded = base64::engine::general_purpose::URL_SAFE.encode(Sha256::digest(b"x"));
        assert!(padded.ends_with('='));
        let ticket = store.admit("image", &padded, Some("sekrit")).unwrap();
        assert_eq!(
            store.put(ticket, Bytes::from_static(b"y")),
            Err(UploadError::HashMismatch)
        );
        assert!(store.put(ticket, Bytes::from_static(b"x")).is_ok());
        let huge = Bytes::from(vec![0; MAX_BLOB + 1]);
        assert_eq!(store.put(ticket, huge), Err(UploadError::TooLarge));
    }
}
