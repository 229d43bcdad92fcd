//! A local stand-in for the Optimizely backend an SDK talks to: the datafile CDN, the
//! impression/conversion event endpoint (logx), the ODP Events API and the ODP GraphQL segment
//! API, with **real segment qualification** computed from the ODP events it receives, storage
//! in SQLite and an inspector page.
//!
//! It is meant for local development, demos and tests. The server runs on its own small tokio
//! runtime owned by the [`DevServerHandle`]; the public API is plain blocking Rust, so ordinary
//! synchronous tests can use it without any async runtime of their own.
//!
//! ```
//! use optimizely_fx_devserver::{DevServer, DevServerConfig, Endpoint, Fault, SegmentDefinition};
//!
//! let datafile = r#"{"version":"4","revision":"1","projectId":"1","accountId":"1",
//!     "integrations":[{"key":"odp","host":"https://api.zaius.com","publicKey":"real-key"}]}"#;
//! let segments = SegmentDefinition::from_toml(r#"
//!     [[segment]]
//!     name = "frequent_buyers"
//!     [segment.rule]
//!     action = "purchased"
//!     at_least = 3
//!     within = "30d"
//! "#)?;
//! let server = DevServer::start(
//!     DevServerConfig::default()
//!         .datafile("sdk-key", datafile)
//!         .odp_api_key("odp-key")
//!         .segment_rules(segments),
//! )?;
//! // Point the SDK at the server:
//! let datafile_url = server.datafile_url_template(); // http://127.0.0.1:PORT/datafiles/{sdk_key}.json
//! let event_url = server.event_endpoint(); // http://127.0.0.1:PORT/v1/events
//! // The served datafile's ODP integration points back at this server (host and publicKey).
//! // Static segments, on top of the rules:
//! server.set_segments("user-1", vec!["has_email".to_owned()]);
//! // Make the next two ODP event requests fail with 503.
//! server.inject_fault(
//!     Endpoint::OdpEvents,
//!     Fault::Status { status: 503, times: 2, retry_after: Some(1), body: None },
//! );
//! // ... run the SDK, then inspect what it sent, or open server.inspector_url() in a browser:
//! assert!(server.odp_events().is_empty());
//! assert_eq!(server.qualified_segments("fs_user_id", "user-1"), Some(vec!["has_email".to_owned()]));
//! server.shutdown();
//! # let _ = (datafile_url, event_url);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Storage
//!
//! Everything the server is told or receives lives in SQLite: datafiles with their revision
//! history (every [`set_datafile`](DevServerHandle::set_datafile) adds a revision; the most
//! recent 100 per SDK key are kept), received ODP events (the most recent 100,000) with the
//! users stitched from them, `/v1/events` batches (the most recent 100,000), static segment
//! memberships and segment definitions. [`DevServerConfig::database`] names the file
//! (`:memory:`, the default, keeps it in memory); a restart on the same file continues where
//! the last run stopped. The file is locked for the server's lifetime. A file that is corrupt,
//! another application's database, or locked by another connection makes
//! [`DevServer::start`] fail with [`DevServerError::Database`]. Access tokens and recorded
//! requests are kept in memory only. Database work runs on a small blocking thread pool
//! (at most 64 handler calls queued or running), with one exception: an ODP event batch of
//! at most 64 KiB for an in-memory database is stored right on the executor thread when
//! nothing else uses the database at that moment, which costs far less than handing it over.
//! Which identifier belongs to which user, and each user's events, are also kept in memory
//! (read from the file at start), so storing an event and evaluating a rule look nothing up
//! in SQLite. A file written by an earlier version is upgraded when opened; it can then no
//! longer be opened by that version.
//!
//! # Segments
//!
//! `POST /v3/graphql` answers `qualified` for a segment when, at the time of the request, the
//! user
//! - has it among its static segments ([`DevServerHandle::set_segments`],
//!   `PUT /_dev/segments/{user_id}`), or
//! - is a static member of a [`SegmentDefinition`] (matched against every identifier of the
//!   user, of any kind), or
//! - satisfies the definition's [`EventRule`] with its received ODP events: events with
//!   `action` equal to the rule's (and `type`, if the rule has one), whose `data` has every
//!   listed field equal to the given value, received within the last `within` (if set), at
//!   least `at_least` of them (default 1).
//!
//! A user the server has no ODP event, static segments or static membership for is unknown:
//! GraphQL answers the `INVALID_IDENTIFIER_EXCEPTION` error, as ODP does.
//!
//! Definitions come from a TOML file given at start ([`DevServerConfig::segments_file`],
//! `--segments-file`), from code ([`DevServerConfig::segment_rules`],
//! [`DevServerHandle::define_segment`]) and from the JSON API (`PUT
//! /_dev/segments/rules/{name}`); a definition replaces an earlier one of the same name. The
//! TOML format is an array of `[[segment]]` tables:
//!
//! ```toml
//! [[segment]]
//! name = "frequent_buyers"          # required, the name the datafile's audiences use
//! description = "Bought 3 times"    # optional, shown by the inspector
//! members = ["vip-user"]            # optional, identifier values that always qualify
//! [segment.rule]                    # optional
//! action = "purchased"              # required: the event's action
//! type = "fullstack"                # optional: the event's type
//! at_least = 3                      # optional, default 1
//! within = "30d"                    # optional: a number and s, m, h, d or w
//! data = { plan = "pro" }           # optional: data fields that must be equal
//! ```
//!
//! Unknown keys are errors. Data values are strings, numbers (compared by value: `3` equals
//! `3.0`) or booleans. The JSON form of the API is the same shape, with `data` a JSON object.
//! `crates/optimizely-fx-devserver/examples/segments.toml` is a complete example.
//!
//! # Identity stitching
//!
//! ODP events carry several identifiers (`fs_user_id`, `vuid`, `email`, ...). As ODP does, the
//! server treats identifiers that appear together in one event as one user, transitively: an
//! event `{vuid: v, email: e}` and a later `{fs_user_id: u, email: e}` make `u`, `v` and `e` one
//! user, and a GraphQL lookup by `fs_user_id: u` or `vuid: v` sees the events of all three.
//! Identifiers with empty values identify nobody. Event times are the times the server
//! received them.
//!
//! # Service routes
//!
//! | Method | Path | Behaviour |
//! | --- | --- | --- |
//! | `GET` | `/datafiles/{sdk_key}.json` | `200` with the datafile, `Content-Type: application/json` and `Last-Modified`; `304` (no body) when `If-Modified-Since` is not older than the stored time; `404` `{"error": ...}` for an unknown key. |
//! | `GET` | `/datafiles/auth/{sdk_key}.json` | As above, but requires `Authorization: Bearer <token>` with the token configured for that key: missing → `401`, wrong (or no token configured) → `403`. |
//! | `POST` | `/v1/events` | Impression/conversion batch (logx stand-in). Valid batch → `204` (empty body) and stored; otherwise `400` `{"error": "<first problem>"}`. |
//! | `POST` | `/v3/events` | ODP Events API. Requires `x-api-key` (`401` otherwise). Body must be a JSON array of events, each with non-empty string `type` and `action`, a non-empty object `identifiers` of strings and an optional object `data` of scalars. Valid → `202` `{"title":"Accepted",...}` and every event stored; invalid → `400` `{"title":"Bad Request",...,"detail":{"invalids":[{"event":i,"message":...}]}}` and nothing stored. |
//! | `POST` | `/v3/graphql` | ODP GraphQL. Requires `x-api-key` (`401`). Understands the variables form and the inlined form of the `customer(fs_user_id\|vuid: ...) { audiences(subset: [...]) { edges { node { name state } } } }` query; answers one edge per requested segment (`qualified` / `not_qualified`, see [Segments](#segments)), or all qualified segments without `subset`; the `INVALID_IDENTIFIER_EXCEPTION` error for an unknown user; `400` with a GraphQL `errors` body for queries it cannot understand. |
//!
//! Every request to these routes is recorded (see [`DevServerHandle::requests`]) and is subject
//! to injected [`Fault`]s. Request bodies larger than the configured limit (16 MiB by default)
//! are answered with `413`, on every route. Any other path answers `404` with a JSON body; a
//! wrong method on a known path answers `405`. Malformed input gets a `4xx` with a message.
//!
//! # Inspector
//!
//! `GET /` ([`DevServerHandle::inspector_url`]) is a server-rendered HTML page that reloads
//! itself every 5 seconds: served datafiles and their revisions, users with their stitched
//! identifiers and current segments, segment definitions, the 50 most recent ODP events and
//! the 50 most recent impressions and conversions. Everything shown is escaped.
//!
//! # JSON API
//!
//! The inspection and control routes let tools, the inspector and a separately running
//! server be driven over HTTP. All answer JSON; errors are `{"error": "<message>"}`.
//! `limit` parameters take 1 to 10,000.
//!
//! | Method | Path | Behaviour |
//! | --- | --- | --- |
//! | `GET` | `/_dev/health` | `200` `{"status":"ok"}`. |
//! | `GET` | `/_dev/odp/events[?limit=N]` | `200` `{"received": <count of all accepted events>, "events": [...]}`: the kept events as received, oldest first (only the most recent `N` with `limit`). |
//! | `GET` | `/_dev/odp/events/recent[?limit=N]` | `200` `{"received": <count>, "events": [{"received_at": "<RFC 3339>", "user": <stitched user number or null>, "event": {...}}]}`, newest first, 100 by default. |
//! | `GET` | `/_dev/events[?limit=N]` | `200` `{"received": <count>, "batches": [...]}` for `/v1/events`, oldest first. |
//! | `GET` | `/_dev/users[?limit=N]` | `200` `{"users": [{"id": <number or null>, "identifiers": [{"kind": "fs_user_id", "value": "u"}], "segments": [...], "events": <count>, "last_event_at": "<RFC 3339>" or null}]}`: most recently active first (100 by default), then ids only known from static memberships (`id` and `kind` null). |
//! | `GET` | `/_dev/segments` | `200` `{"segments": [<definition>]}`, by name. |
//! | `GET` | `/_dev/segments/rules/{name}` | `200` with the definition, `404` if none. |
//! | `PUT` | `/_dev/segments/rules/{name}` | Body = definition in the JSON form, e.g. `{"members": ["vip"], "rule": {"action": "purchased", "at_least": 3, "within": "30d", "data": {"plan": "pro"}}}` (`name` may be left out, and must match the path if given). `201` (created) or `200` (replaced) with the stored definition; `400` with a message if invalid. |
//! | `DELETE` | `/_dev/segments/rules/{name}` | `204`, or `404` if there was none. |
//! | `PUT` | `/_dev/segments/{user_id}` | Body = JSON array of static segment names of the id. `204`. |
//! | `DELETE` | `/_dev/segments/{user_id}` | Forgets the id's static segments. `204`. |
//! | `GET` | `/_dev/datafiles` | `200` `{"datafiles": [{"sdk_key", "served": bool, "current_revision": <number or null>, "last_modified": "<HTTP date>", "revisions": [{"revision", "datafile_revision": <the datafile's own revision or null>, "bytes", "stored_at", "last_modified"}]}]}`, revisions newest first. |
//! | `GET` | `/_dev/datafiles/{sdk_key}[?revision=N]` | `200` with the stored text of the current (or `N`th) revision, before the ODP rewrite; `404` if none. |
//! | `PUT` | `/_dev/datafiles/{sdk_key}` | Body = datafile (served as given, after the ODP host rewrite; a new revision). `200` `{"sdk_key": ..., "last_modified": ...}`. |
//! | `DELETE` | `/_dev/datafiles/{sdk_key}` | Stops serving the datafile (then `404`; its revisions stay). `204`. |
//! | `GET` | `/_dev/requests?endpoint=datafile\|events\|odp_events\|odp_graphql` | `200` `{"endpoint": ..., "received": <count>, "requests": [{"method","path","query","header_names","body_bytes","status"}]}`. Header values are never shown. |
//! | `POST` | `/_dev/faults` | Queues a fault, e.g. `{"endpoint":"odp_events","kind":"status","status":503,"times":2,"retry_after":1}`; kinds: `status` (`status`, optional `retry_after`, `body`), `latency` (`delay_ms`), `drop_connection`, `malformed_body`, `hang`; `times` defaults to 1. `204`. |
//! | `DELETE` | `/_dev/faults` | Clears all queued faults. `204`. |
//! | `POST` | `/_dev/reset` | Clears stored ODP events (and the users stitched from them), batches and recorded requests. Datafiles, static segments and definitions stay. `204`. |
//!
//! Path segments (`sdk_key`, `user_id`, `name`) are percent-decoded.
//!
//! # Network
//!
//! The server listens on `127.0.0.1` by default. It has no authentication of its own, so any
//! other address (even `0.0.0.0`) must be allowed explicitly with
//! [`DevServerConfig::allow_non_loopback`] (`--allow-non-loopback`) and is logged at WARN.
//!
//! # Logging
//!
//! Through the `log` facade: one INFO line when the server starts listening (WARN for a
//! non-loopback address), one DEBUG line per request (method, path, status), ERROR for a
//! failed database operation. Header values (API keys, access tokens) are never logged.
#![deny(missing_docs)]

mod config;
mod datafile;
pub mod demo;
mod dev_api;
mod error;
mod fault;
mod graphql;
mod inspector;
mod log_events;
mod odp_events;
mod odp_wire;
mod recorder;
mod records;
mod respond;
mod router;
mod segments;
mod server;
mod state;
mod store;
mod time;

pub use config::DevServerConfig;
pub use error::{DatabaseProblem, DevServerError, ParseEndpointError};
pub use fault::{Endpoint, Fault};
pub use recorder::RecordedRequest;
pub use records::{DatafileRevision, UserIdentifier, UserSummary};
pub use segments::{DataValue, EventRule, InvalidSegment, SegmentDefinition, TimeWindow};
pub use server::{DevServer, DevServerHandle};
