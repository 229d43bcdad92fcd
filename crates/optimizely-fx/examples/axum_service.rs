//! An axum HTTP service sharing one client between its handlers.
//!
//! ```sh
//! cargo run -p optimizely-fx --example axum_service -- [--port 8080]
//! curl -X POST localhost:8080/events/alice -H 'content-type: application/json' \
//!     -d '{"action": "purchased", "data": {"amount": 19.99}}'
//! curl 'localhost:8080/decide/alice?country=US&plan=premium'
//! cargo run -p optimizely-fx --example axum_service -- --self-test
//! ```
//!
//! * `GET /decide/{user_id}?attribute=value...` fetches the user's ODP segments and decides
//!   every flag. `Cache-Control: no-cache` bypasses the segments cache.
//! * `POST /events/{user_id}` with `{"action", "type"?, "data"?}` sends an ODP event for the
//!   user (identifier `fs_user_id`).
//!
//! `--self-test` starts the service on a free port, calls it the way a user would (three
//! purchases turn on `vip_banner`, through the `frequent_buyers` segment), then shuts down.
//!
//! Runs against a local dev server started in-process with the demo project, or against a
//! running one (`optimizely-fx dev-server`) when `OPTIMIZELY_SDK_KEY` and
//! `OPTIMIZELY_DATAFILE_URL_TEMPLATE` are set (`OPTIMIZELY_EVENT_ENDPOINT` optionally; by
//! default `/v1/events` on the same server).

#[path = "support/backend.rs"]
mod support;

use std::collections::BTreeMap;
use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use optimizely_fx::{Client, Decisions, OdpEvent, OdpValue, SegmentOption, SendOdpEventError};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const PATIENCE: Duration = Duration::from_secs(10);

type BoxError = Box<dyn Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("axum_service failed: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), BoxError> {
    let args = Args::parse()?;
    let (builder, _dev_server) = support::backend()?;
    let client = builder.build()?;
    client.ready(PATIENCE).await?;

    let port = if args.self_test { 0 } else { args.port };
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        axum::serve(listener, app(client.clone()))
            .with_graceful_shutdown(async move {
                tokio::select! {
                    Ok(()) = stopped => {}
                    () = termination() => {}
                }
            })
            .into_future(),
    );
    println!("listening on http://{addr}");

    let outcome = if args.self_test {
        let outcome = self_test(addr).await;
        let _ = stop.send(());
        outcome
    } else {
        Ok(())
    };
    server.await??;

    // Closing waits for the last events to be delivered: keep it off the async workers.
    let report = tokio::task::spawn_blocking(move || client.close(PATIENCE)).await?;
    let undelivered = report.odp_events.undelivered + report.events.undelivered;
    println!("client closed: {undelivered} events undelivered");
    outcome?;
    if undelivered > 0 {
        return Err(format!("{undelivered} events were not delivered").into());
    }
    Ok(())
}

struct Args {
    self_test: bool,
    port: u16,
}

impl Args {
    fn parse() -> Result<Args, String> {
        let mut args = Args {
            self_test: false,
            port: 8080,
        };
        let mut words = std::env::args().skip(1);
        while let Some(word) = words.next() {
            match word.as_str() {
                "--self-test" => args.self_test = true,
                "--port" => {
                    let value = words.next().ok_or("--port needs a value")?;
                    args.port = value.parse().map_err(|_| format!("bad port {value:?}"))?;
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(args)
    }
}

/// Resolves on Ctrl-C, or SIGTERM on Unix.
async fn termination() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

fn app(client: Client) -> Router {
    Router::new()
        .route("/decide/{user_id}", get(decide))
        .route("/events/{user_id}", post(send_event))
        .with_state(client)
}

async fn decide(
    State(client): State<Client>,
    Path(user_id): Path<String>,
    Query(attributes): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Json<Value> {
    let mut user = client.create_user_context(user_id, attributes);
    let options: &[SegmentOption] = if wants_fresh(&headers) {
        &[SegmentOption::IgnoreCache]
    } else {
        &[]
    };
    // A user ODP does not know yet, or ODP being unreachable, only means no segment-targeted
    // rule matches: the flags are still decided.
    let segments_error = user
        .fetch_qualified_segments_async(options)
        .await
        .err()
        .map(|error| error.to_string());
    let decisions = user.decide_all(&[]);
    Json(json!({
        "user_id": user.user_id(),
        "segments": user.qualified_segments(),
        "segments_error": segments_error,
        "decisions": decisions_json(&decisions),
    }))
}

fn wants_fresh(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.split(',').any(|d| d.trim() == "no-cache"))
}

fn decisions_json(decisions: &Decisions) -> Value {
    let by_flag = decisions.iter().map(|decision| {
        let summary = json!({
            "enabled": decision.enabled,
            "variation_key": decision.variation_key,
            "rule_key": decision.rule_key,
            "variables": decision.variables,
        });
        (decision.flag_key.clone(), summary)
    });
    Value::Object(by_flag.collect())
}

#[derive(Deserialize)]
struct EventBody {
    action: String,
    #[serde(rename = "type")]
    event_type: Option<String>,
    #[serde(default)]
    data: BTreeMap<String, Value>,
}

async fn send_event(
    State(client): State<Client>,
    Path(user_id): Path<String>,
    body: Result<Json<EventBody>, JsonRejection>,
) -> Response {
    let body = match body {
        Ok(Json(body)) => body,
        Err(rejection) => return error_response(rejection.status(), rejection.body_text()),
    };
    let mut event = OdpEvent::new(body.action).identifier("fs_user_id", user_id);
    if let Some(event_type) = body.event_type {
        event = event.event_type(event_type);
    }
    for (key, value) in body.data {
        match OdpValue::from_json(&value) {
            Some(value) => event = event.data(key, value),
            None => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    format!("data {key:?} must be a string, number, bool or null"),
                );
            }
        }
    }
    match client.send_odp_event(event) {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({ "queued": true }))).into_response(),
        Err(error) => error_response(status_of(&error), error.to_string()),
    }
}

