"""unisock under ``trio.run``: trio's rules (cancellation loses nothing, no task outlives
what started it) and real peers, on the public API.  The conformance kit's TCP rows and
the ``@pytest.mark.trio`` tests of test_tcp.py run on trio too."""

from __future__ import annotations

import contextlib
import hashlib
import random
import socket
import subprocess
from typing import Any

import pytest
from tests.conftest import need

import unisock
from unisock import errors
from unisock import testing as conformance

trio = pytest.importorskip("trio")

pytestmark = pytest.mark.trio(only=True)


def _library_tasks() -> set[Any]:
    from unisock._runtime.trio import runtime

    return runtime().tasks()


async def _settle() -> None:
    """A few scheduler passes: callbacks and cancelled tasks finish."""
    for _ in range(10):
        await trio.lowlevel.checkpoint()


async def _pair(**options: Any) -> tuple[unisock.SocketListener, unisock.Socket, unisock.Socket]:
    listener = unisock.SocketListener(**options)
    await listener.ready
    client = unisock.Socket(remote=listener.local, **options)
    server = await listener.accept()
    await client.ready
    return listener, client, server


def test_runtime_is_trio_and_the_loop_is_not_needed(run: Any) -> None:
    async def main() -> None:
        listener, client, server = await _pair()
        async with conformance.settled(client, server):
            assert type(client._loop).__name__ == "TrioRuntime"
            assert client._loop is server._loop is listener._loop
        await listener.close()

    run(main)


def test_cancelled_read_loses_no_data(run: Any) -> None:
    """A read cancelled by a cancel scope is withdrawn: the bytes that come later go to
    the next read, none is dropped or handed to the cancelled task."""

    async def main() -> None:
        listener, client, server = await _pair()
        async with conformance.settled(client, server):
            reader = server.readable.get_reader()
            writer = client.writable.get_writer()
            for i in range(20):
                with trio.move_on_after(0.005) as scope:
                    await reader.read()
                assert scope.cancelled_caught, "a read returned with nothing sent"
                await writer.write(b"chunk %d;" % i)
                got = b""
                while len(got) < len(b"chunk %d;" % i):
                    got += (await reader.read()).value
                assert got == b"chunk %d;" % i
            reader.release_lock()
            writer.release_lock()
        await listener.close()

    run(main)


def test_cancelled_read_racing_the_chunk_keeps_it(run: Any) -> None:
    """Cancel a read in the same pass as its chunk arrives, many times: every byte is
    read exactly once, in order."""

    async def main() -> None:
        listener, client, server = await _pair()
        async with conformance.settled(client, server):
            reader = server.readable.get_reader()
            writer = client.writable.get_writer()
            sent = bytearray()
            got = bytearray()
            for i in range(200):
                piece = b"%d," % i
                sent += piece
                writer.write(piece)
                with trio.move_on_after(0.0005 * (i % 5)):
                    result = await reader.read()
                    got += result.value
            await writer.close()
            while True:
                result = await reader.read()
                if result.done:
                    break
                got += result.value
            assert bytes(got) == bytes(sent)
            reader.release_lock()
        await listener.close()

    run(main)


def test_cancelled_ready_wait_leaves_the_socket_connecting(run: Any) -> None:
    """Cancelling one task's wait on ``ready`` does not cancel ``ready`` itself (another
    waiter still gets it); cancelling ``connect()`` aborts the socket it made."""

    async def main() -> None:
        listening = socket.socket()
        listening.bind(("127.0.0.1", 0))
        listening.listen(0)
        fillers = []
        try:
            for _ in range(4):  # a full backlog: further SYNs are dropped, connects hang
                f = socket.socket()
                f.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    f.connect(listening.getsockname())
                fillers.append(f)
            s = unisock.Socket(remote=listening.getsockname())
            with trio.move_on_after(0.05) as scope:
                await s.ready
            assert scope.cancelled_caught
            assert not s.ready.done() and not s.closed.done()
            await s.abort()
            with pytest.raises(errors.AbortError):
                await s.ready
            with trio.move_on_after(0.05):
                await unisock.connect(remote=listening.getsockname())
            await _settle()
            assert not _library_tasks(), "a cancelled connect() left its task running"
        finally:
            for f in fillers:
                f.close()
            listening.close()

    run(main)


