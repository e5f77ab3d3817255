//! Signal protocol addresses of WhatsApp devices.

use std::fmt;

use wacore_libsignal::protocol::{DeviceId, ProtocolAddress};

use super::SignalError;
use crate::jid::Jid;

/// The Signal protocol address of one device: `name.device`.
///
/// See the module documentation for how the name is derived from a JID.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SignalAddress(ProtocolAddress);

impl SignalAddress {
    /// The address of the device `jid` names.
    ///
    /// Fails for a JID without a user (the server itself, `@g.us`), which has
    /// no Signal identity.
    pub fn from_jid(jid: &Jid) -> Result<SignalAddress, SignalError> {
        let user = jid.user();
        if user.is_empty() {
            return Err(SignalError::NoAddress);
        }
        // The four AD-JID servers fix the domain type; elsewhere the raw agent
        // stands in for it.
        let domain = jid.server().ad_domain().unwrap_or_else(|| jid.agent());
        let device = u32::from(jid.device());
        Ok(if domain == 0 {
            SignalAddress::new(user, device)
        } else {
            SignalAddress::new(&format!("{user}_{domain}"), device)
        })
    }

    /// An address from its parts, as a store keyed by them reads it back.
    pub fn new(name: &str, device: u32) -> SignalAddress {
        SignalAddress(ProtocolAddress::new(name, DeviceId::from(device)))
    }

    /// The name: the JID's user, with `_<domain>` for non-phone-number domains.
    pub fn name(&self) -> &str {
        self.0.name()
    }

    /// The device id (0 for the primary phone).
    pub fn device(&self) -> u32 {
        self.0.device_id().into()
    }

    /// The library's form of this address.
    pub fn protocol_address(&self) -> &ProtocolAddress {
        &self.0
    }
}

impl TryFrom<&Jid> for SignalAddress {
    type Error = SignalError;

    fn try_from(jid: &Jid) -> Result<SignalAddress, SignalError> {
        SignalAddress::from_jid(jid)
    }
}

impl From<ProtocolAddress> for SignalAddress {
    fn from(address: ProtocolAddress) -> SignalAddress {
        SignalAddress(address)
    }
}

impl fmt::Display for SignalAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl fmt::Debug for SignalAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignalAddress({})", self.0.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(jid: &str) -> String {
        let jid: Jid = jid.parse().unwrap();
        SignalAddress::from_jid(&jid).unwrap().to_string()
    }

    #[test]
    fn phone_number_users_keep_their_user() {
        assert_eq!(address("15551234567@s.whatsapp.net"), "15551234567.0");
        assert_eq!(address("15551234567:3@s.whatsapp.net"), "15551234567.3");
    }

    #[test]
    fn other_domains_append_their_domain_type() {
        assert_eq!(address("123456789012345@lid"), "123456789012345_1.0");
        assert_eq!(address("123456789012345:7@lid"), "123456789012345_1.7");
        assert_eq!(address("15551234567:99@hosted"), "15551234567_128.99");
        assert_eq!(
            address("123456789012345:99@hosted.lid"),
            "123456789012345_129.99"
        );
    }

    #[test]
    fn parts_are_readable() {
        let jid: Jid = "42:5@lid".parse().unwrap();
        let a = SignalAddress::from_jid(&jid).unwrap();
        assert_eq!(a.name(), "42_1");
        assert_eq!(a.device(), 5);
        assert_eq!(a, SignalAddress::new("42_1", 5));
        assert_eq!(format!("{a:?}"), "SignalAddress(42_1.5)");
    }

    #[test]
    fn server_jid_has_no_address() {
        assert!(matches!(
            SignalAddress::from_jid(&Jid::server_jid()),
            Err(SignalError::NoAddress)
        ));
    }
}
