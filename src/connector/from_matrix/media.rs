//! Matrix attachment events as WhatsApp messages: what an `m.image`,
//! `m.video`, `m.audio`, `m.file` or `m.sticker` asks to send, read from
//! its content alone, and the WhatsApp message for it once uploaded.
//! Moving the bytes is `media/outgoing.rs`'s.

use ruma::events::room::MediaSource;
use ruma::events::room::message::{
    AudioMessageEventContent, FileMessageEventContent, ImageMessageEventContent, MessageType,
    RoomMessageEventContent, VideoMessageEventContent,
};
use ruma::events::sticker::{StickerEventContent, StickerMediaSource};
use ruma::{OwnedMxcUri, UInt};
use serde::Deserialize;
use serde_json::Value;
use wa_client::{MediaKind, UploadedMedia};
use wa_core::proto::Message as WaMessage;
use wa_core::proto::message::{
    AudioMessage, DocumentMessage, FutureProofMessage, ImageMessage, StickerMessage, VideoMessage,
};

use crate::appservice::parse_mxc;
use crate::connector::media::MediaError;

/// What a Matrix attachment event asks to send, read from its content alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::connector) struct Outgoing {
    /// What WhatsApp message it becomes.
    pub kind: MediaKind,
    /// The file in the media repository.
    pub mxc: OwnedMxcUri,
    /// `info.mimetype`, or the usual one of the kind.
    pub mimetype: String,
    /// `filename`, else `body`.
    pub filename: String,
    /// `body` when it differs from `filename` (MSC2530).
    pub caption: Option<String>,
    /// `info.size`.
    pub size: Option<u64>,
    /// `info.w`.
    pub width: Option<u32>,
    /// `info.h`.
    pub height: Option<u32>,
    /// `info.duration`, in whole seconds (rounded up).
    pub seconds: Option<u32>,
    /// `info.thumbnail_url`, if a valid `mxc://` (videos get their JPEG
    /// thumbnail from it).
    pub thumbnail_mxc: Option<OwnedMxcUri>,
}

/// What an attachment's content says, whatever its msgtype (ruma keeps
/// each msgtype's fields in its own struct).
struct Parts<'c> {
    body: &'c str,
    filename: Option<&'c str>,
    source: Option<&'c MediaSource>,
    mimetype: Option<&'c str>,
    size: Option<UInt>,
    width: Option<UInt>,
    height: Option<UInt>,
    duration: Option<std::time::Duration>,
    thumbnail: Option<&'c MediaSource>,
}

/// The `fi.mau.gif` flag mautrix bridges and Beeper clients put in a video's
/// `info` (no ruma field holds it).
#[derive(Deserialize)]
struct GifFlag {
    #[serde(rename = "fi.mau.gif", default)]
    gif: bool,
}

fn is_gif(content: &Value) -> bool {
    content
        .get("info")
        .and_then(|i| GifFlag::deserialize(i).ok())
        .is_some_and(|f| f.gif)
}

fn nonempty(s: &str) -> Option<&str> {
    Some(s).filter(|s| !s.is_empty())
}

impl Outgoing {
    /// The attachment of an event of type `event_type` with `content`, read
    /// as ruma's message or sticker content: `None` if it is not an
    /// attachment, an error if it is one that cannot be sent (no valid
    /// `mxc://` url).
    pub fn from_event(event_type: &str, content: &Value) -> Option<Result<Outgoing, MediaError>> {
        let unreadable = |kind: &str, e: serde_json::Error| {
            // Without a url (or a string there) there is nothing to fetch;
            // anything else ruma refuses is said as ruma says it.
            if content.get("url").and_then(Value::as_str).is_none() {
                MediaError::BadUrl
            } else {
                MediaError::Unreadable {
                    kind: kind.to_owned(),
                    why: e.to_string(),
                }
            }
        };
        if event_type == "m.sticker" {
            // The spec wants `info`; a sticker without it is still one.
            let mut content = content.clone();
            if content.get("info").is_none() && content.is_object() {
                content["info"] = Value::Object(serde_json::Map::new());
            }
            return Some(match StickerEventContent::deserialize(&content) {
                Ok(sticker) => Self::from_sticker(&sticker),
                Err(e) => Err(unreadable("sticker", e)),
            });
        }
        let msgtype = content.get("msgtype").and_then(Value::as_str)?;
        if !matches!(msgtype, "m.image" | "m.video" | "m.audio" | "m.file") {
            return None;
        }
        let message = match RoomMessageEventContent::deserialize(content) {
            Ok(message) => message,
            Err(e) => return Some(Err(unreadable(msgtype, e))),
        };
        let (kind, parts) = match &message.msgtype {
            MessageType::Image(i) => (MediaKind::Image, image_parts(i)),
            MessageType::Video(v) if is_gif(content) => (MediaKind::Gif, video_parts(v)),
            MessageType::Video(v) => (MediaKind::Video, video_parts(v)),
            MessageType::Audio(a) if a.voice.is_some() => (MediaKind::Ptt, audio_parts(a)),
            MessageType::Audio(a) => (MediaKind::Audio, audio_parts(a)),
            MessageType::File(f) => (MediaKind::Document, file_parts(f)),
            _ => return None,
        };
        Some(Self::read(kind, &parts))
    }

