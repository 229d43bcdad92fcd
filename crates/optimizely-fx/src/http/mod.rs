//! The HTTP layer: one small blocking transport that every network user of the SDK goes
//! through (datafile polling, ODP events, ODP segment queries, impression events).
//!
//! [`HttpTransport`] is the seam: the SDK builds an [`HttpRequest`], a transport turns it into
//! an [`HttpResponse`] or an [`HttpError`]. Any status code is a response, not an error; what a
//! status means is decided by the caller. [`UreqTransport`] is the default implementation.
//!
//! ```
//! use std::time::Duration;
//! use optimizely_fx::http::HttpRequest;
//!
//! let request = HttpRequest::post("https://api.zaius.com/v3/events", b"[]".to_vec())
//!     .header("content-type", "application/json")
//!     .secret_header("x-api-key", "my-public-key")
//!     .timeout(Duration::from_secs(10));
//! // Secret header values never show in Debug output.
//! assert!(!format!("{request:?}").contains("my-public-key"));
//! ```

use std::fmt;
use std::io;
use std::time::Duration;

use ureq::http;

mod resolver;

/// HTTP method of an [`HttpRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
}

impl Method {
    /// The method name as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, PartialEq, Eq)]
struct Header {
    name: String,
    value: String,
    secret: bool,
}

/// A request for an [`HttpTransport`].
///
/// Header names are stored in lower case; setting a header again replaces its value. Values
/// set with [`secret_header`](Self::secret_header) are sent as given but shown as
/// `[redacted]` in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    method: Method,
    url: String,
    headers: Vec<Header>,
    body: Vec<u8>,
    timeout: Option<Duration>,
}

impl HttpRequest {
    /// A `GET` request with no body.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url.into(), Vec::new())
    }

    /// A `POST` request carrying `body`.
    pub fn post(url: impl Into<String>, body: Vec<u8>) -> Self {
        Self::new(Method::Post, url.into(), body)
    }

    fn new(method: Method, url: String, body: Vec<u8>) -> Self {
        HttpRequest {
            method,
            url,
            headers: Vec::new(),
            body,
            timeout: None,
        }
    }

    /// Sets a header (name case-insensitive; a second call with the same name replaces it).
    pub fn header(self, name: &str, value: impl Into<String>) -> Self {
        self.with_header(name, value.into(), false)
    }

    /// Sets a header whose value is a secret (an API key, a token). The value is sent as
    /// given but never appears in `Debug` output, logs or error messages.
    pub fn secret_header(self, name: &str, value: impl Into<String>) -> Self {
        self.with_header(name, value.into(), true)
    }

    fn with_header(mut self, name: &str, value: String, secret: bool) -> Self {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|header| header.name != name);
        self.headers.push(Header {
            name,
            value,
            secret,
        });
        self
    }

    /// Sets the overall deadline for this request: resolving, connecting, sending and
    /// receiving the whole response body. Without it the transport's default applies.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The request URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The request method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The request body (empty for `GET`).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// All headers as `(lower-case name, value)`, secret values included (transports need them).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .map(|header| (header.name.as_str(), header.value.as_str()))
    }

    /// The deadline set with [`timeout`](Self::timeout), if any.
    pub fn request_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    fn has_secret_header(&self) -> bool {
        self.headers.iter().any(|header| header.secret)
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|header| {
                let value = if header.secret {
                    "[redacted]"
                } else {
                    header.value.as_str()
                };
                (header.name.as_str(), value)
            })
            .collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &headers)
            .field("body_len", &self.body.len())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A response from an [`HttpTransport`]. Every status code is a response, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code, e.g. `200`.
    pub status: u16,
    /// Response headers in arrival order; names are lower case.
    pub headers: Vec<(String, String)>,
    /// The response body, already decompressed.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header_name, _)| header_name.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why an HTTP exchange produced no response. Messages never contain header values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The request's deadline passed (connect, resolve or overall timeout).
    #[error("request timed out")]
    Timeout,
    /// The server could not be reached (host not found, connection refused, TLS failure).
    #[error("connection failed: {0}")]
    Connect(String),
    /// The URL or a header could not be used to build a request. [`UreqTransport`] also
    /// refuses `https` URLs this way when optimizely-fx is built without its `rustls` feature.
    #[error("invalid request: {0}")]
    InvalidUrl(String),
    /// The response body was larger than the configured limit.
    #[error("response body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Any other failure while talking to the server (connection closed early, bad response).
    #[error("transport error: {0}")]
    Transport(String),
}

