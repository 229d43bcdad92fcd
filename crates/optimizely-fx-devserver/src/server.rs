use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::watch;

use crate::config::DevServerConfig;
use crate::datafile::{DatafileStore, OdpRewrite};
use crate::error::DevServerError;
use crate::fault::{Endpoint, Fault, FaultBook};
use crate::recorder::{RecordedRequest, Recorder};
use crate::router;
use crate::state::{Shared, lock};

/// Longest wait for the runtime's threads when shutting down.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Starts dev servers; see [`DevServer::start`].
#[derive(Debug)]
pub struct DevServer {
    _no_instances: (),
}

impl DevServer {
    /// Binds `127.0.0.1:{port}`, starts serving on a runtime of its own and returns the handle
    /// that owns it. Does not need (and does not mind) a surrounding async runtime.
    ///
    /// # Errors
    ///
    /// [`DevServerError::Bind`] when the port cannot be bound,
    /// [`DevServerError::Runtime`] when the runtime threads cannot be started.
    pub fn start(config: DevServerConfig) -> Result<DevServerHandle, DevServerError> {
        let requested = SocketAddr::from((Ipv4Addr::LOCALHOST, config.port));
        let bind_error = |source| DevServerError::Bind {
            addr: requested,
            source,
        };
        let std_listener = std::net::TcpListener::bind(requested).map_err(bind_error)?;
        std_listener.set_nonblocking(true).map_err(bind_error)?;
        let addr = std_listener.local_addr().map_err(bind_error)?;

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads)
            .thread_name("optimizely-fx-devserver")
            .enable_io()
            .enable_time()
            .build()
            .map_err(DevServerError::Runtime)?;
        let listener = {
            let _entered = runtime.enter();
            TcpListener::from_std(std_listener).map_err(bind_error)?
        };

        let base_url = format!("http://{addr}");
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(shared_state(&config, &base_url, shutdown_rx));
        runtime.spawn(accept_loop(listener, Arc::clone(&shared)));
        log::info!("dev server listening on {base_url}");
        Ok(DevServerHandle {
            shared,
            addr,
            base_url,
            shutdown_tx,
            runtime: Mutex::new(Some(runtime)),
        })
    }
}

fn shared_state(
    config: &DevServerConfig,
    base_url: &str,
    shutdown: watch::Receiver<bool>,
) -> Shared {
    let rewrite = config.rewrite_odp_host.then(|| OdpRewrite {
        host: base_url.to_owned(),
        public_key: config.odp_api_key.clone(),
    });
    let shared = Shared {
        odp_api_key: config.odp_api_key.clone(),
        max_body_bytes: config.max_body_bytes,
        datafiles: Mutex::new(DatafileStore::new(rewrite)),
        segments: Mutex::new(HashMap::new()),
        faults: Mutex::new(FaultBook::default()),
        recorder: Recorder::default(),
        shutdown,
    };
    for (sdk_key, json) in &config.datafiles {
        shared.set_datafile(sdk_key.clone(), json.clone());
    }
    for (sdk_key, token) in &config.access_tokens {
        lock(&shared.datafiles).set_access_token(sdk_key.clone(), token.clone());
    }
    for (user_id, segments) in &config.segments {
        shared.set_segments(user_id.clone(), segments.clone());
    }
    shared
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

/// A running dev server. Dropping it (or calling [`shutdown`](Self::shutdown)) stops it.
///
/// All methods are blocking and need no async runtime. The recorded data stays readable
/// after shutdown.
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
    /// Base URL, `http://127.0.0.1:PORT` (no trailing slash). Also the ODP host.
    pub fn url(&self) -> String {
        self.base_url.clone()
    }

    /// The bound address (always `127.0.0.1`).
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
    /// [`DevServerConfig::datafile`](crate::DevServerConfig::datafile)). Its `Last-Modified` is
    /// the current time but at least one second after the previous value for this key, so an
    /// `If-Modified-Since` client sees the change even within the same second.
    pub fn set_datafile(&self, sdk_key: impl Into<String>, json: impl Into<String>) {
        self.shared.set_datafile(sdk_key.into(), json.into());
    }

    /// Stops serving the datafile of `sdk_key` (requests then get `404`). `false` if none was
    /// served.
    pub fn remove_datafile(&self, sdk_key: &str) -> bool {
        lock(&self.shared.datafiles).remove(sdk_key)
    }

    /// Requires `Authorization: Bearer {token}` for `/datafiles/auth/{sdk_key}.json`.
    pub fn set_access_token(&self, sdk_key: impl Into<String>, token: impl Into<String>) {
        lock(&self.shared.datafiles).set_access_token(sdk_key.into(), token.into());
    }

    /// Sets the segments an ODP user (`fs_user_id` or `vuid` value) qualifies for; GraphQL
    /// then answers `qualified` for these and `not_qualified` for any other requested segment.
    /// An empty list is a known user with no segments.
    pub fn set_segments(&self, user_id: impl Into<String>, segments: Vec<String>) {
        self.shared.set_segments(user_id.into(), segments);
    }

    /// Forgets a user: GraphQL then answers the invalid-identifier error for it. `false` if it
    /// was not known.
    pub fn remove_segments(&self, user_id: &str) -> bool {
        lock(&self.shared.segments).remove(user_id).is_some()
    }

    /// Every ODP event accepted by `/v3/events`, in arrival order, one value per event (the
    /// most recent 100,000 are kept).
    pub fn odp_events(&self) -> Vec<Value> {
        self.shared.recorder.odp_events().items
    }

    /// How many ODP events were accepted in total (including ones no longer kept).
    pub fn odp_events_received(&self) -> u64 {
        self.shared.recorder.odp_events().received
    }

    /// Every batch accepted by `/v1/events`, in arrival order (the most recent 100,000 kept).
    pub fn log_event_batches(&self) -> Vec<Value> {
        self.shared.recorder.batches().items
    }

    /// How many `/v1/events` batches were accepted in total.
    pub fn log_event_batches_received(&self) -> u64 {
        self.shared.recorder.batches().received
    }

    /// Every request received on `endpoint`, in arrival order (the most recent 10,000 kept),
    /// including refused, faulted and still unanswered ones.
    pub fn requests(&self, endpoint: Endpoint) -> Vec<RecordedRequest> {
        self.shared.recorder.requests(endpoint).items
    }

    /// Waits until at least `count` ODP events have been accepted (since start or the last
    /// [`reset`](Self::reset)) or `timeout` has passed, then returns the stored events.
    pub fn wait_for_odp_events(&self, count: usize, timeout: Duration) -> Vec<Value> {
        let count = u64::try_from(count).unwrap_or(u64::MAX);
        self.shared.recorder.wait_for_odp_events(count, timeout)
    }

    /// Waits until at least `count` `/v1/events` batches have been accepted or `timeout` has
    /// passed, then returns the stored batches.
    pub fn wait_for_log_event_batches(&self, count: usize, timeout: Duration) -> Vec<Value> {
        let count = u64::try_from(count).unwrap_or(u64::MAX);
        self.shared.recorder.wait_for_batches(count, timeout)
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

    /// Forgets stored ODP events, event batches and recorded requests, and their counts.
    /// Datafiles, segments and faults are kept.
    pub fn reset(&self) {
        self.shared.recorder.reset();
    }

    /// Stops the server: closes the listener and every connection (hung requests included)
    /// and stops the runtime threads. Returns promptly; calling it again does nothing.
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
    }
}
