//! The account settings a web client reads at session start: server props
//! (`abt`), the blocklist and the privacy settings (shapes as Baileys rc14
//! `Socket/chats.js` asks for and reads them; privacy values from whatsmeow
//! `types/user.go`).

use std::collections::{BTreeMap, BTreeSet};

use wa_core::binary::Node;
use wa_core::jid::{Jid, Server};

/// The privacy settings a new account has: everyone sees everything.
const DEFAULT_PRIVACY: [(&str, &str); 7] = [
    ("readreceipts", "all"),
    ("last", "all"),
    ("online", "all"),
    ("profile", "all"),
    ("status", "contacts"),
    ("groupadd", "all"),
    ("calladd", "all"),
];

/// Settings of each account, by phone number.
#[derive(Debug, Default)]
pub(crate) struct Settings {
    privacy: BTreeMap<String, BTreeMap<String, String>>,
    blocked: BTreeMap<String, BTreeSet<String>>,
    /// Props changed from the defaults, by config code.
    props: BTreeMap<String, String>,
}

impl Settings {
    /// Sets the server prop `code` for every account (`None`: back to the
    /// default, or left out if it has none).
    pub(crate) fn set_prop(&mut self, code: &str, value: Option<&str>) {
        match value {
            Some(v) => self.props.insert(code.to_owned(), v.to_owned()),
            None => self.props.remove(code),
        };
    }

    /// Changes one privacy category of `pn`.
    pub(crate) fn set_privacy(&mut self, pn: &str, category: &str, value: &str) {
        self.privacy
            .entry(pn.to_owned())
            .or_default()
            .insert(category.to_owned(), value.to_owned());
    }

    /// The value of `pn`'s privacy `category` (its default if never set).
    pub(crate) fn privacy_value(&self, pn: &str, category: &str) -> Option<String> {
        self.privacy
            .get(pn)
            .and_then(|set| set.get(category).cloned())
            .or_else(|| {
                DEFAULT_PRIVACY
                    .iter()
                    .find(|(k, _)| *k == category)
                    .map(|(_, v)| (*v).to_owned())
            })
    }

    /// `pn` blocks (or unblocks) the account `other`.
    pub(crate) fn set_blocked(&mut self, pn: &str, other: &str, blocked: bool) {
        let list = self.blocked.entry(pn.to_owned()).or_default();
        if blocked {
            list.insert(other.to_owned());
        } else {
            list.remove(other);
        }
    }

    /// True when `pn` blocked `other`.
    pub(crate) fn blocks(&self, pn: &str, other: &str) -> bool {
        self.blocked.get(pn).is_some_and(|l| l.contains(other))
    }

    /// `<privacy><category name value/>...</privacy>`.
    pub(crate) fn privacy_node(&self, pn: &str) -> Node {
        let mut values: BTreeMap<String, String> = DEFAULT_PRIVACY
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if let Some(set) = self.privacy.get(pn) {
            values.extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Node::new("privacy").children(
            values
                .into_iter()
                .map(|(name, value)| {
                    Node::new("category")
                        .attr("name", name)
                        .attr("value", value)
                })
                .collect(),
        )
    }

    /// `<list><item jid/>...</list>`.
    pub(crate) fn blocklist_node(&self, pn: &str) -> Node {
        let items = self
            .blocked
            .get(pn)
            .into_iter()
            .flatten()
            .map(|other| Node::new("item").attr("jid", Jid::new(other.clone(), Server::User)))
            .collect();
        Node::new("list").children(items)
    }

    /// `<props protocol hash><prop config_code config_value/>...</props>`:
    /// the privacy-token props Baileys reads (10518, 9666, 14303), with the
    /// values it assumes unless a test changed them.
    pub(crate) fn props_node(&self) -> Node {
        let mut props: BTreeMap<String, String> = DEFAULT_PROPS
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        props.extend(self.props.clone());
        Node::new("props")
            .attr("protocol", "1")
            .attr("hash", "wa-sim-1")
            .children(
                props
                    .into_iter()
                    .map(|(code, value)| {
                        Node::new("prop")
                            .attr("config_code", code)
                            .attr("config_value", value)
                    })
                    .collect(),
            )
    }
}

/// Props every account gets: 10518 (privacy token on all 1:1 messages),
/// 9666 (privacy token in the picture IQ), 14303 (issue tokens to LIDs),
/// with the defaults Baileys rc14 assumes (`Socket/chats.js`).
const DEFAULT_PROPS: [(&str, &str); 3] = [("10518", "true"), ("9666", "true"), ("14303", "false")];
