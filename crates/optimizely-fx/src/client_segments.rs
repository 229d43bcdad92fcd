//! Real-Time Segments on the [`Client`]: fetching a user's qualified segments from ODP, and
//! the builder settings of the segments cache and requests.

use std::sync::Arc;
use std::time::Duration;

use crate::client::{Client, ClientBuilder};
use crate::config_source::ConfigStore;
use crate::http::HttpTransport;
use crate::odp::segments::{
    FetchSegmentsError, FetchSegmentsFuture, SegmentOption, SegmentsCache, SegmentsManager,
};

impl ClientBuilder {
    /// Most users whose segments the built-in cache keeps; the least recently used are dropped
    /// first. 0 turns caching off. Default: 10,000
    /// ([`DEFAULT_SEGMENTS_CACHE_SIZE`](crate::DEFAULT_SEGMENTS_CACHE_SIZE)).
    /// Unused with a [custom cache](Self::segments_cache).
    pub fn segments_cache_size(mut self, size: usize) -> Self {
        self.segments.cache_size = size;
        self
    }

    /// How long cached segments stay valid after they were fetched; looking them up does not
    /// extend it. [`Duration::ZERO`]: they never expire. Default: 600 seconds
    /// ([`DEFAULT_SEGMENTS_CACHE_TIMEOUT`](crate::DEFAULT_SEGMENTS_CACHE_TIMEOUT)).
    /// Unused with a [custom cache](Self::segments_cache).
    pub fn segments_cache_timeout(mut self, timeout: Duration) -> Self {
        self.segments.cache_timeout = timeout;
        self
    }

    /// Overall deadline of one segments request to ODP, from connecting to reading the whole
    /// answer. Zero is not usable: the default is used instead (with a warning). Default:
    /// 10 seconds ([`DEFAULT_SEGMENTS_REQUEST_TIMEOUT`](crate::DEFAULT_SEGMENTS_REQUEST_TIMEOUT)).
    pub fn segments_request_timeout(mut self, timeout: Duration) -> Self {
        self.segments.request_timeout = timeout;
        self
    }

    /// Keeps fetched segments in `cache` instead of the built-in
    /// [`LruSegmentsCache`](crate::LruSegmentsCache), e.g. to share them between processes.
    /// Keys are `fs_user_id-$-<user id>`. Default: the built-in cache, sized by
    /// [`segments_cache_size`](Self::segments_cache_size) and
    /// [`segments_cache_timeout`](Self::segments_cache_timeout).
    pub fn segments_cache(mut self, cache: Arc<dyn SegmentsCache>) -> Self {
        self.segments.custom_cache = Some(cache);
        self
    }

    /// Turns ODP (Real-Time Segments) off: segment fetches return
    /// [`FetchSegmentsError::OdpNotEnabled`] and nothing is sent to ODP. Default: `false`.
    pub fn odp_disabled(mut self, disabled: bool) -> Self {
        self.odp_disabled = disabled;
        self
    }

    /// The segments manager of the client being built, following the configs of `store`.
    pub(crate) fn segments_manager(
        &self,
        store: &ConfigStore,
        transport: Arc<dyn HttpTransport>,
    ) -> Arc<SegmentsManager> {
        let manager = Arc::new(SegmentsManager::new(
            &self.segments,
            !self.odp_disabled,
            transport,
        ));
        if manager.is_enabled() {
            let follower = Arc::clone(&manager);
            store.on_config_change(move |previous, current| {
                follower.on_config_change(previous.map(Arc::as_ref), current);
            });
        }
        manager
    }
}

impl Client {
    /// Fetches the ODP segments `user_id` qualifies for, among those the datafile's audiences
    /// use, blocking the calling thread until ODP answers (at most the
    /// [segments request timeout](ClientBuilder::segments_request_timeout)) unless the answer is
    /// cached. Do not call it on an async executor thread: use
    /// [`fetch_qualified_segments_async`](Self::fetch_qualified_segments_async) there.
    ///
    /// Answers, empty ones included, are cached per user (see
    /// [`segments_cache_size`](ClientBuilder::segments_cache_size)); `options` can bypass
    /// ([`SegmentOption::IgnoreCache`]) or empty ([`SegmentOption::ResetCache`]) the cache.
    /// When the datafile uses no segments the answer is empty and no request is made.
    ///
    /// # Errors
    ///
    /// [`FetchSegmentsError::SdkNotReady`] before the client has a datafile,
    /// [`OdpNotEnabled`](FetchSegmentsError::OdpNotEnabled) when
    /// [ODP is disabled](ClientBuilder::odp_disabled),
    /// [`OdpNotIntegrated`](FetchSegmentsError::OdpNotIntegrated) when the datafile has no ODP
    /// integration, and [`FetchFailed`](FetchSegmentsError::FetchFailed) when the request fails
    /// or ODP answers with an error (logged once, at ERROR; an unknown user at WARN).
    ///
    /// ```no_run
    /// # fn run(client: optimizely_fx::Client) -> Result<(), optimizely_fx::FetchSegmentsError> {
    /// let segments = client.fetch_qualified_segments("user-123", &[])?;
    /// let _fresh = client.fetch_qualified_segments("user-123", &[optimizely_fx::SegmentOption::IgnoreCache])?;
    /// # Ok(()) }
    /// ```
    pub fn fetch_qualified_segments(
        &self,
        user_id: &str,
        options: &[SegmentOption],
    ) -> Result<Vec<String>, FetchSegmentsError> {
        self.fetch_qualified_segments_shared(user_id, options)
            .map(|segments| segments.to_vec())
    }

    /// [`fetch_qualified_segments`](Self::fetch_qualified_segments) answering with the cached
    /// list itself, shared rather than copied: a cache hit then allocates nothing.
    ///
    /// # Errors
    ///
    /// As [`fetch_qualified_segments`](Self::fetch_qualified_segments).
    pub fn fetch_qualified_segments_shared(
        &self,
        user_id: &str,
        options: &[SegmentOption],
    ) -> Result<Arc<[String]>, FetchSegmentsError> {
        self.segments()
            .fetch(user_id, options, self.config().as_deref())
    }

    /// The async counterpart of [`fetch_qualified_segments`](Self::fetch_qualified_segments):
    /// same answers, errors and cache.
    ///
    /// The future works with any executor and never blocks the thread polling it. Errors and
    /// cache hits are ready at once; otherwise the request runs on a short-lived worker thread
    /// (at most 16 per client at once; more fetches wait their turn).
    ///
    /// ```no_run
    /// # async fn run(client: optimizely_fx::Client) -> Result<(), optimizely_fx::FetchSegmentsError> {
    /// let segments = client.fetch_qualified_segments_async("user-123", &[]).await?;
    /// # Ok(()) }
    /// ```
    pub fn fetch_qualified_segments_async(
        &self,
        user_id: &str,
        options: &[SegmentOption],
    ) -> FetchSegmentsFuture {
        self.segments().fetch_async(user_id, options, self.config())
    }
}
