//! The `ClientPayload` a companion sends at the end of the Noise handshake,
//! as the web clients that work against the real service send it.
//!
//! Field by field this follows whatsmeow's `store/clientpayload.go` and
//! Baileys rc14's `Utils/validate-connection.js` (see docs/PROTOCOL-NOTES.md,
//! "ClientPayload"): a web user agent with the WhatsApp Web version, the
//! web sub-platform, Wi-Fi / user-activated, and for a registration the
//! build hash (MD5 of the version string) and the `DeviceProps` the phone
//! lists the device by.

use std::fmt;
use std::str::FromStr;

use md5::{Digest, Md5};
use prost::Message as _;

use crate::proto::client_payload::user_agent::{AppVersion, Platform, ReleaseChannel};
use crate::proto::client_payload::web_info::WebSubPlatform;
use crate::proto::client_payload::{
    ConnectReason, ConnectType, DevicePairingRegistrationData, UserAgent, WebInfo,
};
use crate::proto::device_props::{self, HistorySyncConfig, PlatformType};
use crate::proto::{ClientPayload, DeviceProps};

/// A WhatsApp Web version, `2.3000.1045649367`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WebVersion {
    /// Always 2 so far.
    pub primary: u32,
    /// 3000 since the 2.3000 line.
    pub secondary: u32,
    /// The web client's revision (`client_revision`).
    pub tertiary: u32,
}

/// The WhatsApp Web version compiled in: whatsmeow's `waVersion` as of its
/// commit 6eefbff4 "proto: update to v1045649367" (2026-08-20), read on
/// 2026-12-06. The service refuses logins from versions it considers too
/// old (`<failure reason="405"/>`); `network.app_version` overrides this.
pub const DEFAULT_WEB_VERSION: WebVersion = WebVersion {
    primary: 2,
    secondary: 3000,
    tertiary: 1_045_649_367,
};

impl WebVersion {
    /// The registration's `buildHash`: MD5 of the dotted version string
    /// (whatsmeow `WAVersionContainer.Hash`, Baileys
    /// `generateRegistrationNode`).
    pub fn build_hash(&self) -> [u8; 16] {
        Md5::digest(self.to_string().as_bytes()).into()
    }

    fn app_version(&self) -> AppVersion {
        AppVersion {
            primary: Some(self.primary),
            secondary: Some(self.secondary),
            tertiary: Some(self.tertiary),
            ..Default::default()
        }
    }
}

impl fmt::Display for WebVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.primary, self.secondary, self.tertiary)
    }
}

/// A version string that is not three dot-separated numbers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a WhatsApp Web version (want three numbers, as in 2.3000.1045649367): {0:?}")]
pub struct BadVersion(pub String);

impl FromStr for WebVersion {
    type Err = BadVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadVersion(s.to_owned());
        let mut parts = s
            .trim()
            .split('.')
            .map(|p| p.parse::<u32>().map_err(|_| bad()));
        let (Some(primary), Some(secondary), Some(tertiary), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        Ok(WebVersion {
            primary: primary?,
            secondary: secondary?,
            tertiary: tertiary?,
        })
    }
}

/// What history the companion asks the phone for at link time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HistoryRequest {
    /// `DeviceProps.requireFullSync`: the whole history rather than the
    /// recent chats only (whatsmeow: off; Baileys: on).
    pub full: bool,
    /// `fullSyncDaysLimit` when `full`: how many days back.
    pub full_days: Option<u32>,
}

/// How the companion describes itself: the same for every connection of
/// a bridge, set from its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// The WhatsApp Web version sent as `userAgent.appVersion`.
    pub version: WebVersion,
    /// `DeviceProps.os`: the name the phone's list of linked devices shows.
    pub device_name: String,
    /// `DeviceProps.version`: the companion software's own version.
    pub device_version: (u32, u32, u32),
    /// `DeviceProps.platformType`: the icon the phone shows next to it.
    pub platform: PlatformType,
    /// `userAgent.localeLanguageIso6391`.
    pub language: String,
    /// `userAgent.localeCountryIso31661Alpha2`.
    pub country: String,
    /// `DeviceProps.requireFullSync` and the `historySyncConfig` limits.
    pub history: HistoryRequest,
}

impl Default for Agent {
    /// whatsmeow's defaults: an "unknown" platform, English / US.
    fn default() -> Self {
        Agent {
            version: DEFAULT_WEB_VERSION,
            device_name: "wabridge".to_owned(),
            device_version: (0, 1, 0),
            platform: PlatformType::Unknown,
            language: "en".to_owned(),
            country: "US".to_owned(),
            history: HistoryRequest::default(),
        }
    }
}

