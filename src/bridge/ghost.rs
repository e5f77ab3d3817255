//! Ghosts: the Matrix users that stand for the network's users. The core
//! registers them, keeps their display name (the person's own name, known
//! to everyone) and knows which rooms they are in; the network says who a
//! user is ([`GhostId`]).

use ruma::OwnedUserId;

use super::{Bridge, Error, Network};
use crate::appservice::Intent;
use crate::store::Ghost;

/// A network user, as the core needs to know them for their ghost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GhostId {
    /// The network's id of the user (the key of their ghost's row).
    pub network_id: String,
    /// The id put into the ghost's localpart by the configured template.
    pub local_id: String,
    /// The name shown until the user's own name is known.
    pub fallback_name: String,
}

/// A ghost ready to act.
#[derive(Debug)]
pub struct Ghosted {
    /// The ghost.
    pub intent: Intent,
    /// Whether its display name changed from one set before (rooms that
    /// showed another name for it may want theirs again).
    pub renamed: bool,
}

impl<N: Network> Bridge<N> {
    /// The Matrix localpart of the ghost of `who`.
    pub fn ghost_localpart(&self, who: &GhostId) -> String {
        self.config.appservice.ghost_localpart(&who.local_id)
    }

    /// The Matrix user id of the ghost of `who`.
    pub fn ghost_user_id(&self, who: &GhostId) -> Result<OwnedUserId, Error> {
        Ok(self.matrix.user_id(&self.ghost_localpart(who))?)
    }

    /// The ghost of `who`, registered, named `name` when one is given
    /// (else the name it had, else the fallback).
    pub async fn ghost(&self, who: &GhostId, name: Option<&str>) -> Result<Ghosted, Error> {
        let localpart = self.ghost_localpart(who);
        let intent = self.matrix.ghost_intent(&localpart)?;
        intent.ensure_registered().await?;
        let known = self.db.ghost(&who.network_id).await?;
        let wanted = name
            .map(str::to_owned)
            .or_else(|| known.as_ref().and_then(|g| g.display_name.clone()))
            .unwrap_or_else(|| who.fallback_name.clone());
        let up_to_date = known
            .as_ref()
            .is_some_and(|g| g.name_set && g.display_name.as_deref() == Some(wanted.as_str()));
        let mut renamed = false;
        if !up_to_date {
            renamed = known.is_some();
            intent.set_displayname(&wanted).await?;
            let ghost = Ghost {
                network_id: who.network_id.clone(),
                localpart,
                display_name: Some(wanted),
                name_set: true,
                contact_name: None,
                avatar_url: known.and_then(|g| g.avatar_url),
            };
            self.db.save_ghost(&ghost).await?;
        }
        Ok(Ghosted { intent, renamed })
    }
}
