//! Host name resolution for [`UreqTransport`](super::UreqTransport).
//!
//! ureq resolves the host of every request, even one that goes out on a pooled connection,
//! and with a resolve timeout set (we always set one) its default resolver starts a thread
//! per lookup. At thousands of requests a second that thread is most of a request's cost.
//! This resolver answers IP literals without a lookup and remembers a host name's addresses
//! for a short time; only a cache miss goes to the default, time-limited lookup.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// How long a looked-up host's addresses are reused.
const CACHE_TTL: Duration = Duration::from_secs(30);
/// Hosts remembered at most; the SDK talks to a handful (CDN, ODP, event endpoint).
const CACHE_CAPACITY: usize = 32;

/// IP literals answered at once; host names cached for [`CACHE_TTL`].
#[derive(Debug, Default)]
pub(super) struct CachingResolver {
    lookup: DefaultResolver,
    cache: Mutex<HashMap<String, Cached>>,
}

#[derive(Debug, Clone)]
struct Cached {
    addrs: ResolvedSocketAddrs,
    resolved_at: Instant,
}

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let Some(port) = port_of(uri) else {
            return self.lookup.resolve(uri, config, timeout);
        };
        let host = uri.host().unwrap_or_default();
        if let Some(ip) = ip_literal(host) {
            let mut addrs = self.empty();
            addrs.push(SocketAddr::new(ip, port));
            return Ok(addrs);
        }
        let key = format!("{host}:{port}");
        if let Some(addrs) = self.cached(&key, Instant::now()) {
            return Ok(addrs);
        }
        let addrs = self.lookup.resolve(uri, config, timeout)?;
        self.remember(key, addrs.clone(), Instant::now());
        Ok(addrs)
    }
}

impl CachingResolver {
    fn cached(&self, key: &str, now: Instant) -> Option<ResolvedSocketAddrs> {
        let cache = self.cache.lock().ok()?;
        let entry = cache.get(key)?;
        (now.saturating_duration_since(entry.resolved_at) < CACHE_TTL).then(|| entry.addrs.clone())
    }

    fn remember(&self, key: String, addrs: ResolvedSocketAddrs, now: Instant) {
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if cache.len() >= CACHE_CAPACITY && !cache.contains_key(&key) {
            cache.retain(|_, entry| now.saturating_duration_since(entry.resolved_at) < CACHE_TTL);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(
            key,
            Cached {
                addrs,
                resolved_at: now,
            },
        );
    }
}

/// The URI's port, or its scheme's default one.
fn port_of(uri: &Uri) -> Option<u16> {
    uri.port_u16().or(match uri.scheme_str()? {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    })
}

/// `127.0.0.1`, `::1` or `[::1]` as an address; `None` for a host name.
fn ip_literal(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(resolver: &CachingResolver, url: &str) -> Vec<SocketAddr> {
        let uri: Uri = url.parse().expect("uri");
        let config = ureq::Agent::config_builder().build();
        let timeout = NextTimeout {
            after: Duration::from_secs(5).into(),
            ..NextTimeout::default()
        };
        resolver
            .resolve(&uri, &config, timeout)
            .expect("resolves")
            .iter()
            .copied()
            .collect()
    }

    #[test]
    fn ip_literals_resolve_to_themselves_with_the_scheme_port() {
        let resolver = CachingResolver::default();
        assert_eq!(
            resolve(&resolver, "http://127.0.0.1:8080/v3/events"),
            vec!["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(
            resolve(&resolver, "https://[::1]/x"),
            vec!["[::1]:443".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(
            resolve(&resolver, "http://127.0.0.1/"),
            vec!["127.0.0.1:80".parse::<SocketAddr>().unwrap()]
        );
        assert!(resolver.cache.lock().unwrap().is_empty());
    }

    #[test]
    fn host_names_are_looked_up_once_and_then_cached() {
        let resolver = CachingResolver::default();
        let first = resolve(&resolver, "http://localhost:9/");
        assert!(!first.is_empty());
        assert!(first.iter().all(|addr| addr.ip().is_loopback()));
        assert!(resolver.cache.lock().unwrap().contains_key("localhost:9"));
        assert_eq!(resolve(&resolver, "http://localhost:9/other"), first);
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let resolver = CachingResolver::default();
        let mut addrs = resolver.empty();
        addrs.push("127.0.0.2:9".parse().unwrap());
        let resolved_at = Instant::now();
        resolver.remember("localhost:9".to_owned(), addrs, resolved_at);
        assert!(resolver.cached("localhost:9", resolved_at).is_some());
        assert!(
            resolver
                .cached("localhost:9", resolved_at + CACHE_TTL)
                .is_none()
        );
    }
}
