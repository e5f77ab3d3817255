//! The transport framing under Noise: a connection header, then frames of a
//! 3-byte big-endian length and a payload.
//!
//! The client's first bytes are the header `W A 6 3` (3 = token dictionary
//! version), optionally preceded by a routing prefix: `E D 0 1`, a 3-byte length
//! and the routing info. Only the `WA` header is the Noise prologue. The decoders
//! here work on a byte stream (WebSocket message boundaries carry no meaning),
//! say "incomplete" by returning `None`, and never allocate more than one
//! frame's announced size once its bytes have arrived.

/// The connection header and Noise prologue: `'W','A'`, protocol 6, dictionary 3.
pub const WA_HEADER: [u8; 4] = [b'W', b'A', 6, 3];

/// The routing prefix magic: `'E','D'`, 0, 1.
pub const ROUTING_MAGIC: [u8; 4] = [b'E', b'D', 0, 1];

/// Largest payload a 3-byte length can announce.
pub const MAX_FRAME: usize = (1 << 24) - 1;

/// Framing errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A payload too long for the 3-byte length.
    #[error("frame of {0} bytes exceeds the 16 MiB limit")]
    TooLong(usize),
    /// The stream does not start with the `WA` header (or a routing prefix).
    #[error("connection does not start with the WhatsApp header")]
    BadHeader,
    /// The header names another protocol or dictionary version.
    #[error("unsupported header version {0}.{1}")]
    UnsupportedVersion(u8, u8),
}

/// Appends `payload` as one frame to `out`.
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    let len = payload.len();
    if len > MAX_FRAME {
        return Err(FrameError::TooLong(len));
    }
    out.extend_from_slice(&len_bytes(len));
    out.extend_from_slice(payload);
    Ok(())
}

/// The bytes a client sends before its first frame: the routing prefix (when
/// `routing` is given) and the `WA` header.
pub fn connection_header(routing: Option<&[u8]>) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::with_capacity(4 + routing.map_or(0, |r| 7 + r.len()));
    if let Some(r) = routing {
        if r.len() > MAX_FRAME {
            return Err(FrameError::TooLong(r.len()));
        }
        out.extend_from_slice(&ROUTING_MAGIC);
        out.extend_from_slice(&len_bytes(r.len()));
        out.extend_from_slice(r);
    }
    out.extend_from_slice(&WA_HEADER);
    Ok(out)
}

fn len_bytes(len: usize) -> [u8; 3] {
    // Callers check len <= MAX_FRAME; the casts keep the low bytes by intent.
    [(len >> 16) as u8, (len >> 8) as u8, len as u8]
}

/// Splits a byte stream into frames.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
}

impl FrameDecoder {
    /// A decoder for frames with no header (the client's view of the server).
    pub fn new() -> FrameDecoder {
        FrameDecoder::default()
    }

    /// Feeds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received and not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete frame's payload, or `None` until more bytes arrive.
    pub fn next_frame(&mut self) -> Option<Vec<u8>> {
        let pending = self.buf.get(self.start..)?;
        let (len, rest) = match pending {
            [a, b, c, rest @ ..] => (
                usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c),
                rest,
            ),
            _ => return None,
        };
        let payload = rest.get(..len)?.to_vec();
        self.start += 3 + len;
        if self.start > 64 * 1024 && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        Some(payload)
    }
}

/// What a server reads first: an optional routing prefix and the `WA` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionHeader {
    /// Routing info from the `ED` prefix, if the client sent one.
    pub routing: Option<Vec<u8>>,
}

/// The server's view of a connection: the header, then frames.
#[derive(Debug, Default)]
pub struct ServerFrameDecoder {
    header: Option<ConnectionHeader>,
    frames: FrameDecoder,
}

impl ServerFrameDecoder {
    /// A decoder expecting the connection header first.
    pub fn new() -> ServerFrameDecoder {
        ServerFrameDecoder::default()
    }

