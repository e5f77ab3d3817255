//! Attachments end to end: a real Synapse, wa-sim with scripted phones, and
//! the bridge in this process. A contact's phone sends an image, a voice
//! note, a document, a video, a GIF and a song, which arrive in the portal
//! as the right Matrix events whose files are byte for byte the sent ones;
//! a blob whose hash does not match becomes a notice and the chat goes on.
//! The Matrix user sends an image, a file, a video, a GIF and a song, which
//! the contact's phone receives as media messages whose blobs decrypt to
//! the same bytes; what cannot be sent
//! (too large, no url, a url that is not mxc://) is answered with a
//! notice. A media host answering 500 or 404, or cutting a download short,
//! gives a notice each, in order, and the chat goes on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::files::png;
use support::login::{LoggedIn, start_logged_in};
use support::matrix::body;
use support::synapse;
use wa_core::media::{self, MediaKind};
use wa_core::proto::Message as WaMessage;
use wa_core::proto::message::{AudioMessage, DocumentMessage, ImageMessage, VideoMessage};
use wa_sim::{MediaFault, Phone, PhoneUpload, Received, Sim};

const WAIT: Duration = Duration::from_secs(40);
const ALICE_PN: &str = "15557780001";
const BOB_PN: &str = "15557780002";

fn random_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|_| rand::random::<u8>()).collect()
}

/// The plaintext of a media message's blob on the sim's media host,
/// checked against the message's hashes.
fn blob_plaintext(
    sim: &Sim,
    kind: MediaKind,
    direct_path: &str,
    media_key: &[u8],
    file_sha256: &[u8],
    file_enc_sha256: &[u8],
) -> Vec<u8> {
    let blob = sim
        .media_blob(direct_path)
        .expect("the blob is on the host");
    media::decrypt(
        kind,
        media_key,
        &blob,
        Some(file_enc_sha256),
        Some(file_sha256),
    )
    .expect("the blob decrypts and its hashes match")
}

/// Waits until `phone` received a message for which `pick` gives something.
async fn wait_for<T>(phone: &Phone, pick: impl FnMut(&Received) -> Option<T>) -> T {
    wait_nth(phone, 0, pick).await
}

