use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::{Semaphore, watch};

use crate::config::DevServerConfig;
use crate::datafile::{DatafileStore, OdpRewrite};
use crate::error::{DatabaseProblem, DevServerError};
use crate::fault::{Endpoint, Fault, FaultBook};
use crate::recorder::{RecordedRequest, Recorder};
use crate::records::{DatafileRevision, UserSummary};
use crate::router;
use crate::segments::SegmentDefinition;
use crate::state::{BLOCKING_SLOTS, Shared, lock, log_store_error};
use crate::store::{Database, IN_MEMORY, StoreError};
use crate::time;

/// Longest wait for the runtime's threads when shutting down.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(50);
/// Threads of the runtime's blocking pool, where handlers that use the database run.
const MAX_BLOCKING_THREADS: usize = 4;
/// Most users [`DevServerHandle::users`] returns.
const MAX_USERS_LISTED: usize = 10_000;

/// Starts dev servers; see [`DevServer::start`].
#[derive(Debug)]
pub struct DevServer {
    _no_instances: (),
}

impl DevServer {
    /// Opens the database, binds the configured address (`127.0.0.1:{port}` by default),
    /// starts serving on a runtime of its own and returns the handle that owns it. Does not
    /// need (and does not mind) a surrounding async runtime.
    ///
    /// # Errors
    ///
    /// [`DevServerError::NonLoopback`] for a non-loopback address that was not allowed,
    /// [`DevServerError::SegmentsFile`] when the segments file cannot be read or is invalid,
    /// [`DevServerError::Database`] when the database cannot be used (corrupt, locked by
    /// another connection, another application's, unwritable),
    /// [`DevServerError::Bind`] when the port cannot be bound,
    /// [`DevServerError::Runtime`] when the runtime threads cannot be started.
    pub fn start(config: DevServerConfig) -> Result<DevServerHandle, DevServerError> {
        if !config.bind.is_loopback() && !config.allow_non_loopback {
            return Err(DevServerError::NonLoopback { addr: config.bind });
        }
        let segments = segments_to_define(&config)?;
        let db = Database::open(config.database.as_deref())?;
        let requested = SocketAddr::new(config.bind, config.port);
        let bind_error = |source| DevServerError::Bind {
            addr: requested,
            source,
        };
        let std_listener = std::net::TcpListener::bind(requested).map_err(bind_error)?;
        std_listener.set_nonblocking(true).map_err(bind_error)?;
        let addr = std_listener.local_addr().map_err(bind_error)?;

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads)
            .max_blocking_threads(MAX_BLOCKING_THREADS)
            .thread_name("optimizely-fx-devserver")
            .enable_io()
            .enable_time()
            .build()
            .map_err(DevServerError::Runtime)?;
        let listener = {
            let _entered = runtime.enter();
            TcpListener::from_std(std_listener).map_err(bind_error)?
        };

        let base_url = base_url(addr);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shared = Shared {
            odp_api_key: config.odp_api_key.clone(),
            max_body_bytes: config.max_body_bytes,
            base_url: base_url.clone(),
            datafiles: Mutex::new(DatafileStore::new(odp_rewrite(&config, &base_url))),
            datafile_changes: Mutex::new(()),
            db,
            faults: Mutex::new(FaultBook::default()),
            recorder: Recorder::default(),
            blocking_slots: Semaphore::new(BLOCKING_SLOTS),
            shutdown: shutdown_rx,
        };
        apply_config(&shared, &config, &segments).map_err(|error| DevServerError::Database {
            location: database_location(&config),
            problem: DatabaseProblem::Io {
                detail: error.to_string(),
            },
        })?;
        let shared = Arc::new(shared);
        runtime.spawn(accept_loop(listener, Arc::clone(&shared)));
        if addr.ip().is_loopback() {
            log::info!("dev server listening on {base_url}");
        } else {
            log::warn!(
                "dev server listening on {addr}, which is not a loopback address: anyone who can \
                 reach it can read and change everything it stores"
            );
        }
        Ok(DevServerHandle {
            shared,
            addr,
            base_url,
            shutdown_tx,
            runtime: Mutex::new(Some(runtime)),
        })
    }
}

/// `http://ADDR`, with a loopback address instead of an unspecified one (`0.0.0.0`, `::`).
fn base_url(addr: SocketAddr) -> String {
    let shown = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    };
    format!("http://{shown}")
}

