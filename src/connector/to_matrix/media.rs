//! WhatsApp attachments as Matrix events: the `m.image`/`m.video`/
//! `m.audio`/`m.file` message or `m.sticker` event for an attachment once
//! its blob is in the media repository, and the notice that stands in for
//! one that could not be bridged. Moving the bytes is
//! `media/incoming.rs`'s.

use std::time::Duration;

use ruma::events::room::message::{
    AudioInfo, AudioMessageEventContent, FileInfo, FileMessageEventContent, FormattedBody,
    ImageMessageEventContent, MessageType, RoomMessageEventContent, UnstableAmplitude,
    UnstableAudioDetailsContentBlock, UnstableVoiceContentBlock, VideoInfo,
    VideoMessageEventContent,
};
use ruma::events::room::{ImageInfo, MediaSource, ThumbnailInfo};
use ruma::events::sticker::StickerEventContent;
use ruma::{MxcUri, OwnedMxcUri, UInt};
use serde::Serialize;
use serde_json::Value;
use wa_client::MediaKind;
use wa_core::proto::Message as WaMessage;

use crate::connector::media::MediaError;
use crate::connector::to_matrix::markup::whatsapp_to_html;
use crate::connector::to_matrix::{json_of, merge};

/// The attachment a WhatsApp message carries, read from the message alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::connector) struct Attachment<'a> {
    /// What it is (decides the keys and the Matrix msgtype).
    pub kind: MediaKind,
    /// `directPath`.
    pub direct_path: Option<&'a str>,
    /// `mediaKey`.
    pub media_key: Option<&'a [u8]>,
    /// `fileSha256`: of the plaintext.
    pub file_sha256: Option<&'a [u8]>,
    /// `fileEncSha256`: of the blob.
    pub file_enc_sha256: Option<&'a [u8]>,
    /// `mimetype`.
    pub mimetype: Option<&'a str>,
    /// `caption`.
    pub caption: Option<&'a str>,
    /// `fileName` of a document.
    pub file_name: Option<&'a str>,
    /// `fileLength`: of the plaintext.
    pub size: Option<u64>,
    /// `width`.
    pub width: Option<u32>,
    /// `height`.
    pub height: Option<u32>,
    /// `seconds` of a video or audio.
    pub seconds: Option<u32>,
    /// The inline `jpegThumbnail`.
    pub thumbnail: Option<&'a [u8]>,
    /// The `waveform` of a voice note (0-100 per sample).
    pub waveform: Option<&'a [u8]>,
}

