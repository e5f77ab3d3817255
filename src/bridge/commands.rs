//! Commands to the bot. Those that touch a WhatsApp account (`login`,
//! `logout`, `ping` with its phone number, `cancel`) run only in the
//! sender's own management room, and only while nobody but the sender
//! and the bot is in it or invited: a QR code shown where someone else can
//! scan it would link *their* phone to the sender's bridge (issue 18).
//! Elsewhere, with the prefix, only `help` answers, and in a group's room
//! `invite-link` (for the user whose group it is).

use std::sync::Arc;

use super::{Bridge, LinkTarget, Network, ResolveError, Resolved};
use crate::config::Level;
use ruma::events::room::member::MembershipState;
use ruma::{RoomId, UserId};

/// Where a command may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Any room of the bot's (outside the management room, with the prefix).
    Anywhere,
    /// It touches the sender's account: only in their management room,
    /// and only while nobody else is in it.
    Account,
    /// Only in the sender's management room, even when others are in it
    /// (stopping a login must work when someone joined).
    Management,
    /// Only in a chat's portal (with the prefix), by the chat's user.
    Portal,
}

/// What a command does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Help,
    Login,
    Cancel,
    Logout,
    Ping,
    Resolve,
    StartChat,
    InviteLink,
    ResolveLink,
    Join,
    CreateGroup,
}

/// One command of the bot.
#[derive(Debug)]
struct Command {
    /// What the user types.
    name: &'static str,
    /// Other names it answers to.
    aliases: &'static [&'static str],
    /// What `help` says it does; `{network}` is the network's name.
    help: &'static str,
    /// Where it may run.
    scope: Scope,
    /// The least permission that runs it (`None`: anyone).
    level: Option<Level>,
    action: Action,
}

/// Every command, in the order `help` lists them.
const COMMANDS: &[Command] = &[
    Command {
        aliases: &[],
        name: "login",
        help: "link your {network} account by scanning a QR code",
        scope: Scope::Account,
        level: Some(Level::User),
        action: Action::Login,
    },
    Command {
        aliases: &[],
        name: "logout",
        help: "unlink this bridge from your {network} account",
        scope: Scope::Account,
        level: Some(Level::User),
        action: Action::Logout,
    },
    Command {
        aliases: &[],
        name: "ping",
        help: "the state of your {network} connection",
        scope: Scope::Account,
        level: Some(Level::User),
        action: Action::Ping,
    },
    Command {
        aliases: &[],
        name: "resolve-identifier",
        help: "`resolve-identifier +NUMBER`: whether a phone number is on {network}, and who",
        scope: Scope::Account,
        level: Some(Level::User),
        action: Action::Resolve,
    },
    Command {
        aliases: &["start-chat"],
        name: "pm",
        help: "`pm +NUMBER` (or `start-chat`): open a chat with a phone number on {network}",
        scope: Scope::Account,
        level: Some(Level::User),
        action: Action::StartChat,
    },
    Command {
        aliases: &[],
        name: "resolve-link",
        help: "`resolve-link LINK`: what a {network} group invite link points to",
        scope: Scope::Account,
        level: Some(Level::User),
        action: Action::ResolveLink,
    },
    Command {
        aliases: &[],
        name: "join",
        help: "`join LINK`: join a {network} group by its invite link and open its room",
        scope: Scope::Account,
        level: Some(Level::User),
        action: Action::Join,
    },
    Command {
        aliases: &[],
        name: "create-group",
        help: "`create-group NAME +NUMBER...`: a new {network} group with them; in a room of \
               yours with contacts' ghosts invited, `create-group [NAME]` makes it that room's group",
        scope: Scope::Anywhere,
        level: Some(Level::User),
        action: Action::CreateGroup,
    },
    Command {
        aliases: &[],
        name: "invite-link",
        help: "in a group's room: its invite link (`invite-link reset`: a new one, admins only)",
        scope: Scope::Portal,
        level: Some(Level::User),
        action: Action::InviteLink,
    },
    Command {
        aliases: &[],
        name: "cancel",
        help: "stop a login in progress",
        scope: Scope::Management,
        level: Some(Level::User),
        action: Action::Cancel,
    },
    Command {
        aliases: &[],
        name: "help",
        help: "this list",
        scope: Scope::Anywhere,
        level: None,
        action: Action::Help,
    },
];

