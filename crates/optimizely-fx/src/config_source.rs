//! Where a client's config comes from: the shared config store and the background datafile
//! poller that keeps it up to date.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwapOption, Guard};
use optimizely_fx_core::ProjectConfig;

use crate::error::FetchError;
use crate::http::{HttpError, HttpRequest, HttpResponse, HttpTransport};
use crate::notification::{ConfigUpdate, NotificationCenter, panic_message};
use crate::one_shot::{Awaited, NoValue, Reply, one_shot};
use crate::readiness::Readiness;

/// Name of the datafile poller thread.
pub(crate) const POLLER_THREAD_NAME: &str = "optimizely-fx-datafile";
/// Datafile URL used when no access token is configured.
pub(crate) const DEFAULT_URL_TEMPLATE: &str = "https://cdn.optimizely.com/datafiles/{sdk_key}.json";
/// Datafile URL used with a datafile access token.
pub(crate) const DEFAULT_AUTH_URL_TEMPLATE: &str =
    "https://config.optimizely.com/datafiles/auth/{sdk_key}.json";
/// First delay before retrying after a failed fetch; it doubles on each further failure.
const FIRST_RETRY_DELAY: Duration = Duration::from_secs(1);

/// A datafile access token. Its `Debug` output is redacted so it cannot leak through logs.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct AccessToken(String);

impl AccessToken {
    pub(crate) fn new(token: String) -> Self {
        AccessToken(token)
    }

    fn authorization_value(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Fills a URL template's `{sdk_key}` or `%s` placeholder with the SDK key.
pub(crate) fn datafile_url(template: &str, sdk_key: &str) -> String {
    template
        .replace("{sdk_key}", sdk_key)
        .replace("%s", sdk_key)
}

/// How often the poller fetches the datafile once it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PollingSchedule {
    /// Fetch again after this long.
    Every(Duration),
    /// Stop after the first successful fetch.
    UntilFirstSuccess,
}

impl PollingSchedule {
    /// The longest wait between two attempts after failures.
    fn max_retry_delay(self, default_interval: Duration) -> Duration {
        match self {
            PollingSchedule::Every(interval) => interval,
            PollingSchedule::UntilFirstSuccess => default_interval,
        }
    }
}

/// Everything the poller needs to fetch a datafile.
#[derive(Debug, Clone)]
pub(crate) struct PollerSettings {
    pub(crate) url: String,
    pub(crate) access_token: Option<AccessToken>,
    pub(crate) schedule: PollingSchedule,
    /// Cap on the retry delay when `schedule` is [`PollingSchedule::UntilFirstSuccess`].
    pub(crate) default_interval: Duration,
    pub(crate) request_timeout: Duration,
}

/// A component's callback for config changes: `(previous, current)`.
type ConfigHookFn = dyn Fn(Option<&Arc<ProjectConfig>>, &Arc<ProjectConfig>) + Send + Sync;
type ConfigHook = Box<ConfigHookFn>;

/// What [`ConfigStore::update`] did with a datafile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpdateOutcome {
    /// The datafile became the current config.
    Updated,
    /// It has the revision of the current config; nothing changed.
    SameRevision,
    /// The client is closed; nothing changed.
    Closed,
    /// The store holds the one config of a client without a poller; nothing changed.
    Fixed,
}

/// The current config borrowed for the length of one call (see
/// [`ConfigStore::borrow_current`]).
pub(crate) enum CurrentConfig<'a> {
    /// The config of a client without a poller, which never changes.
    Fixed(&'a Arc<ProjectConfig>),
    /// A snapshot of the config a poller keeps up to date.
    Swapped(Guard<Option<Arc<ProjectConfig>>>),
}

impl CurrentConfig<'_> {
    /// The config, `None` before the first one arrived.
    #[inline]
    pub(crate) fn get(&self) -> Option<&Arc<ProjectConfig>> {
        match self {
            CurrentConfig::Fixed(config) => Some(config),
            CurrentConfig::Swapped(guard) => guard.as_ref(),
        }
    }
}

