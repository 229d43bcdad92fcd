//! Fetching a user's qualified segments from ODP (GraphQL), with a cache.
//!
//! [`SegmentsManager`] does one fetch given a user id, options and a config snapshot, so the
//! client and user-context methods are thin wrappers around it. The order of checks: a config
//! (else `SdkNotReady`), ODP enabled, ODP integrated, segments to check (none: `Ok([])`, no
//! request, cache untouched), `RESET_CACHE`, lookup (unless `IGNORE_CACHE` or `RESET_CACHE`),
//! request, save (unless `IGNORE_CACHE`). A change of the datafile's ODP settings resets the
//! cache.
//!
//! With ODP disabled or not integrated nothing happens beyond returning the error: no thread,
//! no request, no log above DEBUG.

mod cache;
mod error;
mod future;
mod options;
mod query;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use optimizely_fx_core::ProjectConfig;
use optimizely_fx_core::odp::OdpIntegration;

pub use cache::{LruSegmentsCache, SegmentsCache};
pub use error::{FetchSegmentsError, SegmentsFetchFailure};
pub use future::FetchSegmentsFuture;
pub(crate) use options::SegmentsSettings;
pub use options::{
    DEFAULT_SEGMENTS_CACHE_SIZE, DEFAULT_SEGMENTS_CACHE_TIMEOUT, DEFAULT_SEGMENTS_REQUEST_TIMEOUT,
    ParseSegmentOptionError, SegmentOption,
};

use cache::SegmentsStore;
use future::FetchThreads;
use options::CacheUse;
use query::query_segments;

use crate::http::HttpTransport;

/// The segments half of ODP for one client.
pub(crate) struct SegmentsManager {
    enabled: bool,
    request_timeout: Duration,
    store: SegmentsStore,
    transport: Arc<dyn HttpTransport>,
    /// ODP settings of the current config, as last reported by the config-change hook; a
    /// fetch made with other settings does not save its answer.
    current_odp: ArcSwapOption<OdpIntegration>,
    threads: FetchThreads,
}

/// Outcome of the steps before the request.
enum Step {
    Answered(Arc<[String]>),
    NeedsQuery,
}

impl SegmentsManager {
    /// A manager with these settings, sending its requests through `transport`.
    pub(crate) fn new(
        settings: &SegmentsSettings,
        odp_enabled: bool,
        transport: Arc<dyn HttpTransport>,
    ) -> Self {
        let store = match &settings.custom_cache {
            Some(cache) => SegmentsStore::custom(Arc::clone(cache)),
            None => SegmentsStore::default_lru(settings.cache_size, settings.cache_timeout),
        };
        SegmentsManager {
            enabled: odp_enabled,
            request_timeout: settings.effective_request_timeout(),
            store,
            transport,
            current_odp: ArcSwapOption::empty(),
            threads: FetchThreads::new(),
        }
    }

    /// Whether this manager should follow config changes (it stays inert when ODP is
    /// disabled).
    pub(crate) fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Blocking fetch of `user_id`'s qualified segments, with `config` the caller's snapshot
    /// of the current config (`None` before the client is ready).
    pub(crate) fn fetch(
        &self,
        user_id: &str,
        options: &[SegmentOption],
        config: Option<&ProjectConfig>,
    ) -> Result<Arc<[String]>, FetchSegmentsError> {
        let cache_use = CacheUse::of(options);
        let odp = self.integration(config)?;
        match self.before_query(odp, user_id, cache_use) {
            Step::Answered(segments) => Ok(segments),
            Step::NeedsQuery => self.query(odp, user_id, cache_use),
        }
    }

    /// Async fetch: checks and the built-in cache are served at once; the request (and any
    /// access to a custom cache) runs on a short-lived worker thread.
    pub(crate) fn fetch_async(
        self: &Arc<Self>,
        user_id: &str,
        options: &[SegmentOption],
        config: Option<Arc<ProjectConfig>>,
    ) -> FetchSegmentsFuture {
        let cache_use = CacheUse::of(options);
        let odp = match self.integration(config.as_deref()) {
            Ok(odp) => odp,
            Err(error) => return FetchSegmentsFuture::ready(Err(error)),
        };
        let cache_done = self.store.is_in_memory();
        if odp.segments_to_check.is_empty() {
            return FetchSegmentsFuture::ready(Ok(no_segments_to_check()));
        }
        if cache_done && let Some(segments) = self.cached(user_id, cache_use) {
            return FetchSegmentsFuture::ready(Ok(segments));
        }
        let (manager, user_id) = (Arc::clone(self), user_id.to_owned());
        let job = move || -> Result<Arc<[String]>, FetchSegmentsError> {
            // The integration was checked above; the snapshot cannot have lost it.
            let odp = manager.integration(config.as_deref())?;
            if !cache_done && let Some(segments) = manager.cached(&user_id, cache_use) {
                return Ok(segments);
            }
            manager.query(odp, &user_id, cache_use)
        };
        FetchSegmentsFuture::queued(self, Box::new(job))
    }

    /// Follows a new current config: on a change of the ODP public key, host or segments to
    /// check (including ODP appearing or going away), the cache is reset.
    pub(crate) fn on_config_change(
        &self,
        previous: Option<&ProjectConfig>,
        current: &ProjectConfig,
    ) {
        let odp = current.odp();
        let Some(previous) = previous else {
            // The first config: a new manager has no ODP settings to replace.
            if let Some(odp) = odp {
                self.current_odp.store(Some(Arc::new(odp.clone())));
            }
            return;
        };
        self.current_odp.store(odp.cloned().map(Arc::new));
        if !same_odp_settings(previous.odp(), odp) {
            log::debug!("ODP settings changed with the new datafile; segments cache reset");
            self.store.reset();
        }
    }

