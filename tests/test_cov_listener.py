"""``SocketListener`` paths no other test reached (issue 19, coverage): its abort
signal, closing while it opens, iteration after close, a listening socket the OS breaks,
a TLS handshake that finishes after close, IPv6 binding, and the accept loop at its file
descriptor limit.  Real sockets on loopback, on both loops."""

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
from tests.conftest import LOOPS, TRIO
from tests.tls_util import Pki, make_pki

import unisock
from unisock import errors

pytestmark = pytest.mark.trio  # every test that takes `run` runs on trio too


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(Path(tmp_path_factory.mktemp("pki")))


def refused(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a connect to ``host:port`` is refused (nothing listens there)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(5)
        try:
            probe.connect((host, port))
        except ConnectionRefusedError:
            return True
    return False


def test_constructing_outside_a_loop_says_why() -> None:
    with pytest.raises(RuntimeError, match="needs a running event loop"):
        unisock.SocketListener()


def test_already_aborted_signal_fails_the_listener_at_once(run: Any) -> None:
    """A signal aborted before construction: nothing is bound, ``ready``, ``closed`` and
    ``accept()`` reject with the signal's reason, and the ``"error"`` event carries it."""

    async def main() -> None:
        reason = ValueError("not today")
        seen: list[BaseException] = []
        listener = unisock.SocketListener(signal=unisock.AbortSignal.abort(reason))
        listener.add_event_listener("error", lambda e: seen.append(e.error))
        assert listener.local is None
        for awaitable in (listener.ready, listener.closed, listener.accept()):
            with pytest.raises(ValueError) as info:
                await awaitable
            assert info.value is reason
        assert "closed" in repr(listener)
        # The error event was dispatched at construction, before the listener was added:
        # a late listener hears nothing, and closing again changes nothing.
        assert seen == []
        await listener.close()

    run(main)


def test_signal_aborted_later_closes_the_listener(run: Any) -> None:
    """Aborting the signal stops accepting: the port is released, ``async for`` ends,
    ``closed`` resolves, and a ``"close"`` event is dispatched once."""

    async def main() -> None:
        controller = unisock.AbortController()
        listener = unisock.SocketListener(signal=controller.signal)
        local = await listener.ready
        closes: list[str] = []
        listener.add_event_listener("close", lambda e: closes.append(e.type))
        assert f"local={local}" in repr(listener) and "listening" in repr(listener)

        async def consume() -> list[unisock.Socket]:
            return [event.socket async for event in listener]

        consuming = rt.spawn(consume())
        await rt.sleep(0.01)
        controller.abort("enough")
        assert await rt.wait_for(consuming, 5) == []
        await listener.closed
        assert closes == ["close"]
        controller.abort("again")  # a second abort is a no-op
        await listener.close()
        assert closes == ["close"]
        assert refused(local.port)
        with pytest.raises(errors.InvalidStateError, match="listener was closed"):
            await listener.accept()

    run(main)


@pytest.mark.asyncio_only("finds the listener's opening task among asyncio.all_tasks()")
def test_close_while_opening_binds_nothing(run: Any) -> None:
    """``close()`` before the listener is bound: ``ready`` rejects with
    ``InvalidStateError``, and the socket bound meanwhile is closed (this process is left
    with no listening socket it did not have before)."""

    async def main() -> None:
        before = listening_ports()
        tasks = set(asyncio.all_tasks())
        listener = unisock.SocketListener()
        (opening,) = set(asyncio.all_tasks()) - tasks
        await listener.close()
        with pytest.raises(errors.InvalidStateError):
            await listener.ready
        await rt.wait_for(opening, 10)  # it finishes binding, then sees the close
        await rt.sleep(0)
        assert listening_ports() == before
        assert "closed" in repr(listener)

    run(main)


@pytest.mark.asyncio_only("finds the listener's opening task among asyncio.all_tasks()")
def test_cancelled_opening_task_fails_the_listener(run: Any) -> None:
    """The task opening the listener cancelled (the loop shutting down, say): ``ready``
    rejects with ``CancelledError`` instead of hanging."""

    async def main() -> None:
        before = set(asyncio.all_tasks())
        listener = unisock.SocketListener()
        opening = [t for t in asyncio.all_tasks() if t not in before]
        assert len(opening) == 1
        opening[0].cancel()
        with pytest.raises(asyncio.CancelledError):
            await rt.wait_for(asyncio.shield(listener.ready), 5)
        assert "closed" in repr(listener)

    run(main)


def listening_sockets() -> Iterator[socket.socket]:
    """Duplicates of this process's listening TCP sockets (found in /proc); the caller
    closes them."""
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                continue
            dup = socket.fromfd(int(name), socket.AF_INET, socket.SOCK_STREAM)
            try:
                listening = dup.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
            except OSError:
                listening = 0
            if listening and dup.type == socket.SOCK_STREAM:
                yield dup
            else:
                dup.close()


def listening_ports() -> set[int]:
    ports = set()
    for dup in listening_sockets():
        with dup:
            ports.add(dup.getsockname()[1])
    return ports


def listening_dup(port: int) -> socket.socket:
    """A duplicate of this process's listening socket on ``port`` (found in /proc)."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        with contextlib.suppress(OSError):
            if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                continue
            dup = socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM)
            try:
                if dup.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) and (
                    dup.getsockname()[1] == port
                ):
                    return dup
            except OSError:
                pass
            dup.close()
    raise AssertionError(f"no listening socket on port {port}")


def test_listening_socket_broken_by_the_os_fails_the_listener(run: Any) -> None:
    """The listening socket itself breaks (here: shut down under the listener, so
    ``accept()`` fails with EINVAL): the listener fails with a ``NetworkError`` naming
    it and the errno, as an ``"error"`` event, and ``async for`` raises it."""

    async def main() -> None:
        listener = unisock.SocketListener()
        local = await listener.ready
        errors_seen: list[BaseException] = []
        listener.add_event_listener("error", lambda e: errors_seen.append(e.error))
        dup = listening_dup(local.port)
        with dup:
            dup.shutdown(socket.SHUT_RDWR)
        with pytest.raises(errors.NetworkError) as info:
            await rt.wait_for(listener.accept(), 5)
        assert info.value.errno == errno.EINVAL
        assert f"the listener on {local} cannot accept" in str(info.value)
        assert errors_seen == [info.value]
        with pytest.raises(errors.NetworkError):
            await listener.closed
        with pytest.raises(errors.NetworkError):
            async for _ in listener:
                pass
        await listener.close()  # closing a failed listener is quiet

    run(main)


def test_tls_handshake_finishing_after_close_is_not_delivered(run: Any, pki: Pki) -> None:
    """A connection accepted before ``close()`` whose TLS handshake completes after it:
    the socket is aborted, not delivered (no ``"socket"`` event, nothing queued)."""

    async def main() -> None:
        listener = unisock.SocketListener(
            type="tls",
            cert=pki.server.cert_chain_pems[0].bytes(),
            key=pki.server.private_key_pem.bytes(),
        )
        local = await listener.ready
        delivered: list[Any] = []
        listener.add_event_listener("socket", delivered.append)
        client = unisock.Socket(remote=local)  # plain TCP first: no ClientHello yet
        await client.ready
        await rt.sleep(0.05)  # accepted by the listener, handshake pending
        await listener.close()
        with contextlib.suppress(Exception):
            # STARTTLS from the client: the server side finishes its handshake and is
            # then aborted, so the client sees the connection end abruptly (or the
            # handshake itself fail).
            await rt.wait_for(client.update(type="tls", ca=pki.ca_pem, servername="localhost"), 5)
            reader = client.readable.get_reader()
            result = await rt.wait_for(reader.read(), 5)
            assert result.done
        await client.abort()
        with contextlib.suppress(Exception):
            await client.closed
        assert delivered == []

    run(main)


def test_ipv6_listener_with_reuse_port_shares_the_port(run: Any) -> None:
    """``reuse_port=True`` on an IPv6 address: a second listener binds the same port."""

    async def main() -> None:
        async with unisock.SocketListener(local="[::1]:0", reuse_port=True) as first:
            assert first.local is not None
            port = first.local.port
            async with unisock.SocketListener(local=f"[::1]:{port}", reuse_port=True) as second:
                assert second.local is not None and second.local.port == port
                client = await unisock.connect(remote=f"[::1]:{port}")
                assert client.info.remote == first.local
                await client.abort()
            # Without reuse_port the port is taken: the IPv6 bind fails, nothing leaks.
            third = unisock.SocketListener(local=f"[::1]:{port}")
            with pytest.raises(errors.NetworkError) as info:
                await third.ready
            assert info.value.errno == errno.EADDRINUSE

    run(main)


def test_host_name_listener_binds_each_address_once(run: Any) -> None:
    """A host name as ``local`` binds one socket per distinct address it resolves to
    (getaddrinfo repeats an address per socket type): here ``localhost`` is
    127.0.0.1, and a client reaches it."""

    async def main() -> None:
        async with unisock.SocketListener(local="localhost:0") as listener:
            assert listener.local is not None
            client = await unisock.connect(remote=("127.0.0.1", listener.local.port))
            accepted = await rt.wait_for(listener.accept(), 5)
            await client.abort()
            await accepted.abort()
            with contextlib.suppress(Exception):
                await client.closed
            with contextlib.suppress(Exception):
                await accepted.closed

    run(main)


# -- the accept loop at the file-descriptor limit ----------------------------------------

AT_LIMIT = r"""
import asyncio, logging, os, sys
import unisock

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")

if sys.argv[1] == "trio":
    import trio
    in_thread, sleep = trio.to_thread.run_sync, trio.sleep
else:
    async def in_thread(fn):
        return await asyncio.get_running_loop().run_in_executor(None, fn)
    sleep = asyncio.sleep


async def main():
    async with unisock.SocketListener() as listener:
        # One round trip first, so that lazily imported modules are loaded.
        client = unisock.Socket(remote=listener.local, body=b"warm")
        accepted = await listener.accept()
        await accepted.readable.pipe_to(accepted.writable)
        await client.closed
        # The worker thread too (it reads stdin below): listening on an IP literal needs none.
        await in_thread(int)
        print(listener.local.port, flush=True)
        fillers = []
        try:
            while True:
                fillers.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass
        await in_thread(sys.stdin.readline)
        await sleep(float(sys.argv[2]))  # at the limit, clients waiting
        for fd in fillers:
            os.close(fd)
        sock = await listener.accept()
        await sock.readable.pipe_to(sock.writable)


if sys.argv[1] == "uvloop":
    import uvloop
    uvloop.run(main())
elif sys.argv[1] == "trio":
    trio.run(main)
else:
    asyncio.run(main())
"""


@pytest.mark.parametrize("loop_kind", [*LOOPS, *TRIO])
def test_accept_loop_at_fd_limit_backs_off_and_recovers(loop_kind: str) -> None:
    """A server out of descriptors with a client waiting: one WARNING, retries that back
    off (a handful in a second, not one every 50 ms), then, descriptors freed, one INFO
    line counting the failed attempts, and the waiting client is served.  The server
    exits normally."""
    proc = subprocess.Popen(
        [sys.executable, "-c", AT_LIMIT, loop_kind, "1.0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        port = int(proc.stdout.readline())
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            proc.stdin.write("go\n")
            proc.stdin.flush()
            start = time.monotonic()
            client.sendall(b"ping")
            client.shutdown(socket.SHUT_WR)
            got = b""
            while chunk := client.recv(100):
                got += chunk
            assert got == b"ping"
            assert time.monotonic() - start >= 1.0  # served only once fds were freed
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith("WARNING unisock TCP listener on 127.0.0.1:")
    assert "cannot accept connections: Too many open files (EMFILE)" in lines[0]
    assert lines[1].startswith("INFO unisock TCP listener on 127.0.0.1:")
    assert "accepting connections again after" in lines[1]
    attempts = int(lines[1].rsplit("(", 1)[1].split()[0])
    # Backing off from 50 ms, doubling: about 5 attempts in one second (20 without).
    assert 2 <= attempts <= 8, lines[1]