/// Wrappers whose inner message is what is shown.
fn unwrap(m: &WaMessage) -> &WaMessage {
    let inner = m
        .ephemeral_message
        .as_ref()
        .or(m.document_with_caption_message.as_ref())
        .and_then(|f| f.message.as_deref());
    match inner {
        Some(inner) => unwrap(inner),
        None => m,
    }
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

impl<'a> Attachment<'a> {
    /// An attachment of `kind` that says nothing yet.
    fn empty(kind: MediaKind) -> Attachment<'a> {
        Attachment {
            kind,
            direct_path: None,
            media_key: None,
            file_sha256: None,
            file_enc_sha256: None,
            mimetype: None,
            caption: None,
            file_name: None,
            size: None,
            width: None,
            height: None,
            seconds: None,
            thumbnail: None,
            waveform: None,
        }
    }

    /// The attachment of `m`, if it is a media message.
    pub fn of(m: &'a WaMessage) -> Option<Attachment<'a>> {
        let m = unwrap(m);
        let empty = Self::empty;
        if let Some(i) = &m.image_message {
            return Some(Attachment {
                direct_path: i.direct_path.as_deref(),
                media_key: i.media_key.as_deref(),
                file_sha256: i.file_sha256.as_deref(),
                file_enc_sha256: i.file_enc_sha256.as_deref(),
                mimetype: nonempty(&i.mimetype),
                caption: nonempty(&i.caption),
                size: i.file_length,
                width: i.width,
                height: i.height,
                thumbnail: i.jpeg_thumbnail.as_deref(),
                ..empty(MediaKind::Image)
            });
        }
        if let Some(v) = &m.video_message {
            let kind = if v.gif_playback == Some(true) {
                MediaKind::Gif
            } else {
                MediaKind::Video
            };
            return Some(Attachment {
                direct_path: v.direct_path.as_deref(),
                media_key: v.media_key.as_deref(),
                file_sha256: v.file_sha256.as_deref(),
                file_enc_sha256: v.file_enc_sha256.as_deref(),
                mimetype: nonempty(&v.mimetype),
                caption: nonempty(&v.caption),
                size: v.file_length,
                width: v.width,
                height: v.height,
                seconds: v.seconds,
                thumbnail: v.jpeg_thumbnail.as_deref(),
                ..empty(kind)
            });
        }
        if let Some(a) = &m.audio_message {
            let kind = if a.ptt == Some(true) {
                MediaKind::Ptt
            } else {
                MediaKind::Audio
            };
            return Some(Attachment {
                direct_path: a.direct_path.as_deref(),
                media_key: a.media_key.as_deref(),
                file_sha256: a.file_sha256.as_deref(),
                file_enc_sha256: a.file_enc_sha256.as_deref(),
                mimetype: nonempty(&a.mimetype),
                size: a.file_length,
                seconds: a.seconds,
                waveform: a.waveform.as_deref(),
                ..empty(kind)
            });
        }
        if let Some(d) = &m.document_message {
            return Some(Attachment {
                direct_path: d.direct_path.as_deref(),
                media_key: d.media_key.as_deref(),
                file_sha256: d.file_sha256.as_deref(),
                file_enc_sha256: d.file_enc_sha256.as_deref(),
                mimetype: nonempty(&d.mimetype),
                caption: nonempty(&d.caption),
                file_name: nonempty(&d.file_name).or(nonempty(&d.title)),
                size: d.file_length,
                thumbnail: d.jpeg_thumbnail.as_deref(),
                ..empty(MediaKind::Document)
            });
        }
        if let Some(s) = &m.sticker_message {
            return Some(Attachment {
                direct_path: s.direct_path.as_deref(),
                media_key: s.media_key.as_deref(),
                file_sha256: s.file_sha256.as_deref(),
                file_enc_sha256: s.file_enc_sha256.as_deref(),
                mimetype: nonempty(&s.mimetype),
                size: s.file_length,
                width: s.width,
                height: s.height,
                ..empty(MediaKind::Sticker)
            });
        }
        None
    }

    /// What the user calls it, for notices.
    pub fn name(&self) -> &'static str {
        match self.kind {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Gif => "GIF",
            MediaKind::Audio => "audio message",
            MediaKind::Ptt => "voice note",
            MediaKind::Sticker => "sticker",
            _ => "document",
        }
    }

    /// The MIME type, or the usual one of the kind.
    pub fn mimetype(&self) -> &'a str {
        self.mimetype.unwrap_or(match self.kind {
            MediaKind::Image => "image/jpeg",
            MediaKind::Video | MediaKind::Gif => "video/mp4",
            MediaKind::Audio => "audio/mpeg",
            MediaKind::Ptt => "audio/ogg",
            MediaKind::Sticker => "image/webp",
            _ => "application/octet-stream",
        })
    }

    /// The document's name, or one made of the kind and the MIME type.
    pub fn filename(&self) -> String {
        if let Some(name) = self.file_name {
            return name.to_owned();
        }
        let stem = match self.kind {
            MediaKind::Ptt => "voice",
            MediaKind::Audio => "audio",
            MediaKind::Document => "file",
            _ => self.name(),
        };
        match extension(self.mimetype()) {
            Some(ext) => format!("{stem}.{ext}"),
            None => stem.to_owned(),
        }
    }
}

fn extension(mimetype: &str) -> Option<&'static str> {
    let essence = mimetype.split(';').next().unwrap_or_default().trim();
    Some(match essence {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "video/mp4" => "mp4",
        "video/3gpp" => "3gp",
        "audio/ogg" => "ogg",
        "audio/mpeg" => "mp3",
        "audio/mp4" | "audio/aac" => "m4a",
        "application/pdf" => "pdf",
        "text/plain" => "txt",
        _ => return None,
    })
}

/// An uploaded thumbnail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::connector) struct UploadedThumbnail {
    /// Its `mxc://` URI.
    pub mxc: OwnedMxcUri,
    /// Its size in bytes.
    pub size: u64,
    /// Its dimensions, if its header reads.
    pub dimensions: Option<(u32, u32)>,
}

