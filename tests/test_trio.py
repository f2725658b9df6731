"""unisock under ``trio.run``: trio's rules (cancellation loses nothing, no task outlives
what started it) and real peers, on the public API, for TCP, TLS, UDP and QUIC.  The
conformance kit's rows and the ``@pytest.mark.trio`` tests of test_tcp.py, test_tls.py,
test_udp*.py and test_quic.py run on trio too."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import socket
import subprocess
from typing import Any

import pytest
from tests.conftest import need
from tests.peer_loop import PeerLoop

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


def test_a_driver_not_ported_says_so(run: Any) -> None:
    """Every transport runs on trio now; a driver that does not (``any_runtime`` unset:
    a new transport not yet ported) is refused at construction, saying why."""
    from unisock._api.driver import Driver, driver
    from unisock._runtime import current

    class Unported(Driver):
        name = "sctp"

    async def main() -> None:
        with pytest.raises(NotImplementedError, match="SCTP sockets run on asyncio and uvloop"):
            Unported().check_runtime(current())
        for name in ("tcp", "tls", "udp", "quic"):
            driver(name).check_runtime(current())  # no error

    run(main)


# -- UDP and QUIC -----------------------------------------------------------------------


def _quic_material() -> tuple[dict[str, Any], dict[str, Any]]:
    """Listener and client options for QUIC on loopback (a fresh CA per call)."""
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    server = {
        "type": "quic",
        "alpn": ["test"],
        "cert": b"".join(b.bytes() for b in leaf.cert_chain_pems),
        "key": leaf.private_key_pem.bytes(),
    }
    client = {
        "type": "quic",
        "alpn": ["test"],
        "ca": ca.cert_pem.bytes(),
        "servername": "localhost",
    }
    return server, client


def test_cancelled_udp_read_keeps_its_datagram(run: Any) -> None:
    """A UDP read cancelled by a cancel scope is withdrawn: the datagram that comes later
    goes to the next read; cancelled in the same pass as datagrams arrive, none is lost,
    doubled or reordered."""

    async def main() -> None:
        receiver = unisock.Socket(type="udp", local=("127.0.0.1", 0))
        local = (await receiver.ready).local
        sender = unisock.Socket(type="udp", remote=local, local=("127.0.0.1", 0))
        sender_local = (await sender.ready).local
        async with conformance.settled(receiver, sender):
            reader = receiver.readable.get_reader()
            writer = sender.writable.get_writer()
            for i in range(20):
                with trio.move_on_after(0.005) as scope:
                    await reader.read()
                assert scope.cancelled_caught, "a read returned with nothing sent"
                await writer.write(b"datagram %d" % i)
                got = (await reader.read()).value
                assert got == unisock.Datagram(b"datagram %d" % i, sender_local)
            sent = [b"%d" % i for i in range(300)]
            received: list[bytes] = []
            for i, payload in enumerate(sent):
                writer.write(payload)
                with trio.move_on_after(0.0005 * (i % 5)):
                    received.append((await reader.read()).value.data)
            while len(received) < len(sent):
                with trio.fail_after(5):
                    received.append((await reader.read()).value.data)
            assert received == sent
            reader.release_lock()
            writer.release_lock()

    run(main)


def test_cancelled_udp_listener_accept_loses_no_peer(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener(type="udp") as listener:
            for _ in range(3):
                with trio.move_on_after(0.01) as scope:
                    await listener.accept()
                assert scope.cancelled_caught
            client = unisock.Socket(type="udp", remote=listener.local)
            await client.writable.get_writer().write(b"hello")
            with trio.fail_after(5):
                peer = await listener.accept()
                assert (await peer.readable.get_reader().read()).value == b"hello"
            await client.close()

    run(main)


def test_quic_listener_closed_inside_a_nursery_leaves_no_task(run: Any) -> None:
    """A QUIC listener serving in a nursery: streams both ways, a server-opened stream,
    datagrams; closing the listener and the connection ends every library task."""
    server_opts, client_opts = _quic_material()

    async def main() -> None:
        assert not _library_tasks()
        async with trio.open_nursery() as nursery:
            listener = unisock.SocketListener(**server_opts)
            await listener.ready

            async def serve() -> None:
                async for event in listener:
                    s = event.socket
                    s.readable.pipe_to(s.writable)
                    push = await s.connection.create_unidirectional_stream()
                    pushing = push.writable.get_writer()
                    await pushing.write(b"pushed")
                    await pushing.close()

            nursery.start_soon(serve)
            client = unisock.Socket(
                remote=listener.local, body=b"over quic", allow_pooling=False, **client_opts
            )
            with trio.fail_after(10):
                assert await conformance.read_all(client) == b"over quic"
                uni = await client.connection.incoming_unidirectional_streams.get_reader().read()
                assert await conformance.read_all(uni.value) == b"pushed"
            assert _library_tasks(), "nothing running while a connection is open?"
            await listener.close()  # ends serve()'s iteration
        client.connection.close()
        with trio.fail_after(5):
            await client.connection.closed
        await _settle()
        assert not _library_tasks(), f"left running: {_library_tasks()}"

    run(main)


def test_quic_cancelled_read_loses_no_data(run: Any) -> None:
    server_opts, client_opts = _quic_material()

    async def main() -> None:
        async with unisock.SocketListener(**server_opts) as listener:
            client = unisock.Socket(remote=listener.local, allow_pooling=False, **client_opts)
            writer = client.writable.get_writer()
            await writer.write(b"0;")
            server = await listener.accept()
            reader = server.readable.get_reader()
            sent = bytearray(b"0;")
            got = bytearray()
            for i in range(1, 200):
                piece = b"%d;" % i
                sent += piece
                writer.write(piece)
                with trio.move_on_after(0.0005 * (i % 5)):
                    got += (await reader.read()).value
            await writer.close()
            while True:
                with trio.fail_after(5):
                    result = await reader.read()
                if result.done:
                    break
                got += result.value
            assert bytes(got) == bytes(sent)
            reader.release_lock()
            client.connection.close()

    run(main)


def test_udp_and_quic_leak_no_fd(run: Any) -> None:
    """Many UDP sockets (connected, bound, a listener's peers) and QUIC connections opened
    and closed under trio: the descriptor count comes back, no task is left."""
    from tests.conftest import eventually, fd_count

    server_opts, client_opts = _quic_material()

    async def main() -> None:
        before = fd_count()
        async with unisock.SocketListener(type="udp") as udp_listener:
            for _ in range(50):
                connected = unisock.Socket(type="udp", remote=udp_listener.local)
                await connected.writable.get_writer().write(b"x")
                peer = await udp_listener.accept()
                bound = unisock.Socket(type="udp", local=("127.0.0.1", 0))
                await bound.ready
                await peer.close()
                await connected.close()
                await bound.close()
        async with unisock.SocketListener(**server_opts) as quic_listener:
            for _ in range(10):
                client = unisock.Socket(
                    remote=quic_listener.local, body=b"x", allow_pooling=False, **client_opts
                )
                server = await quic_listener.accept()
                assert await conformance.read_all(server) == b"x"
                client.connection.close()
                with trio.fail_after(5):
                    await client.connection.closed
                    await server.connection.closed
        await eventually(lambda: fd_count() <= before, what="every descriptor closed")
        await _settle()
        assert not _library_tasks(), f"left running: {_library_tasks()}"

    run(main)


def test_udp_listener_with_socat_clients(run: Any) -> None:
    """Two socat clients to a UDP listener on trio: each peer is its own socket."""
    need("socat")

    async def main() -> None:
        async with unisock.SocketListener(type="udp") as listener:
            assert listener.local is not None
            procs = []
            try:
                for word in (b"alpha", b"beta"):
                    proc = await trio.lowlevel.open_process(
                        ["socat", "-t", "2", "-", f"UDP4:127.0.0.1:{listener.local.port}"],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL,
                    )
                    procs.append(proc)
                    await proc.stdin.send_all(word)
                    with trio.fail_after(5):
                        peer = await listener.accept()
                        got = (await peer.readable.get_reader().read()).value
                        assert got == word
                        await peer.writable.get_writer().write(b"echo:" + word)
                        answer = b""
                        while len(answer) < len(b"echo:") + len(word):
                            answer += await proc.stdout.receive_some()
                    assert answer == b"echo:" + word
            finally:
                for proc in procs:
                    proc.kill()
                    await proc.wait()
                    await proc.stdin.aclose()
                    await proc.stdout.aclose()

    run(main)


def test_dnsmasq_on_trio(run: Any, peer: Any, tmp_path: Any) -> None:
    """A DNS query to dnsmasq from a bound UDP socket on trio (Datagram in, Datagram out)."""
    need("dnsmasq")
    from tests.test_udp import _dns_answer_a, _dns_query

    _, (port,) = peer.on_free_ports(
        lambda port: [
            "dnsmasq",
            "--no-daemon",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            f"--port={port}",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--address=/example.test/10.1.2.3",
            f"--pid-file={tmp_path / 'dnsmasq.pid'}",
            "--user=root",
        ],
        kinds=("tcp+udp",),
    )

    async def main() -> None:
        s = unisock.Socket(type="udp", local=("127.0.0.1", 0))
        async with conformance.settled(s):
            writer = s.writable.get_writer()
            await writer.write(unisock.Datagram(_dns_query("example.test"), ("127.0.0.1", port)))
            with trio.fail_after(5):
                answer = (await s.readable.get_reader().read()).value
            assert answer.remote.port == port
            assert _dns_answer_a(answer.data) == "10.1.2.3"

    run(main)


class _StackInAThread:
    """An echo server of an independent QUIC stack (aioquic, or qh3 used directly through
    its aioquic-shaped asyncio API) on a peer loop (tests/peer_loop.py), so that a unisock
    client under ``trio.run`` in this thread can talk to it."""

    def __init__(self, stack: str, chain: str, key: str) -> None:
        import importlib

        configuration = importlib.import_module(f"{stack}.quic.configuration")
        server_module = importlib.import_module(f"{stack}.asyncio.server")
        self._peer = PeerLoop()

        async def echo(reader: Any, writer: Any) -> None:
            writer.write(await reader.read())
            writer.write_eof()

        def on_stream(reader: Any, writer: Any) -> None:
            self._tasks.add(self._peer.loop.create_task(echo(reader, writer)))

        async def serve() -> Any:
            config = configuration.QuicConfiguration(is_client=False, alpn_protocols=["test"])
            config.load_cert_chain(chain, key)
            return await server_module.serve(
                "127.0.0.1", 0, configuration=config, stream_handler=on_stream
            )

        self._tasks: set[Any] = set()
        try:
            self._server = asyncio.run_coroutine_threadsafe(serve(), self._peer.loop).result(10)
        except BaseException:
            self._peer.close()
            raise
        self.port = self._server._transport.get_extra_info("sockname")[1]

    def close(self) -> None:
        try:
            self._peer.call(self._server.close)
        finally:
            self._peer.close()  # cancels the echo tasks still running


@pytest.mark.parametrize("stack", ["aioquic", "qh3"])
@pytest.mark.parametrize("core", ["qh3", "aioquic"])
def test_quic_client_against_an_independent_stack(
    run: Any, stack: str, core: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A unisock QUIC client under trio (on each of its cores) against aioquic's and qh3's
    own servers: pooled streams, each echoed byte for byte."""
    import trustme

    from unisock._transports.quic import _engines

    monkeypatch.setenv(_engines.ENV, core)
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    chain, key = str(tmp_path / "chain.pem"), str(tmp_path / "key.pem")
    leaf.private_key_and_cert_chain_pem.write_to_path(chain)
    leaf.private_key_pem.write_to_path(key)
    server = _StackInAThread(stack, chain, key)
    payloads = [random.Random(i).randbytes(100_000 * i + 1) for i in range(4)]

    async def main() -> None:
        opts = {"type": "quic", "alpn": ["test"], "ca": ca.cert_pem.bytes()}
        socks = [
            unisock.Socket(
                remote=("127.0.0.1", server.port), body=p, servername="localhost", **opts
            )
            for p in payloads
        ]
        with trio.fail_after(20):
            for sock, payload in zip(socks, payloads, strict=True):
                assert await conformance.read_all(sock) == payload
        conn = socks[0].connection
        assert all(s.connection is conn for s in socks)  # pooled: one connection
        conn.close()
        with trio.fail_after(5):
            await conn.closed

    try:
        run(main)
    finally:
        server.close()


@pytest.mark.parametrize("stack", ["aioquic", "qh3"])
@pytest.mark.parametrize("core", ["qh3", "aioquic"])
def test_quic_listener_serves_an_independent_stack(
    run: Any, stack: str, core: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A unisock QUIC listener under trio (on each of its cores) serving aioquic's and
    qh3's own clients (in a worker thread, on asyncio): two streams each, echoed."""
    import importlib

    from unisock._transports.quic import _engines

    monkeypatch.setenv(_engines.ENV, core)
    server_opts, client_opts = _quic_material()
    configuration = importlib.import_module(f"{stack}.quic.configuration")
    client_module = importlib.import_module(f"{stack}.asyncio.client")
    payloads = [random.Random(i).randbytes(50_000 * i + 7) for i in range(2)]

    async def their_client(port: int) -> list[bytes]:
        config = configuration.QuicConfiguration(
            is_client=True, alpn_protocols=["test"], server_name="localhost"
        )
        config.cadata = client_opts["ca"]
        config.idle_timeout = 10.0  # a broken listener fails the test in 10 s, not 60
        answers = []
        async with client_module.connect("127.0.0.1", port, configuration=config) as client:
            for payload in payloads:
                reader, writer = await client.create_stream()
                writer.write(payload)
                writer.write_eof()
                answers.append(await reader.read())
        return answers

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            listener = unisock.SocketListener(allow_half_open=True, **server_opts)
            port = (await listener.ready).port

            async def echo(sock: unisock.Socket) -> None:
                await sock.readable.pipe_to(sock.writable)

            async def serve() -> None:
                async for event in listener:
                    nursery.start_soon(echo, event.socket)

            nursery.start_soon(serve)
            with trio.fail_after(20):
                answers = await trio.to_thread.run_sync(asyncio.run, their_client(port))
            assert answers == payloads
            await listener.close()
        await _settle()
        assert not _library_tasks(), f"left running: {_library_tasks()}"

    run(main)


def test_close_ends_a_reader_blocked_on_the_fd(run: Any) -> None:
    """Closing with nothing queued leaves the reader (blocked on the fd) to the close's
    notify_closing, not a cancel; it must end either way, also when the socket object was
    closed behind the transport's back (nothing is left to notify).  The test harness
    fails the test if a library task outlives it."""

    async def main() -> None:
        for behind_our_back in (False, True):
            listener, client, server = await _pair()
            await _settle()  # both readers are now parked on their fds
            if behind_our_back:
                client._transport.get_extra_info("socket").close()
            await client.abort() if behind_our_back else await client.close()
            await server.close()
            await listener.close()
            await _settle()
            assert not _library_tasks()

    run(main)