/// Sends HTTP requests. Implement it to route the SDK's traffic through your own client.
///
/// `send` is called from the SDK's background threads and must honour the request's
/// [`request_timeout`](HttpRequest::request_timeout) (or a default of its own): the SDK relies
/// on every exchange ending.
pub trait HttpTransport: Send + Sync + fmt::Debug + 'static {
    /// Performs one exchange. Any status code is `Ok`.
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, HttpError>;
}

/// Settings of [`UreqTransport`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpSettings {
    /// Deadline for establishing a connection, TLS handshake included. Default 5 s.
    pub connect_timeout: Duration,
    /// Deadline for resolving the host name. Default 5 s.
    pub resolve_timeout: Duration,
    /// Overall deadline of a request that sets no [`timeout`](HttpRequest::timeout) of its
    /// own. Default 10 s.
    pub default_timeout: Duration,
    /// Largest response body accepted, after decompression. Default 32 MiB.
    pub max_response_body: usize,
    /// `User-Agent` header value. Default `optimizely-fx/<crate version>`.
    pub user_agent: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            connect_timeout: Duration::from_secs(5),
            resolve_timeout: Duration::from_secs(5),
            default_timeout: Duration::from_secs(10),
            max_response_body: 32 * 1024 * 1024,
            user_agent: concat!("optimizely-fx/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// Redirects followed by requests that carry no secret header.
const MAX_REDIRECTS: u32 = 5;

/// Why [`UreqTransport`] refuses an `https` request when built without TLS.
const HTTPS_NEEDS_RUSTLS: &str =
    "HTTPS needs the `rustls` feature of optimizely-fx, or a custom HttpTransport";

/// The default [`HttpTransport`], built on `ureq` (gzip, and rustls for HTTPS).
///
/// HTTPS needs the `rustls` cargo feature (on by default). Without it the transport sends plain
/// `http` requests only: it refuses an `https` URL before connecting, and a redirect to one,
/// with an [`HttpError::InvalidUrl`] that says so.
///
/// Connections are pooled. Every request has a resolve, connect and overall deadline; the
/// response body is capped at [`HttpSettings::max_response_body`]; gzip responses are decoded.
/// No proxy is used (environment proxy variables are ignored). Requests carrying a secret
/// header never follow redirects, so the secret cannot be forwarded to another host; the
/// 3xx response is returned instead. Other requests follow up to 5 redirects.
pub struct UreqTransport {
    agent: ureq::Agent,
    settings: HttpSettings,
}

impl UreqTransport {
    /// A transport with the given settings.
    pub fn new(settings: HttpSettings) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .max_redirects(MAX_REDIRECTS)
            .max_redirects_will_error(false)
            .user_agent(settings.user_agent.as_str())
            .timeout_resolve(Some(settings.resolve_timeout))
            .timeout_connect(Some(settings.connect_timeout))
            .timeout_global(Some(settings.default_timeout))
            .timeout_per_call(None)
            .timeout_send_request(None)
            .timeout_send_body(None)
            .timeout_recv_response(None)
            .timeout_recv_body(None)
            .timeout_per_read(None)
            .timeout_per_write(None)
            .build();
        UreqTransport {
            agent: ureq::Agent::with_parts(
                config,
                ureq::unversioned::transport::DefaultConnector::default(),
                resolver::CachingResolver::default(),
            ),
            settings,
        }
    }

    /// The settings this transport was built with.
    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    fn build<'r>(&self, request: &'r HttpRequest) -> Result<http::Request<&'r [u8]>, HttpError> {
        let uri: http::Uri = request
            .url()
            .parse()
            .map_err(|err| HttpError::InvalidUrl(format!("{}: {err}", request.url())))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(HttpError::InvalidUrl(format!(
                "{}: not an absolute http(s) URL",
                request.url()
            )));
        }
        if uri.scheme() == Some(&http::uri::Scheme::HTTPS) && !cfg!(feature = "rustls") {
            return Err(https_needs_rustls());
        }
        let mut builder = http::Request::builder()
            .method(request.method().as_str())
            .uri(uri);
        for (name, value) in request.headers() {
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| HttpError::InvalidUrl(format!("invalid header name {name:?}")))?;
            let value = http::HeaderValue::from_str(value)
                .map_err(|_| HttpError::InvalidUrl(format!("invalid value for header {name}")))?;
            builder = builder.header(name, value);
        }
        builder
            .body(request.body())
            .map_err(|err| HttpError::InvalidUrl(err.to_string()))
    }

    fn configure<'r>(
        &self,
        request: &HttpRequest,
        http_request: http::Request<&'r [u8]>,
    ) -> http::Request<&'r [u8]> {
        let timeout = request
            .request_timeout()
            .unwrap_or(self.settings.default_timeout);
        let redirects = if request.has_secret_header() {
            0
        } else {
            MAX_REDIRECTS
        };
        self.agent
            .configure_request(http_request)
            .timeout_global(Some(timeout))
            .max_redirects(redirects)
            .build()
    }

    fn read_response(
        &self,
        mut response: http::Response<ureq::Body>,
    ) -> Result<HttpResponse, HttpError> {
        let limit = self.settings.max_response_body;
        let body = response
            .body_mut()
            .with_config()
            .limit(u64::try_from(limit).unwrap_or(u64::MAX))
            .read_to_vec()
            .map_err(|err| map_error(err, limit))?;
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect();
        Ok(HttpResponse {
            status: response.status().as_u16(),
            headers,
            body,
        })
    }
}

