//! HTTP client to the homeserver, authenticated with the `as_token`.
//!
//! [`MatrixClient`] is cheap to clone and owns the connection pool; each
//! acting user gets an [`Intent`](super::Intent). Idempotent requests are
//! retried with exponential backoff on 429, 5xx and network errors; others
//! only on 429 (a rate-limited request was not processed).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use ruma::api::auth_scheme::{
    AccessToken, AccessTokenOptional, AppserviceToken, AppserviceTokenOptional, AuthScheme,
    SendAccessToken,
};
use ruma::api::client::account::register::{self, LoginType};
use ruma::api::client::appservice::request_ping;
use ruma::api::client::authenticated_media::get_media_config;
use ruma::api::client::discovery::get_supported_versions;
use ruma::api::client::media::get_media_config as legacy_media_config;
use ruma::api::path_builder::{PathBuilder, SinglePath, VersionHistory};
use ruma::api::{IncomingResponse as _, MatrixVersion, OutgoingRequest, SupportedVersions};
use ruma::{OwnedTransactionId, OwnedUserId, UserId};
use serde_json::Value;
use tracing::{debug, warn};
use url::Url;

use super::error::{ClientError, MatrixError};
use super::intent::{Acting, Intent};

/// Characters left as they are in a path segment: RFC 3986 unreserved.
/// Everything else (`!`, `$`, `:`, `@`, `/`, `#`, `?`, `%`, spaces and
/// non-ASCII) is percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Spare capacity every downloaded body gets beyond its length, so a
/// caller can encrypt it in place (a cipher block and a MAC) without a
/// second copy of a large file.
pub const DOWNLOAD_HEADROOM: usize = 64;

/// Percent-encodes one path segment.
pub fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// How failed requests are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, including the first (1 = no retry).
    pub max_attempts: u32,
    /// Delay before the first retry; doubled for each further one.
    pub initial_backoff: Duration,
    /// Upper bound of one delay (also caps a server's `retry_after_ms`).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    fn delay(&self, attempt: u32, retry_after_ms: Option<u64>) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let d = retry_after_ms.map_or(exp, Duration::from_millis);
        d.min(self.max_backoff)
    }
}

/// The appservice token. `Debug` prints nothing.
#[derive(Clone)]
struct AsToken(HeaderValue);

impl fmt::Debug for AsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AsToken(..)")
    }
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    /// Base URL, without a trailing slash.
    base: String,
    token: AsToken,
    server_name: String,
    retry: RetryPolicy,
    max_download: u64,
    registered: Mutex<HashSet<String>>,
    /// The homeserver's upload limit (`m.upload.size`), once asked; `None`
    /// inside when it names none.
    upload_limit: tokio::sync::OnceCell<Option<u64>>,
}

/// Client to the homeserver for the appservice.
#[derive(Debug, Clone)]
pub struct MatrixClient {
    inner: Arc<Inner>,
}

/// Whether a request may be repeated without changing its effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotent {
    Yes,
    No,
}

/// One request to the homeserver.
#[derive(Debug)]
pub(crate) struct Req<'a> {
    pub method: Method,
    pub path: String,
    pub query: Vec<(Cow<'a, str>, String)>,
    pub body: Option<Body>,
    pub as_user: Option<&'a str>,
    pub idempotent: Idempotent,
}

#[derive(Debug)]
pub(crate) enum Body {
    Bytes { data: Bytes, content_type: String },
}

impl<'a> Req<'a> {
    pub fn new(method: Method, path: String) -> Self {
        let idempotent = if method == Method::GET || method == Method::PUT {
            Idempotent::Yes
        } else {
            Idempotent::No
        };
        Self {
            method,
            path,
            query: Vec::new(),
            body: None,
            as_user: None,
            idempotent,
        }
    }

    pub fn query(mut self, k: impl Into<Cow<'a, str>>, v: impl Into<String>) -> Self {
        self.query.push((k.into(), v.into()));
        self
    }