    fn from_sticker(sticker: &StickerEventContent) -> Result<Outgoing, MediaError> {
        let source = match &sticker.source {
            StickerMediaSource::Plain(url) => MediaSource::Plain(url.clone()),
            _ => return Err(MediaError::BadUrl),
        };
        let info = &sticker.info;
        Self::read(
            MediaKind::Sticker,
            &Parts {
                body: &sticker.body,
                filename: None,
                source: Some(&source),
                mimetype: info.mimetype.as_deref(),
                size: info.size,
                width: info.width,
                height: info.height,
                duration: None,
                thumbnail: info.thumbnail_source.as_ref(),
            },
        )
    }

    fn read(kind: MediaKind, parts: &Parts<'_>) -> Result<Outgoing, MediaError> {
        let Some(MediaSource::Plain(mxc)) = parts.source else {
            return Err(MediaError::BadUrl);
        };
        parse_mxc(mxc.as_str()).map_err(|_| MediaError::BadUrl)?;
        let body = nonempty(parts.body);
        let filename = parts.filename.and_then(nonempty).or(body);
        let caption = match (body, filename) {
            (Some(b), Some(f)) if b != f => Some(b.to_owned()),
            _ => None,
        };
        let default_mime = match kind {
            MediaKind::Image => "image/jpeg",
            MediaKind::Video | MediaKind::Gif => "video/mp4",
            MediaKind::Audio => "audio/mpeg",
            MediaKind::Ptt => "audio/ogg; codecs=opus",
            MediaKind::Sticker => "image/webp",
            _ => "application/octet-stream",
        };
        let mut mimetype = parts
            .mimetype
            .and_then(nonempty)
            .unwrap_or(default_mime)
            .to_owned();
        if kind == MediaKind::Ptt && mimetype == "audio/ogg" {
            // What WhatsApp's own voice notes say.
            mimetype = default_mime.to_owned();
        }
        let seconds = parts
            .duration
            .map(|d| u32::try_from(d.as_millis().div_ceil(1000)).unwrap_or(u32::MAX));
        let dimension = |n: Option<UInt>| n.and_then(|n| u32::try_from(u64::from(n)).ok());
        Ok(Outgoing {
            kind,
            mxc: mxc.clone(),
            mimetype,
            filename: filename.unwrap_or("file").to_owned(),
            caption,
            size: parts.size.map(u64::from),
            width: dimension(parts.width),
            height: dimension(parts.height),
            seconds,
            thumbnail_mxc: match parts.thumbnail {
                Some(MediaSource::Plain(t)) if parse_mxc(t.as_str()).is_ok() => Some(t.clone()),
                _ => None,
            },
        })
    }

    /// What the user calls it, for notices.
    pub fn name(&self) -> &'static str {
        match self.kind {
            MediaKind::Image => "image",
            MediaKind::Video | MediaKind::Gif => "video",
            MediaKind::Audio | MediaKind::Ptt => "audio",
            MediaKind::Sticker => "sticker",
            _ => "file",
        }
    }
}