fn status_of(error: &SendOdpEventError) -> StatusCode {
    match error {
        SendOdpEventError::Invalid(_) => StatusCode::BAD_REQUEST,
        // Temporary: worth retrying later.
        SendOdpEventError::QueueFull
        | SendOdpEventError::SdkNotReady
        | SendOdpEventError::Closed => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::NOT_IMPLEMENTED,
    }
}

fn error_response(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// Calls the service at `addr` as a user would and checks its answers.
async fn self_test(addr: SocketAddr) -> Result<(), BoxError> {
    // A new user each run, so that a long-running dev server has no purchases of it yet.
    let user = format!("self-test-{}", uuid::Uuid::new_v4());
    let base = format!("http://{addr}");
    let decide_url = format!("{base}/decide/{user}?country=US&plan=premium");
    let events_url = format!("{base}/events/{user}");

    let (status, before) = http(Call::get(&decide_url)).await?;
    expect(
        status == 200,
        format!("GET /decide answered {status}: {before}"),
    )?;
    expect(
        before["decisions"]["vip_banner"]["enabled"] == false,
        format!("vip_banner is on before any purchase: {before}"),
    )?;
    expect(
        before["decisions"]["new_checkout"]["enabled"] == true,
        format!("new_checkout is off for a premium US user: {before}"),
    )?;

    for order in 1..=3 {
        let body =
            json!({ "action": "purchased", "data": { "order_id": format!("order-{order}") } });
        let (status, answer) = http(Call::post(&events_url, body)).await?;
        expect(
            status == 202,
            format!("POST /events answered {status}: {answer}"),
        )?;
    }
    let (status, answer) = http(Call::post(&events_url, json!({ "action": "" }))).await?;
    expect(
        status == 400,
        format!("an empty action was answered {status}: {answer}"),
    )?;

    let after = wait_for_vip_banner(&decide_url).await?;
    println!("self-test passed; after 3 purchases: {after}");
    Ok(())
}

/// Events are delivered to ODP in the background, so the segment shows up shortly after the
/// purchases were accepted.
async fn wait_for_vip_banner(decide_url: &str) -> Result<Value, BoxError> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, answer) = http(Call::get(decide_url).no_cache()).await?;
        expect(
            status == 200,
            format!("GET /decide answered {status}: {answer}"),
        )?;
        if answer["decisions"]["vip_banner"]["enabled"] == true {
            return Ok(answer);
        }
        if Instant::now() > deadline {
            return Err(format!("vip_banner still off after 3 purchases: {answer}").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn expect(condition: bool, failure: String) -> Result<(), BoxError> {
    if condition {
        Ok(())
    } else {
        Err(failure.into())
    }
}

/// One request of the self-test.
struct Call {
    url: String,
    body: Option<Value>,
    no_cache: bool,
}

impl Call {
    fn get(url: &str) -> Call {
        Call {
            url: url.to_owned(),
            body: None,
            no_cache: false,
        }
    }

    fn post(url: &str, body: Value) -> Call {
        Call {
            body: Some(body),
            ..Call::get(url)
        }
    }

    fn no_cache(self) -> Call {
        Call {
            no_cache: true,
            ..self
        }
    }
}

/// Makes `call` with a plain blocking HTTP client, on a blocking thread; answers the status
/// and the JSON body.
async fn http(call: Call) -> Result<(u16, Value), BoxError> {
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(PATIENCE))
            .build()
            .into();
        let mut response = match call.body {
            Some(body) => agent
                .post(&call.url)
                .header("content-type", "application/json")
                .send(body.to_string())?,
            None if call.no_cache => agent
                .get(&call.url)
                .header("cache-control", "no-cache")
                .call()?,
            None => agent.get(&call.url).call()?,
        };
        let text = response.body_mut().read_to_string()?;
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((response.status().as_u16(), json))
    })
    .await?
}
