"""The registry of workloads: what one measurement of one peer does.

A workload is a name, a unit and a ``measure`` function that starts the processes it needs
through ``Procs`` and returns one figure.  ``run.py`` runs every registered workload whose
``kind`` matches a peer's.  To plug in TLS, UDP or QUIC later, write a module that builds
``Workload`` objects (and its peers, of the same new ``kind``, in ``peers.PEERS``) and call
``register`` on import; name it ``suite/workloads_<kind>.py`` and ``run.py`` imports it on
start, so ``run.py --only NAME`` picks it like the TCP ones below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .peers import PEERS, Peer, PeerError
from .procs import Procs, last_cpu
from .settings import Settings

Prepared = Callable[[Peer], tuple[str, ...]]
"""Gives a peer's argv prefix (its program, built or checked once per run)."""


@dataclass(frozen=True)
class Workload:
    """One row of what is measured."""

    name: str
    """Its name for ``--only`` and in JSON."""
    title: str
    """A column header in the tables."""
    unit: str
    measure: Callable[[Peer, Settings, Procs, Prepared], float]
    """One measurement of one peer: the figure, in ``unit``, or ``PeerError``."""
    kind: str = "tcp"


PER_OP_WORKLOADS: set[str] = set()
"""Other workloads whose CPU per operation is shown (a plug-in adds its own, as
``udp_send``: the sender's CPU per datagram sent / the receiver's per datagram)."""

WORKLOADS: dict[str, Workload] = {}
"""Every registered workload, in table order."""


def register(workload: Workload) -> Workload:
    """Add a workload to the suite (a later registration of the same name replaces it)."""
    WORKLOADS[workload.name] = workload
    return workload


def _rate(result: dict[str, float]) -> float:
    if result["seconds"] <= 0 or result["count"] <= 0:
        raise PeerError(f"no progress measured ({result['count']:g} in {result['seconds']:g} s)")
    return result["count"] / result["seconds"]


def client_server(
    server_mode: str, client_mode: str, *, conns: int = 1, pin: bool = False, scale: float = 1.0
) -> Callable[[Peer, Settings, Procs, Prepared], float]:
    """A measurement where the peer is both the server and the client, in two processes."""

    def measure(peer: Peer, settings: Settings, procs: Procs, prepared: Prepared) -> float:
        prefix = prepared(peer)
        cpu = last_cpu() if pin else None
        port = procs.start_server(
            peer.argv(prefix, "server", server_mode), cpu=cpu, timeout=settings.start_timeout
        )
        argv = peer.argv(prefix, "client", client_mode, str(port), *_window(settings, conns))
        result = procs.run_client(argv, cpu=cpu, timeout=settings.client_timeout(), sample=True)
        if procs.window_cpu is not None and result["count"] > 0:
            # per unit of the figure: a round trip, a handshake, or a MB for the bulk rows
            client, server = procs.window_cpu
            units = result["count"] * scale
            procs.cpu_per_op = (client / units * 1e6, server / units * 1e6)
        return _rate(result) * scale

    return measure


def c_client(
    server_mode: str, client_mode: str, *, conns: int = 1, pin: bool = False
) -> Callable[[Peer, Settings, Procs, Prepared], float]:
    """The peer is the server only; the C peer is the client (the same for every peer), so
    the server's CPU per operation is its own cost, not a share of a pair of its own."""

    def measure(peer: Peer, settings: Settings, procs: Procs, prepared: Prepared) -> float:
        c = PEERS["c"]
        try:
            c_prefix = prepared(c)
        except PeerError as e:
            raise PeerError(f"needs the C peer: {e}") from None
        prefix = prepared(peer)
        cpu = last_cpu() if pin else None
        port = procs.start_server(
            peer.argv(prefix, "server", server_mode), cpu=cpu, timeout=settings.start_timeout
        )
        argv = c.argv(c_prefix, "client", client_mode, str(port), *_window(settings, conns))
        result = procs.run_client(argv, cpu=cpu, timeout=settings.client_timeout(), sample=True)
        if procs.window_cpu is not None and result["count"] > 0:
            client, server = procs.window_cpu
            procs.cpu_per_op = (client / result["count"] * 1e6, server / result["count"] * 1e6)
        return _rate(result)

    return measure


def proxied(scale: float) -> Callable[[Peer, Settings, Procs, Prepared], float]:
    """A C source writes through the peer's proxy into a C sink: the proxy is measured."""

    def measure(peer: Peer, settings: Settings, procs: Procs, prepared: Prepared) -> float:
        c = PEERS["c"]
        try:
            c_prefix = prepared(c)
        except PeerError as e:
            raise PeerError(f"needs the C peer: {e}") from None
        prefix = prepared(peer)
        timeout = settings.start_timeout
        sink = procs.start_server(c.argv(c_prefix, "server", "sink"), cpu=None, timeout=timeout)
        port = procs.start_server(peer.argv(prefix, "proxy", str(sink)), cpu=None, timeout=timeout)
        argv = c.argv(c_prefix, "client", "upload", str(port), *_window(settings, 1))
        return _rate(procs.run_client(argv, cpu=None, timeout=settings.client_timeout())) * scale

    return measure


def _window(settings: Settings, conns: int) -> list[str]:
    return [
        "--conns", str(conns),
        "--warmup", str(settings.warmup),
        "--duration", str(settings.duration),
    ]  # fmt: skip


MB = 1e-6
CONNS = 100

register(Workload("upload", "bulk upload MB/s", "MB/s", client_server("sink", "upload", scale=MB)))
register(
    Workload(
        "download", "bulk download MB/s", "MB/s", client_server("source", "download", scale=MB)
    )
)
PER_OP_WORKLOADS.update(("upload", "download"))  # CPU per MB: where a kernel-bound rate ties
register(
    Workload(
        "conns100",
        f"{CONNS} conns ping-pong rt/s",
        "rt/s",
        client_server("echo", "pingpong", conns=CONNS),
    )
)
register(
    Workload(
        "pingpong_pinned",
        "1 conn, 1 core rt/s",
        "rt/s",
        client_server("echo", "pingpong", pin=True),
    )
)
register(Workload("proxy", "proxy C->peer->C MB/s", "MB/s", proxied(MB)))
register(
    Workload(
        "pingpong_pinned_c",
        "1 conn, 1 core, C client rt/s",
        "rt/s",
        c_client("echo", "pingpong", pin=True),
    )
)
register(
    Workload(
        "conns100_c",
        f"{CONNS} conns, C client rt/s",
        "rt/s",
        c_client("echo", "pingpong", conns=CONNS),
    )
)
