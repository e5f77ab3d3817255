//! WhatsApp attachments into Matrix: the blob is downloaded and checked by
//! the WhatsApp client, stored in the media repository, and sent as the
//! event `to_matrix/media.rs` makes of it. A failure becomes a notice
//! naming the kind and the reason, so the chat goes on.

use bytes::Bytes;
use serde_json::Value;
use tracing::{debug, warn};
use wa_client::Client;

use super::{MediaError, thumbnail};
use crate::appservice::Intent;
use crate::bridge::error::matrix_is_transient;
use crate::connector::Bridge;
use crate::connector::incoming::IncomingError;
use crate::connector::to_matrix::json_of;
use crate::connector::to_matrix::media::{Attachment, UploadedThumbnail, content, failure_notice};
use crate::connector::to_matrix::vcard::Card;
use ruma::UInt;
use ruma::events::room::message::{
    FileInfo, FileMessageEventContent, MessageType, RoomMessageEventContent,
};

/// The Matrix event for attachment `a`: downloaded through `client`, stored
/// in the media repository as `intent`. What cannot be bridged becomes a
/// notice; only a homeserver that is down is an error (the message is
/// tried again).
pub(in crate::connector) async fn to_matrix(
    bridge: &Bridge,
    client: &Client,
    intent: &Intent,
    a: &Attachment<'_>,
) -> Result<(&'static str, Value), IncomingError> {
    match transfer(bridge, client, intent, a).await {
        Ok(event) => Ok(event),
        // A homeserver down or busy: the whole message is tried again.
        Err(MediaError::Matrix(e)) if matrix_is_transient(&e) => Err(e.into()),
        Err(e) => {
            warn!(kind = a.name(), error = %e, "attachment not bridged");
            Ok(("m.room.message", failure_notice(a, &e)))
        }
    }
}

async fn transfer(
    bridge: &Bridge,
    client: &Client,
    intent: &Intent,
    a: &Attachment<'_>,
) -> Result<(&'static str, Value), MediaError> {
    // Ours, or the homeserver's if it takes less.
    let limit = match bridge.matrix().upload_limit().await {
        Some(hs) => hs.min(bridge.config().bridge.max_media_bytes),
        None => bridge.config().bridge.max_media_bytes,
    };
    if let Some(size) = a.size.filter(|s| *s > limit) {
        return Err(MediaError::TooLarge {
            size: Some(size),
            limit,
        });
    }
    let direct_path = a.direct_path.ok_or(MediaError::Missing("directPath"))?;
    let media_key = a.media_key.ok_or(MediaError::Missing("mediaKey"))?;
    // The limit goes into the transfer: a larger blob stops arriving.
    let data = client
        .download_at_most(
            a.kind,
            (direct_path, media_key),
            (a.file_sha256, a.file_enc_sha256),
            limit,
        )
        .await
        .map_err(|e| match e {
            wa_client::MediaError::TooLarge { .. } => MediaError::TooLarge { size: None, limit },
            e => e.into(),
        })?;
    let size = data.len() as u64;
    if size > limit {
        return Err(MediaError::TooLarge {
            size: Some(size),
            limit,
        });
    }
    let filename = a.filename();
    // The plaintext moves into the request body; no copy.
    let mxc = intent
        .upload_media(Bytes::from(data), a.mimetype(), Some(&filename))
        .await?;
    let thumbnail = match a.thumbnail.filter(|t| !t.is_empty()) {
        Some(jpeg) => upload_thumbnail(intent, jpeg).await,
        None => None,
    };
    Ok(content(a, &mxc, size, thumbnail.as_ref()))
}

/// A contact card as a file in the chat: its vCard stored as `intent`,
/// the readable card as the caption; only text when the homeserver refuses
/// the file (down or busy: the message is tried again).
pub(in crate::connector) async fn card_to_matrix(
    intent: &Intent,
    card: Card,
) -> Result<(&'static str, Value), IncomingError> {
    let size = card.vcard.len() as u64;
    let stored = intent
        .upload_media(Bytes::from(card.vcard), "text/vcard", Some(&card.filename))
        .await;
    let mxc = match stored {
        Ok(mxc) => mxc,
        Err(e) if matrix_is_transient(&e) => return Err(e.into()),
        Err(e) => {
            warn!(error = %e, "a contact card's file not stored; text only");
            let text = RoomMessageEventContent::text_plain(card.caption);
            return Ok(("m.room.message", json_of(&text)));
        }
    };
    let mut file = FileMessageEventContent::plain(card.caption, mxc);
    file.filename = Some(card.filename);
    let mut info = FileInfo::new();
    info.mimetype = Some("text/vcard".to_owned());
    info.size = UInt::new(size);
    file.info = Some(Box::new(info));
    let content = RoomMessageEventContent::new(MessageType::File(file));
    Ok(("m.room.message", json_of(&content)))
}

/// Stores the inline thumbnail; a failure only costs the thumbnail.
async fn upload_thumbnail(intent: &Intent, jpeg: &[u8]) -> Option<UploadedThumbnail> {
    let dimensions = thumbnail::dimensions(jpeg);
    match intent
        .upload_media(
            Bytes::copy_from_slice(jpeg),
            "image/jpeg",
            Some("thumbnail.jpg"),
        )
        .await
    {
        Ok(mxc) => Some(UploadedThumbnail {
            mxc,
            size: jpeg.len() as u64,
            dimensions,
        }),
        Err(e) => {
            debug!(error = %e, "thumbnail not stored");
            None
        }
    }
}
