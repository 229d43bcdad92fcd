//! Where fetched segments are kept: the public [`SegmentsCache`] trait, the default
//! [`LruSegmentsCache`], and the store a client uses (one of the two).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use lru::LruCache;
use optimizely_fx_core::odp::segments_cache_key;

/// Storage for users' qualified segments, shared by every fetch of a client.
///
/// Set one with [`ClientBuilder::segments_cache`](crate::ClientBuilder::segments_cache), e.g. to
/// share segments between processes. Keys are the official `fs_user_id-$-<user id>`. The
/// blocking fetch calls these methods on the caller's thread, the async fetch on its worker
/// thread; keep them reasonably quick (they are not given a timeout).
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use optimizely_fx::SegmentsCache;
///
/// #[derive(Default)]
/// struct MapCache(Mutex<HashMap<String, Vec<String>>>);
///
/// impl SegmentsCache for MapCache {
///     fn lookup(&self, key: &str) -> Option<Vec<String>> {
///         self.0.lock().unwrap().get(key).cloned()
///     }
///     fn save(&self, key: &str, segments: Vec<String>) {
///         self.0.lock().unwrap().insert(key.to_owned(), segments);
///     }
///     fn reset(&self) {
///         self.0.lock().unwrap().clear();
///     }
/// }
/// ```
pub trait SegmentsCache: Send + Sync {
    /// The segments saved for `key`, if they are still valid.
    fn lookup(&self, key: &str) -> Option<Vec<String>>;
    /// Saves `segments` (possibly empty) for `key`, replacing what was there.
    fn save(&self, key: &str, segments: Vec<String>);
    /// Forgets every entry.
    fn reset(&self);
}

/// Where "now" comes from; replaceable so expiry can be tested without waiting.
#[derive(Clone)]
enum Clock {
    System,
    Custom(Arc<dyn Fn() -> Instant + Send + Sync>),
}

impl Clock {
    fn now(&self) -> Instant {
        match self {
            Clock::System => Instant::now(),
            Clock::Custom(now) => now(),
        }
    }
}

struct Entry {
    segments: Arc<[String]>,
    /// When the entry stops being valid; `None` when entries never expire.
    expires_at: Option<Instant>,
}

/// The default [`SegmentsCache`]: least-recently-used eviction and a fixed lifetime per entry.
///
/// * holds at most `capacity` entries; saving one more drops the least recently used
///   (a lookup counts as a use); a capacity of 0 disables the cache;
/// * an entry saved at `t` is valid while `now - t < timeout`; lookups do not extend it;
///   a lookup that finds an expired entry removes it; a timeout of 0 means entries never
///   expire;
/// * saving an existing key replaces its segments and restarts its lifetime.
///
/// One mutex guards the whole cache; each operation holds it for a few hash-map steps.
pub struct LruSegmentsCache {
    /// Made by the first save or reset (a client that never fetches segments never makes
    /// it); never when the capacity is 0.
    entries: OnceLock<Mutex<LruCache<String, Entry>>>,
    capacity: usize,
    timeout: Option<Duration>,
    clock: Clock,
    /// Bumped (under the lock) by every reset, so a save can tell a reset happened since its
    /// fetch started.
    resets: AtomicU64,
}

impl LruSegmentsCache {
    /// A cache of at most `capacity` entries, each valid for `timeout` (0: forever).
    pub fn new(capacity: usize, timeout: Duration) -> Self {
        Self::with_clock_source(capacity, timeout, Clock::System)
    }

    /// Like [`new`](Self::new), reading the time from `now` instead of [`Instant::now`].
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::{Duration, Instant};
    /// use optimizely_fx::{LruSegmentsCache, SegmentsCache};
    ///
    /// let now = Arc::new(Mutex::new(Instant::now()));
    /// let clock = Arc::clone(&now);
    /// let cache = LruSegmentsCache::with_clock(10, Duration::from_secs(60), move || *clock.lock().unwrap());
    /// cache.save("fs_user_id-$-u1", vec!["s".to_owned()]);
    /// *now.lock().unwrap() += Duration::from_secs(60);
    /// assert_eq!(cache.lookup("fs_user_id-$-u1"), None);
    /// ```
    pub fn with_clock(
        capacity: usize,
        timeout: Duration,
        now: impl Fn() -> Instant + Send + Sync + 'static,
    ) -> Self {
        Self::with_clock_source(capacity, timeout, Clock::Custom(Arc::new(now)))
    }

