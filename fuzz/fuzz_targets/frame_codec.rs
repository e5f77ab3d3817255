//! Frame codec: the stream decoders never panic, do not depend on how the
//! stream is cut, agree with a plain reference reading of the 3-byte lengths,
//! and give back what `encode_frame` / `connection_header` wrote.
//!
//! Input: four cut bytes, one mode byte, then the stream. The cut bytes set the
//! chunk sizes (1..=256, cycled) the stream is pushed in, and the payload sizes
//! (0..=255, cycled) the stream is split into for the round trip. Mode bit 6
//! sends the first payload as routing info; bit 7 adds a frame of just over
//! 64 KiB so that the decoder's buffer compaction is reached.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_core::frame::{
    ConnectionHeader, FrameDecoder, FrameError, ServerFrameDecoder, connection_header, encode_frame,
};

fuzz_target!(|data: &[u8]| {
    let Some((&[c0, c1, c2, c3, mode], stream)) = data.split_first_chunk::<5>() else {
        return;
    };
    let cuts = [c0, c1, c2, c3];
    client_stream(stream, &cuts);
    server_stream(stream, &cuts);
    round_trip(stream, &cuts, mode);
});

/// Pushes `bytes` in chunks of the cut sizes times `scale`, draining after each push.
fn push_in_chunks(
    bytes: &[u8],
    cuts: &[u8; 4],
    scale: usize,
    mut push_and_drain: impl FnMut(&[u8]) -> bool,
) {
    let mut rest = bytes;
    for &c in cuts.iter().cycle() {
        if rest.is_empty() {
            return;
        }
        let (chunk, tail) = rest.split_at(((usize::from(c) + 1) * scale).min(rest.len()));
        rest = tail;
        if !push_and_drain(chunk) {
            return;
        }
    }
}

/// The frames of `bytes` read in one go, and how many bytes are left over.
fn reference_frames(mut bytes: &[u8]) -> (Vec<Vec<u8>>, usize) {
    let mut frames = Vec::new();
    while let Some(([a, b, c], rest)) = bytes.split_first_chunk::<3>() {
        let len = usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c);
        let Some(payload) = rest.get(..len) else {
            break;
        };
        frames.push(payload.to_vec());
        bytes = &rest[len..];
    }
    (frames, bytes.len())
}

fn client_stream(stream: &[u8], cuts: &[u8; 4]) {
    let mut d = FrameDecoder::new();
    let mut got = Vec::new();
    push_in_chunks(stream, cuts, 1, |chunk| {
        d.push(chunk);
        while let Some(f) = d.next_frame() {
            got.push(f);
        }
        true
    });
    let (want, left) = reference_frames(stream);
    assert_eq!(got, want);
    assert_eq!(d.buffered(), left);
}

/// What a server decoder makes of a stream: frames, then the header and the
/// error that stopped it (if any).
type ServerOutcome = (Vec<Vec<u8>>, Option<ConnectionHeader>, Option<FrameError>);

fn server_stream(stream: &[u8], cuts: &[u8; 4]) {
    let drain = |d: &mut ServerFrameDecoder, frames: &mut Vec<Vec<u8>>| loop {
        match d.next_frame() {
            Ok(Some(f)) => frames.push(f),
            Ok(None) => return None,
            Err(e) => return Some(e),
        }
    };

    let mut d = ServerFrameDecoder::new();
    let mut frames = Vec::new();
    let mut error = None;
    push_in_chunks(stream, cuts, 1, |chunk| {
        d.push(chunk);
        error = drain(&mut d, &mut frames);
        error.is_none()
    });
    let chunked: ServerOutcome = (frames, d.header().cloned(), error);

    let mut d = ServerFrameDecoder::new();
    let mut frames = Vec::new();
    d.push(stream);
    let error = drain(&mut d, &mut frames);
    let whole: ServerOutcome = (frames, d.header().cloned(), error);
    assert_eq!(chunked, whole, "outcome depends on how the stream is cut");

    // Past the header, a server reads frames exactly as a client does.
    if let (frames, Some(header), None) = &whole {
        let header_len = 4 + header.routing.as_ref().map_or(0, |r| 7 + r.len());
        let (want, _) = reference_frames(&stream[header_len..]);
        assert_eq!(frames, &want);
    }
}

fn round_trip(stream: &[u8], cuts: &[u8; 4], mode: u8) {
    // Payloads of the cut sizes, starting from the third cut so that they do
    // not line up with the chunks.
    let mut payloads = Vec::new();
    let mut rest = stream;
    for &c in cuts.iter().cycle().skip(2) {
        if rest.is_empty() || payloads.len() >= 1024 {
            break;
        }
        let (p, tail) = rest.split_at(usize::from(c).min(rest.len()));
        payloads.push(p.to_vec());
        rest = tail;
    }
    let routing = if mode & 0x40 != 0 && !payloads.is_empty() {
        Some(payloads.remove(0))
    } else {
        None
    };
    // A first frame just past 64 KiB, after which the decoder compacts its
    // buffer; bigger chunks for that stream keep the target fast.
    let scale = if mode & 0x80 != 0 {
        payloads.insert(0, vec![mode; 64 * 1024 + 64 * usize::from(mode & 0x3f)]);
        64
    } else {
        1
    };

    let mut frames = Vec::new();
    for p in &payloads {
        encode_frame(p, &mut frames).unwrap_or_else(|e| panic!("payload of {}: {e}", p.len()));
    }

    let mut d = FrameDecoder::new();
    let mut got = Vec::new();
    push_in_chunks(&frames, cuts, scale, |chunk| {
        d.push(chunk);
        while let Some(f) = d.next_frame() {
            got.push(f);
        }
        true
    });
    assert_eq!(got, payloads);
    assert_eq!(d.buffered(), 0);

    let mut wire = connection_header(routing.as_deref()).unwrap_or_else(|e| {
        panic!(
            "routing of {} bytes: {e}",
            routing.as_ref().map_or(0, Vec::len)
        )
    });
    wire.extend_from_slice(&frames);
    let mut d = ServerFrameDecoder::new();
    let mut got = Vec::new();
    push_in_chunks(&wire, cuts, scale, |chunk| {
        d.push(chunk);
        while let Some(f) = d
            .next_frame()
            .unwrap_or_else(|e| panic!("own header refused: {e}"))
        {
            got.push(f);
        }
        true
    });
    assert_eq!(got, payloads);
    assert_eq!(d.header().map(|h| h.routing.clone()), Some(routing));
    assert_eq!(d.next_frame(), Ok(None));
}