/// The Matrix event (type and content) for attachment `a`, stored as `mxc`
/// with `size` bytes, and its thumbnail if one was stored.
pub(in crate::connector) fn content(
    a: &Attachment<'_>,
    mxc: &MxcUri,
    size: u64,
    thumbnail: Option<&UploadedThumbnail>,
) -> (&'static str, Value) {
    let url = mxc.to_owned();
    let visual = matches!(
        a.kind,
        MediaKind::Image | MediaKind::Video | MediaKind::Gif | MediaKind::Sticker
    );
    let dimension = |d: Option<u32>| d.filter(|d| *d > 0 && visual).map(UInt::from);
    let (width, height) = (dimension(a.width), dimension(a.height));
    let duration = a.seconds.map(|s| Duration::from_secs(u64::from(s)));
    let (mimetype, size) = (Some(a.mimetype().to_owned()), UInt::new(size));
    let thumb = thumbnail.map(|t| {
        let mut info = ThumbnailInfo::new();
        info.mimetype = Some("image/jpeg".to_owned());
        info.size = UInt::new(t.size);
        info.width = t.dimensions.map(|(w, _)| UInt::from(w));
        info.height = t.dimensions.map(|(_, h)| UInt::from(h));
        (MediaSource::Plain(t.mxc.clone()), Box::new(info))
    });
    let (thumbnail_source, thumbnail_info) = thumb.unzip();
    let filename = a.filename();
    let image_info = || {
        let mut info = ImageInfo::new();
        (info.mimetype, info.size, info.width, info.height) =
            (mimetype.clone(), size, width, height);
        (info.thumbnail_source, info.thumbnail_info) =
            (thumbnail_source.clone(), thumbnail_info.clone());
        info
    };
    if a.kind == MediaKind::Sticker {
        let sticker = StickerEventContent::new(filename, image_info(), url);
        return ("m.sticker", json_of(&sticker));
    }
    // MSC2530: a body that differs from `filename` is the caption.
    let body = a.caption.map_or_else(|| filename.clone(), str::to_owned);
    let formatted = a
        .caption
        .and_then(whatsapp_to_html)
        .map(FormattedBody::html);
    let msgtype = match a.kind {
        MediaKind::Image => {
            let mut c = ImageMessageEventContent::plain(body, url);
            (c.info, c.formatted) = (Some(Box::new(image_info())), formatted);
            c.filename = Some(filename);
            MessageType::Image(c)
        }
        MediaKind::Video | MediaKind::Gif => {
            let mut info = VideoInfo::new();
            (info.mimetype, info.size, info.width, info.height) = (mimetype, size, width, height);
            (info.duration, info.thumbnail_source) = (duration, thumbnail_source);
            info.thumbnail_info = thumbnail_info;
            let mut c = VideoMessageEventContent::plain(body, url);
            (c.info, c.formatted) = (Some(Box::new(info)), formatted);
            c.filename = Some(filename);
            MessageType::Video(c)
        }
        MediaKind::Audio | MediaKind::Ptt => {
            let mut info = AudioInfo::new();
            (info.mimetype, info.size, info.duration) = (mimetype, size, duration);
            let mut c = AudioMessageEventContent::plain(body, url);
            (c.info, c.formatted) = (Some(Box::new(info)), formatted);
            c.filename = Some(filename);
            if a.kind == MediaKind::Ptt {
                c.voice = Some(UnstableVoiceContentBlock::new());
                c.audio = duration.map(|d| UnstableAudioDetailsContentBlock::new(d, waveform(a)));
            }
            MessageType::Audio(c)
        }
        _ => {
            let mut info = FileInfo::new();
            (info.mimetype, info.size) = (mimetype, size);
            (info.thumbnail_source, info.thumbnail_info) = (thumbnail_source, thumbnail_info);
            let mut c = FileMessageEventContent::plain(body, url);
            (c.info, c.formatted) = (Some(Box::new(info)), formatted);
            c.filename = Some(filename);
            MessageType::File(c)
        }
    };
    let mut content = json_of(&RoomMessageEventContent::new(msgtype));
    add_extras(a, duration, &mut content);
    ("m.room.message", content)
}

/// What ruma's types have no field for: a voice note's MSC1767 block when
/// its duration is unknown, and mautrix's GIF marks.
fn add_extras(a: &Attachment<'_>, duration: Option<Duration>, content: &mut Value) {
    if a.kind == MediaKind::Ptt && duration.is_none() {
        // ruma's MSC1767 audio block needs a duration; without one the
        // block still says it is audio, with the waveform if there is one.
        let block = AudioWithoutDuration {
            audio: WaveformOnly {
                waveform: waveform(a),
            },
        };
        merge(content, &block);
    }
    if a.kind == MediaKind::Gif
        && let Some(info) = content.get_mut("info")
    {
        merge(info, &GifMarks::default());
    }
}

/// A voice note's waveform as MSC1767 has it: WhatsApp's 0-100 per sample
/// as 0-1024.
fn waveform(a: &Attachment<'_>) -> Vec<UnstableAmplitude> {
    a.waveform
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let scaled = u32::from((*s).min(100)) * 1024 / 100;
            UnstableAmplitude::new(u16::try_from(scaled).unwrap_or(UnstableAmplitude::MAX))
        })
        .collect()
}