    fn with_clock_source(capacity: usize, timeout: Duration, clock: Clock) -> Self {
        LruSegmentsCache {
            entries: OnceLock::new(),
            capacity,
            timeout: (!timeout.is_zero()).then_some(timeout),
            clock,
            resets: AtomicU64::new(0),
        }
    }

    /// Most entries kept (0: caching is off).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How long an entry stays valid (`None`: forever).
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Number of entries held, expired ones not yet removed included.
    pub fn len(&self) -> usize {
        self.entries.get().map_or(0, |entries| lock(entries).len())
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries, made on first use; `None` when the capacity is 0.
    fn lock(&self) -> Option<MutexGuard<'_, LruCache<String, Entry>>> {
        if self.capacity == 0 {
            return None;
        }
        // Unbounded underneath (no up-front allocation); the capacity is enforced on save.
        let entries = self
            .entries
            .get_or_init(|| Mutex::new(LruCache::unbounded()));
        Some(lock(entries))
    }

    fn get(&self, key: &str) -> Option<Arc<[String]>> {
        // Nothing saved yet when there are no entries.
        let entries = self.entries.get()?;
        // Read before locking, to keep the critical section short.
        let now = self.timeout.map(|_| self.clock.now());
        let mut entries = lock(entries);
        let entry = entries.get(key)?;
        if is_expired(entry, now) {
            entries.pop(key);
            return None;
        }
        Some(Arc::clone(&entry.segments))
    }

    fn put(&self, key: &str, segments: Arc<[String]>) {
        if let Some(mut entries) = self.lock() {
            self.put_locked(&mut entries, key, segments);
        }
    }

    /// Saves unless the cache was reset since [`reset_count`](Self::reset_count) returned
    /// `resets`.
    fn put_unless_reset_since(&self, resets: u64, key: &str, segments: Arc<[String]>) {
        if let Some(mut entries) = self.lock()
            && self.resets.load(Ordering::Acquire) == resets
        {
            self.put_locked(&mut entries, key, segments);
        }
    }

    fn put_locked(
        &self,
        entries: &mut LruCache<String, Entry>,
        key: &str,
        segments: Arc<[String]>,
    ) {
        // A deadline too far to represent is no deadline.
        let expires_at = self
            .timeout
            .and_then(|timeout| self.clock.now().checked_add(timeout));
        entries.put(
            key.to_owned(),
            Entry {
                segments,
                expires_at,
            },
        );
        if entries.len() > self.capacity {
            entries.pop_lru();
        }
    }

    fn clear(&self) {
        if let Some(mut entries) = self.lock() {
            self.resets.fetch_add(1, Ordering::AcqRel);
            entries.clear();
        }
    }

    fn reset_count(&self) -> u64 {
        self.resets.load(Ordering::Acquire)
    }
}

fn lock(entries: &Mutex<LruCache<String, Entry>>) -> MutexGuard<'_, LruCache<String, Entry>> {
    // Nothing panics while the lock is held except an allocation failure; the map is
    // consistent between operations either way.
    entries.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An entry saved at `t` is valid while `now - t < timeout`, i.e. until `now >= t + timeout`.
fn is_expired(entry: &Entry, now: Option<Instant>) -> bool {
    match (entry.expires_at, now) {
        (Some(expires_at), Some(now)) => now >= expires_at,
        _ => false,
    }
}

impl SegmentsCache for LruSegmentsCache {
    fn lookup(&self, key: &str) -> Option<Vec<String>> {
        self.get(key).map(|segments| segments.to_vec())
    }

