use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use crate::segments::SegmentDefinition;
use crate::store::IN_MEMORY;

/// Default `x-api-key` accepted by the ODP endpoints.
pub(crate) const DEFAULT_ODP_API_KEY: &str = "dev-odp-key";
/// Default cap on request body size (16 MiB).
pub(crate) const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// One thread is enough and costs the least CPU per request: handlers that use the database
/// run on the blocking pool, and the rest only shuffle small requests.
const DEFAULT_WORKER_THREADS: usize = 1;

/// How to start a [`DevServer`](crate::DevServer). Built with chained calls from
/// [`DevServerConfig::default`].
///
/// `Debug` output never shows access tokens or the ODP API key.
#[derive(Clone)]
pub struct DevServerConfig {
    pub(crate) port: u16,
    pub(crate) bind: IpAddr,
    pub(crate) allow_non_loopback: bool,
    /// `None`: in memory.
    pub(crate) database: Option<PathBuf>,
    pub(crate) segments_file: Option<PathBuf>,
    pub(crate) segment_rules: Vec<SegmentDefinition>,
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
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            allow_non_loopback: false,
            database: None,
            segments_file: None,
            segment_rules: Vec::new(),
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
    /// TCP port to listen on. `0`, the default, picks any free port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Address to listen on. Default: `127.0.0.1`. Any loopback address (`127.0.0.0/8`, `::1`)
    /// is accepted as is; any other address (including `0.0.0.0`) also needs
    /// [`allow_non_loopback`](Self::allow_non_loopback), because the server has no
    /// authentication of its own, and is logged at WARN when used.
    pub fn bind(mut self, address: IpAddr) -> Self {
        self.bind = address;
        self
    }

    /// Allows [`bind`](Self::bind) to use an address that is not a loopback address.
    /// Default: `false`.
    pub fn allow_non_loopback(mut self, allow: bool) -> Self {
        self.allow_non_loopback = allow;
        self
    }

    /// Keeps everything (datafile revisions, ODP events, batches, segment memberships and
    /// definitions) in the SQLite file at `path`, created if missing; a restart on the same
    /// file continues where the last run stopped. The special path `:memory:`, the default,
    /// keeps everything in memory only.
    ///
    /// The file is locked for as long as the server runs: a second server on the same file
    /// fails to start with [`DevServerError::Database`](crate::DevServerError::Database).
    pub fn database(mut self, path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        self.database = (path.as_os_str() != IN_MEMORY).then_some(path);
        self
    }

    /// Reads segment definitions from a TOML file at start (format in the crate docs).
    /// They replace stored definitions of the same name; others are kept.
    pub fn segments_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.segments_file = Some(path.into());
        self
    }

    /// Segment definitions to store at start, after those of the
    /// [`segments_file`](Self::segments_file) (a later definition of a name wins).
    pub fn segment_rules(mut self, segments: impl IntoIterator<Item = SegmentDefinition>) -> Self {
        self.segment_rules.extend(segments);
        self
    }

    /// Serves `json` at `/datafiles/{sdk_key}.json`. The text is served as given (it need not
    /// even be valid JSON, so clients' handling of broken datafiles can be tested), except for
    /// the ODP rewrite described at [`rewrite_odp_host`](Self::rewrite_odp_host).
    /// Calling it again for the same key replaces the datafile.
    ///
    /// It is stored as a new revision unless the database already serves exactly this text
    /// for the key (a restart with the same datafiles keeps revisions and `Last-Modified`).
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

    /// Static segments of an ODP user id from the start (same as
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

    /// Number of runtime worker threads (at least 1). Default: 1.
    pub fn worker_threads(mut self, threads: usize) -> Self {
        self.worker_threads = threads.max(1);
        self
    }
}

impl fmt::Debug for DevServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let datafile_keys: Vec<&str> = self.datafiles.iter().map(|(k, _)| k.as_str()).collect();
        let token_keys: Vec<&str> = self.access_tokens.iter().map(|(k, _)| k.as_str()).collect();
        let segment_names: Vec<&str> = self.segment_rules.iter().map(|s| s.name()).collect();
        f.debug_struct("DevServerConfig")
            .field("port", &self.port)
            .field("bind", &self.bind)
            .field("allow_non_loopback", &self.allow_non_loopback)
            .field("database", &self.database)
            .field("segments_file", &self.segments_file)
            .field("segment_rules", &segment_names)
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
