"""One QUIC stream as an ``asyncio.Transport`` (``unisock._transports.quic``), driven by plain
``asyncio.Protocol`` objects the way a loop's transport is: the Transport methods no
other test called (write after ``write_eof``, buffer limits, pausing and resuming reads,
a protocol callback that raises, a protocol attached late), each against qh3, an
independent QUIC stack (on an asyncio loop in a thread of its own), over loopback UDP, on
asyncio, uvloop and trio (issue 19, coverage)."""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trustme
from tests import rt
from tests.conftest import run_on
from tests.peer_loop import peer_loop

qh3 = pytest.importorskip("qh3")

from qh3.asyncio.protocol import QuicConnectionProtocol  # noqa: E402
from qh3.asyncio.server import serve  # noqa: E402
from qh3.quic import events as qe  # noqa: E402
from qh3.quic.configuration import QuicConfiguration  # noqa: E402

try:  # the QUIC layer's home since the transports moved under unisock._transports
    from unisock._transports.quic import QuicTLSOptions, connect_quic
except ImportError:
    from unisock._transports.quic import QuicTLSOptions, connect_quic  # type: ignore[no-redef]
from unisock.errors import InvalidStateError, NetworkError  # noqa: E402

ALPN = "unisock-cov"
pytestmark = [pytest.mark.timeout(60), pytest.mark.trio]


@pytest.fixture(scope="module")
def pki() -> dict[str, bytes]:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    return {
        "ca": ca.cert_pem.bytes(),
        "cert": b"".join(p.bytes() for p in cert.cert_chain_pems),
        "key": cert.private_key_pem.bytes(),
    }


class Echo(QuicConnectionProtocol):
    """qh3 server: echoes client bidirectional streams; ``push`` opens a uni stream."""

    def quic_event_received(self, event: qe.QuicEvent) -> None:
        quic = self._quic
        if isinstance(event, qe.StreamDataReceived):
            if event.data == b"push":
                uni = quic.get_next_available_stream_id(is_unidirectional=True)
                quic.send_stream_data(uni, b"pushed", end_stream=True)
            if event.stream_id % 4 == 0:
                quic.send_stream_data(event.stream_id, event.data, event.end_stream)
        self.transmit()


class Collect(asyncio.Protocol):
    """Keeps what it reads, records the transport's life, optionally fails on purpose."""

    def __init__(self, fail_in: str = "", keep_open: bool = False) -> None:
        self.chunks: list[bytes] = []
        self.eof = rt.future()
        self.lost = rt.future()
        self.fail_in = fail_in
        self.keep_open = keep_open
        self.pauses = 0
        self.resumes = 0
        self.transport: Any = None

    def _maybe_fail(self, where: str) -> None:
        if self.fail_in == where:
            raise RuntimeError(f"{where} failed on purpose")

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self._maybe_fail("connection_made")

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self._maybe_fail("data_received")

    def eof_received(self) -> bool:
        if not self.eof.done():
            self.eof.set_result(b"".join(self.chunks))
        self._maybe_fail("eof_received")
        return self.keep_open

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)
        self._maybe_fail("connection_lost")

    def pause_writing(self) -> None:
        self.pauses += 1
        self._maybe_fail("pause_writing")

    def resume_writing(self) -> None:
        self.resumes += 1
        self._maybe_fail("resume_writing")


Main = Callable[[Any], Awaitable[None]]


async def start_echo(pki: dict[str, bytes]) -> tuple[Any, int]:
    """On the peer's loop: a qh3 ``Echo`` server on a port of its own."""
    config = QuicConfiguration(is_client=False, alpn_protocols=[ALPN])
    config.load_cert_chain(pki["cert"], pki["key"])
    server = await serve("127.0.0.1", 0, configuration=config, create_protocol=Echo)
    return server, server._transport.get_extra_info("sockname")[1]  # type: ignore[union-attr]