/// `DeviceProps.platformType` names, as configuration spells them.
pub fn platform_type(name: &str) -> Option<PlatformType> {
    PlatformType::from_str_name(&name.trim().to_ascii_uppercase())
}

/// The identity keys an unpaired companion registers with, already in
/// their wire form (big-endian registration id and signed prekey id).
#[derive(Clone, PartialEq, Eq)]
pub struct RegistrationKeys {
    /// `eRegid`: 4 bytes.
    pub registration_id: [u8; 4],
    /// `eIdent`: the Signal identity public key.
    pub identity: [u8; 32],
    /// `eSkeyId`: 3 bytes.
    pub signed_prekey_id: [u8; 3],
    /// `eSkeyVal`.
    pub signed_prekey: [u8; 32],
    /// `eSkeySig`.
    pub signed_prekey_signature: [u8; 64],
}

impl fmt::Debug for RegistrationKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Public material only, but nobody needs it in a log line.
        f.debug_struct("RegistrationKeys").finish_non_exhaustive()
    }
}

/// `eKeytype`: Curve25519.
const KEY_TYPE_DJB: u8 = 5;

impl Agent {
    /// The fields every payload carries (whatsmeow `BaseClientPayload`).
    fn base(&self) -> ClientPayload {
        ClientPayload {
            user_agent: Some(UserAgent {
                platform: Some(Platform::Web.into()),
                app_version: Some(self.version.app_version()),
                mcc: Some("000".to_owned()),
                mnc: Some("000".to_owned()),
                os_version: Some("0.1".to_owned()),
                manufacturer: Some(String::new()),
                device: Some("Desktop".to_owned()),
                os_build_number: Some("0.1".to_owned()),
                release_channel: Some(ReleaseChannel::Release.into()),
                locale_language_iso6391: Some(self.language.clone()),
                locale_country_iso31661_alpha2: Some(self.country.clone()),
                ..Default::default()
            }),
            web_info: Some(WebInfo {
                web_sub_platform: Some(WebSubPlatform::WebBrowser.into()),
                ..Default::default()
            }),
            connect_type: Some(ConnectType::WifiUnknown.into()),
            connect_reason: Some(ConnectReason::UserActivated.into()),
            ..Default::default()
        }
    }

    /// `DeviceProps` as the phone will see them.
    pub fn device_props(&self) -> DeviceProps {
        let (primary, secondary, tertiary) = self.device_version;
        DeviceProps {
            os: Some(self.device_name.clone()),
            version: Some(device_props::AppVersion {
                primary: Some(primary),
                secondary: Some(secondary),
                tertiary: Some(tertiary),
                ..Default::default()
            }),
            platform_type: Some(self.platform.into()),
            require_full_sync: Some(self.history.full),
            history_sync_config: Some(self.history_sync_config()),
        }
    }

    /// What the phone may send in history sync: whatsmeow's capability
    /// set (both reference clients agree on all but call logs and group
    /// history, where we follow whatsmeow), plus the configured limit.
    fn history_sync_config(&self) -> HistorySyncConfig {
        HistorySyncConfig {
            full_sync_days_limit: self.history.full_days.filter(|_| self.history.full),
            storage_quota_mb: Some(10240),
            inline_initial_payload_in_e2_ee_msg: Some(true),
            support_call_log_history: Some(true),
            support_bot_user_agent_chat_history: Some(true),
            support_cag_reactions_and_polls: Some(true),
            support_biz_hosted_msg: Some(true),
            support_recent_sync_chunk_message_count_tuning: Some(true),
            support_hosted_group_msg: Some(true),
            support_fbid_bot_chat_history: Some(true),
            support_message_association: Some(true),
            support_group_history: Some(true),
            thumbnail_sync_days_limit: Some(60),
            ..Default::default()
        }
    }

    /// The payload of an unpaired companion asking to be linked.
    pub fn registration(&self, keys: &RegistrationKeys) -> ClientPayload {
        ClientPayload {
            passive: Some(false),
            pull: Some(false),
            device_pairing_data: Some(DevicePairingRegistrationData {
                e_regid: Some(keys.registration_id.to_vec()),
                e_keytype: Some(vec![KEY_TYPE_DJB]),
                e_ident: Some(keys.identity.to_vec()),
                e_skey_id: Some(keys.signed_prekey_id.to_vec()),
                e_skey_val: Some(keys.signed_prekey.to_vec()),
                e_skey_sig: Some(keys.signed_prekey_signature.to_vec()),
                build_hash: Some(self.version.build_hash().to_vec()),
                device_props: Some(self.device_props().encode_to_vec()),
            }),
            ..self.base()
        }
    }

