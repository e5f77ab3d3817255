//! Commands to the bot in a management room (or prefixed elsewhere).

use std::sync::Arc;

use super::Bridge;
use crate::config::Level;
use crate::connector;

const HELP: &str = "Commands:\n\
    • login: link your WhatsApp account by scanning a QR code\n\
    • logout: unlink this bridge from your WhatsApp account\n\
    • ping: the state of your WhatsApp connection\n\
    • cancel: stop a login in progress\n\
    • help: this list";

/// Runs one command from `sender` in `room`; every outcome is answered in
/// the room.
pub(super) async fn run(bridge: &Arc<Bridge>, room: &str, sender: &str, line: &str) {
    let command = line
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let allowed = bridge
        .config
        .bridge
        .permission_for(sender)
        .is_some_and(|l| l >= Level::User);
    if !allowed && command != "help" {
        bridge
            .notice(room, "Sorry, you are not allowed to use this bridge.")
            .await;
        return;
    }
    match command.as_str() {
        "help" | "" => bridge.notice(room, HELP).await,
        "login" => connector::start_login(bridge, room, sender).await,
        "cancel" => {
            let pairing = bridge.pairings.lock().await.remove(sender);
            match pairing {
                Some(p) => {
                    p.abort();
                    bridge.notice(room, "Login cancelled.").await;
                }
                None => bridge.notice(room, "No login in progress.").await,
            }
        }
        "logout" => connector::logout(bridge, room, sender).await,
        "ping" => {
            let text = connector::status(bridge, sender).await;
            bridge.notice(room, &text).await;
        }
        other => {
            bridge
                .notice(room, &format!("Unknown command `{other}`.\n\n{HELP}"))
                .await;
        }
    }
}
