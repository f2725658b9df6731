"""The QUIC layer (unisock._transports.quic) against aioquic, an independent stack, on
asyncio, uvloop and trio.

unisock's QUIC runs on qh3; every test here runs a real aioquic peer (its asyncio API) or
an aioquic client against our server over loopback UDP, with certificates made by trustme;
payloads are checked byte for byte.  The aioquic peer runs on an asyncio loop in a thread
of its own (``tests/peer_loop.py``), so the side under test runs on any runtime.  The
tests also run with unisock on its fallback core (aioquic, ``core`` parameter), where
aioquic still talks to an independent program: itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trustme
from tests import rt
from tests.conftest import background, eventually
from tests.peer_loop import PeerLoop, peer_loop

aioquic = pytest.importorskip("aioquic")

from aioquic.asyncio.client import connect as peer_connect  # noqa: E402
from aioquic.asyncio.protocol import QuicConnectionProtocol  # noqa: E402
from aioquic.asyncio.server import serve  # noqa: E402
from aioquic.quic import events as qe  # noqa: E402
from aioquic.quic.configuration import QuicConfiguration  # noqa: E402

from unisock._transports.quic import (  # noqa: E402
    QuicConnectionCore,
    QuicStreamTransport,
    QuicTLSOptions,
    _engines,
    connect_quic,
    serve_quic,
)
from unisock.errors import NetworkError, TimeoutError, TLSError  # noqa: E402

ALPN = "unisock-test"
pytestmark = [pytest.mark.timeout(30), pytest.mark.trio]


# -- harness ------------------------------------------------------------------------------
@pytest.fixture(autouse=True, params=["qh3", "aioquic"])
def core(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """unisock's QUIC on its default core (qh3) and on its fallback (aioquic)."""
    monkeypatch.setenv(_engines.ENV, request.param)
    return str(request.param)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1", "::1")
    client = ca.issue_cert("client.example")
    other = trustme.CA()
    return {
        "ca": ca.cert_pem.bytes(),
        "other_ca": other.cert_pem.bytes(),
        "cert": b"".join(p.bytes() for p in cert.cert_chain_pems),
        "key": cert.private_key_pem.bytes(),
        "client_cert": b"".join(p.bytes() for p in client.cert_chain_pems),
        "client_key": client.private_key_pem.bytes(),
        "files": _files(tmp_path_factory, cert),
    }


def _files(tmp_path_factory: pytest.TempPathFactory, cert: Any) -> tuple[str, str]:
    """aioquic's ``load_cert_chain`` reads files."""
    folder = tmp_path_factory.mktemp("pki")
    chain, key = folder / "chain.pem", folder / "key.pem"
    chain.write_bytes(b"".join(p.bytes() for p in cert.cert_chain_pems))
    key.write_bytes(cert.private_key_pem.bytes())
    return str(chain), str(key)


def client_options(pki: dict[str, Any], **kw: Any) -> QuicTLSOptions:
    base: dict[str, Any] = {"ca": pki["ca"], "alpn": (ALPN,), "servername": "localhost"}
    base.update(kw)
    return QuicTLSOptions(**base)


def peer_server_config(pki: dict[str, Any]) -> QuicConfiguration:
    config = QuicConfiguration(
        is_client=False, alpn_protocols=[ALPN], max_datagram_frame_size=65536
    )
    config.load_cert_chain(*pki["files"])
    return config


