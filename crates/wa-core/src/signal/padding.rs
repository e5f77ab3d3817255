//! WhatsApp's random padding of plaintexts before Signal encryption.
//!
//! The sender appends `n` bytes of value `n`, `n` random in 1..=16 (Baileys
//! `writeRandomPadMax16`; whatsmeow's `padMessage` draws 1..=15). Payloads of
//! `<enc v="3">` are not padded.

use super::SignalError;

/// The most padding [`pad`] adds.
pub const MAX_PAD: u8 = 16;

/// `plaintext` followed by `n` bytes of value `n`, where
/// `n = (random & 0x0f) + 1`; pass a random byte.
pub fn pad(plaintext: &[u8], random: u8) -> Vec<u8> {
    let n = (random & 0x0f) + 1;
    let mut out = Vec::with_capacity(plaintext.len() + usize::from(n));
    out.extend_from_slice(plaintext);
    out.resize(plaintext.len() + usize::from(n), n);
    out
}

/// `padded` without its padding.
///
/// The last byte `n` must be at least 1 and the last `n` bytes must all equal
/// `n`. Like whatsmeow, `n` up to 255 is accepted: only the receiver's check
/// is ours to choose, and phones' senders are not under test here.
pub fn unpad(padded: &[u8]) -> Result<&[u8], SignalError> {
    let Some(&last) = padded.last() else {
        return Err(SignalError::BadPadding);
    };
    let n = usize::from(last);
    if n == 0 || n > padded.len() {
        return Err(SignalError::BadPadding);
    }
    let (body, padding) = padded.split_at(padded.len() - n);
    if padding.iter().any(|&b| b != last) {
        return Err(SignalError::BadPadding);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_lengths_span_one_to_sixteen() {
        for random in 0..=255u8 {
            let padded = pad(b"abc", random);
            let n = usize::from(random & 0x0f) + 1;
            assert_eq!(padded.len(), 3 + n);
            assert!(padded[3..].iter().all(|&b| usize::from(b) == n));
            assert_eq!(unpad(&padded).unwrap(), b"abc");
        }
        assert_eq!(pad(b"", 0x0f).len(), usize::from(MAX_PAD));
    }
}
