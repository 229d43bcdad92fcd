use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

/// Every response the server sends.
pub(crate) type HttpResponse = Response<Full<Bytes>>;

/// A response with no body.
pub(crate) fn empty(status: StatusCode) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// A response with `body` as `application/json` (the bytes are sent as given).
pub(crate) fn json_bytes(status: StatusCode, body: Bytes) -> HttpResponse {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, value: &Value) -> HttpResponse {
    let body = serde_json::to_vec(value).unwrap_or_default();
    json_bytes(status, Bytes::from(body))
}

/// `{"error": message}` with `status`.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    json(status, &json!({ "error": message.into() }))
}

/// Adds a header; a value that is not a valid header value is left out.
pub(crate) fn with_header(
    mut response: HttpResponse,
    name: HeaderName,
    value: &str,
) -> HttpResponse {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
    response
}

/// An HTML page (`text/html; charset=utf-8`, never cached).
pub(crate) fn html(status: StatusCode, page: String) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(page)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