    pub fn acting_as(mut self, user_id: Option<&'a str>) -> Self {
        self.as_user = user_id;
        self
    }

    pub fn idempotent(mut self, i: Idempotent) -> Self {
        self.idempotent = i;
        self
    }
}

impl MatrixClient {
    /// A client for `homeserver_url` (e.g. `http://localhost:8008`),
    /// authenticating as the appservice with `as_token`; `server_name` is
    /// the homeserver's domain, used to build user ids.
    pub fn new(
        homeserver_url: &str,
        as_token: &str,
        server_name: &str,
    ) -> Result<Self, ClientError> {
        let url = Url::parse(homeserver_url)
            .map_err(|e| ClientError::InvalidUrl(format!("{homeserver_url:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(ClientError::InvalidUrl(format!(
                "{homeserver_url:?}: not an http(s) url"
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ClientError::InvalidUrl(format!(
                "{homeserver_url:?}: has a query or fragment"
            )));
        }
        let mut token = HeaderValue::from_str(&format!("Bearer {as_token}"))
            .map_err(|_| ClientError::InvalidUrl("as_token has invalid characters".into()))?;
        token.set_sensitive(true);
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("wabridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ClientError::Network)?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base: url.as_str().trim_end_matches('/').to_owned(),
                token: AsToken(token),
                server_name: server_name.to_owned(),
                retry: RetryPolicy::default(),
                max_download: 100 * 1024 * 1024,
                registered: Mutex::new(HashSet::new()),
                upload_limit: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// Replaces the retry policy (call before cloning the client).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.retry = retry;
        }
        self
    }

    /// Replaces the download size limit (call before cloning the client).
    pub fn with_max_download(mut self, bytes: u64) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.max_download = bytes;
        }
        self
    }

    /// The homeserver's domain.
    pub fn server_name(&self) -> &str {
        &self.inner.server_name
    }

    /// `@localpart:server_name`; a localpart that cannot be one is refused.
    pub fn user_id(&self, localpart: &str) -> Result<OwnedUserId, ClientError> {
        UserId::parse(format!("@{localpart}:{}", self.inner.server_name)).map_err(|e| {
            ClientError::Content(format!("{localpart:?} is not a Matrix localpart: {e}"))
        })
    }

    /// The intent of the appservice bot (`sender_localpart`): requests carry
    /// no `?user_id=`.
    pub fn bot_intent(&self, localpart: &str) -> Result<Intent, ClientError> {
        Ok(Intent::new(
            self.clone(),
            self.user_id(localpart)?,
            Acting::Bot,
        ))
    }

    /// The intent of a ghost in the appservice's namespace: requests carry
    /// `?user_id=`, and the ghost is registered before its first request.
    pub fn ghost_intent(&self, localpart: &str) -> Result<Intent, ClientError> {
        Ok(Intent::new(
            self.clone(),
            self.user_id(localpart)?,
            Acting::Ghost,
        ))
    }

    /// The intent of a real user (`@alice:example.com`) through a
    /// double-puppet registration: this client must carry that
    /// registration's `as_token`. Requests carry `?user_id=`; the user is
    /// never registered.
    pub fn puppet_intent(&self, user_id: &UserId) -> Intent {
        Intent::new(self.clone(), user_id.to_owned(), Acting::Puppet)
    }

    /// Asks the homeserver to ping us back (`POST
    /// /_matrix/client/v1/appservice/{id}/ping`); returns `duration_ms`.
    pub async fn ping(
        &self,
        appservice_id: &str,
        transaction_id: Option<&str>,
    ) -> Result<u64, ClientError> {
        let mut request = request_ping::v1::Request::new(appservice_id.to_owned());
        request.transaction_id = transaction_id.map(OwnedTransactionId::from);
        let answer = self.call(request, None, Idempotent::No).await?;
        Ok(u64::try_from(answer.duration.as_millis()).unwrap_or(u64::MAX))
    }

    /// The largest upload the homeserver takes (`m.upload.size` of the
    /// media config), asked once; `None` if it names none or cannot say.
    pub async fn upload_limit(&self) -> Option<u64> {
        *self
            .inner
            .upload_limit
            .get_or_init(|| async {
                let request = get_media_config::v1::Request::new();
                match self.call(request, None, Idempotent::Yes).await {
                    Ok(config) => return Some(config.upload_size.into()),
                    // An answer without `m.upload.size`: it names no limit.
                    Err(ClientError::InvalidResponse(_)) => return None,
                    Err(e) => debug!(error = %e, "no authenticated media config"),
                }
                // Homeservers before authenticated media (Matrix 1.11).
                #[allow(deprecated)]
                let legacy = legacy_media_config::v3::Request::new();
                match self.call(legacy, None, Idempotent::Yes).await {
                    Ok(config) => Some(config.upload_size.into()),
                    Err(e) => {
                        debug!(error = %e, "no media config");
                        None
                    }
                }
            })
            .await
    }

    /// `GET /_matrix/client/versions`, for feature detection.
    pub async fn versions(&self) -> Result<get_supported_versions::Response, ClientError> {
        let request = get_supported_versions::Request::new();
        self.call(request, None, Idempotent::Yes).await
    }

    /// Registers `localpart` as an appservice user; an existing user is
    /// fine. Remembered for the life of the client.
    pub async fn ensure_registered(&self, localpart: &str) -> Result<(), ClientError> {
        if self.is_registered(localpart) {
            return Ok(());
        }
        let mut request = register::v3::Request::new();
        request.login_type = Some(LoginType::ApplicationService);
        request.username = Some(localpart.to_owned());
        request.inhibit_login = true;
        // A repeat answers M_USER_IN_USE.
        match self.call(request, None, Idempotent::Yes).await {
            Ok(_) => debug!(localpart, "registered user"),
            Err(e) if e.is("M_USER_IN_USE") => {}
            Err(e) => return Err(e),
        }
        if let Ok(mut set) = self.inner.registered.lock() {
            set.insert(localpart.to_owned());
        }
        Ok(())
    }

    fn is_registered(&self, localpart: &str) -> bool {
        self.inner
            .registered
            .lock()
            .is_ok_and(|set| set.contains(localpart))
    }

    /// Sends a client-server request of ruma's, as `as_user` when given
    /// (appservice masquerading): ruma lays out its path, query and body;
    /// this client adds its token, the user and the retries, and reads the
    /// answer into ruma's response.
    pub(crate) async fn call<R: Outgoing>(
        &self,
        request: R,
        as_user: Option<&str>,
        idempotent: Idempotent,
    ) -> Result<R::IncomingResponse, ClientError> {
        let http = request
            .try_into_http_request::<Vec<u8>>(
                "http://homeserver",
                <R::Authentication as TokenAuth>::input(),
                <R::PathBuilder as PathInput>::input(),
            )
            .map_err(|e| ClientError::Content(e.to_string()))?;
        let path = checked_path(http.uri().path())?;
        let mut req = Req::new(http.method().clone(), path.to_owned())
            .acting_as(as_user)
            .idempotent(idempotent);
        if let Some(query) = http.uri().query() {
            for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
                req = req.query(k.into_owned(), v.into_owned());
            }
        }
        let content_type = http
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_owned();
        let body = http.into_body();
        if !body.is_empty() {
            req.body = Some(Body::Bytes {
                data: Bytes::from(body),
                content_type,
            });
        }
        let answer = self.send(req).await?;
        let response = axum::http::Response::builder()
            .status(200)
            .body(answer.to_vec())
            .map_err(|e| ClientError::InvalidResponse(e.to_string()))?;
        R::IncomingResponse::try_from_http_response(response)
            .map_err(|e| ClientError::InvalidResponse(e.to_string()))
    }

    /// The full URL of `req` (path and query).
    pub(crate) fn url(&self, req: &Req<'_>) -> Result<Url, ClientError> {
        let mut url = Url::parse(&format!("{}{}", self.inner.base, req.path))
            .map_err(|e| ClientError::InvalidUrl(e.to_string()))?;
        if !req.query.is_empty() || req.as_user.is_some() {
            let mut q = url.query_pairs_mut();
            for (k, v) in &req.query {
                q.append_pair(k, v);
            }
            if let Some(u) = req.as_user {
                q.append_pair("user_id", u);
            }
        }
        Ok(url)
    }

    /// Sends `req` and parses a JSON object answer.
    pub(crate) async fn json(&self, req: Req<'_>) -> Result<Value, ClientError> {
        let body = self.send(req).await?;
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| ClientError::InvalidResponse(format!("not json: {e}")))?;
        if !v.is_object() {
            return Err(ClientError::InvalidResponse("not a json object".into()));
        }
        Ok(v)
    }

    /// Sends `req`, retrying per the policy, and returns the 2xx body.
    pub(crate) async fn send(&self, req: Req<'_>) -> Result<Bytes, ClientError> {
        self.send_limited(req, None).await
    }

    /// Like [`Self::send`], failing with [`ClientError::TooLarge`] past `limit`.
    pub(crate) async fn send_limited(
        &self,
        req: Req<'_>,
        limit: Option<u64>,
    ) -> Result<Bytes, ClientError> {
        let url = self.url(&req)?;
        let retry = self.inner.retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let err = match self.attempt(&req, url.clone(), limit).await {
                Ok(body) => return Ok(body),
                Err(e) => e,
            };
            let retry_after = match &err {
                ClientError::Matrix(m) if m.status == 429 => Some(m.retry_after_ms),
                ClientError::Matrix(m) if m.status >= 500 && req.idempotent == Idempotent::Yes => {
                    Some(None)
                }
                ClientError::Network(_) if req.idempotent == Idempotent::Yes => Some(None),
                _ => None,
            };
            let Some(retry_after) = retry_after else {
                return Err(err);
            };
            if attempt >= retry.max_attempts {
                return Err(err);
            }
            let delay = retry.delay(attempt, retry_after);
            warn!(
                method = %req.method, path = %url.path(), attempt, error = %err,
                delay_ms = delay.as_millis() as u64, "homeserver request failed; retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(
        &self,
        req: &Req<'_>,
        url: Url,
        limit: Option<u64>,
    ) -> Result<Bytes, ClientError> {
        let mut rb = self
            .inner
            .http
            .request(req.method.clone(), url)
            .header(AUTHORIZATION, self.inner.token.0.clone());
        rb = match &req.body {
            Some(Body::Bytes { data, content_type }) => rb
                .header(CONTENT_TYPE, content_type.as_str())
                .body(data.clone()),
            None if req.method == Method::POST || req.method == Method::PUT => {
                rb.header(CONTENT_TYPE, "application/json").body("{}")
            }
            None => rb,
        };
        let mut resp = rb.send().await.map_err(ClientError::Network)?;
        let status = resp.status();
        if let (Some(limit), Some(len)) = (limit, resp.content_length())
            && len > limit
            && status.is_success()
        {
            return Err(ClientError::TooLarge { limit });
        }
        let retry_after_header = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| s.saturating_mul(1000));
        // Sized once from the declared length (growing by doubling would hold
        // old and new buffers at once), with room to encrypt it in place.
        let declared = resp
            .content_length()
            .filter(|_| status.is_success())
            .map_or(0, |n| n.min(limit.unwrap_or(n)));
        let mut body =
            Vec::with_capacity(usize::try_from(declared).unwrap_or(0) + DOWNLOAD_HEADROOM);
        // Error bodies are read up to a small cap; success bodies up to `limit`.
        let cap = if status.is_success() {
            limit
        } else {
            Some(64 * 1024)
        };
        while let Some(chunk) = resp.chunk().await.map_err(ClientError::Network)? {
            body.extend_from_slice(&chunk);
            if let Some(cap) = cap
                && body.len() as u64 > cap
            {
                if status.is_success() {
                    return Err(ClientError::TooLarge { limit: cap });
                }
                break;
            }
        }
        if status.is_success() {
            return Ok(Bytes::from(body));
        }
        Err(MatrixError::from_response(status.as_u16(), &body, retry_after_header).into())
    }

    pub(crate) fn max_download(&self) -> u64 {
        self.inner.max_download
    }
}

