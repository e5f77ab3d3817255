//! The `cstoken` a 1:1 message carries when the sender holds no privacy
//! token of the recipient's: HMAC-SHA256 keyed with the account's salt
//! (app state `nct_salt_sync`) over the recipient's bare LID JID as a
//! string (`"LID@lid"`). Read in whatsmeow 33cfac51 `cstoken.go`
//! (`generateCsToken`) and `send.go` (`sendDM`).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The cstoken for the recipient whose bare LID JID is `lid`, under
/// `salt`. HMAC takes a key of any length, so this cannot fail.
pub fn cstoken(salt: &[u8], lid: &str) -> [u8; 32] {
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(salt) {
        Ok(mac) => mac,
        // Unreachable for HMAC; an all-zero token would only be refused.
        Err(_) => return [0; 32],
    };
    mac.update(lid.as_bytes());
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2 ("Jefe" / "what do ya want for nothing?"),
    /// which is what this is with those inputs.
    #[test]
    fn is_hmac_sha256_of_the_lid_under_the_salt() {
        let got = cstoken(b"Jefe", "what do ya want for nothing?");
        assert_eq!(
            hex::encode(got),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
