//! How a client runs: [`ClientOptions`], and the reconnect [`Backoff`].

use std::time::Duration;

use rand::RngExt as _;

use crate::socket::ConnectOptions;

/// Reconnect timing: `initial * factor^attempt`, capped at `max`, each
/// delay spread by up to `jitter` (a fraction) either way so that many
/// clients cut at once do not come back at once.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// The first delay.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
    /// Growth per attempt.
    pub factor: f64,
    /// Random spread, 0.0..=1.0.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            factor: 2.0,
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// The delay before attempt `attempt` (0-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self.initial.as_secs_f64() * self.factor.powi(attempt.min(64) as i32);
        let base = base.min(self.max.as_secs_f64());
        let jitter = self.jitter.clamp(0.0, 1.0);
        let spread = if jitter > 0.0 {
            rand::rng().random_range(-jitter..=jitter)
        } else {
            0.0
        };
        Duration::from_secs_f64((base * (1.0 + spread)).max(0.0))
    }
}

/// How a client runs.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Where to connect.
    pub connect: ConnectOptions,
    /// How long to wait for `<success>` at each login.
    pub login_timeout: Duration,
    /// Reconnect timing.
    pub reconnect: Backoff,
    /// The most messages waiting to be sent (while offline) before sends
    /// are refused with [`SendError::QueueFull`](super::SendError::QueueFull).
    pub max_queued: usize,
    /// Send delivery receipts as soon as a message is passed on. Off: the
    /// user calls [`Client::ack`](super::Client::ack) once it has handled
    /// (stored) the message, and the server redelivers what was never
    /// acked.
    pub auto_ack: bool,
    /// Capacity of the event channel (the connection waits when it is full).
    pub event_buffer: usize,
    /// A PEM file of extra root CAs trusted for media hosts (besides the
    /// webpki roots), e.g. a simulator's.
    pub media_ca: Option<std::path::PathBuf>,
    /// When the first login fails for a reason that may pass (network
    /// down, 503, a timeout), start anyway and keep trying with
    /// [`ClientOptions::reconnect`]'s backoff, as after a lost connection;
    /// messages queue meanwhile. Off: [`Client::start`](super::Client::start)
    /// returns the error. A final verdict (logged out, forbidden, outdated)
    /// fails either way.
    pub retry_first_login: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect: ConnectOptions::default(),
            login_timeout: Duration::from_secs(20),
            reconnect: Backoff::default(),
            max_queued: 10_000,
            auto_ack: true,
            event_buffer: 1024,
            media_ca: None,
            retry_first_login: false,
        }
    }
}
