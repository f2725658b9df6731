"""UDP workloads and peers (issue 5): a C blaster's datagrams received, and ping-pong.

The programs and their protocol are those of benchmarks/udp_bench.py (imported, not
copied): C senders ``c/udp_blast.c`` and ``c/udp_ping.c``; receivers that print
``READY <port>`` once bound and ``received N BYTES CPU_SECONDS`` on SIGTERM: C
(``c/udp_server.c``, the limit), Node's ``dgram`` (peers/node_dgram.js), asyncio's
``DatagramProtocol`` on the stock loop and on uvloop (``udp_bench.py --serve``), a raw
``trio.socket`` loop (``trio_peer.py``), and unisock's public API (``unisock_peer.py`` /
``unisock_trio_peer.py server udp-sink|udp-echo``) on both loops and under trio.

* ``udp_blast``: the C sender sends 64-byte datagrams for the window, as fast as the
  kernel takes them, receiver and sender on different CPUs; datagrams received per second.
* ``udp_delivered``: the share of those datagrams the receiver got, in % (the share lost is
  100 minus it; higher is better like every other column, so its ratios read the same way;
  taken from the same ``udp_blast`` run when it ran just before).
* ``udp_pingpong``: the C client sends one 64-byte datagram and waits for its echo, both
  processes pinned to one CPU; round trips per second.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import udp_bench  # benchmarks/udp_bench.py (run.py puts benchmarks/ on sys.path)

from .kinds import HOST, KindPeer
from .peers import PEERS, Peer, PeerError
from .procs import Procs, _children_cpu, _cpu_seconds, _read_line, _tail, last_cpu
from .settings import Settings
from .workloads import Prepared, Workload, register

KIND = "udp"
SIZE = 64
DRAIN = 0.3
"""Seconds the receiver gets after the sender stops, to empty its socket buffer."""

_delivered: dict[str, float] = {}
"""The last blast's delivered share per peer, for ``udp_delivered``."""


def _build(name: str) -> str:
    try:
        return str(udp_bench.build(name))
    except (OSError, subprocess.SubprocessError) as e:
        raise PeerError(f"cannot build c/{name}.c: {e}") from None


@dataclass(frozen=True)
class UdpPeer(KindPeer):
    """A receiver speaking udp_bench.py's protocol; ``receiver`` names it there."""

    receiver: str = ""
    """udp_bench.py's name for it; empty for unisock (unisock_peer.py's udp modes)."""

    def prepare(self) -> tuple[str, ...]:
        _build("udp_blast")
        _build("udp_ping")
        if not self.receiver:
            return super().prepare()
        try:
            argv = udp_bench.server_argv(self.receiver, "sink")
        except (OSError, subprocess.SubprocessError) as e:
            raise PeerError(f"cannot build the receiver: {e}") from None
        if argv is None:
            raise PeerError("node is not installed")
        return ()

    def argv(self, prefix: tuple[str, ...], role: str, *args: str) -> list[str]:
        if role == "check":
            needs = "import uvloop" if self.loop == "uvloop" else "pass"
            if not self.receiver:
                return super().argv(prefix, role, *args)
            return [sys.executable, "-c", needs]
        mode = args[0]
        if not self.receiver:
            return super().argv(prefix, role, f"udp-{mode}")
        argv = udp_bench.server_argv(self.receiver, mode)
        assert argv is not None  # prepare() checked
        return argv


