"""``Socket`` paths no other test reached (issue 19, coverage): the ``pipe_to`` fast
path pausing the transport for a slow destination, ``"data"`` listeners that fail or are
objects, ``async with`` on an error, writes and a half-close queued before ``ready``,
bodies that are file-like objects or resolve to nonsense.  Real sockets on loopback, on
both loops; each test fails if the behaviour it names is broken."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import io
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from tests import rt

import unisock
from unisock import errors
from unisock import testing as conformance
from unisock.streams import WritableStream
from unisock.testing import pairs

pytestmark = pytest.mark.trio  # every test that takes `run` runs on trio too

tcp_pair = pairs.tcp_pair()


def test_pipe_fast_path_pauses_the_socket_for_a_slow_destination(run: Any) -> None:
    """``sock.readable.pipe_to(dest)`` where ``dest`` stops accepting: the socket stops
    reading (the sender is held back by TCP, not buffered in memory here), and once
    ``dest`` takes chunks again every byte arrives, in order."""
    total = 8 << 20
    payload = os.urandom(1 << 16) * (total >> 16)

    async def main() -> None:
        async with tcp_pair() as (client, server):
            gate = rt.Event()
            digest = hashlib.sha256()
            received = 0

            async def write(chunk: bytes, controller: Any) -> None:
                nonlocal received
                await gate.wait()
                digest.update(chunk)
                received += len(chunk)

            sink = WritableStream({"write": write})
            piping = rt.spawn(server.readable.pipe_to(sink))
            writer = client.writable.get_writer()
            sending = rt.spawn(writer.write(payload))
            await rt.sleep(0.3)
            held = server.stats.bytes_received
            assert 0 < held < total // 2, held  # paused, not reading everything into memory
            await rt.sleep(0.2)
            assert server.stats.bytes_received == held  # and stays paused
            gate.set()
            await rt.wait_for(sending, 30)
            await writer.close()
            await rt.wait_for(piping, 30)
            assert received == total
            assert digest.digest() == hashlib.sha256(payload).digest()

    run(main)


def test_pipe_fast_path_resumes_reading_when_the_pipe_ends(run: Any) -> None:
    """A pipe aborted (its signal) while it holds the transport paused for a stalled
    destination: once its pending writes are done the pipe ends, and the socket reads
    again under its own stream's rules: what the pipe did not take is read by a reader
    afterwards (``prevent_cancel``), nothing lost, nothing twice."""

    async def main() -> None:
        async with tcp_pair() as (client, server):
            stalled = rt.Event()
            gate = rt.Event()
            piped: list[bytes] = []

            async def write(chunk: bytes, controller: Any) -> None:
                stalled.set()
                await gate.wait()
                piped.append(chunk)

            controller = unisock.AbortController()
            sink = WritableStream({"write": write})
            piping = server.readable.pipe_to(
                sink, signal=controller.signal, prevent_cancel=True, prevent_abort=True
            )
            writer = client.writable.get_writer()
            first = os.urandom(3_000_000)
            sending = rt.spawn(writer.write(first))
            await rt.wait_for(stalled.wait(), 5)
            await rt.sleep(0.1)
            assert server.stats.bytes_received < len(first)  # paused for the sink
            controller.abort("stop")
            gate.set()
            with pytest.raises(unisock.errors.AbortError):
                await rt.wait_for(piping, 5)
            await rt.wait_for(sending, 10)
            await writer.write(b"tail")
            await writer.close()
            rest = await conformance.read_all(server)
            assert b"".join(piped) + rest == first + b"tail"
            assert server.stats.bytes_received == len(first) + 4
            await sink.close()

    run(main)


def test_failing_data_listeners_are_reported_and_others_still_run(run: Any) -> None:
    """A ``"data"`` listener that raises and an ``async`` one that fails are reported to
    the loop's exception handler; the listener after them (an object with
    ``handle_event``) still receives every chunk."""

    async def main() -> None:
        loop = rt.runtime()
        reported: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: reported.append(context))
        try:
            async with tcp_pair() as (client, server):
                got: list[bytes] = []
                done = rt.Event()

                def broken(event: Any) -> None:
                    raise RuntimeError("sync listener failed")

                async def broken_async(event: Any) -> None:
                    raise KeyError("async listener failed")

                class Collector:
                    def handle_event(self, event: Any) -> None:
                        got.extend(event.buffers)

                server.add_event_listener("data", broken)
                server.add_event_listener("data", broken_async)
                server.add_event_listener("data", Collector())
                server.add_event_listener("end", lambda e: done.set())
                writer = client.writable.get_writer()
                await writer.write(b"one")
                await writer.close()
                await rt.wait_for(done.wait(), 5)
                await rt.sleep(0)  # the failed async listener's callback
                assert b"".join(got) == b"one"
        finally:
            loop.set_exception_handler(None)
        messages = sorted(str(c.get("message")) for c in reported)
        excs = sorted(type(c.get("exception")).__name__ for c in reported)
        assert len(reported) == 2, reported
        assert messages == [
            "exception in 'data' event listener",
            "exception in async 'data' event listener",
        ]
        assert excs == ["KeyError", "RuntimeError"]

    run(main)


def test_async_with_error_exit_aborts_with_that_error(run: Any) -> None:
    """``async with sock`` left by an exception aborts the socket with that exception:
    ``closed`` rejects with it and the peer sees a reset, not a clean end."""

    async def main() -> None:
        async with tcp_pair() as (client, server):
            boom = LookupError("boom")
            with pytest.raises(LookupError):
                async with client:
                    assert "open" in repr(client) and "tcp" in repr(client)
                    raise boom
            with pytest.raises(LookupError) as info:
                await client.closed
            assert info.value is boom
            assert client.signal.aborted and client.signal.reason is boom
            assert "closed" in repr(client)
            with pytest.raises(errors.NetworkError):
                await conformance.read_all(server)

    run(main)


def test_write_and_half_close_queued_before_ready(run: Any) -> None:
    """A write and ``close()`` of the writable made right after construction (the socket
    still connecting) are held until it connects: the peer gets the bytes, then EOF."""

    async def main() -> None:
        async with unisock.SocketListener() as listener:
            client = unisock.Socket(remote=listener.local)
            writer = client.writable.get_writer()
            wrote = writer.write(b"early")
            closing = writer.close()
            assert "connecting" in repr(client)
            server = await listener.accept()
            assert await conformance.read_all(server) == b"early"
            await wrote
            await closing
            await server.close()
            await client.closed
            await server.closed

    run(main)


@pytest.mark.parametrize("kind", ["bytesio", "path", "file"])
def test_file_bodies_arrive_whole(run: Any, kind: str, tmp_path: Path) -> None:
    """A file body, whether the loop can ``sendfile`` it (a real file on the stock loop)
    or not (uvloop; an in-memory file with no descriptor): all of it arrives, then EOF."""
    data = os.urandom(600_000)
    path = tmp_path / "body.bin"
    path.write_bytes(data)

    async def main() -> None:
        async with unisock.SocketListener() as listener:
            if kind == "bytesio":
                body: Any = io.BytesIO(data)
            elif kind == "path":
                body = path
            else:
                body = open(path, "rb")  # noqa: SIM115 - the socket reads it
            try:
                client = unisock.Socket(remote=listener.local, body=body)
                server = await listener.accept()
                assert await conformance.read_all(server) == data
                await server.close()
                await client.closed
                assert client.stats.bytes_sent == len(data)
            finally:
                if kind == "file":
                    body.close()

    run(main)


async def _an_object() -> object:
    return object()


@pytest.mark.parametrize("body", [lambda: 42, _an_object], ids=["callable", "awaitable"])
def test_body_resolving_to_an_unsupported_value_aborts(run: Any, body: Any) -> None:
    """A callable or awaitable body that produces something that cannot be sent: the
    socket is aborted with a ``TypeError`` naming the value (``ready`` too: it fails
    before connecting), and nothing is sent."""

    async def main() -> None:
        async with unisock.SocketListener() as listener:
            client = unisock.Socket(remote=listener.local, body=body)
            with pytest.raises(TypeError, match="body resolved to an unsupported value"):
                await client.closed
            with pytest.raises(TypeError):
                await client.ready
            assert client.stats.bytes_sent == 0

    run(main)


def test_abort_while_connecting_resets_an_established_connection(run: Any) -> None:
    """API.md: an abrupt end sends RST.  A socket aborted while still *connecting*, whose
    TCP handshake has in fact completed (the listener already accepted it), must reset
    the peer too: a clean EOF would tell the peer the conversation ended normally."""

    async def main() -> None:
        async with unisock.SocketListener() as listener:
            states: list[str] = []
            accepted: asyncio.Future[unisock.Socket] = rt.future()
            client: unisock.Socket | None = None
            # Aborted from the listener's event itself (a signal aborts synchronously):
            # how long a client stays "connecting" after the kernel's handshake is the
            # runtime's business (on trio, one checkpoint), so no task hop may come first.
            controller = unisock.AbortController()

            def on_socket(event: Any) -> None:
                assert client is not None
                states.append(repr(client))
                controller.abort()
                accepted.set_result(event.socket)

            listener.add_event_listener("socket", on_socket)
            client = unisock.Socket(remote=listener.local, signal=controller.signal)
            server = await rt.wait_for(accepted, 5)
            with pytest.raises(errors.AbortError):
                await client.closed
            assert "connecting" in states[0]  # aborted before it was open
            try:
                with pytest.raises(errors.NetworkError):
                    await conformance.read_all(server)
            finally:
                await server.abort()

    run(main)


def test_pipe_started_on_a_paused_socket_resumes_it(run: Any) -> None:
    """Bytes piled up unread until the socket paused reading (its read high-water mark,
    1 MiB by default), then ``pipe_to`` a destination whose writes take a loop pass: the
    pipe takes the queued bytes first, resumes reading, and delivers the rest, in order,
    up to the end."""
    payload = os.urandom(3_000_000)

    async def main() -> None:
        async with unisock.SocketListener() as listener:
            client = unisock.Socket(remote=listener.local, body=payload)
            server = await listener.accept()
            try:
                last = -1
                while server.stats.bytes_received != last:  # until reading has paused
                    last = server.stats.bytes_received
                    await rt.sleep(0.1)
                assert 0 < last < len(payload)
                parts: list[bytes] = []

                async def write(chunk: bytes, controller: Any) -> None:
                    await rt.sleep(0)
                    parts.append(chunk)

                sink = WritableStream({"write": write})
                await rt.wait_for(server.readable.pipe_to(sink), 5)
                assert b"".join(parts) == payload
            finally:
                await client.abort()
                await server.abort()
                for sock in (client, server):
                    with contextlib.suppress(Exception):
                        await sock.closed

    run(main)


def test_local_address_in_use_is_a_network_error(run: Any) -> None:
    """``local`` is bound before connecting; an address in use rejects ``ready`` with
    ``NetworkError`` (EADDRINUSE) naming the local address, and nothing is sent."""

    async def main() -> None:
        async with unisock.SocketListener() as listener, unisock.SocketListener() as taken:
            assert taken.local is not None
            client = unisock.Socket(remote=listener.local, local=taken.local)
            with pytest.raises(errors.NetworkError) as info:
                await client.ready
            assert info.value.errno == errno.EADDRINUSE
            assert f"cannot bind to local {taken.local}" in str(info.value)

    run(main)


def test_ttl_on_ipv6_sets_the_hop_limit(run: Any) -> None:
    """``ttl`` on an IPv6 connection is its unicast hop limit."""

    async def main() -> None:
        async with unisock.SocketListener(local="[::1]:0") as listener:
            client = await unisock.connect(remote=listener.local, ttl=7)
            server = await listener.accept()
            raw = client._transport.get_extra_info("socket")  # type: ignore[union-attr]
            assert raw.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS) == 7
            await client.abort()
            await server.abort()

    run(main)


def test_readable_values_prevent_cancel_keeps_the_socket_readable(run: Any) -> None:
    """``readable.values(prevent_cancel=True)``: leaving the loop early (and closing the
    iterator, as ``aclosing`` does) releases the readable without cancelling it, so a
    reader gets the rest; plain ``values()`` (the default) cancels it, and the socket
    reads nothing more."""

    async def main() -> None:
        async with tcp_pair() as (client, server):
            writer = server.writable.get_writer()
            await writer.write(b"first")
            values = client.readable.values(prevent_cancel=True)
            async with contextlib.aclosing(values):
                async for chunk in values:
                    assert chunk == b"first"
                    break
            await writer.write(b"second")
            reader = client.readable.get_reader()
            assert (await rt.wait_for(reader.read(), 5)).value == b"second"
            reader.release_lock()
            await writer.write(b"third")
            values = client.readable.values()
            async with contextlib.aclosing(values):
                async for chunk in values:
                    assert chunk == b"third"
                    break
            assert (await client.readable.get_reader().read()).done  # cancelled

    run(main)


def test_byob_reader_on_a_socket(run: Any) -> None:
    """``readable.get_reader(mode="byob")`` on a socket fills the caller's buffer."""

    async def main() -> None:
        async with tcp_pair() as (client, server):
            await server.writable.get_writer().write(b"abcdef")
            reader = client.readable.get_reader(mode="byob")
            result = await rt.wait_for(reader.read(memoryview(bytearray(16))), 5)
            assert bytes(result.value) == b"abcdef"

    run(main)


