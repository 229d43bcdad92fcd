//! Server CPU time per received ODP event: `POST /v3/events` batches of 10 and of 100 events
//! sent over one keep-alive connection (each request after the previous answer) or over four
//! at once (as the SDK's dispatcher does), to an in-memory and to a file database.
//!
//! Run: `cargo bench -p optimizely-fx-devserver --bench odp_ingest` (an argument filters
//! scenarios by substring, e.g. `memory`, `file`, `batch 10,`, `4 keep-alive`). Environment:
//! `ODP_INGEST_EVENTS` sets the events per scenario (default 50,000), `ODP_INGEST_BATCHES`
//! and `ODP_INGEST_CONNECTIONS` the comma-separated batch sizes (`0` sends empty batches) and
//! connection counts, `ODP_INGEST_WORKERS` the server's worker threads. Prints one JSON line
//! per scenario.
//!
//! The server runs in a child process (this executable started again), so its CPU time, read
//! from `/proc/PID/stat` (resolution 10 ms), is the server's alone. Every scenario starts a
//! fresh server and warms it up with a few batches first.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use optimizely_fx_devserver::{DevServer, DevServerConfig, EventRule, SegmentDefinition};

const SERVER_FLAG: &str = "--odp-ingest-server";
const API_KEY: &str = "ingest-key";
const DEFAULT_EVENTS: u64 = 50_000;
const WARM_UP_BATCHES: u64 = 20;
/// Linux reports process times in clock ticks of 1/100 s (`USER_HZ`, fixed by the ABI).
const TICKS_PER_SECOND: u64 = 100;

fn main() {
    serve_if_child();
    let filter = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with("--"))
        .unwrap_or_default();
    let events = std::env::var("ODP_INGEST_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_EVENTS);
    for storage in [Storage::Memory, Storage::File] {
        for batch in sizes("ODP_INGEST_BATCHES", &[10, 100]) {
            for connections in sizes("ODP_INGEST_CONNECTIONS", &[1, 4]) {
                let connections = connections.max(1);
                let name = format!(
                    "{}, batch {batch}, {connections} keep-alive connection{}",
                    storage.name(),
                    if connections == 1 { "" } else { "s" }
                );
                if name.contains(filter.as_str()) {
                    scenario(&name, storage, batch, events, connections);
                }
            }
        }
    }
}

/// The comma-separated numbers in environment variable `name`, or `default`.
fn sizes(name: &str, default: &[u64]) -> Vec<u64> {
    std::env::var(name)
        .ok()
        .map(|sizes| {
            sizes
                .split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        })
        .unwrap_or_else(|| default.to_vec())
}

#[derive(Clone, Copy)]
enum Storage {
    Memory,
    File,
}

impl Storage {
    fn name(self) -> &'static str {
        match self {
            Storage::Memory => "memory",
            Storage::File => "file",
        }
    }
}

fn scenario(name: &str, storage: Storage, batch: u64, events: u64, connections: u64) {
    let directory = std::env::temp_dir().join(format!("odp-ingest-{}", std::process::id()));
    let database = match storage {
        Storage::Memory => None,
        Storage::File => {
            std::fs::create_dir_all(&directory).expect("temporary directory");
            Some(directory.join("devserver.sqlite3"))
        }
    };
    let server = ChildServer::start(database.as_deref());
    let mut connection = Connection::open(&server.addr);
    let mut next_id = 0;
    for _ in 0..WARM_UP_BATCHES {
        connection.post_events(&event_batch(&mut next_id, batch));
    }
    let batches = events.div_ceil(batch.max(1));
    let bodies: Vec<String> = (0..batches)
        .map(|_| event_batch(&mut next_id, batch))
        .collect();
    let mut clients: Vec<Connection> = (0..connections)
        .map(|_| Connection::open(&server.addr))
        .collect();
    let step = clients.len();
    let cpu_before = server.cpu_time();
    let start = Instant::now();
    let slowest = std::thread::scope(|scope| {
        let sending: Vec<_> = clients
            .iter_mut()
            .enumerate()
            .map(|(first, client)| {
                let bodies = &bodies;
                scope.spawn(move || send_every(client, bodies, first, step))
            })
            .collect();
        sending
            .into_iter()
            .map(|thread| thread.join().expect("client thread"))
            .max()
            .unwrap_or_default()
    });
    let elapsed = start.elapsed();
    let cpu = server.cpu_time().saturating_sub(cpu_before);
    let received = connection.received();
    assert_eq!(received, next_id, "the server counted every event");
    let peak_rss_kib = server.peak_rss_kib();
    drop(server);
    let _ = std::fs::remove_dir_all(&directory);
    let measured = batches * batch;
    println!(
        "{{\"bench\":\"odp_ingest\",\"scenario\":\"{name}\",\"events\":{measured},\
         \"batch\":{batch},\"connections\":{connections},\"seconds\":{:.3},\
         \"requests_per_s\":{:.0},\"slowest_request_ms\":{:.3},\"server_cpu_ms\":{},\
         \"server_cpu_us_per_request\":{:.3},\"server_cpu_us_per_event\":{:.3},\
         \"server_peak_rss_kib\":{peak_rss_kib}}}",
        elapsed.as_secs_f64(),
        batches as f64 / elapsed.as_secs_f64(),
        slowest.as_secs_f64() * 1e3,
        cpu.as_millis(),
        cpu.as_secs_f64() * 1e6 / batches as f64,
        cpu.as_secs_f64() * 1e6 / measured.max(1) as f64,
    );
}

