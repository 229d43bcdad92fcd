//! Helpers shared by the ODP benches: a dev server in a child process, clients pointed at it,
//! process CPU time and memory from `/proc`, and percentiles.
//!
//! The dev server runs in a separate process (this same bench executable, started again with
//! [`SERVER_FLAG`]) so that the CPU time and memory the benches read from `/proc/self` are the
//! SDK's alone.

// Each bench binary uses a different part of this module.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use optimizely_fx::http::{HttpError, HttpRequest, HttpResponse, HttpTransport};
use optimizely_fx::{Client, ClientBuilder, OdpEvent};
use optimizely_fx_devserver::{DevServer, DevServerConfig, Endpoint, Fault};

/// SDK key under which the child server serves the fixture datafile.
pub const SDK_KEY: &str = "odp-bench";
/// ODP public key the child server accepts (it rewrites the datafile to it).
const ODP_API_KEY: &str = "odp-bench-key";
/// First argument that turns a bench executable into the dev server child process.
pub const SERVER_FLAG: &str = "--odp-bench-server";
/// Optional argument after the latency: serve until killed instead of until stdin closes
/// (for `benches/compare_js.sh`, which runs the same server for the JavaScript SDK).
pub const UNTIL_KILLED_FLAG: &str = "--until-killed";
/// Linux reports process times in clock ticks of 1/100 s (`USER_HZ`, fixed by the ABI).
const TICKS_PER_SECOND: u64 = 100;

/// The datafile with an ODP integration used by every ODP bench.
pub fn fixture_datafile() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/datafiles/go-odp-test-datafile.json"
    );
    std::fs::read_to_string(path).expect("fixture datafile")
}

/// The event every bench sends: the documented `purchased` example with one identifier.
pub fn purchase_event(n: u64) -> OdpEvent {
    OdpEvent::new("purchased")
        .identifier("fs_user_id", format!("user-{n}"))
        .data("count", 1)
}

// ---- the dev server child process ----

/// Runs the dev server and never returns, when this process was started as the child of
/// [`BenchServer::start`] (or as `BENCH --odp-bench-server LATENCY_MS --until-killed` by
/// `benches/compare_js.sh`). Prints the server URL as the first line. Call it first thing in
/// `main`.
pub fn serve_if_child() {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some(SERVER_FLAG) {
        return;
    }
    let latency_ms: u64 = args.next().and_then(|ms| ms.parse().ok()).unwrap_or(0);
    let server = DevServer::start(
        DevServerConfig::default()
            .datafile(SDK_KEY, fixture_datafile())
            .odp_api_key(ODP_API_KEY),
    )
    .expect("dev server starts");
    if latency_ms > 0 {
        server.inject_fault(
            Endpoint::OdpEvents,
            Fault::Latency {
                delay: Duration::from_millis(latency_ms),
                times: u32::MAX,
            },
        );
    }
    println!("{}", server.url());
    std::io::stdout().flush().expect("stdout");
    if args.next().as_deref() == Some(UNTIL_KILLED_FLAG) {
        loop {
            std::thread::park();
        }
    }
    // The parent closes our stdin when it is done (or dies).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    server.shutdown();
    std::process::exit(0);
}

/// A dev server in a child process, with every `POST /v3/events` delayed by a fixed latency.
pub struct BenchServer {
    child: Child,
    stdin: Option<ChildStdin>,
    url: String,
}

