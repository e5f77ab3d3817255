//! What the server demands of a `ClientPayload` before it registers or
//! logs a device in. Each rule is in docs/PROTOCOL-NOTES.md ("What wa-sim
//! refuses") with the source it comes from.

use prost::Message as _;
use wa_core::payload::WebVersion;
use wa_core::proto::{ClientPayload, DeviceProps};

/// The oldest WhatsApp Web version the simulator lets in by default. The
/// real service's cut-off is not published and moves with each release;
/// this sits below both reference clients' compiled-in versions (Baileys
/// rc14: 2.3000.1043857760; whatsmeow 2026-08: 2.3000.1045649367) so that
/// they pass, and any payload without a version fails.
pub const DEFAULT_MIN_VERSION: WebVersion = WebVersion {
    primary: 2,
    secondary: 3000,
    tertiary: 1_040_000_000,
};

/// Why a payload is refused: the `<failure reason>` to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 405, "client outdated": no user agent, no app version, or one older
    /// than the minimum.
    Outdated,
    /// 400: a registration without device props the phone can list.
    BadRegistration,
}

impl Refusal {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Refusal::Outdated => "405",
            Refusal::BadRegistration => "400",
        }
    }
}

/// The version a payload claims, if it has a user agent with one.
pub(crate) fn version(payload: &ClientPayload) -> Option<WebVersion> {
    let v = payload.user_agent.as_ref()?.app_version.as_ref()?;
    Some(WebVersion {
        primary: v.primary?,
        secondary: v.secondary?,
        tertiary: v.tertiary?,
    })
}

/// The device props of a registration, decoded.
pub(crate) fn device_props(payload: &ClientPayload) -> Option<DeviceProps> {
    let bytes = payload
        .device_pairing_data
        .as_ref()?
        .device_props
        .as_ref()?;
    let props = DeviceProps::decode(bytes.as_slice()).ok()?;
    props
        .os
        .as_ref()
        .is_some_and(|os| !os.is_empty())
        .then_some(props)
}

/// Checks a payload against the server's rules.
pub(crate) fn check(payload: &ClientPayload, min: WebVersion) -> Result<(), Refusal> {
    if version(payload).is_none_or(|v| v < min) {
        return Err(Refusal::Outdated);
    }
    if payload.device_pairing_data.is_some() && device_props(payload).is_none() {
        return Err(Refusal::BadRegistration);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wa_core::payload::{Agent, RegistrationKeys};

    fn keys() -> RegistrationKeys {
        RegistrationKeys {
            registration_id: [0, 0, 0, 1],
            identity: [1; 32],
            signed_prekey_id: [0, 0, 1],
            signed_prekey: [2; 32],
            signed_prekey_signature: [3; 64],
        }
    }

    #[test]
    fn current_payloads_pass() {
        let agent = Agent::default();
        assert_eq!(check(&agent.login(1555, 2), DEFAULT_MIN_VERSION), Ok(()));
        assert_eq!(
            check(&agent.registration(&keys()), DEFAULT_MIN_VERSION),
            Ok(())
        );
    }

    #[test]
    fn no_agent_or_an_old_version_is_outdated() {
        let bare = ClientPayload {
            username: Some(1555),
            device: Some(2),
            ..Default::default()
        };
        assert_eq!(check(&bare, DEFAULT_MIN_VERSION), Err(Refusal::Outdated));
        let old = Agent {
            version: "2.2412.54".parse().unwrap(),
            ..Agent::default()
        };
        assert_eq!(
            check(&old.login(1555, 2), DEFAULT_MIN_VERSION),
            Err(Refusal::Outdated)
        );
        let mut no_version = Agent::default().login(1555, 2);
        if let Some(ua) = no_version.user_agent.as_mut() {
            ua.app_version = None;
        }
        assert_eq!(
            check(&no_version, DEFAULT_MIN_VERSION),
            Err(Refusal::Outdated)
        );
    }

    #[test]
    fn a_registration_without_device_props_is_refused() {
        let mut reg = Agent::default().registration(&keys());
        if let Some(data) = reg.device_pairing_data.as_mut() {
            data.device_props = Some(Vec::new());
        }
        assert_eq!(
            check(&reg, DEFAULT_MIN_VERSION),
            Err(Refusal::BadRegistration)
        );
        if let Some(data) = reg.device_pairing_data.as_mut() {
            data.device_props = None;
        }
        assert_eq!(
            check(&reg, DEFAULT_MIN_VERSION),
            Err(Refusal::BadRegistration)
        );
    }
}