def with_echo(loop_kind: str, pki: dict[str, bytes], main: Main) -> list[dict[str, Any]]:
    """Run ``main(core)`` with a QUIC connection to a qh3 echo server; returns what
    reached the runtime's exception handler (which ``run_on`` would otherwise fail on).

    The server runs on an asyncio loop in a thread of its own: what goes wrong inside
    qh3's server is reported there, never here, so everything reported here is ours.
    """
    reported: list[dict[str, Any]] = []

    async def outer() -> None:
        runtime = rt.runtime()
        with peer_loop() as peer:
            server, port = await peer.run(start_echo(pki))
            options = QuicTLSOptions(ca=pki["ca"], alpn=(ALPN,), servername="localhost")
            runtime.set_exception_handler(lambda _rt, context: reported.append(context))
            try:
                core = await connect_quic(("127.0.0.1", port), options, pooling=False)
                await core.handshake
                try:
                    await main(core)
                finally:
                    core.close()
                    await core.closed
            finally:
                peer.call(server.close)
                runtime.set_exception_handler(None)

    run_on(loop_kind, outer, 30)
    return reported


def test_write_rules_after_eof_close_and_on_receive_only(
    loop_kind: str, pki: dict[str, bytes]
) -> None:
    """``write()`` after ``write_eof()`` raises as asyncio's transports do; a second
    ``write_eof()`` is a no-op; after ``close()`` writes are dropped; a receive-only
    stream refuses ``write()`` and ``write_eof()`` and cannot ``write_eof()``."""

    async def main(core: Any) -> None:
        got: list[Collect] = []
        pushed = rt.future()

        def on_stream(transport: Any, bidirectional: bool) -> Collect:
            proto = Collect()
            got.append(proto)
            pushed.set_result(None)
            return proto

        core.on_stream = on_stream
        proto = Collect()
        transport = await core.open_stream(True, protocol=proto)
        assert transport.get_protocol() is proto
        assert transport.can_write_eof()
        transport.write(b"")  # nothing to send: no-op
        transport.write(b"push")
        transport.write_eof()
        transport.write_eof()
        with pytest.raises(RuntimeError, match=r"write\(\) after write_eof\(\)"):
            transport.write(b"late")
        assert await proto.eof == b"push"
        assert await proto.lost is None
        assert "closed" in repr(transport) and "bidirectional" in repr(transport)

        await rt.wait_for(pushed, 5)
        uni = got[0].transport
        assert uni.direction == "receive" and not uni.can_write_eof()
        assert uni.get_write_buffer_size() == 0
        with pytest.raises(InvalidStateError, match="receive-only"):
            uni.write(b"x")
        with pytest.raises(InvalidStateError, match="receive-only"):
            uni.write_eof()
        assert await got[0].eof == b"pushed"

        other = Collect(keep_open=True)
        t2 = await core.open_stream(True, protocol=other)
        t2.close()
        t2.write(b"dropped")  # after close(): dropped silently, as asyncio does
        t2.close()  # twice: no-op
        assert await other.lost is None
        assert other.chunks == []

    reported = with_echo(loop_kind, pki, main)
    assert reported == [], [traceback.format_exception(c.get("exception")) for c in reported]


def test_write_buffer_limits(loop_kind: str, pki: dict[str, bytes]) -> None:
    """``set_write_buffer_limits`` as asyncio defines it: ``low`` defaults to a quarter
    of ``high``, ``high`` to four times ``low``; ``high < low`` is a ``ValueError``;
    lowering ``high`` under what is held pauses the protocol, raising it resumes it."""

    async def main(core: Any) -> None:
        proto = Collect()
        transport = await core.open_stream(True, protocol=proto)
        assert transport.get_write_buffer_limits() == (1 << 18, 1 << 20)
        transport.set_write_buffer_limits(low=1000)
        assert transport.get_write_buffer_limits() == (1000, 4000)
        transport.set_write_buffer_limits(high=8000)
        assert transport.get_write_buffer_limits() == (2000, 8000)
        transport.set_write_buffer_limits()
        assert transport.get_write_buffer_limits() == (1 << 18, 1 << 20)
        with pytest.raises(ValueError, match="must be >= low"):
            transport.set_write_buffer_limits(high=10, low=20)
        with pytest.raises(ValueError):
            transport.set_write_buffer_limits(high=-1, low=-2)
        # Nothing acknowledged yet right after a write: 50 kB held.
        transport.write(b"x" * 50_000)
        transport.set_write_buffer_limits(high=10_000)
        assert proto.pauses == 1
        transport.set_write_buffer_limits(high=200_000, low=100_000)
        assert proto.resumes == 1
        transport.write_eof()
        assert len(await proto.eof) == 50_000
        assert await proto.lost is None

    reported = with_echo(loop_kind, pki, main)
    assert reported == [], [traceback.format_exception(c.get("exception")) for c in reported]


