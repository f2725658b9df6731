// node node_dgram.js sink|echo HOST PORT: Node's dgram as a UDP receiver (peer of udp_bench.py).
// Prints "READY <port>" once bound and "received N BYTES CPU_SECONDS" on SIGTERM.
'use strict';
const dgram = require('dgram');
const [mode, host, port] = process.argv.slice(2);
const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
let count = 0;
let bytes = 0;
if (mode === 'echo') {
  sock.on('message', (msg, rinfo) => {
    count++;
    bytes += msg.length;
    sock.send(msg, rinfo.port, rinfo.address);
  });
} else {
  sock.on('message', (msg) => {
    count++;
    bytes += msg.length;
  });
}
let cpu0 = null;
sock.bind(Number(port), host, () => {
  cpu0 = process.cpuUsage();
  process.stdout.write(`READY ${sock.address().port}\n`);
});
process.on('SIGTERM', () => {
  const cpu = process.cpuUsage(cpu0);
  const seconds = (cpu.user + cpu.system) / 1e6;
  process.stdout.write(`received ${count} ${bytes} ${seconds}\n`, () => process.exit(0));
});
