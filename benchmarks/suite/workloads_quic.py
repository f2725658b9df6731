"""QUIC workloads and peers (issues 6, 17): bulk on 1 and 8 streams, stream opens, datagrams.

unisock's ``Socket(type="quic")`` / ``SocketListener(type="quic")`` against plain qh3's and
plain aioquic's asyncio API (``serve`` / ``connect``), each on the stock loop and on
uvloop, and ngtcp2's C programs (the limit; bulk only); server and client are separate
processes.  Every request is a new stream of one pooled connection carrying an ASCII byte
count then FIN; the server answers with that many bytes then FIN (peers/_quic_raw.py).
``unisock-quic-baseline`` runs the same peer on another source tree
(``UNISOCK_BENCH_BASELINE``), for before/after figures in one run.

* ``quic_bulk1`` / ``quic_bulk8``: 4 MiB requests, one at a time on 1 stream or on 8
  concurrent streams; MB/s read by the client.
* ``quic_opens``: 1-byte requests one after another: a stream opened, a round trip, the
  stream closed; per second.  Its ratio to ``tls_handshakes`` (new TCP+TLS connections)
  is a target in suite/targets.py.
* ``quic_datagrams``: the server echoes RFC 9221 datagrams (1,000 bytes); the client keeps
  64 in flight and counts echoes per second.
"""

from __future__ import annotations

from . import workloads_tls  # noqa: F401  (TLS first: quic_opens is compared with its handshakes)
from .kinds import KindPeer
from .peers import PEERS
from .workloads import MB, Workload, client_server, register

KIND = "quic"

register(
    Workload(
        "quic_bulk1",
        "QUIC 1 stream MB/s",
        "MB/s",
        client_server("quic-server", "quic-bulk1", scale=MB),
        kind=KIND,
    )
)
register(
    Workload(
        "quic_bulk8",
        "QUIC 8 streams MB/s",
        "MB/s",
        client_server("quic-server", "quic-bulk8", scale=MB),
        kind=KIND,
    )
)
register(
    Workload(
        "quic_opens",
        "QUIC stream opens/s",
        "opens/s",
        client_server("quic-server", "quic-opens"),
        kind=KIND,
    )
)

register(
    Workload(
        "quic_datagrams",
        "QUIC datagrams/s",
        "dgrams/s",
        client_server("quic-server", "quic-datagrams"),
        kind=KIND,
    )
)

UVLOOP = ("--loop", "uvloop")
BULK_ONLY = frozenset({"quic_bulk1", "quic_bulk8"})
for _peer in [
    KindPeer("quic-ngtcp2", "quic_ngtcp2.py", "c", kind=KIND, workloads=BULK_ONLY),
    KindPeer("quic-qh3", "quic_qh3.py", "asyncio", kind=KIND),
    KindPeer("quic-qh3-uvloop", "quic_qh3.py", "uvloop", UVLOOP, kind=KIND),
    KindPeer("quic-aioquic", "quic_aioquic.py", "asyncio", kind=KIND),
    KindPeer("quic-aioquic-uvloop", "quic_aioquic.py", "uvloop", UVLOOP, kind=KIND),
    KindPeer("unisock-quic", "unisock_peer.py", "asyncio", kind=KIND, subject=True),
    KindPeer("unisock-quic-uvloop", "unisock_peer.py", "uvloop", UVLOOP, kind=KIND, subject=True),
    KindPeer("unisock-quic-trio", "unisock_trio_peer.py", "trio", kind=KIND, subject=True),
    KindPeer("unisock-quic-baseline", "unisock_quic_baseline.py", "asyncio", kind=KIND,
             subject=True),
    KindPeer("unisock-quic-baseline-uvloop", "unisock_quic_baseline.py", "uvloop", UVLOOP,
             kind=KIND, subject=True),
]:
    PEERS[_peer.name] = _peer
