//! Message reporting tokens ("message franking").
//!
//! A sender commits to what it sent by attaching
//! `<reporting><reporting_token v="2">16 bytes</reporting_token></reporting>`
//! to the `<message>` stanza. The 16 bytes are a MAC over selected fields of
//! the message plaintext, keyed from the message's `messageSecret` (32 random
//! bytes in `messageContextInfo`), so a recipient who reports the message can
//! let WhatsApp check the reported content against that commitment.
//!
//! # Derivation
//!
//! 1. key = HKDF-SHA256 of the `messageSecret`, no salt, 32 bytes, with the
//!    info `message id ‖ sender ‖ remote ‖ "Report Token"` (the same scheme
//!    as the poll-vote key of [`crate::msgsecret`], another use-case string);
//! 2. content = [`content`] of the encoded `Message`: only the fields listed
//!    in [`FIELDS`] (recursively), each level sorted by field number;
//! 3. token = the first 16 bytes of HMAC-SHA256(key, content).
//!
//! The bytes are the plaintext `Message` as encrypted to the recipients
//! (not the `deviceSentMessage` wrapper for our own devices), **without**
//! the random padding added before encryption.
//!
//! # JIDs
//!
//! Both clients only ever compute tokens when sending; they disagree on the
//! JIDs, which is why [`token`] takes both explicitly:
//!
//! * whatsmeow (`send.go` `sendDM`/`sendGroup` lines 815-816 and 873-874,
//!   `msgsecret.go` `generateMsgSecretKey`) passes `sender` = our own JID
//!   and `remote` = the chat, both without device (`ToNonAD`). Our own JID
//!   is the LID in DMs (a phone-number recipient is first swapped for its
//!   LID, `send.go` 300-352) and in LID-addressed groups, otherwise the
//!   phone-number JID.
//! * Baileys rc14 (`messages-send.js` `relayMessage` lines 782-788) builds
//!   the key `{ fromMe: true, remoteJid: destinationJid }`, and
//!   `getMessageReportingToken` (`reporting-utils.js` lines 238-240) then
//!   uses `remoteJid` for both: `sender` = `remote` = the chat JID as given
//!   to `relayMessage`. Its non-`fromMe` branch would use the participant
//!   (or the chat) as sender and the chat as remote, i.e. whatsmeow's
//!   convention.
//!
//! # Where the two clients differ
//!
//! * JIDs, as above.
//! * Baileys hashes `encodeWAMessage(..)`, which appends the 1-16 byte
//!   random padding. Parsed as protobuf, padding of 5 or 16 bytes is
//!   skipped, 8 or 9 bytes read as extra `conversation` fields (changing
//!   the token), any other length is malformed (no token at all). We hash
//!   the unpadded message, as whatsmeow does.
//! * When the content is empty (e.g. a view-once wrapper, or a kind not in
//!   the table) or malformed, Baileys attaches no token; whatsmeow MACs the
//!   empty string. [`content`] returns an empty vector in both cases, so a
//!   caller that wants Baileys' behaviour skips the node when it is empty.
//! * Baileys reads at most 6-byte varints and rejects longer ones (say a
//!   negative `int64`) as malformed; we read protobuf's full 10 bytes, as
//!   whatsmeow does.
//! * Baileys hands the HKDF info over as a latin-1 string that is UTF-8
//!   encoded again, so ids or JIDs with non-ASCII characters get another
//!   key there; we (and whatsmeow) use the UTF-8 bytes once.
//! * On malformed input whatsmeow may stop early or panic (it only ever
//!   parses its own output); we follow Baileys: anything malformed,
//!   anywhere, gives empty content.
//!
//! # Sources
//!
//! whatsmeow commit 33cfac51: `reportingtoken.go`, `reportingfields.json`,
//! `msgsecret.go` (`generateMsgSecretKey`, `EncSecretReportToken`),
//! `send.go`. Baileys 7.0.0-rc14: `lib/Utils/reporting-utils.js`,
//! `lib/Socket/messages-send.js` (`relayMessage`), `lib/Utils/messages.js`
//! (adds a `messageSecret` when [`should_include`] holds),
//! `lib/Utils/generics.js` (`encodeWAMessage`). Both carry the same field
//! table. Checked against Baileys' own `getMessageReportingToken` by the
//! tests.

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::binary::Node;
use crate::proto::Message;

