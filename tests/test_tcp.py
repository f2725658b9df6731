"""TCP sockets and listeners: real peers, faults, bad input."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests import rt
from tests.conftest import (
    background,
    blackholed_address,
    eventually,
    fd_count,
    need,
    redis_argv,
    refusing_port,
)

import unisock
from unisock import errors
from unisock import testing as conformance  # read_all, settled
from unisock.streams import ReadableStream

pytestmark = pytest.mark.trio  # every test that takes `run` runs on trio too

LINGER_RST = b"\x01\x00\x00\x00\x00\x00\x00\x00"  # SO_LINGER on, 0 s: close sends RST


@contextlib.asynccontextmanager
async def tcp_pair(**client_opts: Any) -> AsyncIterator[tuple[unisock.Socket, unisock.Socket]]:
    server_opts = {k: v for k, v in client_opts.items() if k != "idle_timeout"}
    async with unisock.SocketListener(**server_opts) as listener:
        client = unisock.Socket(remote=listener.local, **client_opts)
        event = await listener.__anext__()
        server = event.socket
        await client.ready
        async with conformance.settled(client, server):
            yield client, server


@pytest.mark.trio
def test_ready_info_and_addresses(run: Any) -> None:
    async def main() -> None:
        async with tcp_pair() as (client, server):
            info = await client.ready
            assert info.type == "tcp"
            assert info.remote == server.info.local
            assert info.local == server.info.remote
            assert info.remote is not None and info.remote.address == "127.0.0.1"

    run(main)


@pytest.mark.trio
def test_ipv6_and_hostname(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener(local="[::1]:0") as listener:
            assert listener.local is not None
            port = listener.local.port
            s = unisock.Socket(remote=f"[::1]:{port}", body=b"six")
            ev = await listener.__anext__()
            assert await conformance.read_all(ev.socket) == b"six"
            await ev.socket.close()
            await s.closed
        async with unisock.SocketListener() as listener4:
            assert listener4.local is not None
            s2 = unisock.Socket(remote=("localhost", listener4.local.port), body=b"name")
            ev2 = await listener4.__anext__()
            assert await conformance.read_all(ev2.socket) == b"name"
            await ev2.socket.close()
            await s2.closed

    run(main)


@pytest.mark.trio
@pytest.mark.parametrize(
    "body",
    [
        "text",
        b"bytes",
        bytearray(b"ba"),
        memoryview(b"mv"),
        [b"it", b"er"],
        "async-iter",
        "stream",
        "callable",
        "async-callable",
        "awaitable",
        "path",
        "file",
    ],
    ids=str,
)
def test_body_forms(run: Any, body: Any, tmp_path: Any) -> None:
    payload = os.urandom(300_000)
    path = tmp_path / "blob.bin"
    path.write_bytes(payload)

    async def agen() -> AsyncIterator[bytes]:
        yield b"as"
        yield b"ync"

    async def make() -> bytes:
        return b"made"

    async def main() -> None:
        nonlocal body
        expected: bytes
        if body == "async-iter":
            body, expected = agen(), b"async"
        elif body == "stream":
            body, expected = ReadableStream.from_([b"s", b"tream"]), b"stream"
        elif body == "callable":
            body, expected = (lambda: b"called"), b"called"
        elif body == "async-callable":
            body, expected = make, b"made"
        elif body == "awaitable":
            body, expected = make(), b"made"
        elif body == "path":
            body, expected = path, payload
        elif body == "file":
            body, expected = open(path, "rb"), payload  # noqa: SIM115
        elif isinstance(body, str):
            expected = body.encode()
        elif isinstance(body, list):
            expected = b"".join(body)
        else:
            expected = bytes(body)
        async with unisock.SocketListener() as listener:
            s = unisock.Socket(remote=listener.local, body=body)
            ev = await listener.__anext__()
            got = await conformance.read_all(ev.socket)
            assert got == expected
            await s.closed
            await ev.socket.closed
            assert s.writable.locked or s.writable._state == "closed"
        if hasattr(body, "close"):
            body.close()

    run(main)


@pytest.mark.parametrize(
    ("kwargs", "exc", "words"),
    [
        ({"remote": ("127.0.0.1", 70000)}, ValueError, "remote.port"),
        ({"remote": ("127.0.0.1", 0)}, ValueError, "remote.port"),
        ({}, TypeError, "remote"),
        ({"remote": "nohostport"}, ValueError, "remote"),
        ({"remote": ("h", 1), "type": ""}, ValueError, "type"),
        ({"remote": ("h", 1), "type": ["h2", "tcp"]}, ValueError, "type"),
        ({"remote": ("h", 1), "type": 5}, TypeError, "type"),
        ({"remote": ("h", 1), "idle_timeout": -1}, ValueError, "idle_timeout"),
        ({"remote": ("h", 1), "ready_timeout": "1"}, TypeError, "ready_timeout"),
        ({"remote": ("h", 1), "body": 12}, TypeError, "body"),
        ({"remote": ("h", 1), "ttl": 0}, ValueError, "ttl"),
        ({"remote": ("h", 1), "no_delay": 1}, TypeError, "no_delay"),
        ({"remote": ("h", 1), "colour": "red"}, TypeError, "colour"),
        ({"remote": ("h", 1), "send_buffer_size": -5}, ValueError, "send_buffer_size"),
        ({"remote": ("h", 1), "type": "quic"}, ValueError, "alpn"),
        ({"remote": ("h", 1), "servername": "x"}, ValueError, "servername"),
    ],
)
def test_bad_input(kwargs: dict[str, Any], exc: type[Exception], words: str) -> None:
    async def main() -> None:
        with pytest.raises(exc, match=words):
            unisock.Socket(**kwargs)

    asyncio.run(main())


def test_socket_needs_running_loop() -> None:
    with pytest.raises(RuntimeError, match="running event loop"):
        unisock.Socket(remote=("127.0.0.1", 1))


@pytest.mark.trio
def test_connection_refused(run: Any) -> None:
    async def main() -> None:
        s = unisock.Socket(remote=("127.0.0.1", port))
        with pytest.raises(errors.NetworkError) as info:
            await s.ready
        assert info.value.errno == 111
        with pytest.raises(errors.NetworkError):
            await s.closed
        with pytest.raises(errors.NetworkError):
            await s.readable.get_reader().read()
        with pytest.raises(errors.NetworkError):
            await s.writable.get_writer().write(b"x")

    with refusing_port() as port:
        run(main)


@pytest.mark.trio
def test_dns_failure(run: Any) -> None:
    async def main() -> None:
        with pytest.raises(errors.NetworkError, match="cannot resolve"):
            await unisock.connect(remote=("no-such-host.invalid", 80))

    run(main)


@pytest.mark.trio
def test_ready_timeout(run: Any) -> None:
    # A listener that never accepts, with its backlog full: the kernel drops further SYNs,
    # so the connect hangs until ready_timeout ends it.
    async def main() -> None:
        s = unisock.Socket(remote=dead, ready_timeout=0.3)
        with pytest.raises(errors.TimeoutError, match="ready_timeout"):
            await s.ready
        with pytest.raises(errors.TimeoutError):
            await s.closed

    with blackholed_address() as dead:
        run(main)


def test_signal_aborts(run: Any) -> None:
    async def main() -> None:
        async with tcp_pair() as (client, server):
            controller = unisock.AbortController()
            s = unisock.Socket(remote=server.info.local, signal=controller.signal)
            await rt.sleep(0)
            controller.abort("stop")
            with pytest.raises(errors.AbortError):
                await s.closed
            s2 = unisock.Socket(remote=("127.0.0.1", 1), signal=unisock.AbortSignal.abort("x"))
            with pytest.raises(errors.AbortError):
                await s2.ready

    run(main)


def test_data_event_mode(run: Any) -> None:
    async def main() -> None:
        async with tcp_pair() as (client, server):
            writer = client.writable.get_writer()
            await writer.write(b"queued")
            await eventually(lambda: server.stats.bytes_received == 6, what="b'queued' arrived")
            got: list[bytes] = []
            ended = rt.future()
            server.add_event_listener("data", lambda ev: got.extend(ev.buffers))
            server.add_event_listener("end", lambda ev: ended.set_result(True))
            with pytest.raises(TypeError, match="'data' event"):
                server.readable.get_reader()
            await writer.write(b" then more")
            await writer.close()
            await rt.wait_for(ended, 5)
            assert b"".join(got) == b"queued then more"
            await rt.wait_for(server.closed, 5)

    run(main)


@pytest.mark.trio
def test_update_runtime_options(run: Any) -> None:
    async def main() -> None:
        async with tcp_pair() as (client, server):
            await client.update(no_delay=True, ttl=12, receive_buffer_size=100_000)
            raw = client._transport.get_extra_info("socket")
            assert raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            assert raw.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == 12
            with pytest.raises(TypeError, match="remote"):
                await client.update(remote=("127.0.0.1", 9))
            with pytest.raises(ValueError, match="ttl"):
                await client.update(ttl=300)
            assert raw.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == 12

    run(main)


@pytest.mark.trio
def test_peer_reset_mid_transfer(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener() as listener:
            assert listener.local is not None
            raw = socket.create_connection(("127.0.0.1", listener.local.port))
            ev = await listener.__anext__()
            raw.sendall(b"partial")
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
            raw.close()
            reader = ev.socket.readable.get_reader()
            first = await reader.read()
            assert first.value == b"partial"
            with pytest.raises(errors.NetworkError) as info:
                await reader.read()
            assert info.value.errno == 104
            with pytest.raises(errors.NetworkError):
                await ev.socket.closed

    run(main)


def test_socat_echo_integrity(run: Any, peer: Any) -> None:
    need("socat")
    port = peer(["socat", "TCP4-LISTEN:0,bind=127.0.0.1,fork", "EXEC:cat"]).port()
    rng = random.Random(7)
    data = rng.randbytes(64 << 20)

    async def main() -> None:
        s = await unisock.connect(remote=("127.0.0.1", port))
        writer = s.writable.get_writer()

        async def send() -> None:
            pos = 0
            while pos < len(data):
                n = rng.randint(1, 200_000)
                await writer.ready
                writer.write(data[pos : pos + n])
                pos += n
            await writer.close()

        digest = hashlib.sha256()
        total = 0
        async with background(send()) as tasks:  # a failing sender fails the test at once
            async for chunk in s.readable:
                digest.update(chunk)
                total += len(chunk)
            await tasks.tasks[0]
        assert total == len(data)
        assert digest.digest() == hashlib.sha256(data).digest()
        await s.closed

    run(main, timeout=120)


def test_ncat_half_close(run: Any) -> None:
    """ncat sends, half-closes at its stdin's EOF and keeps reading: the listener (with
    allow_half_open) reads the question to its end, then answers on its still-open side;
    ncat prints the whole answer and exits 0 once we close too."""
    need("ncat")

    async def main() -> None:
        async with unisock.SocketListener(allow_half_open=True) as listener:
            assert listener.local is not None
            proc = await rt.exec_process(
                "ncat",
                "127.0.0.1",
                str(listener.local.port),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            try:
                ev = await listener.__anext__()
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(b"question")
                proc.stdin.close()  # ncat half-closes on stdin EOF
                assert await conformance.read_all(ev.socket) == b"question"  # ends at the FIN
                assert proc.returncode is None  # ncat still waits for the answer
                writer = ev.socket.writable.get_writer()
                await writer.write(b"answer")
                await writer.close()
                out, err = await rt.wait_for(proc.communicate(), 10)
                assert out == b"answer", err  # what ncat got, printed on its stdout
                assert proc.returncode == 0, err
                await rt.wait_for(ev.socket.closed, 5)
                assert ev.socket.stats.bytes_sent == 6 and ev.socket.stats.bytes_received == 8
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()

    run(main)


@pytest.mark.trio
def test_redis_resp(run: Any, peer: Any, tmp_path: Any) -> None:
    need("redis-server")
    _, (port,) = peer.on_free_ports(
        lambda port: redis_argv(tmp_path, "--port", str(port), "--bind", "127.0.0.1")
    )

    async def main() -> None:
        async with unisock.Socket(remote=("127.0.0.1", port), no_delay=True) as s:
            writer = s.writable.get_writer()
            reader = s.readable.get_reader()
            writer.write(b"*3\r\n$3\r\nSET\r\n$5\r\nhello\r\n$5\r\nworld\r\n")
            writer.write(b"*2\r\n$3\r\nGET\r\n$5\r\nhello\r\n")
            buf = b""
            while buf.count(b"\r\n") < 3:
                buf += (await reader.read()).value
            assert buf == b"+OK\r\n$5\r\nworld\r\n"
            reader.release_lock()

    run(main)


def test_peer_never_sends_idle_timeout(run: Any, peer: Any) -> None:
    need("socat")
    port = peer(["socat", "TCP4-LISTEN:0,bind=127.0.0.1,fork", "EXEC:sleep 30"]).port()

    async def main() -> None:
        s = await unisock.connect(remote=("127.0.0.1", port), idle_timeout=0.3)
        with pytest.raises(errors.TimeoutError):
            await rt.wait_for(s.closed, 5)

    run(main)


def test_abort_during_pending_write_and_read(run: Any) -> None:
    async def main() -> None:
        async with tcp_pair(send_buffer_size=65536) as (client, server):
            writer = client.writable.get_writer()
            big = b"w" * (8 << 20)
            write = writer.write(big)
            read = client.readable.get_reader().read()
            await eventually(lambda: client.stats.bytes_sent > 0, what="the write started")
            assert not write.done()  # the server reads nothing: 8 MiB cannot all go out
            await client.abort(errors.AbortError("user"))
            for pending in (write, read):
                with pytest.raises(errors.AbortError):
                    await pending

    run(main)


def test_listener_survives_reset_burst(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener() as listener:
            assert listener.local is not None
            port = listener.local.port
            for _ in range(200):
                raw = socket.socket()
                raw.setblocking(False)
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
                await rt.sock_connect(raw, ("127.0.0.1", port))
                raw.close()
            s = unisock.Socket(remote=listener.local, body=b"still here")
            reset = 0
            while True:  # the reset connections the kernel queued come first, in any order
                ev = await rt.wait_for(listener.__anext__(), 5)
                try:
                    got = await conformance.read_all(ev.socket)
                except errors.NetworkError as exc:
                    assert exc.errno == 104, exc  # ECONNRESET
                    got = b""
                if got:
                    break
                reset += 1
                await ev.socket.abort()
            assert got == b"still here"
            assert reset <= 200
            await s.closed

    run(main)


def test_listener_events_and_close(run: Any) -> None:
    async def main() -> None:
        listener = unisock.SocketListener()
        local = await listener.ready
        seen: list[unisock.Socket] = []
        accepted = rt.Event()

        def on_socket(ev: unisock.SocketEvent) -> None:
            seen.append(ev.socket)
            accepted.set()

        listener.add_event_listener("socket", on_socket)
        s = await unisock.connect(remote=local)
        await rt.wait_for(accepted.wait(), 5)
        assert len(seen) == 1
        await listener.close()
        await listener.closed
        with pytest.raises(errors.NetworkError):
            await unisock.connect(remote=local)
        await s.close()
        await seen[0].close()

    run(main)


def test_no_fd_leak_connect_close_cycles(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener(backlog=512) as listener:

            async def serve() -> None:
                async for ev in listener:
                    await ev.socket.close()

            async with background(serve()):
                before = fd_count()
                for _ in range(10_000):
                    s = unisock.Socket(remote=listener.local)
                    await s.ready
                    await s.close()
                # the server closes its side a moment after each client: wait for the last
                await eventually(lambda: fd_count() <= before + 5, what="server sockets closed")

    run(main, timeout=120)


@pytest.mark.trio
def test_reuse_port_listeners_share_a_port(run: Any) -> None:
    async def main() -> None:
        a = unisock.SocketListener(local="127.0.0.1:0", reuse_port=True)
        local = await a.ready
        b = unisock.SocketListener(local=local, reuse_port=True)
        assert await b.ready == local
        await a.close()
        await b.close()

    run(main)


def test_pipe_through_transform_echo_finishes_before_auto_close(run: Any) -> None:
    """allow_half_open=False must not close a writable that a pipe is still feeding."""
    from unisock.streams import TransformStream

    async def main() -> None:
        async with unisock.SocketListener() as listener:

            async def serve() -> None:
                async for ev in listener:
                    upper = TransformStream({"transform": lambda c, ctl: ctl.enqueue(c.upper())})
                    await ev.socket.readable.pipe_through(upper).pipe_to(ev.socket.writable)

            async with background(serve()):
                s = unisock.Socket(remote=listener.local, body=b"shout")
                assert await rt.wait_for(conformance.read_all(s), 5) == b"SHOUT"
                await s.closed

    run(main)


@pytest.mark.trio
def test_refused_message_is_readable(run: Any) -> None:
    async def main() -> None:
        with pytest.raises(errors.NetworkError, match="Connection refused"):
            await unisock.connect(remote=("127.0.0.1", port))

    with refusing_port() as port:
        run(main)


@pytest.mark.trio
def test_listener_applies_options_to_accepted_sockets(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener(no_delay=True, ttl=33) as listener:
            s = await unisock.connect(remote=listener.local)
            ev = await listener.__anext__()
            raw = ev.socket._transport.get_extra_info("socket")
            assert raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            assert raw.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == 33
            await s.close()
            await ev.socket.close()

    run(main)


def test_socat_peer_that_never_reads_applies_backpressure(run: Any, peer: Any) -> None:
    """socat hands our bytes to `sleep`, which never reads: our writer must wait."""
    need("socat")
    port = peer(["socat", "TCP4-LISTEN:0,bind=127.0.0.1,fork", "EXEC:sleep 30"]).port()

    async def main() -> None:
        s = await unisock.connect(remote=("127.0.0.1", port), send_buffer_size=131072)
        writer = s.writable.get_writer()
        chunk = b"n" * 65536
        written = 0
        while written < (256 << 20):
            if writer.desired_size is not None and writer.desired_size <= 0:
                try:
                    await rt.wait_for(writer.ready, 0.5)
                except TimeoutError:
                    break
            writer.write(chunk)
            written += len(chunk)
        assert written < (256 << 20), "the writer never felt backpressure"
        assert len(s.writable._controller._queue) <= 2
        assert s.stats.bytes_sent <= written
        await s.abort()

    run(main)


@pytest.mark.trio
def test_fast_open_body(run: Any) -> None:
    """A small body with no_delay arrives exactly once whatever this kernel allows (on the
    SYN, or after the handshake: the documented fallback), and is counted once as sent.
    Whether it rode the SYN is checked in a namespace of its own (next test)."""

    async def main() -> None:
        async with unisock.SocketListener() as listener:
            for attempt in range(3):  # the first connect fetches the cookie
                body = b"fast %d" % attempt
                s = unisock.Socket(remote=listener.local, body=body, no_delay=True)
                server = await listener.accept()
                assert await conformance.read_all(server) == body
                await s.closed
                assert s.stats.bytes_sent == server.stats.bytes_received == len(body)

    run(main)


FAST_OPEN_CHILD = """
import asyncio, json, sys
import unisock
from unisock.testing import read_all