/// The current config of a client and everything that reacts to it changing.
pub(crate) struct ConfigStore {
    /// The current config of a client with a poller.
    current: ArcSwapOption<ProjectConfig>,
    /// The config of a client without a poller, which never changes (`current` stays empty):
    /// it is read with one atomic load instead of the arc-swap protocol.
    fixed: OnceLock<Arc<ProjectConfig>>,
    /// SDK components following config changes. The lock also serialises updates, so each hook
    /// sees every change exactly once and in order.
    hooks: Mutex<Vec<ConfigHook>>,
    readiness: Arc<Readiness>,
    notifications: NotificationCenter,
    closed: AtomicBool,
}

impl ConfigStore {
    pub(crate) fn new() -> Self {
        ConfigStore {
            current: ArcSwapOption::empty(),
            fixed: OnceLock::new(),
            hooks: Mutex::new(Vec::new()),
            readiness: Arc::new(Readiness::new()),
            notifications: NotificationCenter::new(),
            closed: AtomicBool::new(false),
        }
    }

    pub(crate) fn current(&self) -> Option<Arc<ProjectConfig>> {
        match self.fixed.get() {
            Some(config) => Some(Arc::clone(config)),
            None => self.current.load_full(),
        }
    }

    /// The current config, borrowed for a short call: no reference-count traffic in the common
    /// case. Do not keep it around (use [`current`](Self::current) for that).
    #[inline]
    pub(crate) fn borrow_current(&self) -> CurrentConfig<'_> {
        match self.fixed.get() {
            Some(config) => CurrentConfig::Fixed(config),
            None => CurrentConfig::Swapped(self.current.load()),
        }
    }

    pub(crate) fn readiness(&self) -> &Arc<Readiness> {
        &self.readiness
    }

    pub(crate) fn notifications(&self) -> &NotificationCenter {
        &self.notifications
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Marks the store closed: later updates are ignored and pending waiters are released.
    pub(crate) fn close(&self) {
        // Taking the hooks lock waits for an update in progress to finish its hooks.
        let _updates = self.hooks();
        self.closed.store(true, Ordering::Release);
        self.readiness.mark_closed();
    }

    fn hooks(&self) -> MutexGuard<'_, Vec<ConfigHook>> {
        self.hooks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers `hook` to be called with `(previous, current)` on every config change, before
    /// user listeners. If there is a config already, `hook` is called at once with
    /// `(None, current)`, so it never misses the config in use. Hooks run under an internal lock:
    /// they must be quick and must not call back into this store.
    #[cfg_attr(not(test), allow(dead_code))] // integration point for the ODP managers
    pub(crate) fn on_config_change(
        &self,
        hook: impl Fn(Option<&Arc<ProjectConfig>>, &Arc<ProjectConfig>) + Send + Sync + 'static,
    ) {
        let mut hooks = self.hooks();
        if let Some(current) = self.current() {
            run_hook(&hook, None, &current);
        }
        hooks.push(Box::new(hook));
    }

    /// Makes `config` current unless it has the current revision; on a change, runs the
    /// internal hooks, makes it current, notifies config-update listeners, then marks the
    /// client ready. The hooks run first so that whoever sees the new revision also sees
    /// what follows from it (the ODP settings, a reset segments cache).
    pub(crate) fn update(&self, config: ProjectConfig) -> UpdateOutcome {
        let hooks = self.hooks();
        if self.is_closed() {
            return UpdateOutcome::Closed;
        }
        if self.fixed.get().is_some() {
            return UpdateOutcome::Fixed;
        }
        let previous = self.current.load_full();
        if previous
            .as_ref()
            .is_some_and(|previous| previous.revision() == config.revision())
        {
            return UpdateOutcome::SameRevision;
        }
        log_datafile_warnings(&config);
        let config = Arc::new(config);
        for hook in hooks.iter() {
            run_hook(hook, previous.as_ref(), &config);
        }
        self.current.store(Some(Arc::clone(&config)));
        drop(hooks);
        log::info!(
            "Updated Optimizely config to revision {} (project id {})",
            config.revision(),
            config.project_id()
        );
        self.notifications.notify_config_update(&ConfigUpdate {
            config,
            previous_revision: previous.map(|previous| previous.revision().to_owned()),
        });
        // Only now: whoever waited for readiness and then adds a listener has not missed an
        // announcement, and is not told about the first config a second time.
        self.readiness.mark_ready();
        UpdateOutcome::Updated
    }

    /// Sets the config given at build time: no listener can be registered yet.
    pub(crate) fn set_initial(&self, config: ProjectConfig) {
        log_datafile_warnings(&config);
        self.current.store(Some(Arc::new(config)));
        self.readiness.mark_ready();
    }

    /// Sets the config given at build time to a client without a poller: the only config the
    /// store will ever hold ([`update`](Self::update) then changes nothing).
    pub(crate) fn set_fixed(&self, config: ProjectConfig) {
        log_datafile_warnings(&config);
        // Cannot fail: the builder calls this once, on a new store.
        let _ = self.fixed.set(Arc::new(config));
        self.readiness.mark_ready();
    }
}