fn database_location(config: &DevServerConfig) -> String {
    config
        .database
        .as_ref()
        .map_or_else(|| IN_MEMORY.to_owned(), |path| path.display().to_string())
}

fn odp_rewrite(config: &DevServerConfig, base_url: &str) -> Option<OdpRewrite> {
    config.rewrite_odp_host.then(|| OdpRewrite {
        host: base_url.to_owned(),
        public_key: config.odp_api_key.clone(),
    })
}

/// The segments file's definitions followed by those given in code.
fn segments_to_define(config: &DevServerConfig) -> Result<Vec<SegmentDefinition>, DevServerError> {
    let mut segments = Vec::new();
    if let Some(path) = &config.segments_file {
        let failure = |message: String| DevServerError::SegmentsFile {
            path: path.clone(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|error| failure(error.to_string()))?;
        segments =
            SegmentDefinition::from_toml(&text).map_err(|error| failure(error.to_string()))?;
    }
    segments.extend(config.segment_rules.iter().cloned());
    Ok(segments)
}

/// Restores what the database serves, then applies the configuration on top.
fn apply_config(
    shared: &Shared,
    config: &DevServerConfig,
    segments: &[SegmentDefinition],
) -> Result<(), StoreError> {
    {
        let mut store = lock(&shared.datafiles);
        for head in shared.db.datafile_heads()? {
            store.restore(head.sdk_key, head.body, head.last_modified);
        }
        for (sdk_key, token) in &config.access_tokens {
            store.set_access_token(sdk_key.clone(), token.clone());
        }
    }
    for (sdk_key, json) in &config.datafiles {
        if shared.db.current_datafile_body(sdk_key)?.as_deref() != Some(json.as_str()) {
            shared.set_datafile(sdk_key.clone(), json.clone());
        }
    }
    for (user_id, user_segments) in &config.segments {
        shared.set_segments(user_id.clone(), user_segments.clone())?;
    }
    for segment in segments {
        shared.define_segment(segment)?;
    }
    shared
        .recorder
        .set_odp_events_received(shared.db.odp_events_received()?);
    shared
        .recorder
        .set_batches_received(shared.db.batches_received()?);
    Ok(())
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shared.shutting_down() => return,
        };
        match accepted {
            Ok((stream, _peer)) => {
                tokio::spawn(serve_connection(stream, Arc::clone(&shared)));
            }
            Err(error) => {
                log::warn!("dev server cannot accept a connection: {error}");
                tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
            }
        }
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    // Small responses should not wait for Nagle; failing to set it changes nothing else.
    let _ = stream.set_nodelay(true);
    let for_service = Arc::clone(&shared);
    let service = service_fn(move |request| router::serve(Arc::clone(&for_service), request));
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = connection => {
            if let Err(error) = result {
                log::debug!("dev server connection ended: {error}");
            }
        }
        () = shared.shutting_down() => {}
    }
}

/// A running dev server. Dropping it (or calling [`shutdown`](Self::shutdown)) stops it;
/// dropping it also closes the database.
///
/// All methods are blocking and need no async runtime. The recorded data stays readable
/// after shutdown. Methods that read or write the database log a failure (a full disk, say)
/// at ERROR and return an empty or `false` result.
pub struct DevServerHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    base_url: String,
    shutdown_tx: watch::Sender<bool>,
    runtime: Mutex<Option<Runtime>>,
}

impl fmt::Debug for DevServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevServerHandle")
            .field("url", &self.base_url)
            .field("running", &lock(&self.runtime).is_some())
            .finish_non_exhaustive()
    }
}

impl DevServerHandle {
    /// Base URL, `http://127.0.0.1:PORT` (no trailing slash). Also the ODP host. For a
    /// server bound to an unspecified address (`0.0.0.0`) it names the loopback address.
    pub fn url(&self) -> String {
        self.base_url.clone()
    }

    /// The inspector page, `http://127.0.0.1:PORT/`.
    pub fn inspector_url(&self) -> String {
        format!("{}/", self.base_url)
    }

    /// The bound address (`127.0.0.1` unless configured otherwise).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT/datafiles/{sdk_key}.json`, with the literal `{sdk_key}`
    /// placeholder.
    pub fn datafile_url_template(&self) -> String {
        format!("{}/datafiles/{{sdk_key}}.json", self.base_url)
    }

