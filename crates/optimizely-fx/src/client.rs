//! The [`Client`] and its [`ClientBuilder`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use optimizely_fx_core::ProjectConfig;

use crate::client_decide::DecideSettings;
use crate::client_optimizely_config::OptimizelyConfigCache;
use crate::config_source::{
    AccessToken, ConfigStore, DEFAULT_AUTH_URL_TEMPLATE, DEFAULT_URL_TEMPLATE, Poller,
    PollerSettings, PollingSchedule, datafile_url,
};
use crate::dispatch::QueueReport;
use crate::error::{BuildError, ReadyError};
use crate::events::{EventManager, EventSettings};
use crate::http::{HttpError, HttpRequest, HttpResponse, HttpTransport, UreqTransport};
use crate::notification::{ConfigUpdate, ListenerId, NotificationType};
use crate::odp::segments::{SegmentsManager, SegmentsSettings};
use crate::odp::{OdpEventManager, OdpEventSettings};
use crate::one_shot::deadline_after;
use crate::readiness::ReadyFuture;

/// Default time between two datafile fetches.
pub const DEFAULT_POLLING_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Default timeout of one datafile request.
pub const DEFAULT_DATAFILE_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Polling intervals shorter than this are allowed but logged as not recommended.
const RECOMMENDED_MIN_POLLING_INTERVAL: Duration = Duration::from_secs(30);
/// How long dropping the last handle of a client waits for its background threads.
const DROP_CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The default [`UreqTransport`], built by the first request: a client that never sends one
/// (a fixed datafile, no events) never builds an HTTP agent.
#[derive(Debug, Default)]
struct DefaultTransport(OnceLock<Box<UreqTransport>>);

impl HttpTransport for DefaultTransport {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, HttpError> {
        self.0.get_or_init(Box::default).send(request)
    }
}

/// Where the builder gets a datafile from.
#[derive(Clone)]
enum DatafileInput {
    Json(String),
    File(PathBuf),
}

impl DatafileInput {
    fn read(self) -> Result<String, BuildError> {
        match self {
            DatafileInput::Json(json) => Ok(json),
            DatafileInput::File(path) => std::fs::read_to_string(&path)
                .map_err(|source| BuildError::DatafileFile { path, source }),
        }
    }
}

impl fmt::Debug for DatafileInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatafileInput::Json(json) => write!(f, "Json(<{} bytes>)", json.len()),
            DatafileInput::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// Configures and builds a [`Client`]. Get one with [`Client::builder`].
///
/// A client needs a datafile, an SDK key, or both:
///
/// * **datafile only** ([`datafile`](Self::datafile) or [`datafile_file`](Self::datafile_file)):
///   the client is ready at once and its config never changes;
/// * **SDK key only** ([`sdk_key`](Self::sdk_key)): a background thread fetches the datafile
///   and polls for updates; the client is ready after the first successful fetch;
/// * **both**: the given datafile is used at once and the SDK key is used to poll for updates.
///
/// # Example
///
/// ```no_run
/// use std::time::Duration;
/// use optimizely_fx::Client;
///
/// let client = Client::builder()
///     .sdk_key("YOUR_SDK_KEY")
///     .polling_interval(Duration::from_secs(60))
///     .build()?;
/// client.wait_until_ready(Duration::from_secs(10))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Clone)]
pub struct ClientBuilder {
    datafile: Option<DatafileInput>,
    sdk_key: Option<String>,
    access_token: Option<AccessToken>,
    url_template: Option<String>,
    polling_interval: Duration,
    request_timeout: Duration,
    transport: Option<Arc<dyn HttpTransport>>,
    pub(crate) segments: SegmentsSettings,
    pub(crate) odp_disabled: bool,
    pub(crate) odp_events: OdpEventSettings,
    pub(crate) decide: DecideSettings,
    pub(crate) events: EventSettings,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            datafile: None,
            sdk_key: None,
            access_token: None,
            url_template: None,
            polling_interval: DEFAULT_POLLING_INTERVAL,
            request_timeout: DEFAULT_DATAFILE_REQUEST_TIMEOUT,
            transport: None,
            segments: SegmentsSettings::default(),
            odp_disabled: false,
            odp_events: OdpEventSettings::default(),
            decide: DecideSettings::default(),
            events: EventSettings::default(),
        }
    }
}