def test_paused_reading_holds_data_until_resumed(loop_kind: str, pki: dict[str, bytes]) -> None:
    """``pause_reading()`` holds what arrives (``is_reading()`` false, nothing delivered),
    ``resume_reading()`` hands it over in order, then the EOF; pausing a closing stream
    or resuming one not paused changes nothing."""

    async def main(core: Any) -> None:
        proto = Collect()
        transport = await core.open_stream(True, protocol=proto)
        assert transport.is_reading()
        transport.resume_reading()  # not paused: no-op
        transport.pause_reading()
        assert not transport.is_reading()
        transport.write(b"one ")
        transport.write(b"two")
        transport.write_eof()
        for _ in range(100):
            if transport.buffered_inbound == 7:
                break
            await rt.sleep(0.01)
        assert transport.buffered_inbound == 7  # both chunks and the FIN wait here
        assert proto.chunks == [] and not proto.eof.done()
        transport.resume_reading()
        assert transport.is_reading()
        assert await proto.eof == b"one two"
        assert await proto.lost is None
        transport.pause_reading()  # closed: no-op
        assert not transport.is_reading()

    reported = with_echo(loop_kind, pki, main)
    assert reported == [], [traceback.format_exception(c.get("exception")) for c in reported]


def test_protocol_attached_late_gets_what_arrived(loop_kind: str, pki: dict[str, bytes]) -> None:
    """A stream whose protocol is replaced with ``set_protocol()`` while data waits
    (reading paused): the new protocol receives the held bytes and the EOF."""

    async def main(core: Any) -> None:
        first = Collect()
        transport = await core.open_stream(True, protocol=first)
        transport.pause_reading()
        transport.write(b"held")
        transport.write_eof()
        for _ in range(100):
            if transport.buffered_inbound:
                break
            await rt.sleep(0.01)
        second = Collect()
        transport.set_protocol(second)
        assert transport.get_protocol() is second
        transport.resume_reading()
        assert await second.eof == b"held"
        assert first.chunks == []
        assert await second.lost is None

    reported = with_echo(loop_kind, pki, main)
    assert reported == [], [traceback.format_exception(c.get("exception")) for c in reported]


@pytest.mark.parametrize(
    "where", ["connection_made", "data_received", "eof_received", "pause_writing"]
)
def test_a_raising_protocol_callback_aborts_its_stream_only(
    loop_kind: str, pki: dict[str, bytes], where: str
) -> None:
    """A protocol callback that raises is reported to the loop's exception handler and
    aborts that stream (RESET_STREAM): ``connection_lost`` follows, and a sibling
    stream on the same connection carries on unharmed."""

    async def main(core: Any) -> None:
        bad = Collect(fail_in=where)
        transport = await core.open_stream(True, protocol=bad)
        sibling = Collect()
        ok = await core.open_stream(True, protocol=sibling)
        if where == "pause_writing":
            transport.set_write_buffer_limits(high=100)
        transport.write(b"x" * 1000)
        transport.write_eof()
        await rt.wait_for(bad.lost, 5)
        assert transport.is_closing()
        ok.write(b"fine")
        ok.write_eof()
        assert await sibling.eof == b"fine"
        assert await sibling.lost is None

    reported = with_echo(loop_kind, pki, main)
    assert [c["message"] for c in reported] == [f"QUIC stream protocol's {where}() raised"]
    assert isinstance(reported[0]["exception"], RuntimeError)


def test_raising_connection_lost_is_reported(loop_kind: str, pki: dict[str, bytes]) -> None:
    async def main(core: Any) -> None:
        bad = Collect(fail_in="connection_lost")
        transport = await core.open_stream(True, protocol=bad)
        transport.abort(7)
        assert await bad.lost is None

    reported = with_echo(loop_kind, pki, main)
    assert [c["message"] for c in reported] == ["QUIC stream protocol's connection_lost() raised"]


