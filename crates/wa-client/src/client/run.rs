//! The client's two tasks: the connection loop (each connection's nodes,
//! then a login again with backoff when it breaks) and the outbox that
//! sends queued messages in order.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use super::recv::{STORE_RETRY_FIRST, STORE_RETRY_LAST};
use super::{ClientEvent, Outgoing, SendError, Shared, appstate, lock, presence, recv, send};
use crate::crypto::CryptoError;
use crate::device_lists::DevicesError;
use crate::error::{AuthError, Error};
use crate::login::{self, LoggedIn, LoginError, LoginOptions};

/// Keeps the device online: handles each connection's nodes, and logs in
/// again (with backoff) when it breaks.
/// `first` is the first login's outcome: a failure that may pass is
/// waited out and tried again like a later one.
pub(super) async fn run_connections(shared: Arc<Shared>, first: Result<LoggedIn, LoginError>) {
    let mut stop = shared.stop.subscribe();
    let mut attempt = 0u32;
    let mut live = match first {
        Ok(live) => Some(live),
        Err(e) => {
            if login_failed(&shared, &e, &mut attempt, &mut stop).await {
                finish(&shared);
                return;
            }
            None
        }
    };
    loop {
        if let Some(l) = live.take() {
            attempt = 0;
            if serve(&shared, l, &mut stop).await {
                break;
            }
        }
        if shared.stopped() {
            break;
        }
        let login_opts = LoginOptions {
            connect: shared.opts.connect.clone(),
            success_timeout: shared.opts.login_timeout,
        };
        let result = {
            let mut state = shared.state.lock().await;
            login::login(&login_opts, &mut state, &*shared.store).await
        };
        match result {
            Ok(l) => {
                info!("reconnected");
                live = Some(l);
            }
            Err(LoginError::Auth(AuthError::LoggedOut)) => {
                logged_out(&shared, AuthError::LoggedOut).await;
                break;
            }
            Err(LoginError::Auth(
                e @ (AuthError::Forbidden | AuthError::ClientOutdated | AuthError::Replaced),
            )) => {
                warn!(error = %e, "login refused for good; stopping");
                shared.emit(ClientEvent::Stopped(e)).await;
                break;
            }
            Err(e) => {
                if login_failed(&shared, &e, &mut attempt, &mut stop).await {
                    break;
                }
            }
        }
    }
    finish(&shared);
}

/// Handles one logged-in connection until it ends, then closes it. True
/// when the client is done (stopped, logged out or refused for good); after
/// a lost connection, false once the first backoff step is waited out.
async fn serve(shared: &Arc<Shared>, live: LoggedIn, stop: &mut watch::Receiver<bool>) -> bool {
    let LoggedIn {
        conn,
        events,
        session,
        success,
        ..
    } = live;
    *super::lock(&shared.session) = session;
    super::presence::clock_from(shared, &success);
    super::tokens::prune(shared).await;
    super::secrets::prune(shared).await;
    shared.conn.send_replace(Some(conn.clone()));
    // A new connection is not online until it says so.
    shared
        .active
        .store(false, std::sync::atomic::Ordering::Relaxed);
    presence::announce_name(shared, false).await;
    shared.emit(ClientEvent::Connected).await;
    shared.outbox_changed.notify_one();
    appstate::after_login(shared).await;
    let end = recv::run(shared, &conn, events, stop).await;
    shared.conn.send_replace(None);
    conn.close();
    // Closed for the server before anything else happens: what it
    // sends from now on waits for the next login.
    let _ = tokio::time::timeout(Duration::from_secs(2), conn.closed()).await;
    requeue_inflight(shared);
    match end {
        recv::End::Stopped => true,
        recv::End::LoggedOut => {
            logged_out(shared, AuthError::LoggedOut).await;
            true
        }
        recv::End::Refused(e) => {
            warn!(error = %e, "stream ended for good; stopping");
            shared.emit(ClientEvent::Stopped(e)).await;
            true
        }
        recv::End::Lost(reason) => {
            let retry_in = shared.opts.reconnect.delay(0);
            warn!(%reason, ?retry_in, "connection lost");
            shared
                .emit(ClientEvent::Disconnected { reason, retry_in })
                .await;
            sleep_or_stop(retry_in, stop).await
        }
    }
}

/// A login that may succeed later failed: tells the user of the client
/// and waits the next backoff step; true if the client was stopped
/// meanwhile.
async fn login_failed(
    shared: &Shared,
    e: &LoginError,
    attempt: &mut u32,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    *attempt = attempt.saturating_add(1);
    let retry_in = shared.opts.reconnect.delay(*attempt);
    warn!(error = %e, ?retry_in, "login failed");
    shared
        .emit(ClientEvent::Disconnected {
            reason: e.to_string(),
            retry_in,
        })
        .await;
    sleep_or_stop(retry_in, stop).await
}