class Peer(QuicConnectionProtocol):
    """aioquic server protocol: echoes streams and datagrams; can push streams on connect."""

    instances: list[Peer] = []  # noqa: RUF012
    push = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        Peer.instances.append(self)
        self.hashes: dict[int, Any] = {}

    def quic_event_received(self, event: qe.QuicEvent) -> None:
        quic = self._quic
        if isinstance(event, qe.ConnectionTerminated):
            return
        if isinstance(event, qe.StreamDataReceived):
            sid = event.stream_id
            if sid in self.hashes or event.data.startswith(b"HASH"):
                # upload mode: answer the SHA-256 of everything after the marker
                digest = self.hashes.setdefault(sid, hashlib.sha256())
                digest.update(event.data[4:] if event.data.startswith(b"HASH") else event.data)
                if event.end_stream:
                    quic.send_stream_data(sid, digest.hexdigest().encode(), True)
            elif event.data == b"reset-me":
                quic.reset_stream(sid, 9)
            elif sid % 4 == 0:  # client-initiated bidi: echo
                quic.send_stream_data(sid, event.data, event.end_stream)
        elif isinstance(event, qe.DatagramFrameReceived):
            quic.send_datagram_frame(b"echo:" + event.data)
        elif isinstance(event, qe.HandshakeCompleted) and self.push:
            uni = quic.get_next_available_stream_id(is_unidirectional=True)
            quic.send_stream_data(uni, b"pushed uni", end_stream=True)
            bidi = quic.get_next_available_stream_id()
            quic.send_stream_data(bidi, b"pushed bidi", end_stream=True)
        self.transmit()


async def start_peer(pki: dict[str, Any], *, push: bool) -> tuple[Any, int]:
    """On the peer's loop: an aioquic server of ``Peer`` protocols; it and its port."""
    Peer.instances = []
    Peer.push = push
    server = await serve(
        "127.0.0.1", 0, configuration=peer_server_config(pki), create_protocol=Peer
    )
    transport: Any = server._transport
    return server, transport.get_extra_info("sockname")[1]


@contextlib.asynccontextmanager
async def aioquic_peer(
    pki: dict[str, Any], *, push: bool = False
) -> AsyncIterator[tuple[PeerLoop, Any, int]]:
    """An aioquic ``Peer`` server for the block, on a loop in a thread of its own: that
    loop, the server (touch it only through ``PeerLoop.call``), its port."""
    with peer_loop() as peer:
        server, port = await peer.run(start_peer(pki, push=push))
        try:
            yield peer, server, port
        finally:
            peer.call(server.close)


def aioquic_client_config(ca: bytes, **kw: Any) -> QuicConfiguration:
    config = QuicConfiguration(is_client=True, alpn_protocols=[ALPN], **kw)
    config.load_verify_locations(cadata=ca)
    config.server_name = "localhost"
    return config


class Collect(asyncio.Protocol):
    """A protocol (asyncio's interface; no loop involved) that keeps what it reads and
    records its lifecycle in futures of the running runtime."""

    def __init__(self, keep_open: bool = False) -> None:
        self.chunks: list[bytes] = []
        self.eof = rt.future()
        self.lost = rt.future()
        self.keep_open = keep_open
        self.pauses = 0
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)

    def eof_received(self) -> bool:
        if not self.eof.done():
            self.eof.set_result(b"".join(self.chunks))
        return self.keep_open

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)

    def pause_writing(self) -> None:
        self.pauses += 1

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


async def close_core(core: QuicConnectionCore) -> None:
    core.close()
    await core.closed


# -- tests --------------------------------------------------------------------------------
def test_echo_on_a_bidirectional_stream(run: Any, pki: dict[str, Any]) -> None:
    async def main() -> None:
        async with aioquic_peer(pki) as (_, _, port):
            core = await connect_quic(("127.0.0.1", port), client_options(pki), pooling=False)
            info = await core.handshake
            assert info.tls.alpn == ALPN
            assert info.tls.verification_status == "ok"
            cipher = info.tls.cipher  # one naming with TLS over TCP: the IANA name
            assert cipher.name == cipher.standard_name and cipher.version == "TLSv1.3"
            assert cipher.name in (
                "TLS_AES_128_GCM_SHA256",
                "TLS_AES_256_GCM_SHA384",
                "TLS_CHACHA20_POLY1305_SHA256",
            )
            assert isinstance(info.tls.peer_certificate, bytes)
            # Read from aioquic's ServerHello and our ClientHello (an independent TLS stack).
            assert info.tls.ephemeral_key is not None and info.tls.ephemeral_key.type == "ECDH"
            assert info.tls.signature_algorithms and "ecdsa_secp256r1_sha256" in (
                info.tls.signature_algorithms
            )
            assert info.tls.servername == "localhost" and info.tls.certificate is None
            proto = Collect()
            transport = await core.open_stream(True, protocol=proto)
            assert transport.direction == "bidirectional"
            transport.write(b"hello ")
            transport.writelines([b"quic", b"!"])
            transport.write_eof()
            assert await proto.eof == b"hello quic!"
            assert await proto.lost is None
            assert core.stats["packets_sent"] > 0 and core.stats["bytes_received"] > 0
            await close_core(core)

    run(main)