fn image_parts(i: &ImageMessageEventContent) -> Parts<'_> {
    let info = i.info.as_deref();
    Parts {
        body: &i.body,
        filename: i.filename.as_deref(),
        source: Some(&i.source),
        mimetype: info.and_then(|i| i.mimetype.as_deref()),
        size: info.and_then(|i| i.size),
        width: info.and_then(|i| i.width),
        height: info.and_then(|i| i.height),
        duration: None,
        thumbnail: info.and_then(|i| i.thumbnail_source.as_ref()),
    }
}

fn video_parts(v: &VideoMessageEventContent) -> Parts<'_> {
    let info = v.info.as_deref();
    Parts {
        body: &v.body,
        filename: v.filename.as_deref(),
        source: Some(&v.source),
        mimetype: info.and_then(|i| i.mimetype.as_deref()),
        size: info.and_then(|i| i.size),
        width: info.and_then(|i| i.width),
        height: info.and_then(|i| i.height),
        duration: info.and_then(|i| i.duration),
        thumbnail: info.and_then(|i| i.thumbnail_source.as_ref()),
    }
}

fn audio_parts(a: &AudioMessageEventContent) -> Parts<'_> {
    let info = a.info.as_deref();
    Parts {
        body: &a.body,
        filename: a.filename.as_deref(),
        source: Some(&a.source),
        mimetype: info.and_then(|i| i.mimetype.as_deref()),
        size: info.and_then(|i| i.size),
        width: None,
        height: None,
        duration: info.and_then(|i| i.duration),
        thumbnail: None,
    }
}

fn file_parts(f: &FileMessageEventContent) -> Parts<'_> {
    let info = f.info.as_deref();
    Parts {
        body: &f.body,
        filename: f.filename.as_deref(),
        source: Some(&f.source),
        mimetype: info.and_then(|i| i.mimetype.as_deref()),
        size: info.and_then(|i| i.size),
        width: None,
        height: None,
        duration: None,
        thumbnail: info.and_then(|i| i.thumbnail_source.as_ref()),
    }
}

/// The WhatsApp message for `o`, uploaded as `up`, with an inline JPEG
/// `thumbnail` (images and videos) and sent at `now` (unix seconds).
pub(in crate::connector) fn whatsapp_message(
    o: &Outgoing,
    up: &UploadedMedia,
    thumbnail: Option<Vec<u8>>,
    now: i64,
) -> WaMessage {
    let url = Some(up.url.clone());
    let direct_path = Some(up.direct_path.clone());
    let media_key = Some(up.media_key.to_vec());
    let file_sha256 = Some(up.file_sha256.to_vec());
    let file_enc_sha256 = Some(up.file_enc_sha256.to_vec());
    let file_length = Some(up.file_length);
    let mimetype = Some(o.mimetype.clone());
    let caption = o.caption.clone();
    match o.kind {
        MediaKind::Image => WaMessage {
            image_message: Some(Box::new(ImageMessage {
                url,
                mimetype,
                caption,
                file_sha256,
                file_length,
                height: o.height,
                width: o.width,
                media_key,
                file_enc_sha256,
                direct_path,
                media_key_timestamp: Some(now),
                jpeg_thumbnail: thumbnail,
                ..Default::default()
            })),
            ..Default::default()
        },
        MediaKind::Video | MediaKind::Gif => WaMessage {
            video_message: Some(Box::new(VideoMessage {
                url,
                mimetype,
                file_sha256,
                file_length,
                seconds: o.seconds,
                media_key,
                caption,
                gif_playback: Some(o.kind == MediaKind::Gif),
                height: o.height,
                width: o.width,
                file_enc_sha256,
                direct_path,
                media_key_timestamp: Some(now),
                jpeg_thumbnail: thumbnail,
                ..Default::default()
            })),
            ..Default::default()
        },
        MediaKind::Audio | MediaKind::Ptt => WaMessage {
            audio_message: Some(Box::new(AudioMessage {
                url,
                mimetype,
                file_sha256,
                file_length,
                seconds: o.seconds,
                ptt: Some(o.kind == MediaKind::Ptt),
                media_key,
                file_enc_sha256,
                direct_path,
                media_key_timestamp: Some(now),
                ..Default::default()
            })),
            ..Default::default()
        },
        MediaKind::Sticker => WaMessage {
            sticker_message: Some(Box::new(StickerMessage {
                url,
                file_sha256,
                file_enc_sha256,
                media_key,
                mimetype,
                height: o.height,
                width: o.width,
                direct_path,
                file_length,
                media_key_timestamp: Some(now),
                ..Default::default()
            })),
            ..Default::default()
        },
        _ => document(o, up, now),
    }
}

