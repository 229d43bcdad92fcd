// The official JavaScript SDK (@optimizely/optimizely-sdk 5.x) sending ODP events to the
// optimizely-fx dev server, measured like the Rust benches `odp_send_latency` and
// `odp_delivery`. Prints one JSON line per configuration.
//
// Usage:
//   node odp_bench.js --scenario latency  --dev-server http://127.0.0.1:P --odp-host https://127.0.0.1:Q \
//        --datafile PATH --api-key KEY
//   node odp_bench.js --scenario delivery --events N --latency-ms L (same other options)
//
// --odp-host is the HTTPS forwarder in front of the dev server (the SDK refuses http: hosts);
// trust its certificate with NODE_EXTRA_CA_CERTS. --dev-server is asked directly (plain HTTP)
// how many events it received. --latency-ms only labels the output: the driver injects it.
//
// The sending loop yields to the event loop every 1,000 calls (as a server handling requests
// would), so that batches go out while the loop runs; the time of each yield is not counted as
// caller time. Events (identifier and data maps) are built before the clock starts, except in
// the build+send configuration.
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { parseArgs } = require('node:util');
const optimizelySdk = require('@optimizely/optimizely-sdk');

const { values: args } = parseArgs({
  options: {
    scenario: { type: 'string' },
    'dev-server': { type: 'string' },
    'odp-host': { type: 'string' },
    datafile: { type: 'string' },
    'api-key': { type: 'string' },
    events: { type: 'string', default: '200000' },
    'latency-ms': { type: 'string', default: '0' },
  },
});

const WARM_UP_CALLS = 20_000;
const TIMED_CALLS = 200_000;
const YIELD_EVERY = 1_000;
const DELIVERY_TIMEOUT_MS = 300_000;
const POLL_MS = 50;
const STALL_MS = 5_000;

const yieldToEventLoop = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function identifiers(n) {
  return new Map([['fs_user_id', `user-${n}`]]);
}

function data() {
  return new Map([['count', 1]]);
}

function getJson(url) {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { timeout: 10_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () => resolve(JSON.parse(body)));
    });
    request.on('timeout', () => request.destroy(new Error('dev server timeout')));
    request.on('error', reject);
  });
}

async function receivedByServer() {
  const answer = await getJson(`${args['dev-server']}/_dev/odp/events?limit=1`);
  return answer.received;
}

async function readyClient() {
  const datafile = JSON.parse(fs.readFileSync(args.datafile, 'utf8'));
  for (const integration of datafile.integrations || []) {
    if (integration.key === 'odp') {
      integration.host = args['odp-host'];
      integration.publicKey = args['api-key'];
    }
  }
  const client = optimizelySdk.createInstance({
    datafile,
    logLevel: optimizelySdk.enums.LOG_LEVEL.ERROR,
    odpOptions: {},
  });
  const ready = await client.onReady({ timeout: 10_000 });
  if (!ready.success) throw new Error(`client not ready: ${ready.reason}`);
  return client;
}

function sdkVersion() {
  const entry = require.resolve('@optimizely/optimizely-sdk');
  const manifest = path.join(path.dirname(entry), '..', 'package.json');
  return JSON.parse(fs.readFileSync(manifest, 'utf8')).version;
}

function percentile(sorted, p) {
  const rank = Math.ceil((p / 100) * sorted.length);
  return Number(sorted[Math.min(Math.max(rank, 1), sorted.length) - 1]);
}

function printSummary(config, samples) {
  const sorted = BigUint64Array.from(samples).sort();
  const total = sorted.reduce((sum, value) => sum + value, 0n);
  console.log(
    JSON.stringify({
      bench: 'odp_send_latency',
      sdk: 'js',
      config,
      threads: 1,
      calls: sorted.length,
      p50_ns: percentile(sorted, 50),
      p90_ns: percentile(sorted, 90),
      p99_ns: percentile(sorted, 99),
      p99_9_ns: percentile(sorted, 99.9),
      max_ns: Number(sorted[sorted.length - 1]),
      mean_ns: Math.round((Number(total) / sorted.length) * 1000) / 1000,
    }),
  );
}

function timerOverhead() {
  const samples = new BigUint64Array(TIMED_CALLS);
  for (let i = 0; i < TIMED_CALLS; i++) {
    const start = process.hrtime.bigint();
    samples[i] = process.hrtime.bigint() - start;
  }
  printSummary('timer overhead', samples);
}

