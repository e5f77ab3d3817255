//! Add-ons to an earlier message, sealed with a key derived from that
//! message's `messageSecret` (32 random bytes in its
//! `messageContextInfo`): poll votes, encrypted edits of messages, events
//! and polls (`secretEncryptedMessage`), and bot replies (`<enc
//! type="msmsg">`).
//!
//! The key is HKDF-SHA256 (no salt) of the secret with the info
//! `target id ‖ target sender ‖ author ‖ use case` (the senders as bare JID
//! strings, the use case e.g. `"Poll Vote"`, `"Message Edit"`); the payload
//! is AES-256-GCM under it with a 12-byte IV. Votes (and bot replies) have
//! the associated data `target id ‖ 0x00 ‖ author`, the edits none. A bot
//! reply's secret is first HKDF'd with the info `"Bot Message"`, and its use
//! case is empty. Read in whatsmeow 33cfac51 `msgsecret.go`
//! (`generateMsgSecretKey`, `decryptBotMessage`) and Baileys rc14
//! `decryptPollVote`; votes are checked against Baileys by
//! `crates/wa-sim/tests/baileys_poll.rs`.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use prost::Message as _;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::proto::message::{PollEncValue, PollVoteMessage};

/// Why a sealed add-on could not be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VoteError {
    /// No payload or an IV that is not 12 bytes.
    #[error("malformed sealed payload")]
    Malformed,
    /// The tag did not verify: another secret, message or author.
    #[error("sealed payload does not verify")]
    Verify,
    /// It decrypted, but is not a `PollVoteMessage`.
    #[error("vote is not a PollVoteMessage")]
    Decode,
}

/// What an add-on is: it names the key's use case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UseCase {
    /// A poll vote.
    PollVote,
    /// An edit of a text or media message (`MESSAGE_EDIT`).
    MessageEdit,
    /// An edit of an event (`EVENT_EDIT`).
    EventEdit,
    /// A poll changed or given an option (`POLL_EDIT`, `POLL_ADD_OPTION`).
    PollEdit,
    /// A bot's reply to our message (`msmsg`).
    Bot,
}

impl UseCase {
    fn label(self) -> &'static [u8] {
        match self {
            UseCase::PollVote => b"Poll Vote",
            UseCase::MessageEdit => b"Message Edit",
            UseCase::EventEdit => b"Event Edit",
            UseCase::PollEdit => b"Poll Edit",
            UseCase::Bot => b"",
        }
    }

    fn has_aad(self) -> bool {
        matches!(self, UseCase::PollVote | UseCase::Bot)
    }
}

/// Which message an add-on is to, and who wrote it: the bare JIDs as
/// strings, as the author's client wrote them.
#[derive(Debug, Clone, Copy)]
pub struct AddOn<'a> {
    /// The earlier message's id.
    pub target_id: &'a str,
    /// Who sent the earlier message.
    pub target_sender: &'a str,
    /// Who wrote the add-on.
    pub author: &'a str,
}

impl AddOn<'_> {
    fn key(&self, secret: &[u8], use_case: UseCase) -> Zeroizing<[u8; 32]> {
        let mut base = Zeroizing::new([0u8; 32]);
        let secret: &[u8] = if use_case == UseCase::Bot {
            // 32 bytes is always a valid HKDF-SHA256 output length.
            let _ = Hkdf::<Sha256>::new(None, secret).expand(b"Bot Message", &mut *base);
            &*base
        } else {
            secret
        };
        let info = [
            self.target_id.as_bytes(),
            self.target_sender.as_bytes(),
            self.author.as_bytes(),
            use_case.label(),
        ]
        .concat();
        let mut key = Zeroizing::new([0u8; 32]);
        let _ = Hkdf::<Sha256>::new(None, secret).expand(&info, &mut *key);
        key
    }

    fn aad(&self, use_case: UseCase) -> Vec<u8> {
        if use_case.has_aad() {
            [self.target_id.as_bytes(), &[0], self.author.as_bytes()].concat()
        } else {
            Vec::new()
        }
    }
}

/// Seals `plaintext` as a `use_case` add-on of the message of `secret`.
pub fn seal(
    secret: &[u8],
    use_case: UseCase,
    ctx: AddOn<'_>,
    plaintext: &[u8],
    iv: [u8; 12],
) -> Vec<u8> {
    let key = ctx.key(secret, use_case);
    Aes256Gcm::new((&*key).into())
        .encrypt(
            &Nonce::from(iv),
            Payload {
                msg: plaintext,
                aad: &ctx.aad(use_case),
            },
        )
        // AES-GCM refuses only inputs of many GiB; an add-on is a message.
        .unwrap_or_default()
}

/// Opens a `use_case` add-on sealed for the message of `secret`.
pub fn open(
    secret: &[u8],
    use_case: UseCase,
    ctx: AddOn<'_>,
    iv: &[u8],
    payload: &[u8],
) -> Result<Vec<u8>, VoteError> {
    let nonce = Nonce::try_from(iv).map_err(|_| VoteError::Malformed)?;
    let key = ctx.key(secret, use_case);
    Aes256Gcm::new((&*key).into())
        .decrypt(
            &nonce,
            Payload {
                msg: payload,
                aad: &ctx.aad(use_case),
            },
        )
        .map_err(|_| VoteError::Verify)
}

