//! Routing by (method, path) and the pipeline every request goes through: read the (capped)
//! body, record it, apply any injected fault, handle it, log it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap};
use hyper::http::request::Parts;
use hyper::{Method, Request, StatusCode};

use crate::fault::{Endpoint, Fault};
use crate::recorder::RecordedRequest;
use crate::respond::{self, HttpResponse};
use crate::state::{Shared, lock};
use crate::{datafile, dev_api, graphql, inspector, log_events, odp_events};

/// Why a request got no response: hyper then closes the connection.
#[derive(Debug)]
pub(crate) enum Aborted {
    /// A [`Fault::DropConnection`] or [`Fault::Hang`] ended the request.
    Fault,
    /// The request body could not be read.
    BrokenBody,
}

impl fmt::Display for Aborted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Aborted::Fault => f.write_str("connection closed by an injected fault"),
            Aborted::BrokenBody => f.write_str("request body could not be read"),
        }
    }
}

impl std::error::Error for Aborted {}

/// A route that plays an Optimizely service.
#[derive(Clone)]
enum Service {
    Datafile { sdk_key: String, needs_token: bool },
    LogEvents,
    OdpEvents,
    OdpGraphql,
}

impl Service {
    fn for_path(path: &str) -> Option<Service> {
        match path {
            "/v1/events" => Some(Service::LogEvents),
            "/v3/events" => Some(Service::OdpEvents),
            "/v3/graphql" => Some(Service::OdpGraphql),
            _ => Service::datafile_for_path(path),
        }
    }

    fn datafile_for_path(path: &str) -> Option<Service> {
        let file = path.strip_prefix("/datafiles/")?.strip_suffix(".json")?;
        let (key, needs_token) = match file.strip_prefix("auth/") {
            Some(key) => (key, true),
            None => (file, false),
        };
        if key.is_empty() || key.contains('/') {
            return None;
        }
        Some(Service::Datafile {
            sdk_key: percent_decode(key)?,
            needs_token,
        })
    }

    fn endpoint(&self) -> Endpoint {
        match self {
            Service::Datafile { .. } => Endpoint::Datafile,
            Service::LogEvents => Endpoint::Events,
            Service::OdpEvents => Endpoint::OdpEvents,
            Service::OdpGraphql => Endpoint::OdpGraphql,
        }
    }

    fn accepts(&self, method: &Method) -> bool {
        match self {
            Service::Datafile { .. } => method == Method::GET || method == Method::HEAD,
            _ => method == Method::POST,
        }
    }

    fn allowed_methods(&self) -> &'static str {
        match self {
            Service::Datafile { .. } => "GET, HEAD",
            _ => "POST",
        }
    }

    fn handle(&self, shared: &Shared, headers: &HeaderMap, body: &[u8]) -> HttpResponse {
        match self {
            Service::Datafile {
                sdk_key,
                needs_token,
            } => datafile::serve(shared, sdk_key, *needs_token, headers),
            Service::LogEvents => log_events::handle(shared, body),
            Service::OdpEvents => odp_events::handle_blocking(shared, headers, body),
            Service::OdpGraphql => graphql::handle(shared, headers, body),
        }
    }
}

/// Serves one request.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<HttpResponse, Aborted> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let outcome = match Service::for_path(&path) {
        Some(service) => serve_service(&shared, &service, &parts, body).await,
        None if path == "/_dev" || path.starts_with("/_dev/") => {
            serve_dev(&shared, &parts, body).await
        }
        None if path == "/" => serve_inspector(&shared, &parts).await,
        None => Ok(respond::error(
            StatusCode::NOT_FOUND,
            format!("no route for {} {path}", parts.method),
        )),
    };
    match &outcome {
        Ok(response) => log::debug!("{} {path} -> {}", parts.method, response.status().as_u16()),
        Err(reason) => log::debug!("{} {path} -> no response ({reason})", parts.method),
    }
    outcome
}

async fn serve_service(
    shared: &Arc<Shared>,
    service: &Service,
    parts: &Parts,
    body: Incoming,
) -> Result<HttpResponse, Aborted> {
    let endpoint = service.endpoint();
    let body = read_body(body, shared.max_body_bytes).await?;
    let recorded = record(parts, body.as_ref().map_or(&[][..], |b| b.as_ref()));
    let ticket = shared.recorder.record_request(endpoint, recorded);
    let response = match body {
        Some(body) => respond_with_faults(shared, service, parts, body).await?,
        None => payload_too_large(shared.max_body_bytes),
    };
    shared
        .recorder
        .set_status(ticket, response.status().as_u16());
    Ok(response)
}

async fn respond_with_faults(
    shared: &Arc<Shared>,
    service: &Service,
    parts: &Parts,
    body: Bytes,
) -> Result<HttpResponse, Aborted> {
    let fault = lock(&shared.faults).take(service.endpoint());
    match fault {
        None => Ok(handle_service(shared, service, parts, body).await),
        Some(Fault::Latency { delay, .. }) => {
            delay_unless_shutting_down(shared, delay).await;
            Ok(handle_service(shared, service, parts, body).await)
        }
        Some(Fault::Status {
            status,
            retry_after,
            body,
            ..
        }) => Ok(injected_status(status, retry_after, body)),
        Some(Fault::MalformedBody { .. }) => Ok(respond::json_bytes(
            StatusCode::OK,
            Bytes::from_static(b"{\"injected_fault\": \"malformed body\", \"data\": {"),
        )),
        Some(Fault::DropConnection { .. }) => Err(Aborted::Fault),
        Some(Fault::Hang { .. }) => {
            shared.shutting_down().await;
            Err(Aborted::Fault)
        }
    }
}

