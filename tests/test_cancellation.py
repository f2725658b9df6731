"""Cancelling every socket-level await point, on both loops: nothing lost, nothing leaked.

A cancelled wait (``asyncio.wait_for`` timing out, ``task.cancel()``) must only stop that
wait: the socket, its queued writes, its next read and the listener's next accept carry
on; a cancelled ``connect()`` leaves no file descriptor, task or socket behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
from tests import rt
from tests.conftest import blackholed_address, eventually, fd_count
from tests.tls_util import Pki, make_pki

import unisock
from unisock import errors
from unisock.testing import pairs

pytestmark = pytest.mark.trio  # every test that takes `run` runs on trio too


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(Path(tmp_path_factory.mktemp("pki")))


def server_tls(pki: Pki) -> dict[str, Any]:
    return {
        "cert": pki.server.cert_chain_pems[0].bytes(),
        "key": pki.server.private_key_pem.bytes(),
    }


def client_tls(pki: Pki) -> dict[str, Any]:
    return {"ca": pki.ca_pem, "servername": "localhost"}


tcp_pair = pairs.tcp_pair()  # the conformance kit's: connected, accepted, aborted at exit


def silent_listening_socket() -> socket.socket:
    """A TCP socket that listens and never accepts: the kernel completes connects, and
    whatever the client sends (a ClientHello) is never answered."""
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(128)
    lsock.setblocking(False)
    return lsock


async def timeouts(awaitable_factory: Any, times: int, delay: float = 0.01) -> None:
    """``times`` waits, each cancelled by ``wait_for`` timing out."""
    for _ in range(times):
        with pytest.raises(TimeoutError):
            await rt.wait_for(awaitable_factory(), delay)


# -- ready -----------------------------------------------------------------------------


@pytest.mark.asyncio_only("the peer is asyncio's own TLS server (asyncio.start_server)")
def test_cancelled_ready_wait_leaves_the_socket_connecting(run: Any, pki: Pki) -> None:
    """Waits on ``ready`` cancelled (``wait_for`` timeouts and ``task.cancel()``) while the
    TLS handshake is stalled: the socket is not aborted, and once the server answers,
    ``ready`` resolves for the next waiter and the socket carries data."""

    async def main() -> None:
        lsock = silent_listening_socket()
        port = lsock.getsockname()[1]
        sock = unisock.Socket(type="tls", remote=("127.0.0.1", port), **client_tls(pki))
        await timeouts(lambda: sock.ready, 5)
        task = rt.spawn(sock.ready)
        await rt.sleep(0)  # a loop turn: the task waits on ready
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not sock.signal.aborted
        assert not sock.ready.done()

        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        pki.server.configure_cert(ctx)

        async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.write(await r.read(100))
            await w.drain()
            w.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):  # the client may go first
                await w.wait_closed()

        server = await asyncio.start_server(echo, sock=lsock, ssl=ctx)
        try:
            info = await rt.wait_for(sock.ready, 10)
            assert info.cipher is not None
            writer = sock.writable.get_writer()
            await writer.write(b"ping")
            reader = sock.readable.get_reader()
            assert (await reader.read()).value == b"ping"
            await sock.close()
        finally:
            server.close()
            await server.wait_closed()

    run(main, timeout=30)


# -- read ------------------------------------------------------------------------------


def test_cancelled_read_loses_nothing(run: Any) -> None:
    """Reads cancelled by ``wait_for`` timeouts and by ``task.cancel()`` are withdrawn:
    the bytes sent afterwards all go to the next read."""

    async def main() -> None:
        async with tcp_pair() as (client, server):
            reader = client.readable.get_reader()
            await timeouts(reader.read, 5)

            async def read_in_task() -> Any:
                return await reader.read()

            task = rt.spawn(read_in_task())
            await rt.sleep(0)  # a loop turn: the task waits on its read
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await server.writable.get_writer().write(b"first")
            result = await rt.wait_for(reader.read(), 5)
            assert result.value == b"first"

    run(main)


@pytest.mark.asyncio_only(
    "arranges asyncio's race (chunk given to a read whose task is then cancelled before it "
    "runs); on trio a woken task finishes its step: test_trio.py checks cancelled reads"
)
def test_read_cancelled_after_the_chunk_arrived_loses_nothing(run: Any) -> None:
    """The race a ``wait_for`` timeout can hit: the chunk has reached the pending read,
    but the task is cancelled before it runs again.  The chunk must not be lost."""

    async def main() -> None:
        async with tcp_pair() as (client, server):
            reader = client.readable.get_reader()

            async def read_in_task() -> Any:
                return await reader.read()

            task = rt.spawn(read_in_task())
            await eventually(lambda: reader._requests, what="the task's read pending")
            server.writable.get_writer().write(b"precious")
            for _ in range(1000):  # until the transport has fulfilled the pending read
                if not reader._requests:
                    break
                await rt.sleep(0)
            assert not task.done()
            task.cancel()
            try:
                result = await task
            except asyncio.CancelledError:
                result = await rt.wait_for(reader.read(), 2)
            assert result.value == b"precious"

    run(main)


# -- write -----------------------------------------------------------------------------


def test_cancelled_write_wait_loses_nothing(run: Any) -> None:
    """A peer that does not read: waits on writes held by backpressure (and on
    ``writer.ready``) are cancelled; every queued write still goes out, in order."""

    async def main() -> None:
        async with tcp_pair(send_buffer_size=64 * 1024, receive_buffer_size=64 * 1024) as (
            client,
            server,
        ):
            writer = client.writable.get_writer()
            chunks = [bytes([i]) * (256 * 1024) for i in range(8)]
            cancelled = 0
            for chunk in chunks:
                pending = writer.write(chunk)
                try:
                    await rt.wait_for(pending, 0.02)
                except TimeoutError:
                    cancelled += 1
            assert cancelled >= 4, "the peer is not reading: writes must be held back"
            await timeouts(lambda: writer.ready, 3)
            assert not client.signal.aborted
            closing = writer.close()
            received = bytearray()
            async for part in server.readable:
                received += part
            await rt.wait_for(closing, 5)
            assert bytes(received) == b"".join(chunks)

    run(main)


# -- close -----------------------------------------------------------------------------


def test_cancelled_close_wait_still_flushes_and_closes(
    run: Any, loop_kind: str, request: pytest.FixtureRequest
) -> None:
    """``await sock.close()`` cancelled while queued data waits for a slow reader: the
    close goes on, the peer gets every byte and the EOF, and ``closed`` resolves."""

    async def main() -> None:
        async with tcp_pair() as (client, server):
            payload = os.urandom(24 << 20)
            client.writable.get_writer().write(payload)
            await timeouts(client.close, 3)
            task = rt.spawn(client.close())
            await rt.sleep(0)  # a loop turn: the task waits on close
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not client.signal.aborted
            received = bytearray()
            async for part in server.readable:
                received += part
            assert bytes(received) == payload
            await rt.wait_for(client.closed, 5)

    run(main)


# -- update (STARTTLS) -----------------------------------------------------------------


def _sockets_open() -> int:
    """Open fds other than /dev/null (uvloop opens one per loop on a first cancellation,
    and releases it with the loop: the per-test check covers that)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}") != "/dev/null"
        except OSError:
            continue
    return count


