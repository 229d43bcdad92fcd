//! `optimizely-fx dev-server`, run as a user would run it: a real process on a free port,
//! talked to over HTTP on 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Upper bounds for "eventually" (never timing assertions).
const START_TIMEOUT: Duration = Duration::from_secs(60);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/datafiles/go-odp-test-datafile.json"
);
const SEGMENTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../optimizely-fx-devserver/examples/segments.toml"
);
const ODP_KEY: &str = "cli-odp-key";

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let path = std::env::temp_dir().join(format!(
            "optimizely-fx-cli-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_optimizely-fx"));
    command
        .arg("dev-server")
        .args(args)
        .current_dir(dir)
        .env_remove("OPTIMIZELY_FX_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// A running `dev-server`, killed when dropped.
struct Running {
    child: Child,
    url: String,
}

impl Running {
    fn start(dir: &Path, args: &[&str]) -> Running {
        let mut child = command(dir, args).spawn().expect("the binary runs");
        let stdout = child.stdout.take().unwrap();
        let (lines, received) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let first = received.recv_timeout(START_TIMEOUT).unwrap_or_else(|_| {
            let _ = child.kill();
            let mut stderr = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
            panic!("the dev server printed nothing; stderr:\n{stderr}");
        });
        let url = first
            .strip_prefix("dev server listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        Running { child, url }
    }

    fn addr(&self) -> SocketAddr {
        self.url.strip_prefix("http://").unwrap().parse().unwrap()
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        http(self.addr(), method, path, headers, body)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request on a fresh connection; returns the status and the body.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT).unwrap();
    stream.set_read_timeout(Some(REQUEST_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(REQUEST_TIMEOUT)).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    (status, body.to_owned())
}

/// Runs the command to its end (killing it after a generous bound).
fn run_to_exit(dir: &Path, args: &[&str]) -> (ExitStatus, String) {
    let mut child = command(dir, args).spawn().expect("the binary runs");
    let mut stderr = child.stderr.take().unwrap();
    let reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + START_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("dev-server {args:?} kept running; it was expected to fail");
        }
        thread::sleep(Duration::from_millis(50));
    };
    (status, reader.join().unwrap())
}

fn odp_event(action: &str) -> String {
    format!(
        r#"[{{"type":"fullstack","action":"{action}","identifiers":{{"fs_user_id":"cli-user"}},"data":{{}}}}]"#
    )
}

#[test]
fn serves_a_datafile_events_segments_and_the_inspector() {
    let dir = TempDir::new("serve");
    let datafile = format!("cli-key={FIXTURE}");
    let server = Running::start(
        dir.path(),
        &[
            "--port",
            "0",
            "--db",
            "dev.sqlite",
            "--datafile",
            &datafile,
            "--segments-file",
            SEGMENTS,
            "--odp-api-key",
            ODP_KEY,
        ],
    );
    assert!(server.addr().ip().is_loopback());

    let (status, body) = server.request("GET", "/datafiles/cli-key.json", &[], "");
    assert_eq!(status, 200);
    let served: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(served["revision"], "101");
    assert_eq!(served["integrations"][0]["host"], server.url.as_str());
    assert_eq!(served["integrations"][0]["publicKey"], ODP_KEY);

    let key = [("x-api-key", ODP_KEY), ("content-type", "application/json")];
    for _ in 0..3 {
        let (status, _) = server.request("POST", "/v3/events", &key, &odp_event("purchased"));
        assert_eq!(status, 202);
    }
    let query = r#"{"query":"query($userId: String, $audiences: [String]) {customer(fs_user_id: $userId) {audiences(subset: $audiences) {edges {node {name state}}}}}","variables":{"userId":"cli-user","audiences":["frequent_buyers"]}}"#;
    let (status, body) = server.request("POST", "/v3/graphql", &key, query);
    assert_eq!(status, 200);
    assert!(body.contains(r#""state":"qualified""#), "{body}");

    let (status, page) = server.request("GET", "/", &[], "");
    assert_eq!(status, 200);
    assert!(
        page.contains("purchased") && page.contains("cli-user"),
        "{page}"
    );
    assert!(dir.path().join("dev.sqlite").is_file());
}

#[test]
fn a_restart_with_the_same_db_keeps_received_events() {
    let dir = TempDir::new("restart");
    let args = [
        "--port",
        "0",
        "--db",
        "state.sqlite",
        "--odp-api-key",
        ODP_KEY,
    ];
    {
        let server = Running::start(dir.path(), &args);
        let key = [("x-api-key", ODP_KEY)];
        let (status, _) = server.request("POST", "/v3/events", &key, &odp_event("kept"));
        assert_eq!(status, 202);
    } // killed, as by Ctrl-C
    let server = Running::start(dir.path(), &args);
    let (status, body) = server.request("GET", "/_dev/odp/events", &[], "");
    assert_eq!(status, 200);
    let stored: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stored["received"], 1, "{body}");
    assert_eq!(stored["events"][0]["action"], "kept");
    // The demo datafile is served again without a new revision.
    let (_, body) = server.request("GET", "/_dev/datafiles", &[], "");
    let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed["datafiles"][0]["sdk_key"], "demo-sdk-key");
    assert_eq!(listed["datafiles"][0]["current_revision"], 1);
}

#[test]
fn a_bad_datafile_argument_fails_with_a_message() {
    let dir = TempDir::new("bad-datafile");
    let (status, stderr) =
        run_to_exit(dir.path(), &["--port", "0", "--datafile", "no-equals-sign"]);
    assert!(!status.success());
    assert!(stderr.contains("SDK_KEY=PATH"), "{stderr}");

    let (status, stderr) = run_to_exit(
        dir.path(),
        &[
            "--port",
            "0",
            "--db",
            ":memory:",
            "--datafile",
            "k=/no/such/datafile.json",
        ],
    );
    assert!(!status.success());
    assert!(
        stderr.contains("cannot read /no/such/datafile.json"),
        "{stderr}"
    );
}

#[test]
fn a_corrupt_db_fails_with_a_message() {
    let dir = TempDir::new("corrupt-db");
    std::fs::write(dir.path().join("broken.sqlite"), "garbage ".repeat(1000)).unwrap();
    let (status, stderr) = run_to_exit(dir.path(), &["--port", "0", "--db", "broken.sqlite"]);
    assert!(!status.success());
    assert!(stderr.contains("broken.sqlite"), "{stderr}");
    assert!(
        stderr.contains("corrupt or not a SQLite database"),
        "{stderr}"
    );
}

#[test]
fn a_bad_segments_file_fails_with_a_message() {
    let dir = TempDir::new("bad-segments");
    std::fs::write(dir.path().join("segments.toml"), "[[segment]]\nname = 3\n").unwrap();
    let (status, stderr) = run_to_exit(
        dir.path(),
        &[
            "--port",
            "0",
            "--db",
            ":memory:",
            "--segments-file",
            "segments.toml",
        ],
    );
    assert!(!status.success());
    assert!(
        stderr.contains("cannot load segments file segments.toml"),
        "{stderr}"
    );
}

#[test]
fn a_non_loopback_bind_needs_the_explicit_flag() {
    let dir = TempDir::new("bind");
    let (status, stderr) = run_to_exit(
        dir.path(),
        &["--port", "0", "--db", ":memory:", "--bind", "0.0.0.0"],
    );
    assert!(!status.success());
    assert!(stderr.contains("--allow-non-loopback"), "{stderr}");
    let (status, stderr) = run_to_exit(dir.path(), &["--port", "0", "--bind", "not-an-ip"]);
    assert!(!status.success());
    assert!(stderr.contains("not-an-ip"), "{stderr}");
}