def test_first_data_listener_gets_queued_bytes_first_and_locks_readable(run: Any) -> None:
    """Bytes that arrived before the first ``"data"`` listener are its first event; from
    then on ``readable`` is locked for good (``get_reader()`` raises ``TypeError``)."""

    async def main() -> None:
        async with tcp_pair() as (client, server):
            writer = server.writable.get_writer()
            await writer.write(b"early")
            while client.stats.bytes_received < 5:  # queued in client.readable
                await rt.sleep(0.01)
            events: list[list[bytes]] = []
            got_late = rt.Event()

            def on_data(event: Any) -> None:
                events.append(list(event.buffers))
                if b"late" in b"".join(event.buffers):
                    got_late.set()

            client.add_event_listener("data", on_data)
            assert client.readable.locked
            with pytest.raises(TypeError, match="'data' event listeners"):
                client.readable.get_reader()
            await writer.write(b"late")
            await rt.wait_for(got_late.wait(), 5)
            assert events[0][0] == b"early"  # the queued bytes come first
            assert b"".join(b"".join(e) for e in events) == b"earlylate"

    run(main)


def test_data_listener_refused_while_a_reader_holds_readable_is_not_kept(run: Any) -> None:
    """Adding a ``"data"`` listener while a reader holds ``readable`` raises
    ``TypeError``, and that listener is not registered: the reader keeps receiving, and
    once it is released a new ``"data"`` listener is the only one called."""

    async def main() -> None:
        async with tcp_pair() as (client, server):
            reader = client.readable.get_reader()
            calls: list[Any] = []
            with pytest.raises(TypeError, match="locked to a reader"):
                client.add_event_listener("data", calls.append)
            writer = server.writable.get_writer()
            await writer.write(b"kept")
            assert (await rt.wait_for(reader.read(), 5)).value == b"kept"
            reader.release_lock()
            later: list[bytes] = []
            arrived = rt.Event()

            def on_data(event: Any) -> None:
                later.extend(event.buffers)
                arrived.set()

            client.add_event_listener("data", on_data)  # the only "data" listener
            await writer.write(b"after")
            await rt.wait_for(arrived.wait(), 5)
            assert later == [b"after"]
            assert calls == []

    run(main)


