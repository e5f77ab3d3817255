//! The control API's HTTP edges: bounded JSON request bodies and JSON replies.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

use super::ControlError;

/// The largest request body accepted (1 MiB); larger ones get 413.
pub const MAX_BODY: usize = 1 << 20;

/// How much of a too-large body is still read (and dropped) before the 413,
/// so that the client gets the answer rather than a reset connection.
const DRAIN_LIMIT: usize = 16 << 20;

/// A JSON answer.
#[derive(Debug)]
pub(super) struct Reply {
    pub(super) status: StatusCode,
    body: Value,
}

impl Reply {
    pub(super) fn new(status: StatusCode, body: Value) -> Reply {
        Reply { status, body }
    }

    pub(super) fn ok(body: Value) -> Reply {
        Reply::new(StatusCode::OK, body)
    }

    pub(super) fn error(e: &ControlError) -> Reply {
        Reply::new(e.status(), json!({ "error": e.to_string() }))
    }

    pub(super) fn into_response(self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(Bytes::from(self.body.to_string())));
        *response.status_mut() = self.status;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}

/// Reads the body (at most [`MAX_BODY`] bytes) and parses it as a JSON object.
pub(super) async fn read_json(req: Request<Incoming>) -> Result<Value, ControlError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT as u64) {
        return Err(ControlError::TooLarge);
    }
    let mut body = req.into_body();
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ControlError::BadRequest(format!("could not read the body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        seen = seen.saturating_add(data.len());
        if seen > DRAIN_LIMIT {
            break;
        }
        if seen <= MAX_BODY {
            kept.extend_from_slice(&data);
        }
    }
    if seen > MAX_BODY {
        return Err(ControlError::TooLarge);
    }
    let value: Value = serde_json::from_slice(&kept)
        .map_err(|e| ControlError::BadRequest(format!("body is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(ControlError::BadRequest(
            "body must be a JSON object".into(),
        ));
    }
    Ok(value)
}