/// The use-case string of the key derivation.
const USE_CASE: &[u8] = b"Report Token";

/// One field of a protobuf message that takes part in the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The field number.
    pub number: u32,
    /// The field holds a whole `Message` (`"m": true` in the sources'
    /// table). Such entries list no sub-fields, and both whatsmeow and
    /// Baileys filter the value with that empty list: it must still parse,
    /// but nothing of it is kept, so the field never reaches the content.
    /// Filtering it with the top-level table instead, which the flag seems
    /// made for, would disagree with both clients, so we don't.
    pub message: bool,
    /// For a nested message: its fields that take part. Empty: the field's
    /// bytes are kept as they are.
    pub sub: &'static [Field],
}

/// A field kept as it is.
const fn keep(number: u32) -> Field {
    Field {
        number,
        message: false,
        sub: &[],
    }
}

/// A nested message of which only `sub` is kept.
const fn nested(number: u32, sub: &'static [Field]) -> Field {
    Field {
        number,
        message: false,
        sub,
    }
}

/// A field holding a whole `Message` (see [`Field::message`]).
const fn whole_message(number: u32) -> Field {
    Field {
        number,
        message: true,
        sub: &[],
    }
}

/// `ContextInfo`: forwardingScore (21), isForwarded (22).
const FORWARDING: &[Field] = &[keep(21), keep(22)];

/// `FutureProofMessage`: message (1).
const WRAPPER: &[Field] = &[whole_message(1)];

/// `VideoMessage` (videoMessage and ptvMessage): mimetype, mediaKey,
/// caption, directPath, contextInfo, viewOnce.
const VIDEO: &[Field] = &[
    keep(2),
    keep(6),
    keep(7),
    keep(13),
    nested(17, FORWARDING),
    keep(20),
];

/// `PollCreationMessage` (V1-V3): name, options (optionName, optionHash),
/// contextInfo, correctAnswer (optionName, optionHash).
const POLL: &[Field] = &[
    keep(2),
    nested(3, &[keep(1), keep(2)]),
    nested(5, FORWARDING),
    nested(8, &[keep(1), keep(2)]),
];

