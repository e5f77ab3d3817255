//! Phone numbers to people: `resolve-identifier` asks WhatsApp whether a
//! number is on it (a contact lookup) and names their ghost; `pm` also
//! opens the direct chat's portal, made like one a message would make.

use std::sync::Arc;

use ruma::UserId;
use wa_core::jid::Jid;

use super::incoming::{ghost, ghost_ids};
use crate::bridge::{ResolveError, Resolved};
use crate::connector::Bridge;

/// The shortest and longest numbers E.164 allows, country code included.
const DIGITS: std::ops::RangeInclusive<usize> = 7..=15;

/// The digits of a phone number as people write it (`+1 (555) 123-4567`),
/// if it is one.
fn phone_digits(identifier: &str) -> Option<String> {
    let rest = identifier.trim().trim_start_matches('+');
    let separators = |c: char| matches!(c, ' ' | '-' | '.' | '(' | ')');
    if !rest.chars().all(|c| c.is_ascii_digit() || separators(c)) {
        return None;
    }
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    (DIGITS.contains(&digits.len()) && !digits.starts_with('0')).then_some(digits)
}

/// Whom `identifier` names for `user`'s login, and with `start_chat` their
/// direct chat's portal.
pub(super) async fn resolve(
    bridge: &Arc<Bridge>,
    user: &UserId,
    identifier: &str,
    start_chat: bool,
) -> Result<Resolved, ResolveError> {
    let digits = phone_digits(identifier).ok_or_else(|| {
        ResolveError::Invalid(
            "that is not a phone number: give one with its country code, like +15551234567"
                .to_owned(),
        )
    })?;
    let (login, client) = super::login::account_of(bridge, user).await?;
    let failed = |e: &dyn std::fmt::Display| ResolveError::Failed(e.to_string());
    let answers = client
        .on_whatsapp(&[&digits])
        .await
        .map_err(|e| failed(&e))?;
    let id = format!("+{digits}");
    let Some(phone) = answers.into_iter().find(|a| a.is_in).and_then(|a| a.phone) else {
        return Err(ResolveError::NotFound(id, "WhatsApp"));
    };
    let intent = ghost(bridge, &phone, None).await.map_err(|e| failed(&e))?;
    let (network_id, _) = ghost_ids(bridge, &phone);
    let db = bridge.db();
    let saved = db
        .contact_name(&login.login_id, &network_id)
        .await
        .map_err(|e| failed(&e))?;
    let name = match saved {
        Some(name) => Some(name),
        None => db
            .ghost(&network_id)
            .await
            .map_err(|e| failed(&e))?
            .and_then(|g| g.display_name)
            .filter(|n| *n != id),
    };
    let room = match start_chat {
        true => Some(open_chat(bridge, (user, &login), &client, &phone).await?),
        false => None,
    };
    Ok(Resolved {
        id,
        name,
        ghost: intent.user_id().to_owned(),
        room,
    })
}

/// The portal of the direct chat with `phone`, made if there is none; the
/// user is invited again if they are not in it.
async fn open_chat(
    bridge: &Arc<Bridge>,
    (user, login): (&UserId, &crate::store::Login),
    client: &wa_client::Client,
    phone: &Jid,
) -> Result<ruma::OwnedRoomId, ResolveError> {
    let failed = |e: &dyn std::fmt::Display| ResolveError::Failed(e.to_string());
    let portal = super::portal::portal(bridge, login, client, phone, None)
        .await
        .map_err(|e| failed(&e))?;
    // Already in it, or invited: the invite is refused, which is fine.
    if let Err(e) = bridge.bot().invite(&portal.room_id, user).await {
        tracing::debug!(error = %e, "the user was not invited to their chat again");
    }
    Ok(portal.room_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_as_people_write_them() {
        assert_eq!(phone_digits("+15551234567").as_deref(), Some("15551234567"));
        assert_eq!(
            phone_digits(" +1 (555) 123-4567 ").as_deref(),
            Some("15551234567")
        );
        assert_eq!(
            phone_digits("4915112345678").as_deref(),
            Some("4915112345678")
        );
        for bad in [
            "",
            "+",
            "+1555",
            "hello",
            "+1555123456789012",
            "+1555abc4567",
            "015551234567",
        ] {
            assert_eq!(phone_digits(bad), None, "{bad:?}");
        }
    }
}
