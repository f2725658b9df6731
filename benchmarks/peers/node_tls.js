// Peer: Node.js `tls`, written as a Node user would (events, write() + 'drain').
// Same command line as every peer (see benchmarks/peers/_common.py):
//   node node_tls.js server tls-source|tls-hs | client tls-download|tls-handshakes PORT [opts] | check
// Certificates come from the dir named in UNISOCK_BENCH_CERTS (ca.pem, chain.pem, key.pem).
'use strict';

const fs = require('fs');
const path = require('path');
const tls = require('tls');

const HOST = '127.0.0.1';
const CHUNK = Buffer.alloc(128 * 1024, 'x');

function option(argv, name, fallback) {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? Number(argv[i + 1]) : fallback;
}

function fail(message) {
  process.stderr.write(message + '\n', () => process.exit(1));
}

function pem(name) {
  const dir = process.env.UNISOCK_BENCH_CERTS;
  if (!dir) fail('UNISOCK_BENCH_CERTS names no certificate dir');
  return fs.readFileSync(path.join(dir, name + '.pem'));
}

function serve(mode) {
  const server = tls.createServer({ cert: pem('chain'), key: pem('key') }, (sock) => {
    sock.on('error', () => sock.destroy());
    if (mode === 'tls-source') {
      const go = () => {
        while (!sock.destroyed) {
          if (!sock.write(CHUNK)) {
            sock.once('drain', go);
            return;
          }
        }
      };
      go();
    } else {
      sock.on('data', () => {});
      sock.on('end', () => sock.end());
    }
  });
  server.on('tlsClientError', () => {});
  server.listen(0, HOST, () => {
    process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
  });
}

function client(mode, port, warmup, duration) {
  const meter = { count: 0 };
  const ca = pem('ca');
  if (mode === 'tls-download') {
    const sock = tls.connect({ host: HOST, port, ca });
    sock.on('data', (data) => { meter.count += data.length; });
    sock.on('error', (e) => fail('node: ' + e.message));
    sock.on('end', () => fail('node: the server closed the connection'));
  } else {
    const once = () => {
      const sock = tls.connect({ host: HOST, port, ca }, () => sock.end());
      sock.on('error', (e) => fail('node: ' + e.message));
      sock.on('data', () => {});
      sock.on('close', () => { meter.count += 1; once(); });
    };
    once();
  }
  setTimeout(() => {
    const base = meter.count;
    const start = process.hrtime.bigint();
    setTimeout(() => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const line = JSON.stringify({ count: meter.count - base, seconds }) + '\n';
      process.stdout.write(line, () => process.exit(0));
    }, duration * 1000);
  }, warmup * 1000);
}

const argv = process.argv.slice(2);
const [role, mode, port] = argv;
if (role === 'server') serve(mode);
else if (role === 'client') client(mode, Number(port), option(argv, '--warmup', 0.5), option(argv, '--duration', 2));
else if (role === 'check') pem('ca');
else fail('usage: node_tls.js server|client|check MODE [PORT]');
