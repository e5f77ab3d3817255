//! Trusted-contact privacy tokens as the server handles them: a device
//! issues its account's token to a contact (`<iq xmlns="privacy"
//! type="set"><tokens><token jid t type="trusted_contact"/>`), the server
//! mints the bytes and tells the contact's devices in a `privacy_token`
//! notification; a restricted account's 1:1 message to someone who gave it
//! no token is refused with `<ack error="463">` (Baileys rc14
//! `SERVER_ERROR_CODES.MessageAccountRestriction`: "1:1 message missing
//! privacy token").

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use wa_core::binary::Node;
use wa_core::jid::Jid;

use super::{Shared, State, unix_now};

/// Tokens issued, and the accounts whose messages need one.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    /// (issuer, holder) phone numbers -> the token bytes.
    issued: HashMap<(String, String), Vec<u8>>,
    /// Accounts under a reach-out restriction.
    restricted: BTreeSet<String>,
    /// (subscriber, target) of presence subscriptions that carried a token.
    presence: BTreeSet<(String, String)>,
}

impl Tokens {
    /// Puts `pn` under (or lifts) the restriction.
    pub(crate) fn restrict(&mut self, pn: &str, on: bool) {
        if on {
            self.restricted.insert(pn.to_owned());
        } else {
            self.restricted.remove(pn);
        }
    }

    /// True when a 1:1 message from `sender` to `recipient` carrying
    /// `token` (its `<tctoken>`) may pass.
    pub(crate) fn admits(&self, sender: &str, recipient: &str, token: Option<&[u8]>) -> bool {
        if !self.restricted.contains(sender) || sender == recipient {
            return true;
        }
        let issued = self.issued.get(&(recipient.to_owned(), sender.to_owned()));
        issued.is_some_and(|t| Some(t.as_slice()) == token)
    }

    /// True when `token` is the one `issuer` gave `holder`.
    pub(crate) fn is_token_of(&self, issuer: &str, holder: &str, token: &[u8]) -> bool {
        self.issued
            .get(&(issuer.to_owned(), holder.to_owned()))
            .is_some_and(|t| t.as_slice() == token)
    }

    /// Notes that `subscriber` followed `target`'s presence with a token.
    pub(crate) fn subscribed_with_token(&mut self, subscriber: &str, target: &str) {
        self.presence
            .insert((subscriber.to_owned(), target.to_owned()));
    }

    /// True when `subscriber` followed `target`'s presence with a token.
    pub(crate) fn presence_token_seen(&self, subscriber: &str, target: &str) -> bool {
        self.presence
            .contains(&(subscriber.to_owned(), target.to_owned()))
    }

    /// True when `issuer` has given `holder` a token.
    /// The token `issuer` gave `holder`, if any.
    pub(crate) fn issued(&self, issuer: &str, holder: &str) -> Option<Vec<u8>> {
        self.issued
            .get(&(issuer.to_owned(), holder.to_owned()))
            .cloned()
    }

    pub(crate) fn has_issued(&self, issuer: &str, holder: &str) -> bool {
        self.issued
            .contains_key(&(issuer.to_owned(), holder.to_owned()))
    }
}

/// `issuer` gives `holder` a fresh token: kept, and pushed to every device
/// of `holder` as a `privacy_token` notification from `issuer`. The push
/// only goes to accounts under a restriction, the only ones whose sends a
/// token changes here, so that the stanza streams other tests read stay
/// as they were (the real service pushes to everyone).
pub(crate) fn issue(state: &mut State, issuer: &str, holder: &str) {
    let mut token = vec![0u8; 24];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut token);
    let Some(account) = state.accounts.get(issuer) else {
        return;
    };
    let t = unix_now().to_string();
    let note = Node::new("notification")
        .attr("from", account.pn_jid(0))
        .attr("sender_lid", account.lid_jid(0))
        .attr("type", "privacy_token")
        .attr("id", format!("{:016X}", rand::random::<u64>()))
        .attr("t", t.clone())
        .children(vec![Node::new("tokens").children(vec![
            Node::new("token")
                .attr("type", "trusted_contact")
                .attr("t", t)
                .bytes(token.clone()),
        ])]);
    state
        .tokens
        .issued
        .insert((issuer.to_owned(), holder.to_owned()), token);
    if !state.tokens.restricted.contains(holder) {
        return;
    }
    for device in state.devices_of(holder) {
        state.deliver(&(holder.to_owned(), device), note.clone());
    }
}

/// The `privacy set <tokens>` IQ from a device of `issuer`: a token for
/// each named contact that has an account.
pub(crate) fn iq(shared: &Arc<Shared>, issuer: &str, node: &Node) {
    let mut state = shared.state();
    let holders: Vec<String> = node
        .child("tokens")
        .map(|t| {
            t.children_by_tag("token")
                .filter(|t| t.attr_str("type") == Some("trusted_contact"))
                .filter_map(|t| t.attr_jid("jid").cloned())
                .filter_map(|jid: Jid| state.resolve(&jid.to_non_ad()).map(|(pn, _)| pn))
                .collect()
        })
        .unwrap_or_default();
    for holder in holders {
        issue(&mut state, issuer, &holder);
    }
}