/// The commands, for `help` and after an unknown one.
fn help(network: &str) -> String {
    let mut text =
        "Commands (in your management room, a direct chat with just you and me):".to_owned();
    for c in COMMANDS {
        text.push_str(&format!(
            "\n• {}: {}",
            c.name,
            c.help.replace("{network}", network)
        ));
    }
    text
}

/// Where a command was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The sender's management room.
    Management,
    /// Any other room (the command had the prefix).
    Elsewhere,
}

/// What a room with more people in it is told.
pub(crate) fn not_private<N: Network>() -> String {
    not_private_for(N::NAME)
}

/// [`not_private`] for the network named `network`.
pub(crate) fn not_private_for(network: &str) -> String {
    format!(
        "This room has other members. I take commands that touch your {network} account only \
         in a direct chat with just you and me: start one and send `help`."
    )
}

/// Runs one command from `sender` in `room`; every outcome is answered in
/// the room.
pub(super) async fn run<N: Network>(
    bridge: &Arc<Bridge<N>>,
    (room, place): (&RoomId, Place),
    sender: &UserId,
    line: &str,
) {
    let name = line
        .split_whitespace()
        .next()
        .unwrap_or("help")
        .to_ascii_lowercase();
    let command = COMMANDS
        .iter()
        .find(|c| c.name == name || c.aliases.contains(&name.as_str()));
    let level = bridge.config.bridge.permission_for(sender);
    if let Some(refusal) = refusal(N::NAME, (&name, command), level, place) {
        bridge.notice(room, &refusal).await;
        return;
    }
    let Some(command) = command else {
        return; // refused above
    };
    if command.scope == Scope::Account && !private(bridge, room, sender).await {
        bridge.notice(room, &not_private::<N>()).await;
        return;
    }
    match command.action {
        Action::Help => bridge.notice(room, &help(N::NAME)).await,
        Action::Login => super::login::start(bridge, room, sender).await,
        Action::Cancel => {
            // A login that stops says so itself, once its code is gone.
            if !super::login::cancel(bridge, sender).await {
                bridge.notice(room, "No login in progress.").await;
            }
        }
        Action::Logout => N::logout(bridge, room, sender).await,
        Action::Resolve | Action::StartChat => {
            let identifier = line.split_whitespace().skip(1).collect::<String>();
            let chat = command.action == Action::StartChat;
            let text =
                resolve_answer::<N>(N::resolve_identifier(bridge, sender, &identifier, chat).await);
            bridge.notice(room, &text).await;
        }
        Action::InviteLink => {
            let reset = line.split_whitespace().nth(1) == Some("reset");
            let text = match N::invite_link(bridge, room, sender, reset).await {
                Ok(link) => format!("This group's invite link: {link}"),
                Err(e) => format!("Sorry, {e}."),
            };
            bridge.notice(room, &text).await;
        }
        Action::ResolveLink | Action::Join => {
            let link = line.split_whitespace().nth(1).unwrap_or_default();
            let join = command.action == Action::Join;
            let text = link_answer(N::follow_link(bridge, sender, link, join).await);
            bridge.notice(room, &text).await;
        }
        Action::CreateGroup => {
            let args: Vec<&str> = line.split_whitespace().skip(1).collect();
            let is_member = |a: &&str| a.starts_with('+');
            let members: Vec<&str> = args.iter().copied().filter(is_member).collect();
            let name = args
                .iter()
                .copied()
                .filter(|a| !is_member(a))
                .collect::<Vec<_>>()
                .join(" ");
            // Numbers name the members; without, the room's ghosts do.
            let here = (place == Place::Elsewhere && members.is_empty()).then_some(room);
            let made = N::create_group(bridge, sender, here, (&name, &members)).await;
            let text = match made {
                Ok(portal) => format!("The group is made: https://matrix.to/#/{portal}"),
                Err(e) => format!("Sorry, {e}."),
            };
            bridge.notice(room, &text).await;
        }
        Action::Ping => {
            let text = if super::login::in_progress(bridge, sender).await {
                "A login is in progress (QR code shown).".to_owned()
            } else {
                N::status(bridge, sender).await
            };
            bridge.notice(room, &text).await;
        }
    }
}

/// What `resolve-identifier` and `pm` answer.
fn resolve_answer<N: Network>(resolved: Result<Resolved, ResolveError>) -> String {
    let net = N::NAME;
    match resolved {
        Ok(r) => {
            let who = match &r.name {
                Some(name) => format!("{name} ({})", r.id),
                None => r.id.clone(),
            };
            match &r.room {
                Some(room) => format!(
                    "Your chat with {who} is open: https://matrix.to/#/{room} (you are invited)."
                ),
                None => format!("{} is on {net}: {who}, {}.", r.id, r.ghost),
            }
        }
        Err(ResolveError::NotLoggedIn) => {
            format!("You are not logged in. Send `login` to link your {net} account.")
        }
        Err(e) => format!("Sorry, {e}."),
    }
}