/// A document message for `o` (any file that is not shown inline), with
/// its caption where WhatsApp shows one: inside `documentWithCaption`.
fn document(o: &Outgoing, up: &UploadedMedia, now: i64) -> WaMessage {
    let caption = o.caption.clone();
    let document = DocumentMessage {
        url: Some(up.url.clone()),
        mimetype: Some(o.mimetype.clone()),
        title: Some(o.filename.clone()),
        file_sha256: Some(up.file_sha256.to_vec()),
        file_length: Some(up.file_length),
        media_key: Some(up.media_key.to_vec()),
        file_name: Some(o.filename.clone()),
        file_enc_sha256: Some(up.file_enc_sha256.to_vec()),
        direct_path: Some(up.direct_path.clone()),
        media_key_timestamp: Some(now),
        caption: caption.clone(),
        ..Default::default()
    };
    let message = WaMessage {
        document_message: Some(Box::new(document)),
        ..Default::default()
    };
    if caption.is_some() {
        WaMessage {
            document_with_caption_message: Some(Box::new(FutureProofMessage {
                message: Some(Box::new(message)),
            })),
            ..Default::default()
        }
    } else {
        message
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn uploaded() -> UploadedMedia {
        UploadedMedia {
            url: "https://mmg/v/p?x".into(),
            direct_path: "/v/p?x".into(),
            media_key: [1; 32],
            file_sha256: [2; 32],
            file_enc_sha256: [3; 32],
            file_length: 42,
        }
    }

    fn outgoing(event_type: &str, content: Value) -> Outgoing {
        Outgoing::from_event(event_type, &content)
            .expect("an attachment")
            .expect("valid")
    }

    #[test]
    fn image_with_caption() {
        let o = outgoing(
            "m.room.message",
            json!({
                "msgtype": "m.image", "body": "a cat", "filename": "cat.png",
                "url": "mxc://hs/cat",
                "info": {"mimetype": "image/png", "size": 42, "w": 800, "h": 600},
            }),
        );
        assert_eq!(o.kind, MediaKind::Image);
        assert_eq!(o.caption.as_deref(), Some("a cat"));
        assert_eq!(o.filename, "cat.png");
        let m = whatsapp_message(&o, &uploaded(), Some(vec![0xff, 0xd8]), 1700);
        let i = m.image_message.expect("an imageMessage");
        assert_eq!(i.caption.as_deref(), Some("a cat"));
        assert_eq!(i.mimetype.as_deref(), Some("image/png"));
        assert_eq!((i.width, i.height), (Some(800), Some(600)));
        assert_eq!(i.direct_path.as_deref(), Some("/v/p?x"));
        assert_eq!(i.url.as_deref(), Some("https://mmg/v/p?x"));
        assert_eq!(i.media_key.as_deref(), Some(&[1u8; 32][..]));
        assert_eq!(i.file_sha256.as_deref(), Some(&[2u8; 32][..]));
        assert_eq!(i.file_enc_sha256.as_deref(), Some(&[3u8; 32][..]));
        assert_eq!(i.file_length, Some(42));
        assert_eq!(i.media_key_timestamp, Some(1700));
        assert_eq!(i.jpeg_thumbnail.as_deref(), Some(&[0xff, 0xd8][..]));
    }

    #[test]
    fn file_named_by_its_body_has_no_caption() {
        let o = outgoing(
            "m.room.message",
            json!({"msgtype": "m.file", "body": "notes.txt", "url": "mxc://hs/n",
                   "info": {"mimetype": "text/plain"}}),
        );
        assert_eq!(o.caption, None);
        let m = whatsapp_message(&o, &uploaded(), None, 1);
        let d = m.document_message.expect("a documentMessage");
        assert_eq!(d.file_name.as_deref(), Some("notes.txt"));
        assert_eq!(d.mimetype.as_deref(), Some("text/plain"));
        assert_eq!(d.caption, None);
        // With a caption, the document goes inside its wrapper.
        let o = outgoing(
            "m.room.message",
            json!({"msgtype": "m.file", "body": "read this", "filename": "a.pdf",
                   "url": "mxc://hs/n"}),
        );
        let m = whatsapp_message(&o, &uploaded(), None, 1);
        let inner = m.document_with_caption_message.unwrap().message.unwrap();
        let d = inner.document_message.unwrap();
        assert_eq!(d.caption.as_deref(), Some("read this"));
        assert_eq!(d.mimetype.as_deref(), Some("application/octet-stream"));
    }

    #[test]
    fn voice_video_gif_and_sticker() {
        let o = outgoing(
            "m.room.message",
            json!({"msgtype": "m.audio", "body": "Voice message", "url": "mxc://hs/v",
                   "info": {"mimetype": "audio/ogg", "duration": 2500},
                   "org.matrix.msc3245.voice": {}}),
        );
        let a = whatsapp_message(&o, &uploaded(), None, 1)
            .audio_message
            .unwrap();
        assert_eq!(a.ptt, Some(true));
        assert_eq!(a.seconds, Some(3));
        assert_eq!(a.mimetype.as_deref(), Some("audio/ogg; codecs=opus"));
        let o = outgoing(
            "m.room.message",
            json!({"msgtype": "m.audio", "body": "song.mp3", "url": "mxc://hs/s"}),
        );
        assert_eq!(o.kind, MediaKind::Audio);
        let o = outgoing(
            "m.room.message",
            json!({"msgtype": "m.video", "body": "loop", "url": "mxc://hs/g",
                   "info": {"fi.mau.gif": true, "duration": 1000, "w": 10, "h": 20}}),
        );
        let v = whatsapp_message(&o, &uploaded(), None, 1)
            .video_message
            .unwrap();
        assert_eq!(v.gif_playback, Some(true));
        assert_eq!(
            (v.seconds, v.width, v.height),
            (Some(1), Some(10), Some(20))
        );
        let o = outgoing(
            "m.sticker",
            json!({"body": "wave", "url": "mxc://hs/st", "info": {"w": 512, "h": 512}}),
        );
        assert_eq!(o.kind, MediaKind::Sticker);
        let s = whatsapp_message(&o, &uploaded(), None, 1)
            .sticker_message
            .unwrap();
        assert_eq!(s.mimetype.as_deref(), Some("image/webp"));
        assert_eq!(s.width, Some(512));
    }

    #[test]
    fn missing_or_bad_urls_are_refused_and_text_is_not_media() {
        for content in [
            json!({"msgtype": "m.image", "body": "x.png"}),
            json!({"msgtype": "m.image", "body": "x.png", "url": "https://x/y"}),
            json!({"msgtype": "m.file", "body": "x", "url": "mxc://only-server"}),
            json!({"msgtype": "m.file", "body": "x", "url": 7}),
        ] {
            assert!(
                matches!(
                    Outgoing::from_event("m.room.message", &content),
                    Some(Err(MediaError::BadUrl))
                ),
                "{content}"
            );
        }
        // Floats where integers belong, as some clients send them, are read.
        let o = outgoing(
            "m.room.message",
            json!({"msgtype": "m.image", "body": "wide.png", "url": "mxc://hs/w",
                   "info": {"w": 4998.0, "h": 10.0, "size": 42.0}}),
        );
        assert_eq!(
            (o.width, o.height, o.size),
            (Some(4998), Some(10), Some(42))
        );
        // A sticker without `info` is still a sticker.
        let o = outgoing("m.sticker", json!({"body": "wave", "url": "mxc://hs/st"}));
        assert_eq!(o.kind, MediaKind::Sticker);
        // What else ruma refuses is told as it is, not as a bad url.
        let odd = json!({"msgtype": "m.image", "body": "x", "url": "mxc://hs/x",
                         "info": {"w": "wide"}});
        assert!(
            matches!(
                Outgoing::from_event("m.room.message", &odd),
                Some(Err(MediaError::Unreadable { .. }))
            ),
            "{odd}"
        );
        let text = json!({"msgtype": "m.text", "body": "hi"});
        assert!(Outgoing::from_event("m.room.message", &text).is_none());
        let location = json!({"msgtype": "m.location", "body": "here", "geo_uri": "geo:1,2"});
        assert!(Outgoing::from_event("m.room.message", &location).is_none());
    }
}