/// The fields of `Message` that take part in the token, in the order of the
/// sources' table (whatsmeow `reportingfields.json`, Baileys
/// `reportingFields`; the two are identical).
pub const FIELDS: &[Field] = &[
    // conversation
    keep(1),
    // imageMessage: mimetype, caption, mediaKey, directPath, contextInfo,
    // viewOnce
    nested(
        3,
        &[
            keep(2),
            keep(3),
            keep(8),
            keep(11),
            nested(17, FORWARDING),
            keep(25),
        ],
    ),
    // contactMessage: displayName, vcard, contextInfo
    nested(4, &[keep(1), keep(16), nested(17, FORWARDING)]),
    // locationMessage: name, address, url, jpegThumbnail, contextInfo
    nested(
        5,
        &[keep(3), keep(4), keep(5), keep(16), nested(17, FORWARDING)],
    ),
    // extendedTextMessage: text, contextInfo, viewOnce
    nested(6, &[keep(1), nested(17, FORWARDING), keep(30)]),
    // documentMessage: mimetype, mediaKey, directPath, contextInfo, caption
    nested(
        7,
        &[keep(2), keep(7), keep(10), nested(17, FORWARDING), keep(20)],
    ),
    // audioMessage: mimetype, mediaKey, directPath, contextInfo, viewOnce
    nested(
        8,
        &[keep(2), keep(7), keep(9), nested(17, FORWARDING), keep(21)],
    ),
    // videoMessage
    nested(9, VIDEO),
    // protocolMessage: key, type, editedMessage, timestampMs
    nested(12, &[keep(1), keep(2), whole_message(14), keep(15)]),
    // liveLocationMessage: caption, jpegThumbnail, contextInfo
    nested(18, &[keep(6), keep(16), nested(17, FORWARDING)]),
    // stickerMessage: mediaKey, mimetype, directPath, isAnimated, contextInfo
    nested(
        26,
        &[keep(4), keep(5), keep(8), keep(13), nested(17, FORWARDING)],
    ),
    // groupInviteMessage: groupJid, inviteCode, groupName, jpegThumbnail,
    // caption, contextInfo
    nested(
        28,
        &[
            keep(1),
            keep(2),
            keep(4),
            keep(5),
            keep(6),
            nested(7, FORWARDING),
        ],
    ),
    // viewOnceMessage
    nested(37, WRAPPER),
    // pollCreationMessage
    nested(49, POLL),
    // documentWithCaptionMessage
    nested(53, WRAPPER),
    // viewOnceMessageV2
    nested(55, WRAPPER),
    // editedMessage
    nested(58, WRAPPER),
    // viewOnceMessageV2Extension
    nested(59, WRAPPER),
    // pollCreationMessageV2
    nested(60, POLL),
    // pollCreationMessageV3
    nested(64, POLL),
    // ptvMessage
    nested(66, VIDEO),
    // lottieStickerMessage
    nested(74, WRAPPER),
    // statusMentionMessage
    nested(87, WRAPPER),
    // pollResultSnapshotMessage: name, pollVotes (optionName), contextInfo
    nested(88, &[keep(1), nested(2, &[keep(1)]), nested(3, FORWARDING)]),
    // groupStatusMentionMessage
    nested(92, WRAPPER),
    // pollCreationMessageV4
    nested(93, WRAPPER),
    // 94: a wrapper not in our schema
    nested(94, WRAPPER),
];

/// Whether a token goes with `message`: every kind but reactions, encrypted
/// reactions, poll votes and encrypted event responses. whatsmeow and
/// Baileys rc14 exclude exactly these four.
///
/// Both also need a `messageSecret` in `messageContextInfo` (Baileys adds a
/// random one to every message this holds for; whatsmeow does so when its
/// `SendReportingTokens` option is on), and Baileys sends none with
/// newsletter messages or retry resends.
pub fn should_include(message: &Message) -> bool {
    message.reaction_message.is_none()
        && message.enc_reaction_message.is_none()
        && message.enc_event_response_message.is_none()
        && message.poll_update_message.is_none()
}

/// The bytes the token is a MAC of: the fields of `encoded_message` (an
/// encoded `Message`) that [`FIELDS`] lists, recursively, each level sorted
/// by field number (stably: repeated fields keep their order). Kept leaves
/// are copied byte for byte; a filtered sub-message gets its tag re-encoded
/// and a new length, and is dropped when nothing of it is kept.
///
/// Empty when nothing is kept, and when the input is malformed anywhere
/// (truncated varint or fixed field, length past the end, varint over 10
/// bytes, group or unknown wire type), as Baileys does.
pub fn content(encoded_message: &[u8]) -> Vec<u8> {
    filter(encoded_message, FIELDS).unwrap_or_default()
}