class Sender(Collect):
    """Writes ``payload`` in chunks, honouring pause_writing()/resume_writing()."""

    def __init__(self, payload: bytes, chunk: int = 64 * 1024, prefix: bytes = b"") -> None:
        super().__init__()
        self.view = memoryview(payload)
        self.offset = 0
        self.chunk = chunk
        self.prefix = prefix
        self.paused = False
        self.max_buffered = 0

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        if self.prefix:
            transport.write(self.prefix)
        self.pump()

    def pause_writing(self) -> None:
        super().pause_writing()
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self.pump()

    def pump(self) -> None:
        transport = self.transport
        while not self.paused and self.offset < len(self.view):
            transport.write(self.view[self.offset : self.offset + self.chunk])
            self.offset += self.chunk
            self.max_buffered = max(self.max_buffered, transport.get_write_buffer_size())
        if self.offset >= len(self.view) and transport.can_write_eof():
            self.offset = len(self.view) + 1
            transport.write_eof()


def test_three_pooled_streams_share_one_connection(run: Any, pki: dict[str, Any]) -> None:
    async def main() -> None:
        async with aioquic_peer(pki) as (peer, _, port):
            cores = [
                await connect_quic(("127.0.0.1", port), client_options(pki), pooling=True)
                for _ in range(3)
            ]
            assert cores[0] is cores[1] is cores[2]
            protos = [Collect() for _ in range(3)]
            for i, proto in enumerate(protos):
                transport = await cores[i].open_stream(True, protocol=proto)
                transport.write(b"stream %d" % i)
                transport.write_eof()
            results = await rt.gather(*(p.eof for p in protos))
            assert results == [b"stream 0", b"stream 1", b"stream 2"]
            assert peer.call(len, Peer.instances) == 1
            other = await connect_quic(("127.0.0.1", port), client_options(pki), pooling=False)
            assert other is not cores[0]
            await other.handshake
            assert peer.call(len, Peer.instances) == 2
            await close_core(other)
            await close_core(cores[0])
            fresh = await connect_quic(("127.0.0.1", port), client_options(pki), pooling=True)
            assert fresh is not cores[0]
            await fresh.handshake
            await close_core(fresh)

    run(main)


def test_server_initiated_streams_reach_on_stream(run: Any, pki: dict[str, Any]) -> None:
    async def main() -> None:
        async with aioquic_peer(pki, push=True) as (_, _, port):
            core = await connect_quic(("127.0.0.1", port), client_options(pki), pooling=False)
            got: dict[str, Collect] = {}
            both = rt.future()

            def on_stream(transport: QuicStreamTransport, bidirectional: bool) -> Collect:
                proto = Collect()
                got[transport.direction] = proto
                assert bidirectional == (transport.direction == "bidirectional")
                if len(got) == 2:
                    both.set_result(None)
                return proto

            core.on_stream = on_stream
            await both
            assert await got["receive"].eof == b"pushed uni"
            assert await got["bidirectional"].eof == b"pushed bidi"
            assert await got["receive"].lost is None
            uni = got["receive"].transport
            with pytest.raises(Exception, match="receive-only"):
                uni.write(b"x")
            await close_core(core)

    run(main)