impl ClientBuilder {
    /// Uses this datafile (JSON text) as the initial config. It is parsed by
    /// [`build`](Self::build), which fails if it is invalid. Replaces an earlier
    /// [`datafile_file`](Self::datafile_file). Default: none.
    pub fn datafile(mut self, json: impl Into<String>) -> Self {
        self.datafile = Some(DatafileInput::Json(json.into()));
        self
    }

    /// Reads the initial datafile from this file when [`build`](Self::build) runs; a missing or
    /// unreadable file fails the build. Replaces an earlier [`datafile`](Self::datafile).
    /// Default: none.
    pub fn datafile_file(mut self, path: impl AsRef<Path>) -> Self {
        self.datafile = Some(DatafileInput::File(path.as_ref().to_owned()));
        self
    }

    /// The SDK key of the environment whose datafile the client fetches and keeps up to date.
    /// Default: none (no polling).
    pub fn sdk_key(mut self, sdk_key: impl Into<String>) -> Self {
        self.sdk_key = Some(sdk_key.into());
        self
    }

    /// A datafile access token, for environments whose datafile is not public. The datafile is
    /// then fetched from `https://config.optimizely.com/datafiles/auth/{sdk_key}.json` (unless a
    /// [URL template](Self::datafile_url_template) is set) with an
    /// `Authorization: Bearer <token>` header. The token is never logged nor shown by `Debug`.
    /// Needs an [SDK key](Self::sdk_key). Default: none.
    pub fn datafile_access_token(mut self, token: impl Into<String>) -> Self {
        self.access_token = Some(AccessToken::new(token.into()));
        self
    }

    /// The URL the datafile is fetched from, with `{sdk_key}` (or `%s`) standing for the SDK
    /// key. Default: `https://cdn.optimizely.com/datafiles/{sdk_key}.json`, or
    /// `https://config.optimizely.com/datafiles/auth/{sdk_key}.json` with an access token.
    pub fn datafile_url_template(mut self, template: impl Into<String>) -> Self {
        self.url_template = Some(template.into());
        self
    }

    /// Time between two datafile fetches. Default: 5 minutes.
    ///
    /// Intervals below 30 seconds are allowed but logged as not recommended.
    /// [`Duration::ZERO`] turns periodic polling off: the datafile is fetched (and retried after
    /// failures) until the first success, then never again.
    ///
    /// After a failed fetch the poller retries sooner: after 1 s, then 2 s, 4 s, ... up to the
    /// polling interval (up to 5 minutes when periodic polling is off).
    pub fn polling_interval(mut self, interval: Duration) -> Self {
        self.polling_interval = interval;
        self
    }