/// The MSC1767 audio block of a voice note whose duration is unknown.
#[derive(Debug, Serialize)]
struct AudioWithoutDuration {
    #[serde(rename = "org.matrix.msc1767.audio")]
    audio: WaveformOnly,
}

/// An MSC1767 audio block with only a waveform (or nothing).
#[derive(Debug, Serialize)]
struct WaveformOnly {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    waveform: Vec<UnstableAmplitude>,
}

/// How mautrix bridges mark a looping, silent video in its `info` (clients
/// that know these show it as a GIF).
#[derive(Debug, Serialize)]
struct GifMarks {
    #[serde(rename = "fi.mau.gif")]
    gif: bool,
    #[serde(rename = "fi.mau.loop")]
    looping: bool,
    #[serde(rename = "fi.mau.autoplay")]
    autoplay: bool,
    #[serde(rename = "fi.mau.hide_controls")]
    hide_controls: bool,
    #[serde(rename = "fi.mau.no_audio")]
    no_audio: bool,
}

impl Default for GifMarks {
    fn default() -> Self {
        GifMarks {
            gif: true,
            looping: true,
            autoplay: true,
            hide_controls: true,
            no_audio: true,
        }
    }
}

/// The notice that stands in for an attachment that could not be bridged.
pub(in crate::connector) fn failure_notice(a: &Attachment<'_>, why: &MediaError) -> Value {
    let text = format!("⚠️ The {} could not be bridged: {why}", a.name());
    json_of(&RoomMessageEventContent::notice_plain(text))
}

#[cfg(test)]
mod tests {
    use wa_core::proto::message::{
        AudioMessage, DocumentMessage, FutureProofMessage, ImageMessage, StickerMessage,
        VideoMessage,
    };

    use super::*;
    use serde_json::json;

