use super::cert::{self, CertError, ChainParams};
use super::*;
use crate::keys::KeyPair;

const NOW: u64 = 1_800_000_000;

fn params() -> ChainParams {
    ChainParams {
        intermediate_serial: 7,
        leaf_serial: 8,
        not_before: NOW - 1000,
        not_after: NOW + 1000,
    }
}

struct Server {
    root: KeyPair,
    key: KeyPair,
}

fn server() -> Server {
    let mut rng = rand::rng();
    Server {
        root: KeyPair::generate(&mut rng),
        key: KeyPair::generate(&mut rng),
    }
}

fn handshake(
    s: &Server,
    chain: &[u8],
    root: &[u8; 32],
    now: u64,
) -> Result<(Transport, ServerFinished, [u8; 32]), NoiseError> {
    let client_key = KeyPair::generate(&mut rand::rng());
    let (client, hello) = ClientHandshake::start(&client_key, &mut rand::rng())?;
    let (server, reply) =
        ServerHandshake::new(&s.key)?.read_client_hello(&hello, chain, &mut rand::rng())?;
    let verified = client.read_server_hello(&reply, root, now)?;
    assert_eq!(verified.server_static(), s.key.public());
    let (finish, transport) = verified.finish(b"client payload")?;
    let done = server.read_client_finish(&finish)?;
    Ok((transport, done, *client_key.public()))
}

#[test]
fn full_handshake_then_transport_both_ways() {
    let s = server();
    let chain = cert::issue_chain(&s.root, s.key.public(), &params(), &mut rand::rng());
    let (mut client, done, client_pub) = handshake(&s, &chain, s.root.public(), NOW).unwrap();
    assert_eq!(done.payload, b"client payload");
    assert_eq!(done.client_static, client_pub);
    let mut server = done.transport;
    for i in 0..50u32 {
        let msg = i
            .to_be_bytes()
            .repeat(usize::try_from(i).unwrap() * 100 + 1);
        let ct = client.encrypt(&msg).unwrap();
        assert_eq!(server.decrypt(&ct).unwrap(), msg);
        let ct = server.encrypt(&msg).unwrap();
        assert_eq!(client.decrypt(&ct).unwrap(), msg);
    }
    // Frames beyond Noise's 64 KiB message limit.
    let big = vec![9u8; 1 << 20];
    let ct = client.encrypt(&big).unwrap();
    assert_eq!(server.decrypt(&ct).unwrap(), big);
    // A tampered or replayed frame is refused.
    let mut ct = client.encrypt(b"x").unwrap();
    ct[0] ^= 1;
    assert_eq!(server.decrypt(&ct), Err(NoiseError::Decrypt));
}

#[test]
fn chain_signed_by_another_root_is_refused() {
    let s = server();
    let chain = cert::issue_chain(&s.root, s.key.public(), &params(), &mut rand::rng());
    let other = KeyPair::generate(&mut rand::rng());
    let err = handshake(&s, &chain, other.public(), NOW).unwrap_err();
    assert_eq!(err, NoiseError::Cert(CertError::UntrustedRoot));
    let err = handshake(&s, &chain, &cert::PRODUCTION_ROOT_KEY, NOW).unwrap_err();
    assert_eq!(err, NoiseError::Cert(CertError::UntrustedRoot));
}

#[test]
fn leaf_for_another_key_is_refused() {
    let s = server();
    let stranger = KeyPair::generate(&mut rand::rng());
    let chain = cert::issue_chain(&s.root, stranger.public(), &params(), &mut rand::rng());
    let err = handshake(&s, &chain, s.root.public(), NOW).unwrap_err();
    assert_eq!(err, NoiseError::Cert(CertError::KeyMismatch));
}