    /// Timeout of one datafile request, from connecting to reading the whole body.
    /// Must not be zero. Default: 10 seconds.
    pub fn datafile_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sends the client's HTTP requests through this transport instead of the built-in one
    /// (a [`UreqTransport`] with default settings). Without the `rustls` feature of
    /// optimizely-fx, the built-in one speaks plain HTTP only: HTTPS then needs a transport
    /// of your own.
    pub fn http_transport(mut self, transport: Arc<dyn HttpTransport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Builds the client: parses the datafile if one was given and, with an SDK key, starts the
    /// background thread (`optimizely-fx-datafile`) that fetches the datafile.
    ///
    /// # Errors
    ///
    /// [`BuildError`] when neither a datafile nor an SDK key was given, the SDK key is empty,
    /// an access token was given without an SDK key, the request timeout is zero, the datafile
    /// file cannot be read, the datafile is invalid, or the thread cannot be started.
    pub fn build(mut self) -> Result<Client, BuildError> {
        let sdk_key = self.validated_sdk_key()?;
        let store = Arc::new(ConfigStore::new());
        if let Some(input) = self.datafile.take() {
            let config =
                ProjectConfig::parse_owned(input.read()?).map_err(BuildError::InvalidDatafile)?;
            // Without an SDK key nothing ever replaces the given datafile.
            match &sdk_key {
                Some(_) => store.set_initial(config),
                None => store.set_fixed(config),
            }
        }
        let transport = self.shared_transport(store.current().as_deref());
        let segments = self.segments_manager(&store, Arc::clone(&transport));
        let odp_events = self.odp_event_manager(&store, Arc::clone(&transport));
        let events = self.event_manager(&store, Arc::clone(&transport));
        let poller = match &sdk_key {
            Some(sdk_key) => Some(self.spawn_poller(sdk_key, Arc::clone(&store), transport)?),
            None => None,
        };
        Ok(Client {
            inner: Arc::new(ClientInner {
                store,
                poller,
                sdk_key,
                segments,
                odp_events,
                decide: self.decide,
                events,
                optimizely_config: OptimizelyConfigCache::default(),
            }),
        })
    }

    fn validated_sdk_key(&self) -> Result<Option<String>, BuildError> {
        if self.sdk_key.as_deref() == Some("") {
            return Err(BuildError::EmptySdkKey);
        }
        if self.sdk_key.is_none() && self.datafile.is_none() {
            return Err(BuildError::MissingSdkKeyOrDatafile);
        }
        if self.sdk_key.is_none() && self.access_token.is_some() {
            return Err(BuildError::AccessTokenWithoutSdkKey);
        }
        if self.request_timeout.is_zero() {
            return Err(BuildError::ZeroDatafileRequestTimeout);
        }
        Ok(self.sdk_key.clone())
    }

    /// The one transport every network user of the client shares: the builder's, or a default
    /// [`UreqTransport`]. `initial` is the datafile given to the builder, if any.
    fn shared_transport(&self, initial: Option<&ProjectConfig>) -> Arc<dyn HttpTransport> {
        match &self.transport {
            Some(transport) => Arc::clone(transport),
            None => {
                if !cfg!(feature = "rustls") {
                    self.warn_about_https_without_rustls(initial);
                }
                Arc::new(DefaultTransport::default())
            }
        }
    }

    /// Tells at build time, rather than at the first failed request, that the default
    /// transport (built without TLS) will be asked for HTTPS. Names the settings, never their
    /// URLs: the datafile URL carries the SDK key.
    fn warn_about_https_without_rustls(&self, initial: Option<&ProjectConfig>) {
        let settings = self.https_settings(initial);
        if settings.is_empty() {
            return;
        }
        log::warn!(
            "optimizely-fx is built without its `rustls` feature, so its built-in HTTP transport \
             cannot send HTTPS requests, yet these settings use https: {}. Those requests will \
             fail: enable the `rustls` feature of optimizely-fx, or give \
             `ClientBuilder::http_transport` a transport that speaks HTTPS.",
            settings.join(", ")
        );
    }

    /// The settings known at build time whose requests would go to an https URL.
    fn https_settings(&self, initial: Option<&ProjectConfig>) -> Vec<&'static str> {
        let datafile = self.sdk_key.is_some() && is_https(self.url_template_in_use());
        // Without an endpoint of their own, events go to the region's logx URL, always https.
        let events = self.events.endpoint.as_deref().is_none_or(is_https);
        let odp = !self.odp_disabled
            && initial
                .and_then(ProjectConfig::odp)
                .is_some_and(|odp| is_https(&odp.host));
        [
            (datafile, "the datafile URL (`datafile_url_template`)"),
            (events, "the event endpoint (`event_endpoint`)"),
            (odp, "the ODP host of the datafile"),
        ]
        .into_iter()
        .filter_map(|(https, setting)| https.then_some(setting))
        .collect()
    }

    /// The datafile URL template in use: the one set, or the default for the access mode.
    fn url_template_in_use(&self) -> &str {
        let default_template = match self.access_token {
            Some(_) => DEFAULT_AUTH_URL_TEMPLATE,
            None => DEFAULT_URL_TEMPLATE,
        };
        self.url_template.as_deref().unwrap_or(default_template)
    }

    fn spawn_poller(
        &self,
        sdk_key: &str,
        store: Arc<ConfigStore>,
        transport: Arc<dyn HttpTransport>,
    ) -> Result<Poller, BuildError> {
        Poller::spawn(self.poller_settings(sdk_key), transport, store)
            .map_err(BuildError::SpawnPoller)
    }

    fn poller_settings(&self, sdk_key: &str) -> PollerSettings {
        PollerSettings {
            url: datafile_url(self.url_template_in_use(), sdk_key),
            access_token: self.access_token.clone(),
            schedule: polling_schedule(self.polling_interval),
            default_interval: DEFAULT_POLLING_INTERVAL,
            request_timeout: self.request_timeout,
        }
    }
}

/// Whether `url` has the `https` scheme (in any case).
fn is_https(url: &str) -> bool {
    url.split_once("://")
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("https"))
}

