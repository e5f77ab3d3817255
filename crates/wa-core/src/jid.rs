//! WhatsApp JIDs (Jabber IDs): `user[.agent][:device]@server`.
//!
//! A [`Jid`] is parsed once, at the edge, and then passed around typed. The
//! string forms follow what WhatsApp clients print: `123@s.whatsapp.net`
//! (a phone-number user), `123:4@s.whatsapp.net` (device 4 of that user),
//! `456@lid` (a LID user), `123-456@g.us` / `120363...@g.us` (groups),
//! `status@broadcast`, `120363...@newsletter`, `@s.whatsapp.net` (the server
//! itself). Messenger (`msgr`) and interop JIDs always carry their device and,
//! for interop, the integrator: `100:3@msgr`, `7-100:3@interop`.

use std::fmt;
use std::str::FromStr;

/// The server (domain) part of a JID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Server {
    /// `s.whatsapp.net`: phone-number users and the server itself.
    User,
    /// `lid`: users addressed by their LID (linked identity).
    Lid,
    /// `hosted`: hosted-business phone-number users.
    Hosted,
    /// `hosted.lid`: hosted-business LID users.
    HostedLid,
    /// `g.us`: groups.
    Group,
    /// `broadcast`: broadcast lists and `status@broadcast`.
    Broadcast,
    /// `newsletter`: channels.
    Newsletter,
    /// `c.us`: the legacy user server.
    LegacyUser,
    /// `call`: call ids.
    Call,
    /// `bot`: bots.
    Bot,
    /// `msgr`: Messenger users (FB JIDs).
    Messenger,
    /// `interop`: users of interoperating networks.
    Interop,
    /// Any other server, kept verbatim.
    Other(String),
}

impl Server {
    /// The wire string of this server.
    pub fn as_str(&self) -> &str {
        match self {
            Server::User => "s.whatsapp.net",
            Server::Lid => "lid",
            Server::Hosted => "hosted",
            Server::HostedLid => "hosted.lid",
            Server::Group => "g.us",
            Server::Broadcast => "broadcast",
            Server::Newsletter => "newsletter",
            Server::LegacyUser => "c.us",
            Server::Call => "call",
            Server::Bot => "bot",
            Server::Messenger => "msgr",
            Server::Interop => "interop",
            Server::Other(s) => s,
        }
    }

    /// Maps a wire string to a server; unknown names become [`Server::Other`].
    pub fn from_name(name: &str) -> Server {
        match name {
            "s.whatsapp.net" => Server::User,
            "lid" => Server::Lid,
            "hosted" => Server::Hosted,
            "hosted.lid" => Server::HostedLid,
            "g.us" => Server::Group,
            "broadcast" => Server::Broadcast,
            "newsletter" => Server::Newsletter,
            "c.us" => Server::LegacyUser,
            "call" => Server::Call,
            "bot" => Server::Bot,
            "msgr" => Server::Messenger,
            "interop" => Server::Interop,
            other => Server::Other(other.to_owned()),
        }
    }

    /// The domain byte of an AD_JID for this server, if it has one.
    pub fn ad_domain(&self) -> Option<u8> {
        match self {
            Server::User => Some(0),
            Server::Lid => Some(1),
            Server::Hosted => Some(128),
            Server::HostedLid => Some(129),
            _ => None,
        }
    }

    /// The server an AD_JID domain byte names, if it names one.
    pub fn from_ad_domain(domain: u8) -> Option<Server> {
        match domain {
            0 => Some(Server::User),
            1 => Some(Server::Lid),
            128 => Some(Server::Hosted),
            129 => Some(Server::HostedLid),
            _ => None,
        }
    }

