//! Logging a user in: a state machine the core drives and the network
//! feeds (bridgev2's login process). The network links the account and
//! reports each step ([`LoginStep`]); the core shows it in the user's
//! management room (the QR code as an image, each new code as an edit of
//! the first), stops the login when a new code comes and someone else is
//! in that room, takes the code away once the account is linked, and says
//! how it ended.
//!
//! [`Flow`] is the state machine, without I/O: each input gives the
//! actions to take. [`start`] runs one login per user.

use std::sync::Arc;

use bytes::Bytes;
use ruma::events::room::ImageInfo;
use ruma::events::room::message::{
    ImageMessageEventContent, MessageType, ReplacementMetadata, RoomMessageEventContent,
};
use ruma::{EventId, OwnedEventId, RoomId, UInt, UserId};
use tokio::sync::mpsc;
use tracing::warn;

use super::{Bridge, Network, commands, qr, txn_id};

/// What the network reports while it links an account. `Debug` leaves
/// the code out.
#[derive(Clone, PartialEq, Eq)]
pub enum LoginStep {
    /// The user should scan `code`, which replaces any code shown before;
    /// `instructions` says where (shown once, before the first code).
    ScanQr {
        /// The QR code's text (a pairing secret: never logged or put in a
        /// message body).
        code: String,
        /// How to scan it.
        instructions: String,
    },
    /// The account is linked; the network now stores and starts it.
    Linked,
}

impl std::fmt::Debug for LoginStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoginStep::ScanQr { .. } => f.write_str("ScanQr { .. }"),
            LoginStep::Linked => f.write_str("Linked"),
        }
    }
}

/// Why a login ended without one: what the user is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LoginFailed(pub String);

impl LoginFailed {
    /// "Login failed: `what`: `e`", or "Login failed: `e`" without `what`.
    pub fn because(what: &str, e: &dyn std::fmt::Display) -> Self {
        if what.is_empty() {
            LoginFailed(format!("Login failed: {e}"))
        } else {
            LoginFailed(format!("Login failed: {what}: {e}"))
        }
    }
}

/// Where the network reports its steps.
#[derive(Debug, Clone)]
pub struct Steps(mpsc::Sender<LoginStep>);

impl Steps {
    /// Reports `step`; false once the core stopped listening (the login is
    /// being cancelled).
    pub async fn report(&self, step: LoginStep) -> bool {
        self.0.send(step).await.is_ok()
    }
}

/// An input of the state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The network's step; `private` whether the room was still the
    /// user's alone when a code came.
    Step {
        /// The step.
        step: LoginStep,
        /// Whether nobody else could see a code shown now.
        private: bool,
    },
    /// The QR code was posted as event `event` (or an edit of it).
    QrShown(OwnedEventId),
    /// The network finished: linked as `Ok(who)`, or why not.
    Finished(Result<String, LoginFailed>),
    /// Posting the QR code failed.
    QrFailed(LoginFailed),
    /// The user cancelled, or the bridge is shutting down.
    Cancelled(Cancel),
}

/// Who stops a login in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancel {
    /// The user (`cancel`).
    ByUser,
    /// The bridge, shutting down.
    Shutdown,
}

impl Cancel {
    /// What the user is told.
    fn text(self) -> String {
        match self {
            Cancel::ByUser => "Login cancelled.",
            Cancel::Shutdown => {
                "Login cancelled: the bridge is shutting down. Send `login` again once it is back."
            }
        }
        .to_owned()
    }
}

/// What the driver does for an input, in order. `Debug` leaves the code
/// out.
#[derive(Clone, PartialEq, Eq)]
pub enum Action {
    /// A notice in the room.
    Notice(String),
    /// Post the code as an image, or as an edit of `replacing`.
    ShowQr {
        /// The code.
        code: String,
        /// The first image's event, when a newer code replaces it.
        replacing: Option<OwnedEventId>,
    },
    /// Take the image away.
    RedactQr(OwnedEventId),
    /// Stop the network's login (the room is not private, or the code
    /// could not be shown).
    Abort,
}

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Notice(text) => f.debug_tuple("Notice").field(text).finish(),
            Action::ShowQr { replacing, .. } => f
                .debug_struct("ShowQr")
                .field("replacing", replacing)
                .finish_non_exhaustive(),
            Action::RedactQr(event) => f.debug_tuple("RedactQr").field(event).finish(),
            Action::Abort => f.write_str("Abort"),
        }
    }
}

/// The states of one login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Started; nothing shown yet.
    Started,
    /// A code is on show (its first image's event, once posted).
    ShowingQr(Option<OwnedEventId>),
    /// Linked; the network is storing it.
    Linked,
    /// Logged in as this.
    Done(String),
    /// Ended without a login.
    Failed,
}