fn log_datafile_warnings(config: &ProjectConfig) {
    for warning in config.warnings() {
        log::warn!("Datafile revision {}: {warning}", config.revision());
    }
}

fn run_hook(
    hook: &ConfigHookFn,
    previous: Option<&Arc<ProjectConfig>>,
    current: &Arc<ProjectConfig>,
) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| hook(previous, current))) {
        log::error!(
            "Config change handler panicked: {}",
            panic_message(panic.as_ref())
        );
    }
}

impl fmt::Debug for ConfigStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = self.current();
        f.debug_struct("ConfigStore")
            .field("revision", &current.as_ref().map(|c| c.revision()))
            .field("ready", &self.readiness.is_ready())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// Handle on the running poller thread.
#[derive(Debug)]
pub(crate) struct Poller {
    /// Dropping this wakes the poller and tells it to stop.
    stop: Mutex<Option<Reply<()>>>,
    /// Answered "gone" when the poller thread has finished.
    finished: Awaited<()>,
    thread: Mutex<Option<JoinHandle<()>>>,
    thread_id: ThreadId,
}

impl Poller {
    pub(crate) fn spawn(
        settings: PollerSettings,
        transport: Arc<dyn HttpTransport>,
        store: Arc<ConfigStore>,
    ) -> std::io::Result<Poller> {
        let (stop_tx, stop_rx) = one_shot::<()>();
        let (finished_tx, finished_rx) = one_shot::<()>();
        let worker = PollerWorker {
            settings,
            transport,
            store,
            stop: stop_rx,
            last_modified: None,
        };
        let thread = thread::Builder::new()
            .name(POLLER_THREAD_NAME.to_owned())
            .spawn(move || {
                worker.run();
                drop(finished_tx);
            })?;
        Ok(Poller {
            stop: Mutex::new(Some(stop_tx)),
            finished: finished_rx,
            thread_id: thread.thread().id(),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Tells the poller to stop and waits up to `timeout` for its thread to end. Returns whether
    /// it ended. The poller can only be slower than that while a request is in flight; it then
    /// ends when the request completes or times out, without touching the config.
    pub(crate) fn stop(&self, timeout: Duration) -> bool {
        drop(
            self.stop
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        if thread::current().id() == self.thread_id {
            // Called from a listener on the poller thread itself: it stops once the listener returns.
            return false;
        }
        let finished = self.finished.wait_for(timeout) == Err(NoValue::Gone);
        if finished {
            let handle = self
                .thread
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(handle) = handle {
                // The thread has signalled its end, so this returns at once.
                let _ = handle.join();
            }
        }
        finished
    }
}

/// State owned by the poller thread.
struct PollerWorker {
    settings: PollerSettings,
    transport: Arc<dyn HttpTransport>,
    store: Arc<ConfigStore>,
    stop: Awaited<()>,
    /// `Last-Modified` of the datafile in use, sent back as `If-Modified-Since`.
    last_modified: Option<String>,
}

impl PollerWorker {
    fn run(mut self) {
        let mut failures: u32 = 0;
        loop {
            if self.store.is_closed() {
                return;
            }
            let delay = match self.poll_once() {
                Ok(()) => {
                    failures = 0;
                    match self.settings.schedule {
                        PollingSchedule::Every(interval) => interval,
                        PollingSchedule::UntilFirstSuccess => return,
                    }
                }
                Err(failure) => {
                    failures = failures.saturating_add(1);
                    let delay = self.retry_delay(failures);
                    self.report_failure(failure, delay);
                    delay
                }
            };
            if self.stop_requested_within(delay) {
                return;
            }
        }
    }

    /// Waits up to `delay`; true when the client asked the poller to stop meanwhile.
    fn stop_requested_within(&self, delay: Duration) -> bool {
        self.stop.wait_for(delay) != Err(NoValue::TimedOut)
    }

    fn retry_delay(&self, failures: u32) -> Duration {
        let cap = self
            .settings
            .schedule
            .max_retry_delay(self.settings.default_interval);
        retry_delay(failures, cap)
    }

    fn poll_once(&mut self) -> Result<(), FetchError> {
        let started = Instant::now();
        let response = self.send(&self.request())?;
        log::debug!(
            "Datafile request to {} answered HTTP {} in {:?}",
            self.settings.url,
            response.status,
            started.elapsed()
        );
        match response.status {
            // Only a conditional request may be answered "not modified".
            304 if self.last_modified.is_some() => Ok(()),
            200..=299 => self.apply(response),
            status => Err(FetchError::Status { status }),
        }
    }

    /// Sends through the transport; a panicking (user-supplied) transport counts as a failed
    /// request instead of ending the poller.
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, FetchError> {
        let outcome = catch_unwind(AssertUnwindSafe(|| self.transport.send(request)));
        match outcome {
            Ok(result) => result.map_err(FetchError::Transport),
            Err(panic) => Err(FetchError::Transport(HttpError::Transport(format!(
                "the HTTP transport panicked: {}",
                panic_message(panic.as_ref())
            )))),
        }
    }

    fn request(&self) -> HttpRequest {
        let mut request =
            HttpRequest::get(self.settings.url.clone()).timeout(self.settings.request_timeout);
        if let Some(token) = &self.settings.access_token {
            request = request.secret_header("Authorization", token.authorization_value());
        }
        if let Some(last_modified) = &self.last_modified {
            request = request.header("If-Modified-Since", last_modified.as_str());
        }
        request
    }

    fn apply(&mut self, response: HttpResponse) -> Result<(), FetchError> {
        let last_modified = response.header("Last-Modified").map(str::to_owned);
        let json = String::from_utf8(response.body).map_err(|_| FetchError::NotUtf8)?;
        let config = ProjectConfig::parse_owned(json).map_err(FetchError::InvalidDatafile)?;
        let revision = config.revision().to_owned();
        if self.store.update(config) == UpdateOutcome::SameRevision {
            log::debug!("Fetched datafile has the current revision {revision}; nothing to do");
        }
        self.last_modified = last_modified;
        Ok(())
    }

    fn report_failure(&self, failure: FetchError, retry_in: Duration) {
        if self.store.is_closed() {
            return;
        }
        let url = &self.settings.url;
        match &failure {
            FetchError::InvalidDatafile(_) | FetchError::NotUtf8 => log::error!(
                "Datafile from {url} rejected, keeping the current config: {failure}; retrying in {retry_in:?}"
            ),
            _ => log::warn!(
                "Datafile fetch from {url} failed, keeping the current config: {failure}; retrying in {retry_in:?}"
            ),
        }
        self.store.readiness().record_failure(failure);
    }
}

/// Delay before the next attempt after `failures` consecutive failed fetches (at least one):
/// 1 s, doubling with each failure, never more than `cap`.
fn retry_delay(failures: u32, cap: Duration) -> Duration {
    let doublings = failures.saturating_sub(1);
    let factor = 1u32.checked_shl(doublings).unwrap_or(u32::MAX);
    FIRST_RETRY_DELAY.saturating_mul(factor).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    const DATAFILE_REV_1: &str = r#"{"version":"4","revision":"1","projectId":"p","accountId":"a","experiments":[],"featureFlags":[],"events":[],"audiences":[],"attributes":[],"groups":[],"rollouts":[]}"#;

    fn config(revision: &str) -> ProjectConfig {
        ProjectConfig::parse(
            &DATAFILE_REV_1.replace(r#""revision":"1""#, &format!(r#""revision":"{revision}""#)),
        )
        .expect("test datafile is valid")
    }

    #[test]
    fn retry_delay_doubles_from_one_second_up_to_the_cap() {
        let cap = Duration::from_secs(300);
        let delays: Vec<u64> = (1..=11).map(|n| retry_delay(n, cap).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(retry_delay(u32::MAX, cap), cap);
        assert_eq!(
            retry_delay(3, Duration::from_millis(50)),
            Duration::from_millis(50)
        );
    }

    #[test]
    fn datafile_url_fills_either_placeholder() {
        assert_eq!(
            datafile_url(DEFAULT_URL_TEMPLATE, "k1"),
            "https://cdn.optimizely.com/datafiles/k1.json"
        );
        assert_eq!(
            datafile_url("http://127.0.0.1:1/d/%s.json", "k2"),
            "http://127.0.0.1:1/d/k2.json"
        );
    }

    #[test]
    fn access_token_debug_is_redacted() {
        let token = AccessToken::new("tok-123".to_owned());
        assert_eq!(format!("{token:?}"), "<redacted>");
    }

    #[test]
    fn config_change_hooks_see_every_change_in_order_starting_with_the_current_config() {
        let store = ConfigStore::new();
        store.set_initial(config("1"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        store.on_config_change(move |previous, current| {
            let previous = previous.map(|p| p.revision().to_owned());
            log.lock()
                .unwrap()
                .push((previous, current.revision().to_owned()));
        });
        assert_eq!(store.update(config("2")), UpdateOutcome::Updated);
        assert_eq!(store.update(config("2")), UpdateOutcome::SameRevision);
        assert_eq!(store.update(config("3")), UpdateOutcome::Updated);
        store.close();
        assert_eq!(store.update(config("4")), UpdateOutcome::Closed);
        let seen = seen.lock().unwrap().clone();
        let expected = [(None, "1"), (Some("1"), "2"), (Some("2"), "3")]
            .map(|(p, c)| (p.map(str::to_owned), c.to_owned()));
        assert_eq!(seen, expected);
        assert_eq!(store.current().unwrap().revision(), "3");
    }

    #[test]
    fn whoever_sees_a_new_revision_sees_its_hooks_done() {
        let store = Arc::new(ConfigStore::new());
        store.set_initial(config("1"));
        let hooked = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&hooked);
        store.on_config_change(move |_, current| {
            // A slow hook: a reader polling the store would catch it half-way if the
            // config were published before its hooks ran.
            thread::sleep(Duration::from_millis(50));
            record.lock().unwrap().push(current.revision().to_owned());
        });
        let reader = {
            let store = Arc::clone(&store);
            let hooked = Arc::clone(&hooked);
            thread::spawn(move || {
                while store
                    .current()
                    .is_none_or(|config| config.revision() != "2")
                {
                    thread::yield_now();
                }
                hooked.lock().unwrap().clone()
            })
        };
        assert_eq!(store.update(config("2")), UpdateOutcome::Updated);
        let seen_by_reader = reader.join().unwrap();
        assert_eq!(seen_by_reader, ["1", "2"]);
    }

    #[test]
    fn a_hook_registered_before_any_config_waits_for_the_first_one() {
        let store = ConfigStore::new();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&calls);
        store.on_config_change(move |previous, current| {
            log.lock()
                .unwrap()
                .push((previous.is_some(), current.revision().to_owned()));
        });
        assert!(calls.lock().unwrap().is_empty());
        store.update(config("7"));
        assert_eq!(*calls.lock().unwrap(), [(false, "7".to_owned())]);
        assert!(store.readiness().is_ready());
    }

    #[test]
    fn a_fixed_config_is_never_replaced() {
        let store = ConfigStore::new();
        store.set_fixed(config("1"));
        assert!(store.readiness().is_ready());
        assert_eq!(store.update(config("2")), UpdateOutcome::Fixed);
        assert_eq!(store.current().unwrap().revision(), "1");
        let borrowed = store.borrow_current();
        assert_eq!(borrowed.get().map(|c| c.revision()), Some("1"));
    }

    #[test]
    fn a_borrowed_config_follows_updates() {
        let store = ConfigStore::new();
        assert!(store.borrow_current().get().is_none());
        store.set_initial(config("1"));
        assert_eq!(store.borrow_current().get().unwrap().revision(), "1");
        assert_eq!(store.update(config("2")), UpdateOutcome::Updated);
        assert_eq!(store.borrow_current().get().unwrap().revision(), "2");
    }

    #[test]
    fn a_panicking_hook_does_not_stop_the_update() {
        let store = ConfigStore::new();
        store.on_config_change(|_, _| panic!("hook failure"));
        assert_eq!(store.update(config("1")), UpdateOutcome::Updated);
        assert_eq!(store.current().unwrap().revision(), "1");
    }
}
