//! Matrix attachments to WhatsApp: the file is fetched from the homeserver
//! (authenticated media), sealed and uploaded by the WhatsApp client, and
//! sent as the message `from_matrix/media.rs` makes of it.

use tracing::debug;
use wa_client::{Client, MediaKind};
use wa_core::proto::Message as WaMessage;

use super::{MediaError, thumbnail};
use crate::appservice::ClientError;
use crate::connector::Bridge;
use crate::connector::from_matrix::media::{Outgoing, whatsapp_message};
use crate::connector::from_matrix::vcard;

// A downloaded file is sealed for WhatsApp in the buffer it arrived in.
const _: () = assert!(crate::appservice::DOWNLOAD_HEADROOM >= wa_core::media::SEAL_ROOM);

/// Fetches `o` from the homeserver, uploads it to WhatsApp through `client`
/// and returns the message to send. The size limit is checked against
/// `info.size` before anything is fetched, and again while fetching.
pub(in crate::connector) async fn to_whatsapp(
    bridge: &Bridge,
    client: &Client,
    o: &Outgoing,
) -> Result<WaMessage, MediaError> {
    let limit = bridge.config().bridge.max_media_bytes;
    if let Some(size) = o.size.filter(|s| *s > limit) {
        return Err(MediaError::TooLarge {
            size: Some(size),
            limit,
        });
    }
    // The homeserver client stops reading past the same limit.
    let data = bridge
        .bot()
        .download_media(&o.mxc)
        .await
        .map_err(|e| match e {
            ClientError::TooLarge { limit } => MediaError::TooLarge { size: None, limit },
            e => MediaError::Matrix(e),
        })?;
    // A vCard file is a contact card on WhatsApp, as the phone shares one.
    if matches!(o.kind, MediaKind::Document)
        && vcard::is_vcard(o)
        && let Some(card) = vcard::contact_message(&data, &o.filename)
    {
        return Ok(card);
    }
    let mut o = o.clone();
    let thumbnail = if matches!(o.kind, MediaKind::Image) {
        // `Bytes` clones share the buffer.
        let shared = data.clone();
        let made = tokio::task::spawn_blocking(move || thumbnail::make(&shared))
            .await
            .ok()
            .flatten();
        if let Some(t) = &made {
            o.width = o.width.or(Some(t.width));
            o.height = o.height.or(Some(t.height));
        } else {
            debug!("no thumbnail: the image does not decode");
        }
        made.map(|t| t.jpeg)
    } else if matches!(o.kind, MediaKind::Video | MediaKind::Gif) {
        video_thumbnail(bridge, &o).await
    } else {
        None
    };
    // Encrypted in its own buffer (the thumbnail's share of it is gone by
    // now, so this takes the buffer without a copy): one copy of the file.
    let uploaded = client.upload_owned(o.kind, Vec::from(data)).await?;
    let now = crate::store::now_ms() / 1000;
    Ok(whatsapp_message(&o, &uploaded, thumbnail, now))
}

/// A video's JPEG thumbnail, made from the one its Matrix event names;
/// `None` (the video goes without) if there is none or it does not decode.
async fn video_thumbnail(bridge: &Bridge, o: &Outgoing) -> Option<Vec<u8>> {
    let mxc = o.thumbnail_mxc.as_deref()?;
    let data = match bridge.bot().download_media(mxc).await {
        Ok(d) => d,
        Err(e) => {
            debug!(error = %e, "video thumbnail not fetched");
            return None;
        }
    };
    let made = tokio::task::spawn_blocking(move || thumbnail::make(&data))
        .await
        .ok()
        .flatten();
    if made.is_none() {
        debug!("no video thumbnail: the event's thumbnail does not decode");
    }
    made.map(|t| t.jpeg)
}
