//! Wire-format tests for the protobuf schema in `proto/`.
//!
//! Expected bytes are written out by hand from the field numbers, so these
//! tests check the schema itself, not only that encoding and decoding agree.

use prost::Message as _;
use wa_core::proto::{
    AdvDeviceIdentity, AdvEncryptionType, AdvKeyIndexList, AdvSignedDeviceIdentity,
    AdvSignedDeviceIdentityHmac, DeviceListMetadata, HandshakeMessage, Message, MessageContextInfo,
    cert_chain, handshake_message, message,
};

type TestResult = Result<(), prost::DecodeError>;

#[test]
fn client_hello_ephemeral_bytes() -> TestResult {
    let ephemeral: Vec<u8> = (0u8..32).collect();
    let hello = HandshakeMessage {
        client_hello: Some(handshake_message::ClientHello {
            ephemeral: Some(ephemeral.clone()),
            ..Default::default()
        }),
        ..Default::default()
    };

    // clientHello = field 2, length-delimited (0x12), 34 bytes long;
    // inside, ephemeral = field 1, length-delimited (0x0a), 32 bytes.
    let mut expected = vec![0x12, 0x22, 0x0a, 0x20];
    expected.extend_from_slice(&ephemeral);
    assert_eq!(hello.encode_to_vec(), expected);

    assert_eq!(HandshakeMessage::decode(expected.as_slice())?, hello);
    Ok(())
}