    /// Servers whose JIDs always print their device (`user:device@server`).
    fn always_shows_device(&self) -> bool {
        matches!(self, Server::Messenger | Server::Interop)
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A WhatsApp address: user, agent, device and server.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Jid {
    user: String,
    agent: u8,
    device: u16,
    integrator: u16,
    server: Server,
}

/// Why a string is not a JID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JidError {
    /// No `@` separates user and server.
    #[error("jid has no '@' separator")]
    MissingAt,
    /// Nothing follows the `@`.
    #[error("jid has an empty server")]
    EmptyServer,
    /// The user part has a character JIDs never carry.
    #[error("jid user contains an invalid character")]
    InvalidUser,
    /// The device after `:` is not a number in range.
    #[error("jid device is not a number in range")]
    InvalidDevice,
    /// The agent after `.` is not a number in range, or collides with a domain byte.
    #[error("jid agent is not a valid number")]
    InvalidAgent,
    /// An interop JID without a numeric `integrator-` prefix.
    #[error("interop jid needs an 'integrator-user' prefix")]
    InvalidIntegrator,
}

impl Jid {
    /// A JID without device: `user@server`.
    pub fn new(user: impl Into<String>, server: Server) -> Jid {
        Jid {
            user: user.into(),
            agent: 0,
            device: 0,
            integrator: 0,
            server,
        }
    }

    /// A device JID: `user:device@server`.
    pub fn with_device(user: impl Into<String>, device: u16, server: Server) -> Jid {
        Jid {
            device,
            ..Jid::new(user, server)
        }
    }

    /// An interop JID: `integrator-user:device@interop`.
    pub fn interop(user: impl Into<String>, device: u16, integrator: u16) -> Jid {
        Jid {
            device,
            integrator,
            ..Jid::new(user, Server::Interop)
        }
    }

    /// The JID of the WhatsApp server itself, `@s.whatsapp.net`.
    pub fn server_jid() -> Jid {
        Jid::new("", Server::User)
    }

    /// A phone-number user JID, `number@s.whatsapp.net`.
    pub fn user_jid(number: impl Into<String>) -> Jid {
        Jid::new(number, Server::User)
    }

    /// Sets the agent (a raw AD_JID domain byte for `s.whatsapp.net` JIDs).
    ///
    /// Fails for agents that would read back as another server (1, 128, 129).
    pub fn with_agent(mut self, agent: u8) -> Result<Jid, JidError> {
        if agent != 0 && Server::from_ad_domain(agent).is_some() {
            return Err(JidError::InvalidAgent);
        }
        self.agent = agent;
        Ok(self)
    }

    /// The user part (phone number, LID, group id...), empty for the server.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The agent, 0 for almost every JID.
    pub fn agent(&self) -> u8 {
        self.agent
    }

    /// The device number; 0 is the primary device (the phone).
    pub fn device(&self) -> u16 {
        self.device
    }

    /// The integrator of an interop JID, 0 otherwise.
    pub fn integrator(&self) -> u16 {
        self.integrator
    }

    /// The server part.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// The same JID without agent and device: the account rather than one device.
    pub fn to_non_ad(&self) -> Jid {
        Jid {
            agent: 0,
            device: 0,
            ..self.clone()
        }
    }

    /// True for groups (`@g.us`).
    pub fn is_group(&self) -> bool {
        self.server == Server::Group
    }

    /// True for bots (Meta AI and others): the `bot` server, or a primary
    /// device of the phone-number ranges 1313555xxxx and 131655500xx
    /// (whatsmeow `types/jid.go` `IsBot`).
    pub fn is_bot(&self) -> bool {
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let in_range = |u: &str| {
            (u.len() == 11 && u.starts_with("1313555") && digits(&u[7..]))
                || (u.len() == 11 && u.starts_with("131655500") && digits(&u[9..]))
        };
        self.server == Server::Bot
            || (self.server == Server::User && self.device == 0 && in_range(&self.user))
    }

    /// True for broadcast lists and status (`@broadcast`).
    pub fn is_broadcast(&self) -> bool {
        self.server == Server::Broadcast
    }

