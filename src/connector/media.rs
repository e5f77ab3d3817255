//! Attachments both ways: WhatsApp images, videos, GIFs, audio, voice notes,
//! documents and stickers into the Matrix media repository and back.
//!
//! Each direction is a pure mapping (message to event content in
//! `to_matrix/media.rs`, event content to message in `from_matrix/media.rs`,
//! unit-tested) and one async step here that moves the bytes: the
//! WhatsApp client downloads and checks a blob (hashes, MAC), the homeserver
//! stores it; or the homeserver hands a file out (authenticated media) and
//! the WhatsApp client seals and uploads it.
//!
//! Memory: a file is held whole while it is bridged (both APIs take and give
//! whole bodies), at most twice over: WhatsApp's encryption and decryption
//! ([`wa_core::media`]) need the whole plaintext and make the whole blob
//! beside it. `bridge.max_media_bytes` bounds both.

mod incoming;
mod outgoing;
pub(super) mod thumbnail;

pub(super) use incoming::{card_to_matrix, to_matrix};
pub(super) use outgoing::to_whatsapp;

use crate::appservice::ClientError;

/// Why an attachment was not bridged. Shown to the user in a notice.
#[derive(Debug, thiserror::Error)]
pub(super) enum MediaError {
    /// Larger than `bridge.max_media_bytes` (`size` when known).
    #[error("{}", too_large(*size, *limit))]
    TooLarge {
        /// The file's size, if known before the transfer.
        size: Option<u64>,
        /// The configured limit.
        limit: u64,
    },
    /// The WhatsApp message lacks a field the download needs.
    #[error("the message has no {0}")]
    Missing(&'static str),
    /// The Matrix event has no `url`, or one that is not `mxc://server/id`.
    #[error("the event has no valid mxc:// url")]
    BadUrl,
    /// The Matrix event's content is not what the spec says for its kind.
    #[error("its content is not a valid {kind}: {why}")]
    Unreadable {
        /// The event type or msgtype.
        kind: String,
        /// What the parser said.
        why: String,
    },
    /// The WhatsApp media host or a check of the blob failed.
    #[error("{0}")]
    WhatsApp(#[from] wa_client::MediaError),
    /// The homeserver refused the upload or download.
    #[error("{0}")]
    Matrix(#[from] ClientError),
}

fn too_large(size: Option<u64>, limit: u64) -> String {
    match size {
        Some(size) => format!(
            "file too large ({}, limit {})",
            megabytes(size),
            megabytes(limit)
        ),
        None => format!("file too large (over the limit of {})", megabytes(limit)),
    }
}

/// `12.5 MB`, `100 MB` (MB of 2^20 bytes, as file managers show them).
fn megabytes(bytes: u64) -> String {
    let mb = bytes as f64 / f64::from(1u32 << 20);
    if mb.fract() == 0.0 {
        format!("{mb:.0} MB")
    } else {
        format!("{mb:.1} MB")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(megabytes(100 << 20), "100 MB");
        assert_eq!(megabytes(3 << 19), "1.5 MB");
        assert_eq!(
            MediaError::TooLarge {
                size: Some(150 << 20),
                limit: 100 << 20
            }
            .to_string(),
            "file too large (150 MB, limit 100 MB)"
        );
        assert_eq!(
            MediaError::TooLarge {
                size: None,
                limit: 1 << 20
            }
            .to_string(),
            "file too large (over the limit of 1 MB)"
        );
    }
}
