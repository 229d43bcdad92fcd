// A TLS-terminating forwarder for the benchmarks: listens on https://127.0.0.1:<random port>
// with the given certificate and forwards every request to a plain-HTTP server on loopback
// (the dev server), because the official JavaScript SDK refuses a plain http: ODP host.
//
// Usage: node tls_forwarder.js --cert CERT.pem --key KEY.pem --target http://127.0.0.1:PORT
// Prints the https URL it listens on as its first line; runs until killed.
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const { parseArgs } = require('node:util');

const { values } = parseArgs({
  options: {
    cert: { type: 'string' },
    key: { type: 'string' },
    target: { type: 'string' },
  },
});
const target = new URL(values.target);
if (!['127.0.0.1', 'localhost', '[::1]'].includes(target.hostname)) {
  throw new Error(`target must be a loopback address, got ${target.hostname}`);
}
const upstream = new http.Agent({ keepAlive: true, maxSockets: 64 });
const REQUEST_TIMEOUT_MS = 30_000;

function forward(request, response) {
  const headers = { ...request.headers };
  delete headers.host;
  delete headers.connection;
  const outgoing = http.request(
    {
      host: target.hostname,
      port: target.port,
      method: request.method,
      path: request.url,
      headers,
      agent: upstream,
      timeout: REQUEST_TIMEOUT_MS,
    },
    (answer) => {
      response.writeHead(answer.statusCode, answer.headers);
      answer.pipe(response);
    },
  );
  outgoing.on('timeout', () => outgoing.destroy(new Error('upstream timeout')));
  outgoing.on('error', () => {
    if (!response.headersSent) response.writeHead(502);
    response.end();
  });
  request.pipe(outgoing);
}

const server = https.createServer(
  { cert: fs.readFileSync(values.cert), key: fs.readFileSync(values.key), keepAlive: true },
  forward,
);
server.listen(0, '127.0.0.1', () => {
  console.log(`https://127.0.0.1:${server.address().port}`);
});