fn polling_schedule(interval: Duration) -> PollingSchedule {
    if interval.is_zero() {
        return PollingSchedule::UntilFirstSuccess;
    }
    if interval < RECOMMENDED_MIN_POLLING_INTERVAL {
        log::warn!("Polling intervals below 30 seconds are not recommended.");
    }
    PollingSchedule::Every(interval)
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("datafile", &self.datafile)
            .field("sdk_key", &self.sdk_key)
            .field("datafile_access_token", &self.access_token)
            .field("datafile_url_template", &self.url_template)
            .field("polling_interval", &self.polling_interval)
            .field("datafile_request_timeout", &self.request_timeout)
            .field("http_transport", &self.transport)
            .field("segments", &self.segments)
            .field("odp_disabled", &self.odp_disabled)
            .field("odp_events", &self.odp_events)
            .field("decide", &self.decide)
            .field("events", &self.events)
            .finish()
    }
}

/// An Optimizely Feature Experimentation client.
///
/// Cheap to clone: clones share one client. Dropping the last clone closes the client, waiting
/// at most one second for its background thread; call [`close`](Self::close) to choose the wait.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use optimizely_fx::Client;
///
/// # let datafile = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/datafiles/rs-sandbox.json"));
/// let client = Client::builder().datafile(datafile).build()?;
/// assert!(client.is_ready());
/// let revision = client.config().map(|config| config.revision().to_owned());
/// assert_eq!(revision.as_deref(), Some("21"));
/// client.close(Duration::from_secs(1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    store: Arc<ConfigStore>,
    poller: Option<Poller>,
    sdk_key: Option<String>,
    segments: Arc<SegmentsManager>,
    odp_events: Option<Arc<OdpEventManager>>,
    decide: DecideSettings,
    events: EventManager,
    optimizely_config: OptimizelyConfigCache,
}

impl Client {
    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Whether the client has a config (a datafile was given, or one was fetched).
    /// A ready client stays ready, even after [`close`](Self::close).
    pub fn is_ready(&self) -> bool {
        self.inner.store.readiness().is_ready()
    }

    /// Blocks the calling thread until the client is ready, it is closed, or `timeout` expires.
    /// Do not call it on an async executor thread; use [`ready`](Self::ready) there.
    ///
    /// # Errors
    ///
    /// [`ReadyError::Timeout`] or [`ReadyError::Closed`], both carrying the reason the last
    /// datafile fetch failed, if one did.
    pub fn wait_until_ready(&self, timeout: Duration) -> Result<(), ReadyError> {
        self.inner.store.readiness().wait(timeout)
    }

    /// Resolves when the client is ready, it is closed, or `timeout` expires; the async
    /// counterpart of [`wait_until_ready`](Self::wait_until_ready).
    ///
    /// The future works with any executor and never blocks the thread polling it. While it is
    /// pending, a small helper thread sleeps until its deadline to wake it on timeout.
    ///
    /// ```no_run
    /// # async fn run(client: optimizely_fx::Client) -> Result<(), optimizely_fx::ReadyError> {
    /// client.ready(std::time::Duration::from_secs(5)).await?;
    /// # Ok(()) }
    /// ```
    pub fn ready(&self, timeout: Duration) -> ReadyFuture {
        self.inner.store.readiness().wait_async(timeout)
    }

    /// A snapshot of the current config, or `None` before the client is ready. The snapshot
    /// does not change when a newer datafile arrives; call again to see the newest one.
    pub fn config(&self) -> Option<Arc<ProjectConfig>> {
        self.inner.store.current()
    }

    /// Calls `listener` each time a datafile with a new revision becomes the current config,
    /// including the first one fetched (but not a datafile given to the builder).
    ///
    /// Listeners run on the datafile poller thread, one after the other; keep them short. A
    /// panicking listener is logged and does not affect the others. A listener that holds a
    /// clone of this client keeps it alive until [`close`](Self::close) (which removes all
    /// listeners).
    pub fn add_config_update_listener(
        &self,
        listener: impl Fn(&ConfigUpdate) + Send + Sync + 'static,
    ) -> ListenerId {
        self.inner
            .store
            .notifications()
            .add_config_update_listener(listener)
    }