/// One login's state machine.
#[derive(Debug)]
pub struct Flow {
    state: State,
}

impl Default for Flow {
    fn default() -> Self {
        Flow {
            state: State::Started,
        }
    }
}

impl Flow {
    /// Where the login is.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Whether the login ended, either way.
    pub fn is_over(&self) -> bool {
        matches!(self.state, State::Done(_) | State::Failed)
    }

    /// Takes `input`; returns what to do.
    pub fn on(&mut self, input: Input, network: &str) -> Vec<Action> {
        if self.is_over() {
            return Vec::new();
        }
        let shown = match &self.state {
            State::ShowingQr(Some(event)) => Some(event.clone()),
            _ => None,
        };
        let take_away = || shown.clone().map(Action::RedactQr).into_iter();
        match input {
            Input::Step {
                step: LoginStep::ScanQr { code, instructions },
                private,
            } => match &self.state {
                // Shown nothing yet or a code on show: not where others see it.
                State::Started | State::ShowingQr(_) if !private => {
                    self.state = State::Failed;
                    let why = format!(
                        "Login cancelled: someone else is in this room now. {}",
                        commands::not_private_for(network)
                    );
                    take_away()
                        .chain([Action::Abort, Action::Notice(why)])
                        .collect()
                }
                State::Started => {
                    self.state = State::ShowingQr(None);
                    vec![
                        Action::Notice(instructions),
                        Action::ShowQr {
                            code,
                            replacing: None,
                        },
                    ]
                }
                State::ShowingQr(_) => vec![Action::ShowQr {
                    code,
                    replacing: shown,
                }],
                // A code after the link is stale.
                _ => Vec::new(),
            },
            Input::QrShown(event) => {
                if self.state == State::ShowingQr(None) {
                    self.state = State::ShowingQr(Some(event));
                }
                Vec::new()
            }
            Input::Step {
                step: LoginStep::Linked,
                ..
            } => {
                self.state = State::Linked;
                take_away().collect()
            }
            Input::Finished(Ok(who)) => {
                self.state = State::Done(who.clone());
                take_away()
                    .chain([Action::Notice(format!("Logged in as {who}"))])
                    .collect()
            }
            // Once linked, the network is storing the account: that is not
            // cut off halfway (a shutdown then aborts it like any task).
            Input::Cancelled(Cancel::ByUser) if self.state == State::Linked => {
                vec![Action::Notice(
                    "Too late to cancel: your account is linked. Send `logout` to unlink it."
                        .to_owned(),
                )]
            }
            Input::Cancelled(_) if self.state == State::Linked => Vec::new(),
            Input::Cancelled(who) => {
                self.state = State::Failed;
                take_away()
                    .chain([Action::Abort, Action::Notice(who.text())])
                    .collect()
            }
            Input::Finished(Err(LoginFailed(why))) | Input::QrFailed(LoginFailed(why)) => {
                self.state = State::Failed;
                take_away()
                    .chain([Action::Abort, Action::Notice(why)])
                    .collect()
            }
        }
    }
}

/// A login in progress: its task, and how to cancel it.
#[derive(Debug)]
pub(super) struct Running {
    task: tokio::task::JoinHandle<()>,
    cancel: mpsc::Sender<Cancel>,
}

/// The `login` command: unless `user` is logged in or logging in, starts
/// the network's login with its steps shown in `room`.
pub(super) async fn start<N: Network>(bridge: &Arc<Bridge<N>>, room: &RoomId, user: &UserId) {
    if let Some(who) = N::logged_in_as(bridge, user).await {
        let text = format!("You are already logged in as {who}. Send `logout` first.");
        bridge.notice(room, &text).await;
        return;
    }
    let mut logins = bridge.logins_in_progress.lock().await;
    if logins.get(user).is_some_and(|p| !p.task.is_finished()) {
        drop(logins);
        let text = "A login is already in progress; send `cancel` to stop it.";
        bridge.notice(room, text).await;
        return;
    }
    let (cancel, cancelled) = mpsc::channel(1);
    let task = {
        let (bridge, room, user) = (bridge.clone(), room.to_owned(), user.to_owned());
        tokio::spawn(async move {
            run(&bridge, (&room, &user), cancelled).await;
            bridge.logins_in_progress.lock().await.remove(&user);
        })
    };
    logins.insert(user.to_owned(), Running { task, cancel });
}

/// Whether `user` has a login in progress.
pub(super) async fn in_progress<N: Network>(bridge: &Bridge<N>, user: &UserId) -> bool {
    let logins = bridge.logins_in_progress.lock().await;
    logins.get(user).is_some_and(|p| !p.task.is_finished())
}

