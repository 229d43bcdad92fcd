// Reads the JSON lines of one comparison run (Rust and JavaScript) and prints Markdown tables
// with the ratios. Usage: node ratios.js results.jsonl
'use strict';

const fs = require('node:fs');

const lines = fs
  .readFileSync(process.argv[2], 'utf8')
  .split('\n')
  .filter((line) => line.startsWith('{'))
  .map((line) => JSON.parse(line));

function find(sdk, bench, key, value) {
  return lines.find((line) => line.sdk === sdk && line.bench === bench && line[key] === value);
}

const fmt = (value, digits = 0) =>
  value === undefined || Number.isNaN(value) ? 'n/a' : Number(value).toFixed(digits);
const ratio = (numerator, denominator) =>
  numerator && denominator ? `${(numerator / denominator).toFixed(2)}×` : 'n/a';

function callerCostTable() {
  console.log('| Caller cost per call (1 thread, dev server) | Rust p50 | JS p50 | JS/Rust p50 | Rust p99 | JS p99 | JS/Rust p99 | Rust mean | JS mean | JS/Rust mean |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const config of ['send, 1 thread, dev server', 'build+send, 1 thread, dev server']) {
    const rust = find('rust', 'odp_send_latency', 'config', config);
    const js = find('js', 'odp_send_latency', 'config', config);
    if (!rust || !js) continue;
    console.log(
      `| ${config} | ${rust.p50_ns} ns | ${js.p50_ns} ns | ${ratio(js.p50_ns, rust.p50_ns)} | ` +
        `${rust.p99_ns} ns | ${js.p99_ns} ns | ${ratio(js.p99_ns, rust.p99_ns)} | ` +
        `${fmt(rust.mean_ns)} ns | ${fmt(js.mean_ns)} ns | ${ratio(js.mean_ns, rust.mean_ns)} |`,
    );
  }
  console.log('');
}

function deliveryTable() {
  console.log('| Delivery (defaults) | Rust events/s | JS events/s | Rust/JS events/s | Rust CPU µs/event | JS CPU µs/event | JS/Rust CPU | Rust delivered | JS delivered |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const scenario of ['delivery, 0 ms latency', 'delivery, 100 ms latency']) {
    const rust = find('rust', 'odp_delivery', 'scenario', scenario);
    const js = find('js', 'odp_delivery', 'scenario', scenario);
    if (!rust || !js) continue;
    console.log(
      `| ${scenario} | ${fmt(rust.delivered_per_s)} | ${fmt(js.delivered_per_s)} | ` +
        `${ratio(rust.delivered_per_s, js.delivered_per_s)} | ${fmt(rust.cpu_us_per_event, 2)} | ` +
        `${fmt(js.cpu_us_per_event, 2)} | ${ratio(js.cpu_us_per_event, rust.cpu_us_per_event)} | ` +
        `${rust.received_by_server}/${rust.events} | ${js.received_by_server}/${js.events} |`,
    );
  }
  console.log('');
}

callerCostTable();
deliveryTable();