// Makes `count` timed calls with user ids from `firstId`; returns each call's duration in ns.
async function timeCalls(client, firstId, count, buildInside) {
  const samples = new BigUint64Array(count);
  for (let i = 0; i < count; i++) {
    const n = firstId + i;
    if (buildInside) {
      const start = process.hrtime.bigint();
      client.sendOdpEvent('purchased', 'fullstack', identifiers(n), data());
      samples[i] = process.hrtime.bigint() - start;
    } else {
      const ids = identifiers(n);
      const values = data();
      const start = process.hrtime.bigint();
      client.sendOdpEvent('purchased', 'fullstack', ids, values);
      samples[i] = process.hrtime.bigint() - start;
    }
    if (i % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEventLoop();
  }
  return samples;
}

// Waits until the server has `expected` events, or until its count stopped growing for
// STALL_MS (the SDK gave up on some batches). Returns the count and when it last grew.
async function waitForServer(expected) {
  const deadline = Date.now() + DELIVERY_TIMEOUT_MS;
  let received = await receivedByServer();
  let lastGrowth = process.hrtime.bigint();
  let lastGrowthMs = Date.now();
  while (received < expected && Date.now() < deadline && Date.now() - lastGrowthMs < STALL_MS) {
    await sleep(POLL_MS);
    const now = await receivedByServer();
    if (now > received) {
      lastGrowth = process.hrtime.bigint();
      lastGrowthMs = Date.now();
    }
    received = now;
  }
  return { received, lastGrowth };
}

async function latencyScenario() {
  timerOverhead();
  const client = await readyClient();
  let firstId = 0;
  for (const [config, buildInside] of [
    ['send, 1 thread, dev server', false],
    ['build+send, 1 thread, dev server', true],
  ]) {
    const baseline = await receivedByServer();
    await timeCalls(client, firstId, WARM_UP_CALLS, buildInside);
    const samples = await timeCalls(client, firstId + WARM_UP_CALLS, TIMED_CALLS, buildInside);
    firstId += 10_000_000;
    printSummary(config, samples);
    // Let this configuration's events reach the server before the next one starts.
    await waitForServer(baseline + WARM_UP_CALLS + TIMED_CALLS);
  }
  await client.close();
}

async function deliveryScenario() {
  const events = Number(args.events);
  const client = await readyClient();
  const baseline = await receivedByServer();
  const cpuBefore = process.cpuUsage();
  const start = process.hrtime.bigint();
  for (let n = 0; n < events; n++) {
    client.sendOdpEvent('purchased', 'fullstack', identifiers(n), data());
    if (n % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEventLoop();
  }
  const sendLoop = process.hrtime.bigint() - start;
  const arrival = await waitForServer(baseline + events);
  const cpu = process.cpuUsage(cpuBefore);
  const received = arrival.received - baseline;
  const elapsed = arrival.lastGrowth - start;
  const cpuMicros = cpu.user + cpu.system;
  const seconds = Number(elapsed) / 1e9;
  console.log(
    JSON.stringify({
      bench: 'odp_delivery',
      sdk: 'js',
      sdk_version: sdkVersion(),
      scenario: `delivery, ${args['latency-ms']} ms latency`,
      latency_ms: Number(args['latency-ms']),
      events,
      received_by_server: received,
      seconds: Math.round(seconds * 1000) / 1000,
      send_loop_seconds: Math.round(Number(sendLoop) / 1e6) / 1000,
      delivered_per_s: Math.round(received / seconds),
      cpu_ms: Math.round(cpuMicros / 1000),
      cpu_us_per_event: Math.round((cpuMicros / Math.max(received, 1)) * 1000) / 1000,
      peak_rss_kib: Math.round(process.resourceUsage().maxRSS),
    }),
  );
  await client.close();
}

async function main() {
  if (args.scenario === 'latency') await latencyScenario();
  else if (args.scenario === 'delivery') await deliveryScenario();
  else throw new Error('--scenario latency|delivery');
  // close() resolves before the last ODP batch is on the wire: let the event loop drain.
  await sleep(500);
}

// The SDK keeps timers running after close(), so the process is ended explicitly.
main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
