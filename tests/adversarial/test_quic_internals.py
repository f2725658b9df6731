"""The private names of each QUIC core that unisock relies on are still there.

``_quic/_qh3.py`` and ``_quic/_aioquic.py`` each fence every private access to their
library (flow control, stream ends, closing state, TLS facts); a later release that
renames one fails here, loudly, instead of silently unbounding a limit.  The qh3 check is
also live: a real connection in memory must show the native core holding back credit
while the reader lags, and giving it once the reader catches up.
"""

from __future__ import annotations

from typing import Any

import pytest
import trustme

from unisock._transports.quic import _aioquic, _qh3
from unisock._transports.quic._options import QuicTLSOptions


def test_aioquic_still_has_what_the_limits_use() -> None:
    assert _aioquic.missing_internals() == []


def test_qh3_still_has_what_the_limits_use() -> None:
    assert _qh3.missing_internals() == []


class _Reader:
    def __init__(self) -> None:
        self.consumed = 0
        self.reading_paused = True


def test_qh3_credit_follows_the_reader() -> None:
    """A live pair of qh3 links in memory: the sender gets about one window while the
    reader consumes nothing, and the rest once it consumes."""
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    window = 256 * 1024
    server_opts = QuicTLSOptions(
        cert=b"".join(p.bytes() for p in cert.cert_chain_pems),
        key=cert.private_key_pem.bytes(),
        alpn=("x",),
        stream_window=window,
    )
    client_opts = QuicTLSOptions(
        servername="localhost", ca=ca.cert_pem.bytes(), alpn=("x",), stream_window=window
    )
    readers: dict[int, Any] = {}
    client = _qh3.link(_qh3.configuration(client_opts, is_client=True), credits={}, window=window)
    client.connect(("127.0.0.1", 2), 1.0)
    first = client.datagrams_to_send(1.0)
    from unisock._transports.quic import _wire

    header = _wire.parse_header(first[0][0])
    server = _qh3.link(
        _qh3.configuration(server_opts, is_client=False),
        credits=readers,
        window=window,
        original_destination_connection_id=header.destination_cid,
    )
    now = 1.0
    pending = [d for d, _ in first]

    def pump(rounds: int) -> None:
        nonlocal now, pending
        for _ in range(rounds):
            now += 0.002
            for link in (client, server):
                timer = link.get_timer()
                if timer is not None and timer <= now:
                    link.handle_timer(now)
            for data in pending:
                server.receive(data, ("127.0.0.1", 1), now)
            pending = []
            for data, _ in server.datagrams_to_send(now):
                client.receive(data, ("127.0.0.1", 2), now)
            pending = [d for d, _ in client.datagrams_to_send(now)]

    pump(20)
    while client.next_event() is not None:
        pass
    stream_id = client.open_stream(True)
    readers[stream_id] = reader = _Reader()
    client.writer(stream_id)(b"x" * (4 * window), True)
    pump(300)
    received = 0
    while (event := server.next_event()) is not None:
        received += len(getattr(event, "data", b""))
    assert server.hold, "qh3 gave credit without the reader consuming"
    assert window <= received <= window + (64 << 10)
    assert client.unsent(stream_id) >= 2 * window
    reader.consumed = 4 * window
    for _ in range(60):
        server.refill()
        while (event := server.next_event()) is not None:
            received += len(getattr(event, "data", b""))
        reader.consumed = received
        pump(5)
    assert received == 4 * window
    assert not server.hold


@pytest.mark.parametrize("name", ["qh3", "aioquic"])
def test_each_core_is_pinned_below_its_next_major(name: str) -> None:
    module = _qh3 if name == "qh3" else _aioquic
    low, high = module.SUPPORTED
    assert high[0] == low[0] + 1 and high[1] == 0
    assert low <= module.version() < high