/// Who and what a vote is about: the bare JIDs as strings, as the voter's
/// client wrote them.
#[derive(Debug, Clone, Copy)]
pub struct VoteContext<'a> {
    /// The poll's message id.
    pub poll_id: &'a str,
    /// Who sent the poll.
    pub poll_sender: &'a str,
    /// Who votes.
    pub voter: &'a str,
}

impl<'a> VoteContext<'a> {
    fn add_on(&self) -> AddOn<'a> {
        AddOn {
            target_id: self.poll_id,
            target_sender: self.poll_sender,
            author: self.voter,
        }
    }
}

/// The hash a vote names an option by.
pub fn option_hash(name: &str) -> [u8; 32] {
    Sha256::digest(name.as_bytes()).into()
}

/// Seals `vote` for the poll of `secret`.
pub fn seal_vote(
    secret: &[u8],
    ctx: VoteContext<'_>,
    vote: &PollVoteMessage,
    iv: [u8; 12],
) -> PollEncValue {
    let payload = seal(
        secret,
        UseCase::PollVote,
        ctx.add_on(),
        &vote.encode_to_vec(),
        iv,
    );
    PollEncValue {
        enc_payload: Some(payload),
        enc_iv: Some(iv.to_vec()),
    }
}

/// Opens a vote sealed for the poll of `secret`.
pub fn open_vote(
    secret: &[u8],
    ctx: VoteContext<'_>,
    sealed: &PollEncValue,
) -> Result<PollVoteMessage, VoteError> {
    let (Some(payload), Some(iv)) = (sealed.enc_payload.as_deref(), sealed.enc_iv.as_deref())
    else {
        return Err(VoteError::Malformed);
    };
    let plain = open(secret, UseCase::PollVote, ctx.add_on(), iv, payload)?;
    PollVoteMessage::decode(plain.as_slice()).map_err(|_| VoteError::Decode)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: VoteContext<'static> = VoteContext {
        poll_id: "3EB0POLL",
        poll_sender: "15550001111@s.whatsapp.net",
        voter: "15550002222@s.whatsapp.net",
    };

    #[test]
    fn a_sealed_vote_opens_only_with_the_same_secret_poll_and_voter() {
        let secret = [7u8; 32];
        let vote = PollVoteMessage {
            selected_options: vec![option_hash("yes").to_vec()],
        };
        let sealed = seal_vote(&secret, CTX, &vote, [1; 12]);
        assert_eq!(open_vote(&secret, CTX, &sealed), Ok(vote));
        assert_eq!(
            sealed.enc_payload.as_ref().map(Vec::len),
            Some(2 + 32 + 16),
            "one 32-byte hash in a protobuf, and the tag"
        );
        let other_voter = VoteContext {
            voter: "15550003333@s.whatsapp.net",
            ..CTX
        };
        let other_poll = VoteContext {
            poll_id: "3EB0OTHER",
            ..CTX
        };
        assert_eq!(
            open_vote(&secret, other_voter, &sealed),
            Err(VoteError::Verify)
        );
        assert_eq!(
            open_vote(&secret, other_poll, &sealed),
            Err(VoteError::Verify)
        );
        assert_eq!(open_vote(&[8; 32], CTX, &sealed), Err(VoteError::Verify));
        let mut cut = sealed.clone();
        cut.enc_iv = Some(vec![1; 11]);
        assert_eq!(open_vote(&secret, CTX, &cut), Err(VoteError::Malformed));
        assert_eq!(
            open_vote(&secret, CTX, &PollEncValue::default()),
            Err(VoteError::Malformed)
        );
    }

    /// Known answers computed apart from this code (Python `cryptography`:
    /// HKDF-SHA256 without salt, then AES-256-GCM) from the layout in the
    /// module's documentation.
    #[test]
    fn bot_replies_and_edits_match_known_answers() {
        let secret = [9u8; 32];
        let ctx = AddOn {
            target_id: "3EB0TARGET",
            target_sender: "15550001111@s.whatsapp.net",
            author: "13135550002@s.whatsapp.net",
        };
        let bot = seal(&secret, UseCase::Bot, ctx, b"hello bot", [3; 12]);
        assert_eq!(
            hex(&bot),
            "c32fe9cf02bc7208ee55aff08becf7498bbe20337ff1a7cdc8"
        );
        let edit = seal(&secret, UseCase::MessageEdit, ctx, b"edited", [3; 12]);
        assert_eq!(hex(&edit), "3e9e6a8cd907f5eebbaf6d60fd21d32086f106adc7fd");
        assert_eq!(
            open(&secret, UseCase::Bot, ctx, &[3; 12], &bot).as_deref(),
            Ok(&b"hello bot"[..])
        );
        // Another use case, author or IV does not open it.
        assert_eq!(
            open(&secret, UseCase::EventEdit, ctx, &[3; 12], &edit),
            Err(VoteError::Verify)
        );
        let other = AddOn {
            author: "15550009999@s.whatsapp.net",
            ..ctx
        };
        assert_eq!(
            open(&secret, UseCase::MessageEdit, other, &[3; 12], &edit),
            Err(VoteError::Verify)
        );
        assert_eq!(
            open(&secret, UseCase::MessageEdit, ctx, &[3; 11], &edit),
            Err(VoteError::Malformed)
        );
    }

    #[test]
    fn option_hashes_are_sha256_of_the_name() {
        assert_eq!(
            hex(&option_hash("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