    fn image() -> WaMessage {
        WaMessage {
            image_message: Some(Box::new(ImageMessage {
                mimetype: Some("image/png".into()),
                caption: Some("look *here*".into()),
                width: Some(640),
                height: Some(480),
                file_length: Some(1234),
                direct_path: Some("/v/x".into()),
                media_key: Some(vec![1; 32]),
                jpeg_thumbnail: Some(vec![0xff, 0xd8]),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn image_with_caption_and_thumbnail() {
        let m = image();
        let a = Attachment::of(&m).unwrap();
        assert_eq!(a.kind, MediaKind::Image);
        assert_eq!(a.direct_path, Some("/v/x"));
        let thumb = UploadedThumbnail {
            mxc: "mxc://hs/t".into(),
            size: 2,
            dimensions: Some((72, 54)),
        };
        let (kind, c) = content(&a, "mxc://hs/i".into(), 1234, Some(&thumb));
        assert_eq!(kind, "m.room.message");
        assert_eq!(c["msgtype"], "m.image");
        assert_eq!(c["body"], "look *here*");
        assert_eq!(c["filename"], "image.png");
        assert_eq!(c["formatted_body"], "look <strong>here</strong>");
        assert_eq!(c["url"], "mxc://hs/i");
        assert_eq!(
            c["info"],
            json!({
                "mimetype": "image/png", "size": 1234, "w": 640, "h": 480,
                "thumbnail_url": "mxc://hs/t",
                "thumbnail_info": {"mimetype": "image/jpeg", "size": 2, "w": 72, "h": 54},
            })
        );
    }

    #[test]
    fn voice_note() {
        let m = WaMessage {
            audio_message: Some(Box::new(AudioMessage {
                mimetype: Some("audio/ogg; codecs=opus".into()),
                seconds: Some(7),
                ptt: Some(true),
                waveform: Some(vec![0, 50, 100, 255]),
                ..Default::default()
            })),
            ..Default::default()
        };
        let a = Attachment::of(&m).unwrap();
        assert_eq!(a.kind, MediaKind::Ptt);
        assert_eq!(a.name(), "voice note");
        let (_, c) = content(&a, "mxc://hs/v".into(), 99, None);
        assert_eq!(c["msgtype"], "m.audio");
        assert_eq!(c["body"], "voice.ogg");
        assert_eq!(c["info"]["duration"], 7000);
        assert_eq!(c["info"]["mimetype"], "audio/ogg; codecs=opus");
        assert!(c["info"].get("w").is_none());
        assert_eq!(c["org.matrix.msc3245.voice"], json!({}));
        assert_eq!(
            c["org.matrix.msc1767.audio"],
            json!({"duration": 7000, "waveform": [0, 512, 1024, 1024]})
        );
    }

    #[test]
    fn a_voice_note_without_a_duration_keeps_its_waveform() {
        let m = WaMessage {
            audio_message: Some(Box::new(AudioMessage {
                ptt: Some(true),
                waveform: Some(vec![100]),
                ..Default::default()
            })),
            ..Default::default()
        };
        let a = Attachment::of(&m).unwrap();
        let (_, c) = content(&a, "mxc://hs/v".into(), 9, None);
        assert_eq!(c["org.matrix.msc3245.voice"], json!({}));
        assert_eq!(c["org.matrix.msc1767.audio"], json!({"waveform": [1024]}));
        assert!(c["info"].get("duration").is_none());
    }

    #[test]
    fn plain_audio_is_not_a_voice_note() {
        let m = WaMessage {
            audio_message: Some(Box::new(AudioMessage {
                seconds: Some(3),
                ..Default::default()
            })),
            ..Default::default()
        };
        let a = Attachment::of(&m).unwrap();
        let (_, c) = content(&a, "mxc://hs/a".into(), 1, None);
        assert_eq!(c["body"], "audio.mp3");
        assert!(c.get("org.matrix.msc3245.voice").is_none());
    }

    #[test]
    fn document_keeps_its_name_inside_the_caption_wrapper() {
        let doc = WaMessage {
            document_message: Some(Box::new(DocumentMessage {
                mimetype: Some("application/pdf".into()),
                file_name: Some("report.pdf".into()),
                caption: Some("the report".into()),
                file_length: Some(5000),
                ..Default::default()
            })),
            ..Default::default()
        };
        let m = WaMessage {
            document_with_caption_message: Some(Box::new(FutureProofMessage {
                message: Some(Box::new(doc)),
            })),
            ..Default::default()
        };
        let a = Attachment::of(&m).unwrap();
        let (_, c) = content(&a, "mxc://hs/d".into(), 5000, None);
        assert_eq!(c["msgtype"], "m.file");
        assert_eq!(c["filename"], "report.pdf");
        assert_eq!(c["body"], "the report");
        assert_eq!(
            c["info"],
            json!({"mimetype": "application/pdf", "size": 5000})
        );
    }

    #[test]
    fn gif_and_video() {
        let video = |gif| WaMessage {
            video_message: Some(Box::new(VideoMessage {
                gif_playback: Some(gif),
                seconds: Some(2),
                width: Some(320),
                height: Some(240),
                ..Default::default()
            })),
            ..Default::default()
        };
        let m = video(true);
        let a = Attachment::of(&m).unwrap();
        assert_eq!(a.kind, MediaKind::Gif);
        let (_, c) = content(&a, "mxc://hs/g".into(), 10, None);
        assert_eq!(c["msgtype"], "m.video");
        assert_eq!(c["info"]["fi.mau.gif"], true);
        assert_eq!(c["info"]["duration"], 2000);
        let m = video(false);
        let a = Attachment::of(&m).unwrap();
        assert_eq!(a.kind, MediaKind::Video);
        let (_, c) = content(&a, "mxc://hs/v".into(), 10, None);
        assert_eq!(c["body"], "video.mp4");
        assert!(c["info"].get("fi.mau.gif").is_none());
        assert_eq!(
            (c["info"]["w"].clone(), c["info"]["h"].clone()),
            (json!(320), json!(240))
        );
    }

    #[test]
    fn sticker_is_its_own_event_type() {
        let m = WaMessage {
            sticker_message: Some(Box::new(StickerMessage {
                mimetype: Some("image/webp".into()),
                width: Some(512),
                height: Some(512),
                ..Default::default()
            })),
            ..Default::default()
        };
        let a = Attachment::of(&m).unwrap();
        let (kind, c) = content(&a, "mxc://hs/s".into(), 10, None);
        assert_eq!(kind, "m.sticker");
        assert!(c.get("msgtype").is_none());
        assert_eq!(c["body"], "sticker.webp");
        assert_eq!(c["info"]["w"], 512);
    }

    #[test]
    fn text_is_no_attachment_and_failures_name_the_kind() {
        let text = WaMessage {
            conversation: Some("hi".into()),
            ..Default::default()
        };
        assert_eq!(Attachment::of(&text), None);
        let m = image();
        let a = Attachment::of(&m).unwrap();
        let notice = failure_notice(
            &a,
            &MediaError::WhatsApp(wa_client::MediaError::Status { status: 404 }),
        );
        assert_eq!(notice["msgtype"], "m.notice");
        assert_eq!(
            notice["body"],
            "⚠️ The image could not be bridged: media host answered 404"
        );
    }
}