    /// True for the status broadcast, `status@broadcast`.
    pub fn is_status_broadcast(&self) -> bool {
        self.server == Server::Broadcast && self.user == "status"
    }

    /// True for newsletters (channels).
    pub fn is_newsletter(&self) -> bool {
        self.server == Server::Newsletter
    }

    /// True for LID users (`@lid`, `@hosted.lid`).
    pub fn is_lid(&self) -> bool {
        matches!(self.server, Server::Lid | Server::HostedLid)
    }

    /// True for phone-number users (`@s.whatsapp.net`, `@hosted`) other than the server itself.
    pub fn is_phone_user(&self) -> bool {
        matches!(self.server, Server::User | Server::Hosted) && !self.user.is_empty()
    }
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.server == Server::Interop {
            write!(f, "{}-", self.integrator)?;
        }
        f.write_str(&self.user)?;
        if self.agent != 0 {
            write!(f, ".{}", self.agent)?;
        }
        if self.device != 0 || self.server.always_shows_device() {
            write!(f, ":{}", self.device)?;
        }
        write!(f, "@{}", self.server)
    }
}

fn valid_user_char(c: char) -> bool {
    !matches!(c, '@' | ':') && !c.is_control() && !c.is_whitespace()
}

impl FromStr for Jid {
    type Err = JidError;

    fn from_str(s: &str) -> Result<Jid, JidError> {
        let (user_part, server) = s.split_once('@').ok_or(JidError::MissingAt)?;
        if server.is_empty() {
            return Err(JidError::EmptyServer);
        }
        if server.contains('@') || !server.chars().all(valid_user_char) {
            return Err(JidError::InvalidUser);
        }
        let server = Server::from_name(server);
        let (user_agent, device) = match user_part.split_once(':') {
            Some((ua, dev)) => {
                let device = dev.parse::<u16>().map_err(|_| JidError::InvalidDevice)?;
                if !dev.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(JidError::InvalidDevice);
                }
                (ua, device)
            }
            None => (user_part, 0),
        };
        let mut jid = Jid::with_device("", device, server);
        let user = if jid.server == Server::Interop {
            let (integrator, user) = user_agent
                .split_once('-')
                .ok_or(JidError::InvalidIntegrator)?;
            jid.integrator = integrator
                .parse()
                .map_err(|_| JidError::InvalidIntegrator)?;
            user
        } else if matches!(jid.server, Server::User) {
            // Phone numbers never hold a dot: one there separates the agent.
            match user_agent.split_once('.') {
                Some((user, agent)) => {
                    let agent = agent.parse::<u8>().map_err(|_| JidError::InvalidAgent)?;
                    jid = jid.with_agent(agent)?;
                    user
                }
                None => user_agent,
            }
        } else {
            user_agent
        };
        if !user.chars().all(valid_user_char) {
            return Err(JidError::InvalidUser);
        }
        jid.user = user.to_owned();
        Ok(jid)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bots_are_their_server_or_two_number_ranges_on_device_zero() {
        for bot in [
            "13135550002@s.whatsapp.net",
            "13165550012@s.whatsapp.net",
            "867051314767696@bot",
        ] {
            assert!(bot.parse::<Jid>().unwrap().is_bot(), "{bot}");
        }
        for not in [
            "13135550002:3@s.whatsapp.net",
            "1313555000@s.whatsapp.net",
            "131355500021@s.whatsapp.net",
            "13165551012@s.whatsapp.net",
            "13135550002@lid",
            "15550001111@s.whatsapp.net",
        ] {
            assert!(!not.parse::<Jid>().unwrap().is_bot(), "{not}");
        }
    }