/// Waits until `phone` received an `n`th (from 0) message for which `pick`
/// gives something, and returns that.
async fn wait_nth<T>(phone: &Phone, n: usize, mut pick: impl FnMut(&Received) -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(found) = phone.received().iter().filter_map(&mut pick).nth(n) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not get it: {:?}",
            phone.pn(),
            phone.received()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn image_message(up: &PhoneUpload, jpeg_thumbnail: Vec<u8>) -> WaMessage {
    WaMessage {
        image_message: Some(Box::new(ImageMessage {
            url: Some(up.url.clone()),
            mimetype: Some("image/png".into()),
            caption: Some("the view".into()),
            file_sha256: Some(up.file_sha256.to_vec()),
            file_length: Some(up.file_length),
            width: Some(64),
            height: Some(32),
            media_key: Some(up.media_key.to_vec()),
            file_enc_sha256: Some(up.file_enc_sha256.to_vec()),
            direct_path: Some(up.direct_path.clone()),
            jpeg_thumbnail: Some(jpeg_thumbnail),
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn document_message(up: &PhoneUpload, name: &str, file_sha256: Vec<u8>) -> WaMessage {
    WaMessage {
        document_message: Some(Box::new(DocumentMessage {
            url: Some(up.url.clone()),
            mimetype: Some("application/pdf".into()),
            file_name: Some(name.into()),
            file_sha256: Some(file_sha256),
            file_length: Some(up.file_length),
            media_key: Some(up.media_key.to_vec()),
            file_enc_sha256: Some(up.file_enc_sha256.to_vec()),
            direct_path: Some(up.direct_path.clone()),
            ..Default::default()
        })),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_both_ways() {
    if synapse::venv().is_none() {
        return;
    }
    support::log::to_test_output("wabridge=debug,wa_client=info");
    let sim = support::bridge::start_sim().await;
    let alice_phone = sim.account(ALICE_PN);
    let bob = sim.account(BOB_PN);
    let LoggedIn {
        synapse,
        bridge,
        alice,
        ..
    } = start_logged_in(
        &sim,
        &alice_phone,
        ALICE_PN,
        "wabridge-e2e-media",
        false,
        WAIT,
    )
    .await;
    let bob_ghost = format!("@whatsapp_{BOB_PN}:{}", synapse.server_name());
    let from_bob = |e: &Value| e["sender"] == bob_ghost.as_str() && e["type"] == "m.room.message";

    // WhatsApp -> Matrix: an image with a caption and an inline thumbnail.
    let picture = png(64, 32);
    let thumb = png(8, 4);
    let up = bob.upload_media(MediaKind::Image, &picture).unwrap();
    bob.send_message(ALICE_PN, image_message(&up, thumb.clone()))
        .await
        .unwrap();
    let dm = alice.wait_for_invite(WAIT).await;
    alice.accept_invite(&dm).await;
    let (_, image) = alice
        .sync_until(WAIT, |room, e| room == dm && from_bob(e))
        .await;
    let c = &image["content"];
    assert_eq!(c["msgtype"], "m.image", "{image}");
    assert_eq!(c["body"], "the view");
    assert_eq!(c["filename"], "image.png");
    assert_eq!(c["info"]["mimetype"], "image/png");
    assert_eq!(c["info"]["size"], picture.len());
    assert_eq!(
        (c["info"]["w"].as_u64(), c["info"]["h"].as_u64()),
        (Some(64), Some(32))
    );
    assert_eq!(
        alice.download_media(c["url"].as_str().unwrap()).await,
        picture,
        "the image arrives byte for byte"
    );
    assert_eq!(
        alice
            .download_media(c["info"]["thumbnail_url"].as_str().unwrap())
            .await,
        thumb
    );
    assert_eq!(c["info"]["thumbnail_info"]["size"], thumb.len());

    // A voice note.
    let voice = random_bytes(3000);
    let up = bob.upload_media(MediaKind::Ptt, &voice).unwrap();
    let note = WaMessage {
        audio_message: Some(Box::new(AudioMessage {
            url: Some(up.url.clone()),
            mimetype: Some("audio/ogg; codecs=opus".into()),
            file_sha256: Some(up.file_sha256.to_vec()),
            file_length: Some(up.file_length),
            seconds: Some(4),
            ptt: Some(true),
            media_key: Some(up.media_key.to_vec()),
            file_enc_sha256: Some(up.file_enc_sha256.to_vec()),
            direct_path: Some(up.direct_path.clone()),
            ..Default::default()
        })),
        ..Default::default()
    };
    bob.send_message(ALICE_PN, note).await.unwrap();
    let (_, audio) = alice
        .sync_until(WAIT, |room, e| room == dm && from_bob(e))
        .await;
    let c = &audio["content"];
    assert_eq!(c["msgtype"], "m.audio", "{audio}");
    assert_eq!(c["info"]["duration"], 4000);
    assert_eq!(c["info"]["size"], voice.len());
    assert_eq!(c["org.matrix.msc3245.voice"], json!({}));
    assert_eq!(c["org.matrix.msc1767.audio"]["duration"], 4000);
    assert_eq!(
        alice.download_media(c["url"].as_str().unwrap()).await,
        voice
    );

    // A document.
    let pdf = random_bytes(10_000);
    let up = bob.upload_media(MediaKind::Document, &pdf).unwrap();
    bob.send_message(
        ALICE_PN,
        document_message(&up, "report.pdf", up.file_sha256.to_vec()),
    )
    .await
    .unwrap();
    let (_, doc) = alice
        .sync_until(WAIT, |room, e| room == dm && from_bob(e))
        .await;
    let c = &doc["content"];
    assert_eq!(c["msgtype"], "m.file", "{doc}");
    assert_eq!(c["body"], "report.pdf");
    assert_eq!(c["filename"], "report.pdf");
    assert_eq!(c["info"]["mimetype"], "application/pdf");
    assert_eq!(c["info"]["size"], pdf.len());
    assert_eq!(alice.download_media(c["url"].as_str().unwrap()).await, pdf);

    // A video, a GIF (a looping video) and a song (audio, not a voice note).
    let clip = random_bytes(20_000);
    for gif in [false, true] {
        let kind = if gif {
            MediaKind::Gif
        } else {
            MediaKind::Video
        };
        let up = bob.upload_media(kind, &clip).unwrap();
        let video = WaMessage {
            video_message: Some(Box::new(VideoMessage {
                url: Some(up.url.clone()),
                mimetype: Some("video/mp4".into()),
                file_sha256: Some(up.file_sha256.to_vec()),
                file_length: Some(up.file_length),
                seconds: Some(7),
                width: Some(320),
                height: Some(240),
                gif_playback: Some(gif),
                media_key: Some(up.media_key.to_vec()),
                file_enc_sha256: Some(up.file_enc_sha256.to_vec()),
                direct_path: Some(up.direct_path.clone()),
                ..Default::default()
            })),
            ..Default::default()
        };
        bob.send_message(ALICE_PN, video).await.unwrap();
        let (_, shown) = alice
            .sync_until(WAIT, |room, e| room == dm && from_bob(e))
            .await;
        let c = &shown["content"];
        assert_eq!(c["msgtype"], "m.video", "{shown}");
        assert_eq!(c["info"]["duration"], 7000);
        assert_eq!(
            (&c["info"]["w"], &c["info"]["h"]),
            (&json!(320), &json!(240))
        );
        assert_eq!(c["info"]["fi.mau.gif"] == json!(true), gif, "{shown}");
        assert_eq!(alice.download_media(c["url"].as_str().unwrap()).await, clip);
    }
    let song = random_bytes(5000);
    let up = bob.upload_media(MediaKind::Audio, &song).unwrap();
    let audio = WaMessage {
        audio_message: Some(Box::new(AudioMessage {
            url: Some(up.url.clone()),
            mimetype: Some("audio/mpeg".into()),
            file_sha256: Some(up.file_sha256.to_vec()),
            file_length: Some(up.file_length),
            seconds: Some(180),
            ptt: Some(false),
            media_key: Some(up.media_key.to_vec()),
            file_enc_sha256: Some(up.file_enc_sha256.to_vec()),
            direct_path: Some(up.direct_path.clone()),
            ..Default::default()
        })),
        ..Default::default()
    };
    bob.send_message(ALICE_PN, audio).await.unwrap();
    let (_, shown) = alice
        .sync_until(WAIT, |room, e| room == dm && from_bob(e))
        .await;
    let c = &shown["content"];
    assert_eq!(c["msgtype"], "m.audio", "{shown}");
    assert_eq!(c["info"]["duration"], 180_000);
    assert!(
        c.get("org.matrix.msc3245.voice").is_none(),
        "not a voice note: {shown}"
    );
    assert_eq!(alice.download_media(c["url"].as_str().unwrap()).await, song);

    // A blob that does not match its fileSha256: a notice, and the chat
    // goes on.
    let up = bob.upload_media(MediaKind::Document, &pdf).unwrap();
    let mut wrong = up.file_sha256.to_vec();
    wrong[0] ^= 0xff;
    bob.send_message(ALICE_PN, document_message(&up, "tampered.pdf", wrong))
        .await
        .unwrap();
    let (_, notice) = alice
        .sync_until(WAIT, |room, e| room == dm && from_bob(e))
        .await;
    assert_eq!(notice["content"]["msgtype"], "m.notice", "{notice}");
    assert_eq!(
        body(&notice),
        "⚠️ The document could not be bridged: decrypted file does not match its fileSha256"
    );
    // The media host failing: a 500, a body cut short, a blob it does not
    // have (404). Each is a notice, in the order sent, and the text after
    // them still arrives.
    let failing = [
        (Some(MediaFault::Status(500)), "five-hundred.pdf"),
        (Some(MediaFault::Truncate(1000)), "cut-short.pdf"),
        (None, "missing.pdf"),
    ];
    for (fault, name) in failing {
        let mut up = bob.upload_media(MediaKind::Document, &pdf).unwrap();
        match fault {
            Some(f) => sim.media_fault(&up.direct_path, f),
            None => {
                up.direct_path = up.direct_path.replace(".enc", "-gone.enc");
                up.url = up.url.replace(".enc", "-gone.enc");
            }
        }
        let sha = up.file_sha256.to_vec();
        bob.send_message(ALICE_PN, document_message(&up, name, sha))
            .await
            .unwrap();
    }
    bob.send_text(ALICE_PN, "did you get it?").await.unwrap();
    let mut shown = Vec::new();
    while shown.len() < 4 {
        let (_, e) = alice
            .sync_until(WAIT, |room, e| room == dm && from_bob(e))
            .await;
        shown.push((
            e["content"]["msgtype"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            body(&e).to_owned(),
        ));
    }
    for (msgtype, text) in &shown[..3] {
        assert_eq!(msgtype, "m.notice", "{shown:?}");
        assert!(
            text.starts_with("⚠️ The document could not be bridged: "),
            "{shown:?}"
        );
    }
    assert!(shown[0].1.contains("500"), "{shown:?}");
    assert!(shown[2].1.contains("404"), "{shown:?}");
    assert_eq!(
        shown[3],
        ("m.text".to_owned(), "did you get it?".to_owned())
    );

    // Matrix -> WhatsApp: an image (with a thumbnail made by the bridge).
    let picture = png(200, 100);
    let mxc = alice.upload_media("image/png", picture.clone()).await;
    alice
        .send_event(
            &dm,
            "m.room.message",
            &json!({
                "msgtype": "m.image", "body": "sunset", "filename": "sunset.png", "url": mxc,
                "info": {"mimetype": "image/png", "size": picture.len(), "w": 200, "h": 100},
            }),
        )
        .await;
    let image = wait_for(&bob, |r| r.message.image_message.clone()).await;
    assert_eq!(image.mimetype.as_deref(), Some("image/png"));
    assert_eq!(image.caption.as_deref(), Some("sunset"));
    assert_eq!((image.width, image.height), (Some(200), Some(100)));
    assert_eq!(image.file_length, Some(picture.len() as u64));
    let thumbnail = image.jpeg_thumbnail.clone().expect("a jpegThumbnail");
    assert_eq!(&thumbnail[..2], &[0xff, 0xd8], "the thumbnail is a JPEG");
    let got = blob_plaintext(
        &sim,
        MediaKind::Image,
        image.direct_path.as_deref().unwrap(),
        image.media_key.as_deref().unwrap(),
        image.file_sha256.as_deref().unwrap(),
        image.file_enc_sha256.as_deref().unwrap(),
    );
    assert_eq!(got, picture, "the image arrives byte for byte");
    assert!(image.url.as_deref().unwrap().starts_with("https://"));

    // A file.
    let notes = b"line one\nline two\n".repeat(500);
    let mxc = alice.upload_media("text/plain", notes.clone()).await;
    alice
        .send_event(
            &dm,
            "m.room.message",
            &json!({"msgtype": "m.file", "body": "notes.txt", "url": mxc,
                    "info": {"mimetype": "text/plain", "size": notes.len()}}),
        )
        .await;
    let doc = wait_for(&bob, |r| r.message.document_message.clone()).await;
    assert_eq!(doc.file_name.as_deref(), Some("notes.txt"));
    assert_eq!(doc.mimetype.as_deref(), Some("text/plain"));
    assert_eq!(doc.caption, None);
    let got = blob_plaintext(
        &sim,
        MediaKind::Document,
        doc.direct_path.as_deref().unwrap(),
        doc.media_key.as_deref().unwrap(),
        doc.file_sha256.as_deref().unwrap(),
        doc.file_enc_sha256.as_deref().unwrap(),
    );
    assert_eq!(got, notes);

    // A video, a GIF (the mautrix marks of a looping video) and a song.
    let clip = random_bytes(30_000);
    let mxc = alice.upload_media("video/mp4", clip.clone()).await;
    // The client's still of the video, which the bridge makes the JPEG
    // thumbnail WhatsApp shows.
    let still = alice.upload_media("image/png", png(64, 48)).await;
    for (n, gif) in [false, true].into_iter().enumerate() {
        let mut info = json!({"mimetype": "video/mp4", "size": clip.len(), "w": 320, "h": 240,
                              "duration": 7000, "thumbnail_url": still});
        if gif {
            info["fi.mau.gif"] = json!(true);
            info["fi.mau.loop"] = json!(true);
            info["fi.mau.autoplay"] = json!(true);
        }
        alice
            .send_event(
                &dm,
                "m.room.message",
                &json!({"msgtype": "m.video", "body": "clip.mp4", "url": mxc, "info": info}),
            )
            .await;
        let video = wait_nth(&bob, n, |r| r.message.video_message.clone()).await;
        assert_eq!(video.gif_playback.unwrap_or(false), gif, "{video:?}");
        let thumbnail = video.jpeg_thumbnail.clone().expect("a jpegThumbnail");
        assert_eq!(&thumbnail[..2], &[0xff, 0xd8], "the thumbnail is a JPEG");
        assert_eq!(video.mimetype.as_deref(), Some("video/mp4"));
        assert_eq!(video.seconds, Some(7));
        assert_eq!((video.width, video.height), (Some(320), Some(240)));
        let kind = if gif {
            MediaKind::Gif
        } else {
            MediaKind::Video
        };
        let got = blob_plaintext(
            &sim,
            kind,
            video.direct_path.as_deref().unwrap(),
            video.media_key.as_deref().unwrap(),
            video.file_sha256.as_deref().unwrap(),
            video.file_enc_sha256.as_deref().unwrap(),
        );
        assert_eq!(got, clip);
    }
    let song = random_bytes(6000);
    let mxc = alice.upload_media("audio/mpeg", song.clone()).await;
    alice
        .send_event(
            &dm,
            "m.room.message",
            &json!({"msgtype": "m.audio", "body": "song.mp3", "url": mxc,
                    "info": {"mimetype": "audio/mpeg", "size": song.len(), "duration": 180_000}}),
        )
        .await;
    let audio = wait_for(&bob, |r| r.message.audio_message.clone()).await;
    assert_ne!(audio.ptt, Some(true), "a song is not a voice note");
    assert_eq!(audio.seconds, Some(180));
    let got = blob_plaintext(
        &sim,
        MediaKind::Audio,
        audio.direct_path.as_deref().unwrap(),
        audio.media_key.as_deref().unwrap(),
        audio.file_sha256.as_deref().unwrap(),
        audio.file_enc_sha256.as_deref().unwrap(),
    );
    assert_eq!(got, song);

    // Too large (by its info, before any download) and without a url:
    // notices, nothing sent.
    let sent_before = bob.received().len();
    let huge = alice
        .send_event(
            &dm,
            "m.room.message",
            &json!({"msgtype": "m.video", "body": "film.mp4", "url": mxc,
                    "info": {"mimetype": "video/mp4", "size": 200u64 << 20}}),
        )
        .await;
    let (_, notice) = alice
        .sync_until(WAIT, |room, e| {
            room == dm && body(e).starts_with("⚠️ Your message was not bridged")
        })
        .await;
    assert_eq!(
        body(&notice),
        "⚠️ Your message was not bridged: file too large (200 MB, limit 100 MB)"
    );
    assert_eq!(
        notice["content"]["m.relates_to"]["m.in_reply_to"]["event_id"],
        huge.as_str()
    );
    alice
        .send_event(
            &dm,
            "m.room.message",
            &json!({"msgtype": "m.image", "body": "nothing.png"}),
        )
        .await;
    let (_, notice) = alice
        .sync_until(WAIT, |room, e| {
            room == dm && body(e).starts_with("⚠️ Your message was not bridged")
        })
        .await;
    assert_eq!(
        body(&notice),
        "⚠️ Your message was not bridged: the event has no valid mxc:// url"
    );
    let malformed = alice
        .send_event(
            &dm,
            "m.room.message",
            &json!({"msgtype": "m.file", "body": "x.pdf", "url": "https://example.org/x.pdf"}),
        )
        .await;
    let (_, notice) = alice
        .sync_until(WAIT, |room, e| {
            room == dm
                && e["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == malformed.as_str()
        })
        .await;
    assert_eq!(
        body(&notice),
        "⚠️ Your message was not bridged: the event has no valid mxc:// url"
    );
    alice.send_text(&dm, "and a text after all that").await;
    wait_for(&bob, |r| {
        (r.text.as_deref() == Some("and a text after all that")).then_some(())
    })
    .await;
    assert_eq!(
        bob.received().len(),
        sent_before + 1,
        "only the text went out"
    );
    bridge.stop().await;
}