/// The client is done: what waits to be sent fails, and
/// [`super::Client::stopped`] returns.
fn finish(shared: &Shared) {
    let _ = shared.stop.send(true);
    fail_outbox(shared);
    shared.ended.send_replace(true);
}

/// Sleeps; true if the client was stopped meanwhile.
async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    let woken = tokio::select! {
        () = tokio::time::sleep(d) => false,
        _ = stop.wait_for(|s| *s) => true,
    };
    woken || *stop.borrow()
}

async fn logged_out(shared: &Shared, e: AuthError) {
    warn!(error = %e, "logged out; clearing the store");
    if let Err(err) = shared.store.delete().await {
        warn!(error = %err, "clearing the store failed");
    }
    shared.emit(ClientEvent::LoggedOut(e)).await;
}

/// Messages sent but not acked go back to the front of the queue, in order.
fn requeue_inflight(shared: &Shared) {
    let mut outbox = lock(&shared.outbox);
    let inflight = std::mem::take(&mut outbox.inflight);
    for o in inflight.into_iter().rev() {
        outbox.queue.push_front(o);
    }
}

fn fail_outbox(shared: &Shared) {
    let (queue, inflight) = {
        let mut outbox = lock(&shared.outbox);
        (
            std::mem::take(&mut outbox.queue),
            std::mem::take(&mut outbox.inflight),
        )
    };
    for mut o in inflight.into_iter().chain(queue) {
        o.finish(Err(SendError::Stopped));
    }
}

/// Whether `e` is the store failing (rather than the message or Signal).
fn store_failed(e: &SendError) -> bool {
    matches!(
        e,
        SendError::Crypto(CryptoError::Store(_))
            | SendError::Devices(DevicesError::Crypto(CryptoError::Store(_)))
    )
}

/// Whether a send failed because the connection broke under it: while
/// sending, or while looking up the devices to send to (a chaos run lost
/// a message that way: the usync of a send met the break, and the send
/// was failed for good).
fn interrupted(e: &SendError) -> bool {
    match e {
        SendError::Connection(_) => true,
        SendError::Devices(DevicesError::Connection(c)) => {
            matches!(c, Error::Network(_) | Error::Closed)
        }
        _ => false,
    }
}

/// Sends queued messages in order whenever online.
pub(super) async fn run_outbox(shared: Arc<Shared>) {
    let mut conn_rx = shared.conn.subscribe();
    // Waits after a send met a failing store, doubling while it fails.
    let mut store_delay = STORE_RETRY_FIRST;
    loop {
        if shared.stopped() {
            break;
        }
        let conn = conn_rx.borrow_and_update().clone();
        let Some(conn) = conn else {
            if conn_rx.changed().await.is_err() {
                break;
            }
            continue;
        };
        let next = lock(&shared.outbox).queue.pop_front();
        let Some(mut item) = next else {
            tokio::select! {
                () = shared.outbox_changed.notified() => {}
                r = conn_rx.changed() => if r.is_err() { break },
            }
            continue;
        };
        // In flight before it is written, so a fast ack finds it.
        let id = item.id.clone();
        let (to, message) = (item.to.clone(), item.message.clone());
        let done = item.done.take();
        lock(&shared.outbox).inflight.push(Outgoing {
            id: id.clone(),
            to: to.clone(),
            message: message.clone(),
            done,
        });
        match send::send(&shared, &conn, &id, &to, &message).await {
            Ok(()) => store_delay = STORE_RETRY_FIRST,
            Err(e) if store_failed(&e) && store_delay <= STORE_RETRY_LAST => {
                // The store fails for now (a database restarting): the
                // message goes back to the front and is tried again, in
                // order, under the same id.
                warn!(error = %e, %id, retry_in = ?store_delay, "send waits for the store");
                {
                    let mut outbox = lock(&shared.outbox);
                    if let Some(pos) = outbox.inflight.iter().position(|o| o.id == id) {
                        let o = outbox.inflight.remove(pos);
                        outbox.queue.push_front(o);
                    }
                }
                tokio::time::sleep(store_delay).await;
                store_delay *= 2;
            }
            Err(e) if interrupted(&e) => {
                // Stays in flight: requeued when the connection task sees
                // the break.
                warn!(error = %e, %id, "send interrupted; will resend");
                let _ = conn_rx.changed().await;
            }
            Err(e) => {
                store_delay = STORE_RETRY_FIRST;
                warn!(error = %e, %id, "send failed");
                let failed = {
                    let mut outbox = lock(&shared.outbox);
                    let pos = outbox.inflight.iter().position(|o| o.id == id);
                    pos.map(|p| outbox.inflight.remove(p))
                };
                if let Some(mut o) = failed {
                    o.finish(Err(e));
                }
            }
        }
    }
}