    /// Removes a listener; returns whether it was registered.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        self.inner.store.notifications().remove_listener(id)
    }

    /// Removes every listener of one notification type.
    pub fn clear_listeners(&self, kind: NotificationType) {
        self.inner.store.notifications().clear_listeners(kind);
    }

    /// Removes every listener.
    pub fn clear_all_listeners(&self) {
        self.inner.store.notifications().clear_all_listeners();
    }

    /// Closes the client: sends every queued ODP event and impression/conversion event at
    /// once, stops the datafile poller, removes all listeners (after the last event batches
    /// were announced to log-event listeners) and releases anyone waiting for readiness. Waits at most
    /// `timeout` in all, then reports what was left undelivered. Calling it again is harmless.
    /// The last config stays readable through [`config`](Self::config); events sent after
    /// close are refused.
    ///
    /// The poller only outlives `timeout` while a datafile request is in flight; it then ends
    /// by itself when the request completes or times out, without changing anything.
    pub fn close(&self, timeout: Duration) -> CloseReport {
        let report = self.inner.close(timeout);
        if !report.poller_stopped {
            log::debug!("Datafile poller still finishing a request after close");
        }
        report
    }

    /// The ODP event manager (see `client_odp.rs`); `None` when ODP is disabled.
    pub(crate) fn odp_events(&self) -> Option<&Arc<OdpEventManager>> {
        self.inner.odp_events.as_ref()
    }

    /// Default decide options and the user profile service (see `client_decide.rs`).
    pub(crate) fn decide_settings(&self) -> &DecideSettings {
        &self.inner.decide
    }

    /// The cached `OptimizelyConfig` view (see `client_optimizely_config.rs`).
    pub(crate) fn optimizely_config_cache(&self) -> &OptimizelyConfigCache {
        &self.inner.optimizely_config
    }

    /// The impression/conversion event manager (see `client_events.rs`).
    pub(crate) fn events(&self) -> &EventManager {
        &self.inner.events
    }

    /// The config store shared with the poller.
    pub(crate) fn store(&self) -> &ConfigStore {
        &self.inner.store
    }

    /// The ODP segments manager (see `client_segments.rs`).
    pub(crate) fn segments(&self) -> &Arc<SegmentsManager> {
        &self.inner.segments
    }

    /// Registers an SDK component to follow config changes; see
    /// [`ConfigStore::on_config_change`]. Integration point for the ODP managers.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn on_config_change(
        &self,
        hook: impl Fn(Option<&Arc<ProjectConfig>>, &Arc<ProjectConfig>) + Send + Sync + 'static,
    ) {
        self.inner.store.on_config_change(hook);
    }
}

impl ClientInner {
    fn close(&self, timeout: Duration) -> CloseReport {
        // A timeout too large for an Instant (e.g. Duration::MAX) means "a very long time".
        let deadline = deadline_after(Instant::now(), timeout);
        self.store.close();
        // Both queues flush at once; each close then waits within the one deadline.
        self.events.request_flush();
        let odp_events = self
            .odp_events
            .as_ref()
            .map(|manager| manager.close(remaining(deadline)))
            .unwrap_or_default();
        let events = self.events.close(remaining(deadline));
        // After the last batches were announced to log-event listeners.
        self.store.notifications().clear_all_listeners();
        let poller_stopped = self
            .poller
            .as_ref()
            .is_none_or(|poller| poller.stop(remaining(deadline)));
        CloseReport {
            odp_events,
            events,
            poller_stopped,
        }
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        let report = self.close(DROP_CLOSE_TIMEOUT);
        if report.odp_events.undelivered > 0 {
            log::warn!(
                "{} ODP events were not delivered before the client was dropped",
                report.odp_events.undelivered
            );
        }
        if report.events.undelivered > 0 {
            log::warn!(
                "{} impression/conversion events were not delivered before the client was dropped",
                report.events.undelivered
            );
        }
    }
}

/// What [`Client::close`] left behind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloseReport {
    /// ODP event delivery at close: undelivered events and final counters.
    pub odp_events: QueueReport,
    /// Impression/conversion event delivery at close: undelivered events and final counters.
    pub events: QueueReport,
    /// Whether the datafile poller ended within the timeout (`true` without a poller).
    pub poller_stopped: bool,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = self.config();
        f.debug_struct("Client")
            .field("sdk_key", &self.inner.sdk_key)
            .field("revision", &config.as_ref().map(|c| c.revision()))
            .field("ready", &self.is_ready())
            .field("closed", &self.inner.store.is_closed())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    const DATAFILE: &str = r#"{"version":"4","revision":"5","projectId":"p","accountId":"a","experiments":[],"featureFlags":[],"events":[],"audiences":[],"attributes":[],"groups":[],"rollouts":[]}"#;

    #[test]
    fn a_config_change_hook_gets_the_static_datafile_at_once() {
        let client = Client::builder().datafile(DATAFILE).build().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        client.on_config_change(move |previous, current| {
            log.lock()
                .unwrap()
                .push((previous.is_some(), current.revision().to_owned()));
        });
        assert_eq!(*seen.lock().unwrap(), [(false, "5".to_owned())]);
    }
}
