//! History-sync chunks: where a chunk comes from and how it is unpacked.
//!
//! The phone announces each chunk with a `protocolMessage` of type
//! `HISTORY_SYNC_NOTIFICATION`. Small first chunks ride inline
//! (`initialHistBootstrapInlinePayload`); the rest are media blobs of kind
//! [`MediaKind::History`](crate::media::MediaKind::History). Either way the
//! bytes are a zlib stream (RFC 1950, with header) of one encoded
//! [`HistorySync`]. Nothing here does I/O.

use std::io::Read as _;

use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use prost::Message as _;

use crate::proto::HistorySync;
use crate::proto::message::HistorySyncNotification;

/// The most bytes a chunk may inflate to. Real chunks are a few MiB; the cap
/// refuses zip bombs (zlib reaches ~1000:1) before they exhaust memory.
pub const MAX_INFLATED: usize = 256 << 20;

/// Why a chunk could not be unpacked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// Not a valid zlib stream (garbage, or truncated).
    #[error("history chunk is not a valid zlib stream: {0}")]
    Inflate(String),
    /// Inflates to more than the cap.
    #[error("history chunk inflates to more than {limit} bytes")]
    TooLarge {
        /// The cap that was hit.
        limit: usize,
    },
    /// Inflated, but not a HistorySync.
    #[error("history chunk is not a HistorySync: {0}")]
    Decode(#[from] prost::DecodeError),
    /// The notification names neither an inline payload nor a blob to fetch.
    #[error("history notification has no payload and no {0}")]
    MissingField(&'static str),
}

/// Where the bytes of a chunk are.
#[derive(Clone, PartialEq, Eq)]
pub enum Source {
    /// In the notification itself, still compressed: feed to
    /// [`decode_blob`].
    Inline(Vec<u8>),
    /// A media blob to download, decrypt as
    /// [`MediaKind::History`](crate::media::MediaKind::History), then feed to
    /// [`decode_blob`].
    Download {
        /// Path on a media host.
        direct_path: String,
        /// Key the blob's keys are derived from.
        media_key: Vec<u8>,
        /// SHA-256 of the decrypted (still compressed) chunk.
        file_sha256: Option<Vec<u8>>,
        /// SHA-256 of the blob as downloaded.
        file_enc_sha256: Option<Vec<u8>>,
        /// Length of the decrypted chunk.
        file_length: Option<u64>,
    },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Inline(bytes) => f.debug_tuple("Inline").field(&bytes.len()).finish(),
            Source::Download {
                direct_path,
                file_length,
                ..
            } => f
                .debug_struct("Download")
                .field("direct_path", direct_path)
                .field("file_length", file_length)
                .finish_non_exhaustive(),
        }
    }
}

/// Where the chunk `notification` announces is: inline when the payload is
/// there (even if a direct path is too), else a download, which needs a
/// direct path and a media key.
pub fn notification_source(notification: &HistorySyncNotification) -> Result<Source, HistoryError> {
    if let Some(inline) = &notification.initial_hist_bootstrap_inline_payload {
        return Ok(Source::Inline(inline.clone()));
    }
    let direct_path = notification
        .direct_path
        .clone()
        .filter(|p| !p.is_empty())
        .ok_or(HistoryError::MissingField("directPath"))?;
    let media_key = notification
        .media_key
        .clone()
        .filter(|k| !k.is_empty())
        .ok_or(HistoryError::MissingField("mediaKey"))?;
    Ok(Source::Download {
        direct_path,
        media_key,
        file_sha256: notification.file_sha256.clone(),
        file_enc_sha256: notification.file_enc_sha256.clone(),
        file_length: notification.file_length,
    })
}

/// Inflates and decodes one chunk, refusing more than [`MAX_INFLATED`]
/// bytes of output.
pub fn decode_blob(compressed: &[u8]) -> Result<HistorySync, HistoryError> {
    decode_blob_capped(compressed, MAX_INFLATED)
}

/// [`decode_blob`] with another cap on the inflated size.
pub fn decode_blob_capped(compressed: &[u8], limit: usize) -> Result<HistorySync, HistoryError> {
    let raw = inflate(compressed, limit)?;
    Ok(HistorySync::decode(raw.as_slice())?)
}

/// Encodes and compresses one chunk, as a phone does.
pub fn encode_blob(sync: &HistorySync) -> Vec<u8> {
    let raw = sync.encode_to_vec();
    let mut encoder = ZlibEncoder::new(
        Vec::with_capacity(raw.len() / 2 + 64),
        Compression::default(),
    );
    // Writing into a Vec cannot fail.
    let _ = std::io::Write::write_all(&mut encoder, &raw);
    encoder.finish().unwrap_or_default()
}

/// Inflates a zlib stream into at most `limit` bytes.
fn inflate(compressed: &[u8], limit: usize) -> Result<Vec<u8>, HistoryError> {
    let mut out = Vec::with_capacity(compressed.len().saturating_mul(4).min(limit).min(1 << 20));
    // One byte past the cap tells "exactly at the cap" from "over it".
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    ZlibDecoder::new(compressed)
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| HistoryError::Inflate(e.to_string()))?;
    if out.len() > limit {
        return Err(HistoryError::TooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
