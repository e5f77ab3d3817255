//! The media host's HTTP surface, shaped like WhatsApp's: `POST
//! /mms/<type>/<token>?auth=..&token=..` stores a blob and answers
//! `{"url": .., "direct_path": ..}`; `GET <direct_path>` serves it back.
//! Every request gets an answer; nothing here panics on bad input.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tracing::debug;

use super::store::{MAX_BLOB, MediaFault, Store, UploadError};

/// What the host answers.
pub(crate) type Reply = Response<Full<Bytes>>;

/// Answers one request.
pub(crate) async fn handle(store: Arc<Store>, req: Request<Incoming>) -> Result<Reply, Infallible> {
    let path = req.uri().path().to_owned();
    let reply = match *req.method() {
        Method::POST => match path.strip_prefix("/mms/") {
            Some(rest) => upload(&store, rest, req).await,
            None => text(StatusCode::NOT_FOUND, "not found"),
        },
        Method::GET | Method::HEAD => match (store.get(&path), store.fault(&path)) {
            (_, Some(MediaFault::Status(code))) => text(
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "failed on purpose",
            ),
            (Some(blob), Some(MediaFault::Truncate(n))) => {
                // The full length is declared; hyper closes the connection
                // when the shorter body ends.
                let full = blob.len();
                let mut r = reply(
                    StatusCode::OK,
                    "application/octet-stream",
                    blob.slice(..n.min(full)),
                );
                r.headers_mut()
                    .insert(CONTENT_LENGTH, HeaderValue::from(full));
                r
            }
            (Some(blob), None) => reply(StatusCode::OK, "application/octet-stream", blob),
            (None, _) => text(StatusCode::NOT_FOUND, "not found"),
        },
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
    };
    debug!(%path, status = reply.status().as_u16(), "media request");
    Ok(reply)
}

async fn upload(store: &Store, rest: &str, req: Request<Incoming>) -> Reply {
    let (kind, token) = match rest.split_once('/') {
        Some((kind, token)) if !token.contains('/') => (kind, token),
        _ => return refuse(UploadError::UnknownType),
    };
    let token = percent_decode(token, false).unwrap_or_default();
    let auth = query_param(req.uri().query(), "auth");
    let ticket = match store.admit(kind, &token, auth.as_deref()) {
        Ok(ticket) => ticket,
        Err(e) => return refuse(e),
    };
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BLOB as u64) {
        return refuse(UploadError::TooLarge);
    }
    let body = match Limited::new(req.into_body(), MAX_BLOB).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return refuse(UploadError::TooLarge);
        }
        Err(_) => return text(StatusCode::BAD_REQUEST, "unreadable body"),
    };
    match store.put(ticket, body) {
        Ok(up) => {
            let json = serde_json::json!({ "url": up.url, "direct_path": up.direct_path });
            reply(StatusCode::OK, "application/json", json.to_string().into())
        }
        Err(e) => refuse(e),
    }
}

fn refuse(e: UploadError) -> Reply {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let json = serde_json::json!({ "status": e.status(), "error": e.to_string() });
    reply(status, "application/json", json.to_string().into())
}

fn text(status: StatusCode, body: &'static str) -> Reply {
    reply(status, "text/plain", Bytes::from_static(body.as_bytes()))
}

fn reply(status: StatusCode, content_type: &'static str, body: Bytes) -> Reply {
    let mut reply = Response::new(Full::new(body));
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    reply
}

/// The first value of `name` in a form-encoded query.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k, true)? == name).then(|| percent_decode(v, true))?
    })
}

/// Decodes `%XX` escapes (and `+` as a space in form values); `None` if an
/// escape is malformed or the result is not UTF-8.
fn percent_decode(s: &str, form: bool) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        out.push(match b {
            b'%' => {
                let hi = char::from(bytes.next()?).to_digit(16)?;
                let lo = char::from(bytes.next()?).to_digit(16)?;
                u8::try_from(hi << 4 | lo).ok()?
            }
            b'+' if form => b' ',
            b => b,
        });
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_form_decoded() {
        let q = Some("token=abc%3D&auth=a%2Bb%2F%3D%3D&x");
        assert_eq!(query_param(q, "auth").as_deref(), Some("a+b/=="));
        assert_eq!(query_param(q, "token").as_deref(), Some("abc="));
        assert_eq!(query_param(q, "x").as_deref(), Some(""));
        assert_eq!(query_param(q, "y"), None);
        assert_eq!(query_param(None, "auth"), None);
        assert_eq!(
            query_param(Some("auth=a+b"), "auth").as_deref(),
            Some("a b")
        );
    }

    #[test]
    fn bad_escapes_are_refused() {
        assert_eq!(percent_decode("%", true), None);
        assert_eq!(percent_decode("%4", true), None);
        assert_eq!(percent_decode("%zz", true), None);
        assert_eq!(percent_decode("%ff", true), None);
        assert_eq!(percent_decode("a+b", false).as_deref(), Some("a+b"));
        assert_eq!(percent_decode("%C3%A9", false).as_deref(), Some("é"));
    }
}
