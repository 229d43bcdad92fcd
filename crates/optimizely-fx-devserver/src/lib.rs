//! A local HTTP server on `127.0.0.1` that plays the Optimizely services an SDK talks to:
//! the datafile CDN, the impression/conversion event endpoint (logx), the ODP Events API and
//! the ODP GraphQL segment API.
//!
//! It is meant for local development, demos and tests. The server runs on its own small tokio
//! runtime owned by the [`DevServerHandle`]; the public API is plain blocking Rust, so ordinary
//! synchronous tests can use it without any async runtime of their own.
//!
//! ```
//! use optimizely_fx_devserver::{DevServer, DevServerConfig, Endpoint, Fault};
//!
//! let datafile = r#"{"version":"4","revision":"1","projectId":"1","accountId":"1",
//!     "integrations":[{"key":"odp","host":"https://api.zaius.com","publicKey":"real-key"}]}"#;
//! let server = DevServer::start(
//!     DevServerConfig::default()
//!         .datafile("sdk-key", datafile)
//!         .odp_api_key("odp-key"),
//! )?;
//! // Point the SDK at the server:
//! let datafile_url = server.datafile_url_template(); // http://127.0.0.1:PORT/datafiles/{sdk_key}.json
//! let event_url = server.event_endpoint(); // http://127.0.0.1:PORT/v1/events
//! // The served datafile's ODP integration points back at this server (host and publicKey).
//! server.set_segments("user-1", vec!["has_email".to_owned()]);
//! // Make the next two ODP event requests fail with 503.
//! server.inject_fault(
//!     Endpoint::OdpEvents,
//!     Fault::Status { status: 503, times: 2, retry_after: Some(1), body: None },
//! );
//! // ... run the SDK, then inspect what it sent:
//! assert!(server.odp_events().is_empty());
//! server.shutdown();
//! # let _ = (datafile_url, event_url);
//! # Ok::<(), optimizely_fx_devserver::DevServerError>(())
//! ```
//!
//! # Service routes
//!
//! | Method | Path | Behaviour |
//! | --- | --- | --- |
//! | `GET` | `/datafiles/{sdk_key}.json` | `200` with the datafile, `Content-Type: application/json` and `Last-Modified`; `304` (no body) when `If-Modified-Since` is not older than the stored time; `404` `{"error": ...}` for an unknown key. |
//! | `GET` | `/datafiles/auth/{sdk_key}.json` | As above, but requires `Authorization: Bearer <token>` with the token configured for that key: missing → `401`, wrong (or no token configured) → `403`. |
//! | `POST` | `/v1/events` | Impression/conversion batch (logx stand-in). Valid batch → `204` (empty body) and stored; otherwise `400` `{"error": "<first problem>"}`. |
//! | `POST` | `/v3/events` | ODP Events API. Requires `x-api-key` (`401` otherwise). Body must be a JSON array of events, each with non-empty string `type` and `action`, a non-empty object `identifiers` of strings and an optional object `data` of scalars. Valid → `202` `{"title":"Accepted",...}` and every event stored; invalid → `400` `{"title":"Bad Request",...,"detail":{"invalids":[{"event":i,"message":...}]}}` and nothing stored. |
//! | `POST` | `/v3/graphql` | ODP GraphQL. Requires `x-api-key` (`401`). Understands the variables form and the inlined form of the `customer(fs_user_id|vuid: ...) { audiences(subset: [...]) { edges { node { name state } } } }` query; answers one edge per requested segment (`qualified` / `not_qualified`), or the `INVALID_IDENTIFIER_EXCEPTION` error for a user with no segments set; `400` with a GraphQL `errors` body for queries it cannot understand. |
//!
//! Every request to these routes is recorded (see [`DevServerHandle::requests`]) and is subject
//! to injected [`Fault`]s. Request bodies larger than the configured limit (16 MiB by default)
//! are answered with `413`. Any other path answers `404` with a JSON body; a wrong method on a
//! known path answers `405`.
//!
//! # Inspection and control routes
//!
//! These let tools and a separately running server be driven over HTTP. All answer JSON.
//!
//! | Method | Path | Behaviour |
//! | --- | --- | --- |
//! | `GET` | `/_dev/health` | `200` `{"status":"ok"}`. |
//! | `GET` | `/_dev/odp/events` | `200` `{"received": <count of all accepted events>, "events": [...]}` (the most recent events kept). |
//! | `GET` | `/_dev/events` | `200` `{"received": <count>, "batches": [...]}` for `/v1/events`. |
//! | `GET` | `/_dev/requests?endpoint=datafile\|events\|odp_events\|odp_graphql` | `200` `{"endpoint": ..., "received": <count>, "requests": [{"method","path","query","header_names","body_bytes","status"}]}`. Header values are never shown. |
//! | `PUT` | `/_dev/datafiles/{sdk_key}` | Body = datafile (served as given, after the ODP host rewrite). `200` `{"sdk_key": ..., "last_modified": ...}`. |
//! | `DELETE` | `/_dev/datafiles/{sdk_key}` | Removes the datafile (then `404`). `204`. |
//! | `PUT` | `/_dev/segments/{user_id}` | Body = JSON array of segment names the user qualifies for. `204`. |
//! | `DELETE` | `/_dev/segments/{user_id}` | Forgets the user (GraphQL then answers invalid identifier). `204`. |
//! | `POST` | `/_dev/faults` | Queues a fault, e.g. `{"endpoint":"odp_events","kind":"status","status":503,"times":2,"retry_after":1}`; kinds: `status` (`status`, optional `retry_after`, `body`), `latency` (`delay_ms`), `drop_connection`, `malformed_body`, `hang`; `times` defaults to 1. `204`. |
//! | `DELETE` | `/_dev/faults` | Clears all queued faults. `204`. |
//! | `POST` | `/_dev/reset` | Clears stored events, batches and recorded requests. `204`. |
//!
//! Path segments (`sdk_key`, `user_id`) are percent-decoded.
//!
//! # Logging
//!
//! Through the `log` facade: one INFO line when the server starts listening, one DEBUG line per
//! request (method, path, status). Header values (API keys, access tokens) are never logged.
#![deny(missing_docs)]

mod config;
mod datafile;
mod dev_api;
mod error;
mod fault;
mod graphql;
mod log_events;
mod odp_events;
mod recorder;
mod respond;
mod router;
mod server;
mod state;
mod time;

pub use config::DevServerConfig;
pub use error::{DevServerError, ParseEndpointError};
pub use fault::{Endpoint, Fault};
pub use recorder::RecordedRequest;
pub use server::{DevServer, DevServerHandle};
