//! The HTTPS side of media transfer: one reqwest client (connection pool,
//! webpki roots plus an optional extra CA) and the two requests.

use std::path::Path;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, ORIGIN, REFERER};
use reqwest::{Certificate, StatusCode};

use super::{MAX_DOWNLOAD, MediaError};

/// Time allowed for TCP and TLS.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// Time allowed between two reads of a response.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// The web client's origin, which the media hosts expect.
const WEB_ORIGIN: &str = "https://web.whatsapp.com";

/// What an upload answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    pub(crate) url: Option<String>,
    pub(crate) direct_path: String,
}

/// An HTTPS client for media hosts.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
}

impl Http {
    /// A client trusting the webpki roots and, if given, every certificate
    /// in the PEM file `extra_ca`.
    pub(crate) fn new(extra_ca: Option<&Path>) -> Result<Http, MediaError> {
        let mut builder = reqwest::Client::builder()
            .https_only(true)
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT);
        if let Some(path) = extra_ca {
            let ca_error = |reason: String| MediaError::Ca {
                path: path.display().to_string(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
            let certs = Certificate::from_pem_bundle(&pem).map_err(|e| ca_error(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca_error("no certificate in the file".to_owned()));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| MediaError::Transport(e.to_string()))?;
        Ok(Http { client })
    }

    /// POSTs `blob` to `url`; the host's JSON answer names where it is.
    pub(crate) async fn upload(&self, url: &str, blob: bytes::Bytes) -> Result<Stored, MediaError> {
        let resp = self
            .client
            .post(url)
            .header(ORIGIN, WEB_ORIGIN)
            .header(REFERER, format!("{WEB_ORIGIN}/"))
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(blob)
            .send()
            .await
            .map_err(transport)?;
        check(resp.status())?;
        let body = resp.bytes().await.map_err(transport)?;
        parse_upload_answer(&body)
    }

    /// GETs `url`, at most `limit` bytes: a declared length over it is
    /// refused before the body, a body growing past it as it comes.
    pub(crate) async fn download(&self, url: &str, limit: u64) -> Result<Vec<u8>, MediaError> {
        let limit = limit.min(MAX_DOWNLOAD);
        let mut resp = self
            .client
            .get(url)
            .header(ORIGIN, WEB_ORIGIN)
            .header(REFERER, format!("{WEB_ORIGIN}/"))
            .send()
            .await
            .map_err(transport)?;
        check(resp.status())?;
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(MediaError::TooLarge { limit });
        }
        // Sized once from the declared length: growing by doubling would
        // hold old and new buffers at once.
        let declared = resp.content_length().unwrap_or(0);
        let mut out = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            if (out.len() + chunk.len()) as u64 > limit {
                return Err(MediaError::TooLarge { limit });
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

/// The error and its causes on one line (reqwest's own message is only the
/// outermost, e.g. "error sending request").
fn transport(e: reqwest::Error) -> MediaError {
    // The URL carries the upload auth: keep it out of the message.
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    MediaError::Transport(text)
}

fn check(status: StatusCode) -> Result<(), MediaError> {
    if status.is_success() {
        Ok(())
    } else {
        Err(MediaError::Status {
            status: status.as_u16(),
        })
    }
}

/// Reads `{"url": .., "direct_path": ..}`; `direct_path` is required.
pub(crate) fn parse_upload_answer(body: &[u8]) -> Result<Stored, MediaError> {
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| MediaError::BadResponse(e.to_string()))?;
    let field = |k: &str| json.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let direct_path = field("direct_path")
        .filter(|p| p.starts_with('/'))
        .ok_or_else(|| MediaError::BadResponse("no direct_path".to_owned()))?;
    Ok(Stored {
        url: field("url"),
        direct_path,
    })
}