    /// `http://127.0.0.1:PORT/datafiles/auth/{sdk_key}.json`, with the literal `{sdk_key}`
    /// placeholder.
    pub fn auth_datafile_url_template(&self) -> String {
        format!("{}/datafiles/auth/{{sdk_key}}.json", self.base_url)
    }

    /// `http://127.0.0.1:PORT/v1/events`.
    pub fn event_endpoint(&self) -> String {
        format!("{}/v1/events", self.base_url)
    }

    /// Serves `json` for `sdk_key` from now on (see
    /// [`DevServerConfig::datafile`](crate::DevServerConfig::datafile)) and stores it as a
    /// new revision. Its `Last-Modified` is the current time but at least one second after
    /// the previous value for this key, so an `If-Modified-Since` client sees the change even
    /// within the same second.
    pub fn set_datafile(&self, sdk_key: impl Into<String>, json: impl Into<String>) {
        self.shared.set_datafile(sdk_key.into(), json.into());
    }

    /// Stops serving the datafile of `sdk_key` (requests then get `404`; its revisions stay).
    /// `false` if none was served.
    pub fn remove_datafile(&self, sdk_key: &str) -> bool {
        self.shared.remove_datafile(sdk_key)
    }

    /// Every kept revision of the datafile of `sdk_key` (the most recent 100), oldest first.
    pub fn datafile_revisions(&self, sdk_key: &str) -> Vec<DatafileRevision> {
        log_store_error(
            "read datafile revisions",
            self.shared.db.datafile_revisions(sdk_key),
        )
        .unwrap_or_default()
    }

    /// Requires `Authorization: Bearer {token}` for `/datafiles/auth/{sdk_key}.json`.
    /// Tokens are kept in memory only, never in the database.
    pub fn set_access_token(&self, sdk_key: impl Into<String>, token: impl Into<String>) {
        lock(&self.shared.datafiles).set_access_token(sdk_key.into(), token.into());
    }

    /// Sets the static segments of an ODP user id (the value of any identifier, e.g. an
    /// `fs_user_id` or `vuid`): GraphQL then answers `qualified` for these, plus any
    /// [defined segment](Self::define_segment) the user qualifies for, and `not_qualified`
    /// for the others. An empty list makes a known user with no static segments.
    pub fn set_segments(&self, user_id: impl Into<String>, segments: Vec<String>) {
        let result = self.shared.set_segments(user_id.into(), segments);
        log_store_error("store segments", result);
    }

    /// Forgets the static segments of a user id. A user with no ODP events and no
    /// membership in a defined segment is then unknown to GraphQL (invalid identifier).
    /// `false` if it had none.
    pub fn remove_segments(&self, user_id: &str) -> bool {
        let result = self.shared.db.remove_static_segments(user_id);
        log_store_error("remove segments", result).unwrap_or(false)
    }

    /// Adds a segment definition, or replaces the one with the same name. GraphQL evaluates
    /// it at each request.
    pub fn define_segment(&self, segment: SegmentDefinition) {
        log_store_error("store a segment", self.shared.define_segment(&segment));
    }

    /// Removes the segment definition called `name`; `false` if there was none.
    pub fn remove_segment_definition(&self, name: &str) -> bool {
        let result = self.shared.db.remove_definition(name);
        log_store_error("remove a segment", result).unwrap_or(false)
    }

    /// Every segment definition, by name.
    pub fn segment_definitions(&self) -> Vec<SegmentDefinition> {
        log_store_error("read segments", self.shared.db.definitions()).unwrap_or_default()
    }

    /// What GraphQL would answer now for the user with identifier `kind` = `value` (e.g.
    /// `("fs_user_id", "user-1")`): the segments it qualifies for, or `None` for an unknown
    /// user.
    pub fn qualified_segments(&self, kind: &str, value: &str) -> Option<Vec<String>> {
        let now = time::unix_millis(SystemTime::now());
        let result = self.shared.db.qualified_segments(kind, value, now);
        log_store_error("evaluate segments", result).flatten()
    }