/// Splits `mxc://server/media_id`, checking both parts are non-empty and
/// contain no `/`.
pub fn parse_mxc(mxc: &str) -> Result<(&str, &str), ClientError> {
    let bad = || ClientError::InvalidMxc(mxc.to_owned());
    let rest = mxc.strip_prefix("mxc://").ok_or_else(bad)?;
    let (server, id) = rest.split_once('/').ok_or_else(bad)?;
    // Each part goes into a URL path: nothing that walks it (`.`, `..`)
    // or leaves it.
    let plain = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:[]".contains(&b))
    };
    if !plain(server) || !plain(id) || id.contains(':') {
        return Err(bad());
    }
    Ok((server, id))
}

/// `path` as ruma laid it out, if no argument in it can move the request
/// elsewhere: ruma leaves `.` and `%` in arguments as they are, and URL
/// parsing turns `\` into `/` and drops `.` and `..` segments (also
/// written `%2e`), so an id like `$x\..\..` could reach another endpoint.
/// A segment that is `.` or `..`, or holds a backslash (even encoded), is
/// refused.
fn checked_path(path: &str) -> Result<&str, ClientError> {
    for segment in path.split('/') {
        let decoded = percent_decode_str(segment).decode_utf8_lossy();
        if decoded.contains('\\') || decoded == "." || decoded == ".." {
            return Err(ClientError::Content(format!(
                "a request path segment that would move it: {segment:?}"
            )));
        }
    }
    Ok(path)
}