def test_datagrams_both_ways(run: Any, pki: dict[str, Any]) -> None:
    async def main() -> None:
        async with aioquic_peer(pki) as (_, _, port):
            core = await connect_quic(("127.0.0.1", port), client_options(pki), pooling=False)
            received: list[bytes] = []
            core.on_datagram = received.append
            await core.handshake
            assert core.max_datagram_size is not None and core.max_datagram_size >= 1000
            for i in range(5):
                core.send_datagram(b"dgram %d" % i)
            await eventually(lambda: len(set(received)) == 5, what="five echoes")
            assert set(received) == {b"echo:dgram %d" % i for i in range(5)}
            with pytest.raises(ValueError, match="datagram"):
                core.send_datagram(b"x" * 70000)
            await close_core(core)

    run(main)


def test_wrong_ca_rejects_with_tls_error(run: Any, pki: dict[str, Any]) -> None:
    async def main() -> None:
        async with aioquic_peer(pki) as (_, _, port):
            opts = client_options(pki, ca=pki["other_ca"])
            core = await connect_quic(("127.0.0.1", port), opts, pooling=False)
            with pytest.raises(TLSError) as info:
                await core.handshake
            assert info.value.verification_status
            assert "certificate" in str(info.value).lower()
            with pytest.raises(TLSError):
                await core.closed
            bad_name = client_options(pki, servername="wrong.example")
            core = await connect_quic(("127.0.0.1", port), bad_name, pooling=False)
            with pytest.raises(TLSError, match=r"wrong\.example"):
                await core.handshake

    run(main)


def test_unreachable_peer_is_a_network_error(run: Any, pki: dict[str, Any]) -> None:
    async def main() -> None:
        import socket

        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()  # nobody listens there now: ICMP port unreachable
        core = await connect_quic(("127.0.0.1", port), client_options(pki), pooling=False)
        with pytest.raises(NetworkError):
            await core.handshake
        with pytest.raises(NetworkError):
            await core.closed

    run(main)


def test_abort_spares_siblings_and_peer_reset_is_reported(run: Any, pki: dict[str, Any]) -> None:
    async def main() -> None:
        async with aioquic_peer(pki) as (_, _, port):
            core = await connect_quic(("127.0.0.1", port), client_options(pki), pooling=False)
            doomed, sibling, reset = Collect(), Collect(), Collect()
            t1 = await core.open_stream(True, protocol=doomed)
            t2 = await core.open_stream(True, protocol=sibling)
            t3 = await core.open_stream(True, protocol=reset)
            t1.write(b"partial")
            t1.abort(7)
            assert await doomed.lost is None
            t3.write(b"reset-me")
            err = await reset.lost
            assert isinstance(err, NetworkError) and "reset" in str(err)
            t2.write(b"still fine")
            t2.write_eof()
            assert await sibling.eof == b"still fine"
            await close_core(core)

    run(main)


@pytest.mark.timeout(150)
def test_integrity_one_stream_32mib_and_eight_parallel(run: Any, pki: dict[str, Any]) -> None:
    async def main() -> None:
        async with aioquic_peer(pki) as (_, _, port):
            core = await connect_quic(("127.0.0.1", port), client_options(pki), pooling=False)
            big = os.urandom(32 << 20)
            sender = Sender(big, prefix=b"HASH")
            await core.open_stream(True, protocol=sender)
            assert await sender.eof == hashlib.sha256(big).hexdigest().encode()
            assert sender.max_buffered <= (1 << 20) + 64 * 1024
            payloads = [os.urandom(4 << 20) for _ in range(8)]
            senders = [Sender(p, prefix=b"HASH") for p in payloads]
            for s in senders:
                await core.open_stream(True, protocol=s)
            digests = await rt.gather(*(s.eof for s in senders))
            assert digests == [hashlib.sha256(p).hexdigest().encode() for p in payloads]
            await close_core(core)

    run(main, timeout=120)  # aioquic moves ~25 MB/s: slow on a loaded machine