def test_cancelled_starttls_aborts_the_socket_and_leaks_nothing(run: Any, pki: Pki) -> None:
    """``await sock.update(type="tls")`` cancelled while the server has not started its
    side: the half-done upgrade cannot be resumed (nor is it bounded any more), so the
    socket is aborted (``closed`` rejects, ``signal`` is aborted) and no fd is left."""

    async def main() -> None:
        before = _sockets_open()
        async with unisock.SocketListener() as listener:
            client = unisock.Socket(remote=listener.local)
            server = await listener.accept()
            await client.ready
            try:
                with pytest.raises(TimeoutError):
                    await rt.wait_for(client.update(type="tls", **client_tls(pki)), 0.05)
                await eventually(client.closed.done, 2, "the half-upgraded socket closed")
                assert client.closed.is_rejected()
                assert client.signal.aborted
                # The peer sees the connection end (an abort: a reset).
                with pytest.raises(errors.NetworkError):
                    async for _ in server.readable:
                        pass
            finally:
                await client.abort()
                await server.close()
        gc.collect()
        assert _sockets_open() == before

    run(main)


def test_update_before_ready_cancelled_leaves_the_socket_usable(run: Any) -> None:
    """An ``update()`` waiting for ``ready`` is cancelled: the socket still connects and
    the update's change was not half-applied."""

    async def main() -> None:
        lsock = silent_listening_socket()
        port = lsock.getsockname()[1]
        try:
            sock = unisock.Socket(type="tls", remote=("127.0.0.1", port), verify=False)
            await timeouts(lambda: sock.update(idle_timeout=5), 3)
            assert not sock.signal.aborted
            assert sock._opts.idle_timeout == 0
            await sock.abort()
        finally:
            lsock.close()

    run(main)


# -- listener iteration ----------------------------------------------------------------


def test_cancelled_accepts_steal_no_wakeup(run: Any) -> None:
    """50 ``accept()`` and ``__anext__()`` waits cancelled by timeouts, then a connection:
    the next accept gets it."""

    async def main() -> None:
        async with unisock.SocketListener() as listener:
            await timeouts(listener.accept, 25, 0.005)
            await timeouts(listener.__anext__, 25, 0.005)
            client = unisock.Socket(remote=listener.local, body=b"hello")
            server = await rt.wait_for(listener.accept(), 5)
            assert b"".join([c async for c in server.readable]) == b"hello"
            await server.close()
            await client.closed

    run(main)