/// A ruma request this client sends: authenticated by a token (the
/// appservice's), its path picked from the versions we speak.
pub(crate) trait Outgoing:
    OutgoingRequest<Authentication: TokenAuth, PathBuilder: PathInput>
{
}

impl<R> Outgoing for R where R: OutgoingRequest<Authentication: TokenAuth, PathBuilder: PathInput> {}

/// An authentication scheme that takes a token. The token passed to ruma
/// is a placeholder: [`MatrixClient`] sends its own.
pub(crate) trait TokenAuth: AuthScheme {
    /// The input for any lifetime.
    fn input<'a>() -> Self::Input<'a>;
}

macro_rules! token_auth {
    ($($scheme:ty),*) => {$(
        impl TokenAuth for $scheme {
            fn input<'a>() -> SendAccessToken<'a> {
                SendAccessToken::Always("-")
            }
        }
    )*};
}

token_auth!(
    AccessToken,
    AccessTokenOptional,
    AppserviceToken,
    AppserviceTokenOptional
);

/// The input ruma's path builders take, for the spec versions we speak.
pub(crate) trait PathInput: PathBuilder {
    /// The input for any lifetime.
    fn input<'a>() -> Self::Input<'a>;
}

impl PathInput for VersionHistory {
    fn input<'a>() -> Cow<'a, SupportedVersions> {
        // Matrix 1.11: authenticated media, `/v3` client paths.
        Cow::Owned(SupportedVersions {
            versions: [MatrixVersion::V1_11].into(),
            features: Default::default(),
        })
    }
}