def test_peer_vanishing_rejects_closed_after_idle_timeout(run: Any, pki: dict[str, Any]) -> None:
    def go_silent(server: Any) -> None:
        """On the peer's loop: no CONNECTION_CLOSE, no ICMP, every datagram dropped."""
        server.datagram_received = lambda *args: None
        server.datagrams_received = lambda *args: None
        for peer in Peer.instances:
            if peer._timer is not None:
                peer._timer.cancel()
            peer.transmit = lambda: None  # type: ignore[method-assign]

    async def main() -> None:
        async with aioquic_peer(pki) as (peer, server, port):
            opts = client_options(pki, idle_timeout=1.0)
            core = await connect_quic(("127.0.0.1", port), opts, pooling=False)
            await core.handshake
            peer.call(go_silent, server)
            started = rt.now()
            with pytest.raises(TimeoutError, match="idle"):
                await core.closed
            assert 0.5 <= rt.now() - started <= 5.0

    run(main)


def test_our_server_accepts_an_aioquic_client(run: Any, pki: dict[str, Any]) -> None:
    async def session(port: int, ca: bytes) -> tuple[bytes, bytes]:
        """On the peer's loop: an aioquic client echoes a stream and a datagram."""
        config = aioquic_client_config(ca, max_datagram_frame_size=65536)
        received: asyncio.Queue[bytes] = asyncio.Queue()

        class Client(QuicConnectionProtocol):
            def quic_event_received(self, event: qe.QuicEvent) -> None:
                if isinstance(event, qe.DatagramFrameReceived):
                    received.put_nowait(event.data)
                super().quic_event_received(event)

        async with peer_connect(
            "127.0.0.1", port, configuration=config, create_protocol=Client
        ) as client:
            reader, writer = await client.create_stream()
            writer.write(b"ping over quic")
            writer.write_eof()
            echoed = await reader.read()
            client._quic.send_datagram_frame(b"d1")
            client.transmit()
            return echoed, await received.get()

    async def main() -> None:
        cores: list[QuicConnectionCore] = []

        def on_connection(core: QuicConnectionCore) -> None:
            cores.append(core)
            core.on_stream = lambda transport, bidi: Echo()
            core.on_datagram = lambda data: core.send_datagram(b"srv:" + data)

        class Echo(asyncio.Protocol):
            def connection_made(self, transport: Any) -> None:
                self.transport = transport

            def data_received(self, data: bytes) -> None:
                self.transport.write(data)

        opts = QuicTLSOptions(cert=pki["cert"], key=pki["key"], alpn=(ALPN, "other"))
        server = await serve_quic(("127.0.0.1", 0), opts, on_connection)
        try:
            assert server.local[1] != 0
            with peer_loop() as peer:
                echoed, datagram = await peer.run(session(server.local[1], pki["ca"]))
            assert echoed == b"ping over quic"
            assert datagram == b"srv:d1"
            info = await cores[0].handshake
            assert info.tls.alpn == ALPN
            await cores[0].closed
            assert len(server.connections) == 0
        finally:
            server.close()

    run(main)


def test_garbage_never_breaks_our_server(run: Any, pki: dict[str, Any]) -> None:
    async def abandoned(port: int, ca: bytes) -> None:
        """On the peer's loop: an aioquic client that never finishes its handshake."""
        async with peer_connect("127.0.0.1", port, configuration=aioquic_client_config(ca)):
            pass

    async def main() -> None:
        import socket

        accepted: list[QuicConnectionCore] = []
        opts = QuicTLSOptions(cert=pki["cert"], key=pki["key"], alpn=(ALPN,), idle_timeout=1.0)
        server = await serve_quic(("127.0.0.1", 0), opts, accepted.append)
        junk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for payload in (b"", b"\x00", os.urandom(50), b"\xc0" + os.urandom(1300)):
                junk.sendto(payload, server.local)
            # a well-formed long header with a version we do not speak
            junk.sendto(
                b"\xc0\x0a\x0a\x0a\x0a\x08" + os.urandom(8) + b"\x00" + bytes(1200), server.local
            )
            await rt.sleep(0.2)
            assert len(server.connections) == 0
            # an abandoned handshake (an aioquic client that never finishes) costs nothing
            # either: it refuses our certificate
            with peer_loop() as peer, pytest.raises(ConnectionError):
                await peer.run(abandoned(server.local[1], pki["other_ca"]))
            # and a proper client still gets served
            core = await connect_quic(
                ("127.0.0.1", server.local[1]), client_options(pki), pooling=False
            )
            await core.handshake
            await close_core(core)
        finally:
            junk.close()
            server.close()

    run(main)


