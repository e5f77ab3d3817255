//! Whether phone numbers are on WhatsApp: a `usync` contact query, as
//! whatsmeow's `IsOnWhatsApp` sends it.

use wa_core::binary::Node;
use wa_core::jid::{Jid, Server};

use super::{SendError, Shared};
use crate::socket::Connection;

/// What the server said of one number asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnWhatsApp {
    /// The number as asked (`+` and digits).
    pub query: String,
    /// Whether it is on WhatsApp.
    pub is_in: bool,
    /// The account's phone-number JID, when it is.
    pub phone: Option<Jid>,
    /// The account's LID, when the server gives it.
    pub lid: Option<Jid>,
}

/// `<iq xmlns=usync type=get to=s.whatsapp.net><usync mode=query
/// context=interactive ...><query><contact addressing_mode=lid/></query>
/// <list><user><contact>+NUMBER@c.us</contact></user>...` (whatsmeow
/// 33cfac51 `user.go` `IsOnWhatsApp` and `usync`; whatsmeow also asks for
/// business, disappearing mode and username, which we do not read). The
/// answer names each account by LID (`jid`) with its number (`pn_jid`);
/// the pair is kept as a LID mapping. `numbers` are digits, with or
/// without `+`.
pub(crate) async fn on_whatsapp(
    shared: &Shared,
    conn: &Connection,
    numbers: &[&str],
) -> Result<Vec<OnWhatsApp>, SendError> {
    let list = numbers
        .iter()
        .map(|n| {
            let asked = Jid::new(
                format!("+{}", n.trim_start_matches('+')),
                Server::LegacyUser,
            );
            Node::new("user").children(vec![Node::new("contact").bytes(asked.to_string())])
        })
        .collect();
    let query = vec![Node::new("contact").attr("addressing_mode", "lid")];
    let iq = crate::device_lists::usync_query(conn, "interactive", query, list);
    let answer = conn.iq(iq).await?;
    let list = answer
        .child("usync")
        .and_then(|u| u.child("list"))
        .ok_or_else(|| SendError::Malformed("a contact query answer without a list".into()))?;
    let mut out = Vec::new();
    for user in list.children_by_tag("user") {
        let Some(contact) = user.child("contact") else {
            continue;
        };
        let asked = String::from_utf8_lossy(contact.content_bytes().unwrap_or_default());
        let query = asked.trim_end_matches("@c.us").to_owned();
        let jid = user.attr_jid("jid").map(Jid::to_non_ad);
        let pn = user.attr_jid("pn_jid").map(Jid::to_non_ad);
        let (phone, lid) = match jid {
            Some(j) if j.is_lid() => (pn, Some(j)),
            Some(j) => (Some(j), None),
            None => (pn, None),
        };
        if let (Some(phone), Some(lid)) = (&phone, &lid) {
            shared
                .store
                .store_lid_mapping(phone.user(), lid.user())
                .await?;
        }
        out.push(OnWhatsApp {
            query,
            is_in: contact.attr_str("type") == Some("in"),
            phone: phone.filter(|p| p.server() == &Server::User),
            lid,
        });
    }
    Ok(out)
}

/// The phone-number <-> LID pairs a history chunk carries
/// (`phoneNumberToLidMappings`), kept as LID mappings, as whatsmeow
/// 33cfac51 does (`message.go` `storeHistoricalPNLIDMappings`; a legacy
/// `c.us` number counts as `s.whatsapp.net`). Unparsable pairs are skipped.
pub(super) async fn lids_from_history(
    shared: &Shared,
    history: &wa_core::proto::HistorySync,
) -> Result<(), crate::StoreError> {
    for pair in &history.phone_number_to_lid_mappings {
        let parse = |s: Option<&str>| s.and_then(|s| s.parse::<Jid>().ok());
        let (Some(pn), Some(lid)) = (
            parse(pair.pn_jid.as_deref()),
            parse(pair.lid_jid.as_deref()),
        ) else {
            continue;
        };
        if matches!(pn.server(), Server::User | Server::LegacyUser) && lid.is_lid() {
            shared
                .store
                .store_lid_mapping(pn.user(), lid.user())
                .await?;
        }
    }
    Ok(())
}