/// Posts `bodies[first]`, `bodies[first + step]`, ... one after the other; returns the
/// longest a request took.
fn send_every(client: &mut Connection, bodies: &[String], first: usize, step: usize) -> Duration {
    let mut slowest = Duration::ZERO;
    for body in bodies.iter().skip(first).step_by(step) {
        let sent = Instant::now();
        client.post_events(body);
        slowest = slowest.max(sent.elapsed());
    }
    slowest
}

/// A batch like the SDK sends: one `fs_user_id` per event (a new user each time), the SDK's
/// data fields and one of the caller's.
fn event_batch(next_id: &mut u64, size: u64) -> String {
    let events: Vec<String> = (0..size)
        .map(|_| {
            let id = *next_id;
            *next_id += 1;
            format!(
                "{{\"type\":\"fullstack\",\"action\":\"purchased\",\
                 \"identifiers\":{{\"fs_user_id\":\"user-{id}\"}},\
                 \"data\":{{\"idempotence_id\":\"00000000-0000-4000-8000-{id:012}\",\
                 \"data_source_type\":\"sdk\",\"data_source\":\"rust-sdk\",\
                 \"data_source_version\":\"0.1.0\",\"count\":1}}}}"
            )
        })
        .collect();
    format!("[{}]", events.join(","))
}

/// One keep-alive HTTP/1.1 connection to the server.
struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Connection {
    fn open(addr: &str) -> Connection {
        let stream = TcpStream::connect(addr).expect("server accepts a connection");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("read timeout");
        Connection {
            writer: stream.try_clone().expect("stream clone"),
            reader: BufReader::new(stream),
        }
    }

    fn post_events(&mut self, body: &str) {
        let request = format!(
            "POST /v3/events HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
             x-api-key: {API_KEY}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        self.writer
            .write_all(request.as_bytes())
            .expect("request sent");
        let (status, answer) = self.response();
        assert_eq!(status, 202, "{answer}");
    }

    /// Events the server counted (`GET /_dev/odp/events?limit=1`).
    fn received(&mut self) -> u64 {
        self.writer
            .write_all(b"GET /_dev/odp/events?limit=1 HTTP/1.1\r\nhost: localhost\r\n\r\n")
            .expect("request sent");
        let (status, answer) = self.response();
        assert_eq!(status, 200, "{answer}");
        let json: serde_json::Value = serde_json::from_str(&answer).expect("JSON answer");
        json["received"].as_u64().expect("received count")
    }

    fn response(&mut self) -> (u16, String) {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .expect("status code");
        let mut length = 0;
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header line");
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().expect("content length");
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}

/// The dev server in a child process; it stops when its stdin closes.
struct ChildServer {
    child: Child,
    stdin: Option<ChildStdin>,
    addr: String,
}

impl ChildServer {
    fn start(database: Option<&std::path::Path>) -> ChildServer {
        let exe = std::env::current_exe().expect("bench executable path");
        let mut command = Command::new(exe);
        command.arg(SERVER_FLAG);
        if let Some(path) = database {
            command.arg(path);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("server child starts");
        let stdin = child.stdin.take();
        let mut addr = String::new();
        BufReader::new(child.stdout.take().expect("child stdout"))
            .read_line(&mut addr)
            .expect("server address");
        ChildServer {
            child,
            stdin,
            addr: addr.trim().to_owned(),
        }
    }

    /// The server's peak resident memory (`VmHWM`), 0 if unknown.
    fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    }

    fn cpu_time(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let ticks: u64 = after_name
            .split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|field| field.parse::<u64>().ok())
            .sum();
        Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND)
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
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

/// Runs the server and exits when this process is the child of [`ChildServer::start`]. The
/// server has a segment rule over the received events, as a configured dev server would.
fn serve_if_child() {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some(SERVER_FLAG) {
        return;
    }
    let rule = EventRule::new("purchased").expect("valid rule");
    let segment = SegmentDefinition::new("buyers")
        .expect("valid segment")
        .with_rule(rule);
    let mut config = DevServerConfig::default()
        .odp_api_key(API_KEY)
        .segment_rules(vec![segment]);
    if let Some(threads) = std::env::var("ODP_INGEST_WORKERS")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        config = config.worker_threads(threads);
    }
    if let Some(path) = args.next() {
        config = config.database(path);
    }
    let server = DevServer::start(config).expect("dev server starts");
    println!("{}", server.addr());
    std::io::stdout().flush().expect("stdout");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    server.shutdown();
    std::process::exit(0);
}
