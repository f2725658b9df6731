"""Rules the docs promise that no other test pinned down (issue 19, items 3 and 4).

Each test guards one rule of API.md / docs/design.md against real sockets on loopback,
on both loops where a loop is involved, and fails if the rule is broken.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests import rt
from tests.conftest import (
    blackholed_address,
    eventually,
    fd_count,
    refusing_port,
    tcp_unread,
)
from tests.tls_util import Pki, make_pki

import unisock
from unisock import SocketInit, errors
from unisock._transports.tls.config import SessionCache, session_cache
from unisock.testing import pairs

pytestmark = pytest.mark.trio  # every test that takes `run` runs on trio too


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(Path(tmp_path_factory.mktemp("pki")))


tcp_pair = pairs.tcp_pair()  # the conformance kit's: connected, accepted, aborted at exit


def os_socket(sock: unisock.Socket) -> Any:
    """The OS socket under a unisock TCP socket (the loop's socket object)."""
    transport = sock._transport
    assert transport is not None
    return transport.get_extra_info("socket")


def nodelay(sock: unisock.Socket) -> int:
    return int(os_socket(sock).getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


# -- reads ------------------------------------------------------------------------------


def test_cancelled_read_is_withdrawn(run: Any) -> None:
    """A pending ``read()`` cancelled (the returned awaitable's ``cancel()``, as
    ``wait_for`` does) is withdrawn: the next chunk goes to the next read."""

    async def main() -> None:
        async with tcp_pair() as (client, server):
            reader = client.readable.get_reader()
            pending = reader.read()
            await rt.sleep(0)  # a loop turn with the read pending
            assert pending.cancel()
            with pytest.raises(TimeoutError):
                await rt.wait_for(reader.read(), 0.02)
            await server.writable.get_writer().write(b"kept")
            assert (await rt.wait_for(reader.read(), 5)).value == b"kept"

    run(main)


# -- no_delay ---------------------------------------------------------------------------


def test_no_delay_false_is_applied(run: Any) -> None:
    """asyncio and uvloop turn TCP_NODELAY on for every TCP transport; ``no_delay=False``
    (the default) must leave it really off, on connected and accepted sockets, and
    ``no_delay=True`` / ``update(no_delay=...)`` must set it."""

    async def main() -> None:
        async with tcp_pair() as (client, server):
            assert nodelay(client) == 0
            assert nodelay(server) == 0
            await client.update(no_delay=True)
            assert nodelay(client) != 0
            await client.update(no_delay=False)
            assert nodelay(client) == 0
        async with tcp_pair(no_delay=True) as (client, server):
            assert nodelay(client) != 0
            assert nodelay(server) != 0

    run(main)


# -- close ------------------------------------------------------------------------------


def test_close_grace_aborts_when_the_peer_never_reads(
    run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``close()`` with data queued for a peer that never reads gives up after
    ``CLOSE_GRACE`` seconds: it aborts, ``closed`` rejects with ``TimeoutError``."""
    monkeypatch.setattr(unisock.Socket, "CLOSE_GRACE", 0.3)

    async def main() -> None:
        async with tcp_pair(send_buffer_size=64 * 1024, receive_buffer_size=64 * 1024) as (
            client,
            _server,
        ):
            client.writable.get_writer().write(b"\0" * (16 << 20))
            start = time.monotonic()
            await rt.wait_for(client.close(), 10)
            elapsed = time.monotonic() - start
            assert 0.25 <= elapsed < 3, elapsed
            assert client.closed.is_rejected()
            exc = client.closed.exception()
            assert isinstance(exc, errors.TimeoutError), exc
            assert client.signal.aborted

    run(main)


def test_close_flushes_a_large_write_to_a_slow_reader(
    run: Any, loop_kind: str, request: pytest.FixtureRequest
) -> None:
    """``close()`` right after a large write: every byte reaches the peer, then the EOF;
    nothing reaches the loop's exception handler."""

    async def main() -> None:
        async with tcp_pair(send_buffer_size=64 * 1024) as (client, server):
            payload = os.urandom(2 << 20)
            client.writable.get_writer().write(payload)
            closing = rt.spawn(client.close())
            for _ in range(3):  # close() under way (waiting to flush) before the peer reads
                await rt.sleep(0)
            assert not closing.done()
            received = bytearray()
            async for part in server.readable:
                received += part
            await closing
            assert bytes(received) == payload
            assert client.closed.is_fulfilled()

    run(main)


# -- TLS session cache ------------------------------------------------------------------


def test_session_cache_is_a_bounded_lru() -> None:
    """The default bound is 256 entries; the least recently used entry goes first."""
    cache = SessionCache()
    assert cache.maxsize == 256
    keys = [(f"h{i}", 443, None, b"") for i in range(300)]
    for k in keys:
        cache.put(k, object())  # type: ignore[arg-type]
    assert len(cache) == 256
    assert cache.get(keys[43]) is None
    assert cache.get(keys[44]) is not None
    cache.get(keys[44])  # now the most recent
    cache.put(("new", 1, None, b""), object())  # type: ignore[arg-type]
    assert cache.get(keys[44]) is not None
    assert cache.get(keys[45]) is None
    assert len(session_cache) <= session_cache.maxsize == 256


@pytest.fixture
def clean_session_cache() -> Iterator[None]:
    session_cache.clear()
    yield
    session_cache.clear()


def test_session_cache_bound_holds_for_real_connections(
    run: Any, pki: Pki, monkeypatch: pytest.MonkeyPatch, clean_session_cache: None
) -> None:
    """TLS clients to 5 servers with the process cache bounded at 2: it never holds more
    than 2 sessions, the latest ones, and the latest still resumes."""
    monkeypatch.setattr(session_cache, "maxsize", 2)
    sopts = {
        "type": "tls",
        "cert": pki.server.cert_chain_pems[0].bytes(),
        "key": pki.server.private_key_pem.bytes(),
    }
    copts = {"type": "tls", "ca": pki.ca_pem, "servername": "localhost"}

    async def one(listener: unisock.SocketListener) -> bool:
        sock = await unisock.connect(remote=listener.local, **copts)
        server = await listener.accept()
        await server.writable.get_writer().write(b"hi")  # carries the TLS 1.3 ticket
        reader = sock.readable.get_reader()
        assert (await reader.read()).value == b"hi"
        reused = bool(sock._tls._sslobj.session_reused)
        await sock.close()
        await server.close()
        return reused

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            listeners = [
                await stack.enter_async_context(unisock.SocketListener(**sopts)) for _ in range(5)
            ]
            for listener in listeners:
                assert not await one(listener)
                assert len(session_cache) <= 2
            assert len(session_cache) == 2
            assert await one(listeners[-1]), "the latest session must still resume"
            assert not await one(listeners[0]), "the oldest session must have been evicted"

    run(main)


# -- Happy Eyeballs ---------------------------------------------------------------------


def race_options(remote: Any) -> Any:
    return SocketInit.parse(None, {"remote": remote})


def test_happy_eyeballs_stagger_then_live_address_wins(run: Any) -> None:
    """A blackholed address first, a live one second: the second attempt starts 250 ms
    after the first (RFC 8305's stagger), wins, and the hanging attempt is cancelled
    without leaking its socket."""
    from unisock._transports.tcp import HAPPY_EYEBALLS_DELAY, _race

    assert HAPPY_EYEBALLS_DELAY == 0.25

    async def main() -> None:
        with blackholed_address() as dead:
            live = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            live.bind(("127.0.0.1", 0))
            live.listen(8)
            try:
                loop = rt.runtime()
                before = fd_count()
                targets = [(socket.AF_INET, dead), (socket.AF_INET, live.getsockname())]
                start = time.monotonic()
                won = await rt.wait_for(_race(loop, targets, race_options(dead)), 5)
                elapsed = time.monotonic() - start
                try:
                    assert won.getpeername() == live.getsockname()
                    assert 0.24 <= elapsed < 0.8, elapsed
                finally:
                    won.close()
                for _ in range(5):
                    await rt.sleep(0)
                assert fd_count() == before

                # The live address first: no stagger at all.
                start = time.monotonic()
                won = await _race(loop, list(reversed(targets)), race_options(dead))
                won.close()
                assert time.monotonic() - start < 0.2
            finally:
                live.close()

    run(main)


def test_happy_eyeballs_all_failing_gives_one_network_error(run: Any) -> None:
    """Every address refused: one ``NetworkError`` naming the remote, with the OS errno,
    and a failed attempt starts the next at once (no 250 ms wait)."""
    from unisock._transports.tcp import _race

    async def main() -> None:
        loop = rt.runtime()
        targets = [(socket.AF_INET, ("127.0.0.1", p)) for p in ports]
        opts = race_options(("127.0.0.1", ports[0]))
        start = time.monotonic()
        with pytest.raises(errors.NetworkError) as info:
            await rt.wait_for(_race(loop, targets, opts), 5)
        assert time.monotonic() - start < 0.2
        assert info.value.errno == errno.ECONNREFUSED
        assert f"127.0.0.1:{ports[0]}" in str(info.value)

    with refusing_port() as first, refusing_port() as second:
        ports = [first, second]
        run(main)


# -- writes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", ["text", 42, [1, 2]], ids=["str", "int", "list"])
def test_writing_a_non_bytes_chunk_fails_and_aborts(run: Any, chunk: Any) -> None:
    """A ``str`` or other non-bytes-like chunk: the write rejects with ``TypeError``
    and the socket is aborted (its peer sees a reset, ``closed`` rejects)."""

    async def main() -> None:
        async with tcp_pair() as (client, server):
            writer = client.writable.get_writer()
            with pytest.raises(TypeError, match="bytes-like"):
                await writer.write(chunk)
            await eventually(lambda: client.signal.aborted, what="the socket aborted")
            assert client.closed.is_rejected()
            assert isinstance(client.closed.exception(), TypeError)
            with pytest.raises(errors.NetworkError):
                async for _ in server.readable:
                    pass

    run(main)


# -- "data" events --------------------------------------------------------------------------


async def paused_with(sock: unisock.Socket, unread: int) -> None:
    """``unread`` bytes have arrived in the kernel for ``sock`` and stay there: the loop
    polls its sockets on every turn, so a few turns would have read them if reading were
    not paused."""
    assert sock.info.local is not None
    port = sock.info.local.port
    await eventually(lambda: tcp_unread(port) == unread, what=f"{unread} bytes arrived")
    for _ in range(3):
        await rt.sleep(0)
    assert tcp_unread(port) == unread


def test_removing_the_last_data_listener_pauses_reads(run: Any) -> None:
    """With no ``"data"`` listener left, reads pause: bytes arriving meanwhile are not
    dropped but go to the next listener added."""

    async def main() -> None:
        async with tcp_pair() as (client, server):
            got: list[bytes] = []
            first = rt.future()

            def listener(event: Any) -> None:
                got.extend(event.buffers)
                if not first.done():
                    first.set_result(None)

            client.add_event_listener("data", listener)
            writer = server.writable.get_writer()
            await writer.write(b"one")
            await rt.wait_for(first, 5)
            client.remove_event_listener("data", listener)
            await writer.write(b"two")
            await paused_with(client, 3)
            assert got == [b"one"]

            later: list[bytes] = []
            arrived = rt.future()

            def second(event: Any) -> None:
                later.extend(event.buffers)
                arrived.set_result(None)

            client.add_event_listener("data", second)
            await rt.wait_for(arrived, 5)
            assert b"".join(later) == b"two"

    run(main)


def test_once_data_listener_gets_one_event_then_reads_pause(run: Any) -> None:
    """A ``once`` ``"data"`` listener gets exactly one event; the bytes after it wait
    (reads paused) for the next listener."""

    async def main() -> None:
        async with tcp_pair() as (client, server):
            calls: list[list[bytes]] = []
            first = rt.future()

            def once(event: Any) -> None:
                calls.append(list(event.buffers))
                if not first.done():
                    first.set_result(None)

            client.add_event_listener("data", once, once=True)
            writer = server.writable.get_writer()
            await writer.write(b"a")
            await rt.wait_for(first, 5)
            await writer.write(b"b")
            await paused_with(client, 1)
            assert calls == [[b"a"]]
            rest: list[bytes] = []
            arrived = rt.future()

            def again(event: Any) -> None:
                rest.extend(event.buffers)
                arrived.set_result(None)

            client.add_event_listener("data", again)
            await rt.wait_for(arrived, 5)
            assert b"".join(rest) == b"b"
            assert len(calls) == 1

    run(main)


# -- listener -----------------------------------------------------------------------------


def test_listener_failing_to_bind_rejects_ready_with_network_error(run: Any) -> None:
    """A port in use: ``ready`` (and ``closed``) reject with ``NetworkError`` carrying
    EADDRINUSE; nothing is left open."""

    async def main() -> None:
        async with unisock.SocketListener() as first:
            assert first.local is not None
            second = unisock.SocketListener(local=f"127.0.0.1:{first.local.port}")
            with pytest.raises(errors.NetworkError) as info:
                await second.ready
            assert info.value.errno == errno.EADDRINUSE
            assert str(first.local.port) in str(info.value)
            with pytest.raises(errors.NetworkError):
                await second.closed
            with pytest.raises(errors.NetworkError):
                await second.accept()

    run(main)


# -- update() -------------------------------------------------------------------------------


def test_update_on_a_closed_socket_is_invalid_state(run: Any) -> None:
    async def main() -> None:
        async with tcp_pair() as (client, _server):
            await client.abort()
            with pytest.raises(errors.InvalidStateError):
                await client.update(no_delay=True)
            with pytest.raises(errors.InvalidStateError):
                await client.update(type="tls")

    run(main)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"no_delay": True, "idle_timeout": 7, "ttl": -1}, ValueError),
        ({"no_delay": True, "idle_timeout": 7, "send_buffer_size": "big"}, (TypeError, ValueError)),
        ({"no_delay": True, "idle_timeout": 7, "remote": "127.0.0.1:1"}, TypeError),
        ({"no_delay": True, "idle_timeout": 7, "servername": "x.test"}, ValueError),
        ({"no_delay": True, "idle_timeout": 7, "type": "udp"}, ValueError),
    ],
    ids=["bad-ttl", "bad-buffer", "remote", "tls-field-without-upgrade", "to-udp"],
)
def test_refused_update_with_mixed_fields_changes_nothing(
    run: Any, fields: dict[str, Any], error: Any
) -> None:
    """Valid fields mixed with one bad one: the update rejects and none of the valid
    fields took effect (neither on the options nor on the OS socket)."""

    async def main() -> None:
        async with tcp_pair() as (client, _server):
            opts_before = client._opts
            with pytest.raises(error):
                await client.update(**fields)
            assert client._opts == opts_before
            assert nodelay(client) == 0
            assert client._idle_timer is None
            assert not client.signal.aborted

    run(main)