    fn integration<'c>(
        &self,
        config: Option<&'c ProjectConfig>,
    ) -> Result<&'c OdpIntegration, FetchSegmentsError> {
        let Some(config) = config else {
            log::error!("Audience segments fetch failed: SDK not ready (no datafile yet)");
            return Err(FetchSegmentsError::SdkNotReady);
        };
        if !self.enabled {
            log::debug!("Audience segments fetch refused: ODP is not enabled");
            return Err(FetchSegmentsError::OdpNotEnabled);
        }
        config.odp().ok_or_else(|| {
            log::debug!("Audience segments fetch refused: ODP is not integrated");
            FetchSegmentsError::OdpNotIntegrated
        })
    }

    fn before_query(&self, odp: &OdpIntegration, user_id: &str, cache_use: CacheUse) -> Step {
        if odp.segments_to_check.is_empty() {
            return Step::Answered(no_segments_to_check());
        }
        match self.cached(user_id, cache_use) {
            Some(segments) => Step::Answered(segments),
            None => Step::NeedsQuery,
        }
    }

    /// Applies `RESET_CACHE` and looks the user up unless the options skip the lookup.
    fn cached(&self, user_id: &str, cache_use: CacheUse) -> Option<Arc<[String]>> {
        if cache_use.reset {
            self.store.reset();
        }
        if !cache_use.looks_up() {
            return None;
        }
        let found = self.store.lookup(user_id);
        match &found {
            Some(_) => log::debug!("ODP cache hit. Returning segments from cache."),
            None => log::debug!("ODP cache miss."),
        }
        found
    }

    fn query(
        &self,
        odp: &OdpIntegration,
        user_id: &str,
        cache_use: CacheUse,
    ) -> Result<Arc<[String]>, FetchSegmentsError> {
        let resets_seen = self.store.reset_count();
        let still_current = self
            .current_odp
            .load()
            .as_deref()
            .is_some_and(|current| same_odp_settings(Some(current), Some(odp)));
        log::debug!("Making a call to ODP server.");
        match query_segments(&*self.transport, odp, user_id, self.request_timeout) {
            Ok(segments) => {
                let segments: Arc<[String]> = segments.into();
                if cache_use.saves() && still_current {
                    self.store.save(resets_seen, user_id, &segments);
                }
                Ok(segments)
            }
            Err(failure) => {
                let level = match failure {
                    SegmentsFetchFailure::InvalidIdentifier => log::Level::Warn,
                    _ => log::Level::Error,
                };
                let error = FetchSegmentsError::FetchFailed(failure);
                log::log!(level, "{error}");
                Err(error)
            }
        }
    }
}

fn no_segments_to_check() -> Arc<[String]> {
    log::debug!("No segments are used in the project. Returning an empty list.");
    Arc::new([])
}

/// Whether two ODP settings would give the same answers: same public key, host and segments
/// to check (the pixel URL plays no part in fetching).
fn same_odp_settings(a: Option<&OdpIntegration>, b: Option<&OdpIntegration>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.public_key == b.public_key
                && a.host == b.host
                && a.segments_to_check == b.segments_to_check
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::UreqTransport;

    fn config(revision: &str, integrations: &str) -> ProjectConfig {
        let json = format!(
            r#"{{"version":"4","revision":"{revision}","projectId":"p","accountId":"a","experiments":[],"featureFlags":[],"events":[],"audiences":[],"attributes":[],"groups":[],"rollouts":[],"integrations":[{integrations}]}}"#
        );
        ProjectConfig::parse_owned(json).unwrap()
    }

    fn odp(host: &str, pixel: &str) -> String {
        format!(r#"{{"key":"odp","host":"{host}","publicKey":"pk","pixelUrl":"{pixel}"}}"#)
    }

    fn manager() -> SegmentsManager {
        let transport = Arc::new(UreqTransport::default());
        SegmentsManager::new(&SegmentsSettings::default(), true, transport)
    }

    fn cache_one_user(manager: &SegmentsManager) {
        let segments: Arc<[String]> = Arc::from(vec!["s".to_owned()]);
        manager
            .store
            .save(manager.store.reset_count(), "u", &segments);
    }

    fn is_cached(manager: &SegmentsManager) -> bool {
        manager.store.lookup("u").is_some()
    }

    #[test]
    fn only_a_change_of_key_host_or_segments_resets_the_cache() {
        let manager = manager();
        let first = config("1", &odp("http://a", "http://p1"));
        cache_one_user(&manager);
        manager.on_config_change(None, &first);
        assert!(is_cached(&manager), "the first config keeps a shared cache");

        let pixel_only = config("2", &odp("http://a", "http://p2"));
        manager.on_config_change(Some(&first), &pixel_only);
        assert!(is_cached(&manager));

        let new_host = config("3", &odp("http://b", "http://p2"));
        manager.on_config_change(Some(&pixel_only), &new_host);
        assert!(!is_cached(&manager));

        cache_one_user(&manager);
        let no_odp = config("4", "");
        manager.on_config_change(Some(&new_host), &no_odp);
        assert!(!is_cached(&manager), "de-integration resets too");
        assert!(manager.current_odp.load().is_none());
    }
}