def counters():
    with open("/proc/net/netstat") as f:  # this network namespace's counters only
        names, values = [line.split() for line in f if line.startswith("TcpExt:")]
    return {n: int(v) for n, v in zip(names[1:], values[1:]) if n.startswith("TCPFastOpen")}

async def connect(listener, body, no_delay):
    s = unisock.Socket(remote=listener.local, body=body, no_delay=no_delay)
    server = await listener.accept()
    assert await read_all(server) == body
    await s.closed
    assert s.stats.bytes_sent == len(body)

async def main():
    async with unisock.SocketListener() as listener:
        for attempt in range(3):  # the first connect fetches the cookie, if any
            await connect(listener, b"fast %d" % attempt, True)
        eligible = counters()
        await connect(listener, b"no no_delay", False)
        await connect(listener, b"x" * 2000, True)  # over 1,400 bytes
    print(json.dumps({"eligible": eligible, "after": counters()}))

if sys.argv[1] == "uvloop":
    import uvloop
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
else:
    asyncio.run(main())
"""


@pytest.mark.parametrize("mode", [0, 1, 3])
def test_fast_open_rides_the_syn_where_the_sysctl_allows(
    loop_kind: str, mode: int, tmp_path: Any
) -> None:
    """In a network namespace of its own, with ``net.ipv4.tcp_fastopen`` set to ``mode``,
    the kernel's Fast Open counters (this namespace's alone) say what rode the SYN:
    with 3 (client and server) the data of every connect after the first (which fetched
    the cookie) did, with 1 (client only) a cookie was asked for and none came, with 0
    nothing was tried; the data arrived once every time.  A body that does not qualify
    (no ``no_delay``, over 1,400 bytes) never rides the SYN.

    Needs ``unshare`` and ``ip``, and the right to make a network namespace (root, or an
    unprivileged user namespace); skipped otherwise."""
    need("unshare")
    ip = shutil.which("ip") or shutil.which("ip", path="/usr/sbin:/sbin")
    if ip is None:
        pytest.skip("ip (iproute2) is not installed")
    script = tmp_path / "fast_open.py"
    script.write_text(FAST_OPEN_CHILD)
    as_root = ["-n"] if os.geteuid() == 0 else ["-r", "-n"]
    setup = f'{ip} link set lo up && echo {mode} > /proc/sys/net/ipv4/tcp_fastopen && exec "$@"'
    probe = subprocess.run(
        ["unshare", *as_root, "sh", "-c", setup, "sh", "true"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot make a network namespace with the sysctl set: {probe.stderr!r}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(
        [
            "unshare",
            *as_root,
            "sh",
            "-c",
            setup,
            "sh",
            sys.executable,
            "-W",
            "error",
            str(script),
            loop_kind,
        ],
        capture_output=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr.decode()
    report = json.loads(result.stdout)
    eligible, after = report["eligible"], report["after"]
    expected = {
        0: {"TCPFastOpenActive": 0, "TCPFastOpenPassive": 0, "TCPFastOpenCookieReqd": 0},
        1: {"TCPFastOpenActive": 0, "TCPFastOpenPassive": 0, "TCPFastOpenCookieReqd": 3},
        3: {"TCPFastOpenActive": 2, "TCPFastOpenPassive": 2, "TCPFastOpenCookieReqd": 1},
    }[mode]
    assert {name: eligible[name] for name in expected} == expected, eligible
    assert eligible["TCPFastOpenActiveFail"] == eligible["TCPFastOpenPassiveFail"] == 0
    for name in ("TCPFastOpenActive", "TCPFastOpenPassive"):
        assert after[name] == eligible[name], (name, after)


@pytest.mark.trio
def test_fast_open_refused_rejects_ready(run: Any) -> None:
    async def main() -> None:
        s = unisock.Socket(remote=("127.0.0.1", port), body=b"x", no_delay=True)
        with pytest.raises(errors.NetworkError) as info:
            await s.ready
        assert info.value.errno == 111

    with refusing_port() as port:
        run(main)


def test_byob_reads_fill_the_callers_buffer(run: Any) -> None:
    async def main() -> None:
        async with tcp_pair() as (client, server):
            writer = client.writable.get_writer()
            reader = server.readable.get_reader(mode="byob")
            buffer = bytearray(10)
            pending = reader.read(memoryview(buffer), min=10)
            await writer.write(b"0123")
            await eventually(lambda: server.stats.bytes_received == 4, what="b'0123' arrived")
            await writer.write(b"456789ABC")
            result = await pending
            assert bytes(result.value) == b"0123456789"
            assert buffer == bytearray(b"0123456789")
            assert result.value.obj is buffer  # the view is over the caller's own buffer
            rest = await reader.read(bytearray(8))
            assert bytes(rest.value) == b"ABC"
            assert server.stats.bytes_received == 13
            await writer.close()
            end = await reader.read(bytearray(8))
            assert end.done and len(end.value) == 0
            reader.release_lock()

    run(main)