impl BenchServer {
    /// Starts the child and waits until it listens.
    pub fn start(latency: Duration) -> BenchServer {
        let exe = std::env::current_exe().expect("bench executable path");
        let mut child = Command::new(exe)
            .arg(SERVER_FLAG)
            .arg(latency.as_millis().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("dev server child starts");
        let stdin = child.stdin.take();
        let mut url = String::new();
        BufReader::new(child.stdout.take().expect("child stdout"))
            .read_line(&mut url)
            .expect("dev server URL");
        BenchServer {
            child,
            stdin,
            url: url.trim().to_owned(),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Datafile URL template for [`ClientBuilder::datafile_url_template`].
    pub fn datafile_url_template(&self) -> String {
        format!("{}/datafiles/{{sdk_key}}.json", self.url)
    }

    /// ODP events the server accepted so far (asks it over HTTP).
    pub fn odp_events_received(&self) -> u64 {
        let url = format!("{}/_dev/odp/events?limit=1", self.url);
        let body = ureq::get(&url)
            .call()
            .expect("dev server answers")
            .body_mut()
            .read_to_string()
            .expect("dev server body");
        let json: serde_json::Value = serde_json::from_str(&body).expect("dev server JSON");
        json["received"].as_u64().expect("received count")
    }

    /// CPU time the server process has used so far.
    pub fn cpu_time(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        cpu_from_stat(&stat)
    }

    /// A ready client fetching its datafile from this server, with `configure` applied to
    /// the builder (ODP settings).
    pub fn client(&self, configure: impl FnOnce(ClientBuilder) -> ClientBuilder) -> Client {
        let builder = Client::builder()
            .sdk_key(SDK_KEY)
            .datafile_url_template(self.datafile_url_template());
        let client = configure(builder).build().expect("client builds");
        client
            .wait_until_ready(Duration::from_secs(10))
            .expect("client gets the datafile");
        client
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- an in-memory ODP endpoint ----

/// A transport that accepts every request at once (`202`) without any I/O, for benches that
/// send more events than a real server on this machine could take in their time budget.
#[derive(Debug, Default)]
pub struct AcceptAll;

impl HttpTransport for AcceptAll {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, HttpError> {
        std::hint::black_box(request.body());
        Ok(HttpResponse {
            status: 202,
            headers: Vec::new(),
            body: br#"{"title":"Accepted","status":202}"#.to_vec(),
        })
    }
}

/// A ready client built from the fixture datafile whose ODP requests go to [`AcceptAll`].
pub fn in_memory_client(configure: impl FnOnce(ClientBuilder) -> ClientBuilder) -> Client {
    let builder = Client::builder()
        .datafile(fixture_datafile())
        .http_transport(Arc::new(AcceptAll));
    configure(builder).build().expect("client builds")
}

// ---- /proc ----

/// CPU time (user + system) of this process so far, all threads, including finished ones.
/// Resolution: 10 ms.
pub fn process_cpu_time() -> Duration {
    cpu_from_stat(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default())
}

/// `utime + stime` from a `/proc/.../stat` line (fields 14 and 15; the command name in
/// parentheses may contain spaces, so fields are counted after the last `)`).
pub fn cpu_from_stat(stat: &str) -> Duration {
    let Some((_, after_name)) = stat.rsplit_once(')') else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name, field 3 (state) is index 0, so utime (14) is index 11, stime index 12.
    let ticks = |index: usize| -> u64 {
        fields
            .get(index)
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    };
    let total = ticks(11) + ticks(12);
    Duration::from_millis(total * 1000 / TICKS_PER_SECOND)
}

/// A `kB` line of `/proc/self/status`, e.g. `VmRSS` or `VmHWM`, in KiB.
pub fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Resets the peak RSS (`VmHWM`) to the current RSS. Returns whether the kernel allowed it.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

// ---- percentiles and JSON lines ----

/// Nearest-rank percentile `p` (0..=100) of sorted `values`.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A flat JSON object printed on one line, built field by field.
#[derive(Default)]
pub struct JsonLine(String);

impl JsonLine {
    /// Adds a string field.
    pub fn text(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        let _ = write!(self.0, "{}", serde_json::Value::from(value));
        self
    }

    /// Adds a number field (integers print without a fraction).
    pub fn num(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.key(key);
        let _ = write!(self.0, "{}", value.into());
        self
    }

    /// Adds a field whose value is already JSON.
    pub fn raw(mut self, key: &str, json: &str) -> Self {
        self.key(key);
        self.0.push_str(json);
        self
    }

    fn key(&mut self, key: &str) {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        let _ = write!(self.0, "{}:", serde_json::Value::from(key));
    }

    /// Prints the object on one line of stdout.
    pub fn print(self) {
        println!("{}}}", self.0);
    }
}

/// Rounds to 3 decimals for printing.
pub fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}
