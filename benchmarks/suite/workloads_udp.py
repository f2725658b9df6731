"""UDP workloads and peers (issue 5): a C blaster's datagrams received, and ping-pong.

The programs and their protocol are those of benchmarks/udp_bench.py (imported, not
copied): C senders ``c/udp_blast.c`` and ``c/udp_ping.c``; receivers that print
``READY <port>`` once bound and ``received N BYTES CPU_SECONDS`` on SIGTERM: C
(``c/udp_server.c``, the limit), Node's ``dgram`` (peers/node_dgram.js), asyncio's
``DatagramProtocol`` on the stock loop and on uvloop (``udp_bench.py --serve``), a raw
``trio.socket`` loop (``trio_peer.py``), and unisock's public API (``unisock_peer.py`` /
``unisock_trio_peer.py server udp-sink|udp-echo``) on both loops and under trio, and
with a sync ``"data"`` listener instead of the readable (``unisock-udp-data*``, ``--data``).

* ``udp_blast``: the C sender sends 64-byte datagrams for the window, as fast as the
  kernel takes them, receiver and sender on different CPUs; datagrams received per second.
* ``udp_delivered``: the share of those datagrams the receiver got, in % (the share lost is
  100 minus it; higher is better like every other column, so its ratios read the same way;
  taken from the same ``udp_blast`` run when it ran just before).
* ``udp_pingpong``: the C client sends one 64-byte datagram and waits for its echo, both
  processes pinned to one CPU; round trips per second.
* ``udp_send``: the peer is the sender: 64-byte datagrams as fast as it goes, on a
  connected socket, into the C receiver (``c/udp_server.c sink``) on another CPU;
  datagrams the receiver got per second, and the sender's CPU per datagram it sent (the
  ``client`` CPU column).  Senders: unisock's ``writer.write`` (``unisock_peer.py client
  udp-send``), ``DatagramProtocol``'s ``transport.sendto`` on both loops
  (``udp_bench.py --send``), and C (``c/udp_blast.c``, the limit).
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
from .workloads import PER_OP_WORKLOADS, Prepared, Workload, register

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

    def sender_argv(self, prefix: tuple[str, ...], port: str, seconds: float) -> list[str]:
        """The command line of this peer as a sender of ``SIZE``-byte datagrams."""
        if not self.receiver:
            return super().argv(prefix, "client", "udp-send", port, "--duration", str(seconds))
        argv = udp_bench.sender_argv(self.receiver, int(port), seconds, SIZE)
        if argv is None:
            raise PeerError("has no sender in this suite")
        return argv

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

    cpu: float | None = None
    """The CPU seconds it reported (``stop()`` sets it)."""

    def stop(self) -> int:
        """SIGTERM, then the count of datagrams it reports."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            raise PeerError("the receiver did not report within 10 s of SIGTERM") from None
        for line in out.decode(errors="replace").splitlines():
            if line.startswith("received"):
                fields = line.split()
                if len(fields) > 3:
                    self.cpu = float(fields[3])
                return int(fields[1])
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


def send(peer: Peer, settings: Settings, procs: Procs, prepared: Prepared) -> float:
    prefix = prepared(peer)
    assert isinstance(peer, UdpPeer)
    cpus = sorted(os.sched_getaffinity(0))
    recv_cpu, send_cpu = (cpus[0], cpus[-1]) if len(cpus) > 1 else (None, None)
    c_sink = udp_bench.server_argv("C (limit)", "sink")
    assert c_sink is not None  # the C receiver needs only gcc
    receiver = _Receiver(procs, c_sink, recv_cpu, settings.start_timeout)
    argv = peer.sender_argv(prefix, receiver.port, settings.duration)
    before = _children_cpu()
    out = _sender(procs, argv, send_cpu, settings.client_timeout())
    sender_cpu = _children_cpu() - before  # the whole process: C's udp_blast reports none
    time.sleep(DRAIN)
    received = receiver.stop()
    sent = int(out[1]) if len(out) > 1 and out[0] == "sent" else 0
    if received <= 0 or sent <= 0:
        raise PeerError(f"nothing received ({received} of {sent} datagrams)")
    if len(out) > 2:
        sender_cpu = float(out[2])  # the sending loop's own, without start-up
    receiver_cpu = receiver.cpu if receiver.cpu is not None else 0.0
    procs.cpu_per_op = (sender_cpu / sent * 1e6, receiver_cpu / received * 1e6)
    return received / settings.duration


register(Workload("udp_blast", "UDP blast dgram/s", "dgram/s", blast, kind=KIND))
register(Workload("udp_delivered", "UDP blast delivered %", "%", delivered, kind=KIND))
register(Workload("udp_pingpong", "UDP 1 core rt/s", "rt/s", pingpong, kind=KIND))
register(Workload("udp_send", "UDP send into C dgram/s", "dgram/s", send, kind=KIND))
PER_OP_WORKLOADS.add("udp_send")

UVLOOP = ("--loop", "uvloop")
DATA_WORKLOADS = frozenset({"udp_blast", "udp_delivered", "udp_pingpong"})
"""A ``"data"`` listener receives; sending (``udp_send``) is the same writer either way."""
for _peer in [
    UdpPeer("udp-c", "c", "c", kind=KIND, receiver="C (limit)"),
    UdpPeer("udp-node", "node_dgram.js", "node", kind=KIND, receiver="Node.js dgram"),
    UdpPeer("udp-asyncio-endpoint", "", "asyncio", kind=KIND, receiver="asyncio DatagramProtocol"),
    UdpPeer("udp-uvloop-endpoint", "", "uvloop", kind=KIND, receiver="uvloop DatagramProtocol"),
    UdpPeer("unisock-udp", "unisock_peer.py", "asyncio", kind=KIND, subject=True),
    UdpPeer("unisock-udp-uvloop", "unisock_peer.py", "uvloop", UVLOOP, kind=KIND, subject=True),
    # the sync "data" listener (API.md's fast path) instead of reader.read()
    UdpPeer(
        "unisock-udp-data",
        "unisock_peer.py",
        "asyncio",
        ("--data",),
        kind=KIND,
        workloads=DATA_WORKLOADS,
        subject=True,
    ),
    UdpPeer(
        "unisock-udp-data-uvloop",
        "unisock_peer.py",
        "uvloop",
        (*UVLOOP, "--data"),
        kind=KIND,
        workloads=DATA_WORKLOADS,
        subject=True,
    ),
    # trio has no datagram abstraction: its row is a raw trio.socket recvfrom/sendto loop.
    UdpPeer("udp-trio", "trio_peer.py", "trio", kind=KIND),
    UdpPeer("unisock-udp-trio", "unisock_trio_peer.py", "trio", kind=KIND, subject=True),
]:
    PEERS[_peer.name] = _peer