#[test]
fn issuer_serial_mismatch_is_refused() {
    use crate::proto::CertChain;
    use crate::proto::cert_chain::noise_certificate::Details;
    use prost::Message;
    let s = server();
    let mut rng = rand::rng();
    // Re-issue the leaf with a wrong issuer serial, signed by a fresh intermediate.
    let inter = KeyPair::generate(&mut rng);
    let inter_details = Details {
        serial: Some(7),
        issuer_serial: Some(0),
        key: Some(inter.public().to_vec()),
        not_before: Some(NOW - 10),
        not_after: Some(NOW + 10),
    }
    .encode_to_vec();
    let leaf_details = Details {
        serial: Some(8),
        issuer_serial: Some(6),
        key: Some(s.key.public().to_vec()),
        not_before: Some(NOW - 10),
        not_after: Some(NOW + 10),
    }
    .encode_to_vec();
    let chain = CertChain {
        intermediate: Some(crate::proto::cert_chain::NoiseCertificate {
            signature: Some(s.root.sign(&inter_details, &mut rng).to_vec()),
            details: Some(inter_details),
        }),
        leaf: Some(crate::proto::cert_chain::NoiseCertificate {
            signature: Some(inter.sign(&leaf_details, &mut rng).to_vec()),
            details: Some(leaf_details),
        }),
    }
    .encode_to_vec();
    let err = handshake(&s, &chain, s.root.public(), NOW).unwrap_err();
    assert_eq!(
        err,
        NoiseError::Cert(CertError::IssuerMismatch {
            leaf: 6,
            intermediate: 7
        })
    );
}

#[test]
fn expired_and_future_certificates_are_refused() {
    let s = server();
    let chain = cert::issue_chain(&s.root, s.key.public(), &params(), &mut rand::rng());
    let err = handshake(&s, &chain, s.root.public(), NOW + 1001).unwrap_err();
    assert!(matches!(
        err,
        NoiseError::Cert(CertError::Expired {
            which: "intermediate",
            ..
        })
    ));
    let err = handshake(&s, &chain, s.root.public(), NOW - 1001).unwrap_err();
    assert!(matches!(err, NoiseError::Cert(CertError::Expired { .. })));
}

#[test]
fn tampered_leaf_signature_is_refused() {
    use crate::proto::CertChain;
    use prost::Message;
    let s = server();
    let chain = cert::issue_chain(&s.root, s.key.public(), &params(), &mut rand::rng());
    let mut c = CertChain::decode(&chain[..]).unwrap();
    if let Some(sig) = c.leaf.as_mut().and_then(|l| l.signature.as_mut()) {
        sig[5] ^= 0x40;
    }
    let err = handshake(&s, &c.encode_to_vec(), s.root.public(), NOW).unwrap_err();
    assert_eq!(err, NoiseError::Cert(CertError::BadLeafSignature));
}

#[test]
fn intermediate_carries_issuer_serial_zero_on_the_wire() {
    use crate::proto::CertChain;
    use prost::Message;
    let s = server();
    let chain = cert::issue_chain(&s.root, s.key.public(), &params(), &mut rand::rng());
    let c = CertChain::decode(&chain[..]).unwrap();
    let details = c.intermediate.unwrap().details.unwrap();
    // Field 2 (issuerSerial), varint 0: bytes 0x10 0x00.
    assert!(details.windows(2).any(|w| w == [0x10, 0x00]));
}

#[test]
fn garbage_handshake_messages_are_errors() {
    let s = server();
    let client_key = KeyPair::generate(&mut rand::rng());
    let (client, _hello) = ClientHandshake::start(&client_key, &mut rand::rng()).unwrap();
    assert!(matches!(
        client.read_server_hello(&[0xff, 0x01], s.root.public(), NOW),
        Err(NoiseError::Malformed(_))
    ));
    let srv = ServerHandshake::new(&s.key).unwrap();
    assert!(matches!(
        srv.read_client_hello(b"\x12\x02\x0a\x00", b"", &mut rand::rng()),
        Err(NoiseError::Malformed(_))
    ));
    // A well-formed hello followed by a finish that fails authentication.
    let (_c, hello) = ClientHandshake::start(&client_key, &mut rand::rng()).unwrap();
    let chain = cert::issue_chain(&s.root, s.key.public(), &params(), &mut rand::rng());
    let (waiting, _) = ServerHandshake::new(&s.key)
        .unwrap()
        .read_client_hello(&hello, &chain, &mut rand::rng())
        .unwrap();
    let bogus = crate::proto::HandshakeMessage {
        client_finish: Some(crate::proto::handshake_message::ClientFinish {
            r#static: Some(vec![0; 48]),
            payload: Some(vec![0; 20]),
            ..Default::default()
        }),
        ..Default::default()
    };
    use prost::Message;
    assert_eq!(
        waiting
            .read_client_finish(&bogus.encode_to_vec())
            .unwrap_err(),
        NoiseError::HandshakeAuth
    );
}
