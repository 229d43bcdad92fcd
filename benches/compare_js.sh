#!/usr/bin/env bash
# Side-by-side ODP benchmarks: optimizely-fx (Rust) and the official JavaScript SDK 5.x against
# the same dev server code, in one run, on loopback only. Prints every JSON line, then Markdown
# tables with the ratios.
#
# Usage: benches/compare_js.sh            (from anywhere; about 7 minutes on 2 cores)
# Needs: cargo, node >= 18, npm, openssl.
#
# Each scenario gets a fresh dev server (in-memory database) in its own process: the Rust benches
# start theirs as a child process; for the JavaScript SDK this script starts the same server
# from the same bench executable. The JavaScript SDK refuses plain-http ODP hosts, so it reaches
# the dev server through a TLS-terminating forwarder (benches/js/tls_forwarder.js) whose
# certificate is made here, in a temporary directory, and trusted with NODE_EXTRA_CA_CERTS. The
# Rust SDK talks plain HTTP to its server.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JS_DIR="$ROOT/benches/js"
DATAFILE="$ROOT/tests/fixtures/datafiles/go-odp-test-datafile.json"
API_KEY="odp-bench-key"
WORK="$(mktemp -d)"
RESULTS="$WORK/results.jsonl"
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# Reads the first line of a background process's output file (its URL), waiting up to 10 s.
first_line() {
  local file="$1"
  for _ in $(seq 100); do
    if [[ -s "$file" ]]; then
      head -n 1 "$file"
      return
    fi
    sleep 0.1
  done
  echo "no output in $file" >&2
  exit 1
}

# Starts a dev server (the Rust benches' own: `odp_delivery --odp-bench-server`, same code and
# settings as theirs) with `latency_ms` on POST /v3/events, and the TLS forwarder in front of
# it. Sets DEV_URL and ODP_HOST.
start_servers() {
  local latency_ms="$1" tag="$2"
  "$BENCH_BIN" --odp-bench-server "$latency_ms" --until-killed >"$WORK/dev-$tag.out" 2>&1 &
  PIDS+=($!)
  DEV_URL="$(first_line "$WORK/dev-$tag.out" | grep -o 'http://127.0.0.1:[0-9]*')"
  node "$JS_DIR/tls_forwarder.js" --cert "$WORK/cert.pem" --key "$WORK/key.pem" \
    --target "$DEV_URL" >"$WORK/fwd-$tag.out" 2>&1 &
  PIDS+=($!)
  ODP_HOST="$(first_line "$WORK/fwd-$tag.out")"
}

run_js() {
  NODE_EXTRA_CA_CERTS="$WORK/cert.pem" node "$JS_DIR/odp_bench.js" \
    --dev-server "$DEV_URL" --odp-host "$ODP_HOST" --datafile "$DATAFILE" --api-key "$API_KEY" \
    "$@" | tee -a "$RESULTS"
}

echo "== $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores; node $(node --version)"
echo "== building (release)"
BENCH_BIN="$(cd "$ROOT" && cargo bench -q -p optimizely-fx --bench odp_send_latency \
  --bench odp_delivery --no-run --message-format=json | node -e '
    const lines = require("node:fs").readFileSync(0, "utf8").split("\n").filter(Boolean);
    const artifact = lines.map((line) => JSON.parse(line))
      .find((m) => m.reason === "compiler-artifact" && m.target.name === "odp_delivery");
    console.log(artifact.executable);')"
[[ -d "$JS_DIR/node_modules" ]] || npm ci --prefix "$JS_DIR" --no-audit --no-fund
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

# Only the configurations with a JavaScript counterpart (the benches alone run them all).
echo "== Rust: caller cost (odp_send_latency)"
(cd "$ROOT" && cargo bench -q -p optimizely-fx --bench odp_send_latency -- "1 thread, dev server") |
  tee -a "$RESULTS"
echo "== Rust: delivery (odp_delivery)"
(cd "$ROOT" && cargo bench -q -p optimizely-fx --bench odp_delivery -- "delivery") | tee -a "$RESULTS"

echo "== JavaScript: caller cost"
start_servers 0 latency
run_js --scenario latency
echo "== JavaScript: delivery, 0 ms"
start_servers 0 delivery0
run_js --scenario delivery --events 200000 --latency-ms 0
echo "== JavaScript: delivery, 100 ms"
start_servers 100 delivery100
run_js --scenario delivery --events 20000 --latency-ms 100

echo
echo "== Ratios"
node "$JS_DIR/ratios.js" "$RESULTS"