    /// Users with their stitched identifiers and current segments, most recently active
    /// first, then ids only known from static memberships (at most 10,000).
    pub fn users(&self) -> Vec<UserSummary> {
        let now = time::unix_millis(SystemTime::now());
        let result = self.shared.db.users(MAX_USERS_LISTED, now);
        log_store_error("list users", result).unwrap_or_default()
    }

    /// Every ODP event accepted by `/v3/events`, in arrival order, one value per event (the
    /// most recent 100,000 are kept).
    pub fn odp_events(&self) -> Vec<Value> {
        log_store_error("read ODP events", self.shared.db.odp_events()).unwrap_or_default()
    }

    /// How many ODP events were accepted in total (including ones no longer kept).
    pub fn odp_events_received(&self) -> u64 {
        self.shared.recorder.odp_events_received()
    }

    /// Every batch accepted by `/v1/events`, in arrival order (the most recent 100,000 kept).
    pub fn log_event_batches(&self) -> Vec<Value> {
        log_store_error("read event batches", self.shared.db.batches()).unwrap_or_default()
    }

    /// How many `/v1/events` batches were accepted in total.
    pub fn log_event_batches_received(&self) -> u64 {
        self.shared.recorder.batches_received()
    }

    /// Every request received on `endpoint`, in arrival order (the most recent 10,000 kept,
    /// in memory only), including refused, faulted and still unanswered ones.
    pub fn requests(&self, endpoint: Endpoint) -> Vec<RecordedRequest> {
        self.shared.recorder.requests(endpoint).items
    }

    /// Waits until at least `count` ODP events have been accepted (since start or the last
    /// [`reset`](Self::reset)) or `timeout` has passed, then returns the stored events.
    pub fn wait_for_odp_events(&self, count: usize, timeout: Duration) -> Vec<Value> {
        let count = u64::try_from(count).unwrap_or(u64::MAX);
        self.shared.recorder.wait_for_odp_events(count, timeout);
        self.odp_events()
    }

    /// Waits until at least `count` `/v1/events` batches have been accepted or `timeout` has
    /// passed, then returns the stored batches.
    pub fn wait_for_log_event_batches(&self, count: usize, timeout: Duration) -> Vec<Value> {
        let count = u64::try_from(count).unwrap_or(u64::MAX);
        self.shared.recorder.wait_for_batches(count, timeout);
        self.log_event_batches()
    }

    /// Waits until at least `count` stored requests on `endpoint` have been answered or
    /// `timeout` has passed, then returns the stored requests.
    pub fn wait_for_requests(
        &self,
        endpoint: Endpoint,
        count: usize,
        timeout: Duration,
    ) -> Vec<RecordedRequest> {
        self.shared
            .recorder
            .wait_for_requests(endpoint, count, timeout)
    }

    /// Queues `fault` for the next requests on `endpoint` (see [`Fault`]). A fault that cannot
    /// be applied (a status outside 200-599) is logged at WARN and ignored.
    pub fn inject_fault(&self, endpoint: Endpoint, fault: Fault) {
        if let Err(problem) = self.shared.inject_fault(endpoint, fault) {
            log::warn!("dev server ignores an injected fault: {problem}");
        }
    }

    /// Removes every queued fault (including `times: u32::MAX` ones). Requests already hanging
    /// stay hung until shutdown.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Forgets stored ODP events (and the users stitched from them), event batches and
    /// recorded requests, and their counts. Datafiles, segment memberships and definitions
    /// and faults are kept.
    pub fn reset(&self) {
        log_store_error("reset", self.shared.reset());
    }

    /// Stops the server: closes the listener and every connection (hung requests included)
    /// and stops the runtime threads. Returns promptly; calling it again does nothing. The
    /// stored data stays readable through the handle until it is dropped.
    pub fn shutdown(&self) {
        self.shutdown_tx.send_replace(true);
        let Some(runtime) = lock(&self.runtime).take() else {
            return;
        };
        // Waiting for the runtime's threads is not allowed from inside an async context.
        if tokio::runtime::Handle::try_current().is_ok() {
            runtime.shutdown_background();
        } else {
            runtime.shutdown_timeout(SHUTDOWN_GRACE);
        }
        log::debug!("dev server on {} stopped", self.base_url);
    }
}

impl Drop for DevServerHandle {
    fn drop(&mut self) {
        self.shutdown();
        // Releases the database file's lock now, even if a blocking task still holds the
        // shared state.
        self.shared.db.close();
    }
}
