use std::fmt;

/// Default `x-api-key` accepted by the ODP endpoints.
pub(crate) const DEFAULT_ODP_API_KEY: &str = "dev-odp-key";
/// Default cap on request body size (16 MiB).
pub(crate) const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
const DEFAULT_WORKER_THREADS: usize = 2;

/// How to start a [`DevServer`](crate::DevServer). Built with chained calls from
/// [`DevServerConfig::default`].
///
/// `Debug` output never shows access tokens or the ODP API key.
#[derive(Clone)]
pub struct DevServerConfig {
    pub(crate) port: u16,
    pub(crate) datafiles: Vec<(String, String)>,
    pub(crate) access_tokens: Vec<(String, String)>,
    pub(crate) segments: Vec<(String, Vec<String>)>,
    pub(crate) odp_api_key: String,
    pub(crate) rewrite_odp_host: bool,
    pub(crate) max_body_bytes: usize,
    pub(crate) worker_threads: usize,
}

impl Default for DevServerConfig {
    fn default() -> Self {
        DevServerConfig {
            port: 0,
            datafiles: Vec::new(),
            access_tokens: Vec::new(),
            segments: Vec::new(),
            odp_api_key: DEFAULT_ODP_API_KEY.to_owned(),
            rewrite_odp_host: true,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            worker_threads: DEFAULT_WORKER_THREADS,
        }
    }
}

impl DevServerConfig {
    /// TCP port to listen on (always on `127.0.0.1`). `0`, the default, picks any free port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Serves `json` at `/datafiles/{sdk_key}.json`. The text is served as given (it need not
    /// even be valid JSON, so clients' handling of broken datafiles can be tested), except for
    /// the ODP rewrite described at [`rewrite_odp_host`](Self::rewrite_odp_host).
    /// Calling it again for the same key replaces the datafile.
    pub fn datafile(mut self, sdk_key: impl Into<String>, json: impl Into<String>) -> Self {
        self.datafiles.push((sdk_key.into(), json.into()));
        self
    }

    /// Also serves the datafile of `sdk_key` at `/datafiles/auth/{sdk_key}.json`, answering only
    /// requests with `Authorization: Bearer {token}`.
    pub fn access_token(mut self, sdk_key: impl Into<String>, token: impl Into<String>) -> Self {
        self.access_tokens.push((sdk_key.into(), token.into()));
        self
    }

    /// The `x-api-key` that `/v3/events` and `/v3/graphql` require. Default: `dev-odp-key`.
    pub fn odp_api_key(mut self, key: impl Into<String>) -> Self {
        self.odp_api_key = key.into();
        self
    }

    /// When `true` (the default), a served datafile whose `integrations` contain an entry with
    /// `"key": "odp"` gets that entry's `host` replaced by this server's base URL and its
    /// `publicKey` by the configured ODP API key, so an SDK's ODP traffic comes back here.
    /// Datafiles that are not JSON objects are served unchanged.
    pub fn rewrite_odp_host(mut self, rewrite: bool) -> Self {
        self.rewrite_odp_host = rewrite;
        self
    }

    /// Qualified segments of an ODP user from the start (same as
    /// [`DevServerHandle::set_segments`](crate::DevServerHandle::set_segments)).
    pub fn segments(mut self, user_id: impl Into<String>, segments: Vec<String>) -> Self {
        self.segments.push((user_id.into(), segments));
        self
    }

    /// Largest accepted request body in bytes; larger bodies are answered with `413`.
    /// Default: 16 MiB.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Number of runtime worker threads (at least 1). Default: 2.
    pub fn worker_threads(mut self, threads: usize) -> Self {
        self.worker_threads = threads.max(1);
        self
    }
}

impl fmt::Debug for DevServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let datafile_keys: Vec<&str> = self.datafiles.iter().map(|(k, _)| k.as_str()).collect();
        let token_keys: Vec<&str> = self.access_tokens.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("DevServerConfig")
            .field("port", &self.port)
            .field("datafiles", &datafile_keys)
            .field("access_tokens_for", &token_keys)
            .field("segment_users", &self.segments.len())
            .field("odp_api_key", &"<redacted>")
            .field("rewrite_odp_host", &self.rewrite_odp_host)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("worker_threads", &self.worker_threads)
            .finish()
    }
}
