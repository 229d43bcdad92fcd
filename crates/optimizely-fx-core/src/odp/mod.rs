//! ODP (Optimizely Data Platform) pieces that need no I/O: the integration settings read from
//! the datafile, event validation and enrichment, and the segments GraphQL request and response.
//!
//! The SDK crate adds what needs I/O or state (readiness, settings, queues, HTTP, caches).

mod event;
mod segments;

pub use event::{
    DATA_SOURCE, DATA_SOURCE_TYPE, DEFAULT_EVENT_TYPE, FS_USER_ID, OdpEvent, OdpEventError,
    OdpValue, WireOdpEvent,
};
pub use segments::{
    SegmentsResponseError, parse_segments_response, segments_cache_key, segments_request_body,
};

/// The ODP integration of a datafile: where ODP lives and which segments the project uses.
///
/// A datafile is *integrated* with ODP only when its first `odp` integration has both a
/// non-empty `publicKey` and a non-empty `host`; this type exists only in that case.
#[derive(Clone, PartialEq, Eq)]
pub struct OdpIntegration {
    /// ODP public API key, sent as `x-api-key`. A secret: never log it.
    pub public_key: String,
    /// ODP API host, e.g. `https://api.zaius.com` (requests go to `{host}/v3/...`).
    pub host: String,
    /// Browser pixel URL, when the datafile has one (unused by a server-side SDK).
    pub pixel_url: Option<String>,
    /// Unique values of every `qualified` audience leaf, first-seen order, typed audiences first.
    pub segments_to_check: Vec<String>,
}

impl std::fmt::Debug for OdpIntegration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OdpIntegration")
            .field("public_key", &"<redacted>")
            .field("host", &self.host)
            .field("pixel_url", &self.pixel_url)
            .field("segments_to_check", &self.segments_to_check)
            .finish()
    }
}