    fn save(&self, key: &str, segments: Vec<String>) {
        self.put(key, segments.into());
    }

    fn reset(&self) {
        self.clear();
    }
}

impl fmt::Debug for LruSegmentsCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LruSegmentsCache")
            .field("capacity", &self.capacity)
            .field("timeout", &self.timeout)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// The cache a client's fetches use.
pub(crate) enum SegmentsStore {
    /// The built-in LRU, keyed by plain user id (it is never exposed, so it need not use the
    /// official key, and the hit path formats nothing).
    Default(LruSegmentsCache),
    /// A cache given to the builder, keyed by the official `fs_user_id-$-<id>`.
    Custom {
        cache: Arc<dyn SegmentsCache>,
        resets: AtomicU64,
    },
}

impl SegmentsStore {
    pub(crate) fn default_lru(capacity: usize, timeout: Duration) -> Self {
        SegmentsStore::Default(LruSegmentsCache::new(capacity, timeout))
    }

    pub(crate) fn custom(cache: Arc<dyn SegmentsCache>) -> Self {
        SegmentsStore::Custom {
            cache,
            resets: AtomicU64::new(0),
        }
    }

    /// Whether lookups are quick and never block on I/O (the built-in cache).
    pub(crate) fn is_in_memory(&self) -> bool {
        matches!(self, SegmentsStore::Default(_))
    }

    pub(crate) fn lookup(&self, user_id: &str) -> Option<Arc<[String]>> {
        match self {
            SegmentsStore::Default(lru) => lru.get(user_id),
            SegmentsStore::Custom { cache, .. } => {
                cache.lookup(&segments_cache_key(user_id)).map(Arc::from)
            }
        }
    }

    pub(crate) fn reset(&self) {
        match self {
            SegmentsStore::Default(lru) => lru.clear(),
            SegmentsStore::Custom { cache, resets } => {
                resets.fetch_add(1, Ordering::AcqRel);
                cache.reset();
            }
        }
    }

    /// A token to pass to [`save`](Self::save): saves are dropped if the cache was reset in
    /// between, so a fetch made for an older ODP config cannot refill a freshly reset cache.
    pub(crate) fn reset_count(&self) -> u64 {
        match self {
            SegmentsStore::Default(lru) => lru.reset_count(),
            SegmentsStore::Custom { resets, .. } => resets.load(Ordering::Acquire),
        }
    }