    /// Feeds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.frames.push(bytes);
    }

    /// The header, once it has been read.
    pub fn header(&self) -> Option<&ConnectionHeader> {
        self.header.as_ref()
    }

    /// The next frame: `Ok(None)` until more bytes arrive; an error if the
    /// stream does not start with a valid header.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if self.header.is_none() && !self.read_header()? {
            return Ok(None);
        }
        Ok(self.frames.next_frame())
    }

    fn read_header(&mut self) -> Result<bool, FrameError> {
        let f = &mut self.frames;
        let pending = f.buf.get(f.start..).unwrap_or_default();
        let (routing, after) = if pending.first() == Some(&b'E') {
            let n = pending.len().min(4);
            if pending.get(..n) != ROUTING_MAGIC.get(..n) {
                return Err(FrameError::BadHeader);
            }
            match pending {
                [_, _, _, _, a, b, c, rest @ ..] => {
                    let len = usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c);
                    match rest.get(..len) {
                        Some(r) => (Some(r.to_vec()), 7 + len),
                        None => return Ok(false),
                    }
                }
                _ => return Ok(false),
            }
        } else {
            (None, 0)
        };
        match pending.get(after..after + 4) {
            Some([b'W', b'A', 6, 3]) => {}
            Some([b'W', b'A', major, minor]) => {
                return Err(FrameError::UnsupportedVersion(*major, *minor));
            }
            Some(_) => return Err(FrameError::BadHeader),
            None => {
                // Once "WA" is here, wait for the version bytes: a whole
                // `W A 5 2` is UnsupportedVersion, so its prefix cannot be
                // BadHeader, however the stream is cut.
                let got = pending.get(after..).unwrap_or_default();
                let n = got.len().min(2);
                return if got.get(..n) == WA_HEADER.get(..n) {
                    Ok(false)
                } else {
                    Err(FrameError::BadHeader)
                };
            }
        }
        f.start += after + 4;
        self.header = Some(ConnectionHeader { routing });
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_then_frames_byte_by_byte() {
        let mut wire = connection_header(Some(b"route")).unwrap();
        encode_frame(b"hello", &mut wire).unwrap();
        encode_frame(b"", &mut wire).unwrap();
        let mut d = ServerFrameDecoder::new();
        let mut got = Vec::new();
        for b in &wire {
            d.push(&[*b]);
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, vec![b"hello".to_vec(), Vec::new()]);
        assert_eq!(d.header().unwrap().routing.as_deref(), Some(&b"route"[..]));
    }

    #[test]
    fn bad_headers_are_refused() {
        let mut d = ServerFrameDecoder::new();
        d.push(b"GET / HTTP/1.1");
        assert_eq!(d.next_frame(), Err(FrameError::BadHeader));
        let mut d = ServerFrameDecoder::new();
        d.push(&[b'W', b'A', 5, 2, 0, 0, 0]);
        assert_eq!(d.next_frame(), Err(FrameError::UnsupportedVersion(5, 2)));
        let mut d = ServerFrameDecoder::new();
        d.push(b"WA");
        assert_eq!(d.next_frame(), Ok(None));
    }

    #[test]
    fn too_long_frames_are_refused() {
        let big = vec![0u8; MAX_FRAME + 1];
        assert_eq!(
            encode_frame(&big, &mut Vec::new()),
            Err(FrameError::TooLong(MAX_FRAME + 1))
        );
    }

    proptest! {
        #[test]
        fn frames_survive_any_split(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..2000), 0..8),
            cuts in proptest::collection::vec(1usize..500, 1..20),
        ) {
            let mut wire = Vec::new();
            for p in &payloads {
                encode_frame(p, &mut wire).unwrap();
            }
            let mut d = FrameDecoder::new();
            let mut got = Vec::new();
            let mut rest = &wire[..];
            let mut i = 0;
            while !rest.is_empty() {
                let n = cuts[i % cuts.len()].min(rest.len());
                d.push(&rest[..n]);
                rest = &rest[n..];
                i += 1;
                while let Some(f) = d.next_frame() {
                    got.push(f);
                }
            }
            prop_assert_eq!(got, payloads);
            prop_assert_eq!(d.buffered(), 0);
        }

        #[test]
        fn server_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut d = ServerFrameDecoder::new();
            d.push(&bytes);
            while let Ok(Some(_)) = d.next_frame() {}
        }
    }
}