def test_connection_closing_under_a_paused_reader(loop_kind: str, pki: dict[str, bytes]) -> None:
    """The connection ends cleanly while a paused reader still has data waiting: the
    data and EOF are kept for it, and ``connection_lost(None)`` comes once it has read
    them; a stream that had not finished sees ``NetworkError`` (ECONNABORTED)."""

    async def main(core: Any) -> None:
        proto = Collect()
        transport = await core.open_stream(True, protocol=proto)
        transport.pause_reading()
        transport.write(b"last words")
        transport.write_eof()
        for _ in range(100):
            if transport.buffered_inbound == 10:
                break
            await rt.sleep(0.01)
        unfinished = Collect()
        await core.open_stream(True, protocol=unfinished)
        await rt.sleep(0.05)
        core.close()
        await core.closed
        assert not proto.lost.done()  # waiting for the paused reader
        transport.resume_reading()
        assert await proto.eof == b"last words"
        assert await proto.lost is None
        assert await unfinished.lost is None  # closed by us: a clean end

    reported = with_echo(loop_kind, pki, main)
    assert reported == [], [traceback.format_exception(c.get("exception")) for c in reported]


def test_peer_reset_of_a_closing_stream(loop_kind: str, pki: dict[str, bytes]) -> None:
    """A stream we closed with data unacknowledged, when the connection then dies under
    it: ``connection_lost`` reports it (no hang)."""

    async def main(core: Any) -> None:
        proto = Collect()
        transport = await core.open_stream(True, protocol=proto)
        transport.write(b"y" * 200_000)
        transport.close()
        assert transport.is_closing() and not transport.is_reading()
        core.close()
        exc = await rt.wait_for(proto.lost, 5)
        assert exc is None or isinstance(exc, NetworkError)

    reported = with_echo(loop_kind, pki, main)
    assert reported == [], [traceback.format_exception(c.get("exception")) for c in reported]


def test_connection_refuses_streams_and_datagrams_once_closing(
    loop_kind: str, pki: dict[str, bytes]
) -> None:
    """A peer that takes no datagrams: ``max_datagram_size`` is None after the handshake
    and ``send_datagram`` says why; once the connection is closing, ``open_stream`` and
    ``send_datagram`` raise ``InvalidStateError``, and a second ``close()`` is a no-op."""

    async def main(core: Any) -> None:
        assert core.max_datagram_size is None
        with pytest.raises(InvalidStateError, match="does not accept datagrams"):
            core.send_datagram(b"x")
        assert not core.is_closing
        core.close()
        core.close()
        assert core.is_closing
        with pytest.raises(InvalidStateError, match="clos"):
            await core.open_stream(True)
        with pytest.raises(InvalidStateError, match="closed"):
            core.send_datagram(b"x")
        await core.closed
        with pytest.raises(InvalidStateError, match="closed"):
            await core.open_stream(True)

    reported = with_echo(loop_kind, pki, main)
    assert reported == [], [traceback.format_exception(c.get("exception")) for c in reported]


def test_stream_pushed_before_on_stream_is_set_waits_for_it(
    loop_kind: str, pki: dict[str, bytes]
) -> None:
    """A stream the peer opens before the application set ``on_stream`` is kept, and
    offered (with its data) as soon as ``on_stream`` is set."""

    async def main(core: Any) -> None:
        proto = Collect()
        transport = await core.open_stream(True, protocol=proto)
        transport.write(b"push")
        transport.write_eof()
        assert await proto.eof == b"push"  # the echo: the push was sent before it
        await rt.sleep(0.05)
        got: list[Collect] = []

        def on_stream(stream: Any, bidirectional: bool) -> Collect:
            assert not bidirectional and stream.direction == "receive"
            got.append(Collect())
            return got[-1]

        core.on_stream = on_stream
        assert len(got) == 1
        assert await got[0].eof == b"pushed"
        assert await got[0].lost is None

    reported = with_echo(loop_kind, pki, main)
    assert reported == [], [traceback.format_exception(c.get("exception")) for c in reported]