def test_cancelled_listener_iteration_loses_no_connection(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener() as listener:
            for _ in range(5):
                with trio.move_on_after(0.01) as scope:
                    await listener.__anext__()
                assert scope.cancelled_caught
            client = unisock.Socket(remote=listener.local, body=b"hi")
            with trio.fail_after(5):
                server = await listener.accept()
            assert await conformance.read_all(server) == b"hi"
            await server.close()
            await client.closed

    run(main)


def test_no_task_outlives_a_closed_socket_or_listener(run: Any) -> None:
    """Every task the library starts (connect, body, readers, writers, the accept watch)
    ends with the socket or listener that started it."""

    async def main() -> None:
        baseline = _library_tasks()
        assert not baseline
        listener, client, server = await _pair()
        # A writer blocked on a peer that does not read, and a body still sending.
        writer = client.writable.get_writer()
        while writer.desired_size is not None and writer.desired_size > 0:
            writer.write(b"x" * 65536)
        body_client = unisock.Socket(remote=listener.local, body=[b"a" * 1000] * 1000)
        body_server = await listener.accept()
        assert _library_tasks(), "nothing running while sockets are busy?"
        await client.abort()
        await server.abort()
        await body_client.abort()
        await body_server.abort()
        await listener.close()
        await _settle()
        assert not _library_tasks(), f"left running: {_library_tasks()}"

    run(main)


def test_abort_signal_timeout_and_events(run: Any) -> None:
    async def main() -> None:
        listener, client, server = await _pair()
        seen: list[str] = []
        server.add_event_listener("close", lambda e: seen.append(e.type))
        signal = unisock.AbortSignal.timeout(0.05)
        signal.add_event_listener("abort", lambda e: seen.append("abort"))
        server_signal = server.signal

        async def on_abort(event: Any) -> None:  # an async listener runs as a task
            await trio.sleep(0)
            seen.append("async")

        server_signal.add_event_listener("abort", on_abort)
        with trio.fail_after(5):
            while not signal.aborted:
                await trio.sleep(0.01)
        assert isinstance(signal.reason, errors.TimeoutError)
        await server.abort(signal.reason)
        with pytest.raises(errors.TimeoutError):
            await server.closed
        with pytest.raises(errors.NetworkError):
            await client.closed
        await _settle()
        assert seen == ["abort", "close", "async"], seen
        await listener.close()

    run(main)


def test_idle_timeout(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener() as listener:
            client = unisock.Socket(remote=listener.local, idle_timeout=0.2)
            server = await listener.accept()
            with trio.fail_after(5), pytest.raises(errors.TimeoutError, match="idle"):
                await client.closed
            with pytest.raises(errors.NetworkError):  # the client's abort: a reset
                await conformance.read_all(server)
            with pytest.raises(errors.NetworkError):
                await server.closed

    run(main)


def test_half_close_and_data_mode(run: Any) -> None:
    async def main() -> None:
        listener, client, server = await _pair(allow_half_open=True)
        got = bytearray()
        ended = unisock.Deferred()
        server.add_event_listener("data", lambda e: [got.extend(b) for b in e.buffers])
        server.add_event_listener("end", lambda e: ended.resolve(None))
        writer = client.writable.get_writer()
        await writer.write(b"request")
        await writer.close()
        with trio.fail_after(5):
            await ended
        assert bytes(got) == b"request"
        assert not client.closed.done()
        reply = server.writable.get_writer()
        await reply.write(b"response")
        await reply.close()
        assert await conformance.read_all(client) == b"response"
        with trio.fail_after(5):
            await client.closed
            await server.closed
        await listener.close()

    run(main)


def test_socat_echo_integrity(run: Any, peer: Any) -> None:
    need("socat")
    port = peer(["socat", "TCP4-LISTEN:0,bind=127.0.0.1,fork", "EXEC:cat"]).port()
    rng = random.Random(7)
    data = rng.randbytes(16 << 20)

    async def main() -> None:
        s = await unisock.connect(remote=("127.0.0.1", port))
        writer = s.writable.get_writer()
        digest = hashlib.sha256()
        total = 0

        async def send() -> None:
            pos = 0
            while pos < len(data):
                n = rng.randint(1, 200_000)
                await writer.ready
                writer.write(data[pos : pos + n])
                pos += n
            await writer.close()

        async def receive() -> None:
            nonlocal total
            async for chunk in s.readable:
                digest.update(chunk)
                total += len(chunk)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send)
            nursery.start_soon(receive)
        assert total == len(data)
        assert digest.digest() == hashlib.sha256(data).digest()
        await s.closed

    run(main, timeout=120)


def test_ncat_half_close(run: Any, peer: Any) -> None:
    need("ncat")

    async def main() -> None:
        async with unisock.SocketListener(allow_half_open=True) as listener:
            assert listener.local is not None
            proc = peer(
                ["ncat", "127.0.0.1", str(listener.local.port)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            server = await listener.accept()
            proc.proc.stdin.write(b"question")
            proc.proc.stdin.close()  # ncat half-closes on stdin EOF
            assert await conformance.read_all(server) == b"question"
            writer = server.writable.get_writer()
            await writer.write(b"answer")
            await writer.close()
            answer = await trio.to_thread.run_sync(proc.proc.stdout.read)
            assert answer == b"answer"
            with trio.fail_after(5):
                await server.closed

    run(main)


def test_tls_client_against_openssl_s_server(run: Any, peer: Any) -> None:
    """A TLS client on trio (our TLS layer over the trio transport) against openssl's
    own server: the handshake completes and bytes flow both ways."""
    need("openssl")
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert("localhost")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        cert = f"{tmp}/cert.pem"
        key = f"{tmp}/key.pem"
        leaf.private_key_and_cert_chain_pem.write_to_path(cert)
        leaf.private_key_pem.write_to_path(key)
        _, (port,) = peer.on_free_ports(
            lambda port: [
                "openssl",
                "s_server",
                "-accept",
                f"127.0.0.1:{port}",
                "-cert",
                cert,
                "-key",
                key,
                "-rev",
                "-quiet",
            ]
        )

        async def main() -> None:
            s = await unisock.connect(
                remote=("127.0.0.1", port),
                type="tls",
                servername="localhost",
                ca=ca.cert_pem.bytes(),
            )
            assert s.info.cipher is not None
            writer = s.writable.get_writer()
            await writer.write(b"hello trio\n")
            reader = s.readable.get_reader()
            got = b""
            with trio.fail_after(5):
                while b"\n" not in got:
                    got += (await reader.read()).value
            assert got.strip() == b"oirt olleh"
            reader.release_lock()
            writer.release_lock()
            await s.abort()

        run(main)


def test_udp_and_quic_say_they_do_not_run_on_trio_yet(run: Any) -> None:
    async def main() -> None:
        with pytest.raises(NotImplementedError, match="UDP sockets run on asyncio"):
            unisock.Socket(remote="127.0.0.1:9", type="udp")
        with pytest.raises(NotImplementedError, match="QUIC sockets run on asyncio"):
            unisock.Socket(remote="127.0.0.1:9", type="h3")
        with pytest.raises(NotImplementedError, match="UDP sockets run on asyncio"):
            unisock.SocketListener(type="udp")

    run(main)