/// What `resolve-link` and `join` answer.
fn link_answer(target: Result<LinkTarget, ResolveError>) -> String {
    match target {
        Ok(t) => {
            let about = t
                .topic
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            let what = format!("“{}”{about}, {} members", t.name, t.members);
            match &t.room {
                Some(room) => format!("You joined {what}: https://matrix.to/#/{room}"),
                None => format!("The link points to {what}. Send `join` with it to join."),
            }
        }
        Err(e) => format!("Sorry, {e}."),
    }
}

/// Why `command` (typed as `name`) does not run for a sender of `level`
/// in `place`, if it does not. `help` answers anyone anywhere.
fn refusal(
    network: &str,
    (name, command): (&str, Option<&Command>),
    level: Option<Level>,
    place: Place,
) -> Option<String> {
    if command.is_some_and(|c| c.level.is_none()) {
        return None;
    }
    if level.is_none_or(|l| l < Level::User) {
        return Some("Sorry, you are not allowed to use this bridge.".to_owned());
    }
    let Some(command) = command else {
        return Some(format!("Unknown command `{name}`.\n\n{}", help(network)));
    };
    if command
        .level
        .is_some_and(|needed| level.is_none_or(|l| l < needed))
    {
        return Some("Sorry, you are not allowed to use this command.".to_owned());
    }
    match (command.scope, place) {
        (Scope::Anywhere, _) | (Scope::Portal, Place::Elsewhere) => {}
        (Scope::Portal, Place::Management) => {
            return Some(format!("`{name}` works in a group's room, not here."));
        }
        (_, Place::Elsewhere) => {
            return Some(format!(
                "`{name}` works only in your management room: a direct chat with just you and me."
            ));
        }
        (_, Place::Management) => {}
    }
    None
}

/// Whether nobody but `user` and the bot is in `room` or invited to it
/// (or knocking); a room the bot cannot read counts as shared.
pub(crate) async fn private<N: Network>(bridge: &Bridge<N>, room: &RoomId, user: &UserId) -> bool {
    let Ok(members) = bridge.bot.members(room).await else {
        return false;
    };
    members.iter().all(|(who, membership)| {
        who == user
            || who == bridge.bot.user_id()
            || matches!(membership, MembershipState::Leave | MembershipState::Ban)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(name: &str) -> Option<&'static Command> {
        COMMANDS.iter().find(|c| c.name == name)
    }

    #[test]
    fn help_lists_every_command_with_the_network_named() {
        let text = help("Net");
        for c in COMMANDS {
            assert!(text.contains(&format!("• {}: ", c.name)), "{text}");
        }
        assert!(text.contains("link your Net account"), "{text}");
        assert!(!text.contains("{network}"), "{text}");
    }

    #[test]
    fn who_may_run_what_where() {
        let user = Some(Level::User);
        let ask = |name: &str, level, place| refusal("Net", (name, command(name)), level, place);
        assert_eq!(
            ask("help", None, Place::Elsewhere),
            None,
            "help answers anyone"
        );
        assert_eq!(ask("login", user, Place::Management), None);
        let refused = |r: Option<String>, why: &str| r.is_some_and(|t| t.contains(why));
        assert!(refused(
            ask("login", None, Place::Management),
            "not allowed"
        ));
        assert!(refused(
            ask("login", Some(Level::Relay), Place::Management),
            "not allowed"
        ));
        assert!(refused(
            ask("logout", user, Place::Elsewhere),
            "only in your management room"
        ));
        assert!(refused(
            ask("cancel", user, Place::Elsewhere),
            "only in your management room"
        ));
        assert_eq!(ask("cancel", user, Place::Management), None);
        assert_eq!(ask("invite-link", user, Place::Elsewhere), None);
        assert!(refused(
            ask("invite-link", user, Place::Management),
            "in a group's room"
        ));
        assert!(refused(
            ask("join", user, Place::Elsewhere),
            "only in your management room"
        ));
        assert!(refused(
            ask("dance", user, Place::Management),
            "Unknown command `dance`"
        ));
        assert!(
            refused(ask("dance", None, Place::Management), "not allowed"),
            "no command list for those the bridge does not serve"
        );
    }
}
