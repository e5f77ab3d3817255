//! A user's room settings as the app-state suites read and change them
//! through the client API: tags (`m.favourite`, `m.lowpriority`), the
//! room push rule that mutes, and room account data (read marker,
//! `m.marked_unread`).

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::matrix::{MatrixUser, enc};

/// Polls `check` until it holds; panics naming `what` after `wait`.
pub async fn eventually<F, Fut>(wait: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + wait;
    while !check().await {
        assert!(Instant::now() < deadline, "in time: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The user's tags on `room`.
pub async fn tags(user: &MatrixUser, room: &str) -> Vec<String> {
    let path = format!(
        "/_matrix/client/v3/user/{}/rooms/{}/tags",
        enc(&user.user_id),
        enc(room)
    );
    let v = user.get(&path).await;
    v["tags"]
        .as_object()
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

/// Sets (`on`) or removes the user's `tag` on `room`.
pub async fn set_tag(user: &MatrixUser, room: &str, tag: &str, on: bool) {
    let path = format!(
        "/_matrix/client/v3/user/{}/rooms/{}/tags/{}",
        enc(&user.user_id),
        enc(room),
        enc(tag)
    );
    if on {
        user.put(&path, &json!({})).await;
    } else {
        user.request(reqwest::Method::DELETE, &path, None).await;
    }
}

/// The path of the user's push rule for `room`.
pub fn rule_path(room: &str) -> String {
    format!("/_matrix/client/v3/pushrules/global/room/{}", enc(room))
}

/// Whether the user has an enabled room rule for `room` that does not
/// notify (how a muted chat shows).
pub async fn muted(user: &MatrixUser, room: &str) -> bool {
    let (status, rule) = user
        .try_request(reqwest::Method::GET, &rule_path(room), None)
        .await;
    status.is_success()
        && rule["enabled"].as_bool().unwrap_or(true)
        && rule["actions"]
            .as_array()
            .is_some_and(|a| a.iter().all(|x| x == "dont_notify"))
}

/// The user's room account data of type `kind` in `room`, if set.
pub async fn room_data(user: &MatrixUser, room: &str, kind: &str) -> Option<Value> {
    let path = format!(
        "/_matrix/client/v3/user/{}/rooms/{}/account_data/{}",
        enc(&user.user_id),
        enc(room),
        enc(kind)
    );
    let (status, v) = user.try_request(reqwest::Method::GET, &path, None).await;
    status.is_success().then_some(v)
}