    /// The payload of a paired companion logging in as device `device` of
    /// the account with phone number `username`. `lidDbMigrated` and `lc`
    /// as whatsmeow sends them (Baileys hard-codes `lidDbMigrated=false`
    /// with a to-do; whatsmeow's is the newer behaviour).
    pub fn login(&self, username: u64, device: u32) -> ClientPayload {
        ClientPayload {
            username: Some(username),
            device: Some(device),
            passive: Some(true),
            pull: Some(true),
            lid_db_migrated: Some(true),
            lc: Some(1),
            ..self.base()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_print_and_order() {
        let v: WebVersion = "2.3000.1045649367".parse().unwrap();
        assert_eq!(v, DEFAULT_WEB_VERSION);
        assert_eq!(v.to_string(), "2.3000.1045649367");
        assert!("2.3000.1043857760".parse::<WebVersion>().unwrap() < v);
        for bad in ["", "2.3000", "2.3000.1.4", "2.x.1", "2.3000.-1", "2..1"] {
            assert!(bad.parse::<WebVersion>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn build_hash_is_md5_of_the_dotted_version() {
        // MD5("2.3000.1045649367"), computed independently with coreutils md5sum.
        let v: WebVersion = "2.3000.1045649367".parse().unwrap();
        assert_eq!(
            hex::encode(v.build_hash()),
            "9fa53af9421567b114e33c9bb1ef7db2"
        );
    }

    #[test]
    fn platform_names_are_the_enum_names() {
        assert_eq!(platform_type("chrome"), Some(PlatformType::Chrome));
        assert_eq!(platform_type("Unknown"), Some(PlatformType::Unknown));
        assert_eq!(platform_type("desktop"), Some(PlatformType::Desktop));
        assert_eq!(platform_type("toaster"), None);
    }

    fn keys() -> RegistrationKeys {
        RegistrationKeys {
            registration_id: [0, 0, 1, 2],
            identity: [7; 32],
            signed_prekey_id: [0, 0, 1],
            signed_prekey: [8; 32],
            signed_prekey_signature: [9; 64],
        }
    }

    #[test]
    fn registration_carries_agent_hash_and_device_props() {
        let agent = Agent {
            device_name: "My bridge".to_owned(),
            history: HistoryRequest {
                full: true,
                full_days: Some(30),
            },
            ..Agent::default()
        };
        let p = agent.registration(&keys());
        assert_eq!(p.passive, Some(false));
        assert_eq!(p.pull, Some(false));
        assert_eq!(p.username, None);
        let ua = p.user_agent.unwrap();
        assert_eq!(ua.platform, Some(Platform::Web as i32));
        assert_eq!(ua.app_version.unwrap().tertiary, Some(1_045_649_367));
        assert_eq!(ua.device.as_deref(), Some("Desktop"));
        assert_eq!(
            p.web_info.unwrap().web_sub_platform,
            Some(WebSubPlatform::WebBrowser as i32)
        );
        let reg = p.device_pairing_data.unwrap();
        assert_eq!(
            reg.build_hash.as_deref(),
            Some(&DEFAULT_WEB_VERSION.build_hash()[..])
        );
        assert_eq!(reg.e_keytype.as_deref(), Some(&[5u8][..]));
        let props = DeviceProps::decode(reg.device_props.unwrap().as_slice()).unwrap();
        assert_eq!(props.os.as_deref(), Some("My bridge"));
        assert_eq!(props.platform_type, Some(PlatformType::Unknown as i32));
        assert_eq!(props.require_full_sync, Some(true));
        let history = props.history_sync_config.unwrap();
        assert_eq!(history.full_sync_days_limit, Some(30));
        assert_eq!(history.inline_initial_payload_in_e2_ee_msg, Some(true));
    }

    #[test]
    fn recent_history_only_sets_no_day_limit() {
        let agent = Agent {
            history: HistoryRequest {
                full: false,
                full_days: Some(30),
            },
            ..Agent::default()
        };
        let props = agent.device_props();
        assert_eq!(props.require_full_sync, Some(false));
        assert_eq!(
            props.history_sync_config.unwrap().full_sync_days_limit,
            None
        );
    }

    #[test]
    fn login_is_passive_with_username_device_and_lid_migration() {
        let p = Agent::default().login(15550000001, 3);
        assert_eq!(p.username, Some(15550000001));
        assert_eq!(p.device, Some(3));
        assert_eq!((p.passive, p.pull), (Some(true), Some(true)));
        assert_eq!(p.lid_db_migrated, Some(true));
        assert_eq!(p.connect_type, Some(ConnectType::WifiUnknown as i32));
        assert_eq!(p.connect_reason, Some(ConnectReason::UserActivated as i32));
        assert!(p.user_agent.is_some());
        assert!(p.device_pairing_data.is_none());
    }
}