/// The `cancel` command: asks `user`'s login in progress, if any, to stop
/// (it takes its code away and says so); false if there is none.
pub(super) async fn cancel<N: Network>(bridge: &Bridge<N>, user: &UserId) -> bool {
    let logins = bridge.logins_in_progress.lock().await;
    logins
        .get(user)
        .filter(|p| !p.task.is_finished())
        // A full channel: a cancel is already on its way.
        .is_some_and(|p| {
            !matches!(
                p.cancel.try_send(Cancel::ByUser),
                Err(mpsc::error::TrySendError::Closed(_))
            )
        })
}

/// At shutdown: every login in progress is cancelled (its code taken away,
/// its user told), given `grace` to do so, then stopped.
pub(super) async fn cancel_all<N: Network>(bridge: &Bridge<N>, grace: std::time::Duration) {
    let running: Vec<Running> = {
        let mut logins = bridge.logins_in_progress.lock().await;
        logins.drain().map(|(_, r)| r).collect()
    };
    for r in &running {
        let _ = r.cancel.try_send(Cancel::Shutdown);
    }
    let ended = async {
        for r in &running {
            while !r.task.is_finished() {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    };
    if tokio::time::timeout(grace, ended).await.is_err() {
        warn!("a login in progress did not stop in time");
    }
    for r in running {
        r.task.abort();
    }
}

/// Runs one login to its end.
async fn run<N: Network>(
    bridge: &Arc<Bridge<N>>,
    (room, user): (&RoomId, &UserId),
    mut cancelled: mpsc::Receiver<Cancel>,
) {
    let (tx, mut rx) = mpsc::channel(4);
    let network = N::login(bridge, room, user, Steps(tx));
    tokio::pin!(network);
    let mut flow = Flow::default();
    while !flow.is_over() {
        let input = tokio::select! {
            // Steps first: a step the network reported before it finished
            // is shown before its end.
            biased;
            Some(step) = rx.recv() => {
                let private = match &step {
                    LoginStep::ScanQr { .. } => commands::private(bridge, room, user).await,
                    LoginStep::Linked => true,
                };
                Input::Step { step, private }
            }
            Some(who) = cancelled.recv() => Input::Cancelled(who),
            result = &mut network => Input::Finished(result),
        };
        act(bridge, room, &mut flow, input).await;
    }
}

/// Feeds `input` to `flow` and carries out its actions (and what they
/// lead to).
async fn act<N: Network>(bridge: &Bridge<N>, room: &RoomId, flow: &mut Flow, input: Input) {
    let mut inputs = vec![input];
    while let Some(input) = inputs.pop() {
        if let Input::Finished(Err(why)) | Input::QrFailed(why) = &input {
            warn!(error = %why, "login failed");
        }
        for action in flow.on(input, N::NAME) {
            match action {
                Action::Notice(text) => bridge.notice(room, &text).await,
                Action::ShowQr { code, replacing } => {
                    match show_qr::<N>(bridge, room, &code, replacing.as_deref()).await {
                        Ok(event) => inputs.push(Input::QrShown(event)),
                        Err(why) => inputs.push(Input::QrFailed(why)),
                    }
                }
                Action::RedactQr(event) => {
                    let (why, txn) = (Some("login finished"), txn_id());
                    if let Err(e) = bridge.bot.redact(room, &event, why, &txn).await {
                        warn!(error = %e, "could not redact the QR code");
                    }
                }
                // The login's future is dropped when the loop ends.
                Action::Abort => {}
            }
        }
    }
}

/// Posts the QR image (or an edit of the first); returns its event id.
async fn show_qr<N: Network>(
    bridge: &Bridge<N>,
    room: &RoomId,
    code: &str,
    replacing: Option<&EventId>,
) -> Result<OwnedEventId, LoginFailed> {
    let png = qr::qr_png(code).map_err(|e| LoginFailed::because("", &e))?;
    let side = qr::qr_side(code).unwrap_or(0);
    let size = png.len();
    let mxc = bridge
        .bot
        .upload_media(Bytes::from(png), "image/png", Some("qr.png"))
        .await
        .map_err(|e| LoginFailed::because("could not upload the QR code", &e))?;
    // The body is what clients show, notify and index: never the pairing
    // secret the image holds.
    let name = N::NAME;
    let body = format!("{name} login QR code: scan it in {name} on your phone");
    let mut info = ImageInfo::new();
    info.mimetype = Some("image/png".to_owned());
    info.width = Some(UInt::from(side));
    info.height = Some(UInt::from(side));
    info.size = UInt::new(size as u64);
    let image = ImageMessageEventContent::plain(body, mxc).info(Some(Box::new(info)));
    let mut content = RoomMessageEventContent::new(MessageType::Image(image));
    if let Some(original) = replacing {
        let original = original.to_owned();
        content = content.make_replacement(ReplacementMetadata::new(original, None));
    }
    let event = bridge
        .bot
        .send(room, &content, &txn_id(), None)
        .await
        .map_err(|e| LoginFailed::because("could not post the QR code", &e))?;
    Ok(replacing.map_or(event, ToOwned::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img() -> OwnedEventId {
        ruma::owned_event_id!("$img")
    }

    fn qr(code: &str, private: bool) -> Input {
        Input::Step {
            step: LoginStep::ScanQr {
                code: code.to_owned(),
                instructions: "scan it".to_owned(),
            },
            private,
        }
    }

    #[test]
    fn codes_are_shown_then_replaced_then_taken_away() {
        let mut flow = Flow::default();
        let first = flow.on(qr("one", true), "Net");
        assert_eq!(
            first,
            vec![
                Action::Notice("scan it".to_owned()),
                Action::ShowQr {
                    code: "one".to_owned(),
                    replacing: None
                }
            ]
        );
        assert!(flow.on(Input::QrShown(img()), "Net").is_empty());
        assert_eq!(
            flow.on(qr("two", true), "Net"),
            vec![Action::ShowQr {
                code: "two".to_owned(),
                replacing: Some(img())
            }]
        );
        // The edit's id does not replace the original's.
        flow.on(Input::QrShown(img()), "Net");
        let linked = Input::Step {
            step: LoginStep::Linked,
            private: true,
        };
        assert_eq!(flow.on(linked, "Net"), vec![Action::RedactQr(img())]);
        assert_eq!(flow.state(), &State::Linked);
        // A late code is not shown.
        assert!(flow.on(qr("three", true), "Net").is_empty());
        assert_eq!(
            flow.on(Input::Finished(Ok("+1".to_owned())), "Net"),
            vec![Action::Notice("Logged in as +1".to_owned())]
        );
        assert!(flow.is_over());
        assert!(flow.on(qr("four", true), "Net").is_empty());
    }

    #[test]
    fn a_shared_room_stops_the_login_and_hides_the_code() {
        let mut flow = Flow::default();
        flow.on(qr("one", true), "Net");
        flow.on(Input::QrShown(img()), "Net");
        let actions = flow.on(qr("two", false), "Net");
        assert_eq!(actions[0], Action::RedactQr(img()));
        assert_eq!(actions[1], Action::Abort);
        let Action::Notice(text) = &actions[2] else {
            panic!("a notice says why: {actions:?}");
        };
        assert!(text.starts_with("Login cancelled: someone else is in this room now."));
        assert!(text.contains("your Net account"), "{text}");
        assert_eq!(flow.state(), &State::Failed);
    }

    #[test]
    fn a_failure_is_told_and_the_code_taken_away() {
        let mut flow = Flow::default();
        flow.on(qr("one", true), "Net");
        flow.on(Input::QrShown(img()), "Net");
        let failed = LoginFailed("Login timed out".to_owned());
        assert_eq!(
            flow.on(Input::Finished(Err(failed)), "Net"),
            vec![
                Action::RedactQr(img()),
                Action::Abort,
                Action::Notice("Login timed out".to_owned())
            ]
        );
        // A code that could not be posted ends it too.
        let mut flow = Flow::default();
        flow.on(qr("one", true), "Net");
        let actions = flow.on(Input::QrFailed(LoginFailed("no upload".to_owned())), "Net");
        assert_eq!(
            actions,
            vec![Action::Abort, Action::Notice("no upload".to_owned())]
        );
    }

    #[test]
    fn a_cancel_takes_the_code_away_unless_the_account_is_linked() {
        let mut flow = Flow::default();
        flow.on(qr("one", true), "Net");
        flow.on(Input::QrShown(img()), "Net");
        assert_eq!(
            flow.on(Input::Cancelled(Cancel::ByUser), "Net"),
            vec![
                Action::RedactQr(img()),
                Action::Abort,
                Action::Notice("Login cancelled.".to_owned())
            ]
        );
        assert_eq!(flow.state(), &State::Failed);

        let mut flow = Flow::default();
        flow.on(qr("one", true), "Net");
        let linked = Input::Step {
            step: LoginStep::Linked,
            private: true,
        };
        flow.on(linked, "Net");
        let late = flow.on(Input::Cancelled(Cancel::ByUser), "Net");
        assert!(
            matches!(&late[..], [Action::Notice(t)] if t.starts_with("Too late")),
            "{late:?}"
        );
        assert!(
            flow.on(Input::Cancelled(Cancel::Shutdown), "Net")
                .is_empty()
        );
        assert_eq!(
            flow.state(),
            &State::Linked,
            "the network finishes storing it"
        );
    }
}