/// Filters one level; `None` when it is malformed.
fn filter(data: &[u8], table: &[Field]) -> Option<Vec<u8>> {
    let mut kept: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let start = pos;
        let tag = read_varint(data, &mut pos)?;
        let number = tag >> 3;
        let field = table.iter().find(|f| u64::from(f.number) == number);
        match tag & 7 {
            0 => {
                read_varint(data, &mut pos)?;
            }
            1 => pos = skip(data, pos, 8)?,
            5 => pos = skip(data, pos, 4)?,
            2 => {
                let len = usize::try_from(read_varint(data, &mut pos)?).ok()?;
                let body = data.get(pos..pos.checked_add(len)?)?;
                pos += len;
                if let Some(f) = field.filter(|f| f.message || !f.sub.is_empty()) {
                    let inner = filter(body, f.sub)?;
                    if !inner.is_empty() {
                        let mut out = Vec::with_capacity(inner.len() + 12);
                        write_varint(&mut out, tag);
                        write_varint(&mut out, inner.len() as u64);
                        out.extend_from_slice(&inner);
                        kept.push((number, out));
                    }
                    continue;
                }
            }
            _ => return None,
        }
        if field.is_some() {
            kept.push((number, data.get(start..pos)?.to_vec()));
        }
    }
    kept.sort_by_key(|(number, _)| *number);
    Some(kept.into_iter().flat_map(|(_, bytes)| bytes).collect())
}

/// Reads a varint at `*pos` and moves past it; `None` when truncated or
/// longer than a `u64` allows.
fn read_varint(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..10 {
        let byte = *data.get(*pos + i)?;
        if i == 9 && byte > 1 {
            return None;
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *pos += i + 1;
            return Some(value);
        }
    }
    None
}

/// `pos + n` if that is within `data`.
fn skip(data: &[u8], pos: usize, n: usize) -> Option<usize> {
    pos.checked_add(n).filter(|&end| end <= data.len())
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value & 0x7f) as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The 32-byte key of a `messageSecret` use case: HKDF-SHA256 of `secret`
/// (no salt) with the info `message id ‖ original sender ‖ modification
/// sender ‖ use case`, as whatsmeow's `generateMsgSecretKey` (the poll-vote
/// key of [`crate::msgsecret`] is the `"Poll Vote"` case).
pub(crate) fn secret_key(
    secret: &[u8],
    message_id: &str,
    original_sender: &str,
    modification_sender: &str,
    use_case: &[u8],
) -> Zeroizing<[u8; 32]> {
    let info = [
        message_id.as_bytes(),
        original_sender.as_bytes(),
        modification_sender.as_bytes(),
        use_case,
    ]
    .concat();
    let mut key = Zeroizing::new([0u8; 32]);
    // 32 bytes is always a valid HKDF-SHA256 output length.
    let _ = Hkdf::<Sha256>::new(None, secret).expand(&info, &mut *key);
    key
}

/// The reporting token of a message.
///
/// * `secret`: the message's `messageContextInfo.messageSecret`;
/// * `message_id`: the stanza's message id;
/// * `sender`: who sends the message, and `remote`: the chat, as JID
///   strings without device; see the module docs for which JIDs whatsmeow
///   and Baileys pass (they differ);
/// * `encoded_message`: the encoded, unpadded `Message`.
///
/// Always a MAC, of the empty string when [`content`] is empty (as
/// whatsmeow); Baileys sends no token then.
pub fn token(
    secret: &[u8],
    message_id: &str,
    sender: &str,
    remote: &str,
    encoded_message: &[u8],
) -> [u8; 16] {
    let key = secret_key(secret, message_id, sender, remote, USE_CASE);
    // HMAC zero-pads keys shorter than its 64-byte block, so this is HMAC
    // keyed with the 32-byte key, built without a fallible call.
    let mut block = Zeroizing::new([0u8; 64]);
    block[..32].copy_from_slice(&*key);
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&(*block).into());
    mac.update(&content(encoded_message));
    let digest = mac.finalize().into_bytes();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// `<reporting><reporting_token v="2">token</reporting_token></reporting>`,
/// a child of the `<message>` stanza.
pub fn node(token: [u8; 16]) -> Node {
    Node::new("reporting").children(vec![
        Node::new("reporting_token")
            .attr("v", "2")
            .bytes(token.to_vec()),
    ])
}

#[cfg(test)]
mod tests;