def test_slow_reader_bounds_buffers_end_to_end(run: Any, pki: dict[str, Any]) -> None:
    window = 256 * 1024
    payload = os.urandom(4 << 20)

    async def upload(port: int, ca: bytes, done: asyncio.Event) -> None:
        """On the peer's loop: an aioquic client sends ``payload`` on one stream and
        stays connected until ``done`` is set."""
        async with peer_connect("127.0.0.1", port, configuration=aioquic_client_config(ca)) as c:
            _, writer = await c.create_stream()
            writer.write(payload)
            writer.write_eof()
            await done.wait()

    async def main() -> None:
        readers: list[Collect] = []

        class SlowReader(Collect):
            def connection_made(self, transport: Any) -> None:
                super().connection_made(transport)
                transport.pause_reading()
                readers.append(self)

        def on_connection(core: QuicConnectionCore) -> None:
            core.on_stream = lambda transport, bidi: SlowReader(keep_open=True)

        opts = QuicTLSOptions(cert=pki["cert"], key=pki["key"], alpn=(ALPN,), stream_window=window)
        server = await serve_quic(("127.0.0.1", 0), opts, on_connection)
        try:
            # 1. an independent sender (aioquic) gets no more than a window or two in
            done = asyncio.Event()  # the peer's: set on its loop
            with peer_loop() as peer:
                async with background(peer.run(upload(server.local[1], pki["ca"], done))) as bg:
                    await rt.sleep(0.5)
                    slow = readers[0]
                    transport = slow.transport
                    # qh3 stops handing data over once a reader is a window behind: at most
                    # one more event (<= 64 KiB) gets in, and its core holds at most a
                    # window more
                    assert transport.buffered_inbound <= window + (64 << 10)
                    assert transport.bytes_received <= window + (64 << 10)
                    transport.resume_reading()
                    await rt.wait_for(slow.eof, 10)
                    assert slow.data == payload
                    peer.call(done.set)
                    await bg.tasks[0]
            # 2. our sender pauses and keeps its buffer near the high-water mark
            core = await connect_quic(
                ("127.0.0.1", server.local[1]), client_options(pki), pooling=False
            )
            sender = Sender(os.urandom(4 << 20), chunk=16 * 1024)
            t = await core.open_stream(True)
            t.set_write_buffer_limits(high=128 * 1024)
            t.attach(sender)
            await rt.sleep(0.5)
            assert sender.paused and sender.offset < (1 << 20)
            assert sender.max_buffered <= 128 * 1024 + 16 * 1024
            assert readers[1].transport.buffered_inbound <= window + (64 << 10)
            readers[1].transport.resume_reading()
            assert await rt.wait_for(readers[1].eof, 10) == bytes(sender.view)
            await close_core(core)
        finally:
            server.close()

    run(main)