impl Default for UreqTransport {
    fn default() -> Self {
        UreqTransport::new(HttpSettings::default())
    }
}

impl fmt::Debug for UreqTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UreqTransport")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl HttpTransport for UreqTransport {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, HttpError> {
        let http_request = self.build(request)?;
        let http_request = self.configure(request, http_request);
        let response = self
            .agent
            .run(http_request)
            .map_err(|err| map_error(err, self.settings.max_response_body))?;
        self.read_response(response)
    }
}

fn map_error(err: ureq::Error, body_limit: usize) -> HttpError {
    match err {
        ureq::Error::Timeout(_) => HttpError::Timeout,
        ureq::Error::BodyExceedsLimit(_) => HttpError::BodyTooLarge { limit: body_limit },
        ureq::Error::HostNotFound => HttpError::Connect("host not found".to_owned()),
        ureq::Error::ConnectionFailed => HttpError::Connect("connection failed".to_owned()),
        ureq::Error::BadUri(uri) => HttpError::InvalidUrl(uri),
        ureq::Error::Io(io_err) => map_io_error(io_err),
        // Without TLS, ureq connects to the target of a redirect to https before refusing it.
        ureq::Error::TlsRequired if !cfg!(feature = "rustls") => https_needs_rustls(),
        ureq::Error::Tls(_) | ureq::Error::TlsRequired => HttpError::Connect(err.to_string()),
        #[cfg(feature = "rustls")]
        ureq::Error::Rustls(_) => HttpError::Connect(err.to_string()),
        other => HttpError::Transport(other.to_string()),
    }
}

fn https_needs_rustls() -> HttpError {
    HttpError::InvalidUrl(HTTPS_NEEDS_RUSTLS.to_owned())
}

fn map_io_error(err: io::Error) -> HttpError {
    match err.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => HttpError::Timeout,
        io::ErrorKind::ConnectionRefused
        | io::ErrorKind::AddrNotAvailable
        | io::ErrorKind::HostUnreachable
        | io::ErrorKind::NetworkUnreachable => HttpError::Connect(err.to_string()),
        // std reports name-resolution failures with this message and no specific kind.
        _ if err.to_string().starts_with("failed to lookup address") => {
            HttpError::Connect(err.to_string())
        }
        _ => HttpError::Transport(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_lower_case_and_replaced() {
        let request = HttpRequest::get("http://127.0.0.1/")
            .header("Accept", "a")
            .header("ACCEPT", "b");
        let headers: Vec<_> = request.headers().collect();
        assert_eq!(headers, vec![("accept", "b")]);
    }

    #[test]
    fn response_header_lookup_ignores_case() {
        let response = HttpResponse {
            status: 204,
            headers: vec![("retry-after".to_owned(), "3".to_owned())],
            body: Vec::new(),
        };
        assert_eq!(response.header("Retry-After"), Some("3"));
        assert!(response.is_success());
        assert!(
            !HttpResponse {
                status: 304,
                ..response
            }
            .is_success()
        );
    }

    #[test]
    fn non_http_urls_are_invalid() {
        let transport = UreqTransport::default();
        for url in ["ftp://127.0.0.1/x", "not a url", "/relative/path", ""] {
            let err = transport.send(&HttpRequest::get(url)).unwrap_err();
            assert!(matches!(err, HttpError::InvalidUrl(_)), "{url}: {err:?}");
        }
    }

    #[test]
    fn invalid_secret_header_value_is_not_echoed() {
        let transport = UreqTransport::default();
        let request =
            HttpRequest::get("http://127.0.0.1:9/").secret_header("x-api-key", "bad\nsecret");
        let err = transport.send(&request).unwrap_err();
        assert!(matches!(err, HttpError::InvalidUrl(_)));
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