impl PathInput for SinglePath {
    fn input<'a>() -> Self::Input<'a> {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> MatrixClient {
        MatrixClient::new(base, "tok", "example.org").unwrap()
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode_segment("!room:example.org"), "%21room%3Aexample.org");
        assert_eq!(encode_segment("$ev/ent?#%"), "%24ev%2Fent%3F%23%25");
        assert_eq!(encode_segment("m.room.message"), "m.room.message");
        assert_eq!(encode_segment("x y+é"), "x%20y%2B%C3%A9");
        assert_eq!(encode_segment("a-b_c~d"), "a-b_c~d");
    }

    #[test]
    fn arguments_cannot_move_a_request_elsewhere() {
        use ruma::api::client::state::get_state_event_for_key;
        let room = ruma::OwnedRoomId::try_from("!r:x").unwrap();
        for key in ["..", ".", "%2e%2E", "a\\..\\..\\b"] {
            let request =
                get_state_event_for_key::v3::Request::new(room.clone(), "m.x".into(), key.into());
            let http = request
                .try_into_http_request::<Vec<u8>>(
                    "http://h",
                    SendAccessToken::Always("-"),
                    <VersionHistory as PathInput>::input(),
                )
                .unwrap();
            assert!(checked_path(http.uri().path()).is_err(), "{key}");
        }
        for fine in [
            "/_matrix/client/v3/rooms/!r:x/state/m.x/a%2F..b",
            "/a/.b/c%20d",
        ] {
            assert_eq!(checked_path(fine).unwrap(), fine);
        }
    }