def test_small_write_resolves_at_once_after_backpressure_cleared(run: Any) -> None:
    """A write large enough to pause the transport, read by the peer: once that write
    has resolved, the next small write resolves at once (the paused state is gone)."""

    async def main() -> None:
        async with tcp_pair() as (client, server):
            writer = client.writable.get_writer()
            big = rt.spawn(writer.write(b"z" * (16 << 20)))
            reader = server.readable.get_reader()
            received = 0
            while received < 16 << 20:
                received += len((await rt.wait_for(reader.read(), 10)).value)
            await rt.wait_for(big, 10)
            await rt.wait_for(writer.write(b"!"), 2)
            assert (await rt.wait_for(reader.read(), 5)).value == b"!"

    run(main)


def test_any_buffer_can_be_written_and_is_counted(run: Any) -> None:
    """A chunk of any buffer type (here an ``array``) is written as its bytes and counted
    in ``bytes_sent`` by its size in bytes."""
    import array

    async def main() -> None:
        async with tcp_pair() as (client, server):
            writer = client.writable.get_writer()
            await writer.write(array.array("H", [1, 2, 3]))
            await writer.close()
            assert await conformance.read_all(server) == array.array("H", [1, 2, 3]).tobytes()
            assert client.stats.bytes_sent == 6

    run(main)
