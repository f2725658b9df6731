"""The peers compared: programs that share one command line (see peers/_common.py).

A peer is data (its program, its loop, what it runs); ``prepare`` turns it into the argv
prefix to start it with, compiling the C peer on first use, or raises ``PeerError`` with
the one-line reason that the report prints next to its "n/a".
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
PEERS_DIR = BENCH / "peers"
C_SOURCE = BENCH / "c" / "tcp_peer.c"
BUILD_DIR = BENCH / ".build"


class PeerError(Exception):
    """A peer could not run a measurement; ``str()`` is one line for the report."""


@dataclass(frozen=True)
class Peer:
    """One program compared in the tables."""

    name: str
    """Its name on the command line (``--peers``) and in the tables."""
    program: str
    """A file in peers/ (``.py`` or ``.js``), or ``"c"`` for the compiled C peer."""
    loop: str
    """The event loop it runs on: asyncio, uvloop, trio, node or c (groups the ratios)."""
    options: tuple[str, ...] = ()
    """Extra arguments after the positional ones (``--loop uvloop``, ``--data``)."""
    kind: str = "tcp"
    """The workload kind it speaks; a workload of another kind never runs it."""
    workloads: frozenset[str] | None = None
    """Only these workloads (None: every workload of its kind)."""
    subject: bool = False
    """unisock itself: its figures get ratio rows against the other peers."""
    baseline: str | None = None
    """A ``src`` folder of another unisock checkout to run instead of this one (the
    ``@base`` peers: before/after figures in one run)."""

    def runs(self, workload: str, kind: str) -> bool:
        """Whether this peer takes part in ``workload`` by design."""
        return self.kind == kind and (self.workloads is None or workload in self.workloads)

    def prepare(self) -> tuple[str, ...]:
        """The argv prefix that starts this peer, or ``PeerError`` saying why it cannot."""
        if self.program == "c":
            return (str(build_c()),)
        path = PEERS_DIR / self.program
        if not path.exists():
            raise PeerError(f"{path.name} is missing")
        if self.program.endswith(".js"):
            node = shutil.which("node")
            if node is None:
                raise PeerError("node is not installed")
            return (node, str(path))
        if self.baseline is not None:
            # The same peer program, importing unisock from the other checkout.
            code = (
                f"import runpy, sys; sys.path[:0] = [{self.baseline!r}, {str(PEERS_DIR)!r}]; "
                f"sys.argv[0] = {str(path)!r}; runpy.run_path({str(path)!r}, run_name='__main__')"
            )
            return (sys.executable, "-c", code)
        return (sys.executable, str(path))

    def argv(self, prefix: tuple[str, ...], role: str, *args: str) -> list[str]:
        """A full command line for ``role`` (server, proxy, client, check)."""
        return [*prefix, role, *args, *self.options]


def build_c() -> Path:
    """Compile benchmarks/c/tcp_peer.c with gcc -O2 when the binary is missing or older."""
    binary = BUILD_DIR / "tcp_peer"
    if binary.exists() and binary.stat().st_mtime >= C_SOURCE.stat().st_mtime:
        return binary
    gcc = shutil.which("gcc")
    if gcc is None:
        raise PeerError("gcc is not installed")
    BUILD_DIR.mkdir(exist_ok=True)
    done = subprocess.run(
        [gcc, "-O2", "-pthread", "-o", str(binary), str(C_SOURCE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise PeerError("gcc failed: " + (done.stderr.strip().splitlines() or ["?"])[-1])
    return binary


PINGPONG = frozenset({"conns100", "pingpong_pinned", "conns100_c", "pingpong_pinned_c"})

PEERS: dict[str, Peer] = {
    p.name: p
    for p in [
        Peer("c", "c", "c"),
        Peer("node", "node_net.js", "node"),
        Peer("asyncio-streams", "asyncio_streams.py", "asyncio"),
        Peer("asyncio-protocol", "asyncio_protocol.py", "asyncio"),
        Peer("asyncio-buffered", "asyncio_buffered.py", "asyncio"),
        Peer("anyio", "anyio_peer.py", "asyncio"),
        Peer("anyio-trio", "anyio_peer.py", "trio", ("--loop", "trio")),
        Peer("trio", "trio_peer.py", "trio"),
        Peer("uvloop-protocol", "asyncio_protocol.py", "uvloop", ("--loop", "uvloop")),
        Peer("uvloop-streams", "asyncio_streams.py", "uvloop", ("--loop", "uvloop")),
        Peer("unisock", "unisock_peer.py", "asyncio", subject=True),
        Peer(
            "unisock-data",
            "unisock_peer.py",
            "asyncio",
            ("--data",),
            workloads=PINGPONG,
            subject=True,
        ),
        Peer("unisock-uvloop", "unisock_peer.py", "uvloop", ("--loop", "uvloop"), subject=True),
        Peer("unisock-trio", "unisock_trio_peer.py", "trio", subject=True),
        Peer(
            "unisock-data-uvloop",
            "unisock_peer.py",
            "uvloop",
            ("--loop", "uvloop", "--data"),
            workloads=PINGPONG,
            subject=True,
        ),
    ]
}
"""Every peer, in table order: the limit first, then the libraries, unisock last."""

BASELINE_ENV = "UNISOCK_BENCH_BASELINE"
"""Set to the ``src`` folder of another checkout (e.g. ``git worktree add /tmp/before
<rev>``) to add an ``@base`` twin of every unisock peer: before and after in one run."""


def add_baselines() -> None:
    """With ``UNISOCK_BENCH_BASELINE`` set, an ``@base`` twin of every unisock peer."""
    base = os.environ.get(BASELINE_ENV)
    if not base:
        return
    for peer in [p for p in PEERS.values() if p.subject and p.baseline is None]:
        # replace() keeps the peer's own class (TLS, UDP, QUIC peers subclass Peer).
        twin = dataclasses.replace(peer, name=peer.name + "@base", baseline=base)
        PEERS[twin.name] = twin


def comparisons(subject: Peer, peers: list[Peer]) -> list[Peer]:
    """The peers a unisock figure is divided by: same loop family, plus C and Node.

    On the stock loop that family is the asyncio peers (streams, Protocol,
    BufferedProtocol, anyio) and trio, the pure-Python alternative; on uvloop the
    uvloop peers.  C (the limit) and Node (the other runtime) are compared with both.
    """
    family = {"asyncio": {"asyncio", "trio"}, "uvloop": {"uvloop"}, "trio": {"trio"}}.get(
        subject.loop, set()
    )
    return [p for p in peers if not p.subject and (p.loop in family or p.loop in ("c", "node"))]
