//! **optimizely-fx**: a Rust SDK for Optimizely Feature Experimentation with first-class
//! Real-Time Segments (Optimizely Data Platform, "ODP").
//!
//! # Getting started
//!
//! Build a [`Client`] with [`Client::builder`], from an SDK key (the datafile is fetched and kept
//! up to date by a background thread), a datafile, or both:
//!
//! ```no_run
//! use std::time::Duration;
//! use optimizely_fx::Client;
//!
//! let client = Client::builder().sdk_key("YOUR_SDK_KEY").build()?;
//! client.wait_until_ready(Duration::from_secs(10))?;
//! client.add_config_update_listener(|update| {
//!     println!("now on datafile revision {}", update.config.revision());
//! });
//! // ...
//! client.close(Duration::from_secs(2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Deciding flags and tracking events
//!
//! Decide flags for a user through a [`UserContext`]; impressions and conversions are queued
//! and sent in the background in batches (see [`ClientBuilder::event_batch_size`]):
//!
//! ```no_run
//! use std::time::Duration;
//! use optimizely_fx::{Client, DecideOption};
//! use serde_json::json;
//!
//! let client = Client::builder().sdk_key("YOUR_SDK_KEY").build()?;
//! client.wait_until_ready(Duration::from_secs(10))?;
//! let mut user = client.create_user_context("user-123", [("country", "nl")]);
//! user.fetch_qualified_segments(&[])?; // Real-Time Segments, if the project uses them
//! let decision = user.decide("checkout_redesign", &[DecideOption::IncludeReasons]);
//! if decision.enabled {
//!     let color = decision.variable("button_color");
//!     # let _ = color;
//! }
//! user.track_event("purchased", [("revenue", json!(4200))])?;
//! client.close(Duration::from_secs(2)); // sends what is still queued
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! In async code, await [`Client::ready`] instead of calling
//! [`wait_until_ready`](Client::wait_until_ready); it works with any executor. No async runtime
//! is needed otherwise: background work runs on plain named threads.
//!
//! Logging goes through the [`log`](https://docs.rs/log) facade. Secrets (the datafile access
//! token, the ODP public key) never appear in logs, `Debug` output or error messages.
//!
//! # Cargo features
//!
//! * `rustls` (default): HTTPS for the built-in [`UreqTransport`](http::UreqTransport), through
//!   rustls with the ring provider and the webpki root certificates. Turn it off
//!   (`default-features = false`) when the client talks only to plain-`http` URLs, such as a
//!   local relay, or sends through your own [`HttpTransport`](http::HttpTransport) (see
//!   [`ClientBuilder::http_transport`]): the binary then carries no TLS code (about 1.5 MB
//!   less in a release build). Without it the built-in transport refuses `https` URLs with
//!   [`HttpError::InvalidUrl`](http::HttpError::InvalidUrl), and building a client that would
//!   send to one through it logs a warning naming the setting.
#![deny(missing_docs)]

pub mod http;

mod client;
mod client_decide;
mod client_events;
mod client_odp;
mod client_optimizely_config;
mod client_segments;
mod config_source;
mod decision;
mod dispatch;
mod error;
mod events;
mod log_forward;
mod notification;
mod odp;
mod one_shot;
mod readiness;
mod user_context;
mod user_profile;

pub use client::{
    Client, ClientBuilder, CloseReport, DEFAULT_DATAFILE_REQUEST_TIMEOUT, DEFAULT_POLLING_INTERVAL,
};
pub use client_events::{
    DEFAULT_EVENT_BATCH_SIZE, DEFAULT_EVENT_FLUSH_INTERVAL, DEFAULT_EVENT_QUEUE_CAPACITY,
    DEFAULT_EVENT_REQUEST_TIMEOUT, EventTags, InvalidEventTags, TrackError,
};
pub use client_odp::{
    DEFAULT_ODP_BATCH_SIZE, DEFAULT_ODP_FLUSH_INTERVAL, DEFAULT_ODP_MAX_IN_FLIGHT,
    DEFAULT_ODP_MAX_PER_REQUEST, DEFAULT_ODP_QUEUE_CAPACITY, DEFAULT_ODP_REQUEST_TIMEOUT,
};
pub use decision::{DecideOption, Decision, Decisions};
pub use dispatch::{DeliveryStats, QueueReport};
pub use error::{BuildError, FetchError, ReadyError, SendOdpEventError};
pub use notification::{
    ConfigUpdate, DecisionNotification, FlagDecisionInfo, ListenerId, LogEvent, NotificationType,
    TrackNotification,
};
pub use odp::segments::{
    DEFAULT_SEGMENTS_CACHE_SIZE, DEFAULT_SEGMENTS_CACHE_TIMEOUT, DEFAULT_SEGMENTS_REQUEST_TIMEOUT,
    FetchSegmentsError, FetchSegmentsFuture, LruSegmentsCache, ParseSegmentOptionError,
    SegmentOption, SegmentsCache, SegmentsFetchFailure,
};
pub use readiness::ReadyFuture;
pub use user_context::{DecisionContext, ForcedDecision, UserContext, UserSegmentsFuture};
pub use user_profile::{UserProfile, UserProfileError, UserProfileService};

pub use optimizely_fx_core::decide::{AttributeValue, Attributes, UnknownDecideOption, Variables};
pub use optimizely_fx_core::event::UnknownEventKey;
pub use optimizely_fx_core::odp::{OdpEvent, OdpIntegration, OdpValue};
pub use optimizely_fx_core::optimizely_config::{
    OptimizelyAttribute, OptimizelyAudience, OptimizelyConfig, OptimizelyEvent,
    OptimizelyExperiment, OptimizelyFeature, OptimizelyVariable, OptimizelyVariation,
};
pub use optimizely_fx_core::{DatafileError, DatafileVersion, ProjectConfig};
