//! WhatsApp messages into Matrix, in order per chat, without one chat
//! holding up the others (issue 18, defect 9).
//!
//! A message goes to Matrix, then its ack to WhatsApp. When the homeserver
//! (or the database) fails for now, that message is held with the chat's
//! later ones behind it, and tried again with capped backoff by a task of
//! its own, while every other chat goes on. What the homeserver refuses for
//! good (a 4xx) is told in the room and acked, so nothing is a poison
//! message. A held message is not acked: if the bridge stops meanwhile,
//! WhatsApp delivers it again at the next login.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::{debug, info, warn};
use wa_client::{Client, IncomingMessage};

use super::incoming::{IncomingError, gave_up, to_matrix};
use crate::connector::Bridge;
use crate::store::Login;

/// The first wait before a held message is tried again; it doubles up to
/// [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(500);

/// The longest wait between two tries of a message the homeserver (or the
/// database) cannot take for now.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

type Held = Arc<Mutex<HashMap<String, VecDeque<Arc<IncomingMessage>>>>>;

/// One login's held chats: by chat, the messages waiting, oldest first.
/// (No `Debug`: it holds message plaintext.)
#[derive(Default)]
pub(super) struct Inbound {
    held: Held,
}

fn lock(held: &Held) -> MutexGuard<'_, HashMap<String, VecDeque<Arc<IncomingMessage>>>> {
    held.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How long the event loop waits for a message before it lets the message
/// finish in the background with its chat held (a slow homeserver, a large
/// media download): other chats go on meanwhile.
const FIRST_TRY: Duration = Duration::from_secs(2);

impl Inbound {
    /// Bridges `m` now, or queues it behind its chat's held messages.
    pub(super) async fn bridge(
        &self,
        bridge: &Arc<Bridge>,
        login: &Login,
        client: &Client,
        m: Arc<IncomingMessage>,
    ) {
        if client.has_ended() {
            // Unacked: delivered again, in order, at the next login.
            return;
        }
        let chat = m.chat.to_non_ad().to_string();
        if let Some(queue) = lock(&self.held).get_mut(&chat) {
            queue.push_back(m);
            return;
        }
        let mut first = tokio::spawn(once(
            bridge.clone(),
            login.clone(),
            client.clone(),
            m.clone(),
        ));
        let pending = match tokio::time::timeout(FIRST_TRY, &mut first).await {
            Ok(Ok(Ok(()))) => return,
            Ok(Ok(Err(e))) => {
                if client.has_ended() {
                    return; // unacked: delivered again at the next login
                }
                warn!(error = %e, "could not bridge a message to Matrix yet; its chat waits, the others go on");
                None
            }
            Ok(Err(e)) => {
                warn!(error = %e, "bridging a message failed; its chat waits, the others go on");
                None
            }
            Err(_) => {
                debug!("a message takes a while; its chat waits, the others go on");
                Some(first)
            }
        };
        lock(&self.held).insert(chat.clone(), VecDeque::from([m]));
        let task = Retry {
            held: self.held.clone(),
            chat,
            bridge: bridge.clone(),
            login: login.clone(),
            client: client.clone(),
        };
        tokio::spawn(task.run(pending));
    }
}

/// One try: to Matrix and acked, or refused for good (told and acked), or
/// the passing failure for the caller to hold.
async fn once(
    bridge: Arc<Bridge>,
    login: Login,
    client: Client,
    m: Arc<IncomingMessage>,
) -> Result<(), IncomingError> {
    match to_matrix(&bridge, &login, &client, &m).await {
        Ok(()) => {}
        Err(e) if e.is_transient() => return Err(e),
        Err(e) => {
            warn!(error = %e, "a message cannot be bridged to Matrix; told in the room");
            gave_up(&bridge, &login, &m.chat, &e).await;
        }
    }
    if let Err(e) = client.ack(&m.ack).await {
        debug!(error = %e, "ack not sent; the server will redeliver");
    }
    Ok(())
}

/// The task that works off one held chat.
struct Retry {
    held: Held,
    chat: String,
    bridge: Arc<Bridge>,
    login: Login,
    client: Client,
}

impl Retry {
    /// Works the chat's queue off, oldest first; `pending` is the first
    /// message's try still running, if it is.
    async fn run(self, pending: Option<JoinHandle<Result<(), IncomingError>>>) {
        let mut delay = FIRST_RETRY_DELAY;
        let mut attempt = 1u32;
        let mut outcome = match pending {
            Some(first) => Some(first.await),
            None => None,
        };
        loop {
            match outcome.take() {
                Some(Ok(Ok(()))) => {
                    let mut held = lock(&self.held);
                    let empty = held.get_mut(&self.chat).is_none_or(|q| {
                        q.pop_front();
                        q.is_empty()
                    });
                    if empty {
                        held.remove(&self.chat);
                        drop(held);
                        if attempt > 1 {
                            info!(attempt, "a held chat is bridged again");
                        }
                        return;
                    }
                    delay = FIRST_RETRY_DELAY;
                }
                Some(Ok(Err(e))) => {
                    warn!(attempt, error = %e, retry_in = ?delay, "could not bridge a message to Matrix yet");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                }
                Some(Err(e)) => {
                    // A panic is no passing failure: acked, so it never
                    // holds the chat again.
                    warn!(attempt, error = %e, "bridging a message failed; it is skipped");
                    let (front, empty) = {
                        let mut held = lock(&self.held);
                        let front = held.get_mut(&self.chat).and_then(VecDeque::pop_front);
                        let empty = held.get(&self.chat).is_none_or(VecDeque::is_empty);
                        if empty {
                            held.remove(&self.chat);
                        }
                        (front, empty)
                    };
                    if let Some(m) = front
                        && let Err(e) = self.client.ack(&m.ack).await
                    {
                        debug!(error = %e, "ack not sent; the server will redeliver");
                    }
                    if empty {
                        return;
                    }
                    delay = FIRST_RETRY_DELAY;
                }
                None => tokio::time::sleep(delay).await,
            }
            if self.client.has_ended() {
                // Unacked, all of them: delivered again at the next login.
                lock(&self.held).remove(&self.chat);
                return;
            }
            let front = lock(&self.held)
                .get(&self.chat)
                .and_then(|q| q.front().cloned());
            let Some(m) = front else {
                return;
            };
            attempt += 1;
            let task = once(
                self.bridge.clone(),
                self.login.clone(),
                self.client.clone(),
                m,
            );
            // In a task of its own, so that a panic is an error here.
            outcome = Some(tokio::spawn(task).await);
        }
    }
}