class _Receiver:
    """A receiver process started through ``procs`` (so it is always killed)."""

    def __init__(self, procs: Procs, argv: list[str], cpu: int | None, timeout: float) -> None:
        self.proc, self.err = procs._spawn(argv, cpu)
        line = _read_line(self.proc, timeout)
        fields = (line or "").split()
        if len(fields) != 2 or fields[0] != "READY":
            raise PeerError(f"receiver printed {line!r}: {_tail(self.err)}")
        self.port = fields[1]

    def stop(self) -> int:
        """SIGTERM, then the count of datagrams it reports."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            raise PeerError("the receiver did not report within 10 s of SIGTERM") from None
        for line in out.decode(errors="replace").splitlines():
            if line.startswith("received"):
                return int(line.split()[1])
        raise PeerError(f"the receiver reported nothing: {_tail(self.err)}")


def _sender(procs: Procs, argv: list[str], cpu: int | None, timeout: float) -> list[str]:
    proc, err = procs._spawn(argv, cpu)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise PeerError(f"{os.path.basename(argv[0])} hung for {timeout:g} s") from None
    if proc.returncode != 0:
        raise PeerError(f"{os.path.basename(argv[0])} failed: {_tail(err)}")
    return out.decode(errors="replace").split()


def blast(peer: Peer, settings: Settings, procs: Procs, prepared: Prepared) -> float:
    prefix = prepared(peer)
    cpus = sorted(os.sched_getaffinity(0))
    recv_cpu, send_cpu = (cpus[0], cpus[-1]) if len(cpus) > 1 else (None, None)
    receiver = _Receiver(procs, peer.argv(prefix, "server", "sink"), recv_cpu,
                         settings.start_timeout)  # fmt: skip
    argv = [_build("udp_blast"), HOST, receiver.port, str(settings.duration), str(SIZE)]
    out = _sender(procs, argv, send_cpu, settings.client_timeout())
    sent = int(out[1])
    time.sleep(DRAIN)
    received = receiver.stop()
    if received <= 0 or sent <= 0:
        raise PeerError(f"nothing received ({received} of {sent} datagrams)")
    _delivered[peer.name] = 100.0 * min(1.0, received / sent)
    return received / settings.duration


def delivered(peer: Peer, settings: Settings, procs: Procs, prepared: Prepared) -> float:
    if peer.name not in _delivered:
        blast(peer, settings, procs, prepared)
    return _delivered.pop(peer.name)


def pingpong(peer: Peer, settings: Settings, procs: Procs, prepared: Prepared) -> float:
    prefix = prepared(peer)
    cpu = last_cpu()
    receiver = _Receiver(procs, peer.argv(prefix, "server", "echo"), cpu, settings.start_timeout)
    ping = _build("udp_ping")
    timeout = settings.client_timeout()
    if settings.warmup > 0:
        _sender(procs, [ping, HOST, receiver.port, str(settings.warmup), str(SIZE)], cpu, timeout)
    server_before = _cpu_seconds(receiver.proc.pid)
    client_before = _children_cpu()
    out = _sender(procs, [ping, HOST, receiver.port, str(settings.duration), str(SIZE)], cpu,
                  timeout)  # fmt: skip
    client = _children_cpu() - client_before  # the C client, reaped by _sender
    server_after = _cpu_seconds(receiver.proc.pid)
    trips = int(out[1])
    if trips <= 0:
        raise PeerError("no round trip completed")
    if server_before is not None and server_after is not None:
        procs.cpu_per_op = (client / trips * 1e6, (server_after - server_before) / trips * 1e6)
    return trips / settings.duration


register(Workload("udp_blast", "UDP blast dgram/s", "dgram/s", blast, kind=KIND))
register(Workload("udp_delivered", "UDP blast delivered %", "%", delivered, kind=KIND))
register(Workload("udp_pingpong", "UDP 1 core rt/s", "rt/s", pingpong, kind=KIND))

UVLOOP = ("--loop", "uvloop")
for _peer in [
    UdpPeer("udp-c", "c", "c", kind=KIND, receiver="C (limit)"),
    UdpPeer("udp-node", "node_dgram.js", "node", kind=KIND, receiver="Node.js dgram"),
    UdpPeer("udp-asyncio-endpoint", "", "asyncio", kind=KIND, receiver="asyncio DatagramProtocol"),
    UdpPeer("udp-uvloop-endpoint", "", "uvloop", kind=KIND, receiver="uvloop DatagramProtocol"),
    UdpPeer("unisock-udp", "unisock_peer.py", "asyncio", kind=KIND, subject=True),
    UdpPeer("unisock-udp-uvloop", "unisock_peer.py", "uvloop", UVLOOP, kind=KIND, subject=True),
    # trio has no datagram abstraction: its row is a raw trio.socket recvfrom/sendto loop.
    UdpPeer("udp-trio", "trio_peer.py", "trio", kind=KIND),
    UdpPeer("unisock-udp-trio", "unisock_trio_peer.py", "trio", kind=KIND, subject=True),
]:
    PEERS[_peer.name] = _peer