def test_accept_woken_then_cancelled_hands_the_socket_on(run: Any) -> None:
    """Two tasks wait in ``accept()``; a connection wakes the first, which is cancelled
    before it runs: the second task gets the socket."""

    async def main() -> None:
        async with unisock.SocketListener() as listener:
            first = rt.spawn(listener.accept())
            await eventually(lambda: len(listener._waiters) == 1, what="the first waiting")
            second = rt.spawn(listener.accept())
            await eventually(lambda: len(listener._waiters) == 2, what="the second waiting")
            client = unisock.Socket(remote=listener.local, body=b"x")
            loop = rt.runtime()
            deadline = loop.time() + 5
            while not listener._queue and loop.time() < deadline:
                await rt.sleep(0)  # one loop pass at a time: the wake-up is pending
            assert listener._queue and not first.done()
            first.cancel()
            if rt.on_trio():
                # trio delivers a cancellation at the task's next checkpoint: a task already
                # woken finishes its step and returns the socket.  Either way, one of the
                # two has it.
                await eventually(first.done, what="the first accept settled")
                if not first.cancelled():
                    second.cancel()
                    with contextlib.suppress(BaseException):
                        await second
                    second = first
            server = await rt.wait_for(second, 5)
            assert first.cancelled() or rt.on_trio()
            assert b"".join([c async for c in server.readable]) == b"x"
            await server.close()
            await client.closed

    run(main)


def test_cancelled_accept_then_async_for(run: Any) -> None:
    """After cancelled ``__anext__`` waits, ``async for`` still yields the next socket."""

    async def main() -> None:
        async with unisock.SocketListener() as listener:
            it = aiter(listener)
            await timeouts(lambda: anext(it), 10, 0.005)
            client = unisock.Socket(remote=listener.local, body=b"y")

            async def first() -> bytes:
                async for event in listener:
                    data = b"".join([c async for c in event.socket.readable])
                    await event.socket.close()
                    return data
                raise AssertionError("the listener ended")

            assert await rt.wait_for(first(), 5) == b"y"
            await client.closed

    run(main)


# -- connect ---------------------------------------------------------------------------


def _sockets_alive() -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, unisock.Socket))


@pytest.mark.parametrize("kind", ["tls", "tcp-blackhole"])
def test_cancelled_connects_leak_nothing(run: Any, kind: str) -> None:
    """50 ``wait_for(connect(...), 0.05)`` timeouts against a server that never answers
    the TLS handshake (or, for TCP, never accepts: its backlog is full and SYNs are
    dropped): no fd, task or ``Socket`` is left behind."""

    async def main() -> None:
        with contextlib.ExitStack() as stack:
            if kind == "tls":
                lsock = stack.enter_context(silent_listening_socket())
                remote = lsock.getsockname()
                opts: dict[str, Any] = {"type": "tls", "verify": False}
            else:  # the accept queue full: further SYNs are dropped, connects hang
                remote = stack.enter_context(blackholed_address())
                opts = {}
            # One cancelled connect first: uvloop opens one /dev/null fd per loop the first
            # time (released with the loop); what counts is that 50 more add nothing.
            with pytest.raises(TimeoutError):
                await rt.wait_for(unisock.connect(remote=remote, **opts), 0.05)
            gc.collect()
            before = fd_count()
            alive = _sockets_alive()
            for _ in range(50):
                with pytest.raises(TimeoutError):
                    await rt.wait_for(unisock.connect(remote=remote, **opts), 0.05)

            def closed_all() -> bool:  # aborted transports finish closing within loop passes
                gc.collect()
                return fd_count() <= before

            def collected_all() -> bool:  # their cancelled open tasks end a pass later
                gc.collect()
                return _sockets_alive() <= alive

            await eventually(closed_all, what="the aborted connects' fds closed")
            await eventually(collected_all, what="the aborted sockets collected")
            assert fd_count() <= before  # (trio may close a helper fd of its own meanwhile)
            assert _sockets_alive() == alive
            # (tasks left running fail the test in the ``run`` fixture)

    run(main, timeout=40)


# -- pipe_to ---------------------------------------------------------------------------


def test_cancelling_the_task_awaiting_pipe_to_stops_the_pipe(run: Any) -> None:
    """What a Python user expects from ``task.cancel()`` on ``await src.pipe_to(dst)``:
    the piping stops (no byte sent after the cancellation reaches the destination) and
    the streams are released."""

    async def main() -> None:
        async with tcp_pair() as (a_client, a_server), tcp_pair() as (b_client, b_server):
            task = rt.spawn(a_server.readable.pipe_to(b_client.writable))
            writer = a_client.writable.get_writer()
            await writer.write(b"before")
            reader = b_server.readable.get_reader()
            assert (await rt.wait_for(reader.read(), 5)).value == b"before"
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await writer.write(b"after")
            with pytest.raises(TimeoutError):
                got = await rt.wait_for(reader.read(), 0.3)
                raise AssertionError(f"the pipe went on after its task was cancelled: {got}")
            assert not a_server.readable.locked
            assert not b_client.writable.locked

    run(main)