#[test]
fn server_hello_fields_decode() -> TestResult {
    // serverHello = field 3 {ephemeral=1, static=2, payload=3}.
    let mut wire = vec![0x1a, 0x0b];
    wire.extend_from_slice(&[0x0a, 0x02, 0xe0, 0xe1]);
    wire.extend_from_slice(&[0x12, 0x02, 0x50, 0x51]);
    wire.extend_from_slice(&[0x1a, 0x01, 0x99]);

    let decoded = HandshakeMessage::decode(wire.as_slice())?;
    let server = decoded.server_hello.unwrap_or_default();
    assert_eq!(server.ephemeral(), [0xe0, 0xe1]);
    assert_eq!(server.r#static(), [0x50, 0x51]);
    assert_eq!(server.payload(), [0x99]);
    assert!(decoded.client_hello.is_none());
    assert!(decoded.client_finish.is_none());
    Ok(())
}

#[test]
fn cert_details_keep_zero_issuer_serial() -> TestResult {
    let key = vec![0xab; 32];
    let details = cert_chain::noise_certificate::Details {
        serial: Some(1),
        issuer_serial: Some(0),
        key: Some(key.clone()),
        not_before: Some(1),
        not_after: Some(300),
    };

    let mut expected = vec![0x08, 0x01, 0x10, 0x00, 0x1a, 0x20];
    expected.extend_from_slice(&key);
    // notBefore = 1; notAfter = 300 = varint 0xac 0x02.
    expected.extend_from_slice(&[0x20, 0x01, 0x28, 0xac, 0x02]);
    let encoded = details.encode_to_vec();
    assert_eq!(encoded, expected);
    assert_eq!(&encoded[2..4], [0x10, 0x00]);

    let decoded = cert_chain::noise_certificate::Details::decode(encoded.as_slice())?;
    assert_eq!(decoded.issuer_serial, Some(0));

    // Absent is distinct from zero: no field 2 at all.
    let absent = cert_chain::noise_certificate::Details {
        issuer_serial: None,
        ..details
    };
    let encoded = absent.encode_to_vec();
    assert_eq!(&encoded[..3], [0x08, 0x01, 0x1a]);
    assert!(!encoded.windows(2).any(|w| w == [0x10, 0x00]));
    Ok(())
}

#[test]
fn cert_chain_nests_leaf_and_intermediate() -> TestResult {
    let chain = wa_core::proto::CertChain {
        leaf: Some(cert_chain::NoiseCertificate {
            details: Some(vec![0x01]),
            signature: Some(vec![0x02]),
        }),
        intermediate: Some(cert_chain::NoiseCertificate {
            details: Some(vec![0x03]),
            signature: None,
        }),
    };
    let expected = [
        0x0a, 0x06, 0x0a, 0x01, 0x01, 0x12, 0x01, 0x02, // leaf = 1
        0x12, 0x03, 0x0a, 0x01, 0x03, // intermediate = 2
    ];
    assert_eq!(chain.encode_to_vec(), expected);
    assert_eq!(wa_core::proto::CertChain::decode(&expected[..])?, chain);
    Ok(())
}

#[test]
fn message_with_context_info_round_trip() -> TestResult {
    let secret = vec![0x5a; 32];
    let msg = Message {
        conversation: Some("hi".to_owned()),
        message_context_info: Some(MessageContextInfo {
            device_list_metadata: Some(DeviceListMetadata {
                sender_timestamp: Some(1234),
                sender_key_indexes: vec![1, 2],
                ..Default::default()
            }),
            device_list_metadata_version: Some(2),
            message_secret: Some(secret.clone()),
            ..Default::default()
        }),
        ..Default::default()
    };

    let mut context = vec![
        0x0a, 0x07, // deviceListMetadata = 1, 7 bytes:
        0x10, 0xd2, 0x09, //   senderTimestamp = 2: 1234
        0x1a, 0x02, 0x01, 0x02, //   senderKeyIndexes = 3, packed [1, 2]
        0x10, 0x02, // deviceListMetadataVersion = 2: 2
        0x1a, 0x20, // messageSecret = 3, 32 bytes
    ];
    context.extend_from_slice(&secret);
    assert_eq!(context.len(), 0x2d);
    // conversation = 1 "hi"; messageContextInfo = 35 -> key 35 << 3 | 2 = 282,
    // varint 0x9a 0x02.
    let mut expected = vec![0x0a, 0x02, b'h', b'i', 0x9a, 0x02, 0x2d];
    expected.extend_from_slice(&context);

    assert_eq!(msg.encode_to_vec(), expected);
    let decoded = Message::decode(expected.as_slice())?;
    assert_eq!(decoded, msg);
    assert_eq!(decoded.conversation(), "hi");
    Ok(())
}

#[test]
fn message_decode_skips_unknown_fields() -> TestResult {
    // Field 1000 (varint) is not in our schema: 1000 << 3 = 8000 = 0xc0 0x3e.
    let wire = [0xc0, 0x3e, 0x07, 0x0a, 0x01, b'x'];
    let decoded = Message::decode(&wire[..])?;
    assert_eq!(decoded.conversation(), "x");
    Ok(())
}

#[test]
fn protocol_message_edit() -> TestResult {
    let edit = message::ProtocolMessage {
        key: Some(wa_core::proto::MessageKey {
            remote_jid: Some("1@s.whatsapp.net".to_owned()),
            from_me: Some(true),
            id: Some("AB".to_owned()),
            participant: None,
        }),
        r#type: Some(message::protocol_message::Type::MessageEdit as i32),
        edited_message: Some(Box::new(Message {
            conversation: Some("new".to_owned()),
            ..Default::default()
        })),
        timestamp_ms: Some(5),
        ..Default::default()
    };
    let encoded = edit.encode_to_vec();
    let mut expected = vec![0x0a, 0x18, 0x0a, 0x10];
    expected.extend_from_slice(b"1@s.whatsapp.net");
    expected.extend_from_slice(&[0x10, 0x01, 0x1a, 0x02, b'A', b'B']);
    expected.extend_from_slice(&[0x10, 0x0e]); // type = 2: MESSAGE_EDIT (14)
    expected.extend_from_slice(&[0x72, 0x05, 0x0a, 0x03, b'n', b'e', b'w']); // 14
    expected.extend_from_slice(&[0x78, 0x05]); // timestampMs = 15
    assert_eq!(encoded, expected);

    let decoded = message::ProtocolMessage::decode(encoded.as_slice())?;
    assert_eq!(
        decoded.r#type(),
        message::protocol_message::Type::MessageEdit
    );
    assert_eq!(decoded, edit);
    Ok(())
}

#[test]
fn adv_signed_device_identity_hmac_round_trip() -> TestResult {
    let identity = AdvDeviceIdentity {
        raw_id: Some(7),
        timestamp: Some(1),
        key_index: Some(3),
        account_type: None,
        device_type: None,
    };
    let identity_bytes = identity.encode_to_vec();
    assert_eq!(identity_bytes, [0x08, 0x07, 0x10, 0x01, 0x18, 0x03]);

    let signed = AdvSignedDeviceIdentity {
        details: Some(identity_bytes.clone()),
        account_signature_key: Some(vec![0x11; 32]),
        account_signature: Some(vec![0x22; 64]),
        device_signature: None,
    };
    let signed_bytes = signed.encode_to_vec();
    let mut expected_signed = vec![0x0a, 0x06];
    expected_signed.extend_from_slice(&identity_bytes);
    expected_signed.extend_from_slice(&[0x12, 0x20]);
    expected_signed.extend_from_slice(&[0x11; 32]);
    expected_signed.extend_from_slice(&[0x1a, 0x40]);
    expected_signed.extend_from_slice(&[0x22; 64]);
    assert_eq!(signed_bytes, expected_signed);

    let mut container = AdvSignedDeviceIdentityHmac {
        details: Some(signed_bytes.clone()),
        hmac: Some(vec![0x33; 32]),
        account_type: None,
    };
    container.set_account_type(AdvEncryptionType::Hosted);
    let container_bytes = container.encode_to_vec();
    // details = 1 (8 + 34 + 66 = 108 bytes: 0x6c), hmac = 2 (32 bytes),
    // accountType = 3: HOSTED (1).
    assert_eq!(signed_bytes.len(), 0x6c);
    let mut expected = vec![0x0a, 0x6c];
    expected.extend_from_slice(&signed_bytes);
    expected.extend_from_slice(&[0x12, 0x20]);
    expected.extend_from_slice(&[0x33; 32]);
    expected.extend_from_slice(&[0x18, 0x01]);
    assert_eq!(container_bytes, expected);

    let decoded = AdvSignedDeviceIdentityHmac::decode(container_bytes.as_slice())?;
    assert_eq!(decoded, container);
    assert_eq!(decoded.account_type(), AdvEncryptionType::Hosted);
    let inner = AdvSignedDeviceIdentity::decode(decoded.details())?;
    assert_eq!(inner, signed);
    assert_eq!(AdvDeviceIdentity::decode(inner.details())?, identity);
    Ok(())
}

#[test]
fn adv_key_index_list_packs_valid_indexes() -> TestResult {
    let list = AdvKeyIndexList {
        raw_id: Some(9),
        timestamp: None,
        current_index: Some(2),
        valid_indexes: vec![0, 2, 300],
        account_type: None,
    };
    // validIndexes = 4, packed: 0x22, 4 bytes: 0, 2, 300 (0xac 0x02).
    let expected = [0x08, 0x09, 0x18, 0x02, 0x22, 0x04, 0x00, 0x02, 0xac, 0x02];
    assert_eq!(list.encode_to_vec(), expected);
    assert_eq!(AdvKeyIndexList::decode(&expected[..])?, list);

    // Decoders must also accept the unpacked form.
    let unpacked = [
        0x08, 0x09, 0x18, 0x02, 0x20, 0x00, 0x20, 0x02, 0x20, 0xac, 0x02,
    ];
    assert_eq!(AdvKeyIndexList::decode(&unpacked[..])?, list);
    Ok(())
}