    #[test]
    fn urls_keep_prefix_and_add_user_id() {
        let c = client("https://hs.example.org/prefix/");
        let p = [
            "/_matrix/client/v3/rooms/",
            &encode_segment("!r:x/y"),
            "/send/",
            &encode_segment("com.example/odd type"),
            "/",
            &encode_segment("t#1"),
        ]
        .concat();
        let req = Req::new(Method::PUT, p)
            .query("ts", "42")
            .acting_as(Some("@ghost:example.org"));
        let url = c.url(&req).unwrap();
        assert_eq!(
            url.as_str(),
            "https://hs.example.org/prefix/_matrix/client/v3/rooms/%21r%3Ax%2Fy/send/\
             com.example%2Fodd%20type/t%231?ts=42&user_id=%40ghost%3Aexample.org"
        );
        let url = c
            .url(&Req::new(Method::GET, "/_matrix/client/versions".into()))
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://hs.example.org/prefix/_matrix/client/versions"
        );
    }

    #[test]
    fn bad_homeserver_urls() {
        for bad in [
            "",
            "localhost:8008",
            "ftp://x",
            "http://x/?a=b",
            "mailto:a@b",
        ] {
            assert!(
                matches!(
                    MatrixClient::new(bad, "t", "x"),
                    Err(ClientError::InvalidUrl(_))
                ),
                "{bad}"
            );
        }
        assert!(MatrixClient::new("http://x", "bad\ntoken", "x").is_err());
    }

    #[test]
    fn debug_hides_token() {
        let c = MatrixClient::new("http://x", "supersecret", "x").unwrap();
        assert!(!format!("{c:?}").contains("supersecret"));
    }

    #[test]
    fn mxc_parsing() {
        assert_eq!(parse_mxc("mxc://a.b/XyZ").unwrap(), ("a.b", "XyZ"));
        assert_eq!(
            parse_mxc("mxc://[::1]:8448/a-b_c.d").unwrap(),
            ("[::1]:8448", "a-b_c.d")
        );
        for bad in [
            "mxc://a.b",
            "mxc:///x",
            "mxc://a/",
            "http://a/b",
            "mxc://a/b/c",
            "mxc://a/..",
            "mxc://a/.",
            "mxc://../x",
            "mxc://a/x?y",
            "mxc://a/x#y",
            "mxc://a/x%2F..",
            "mxc://a/x:y",
        ] {
            assert!(parse_mxc(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backoff() {
        let r = RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
        };
        assert_eq!(r.delay(1, None), Duration::from_millis(100));
        assert_eq!(r.delay(2, None), Duration::from_millis(200));
        assert_eq!(r.delay(3, None), Duration::from_millis(350));
        assert_eq!(r.delay(1, Some(250)), Duration::from_millis(250));
        assert_eq!(r.delay(40, Some(u64::MAX)), Duration::from_millis(350));
    }
}