    pub(crate) fn save(&self, resets_seen: u64, user_id: &str, segments: &Arc<[String]>) {
        match self {
            SegmentsStore::Default(lru) => {
                lru.put_unless_reset_since(resets_seen, user_id, Arc::clone(segments));
            }
            // Best effort: a reset between this check and the save can still slip through.
            SegmentsStore::Custom { cache, resets } => {
                if resets.load(Ordering::Acquire) == resets_seen {
                    cache.save(&segments_cache_key(user_id), segments.to_vec());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct ManualClock(Mutex<Instant>);

    impl ManualClock {
        fn start() -> Arc<Self> {
            Arc::new(ManualClock(Mutex::new(Instant::now())))
        }
        fn advance(&self, by: Duration) {
            *self.0.lock().unwrap() += by;
        }
        fn cache(self: &Arc<Self>, capacity: usize, timeout: Duration) -> LruSegmentsCache {
            let clock = Arc::clone(self);
            LruSegmentsCache::with_clock(capacity, timeout, move || *clock.0.lock().unwrap())
        }
    }

    fn segs(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn saves_and_looks_up_including_empty_lists() {
        let cache = LruSegmentsCache::new(10, Duration::from_secs(600));
        cache.save("a", segs(&["x", "y"]));
        cache.save("b", vec![]);
        assert_eq!(cache.lookup("a"), Some(segs(&["x", "y"])));
        assert_eq!(cache.lookup("b"), Some(vec![]));
        assert_eq!(cache.lookup("c"), None);
        cache.save("a", segs(&["z"]));
        assert_eq!(cache.lookup("a"), Some(segs(&["z"])));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn the_least_recently_used_entry_is_evicted_and_lookups_count_as_use() {
        let cache = LruSegmentsCache::new(2, Duration::ZERO);
        cache.save("a", segs(&["1"]));
        cache.save("b", segs(&["2"]));
        assert!(cache.lookup("a").is_some());
        cache.save("c", segs(&["3"]));
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.lookup("b"), None);
        assert!(cache.lookup("a").is_some());
        assert!(cache.lookup("c").is_some());
    }

    #[test]
    fn capacity_zero_disables_the_cache() {
        let cache = LruSegmentsCache::new(0, Duration::from_secs(1));
        cache.save("a", segs(&["1"]));
        assert_eq!(cache.lookup("a"), None);
        assert!(cache.is_empty());
        cache.reset();
    }

    #[test]
    fn entries_expire_after_the_timeout_and_lookups_do_not_refresh_them() {
        let clock = ManualClock::start();
        let cache = clock.cache(10, Duration::from_secs(10));
        cache.save("a", segs(&["1"]));
        clock.advance(Duration::from_secs(6));
        assert!(cache.lookup("a").is_some());
        clock.advance(Duration::from_secs(3));
        assert!(cache.lookup("a").is_some(), "9 s old, still valid");
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            cache.lookup("a"),
            None,
            "10 s after the save, despite the lookups"
        );
        assert!(cache.is_empty(), "the expired entry was removed");
    }

    #[test]
    fn saving_again_restarts_the_lifetime() {
        let clock = ManualClock::start();
        let cache = clock.cache(10, Duration::from_secs(10));
        cache.save("a", segs(&["1"]));
        clock.advance(Duration::from_secs(8));
        cache.save("a", segs(&["2"]));
        clock.advance(Duration::from_secs(8));
        assert_eq!(cache.lookup("a"), Some(segs(&["2"])));
    }

    #[test]
    fn timeout_zero_never_expires() {
        let clock = ManualClock::start();
        let cache = clock.cache(10, Duration::ZERO);
        cache.save("a", segs(&["1"]));
        clock.advance(Duration::from_secs(365 * 24 * 3600));
        assert!(cache.lookup("a").is_some());
    }

    fn shared(names: &[&str]) -> Arc<[String]> {
        segs(names).into()
    }

    #[test]
    fn reset_empties_and_a_save_started_before_it_is_dropped() {
        let store = SegmentsStore::default_lru(10, Duration::ZERO);
        store.save(store.reset_count(), "a", &shared(&["1"]));
        let before = store.reset_count();
        store.reset();
        assert_eq!(store.lookup("a"), None);
        store.save(before, "b", &shared(&["2"]));
        assert_eq!(store.lookup("b"), None);
        store.save(store.reset_count(), "b", &shared(&["2"]));
        assert_eq!(store.lookup("b"), Some(shared(&["2"])));
    }

    #[test]
    fn a_custom_store_uses_the_official_key() {
        let inner = Arc::new(LruSegmentsCache::new(10, Duration::ZERO));
        let store = SegmentsStore::custom(inner.clone());
        store.save(store.reset_count(), "test-user", &shared(&["1"]));
        assert_eq!(inner.lookup("fs_user_id-$-test-user"), Some(segs(&["1"])));
        assert_eq!(store.lookup("test-user"), Some(shared(&["1"])));
        let before = store.reset_count();
        store.reset();
        assert!(inner.is_empty());
        store.save(before, "test-user", &shared(&["1"]));
        assert!(inner.is_empty());
    }

    #[test]
    fn many_threads_share_one_cache() {
        let cache = Arc::new(LruSegmentsCache::new(100, Duration::from_secs(60)));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let cache = Arc::clone(&cache);
                std::thread::spawn(move || {
                    for i in 0..1_000 {
                        let key = format!("u{}", (t * 1_000 + i) % 150);
                        cache.save(&key, vec![key.clone()]);
                        if let Some(found) = cache.lookup(&key) {
                            assert_eq!(found, vec![key]);
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert!(cache.len() <= 100);
    }
}
