//! Value types of the config with their own parsing and messages: a port,
//! a secret token, and the network's root key.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A TCP port, 1-65535. YAML may write it as a number or a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port(pub u16);

impl Default for Port {
    /// 29318, the port mautrix-whatsapp users expect.
    fn default() -> Port {
        Port(29318)
    }
}

impl Serialize for Port {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.0)
    }
}

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Port, D::Error> {
        d.deserialize_any(PortVisitor)
    }
}

struct PortVisitor;

const PORT_EXPECTED: &str = "expected a port number 1-65535";

impl PortVisitor {
    fn from_u64<E: de::Error>(n: u64, shown: &dyn fmt::Display) -> Result<Port, E> {
        match u16::try_from(n) {
            Ok(p) if p != 0 => Ok(Port(p)),
            _ => Err(E::custom(format_args!("{PORT_EXPECTED}, got {shown}"))),
        }
    }
}

impl Visitor<'_> for PortVisitor {
    type Value = Port;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a port number 1-65535")
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Port, E> {
        Self::from_u64(n, &n)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Port, E> {
        u64::try_from(n)
            .map_err(|_| E::custom(format_args!("{PORT_EXPECTED}, got {n}")))
            .and_then(|u| Self::from_u64(u, &n))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Port, E> {
        Err(E::custom(format_args!("{PORT_EXPECTED}, got {n}")))
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Port, E> {
        Err(E::custom(format_args!("{PORT_EXPECTED}, got {b}")))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Port, E> {
        let shown = format!("{s:?}");
        match s.trim().parse::<u64>() {
            Ok(n) => Self::from_u64(n, &shown),
            Err(_) => Err(E::custom(format_args!("{PORT_EXPECTED}, got {shown}"))),
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<Port, E> {
        Err(E::custom(format_args!("{PORT_EXPECTED}, got nothing")))
    }
}

/// A secret token (`as_token`, `hs_token`). `Debug` does not show it;
/// [`Token::expose`] does.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Token {
        Token(token.into())
    }

    /// The token itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether no token is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Serialize for Token {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Token {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Token, D::Error> {
        d.deserialize_any(TokenVisitor)
    }
}

struct TokenVisitor;

impl<'de> Visitor<'de> for TokenVisitor {
    type Value = Token;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a token string")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Token, E> {
        Ok(Token(s.to_owned()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Token, E> {
        Ok(Token::default())
    }

    // Anything else is refused without echoing the value: it may be a
    // token that YAML read as a number.
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Token, E> {
        Err(not_a_token())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Token, E> {
        Err(not_a_token())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Token, E> {
        Err(not_a_token())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Token, E> {
        Err(not_a_token())
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Token, A::Error> {
        Err(not_a_token())
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Token, A::Error> {
        Err(not_a_token())
    }
}

fn not_a_token<E: de::Error>() -> E {
    E::custom("expected a token string (quote it if it looks like a number)")
}

/// The Curve25519 public key at the root of the server's certificate
/// chain: 64 hex digits in YAML. Defaults to the real service's key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RootKey(pub [u8; 32]);

impl Default for RootKey {
    fn default() -> RootKey {
        RootKey(wa_core::noise::cert::PRODUCTION_ROOT_KEY)
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RootKey({})", hex::encode(self.0))
    }
}

impl Serialize for RootKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for RootKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RootKey, D::Error> {
        d.deserialize_any(RootKeyVisitor)
    }
}

struct RootKeyVisitor;

const ROOT_KEY_EXPECTED: &str = "expected 64 hex digits (a 32-byte key)";

impl Visitor<'_> for RootKeyVisitor {
    type Value = RootKey;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("64 hex digits")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<RootKey, E> {
        let s = s.trim();
        let bytes = hex::decode(s)
            .map_err(|e| E::custom(format_args!("{ROOT_KEY_EXPECTED}, got invalid hex ({e})")))?;
        let key: [u8; 32] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            E::custom(format_args!(
                "{ROOT_KEY_EXPECTED}, got {} bytes",
                bytes.len()
            ))
        })?;
        Ok(RootKey(key))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<RootKey, E> {
        Err(E::custom(format_args!(
            "{ROOT_KEY_EXPECTED}, got the number {n} (quote the key)"
        )))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<RootKey, E> {
        Err(E::custom(format_args!(
            "{ROOT_KEY_EXPECTED}, got the number {n} (quote the key)"
        )))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<RootKey, E> {
        Err(E::custom(format_args!(
            "{ROOT_KEY_EXPECTED}, got the number {n} (quote the key)"
        )))
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<RootKey, E> {
        Err(E::custom(format_args!("{ROOT_KEY_EXPECTED}, got {b}")))
    }

    fn visit_unit<E: de::Error>(self) -> Result<RootKey, E> {
        Err(E::custom(format_args!("{ROOT_KEY_EXPECTED}, got nothing")))
    }
}