/// Datafiles are served from memory and ODP events decide for themselves; every other
/// service uses the database, so it runs on the blocking pool.
async fn handle_service(
    shared: &Arc<Shared>,
    service: &Service,
    parts: &Parts,
    body: Bytes,
) -> HttpResponse {
    if !service.accepts(&parts.method) {
        return method_not_allowed(&parts.method, service.allowed_methods());
    }
    match service {
        Service::Datafile { .. } => return service.handle(shared, &parts.headers, &body),
        Service::OdpEvents => return odp_events::handle(shared, &parts.headers, body).await,
        _ => {}
    }
    let service = service.clone();
    let headers = parts.headers.clone();
    run_blocking(shared, move |shared| {
        service.handle(shared, &headers, &body)
    })
    .await
}

/// Runs `work` on the blocking pool, at most `BLOCKING_SLOTS` at a time; a panic in it
/// becomes a `500`.
pub(crate) async fn run_blocking(
    shared: &Arc<Shared>,
    work: impl FnOnce(&Shared) -> HttpResponse + Send + 'static,
) -> HttpResponse {
    let Ok(_slot) = shared.blocking_slots.acquire().await else {
        return respond::error(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping");
    };
    let for_work = Arc::clone(shared);
    match tokio::task::spawn_blocking(move || work(&for_work)).await {
        Ok(response) => response,
        Err(error) => {
            log::error!("dev server request handler failed: {error}");
            respond::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the dev server failed while handling this request",
            )
        }
    }
}

async fn delay_unless_shutting_down(shared: &Shared, delay: Duration) {
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        () = shared.shutting_down() => {}
    }
}

fn injected_status(status: u16, retry_after: Option<u32>, body: Option<String>) -> HttpResponse {
    // Faults are validated on injection; 500 is a fallback that cannot normally happen.
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        respond::empty(status)
    } else {
        match body {
            Some(text) if serde_json::from_str::<serde_json::Value>(&text).is_ok() => {
                respond::json_bytes(status, Bytes::from(text))
            }
            Some(text) => respond::with_header(
                respond::json_bytes(status, Bytes::from(text)),
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            ),
            None => respond::error(
                status,
                format!("injected fault: status {}", status.as_u16()),
            ),
        }
    };
    if let Some(seconds) = retry_after {
        response = respond::with_header(response, header::RETRY_AFTER, &seconds.to_string());
    }
    response
}

async fn serve_dev(
    shared: &Arc<Shared>,
    parts: &Parts,
    body: Incoming,
) -> Result<HttpResponse, Aborted> {
    let Some(body) = read_body(body, shared.max_body_bytes).await? else {
        return Ok(payload_too_large(shared.max_body_bytes));
    };
    let method = parts.method.clone();
    let uri = parts.uri.clone();
    Ok(run_blocking(shared, move |shared| {
        dev_api::handle(shared, &method, &uri, &body)
    })
    .await)
}

async fn serve_inspector(shared: &Arc<Shared>, parts: &Parts) -> Result<HttpResponse, Aborted> {
    if parts.method != Method::GET && parts.method != Method::HEAD {
        return Ok(method_not_allowed(&parts.method, "GET, HEAD"));
    }
    Ok(run_blocking(shared, inspector::page).await)
}

/// The whole body, or `None` when it is larger than `limit`.
async fn read_body(body: Incoming, limit: usize) -> Result<Option<Bytes>, Aborted> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(Some(collected.to_bytes())),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => Ok(None),
        Err(_) => Err(Aborted::BrokenBody),
    }
}

fn record(parts: &Parts, body: &[u8]) -> RecordedRequest {
    RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect(),
        body: body.to_vec(),
        status: None,
    }
}

fn payload_too_large(limit: usize) -> HttpResponse {
    respond::error(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body is larger than {limit} bytes"),
    )
}

pub(crate) fn method_not_allowed(method: &Method, allowed: &str) -> HttpResponse {
    let response = respond::error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} not allowed here (allowed: {allowed})"),
    );
    respond::with_header(response, header::ALLOW, allowed)
}

/// Decodes `%XX` escapes; `None` for a malformed escape or a result that is not UTF-8.
pub(crate) fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = text.get(at + 1..at + 3)?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            decoded.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_datafile_paths() {
        let key = |path: &str| match Service::for_path(path) {
            Some(Service::Datafile {
                sdk_key,
                needs_token,
            }) => Some((sdk_key, needs_token)),
            _ => None,
        };
        assert_eq!(key("/datafiles/abc.json"), Some(("abc".into(), false)));
        assert_eq!(key("/datafiles/auth/abc.json"), Some(("abc".into(), true)));
        assert_eq!(key("/datafiles/auth.json"), Some(("auth".into(), false)));
        assert_eq!(key("/datafiles/a%20b.json"), Some(("a b".into(), false)));
        assert_eq!(key("/datafiles/.json"), None);
        assert_eq!(key("/datafiles/a/b.json"), None);
        assert_eq!(key("/datafiles/abc"), None);
        assert_eq!(key("/datafiles/%zz.json"), None);
    }

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode("a%2Fb%c3%a9"), Some("a/bé".to_owned()));
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(percent_decode("%é0"), None);
    }
}
