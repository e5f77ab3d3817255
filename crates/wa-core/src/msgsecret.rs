//! Poll votes, sealed with a key derived from the poll's `messageSecret`
//! (32 random bytes in the poll's `messageContextInfo`).
//!
//! The key is HKDF-SHA256 (no salt) of the secret with the info
//! `poll id ‖ poll sender ‖ voter ‖ "Poll Vote"`, the senders as bare JID
//! strings; the vote (`PollVoteMessage`: SHA-256 of each chosen option's
//! name) is AES-256-GCM under it with a 12-byte IV and the associated data
//! `poll id ‖ 0x00 ‖ voter`. Read in whatsmeow `msgsecret.go` and Baileys
//! rc14 `decryptPollVote`; checked against Baileys by
//! `crates/wa-sim/tests/baileys_poll.rs`.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use prost::Message as _;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::proto::message::{PollEncValue, PollVoteMessage};

/// Why a vote could not be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VoteError {
    /// No payload or an IV that is not 12 bytes.
    #[error("malformed vote")]
    Malformed,
    /// The tag did not verify: another secret, poll or voter.
    #[error("vote does not verify")]
    Verify,
    /// It decrypted, but is not a `PollVoteMessage`.
    #[error("vote is not a PollVoteMessage")]
    Decode,
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

impl VoteContext<'_> {
    fn key(&self, secret: &[u8]) -> Zeroizing<[u8; 32]> {
        let info = [
            self.poll_id.as_bytes(),
            self.poll_sender.as_bytes(),
            self.voter.as_bytes(),
            b"Poll Vote",
        ]
        .concat();
        let mut key = Zeroizing::new([0u8; 32]);
        // 32 bytes is always a valid HKDF-SHA256 output length.
        let _ = Hkdf::<Sha256>::new(None, secret).expand(&info, &mut *key);
        key
    }

    fn aad(&self) -> Vec<u8> {
        [self.poll_id.as_bytes(), &[0], self.voter.as_bytes()].concat()
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
    let key = ctx.key(secret);
    let cipher = Aes256Gcm::new((&*key).into());
    let payload = cipher
        .encrypt(
            &Nonce::from(iv),
            Payload {
                msg: &vote.encode_to_vec(),
                aad: &ctx.aad(),
            },
        )
        // AES-GCM refuses only inputs of many GiB; a vote is a few hashes.
        .unwrap_or_default();
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
    if iv.len() != 12 {
        return Err(VoteError::Malformed);
    }
    let key = ctx.key(secret);
    let cipher = Aes256Gcm::new((&*key).into());
    let plain = cipher
        .decrypt(
            &Nonce::try_from(iv).map_err(|_| VoteError::Malformed)?,
            Payload {
                msg: payload,
                aad: &ctx.aad(),
            },
        )
        .map_err(|_| VoteError::Verify)?;
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
