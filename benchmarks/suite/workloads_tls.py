"""TLS workloads and peers (issue 4): bulk download and full handshakes per second.

Every peer is both server and client (separate processes) over loopback, with one
certificate made per run (suite/kinds.py): asyncio streams with ``ssl=`` on both loops,
trio's ``SSLStream``, Node.js ``tls``, a blocking C/OpenSSL program as the limit, and
unisock's ``Socket(type="tls")`` / ``SocketListener(type="tls")`` on both loops.

* ``tls_download``: the server writes 128 KiB chunks as fast as backpressure allows, the
  client counts bytes read; MB/s.
* ``tls_handshakes``: one client, sequentially: new TCP connection, full handshake
  (verified, no session resumption), close; connections per second.
"""

from __future__ import annotations

from .kinds import KindPeer
from .peers import PEERS
from .workloads import MB, PER_OP_WORKLOADS, Workload, client_server, register

KIND = "tls"

register(
    Workload(
        "tls_download",
        "TLS download MB/s",
        "MB/s",
        client_server("tls-source", "tls-download", scale=MB),
        kind=KIND,
    )
)
register(
    Workload(
        "tls_handshakes",
        "TLS handshakes/s",
        "conn/s",
        client_server("tls-hs", "tls-handshakes"),
        kind=KIND,
    )
)
PER_OP_WORKLOADS.add("tls_handshakes")  # CPU per handshake, client / server: steadier than the rate

UVLOOP = ("--loop", "uvloop")
for _peer in [
    KindPeer("tls-c", "c", "c", kind=KIND, c_program="tls_peer", libs=("-lssl", "-lcrypto")),
    KindPeer("tls-node", "node_tls.js", "node", kind=KIND),
    KindPeer("tls-asyncio-streams", "tls_asyncio_streams.py", "asyncio", kind=KIND),
    KindPeer("tls-uvloop-streams", "tls_asyncio_streams.py", "uvloop", UVLOOP, kind=KIND),
    KindPeer("tls-trio", "tls_trio.py", "trio", kind=KIND),
    KindPeer("unisock-tls", "unisock_peer.py", "asyncio", kind=KIND, subject=True),
    KindPeer("unisock-tls-uvloop", "unisock_peer.py", "uvloop", UVLOOP, kind=KIND, subject=True),
    KindPeer("unisock-tls-trio", "unisock_trio_peer.py", "trio", kind=KIND, subject=True),
]:
    PEERS[_peer.name] = _peer