# -- malloc tuning ----------------------------------------------------------------------------

_MALLOC_PROBE = """
import ctypes, sys
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
from unisock._base.malloc import tune_malloc
tune_malloc()
before = libc.mallinfo2().hblks
block = bytearray(1 << 20)  # above glibc's default 128 KiB mmap threshold
print(libc.mallinfo2().hblks - before)
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="glibc only",
)
def test_malloc_tuning_can_be_turned_off() -> None:
    """By default a 1 MiB buffer comes from the heap (mmap threshold raised to 4 MiB);
    with ``UNISOCK_MALLOC_TUNING=0`` malloc is left alone and mmaps it."""

    def mmapped(value: str | None) -> int:
        env = {k: v for k, v in os.environ.items() if k != "UNISOCK_MALLOC_TUNING"}
        if value is not None:
            env["UNISOCK_MALLOC_TUNING"] = value
        out = subprocess.run(
            [sys.executable, "-c", _MALLOC_PROBE],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return int(out.stdout.strip())

    assert mmapped(None) == 0
    assert mmapped("1") == 0
    assert mmapped("0") == 1


# -- stats ------------------------------------------------------------------------------------


def test_packet_counts_frozen_at_close(run: Any) -> None:
    """After ``close()``, ``packets_sent``/``packets_received`` keep the kernel's last
    counts (non-zero), and do not change any more."""

    async def main() -> None:
        async with tcp_pair() as (client, server):
            await client.writable.get_writer().write(b"x" * 100_000)
            got = 0
            reader = server.readable.get_reader()
            while got < 100_000:
                got += len((await reader.read()).value)
            live = client.stats
            assert live.packets_sent > 0
            await client.close()
            assert client.closed.is_fulfilled()
            frozen = (client.stats.packets_sent, client.stats.packets_received)
            assert frozen[0] >= live.packets_sent > 0
            assert frozen[1] > 0
            await rt.sleep(0.05)  # time is what is tested: the counts stay as they were
            assert (client.stats.packets_sent, client.stats.packets_received) == frozen

    run(main)


# -- UDP --------------------------------------------------------------------------------------


async def recv_datagram(receiver: socket.socket) -> tuple[bytes, Any]:
    """One datagram from a non-blocking socket (uvloop has no ``sock_recvfrom``)."""
    loop = rt.runtime()
    arrived: asyncio.Future[tuple[bytes, Any]] = loop.create_future()

    def readable() -> None:
        if not arrived.done():
            arrived.set_result(receiver.recvfrom(65536))

    loop.add_reader(receiver.fileno(), readable)
    try:
        return await rt.wait_for(arrived, 5)
    finally:
        loop.remove_reader(receiver.fileno())


def test_udp_bound_mode_write_to_a_host_name(run: Any) -> None:
    """docs/api.md: a bound socket sends only to IP addresses; a host name in
    ``Datagram.remote`` fails that write with ``ValueError`` and the socket stays usable."""

    async def main() -> None:
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receiver.bind(("127.0.0.1", 0))
        receiver.setblocking(False)
        port = receiver.getsockname()[1]
        sock = unisock.Socket(type="udp", local="127.0.0.1:0")
        try:
            await sock.ready
            writer = sock.writable.get_writer()
            with pytest.raises(ValueError, match="IP address"):
                await writer.write(unisock.Datagram(b"to a name", ("localhost", port)))
            assert not sock.signal.aborted
            await writer.write(unisock.Datagram(b"to an address", ("127.0.0.1", port)))
            data, sender = await recv_datagram(receiver)
            assert data == b"to an address"
            assert sender[1] == sock.info.local.port
            with pytest.raises(BlockingIOError):
                receiver.recvfrom(100)  # the refused write sent nothing
        finally:
            await sock.close()
            receiver.close()

    run(main)


# -- type mapping -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "transport", "alpn"),
    [
        ("h3", "quic", ("h3",)),
        ("h3-29", "quic", ("h3-29",)),
        ("hq-interop", "quic", ("hq-interop",)),
        ("doq", "quic", ("doq",)),
        ("h2", "tls", ("h2",)),
        ("http/1.1", "tls", ("http/1.1",)),
    ],
)
def test_alpn_types_map_to_quic_or_tls(type_: str, transport: str, alpn: tuple[str, ...]) -> None:
    """``type`` set to a QUIC ALPN (``h3``, ``h3-*``, ``hq-*``, ``doq``) means QUIC with
    that ALPN; any other registered ALPN id means TLS over TCP."""
    opts = SocketInit.parse(None, {"type": type_, "remote": ("127.0.0.1", 443)})
    assert opts.transport == transport
    assert opts.alpn == alpn


# -- pipe_to signal ---------------------------------------------------------------------------


def test_signal_stops_the_socket_pipe_fast_path(run: Any) -> None:
    """``socket.readable.pipe_to(other.writable, signal=...)`` takes the socket fast path
    (no task per chunk); aborting the signal still stops it: the pipe rejects with the
    reason, and bytes sent afterwards do not reach the destination."""

    async def main() -> None:
        async with tcp_pair() as (a_client, a_server), tcp_pair() as (b_client, b_server):
            controller = unisock.AbortController()
            piping = a_server.readable.pipe_to(
                b_client.writable,
                signal=controller.signal,
                prevent_abort=True,
                prevent_cancel=True,
            )
            assert a_server._pipe is not None, "the socket fast path was not taken"
            writer = a_client.writable.get_writer()
            await writer.write(b"before")
            reader = b_server.readable.get_reader()
            assert (await rt.wait_for(reader.read(), 5)).value == b"before"
            controller.abort(errors.AbortError("stop"))
            with pytest.raises(errors.AbortError):
                await rt.wait_for(piping, 5)
            assert a_server._pipe is None
            await writer.write(b"after")
            with pytest.raises(TimeoutError):
                await rt.wait_for(reader.read(), 0.2)
            # prevent_cancel: the source is released with the bytes still readable.
            src = a_server.readable.get_reader()
            assert (await rt.wait_for(src.read(), 5)).value == b"after"

    run(main)