def test_a_lagging_reader_never_stalls_its_siblings_for_good(
    run: Any, pki: dict[str, Any], core: str
) -> None:
    """A paused reader a window behind: on aioquic only its own stream waits; on qh3 (whose
    credit is connection-wide, see _quic/_qh3.py) the connection waits until that reader
    reads or its stream ends.  Either way the sibling's data arrives once it does."""
    window = 128 * 1024

    async def main() -> None:
        readers: list[Collect] = []

        class Reader(Collect):
            def connection_made(self, transport: Any) -> None:
                super().connection_made(transport)
                if not readers:
                    transport.pause_reading()  # the first stream's reader lags
                readers.append(self)

        def on_connection(c: QuicConnectionCore) -> None:
            c.on_stream = lambda transport, bidi: Reader(keep_open=True)

        opts = QuicTLSOptions(cert=pki["cert"], key=pki["key"], alpn=(ALPN,), stream_window=window)
        server = await serve_quic(("127.0.0.1", 0), opts, on_connection)
        try:
            client = await connect_quic(
                ("127.0.0.1", server.local[1]), client_options(pki), pooling=False
            )
            big = await client.open_stream(True)
            big.attach(Sender(os.urandom(8 * window)))
            await rt.sleep(0.3)
            small = await client.open_stream(True)
            small.write(b"sibling")
            small.write_eof()
            await rt.sleep(0.3)
            lagging = readers[0].transport
            assert lagging.buffered_inbound <= window + (64 << 10)
            if core == "aioquic":
                assert await rt.wait_for(readers[1].eof, 5) == b"sibling"
            lagging.abort(7)  # the lagging stream ends: its sibling goes on
            for _ in range(100):
                if len(readers) > 1:
                    break
                await rt.sleep(0.05)
            assert await rt.wait_for(readers[1].eof, 5) == b"sibling"
            await close_core(client)
        finally:
            server.close()

    run(main)


def test_session_resumption_and_0rtt(run: Any, pki: dict[str, Any]) -> None:
    async def main() -> None:
        def on_connection(core: QuicConnectionCore) -> None:
            core.on_stream = lambda transport, bidi: EchoUpper()

        class EchoUpper(asyncio.Protocol):
            def connection_made(self, transport: Any) -> None:
                self.transport = transport

            def data_received(self, data: bytes) -> None:
                self.transport.write(data.upper())

            def eof_received(self) -> None:
                return None  # close: FIN back

        opts = QuicTLSOptions(cert=pki["cert"], key=pki["key"], alpn=(ALPN,))
        server = await serve_quic(("127.0.0.1", 0), opts, on_connection)
        remote = ("127.0.0.1", server.local[1])
        try:
            first = await connect_quic(remote, client_options(pki), pooling=False)
            info = await first.handshake
            assert not info.tls.session_reused
            proto = Collect()
            t = await first.open_stream(True, protocol=proto)
            t.write(b"one")
            t.write_eof()
            assert await proto.eof == b"ONE"  # the ticket has arrived by now
            await close_core(first)
            second = await connect_quic(remote, client_options(pki), pooling=False)
            early = Collect()
            t = await second.open_stream(True, protocol=early)
            t.write(b"early data")  # before the handshake: 0-RTT
            t.write_eof()
            info = await second.handshake
            assert info.tls.session_reused
            assert info.tls.early_data_accepted
            assert await early.eof == b"EARLY DATA"
            await close_core(second)
        finally:
            server.close()

    run(main)


def test_our_server_requires_client_certificates(run: Any, pki: dict[str, Any]) -> None:
    async def main() -> None:
        accepted: list[QuicConnectionCore] = []
        first = rt.Event()

        def on_connection(core: QuicConnectionCore) -> None:
            accepted.append(core)
            first.set()

        opts = QuicTLSOptions(cert=pki["cert"], key=pki["key"], alpn=(ALPN,), ca=pki["ca"])
        server = await serve_quic(("127.0.0.1", 0), opts, on_connection)
        remote = ("127.0.0.1", server.local[1])
        try:
            with_cert = client_options(pki, cert=pki["client_cert"], key=pki["client_key"])
            core = await connect_quic(remote, with_cert, pooling=False)
            await core.handshake
            await first.wait()
            info = await accepted[0].handshake
            assert info.tls.peer_certificate and info.tls.verification_status == "ok"
            await close_core(core)
            anonymous = await connect_quic(remote, client_options(pki), pooling=False)
            with pytest.raises(TLSError):
                await anonymous.closed
            assert len(accepted) == 1
        finally:
            server.close()

    run(main)
