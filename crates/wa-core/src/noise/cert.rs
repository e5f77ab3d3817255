//! The server's certificate chain, sent inside the Noise `ServerHello`:
//! root key -> intermediate certificate -> leaf certificate naming the
//! server's Noise static key. Verified as the strict client (whatsmeow) does;
//! issued by the simulator with [`issue_chain`].

use prost::Message;
use rand::CryptoRng;

use crate::keys::{self, KeyPair};
use crate::proto::CertChain;
use crate::proto::cert_chain::NoiseCertificate;
use crate::proto::cert_chain::noise_certificate::Details;

/// WhatsApp's production root public key (Curve25519, XEdDSA signatures).
pub const PRODUCTION_ROOT_KEY: [u8; 32] = [
    0x14, 0x23, 0x75, 0x57, 0x4d, 0x0a, 0x58, 0x71, 0x66, 0xaa, 0xe7, 0x1e, 0xbe, 0x51, 0x64, 0x37,
    0xc4, 0xa2, 0x8b, 0x73, 0xe3, 0x69, 0x5c, 0x6c, 0xe1, 0xf7, 0xf9, 0x54, 0x5d, 0xa8, 0xee, 0x6b,
];

/// Why a certificate chain was refused. Each check has its own variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// The chain or a certificate is not the protobuf it should be, or a part is missing.
    #[error("malformed certificate chain: {0}")]
    Malformed(&'static str),
    /// The intermediate is not signed by the trusted root.
    #[error("intermediate certificate is not signed by the trusted root key")]
    UntrustedRoot,
    /// The leaf is not signed by the intermediate.
    #[error("leaf certificate is not signed by the intermediate key")]
    BadLeafSignature,
    /// The leaf names another issuer than the intermediate's serial.
    #[error("leaf issuer serial {leaf} does not match intermediate serial {intermediate}")]
    IssuerMismatch {
        /// The leaf's issuer serial.
        leaf: u32,
        /// The intermediate's serial.
        intermediate: u32,
    },
    /// The leaf's key is not the server's Noise static key.
    #[error("leaf certificate key does not match the server's static key")]
    KeyMismatch,
    /// Now is outside a certificate's validity window.
    #[error("{which} certificate is not valid at {now} (valid {not_before}..={not_after})")]
    Expired {
        /// `intermediate` or `leaf`.
        which: &'static str,
        /// The time checked, unix seconds.
        now: u64,
        /// Start of validity.
        not_before: u64,
        /// End of validity.
        not_after: u64,
    },
}

/// What a verified chain tells: the serials and validity of both certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChain {
    /// Intermediate serial.
    pub intermediate_serial: u32,
    /// Leaf serial.
    pub leaf_serial: u32,
    /// Leaf validity end, unix seconds.
    pub leaf_not_after: u64,
}

/// Verifies `chain` (an encoded `CertChain`) for a server whose Noise static
/// public key is `server_static`, trusting `root`, at `now` (unix seconds).
pub fn verify_chain(
    chain: &[u8],
    root: &[u8; 32],
    server_static: &[u8],
    now: u64,
) -> Result<VerifiedChain, CertError> {
    let chain = CertChain::decode(chain).map_err(|_| CertError::Malformed("chain"))?;
    let inter = chain
        .intermediate
        .ok_or(CertError::Malformed("no intermediate"))?;
    let leaf = chain.leaf.ok_or(CertError::Malformed("no leaf"))?;
    let (inter_details_raw, inter_sig) = parts(&inter, "intermediate")?;
    let (leaf_details_raw, leaf_sig) = parts(&leaf, "leaf")?;

    if !keys::verify(root, inter_details_raw, inter_sig) {
        return Err(CertError::UntrustedRoot);
    }
    let inter_details = Details::decode(inter_details_raw)
        .map_err(|_| CertError::Malformed("intermediate details"))?;
    let inter_key = inter_details
        .key
        .as_deref()
        .ok_or(CertError::Malformed("intermediate key"))?;
    if !keys::verify(inter_key, leaf_details_raw, leaf_sig) {
        return Err(CertError::BadLeafSignature);
    }
    let leaf_details =
        Details::decode(leaf_details_raw).map_err(|_| CertError::Malformed("leaf details"))?;
    let inter_serial = inter_details.serial.unwrap_or(0);
    let leaf_issuer = leaf_details.issuer_serial.unwrap_or(0);
    if leaf_issuer != inter_serial {
        return Err(CertError::IssuerMismatch {
            leaf: leaf_issuer,
            intermediate: inter_serial,
        });
    }
    if leaf_details.key.as_deref() != Some(server_static) {
        return Err(CertError::KeyMismatch);
    }
    check_validity("intermediate", &inter_details, now)?;
    check_validity("leaf", &leaf_details, now)?;
    Ok(VerifiedChain {
        intermediate_serial: inter_serial,
        leaf_serial: leaf_details.serial.unwrap_or(0),
        leaf_not_after: leaf_details.not_after.unwrap_or(u64::MAX),
    })
}

fn parts<'a>(
    cert: &'a NoiseCertificate,
    which: &'static str,
) -> Result<(&'a [u8], &'a [u8]), CertError> {
    match (cert.details.as_deref(), cert.signature.as_deref()) {
        (Some(d), Some(s)) => Ok((d, s)),
        _ => Err(CertError::Malformed(which)),
    }
}

fn check_validity(which: &'static str, d: &Details, now: u64) -> Result<(), CertError> {
    let not_before = d.not_before.unwrap_or(0);
    let not_after = d.not_after.unwrap_or(u64::MAX);
    if now < not_before || now > not_after {
        return Err(CertError::Expired {
            which,
            now,
            not_before,
            not_after,
        });
    }
    Ok(())
}

/// What a chain issuer needs: the root, the serials and the validity window.
#[derive(Debug, Clone)]
pub struct ChainParams {
    /// Serial of the intermediate; the leaf names it as issuer.
    pub intermediate_serial: u32,
    /// Serial of the leaf.
    pub leaf_serial: u32,
    /// Start of validity, unix seconds.
    pub not_before: u64,
    /// End of validity, unix seconds.
    pub not_after: u64,
}

/// Issues a chain for a server whose Noise static public key is
/// `server_static`: an intermediate key signed by `root`, and a leaf naming
/// `server_static` signed by the intermediate. The intermediate always carries
/// `issuerSerial` (0) on the wire, as some clients require.
pub fn issue_chain<R: CryptoRng + ?Sized>(
    root: &KeyPair,
    server_static: &[u8; 32],
    params: &ChainParams,
    rng: &mut R,
) -> Vec<u8> {
    let intermediate_key = KeyPair::generate(rng);
    let inter_details = Details {
        serial: Some(params.intermediate_serial),
        issuer_serial: Some(0),
        key: Some(intermediate_key.public().to_vec()),
        not_before: Some(params.not_before),
        not_after: Some(params.not_after),
    }
    .encode_to_vec();
    let leaf_details = Details {
        serial: Some(params.leaf_serial),
        issuer_serial: Some(params.intermediate_serial),
        key: Some(server_static.to_vec()),
        not_before: Some(params.not_before),
        not_after: Some(params.not_after),
    }
    .encode_to_vec();
    CertChain {
        intermediate: Some(NoiseCertificate {
            signature: Some(root.sign(&inter_details, rng).to_vec()),
            details: Some(inter_details),
        }),
        leaf: Some(NoiseCertificate {
            signature: Some(intermediate_key.sign(&leaf_details, rng).to_vec()),
            details: Some(leaf_details),
        }),
    }
    .encode_to_vec()
}
