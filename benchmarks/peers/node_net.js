// Peer: Node.js `net` sockets, written as a Node user would (events, write() + 'drain', pipe()).
// Same command line as every peer (see benchmarks/peers/_common.py):
//   node node_net.js server sink|source|echo | proxy UPSTREAM | client MODE PORT [opts] | check
'use strict';

const net = require('net');

const CHUNK = Buffer.alloc(128 * 1024, 'x');
const MSG = Buffer.alloc(64, 'p');

function option(argv, name, fallback) {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? Number(argv[i + 1]) : fallback;
}

function announce(server) {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
}

function report(count, seconds) {
  process.stdout.write(JSON.stringify({ count, seconds }) + '\n', () => process.exit(0));
}

// Write chunks until write() says the buffer is full, then wait for 'drain'.
function pump(sock, meter) {
  const go = () => {
    for (;;) {
      const ok = sock.write(CHUNK);
      if (meter) meter.count += CHUNK.length;
      if (!ok) {
        sock.once('drain', go);
        return;
      }
    }
  };
  go();
}

function serve(mode, upstream) {
  const server = net.createServer({ noDelay: true }, (sock) => {
    sock.setNoDelay(true);
    sock.on('error', () => sock.destroy());
    if (upstream) {
      const up = net.connect({ port: upstream, host: '127.0.0.1', noDelay: true });
      up.on('error', () => { up.destroy(); sock.destroy(); });
      sock.on('close', () => up.destroy());
      sock.pipe(up);
      up.pipe(sock);
    } else if (mode === 'sink') {
      sock.on('data', () => {});
    } else if (mode === 'echo') {
      sock.on('data', (data) => sock.write(data));
    } else if (mode === 'source') {
      pump(sock, null);
    }
  });
  server.listen(0, '127.0.0.1', () => announce(server));
}

function connect(port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1', noDelay: true }, () => resolve(sock));
    sock.once('error', reject);
  });
}

async function client(mode, port, argv) {
  const warmup = option(argv, '--warmup', 0.5);
  const duration = option(argv, '--duration', 2.0);
  const conns = option(argv, '--conns', 1);
  const meter = { count: 0 };
  const fail = (err) => { process.stderr.write(`node: ${err.message}\n`); process.exit(1); };
  if (mode === 'pingpong') {
    const socks = [];
    for (let i = 0; i < conns; i++) socks.push(await connect(port));
    for (const sock of socks) {
      let got = 0;
      sock.on('error', fail);
      sock.on('data', (data) => {
        got += data.length;
        if (got >= MSG.length) {
          got -= MSG.length;
          meter.count++;
          sock.write(MSG);
        }
      });
      sock.write(MSG);
    }
  } else {
    const sock = await connect(port);
    sock.on('error', fail);
    if (mode === 'upload') pump(sock, meter);
    else sock.on('data', (data) => { meter.count += data.length; });
  }
  setTimeout(() => {
    const base = meter.count;
    const start = process.hrtime.bigint();
    setTimeout(() => {
      report(meter.count - base, Number(process.hrtime.bigint() - start) / 1e9);
    }, duration * 1000);
  }, warmup * 1000);
}

function main() {
  const argv = process.argv.slice(2);
  const [role, mode, port] = argv;
  if (role === 'check') return;
  if (role === 'server') serve(mode, 0);
  else if (role === 'proxy') serve('proxy', Number(mode));
  else if (role === 'client') {
    client(mode, Number(port), argv).catch((err) => {
      process.stderr.write(`node: ${err.message}\n`);
      process.exit(1);
    });
  } else {
    process.stderr.write('usage: node_net.js server MODE | proxy UPSTREAM | client MODE PORT\n');
    process.exit(2);
  }
}

main();