    #[test]
    fn parses_the_common_forms() {
        let j: Jid = "123:4@s.whatsapp.net".parse().unwrap();
        assert_eq!(
            (j.user(), j.device(), j.server()),
            ("123", 4, &Server::User)
        );
        let j: Jid = "456@lid".parse().unwrap();
        assert!(j.is_lid());
        assert_eq!(j.device(), 0);
        let g: Jid = "123-456@g.us".parse().unwrap();
        assert!(g.is_group());
        assert_eq!(g.user(), "123-456");
        assert!(
            "status@broadcast"
                .parse::<Jid>()
                .unwrap()
                .is_status_broadcast()
        );
        assert!("120363@newsletter".parse::<Jid>().unwrap().is_newsletter());
        let s: Jid = "@s.whatsapp.net".parse().unwrap();
        assert_eq!(s, Jid::server_jid());
        assert_eq!(s.to_string(), "@s.whatsapp.net");
        let i: Jid = "7-100:3@interop".parse().unwrap();
        assert_eq!((i.integrator(), i.user(), i.device()), (7, "100", 3));
        assert_eq!(i.to_string(), "7-100:3@interop");
        assert_eq!(
            "100:0@msgr".parse::<Jid>().unwrap().to_string(),
            "100:0@msgr"
        );
        let a: Jid = "123.5:2@s.whatsapp.net".parse().unwrap();
        assert_eq!((a.agent(), a.device()), (5, 2));
    }

    #[test]
    fn device_zero_prints_without_device() {
        let j: Jid = "123:0@s.whatsapp.net".parse().unwrap();
        assert_eq!(j.to_string(), "123@s.whatsapp.net");
        assert_eq!(j, Jid::user_jid("123"));
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!("123".parse::<Jid>(), Err(JidError::MissingAt));
        assert_eq!("123@".parse::<Jid>(), Err(JidError::EmptyServer));
        assert_eq!(
            "1:x@s.whatsapp.net".parse::<Jid>(),
            Err(JidError::InvalidDevice)
        );
        assert_eq!(
            "1:+3@s.whatsapp.net".parse::<Jid>(),
            Err(JidError::InvalidDevice)
        );
        assert_eq!(
            "1:70000@s.whatsapp.net".parse::<Jid>(),
            Err(JidError::InvalidDevice)
        );
        assert_eq!("a@b@c".parse::<Jid>(), Err(JidError::InvalidUser));
        assert_eq!(
            "1.1@s.whatsapp.net".parse::<Jid>(),
            Err(JidError::InvalidAgent)
        );
        assert_eq!(
            "100:1@interop".parse::<Jid>(),
            Err(JidError::InvalidIntegrator)
        );
        assert_eq!("a b@lid".parse::<Jid>(), Err(JidError::InvalidUser));
    }

    pub(crate) fn arb_jid() -> impl Strategy<Value = Jid> {
        let server = prop_oneof![
            Just(Server::User),
            Just(Server::Lid),
            Just(Server::Hosted),
            Just(Server::HostedLid),
            Just(Server::Group),
            Just(Server::Broadcast),
            Just(Server::Newsletter),
            Just(Server::LegacyUser),
            Just(Server::Messenger),
            Just(Server::Interop),
            "[a-z]{1,8}\\.[a-z]{2,3}".prop_map(|s| Server::from_name(&s)),
        ];
        (server, "[0-9]{0,15}", any::<u8>(), 0u16..300, any::<u16>()).prop_map(
            |(server, user, agent, device, integrator)| {
                let user = if server == Server::Group && !user.is_empty() {
                    format!("{user}-1")
                } else {
                    user
                };
                let mut jid = if server == Server::Interop {
                    Jid::interop(user, device, integrator)
                } else {
                    Jid::with_device(user, device, server)
                };
                if jid.server == Server::User && Server::from_ad_domain(agent).is_none() {
                    jid = jid.with_agent(agent).unwrap();
                }
                jid
            },
        )
    }

    proptest! {
        #[test]
        fn display_then_parse_is_identity(jid in arb_jid()) {
            let text = jid.to_string();
            prop_assert_eq!(text.parse::<Jid>().unwrap(), jid);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = s.parse::<Jid>();
        }
    }
}
