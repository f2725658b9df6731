"""UDP sockets through the public API: connected and bound modes, the per-peer listener,
real peers (socat, dnsmasq), limits and errors."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.conftest import (
    background,
    eventually,
    fd_count,
    need,
    refusing_port,
    sleep,
    udp_unread,
    wait_for,
)

import unisock
from unisock import Datagram, errors


@contextlib.asynccontextmanager
async def udp_echo_listener(**opts: Any) -> AsyncIterator[unisock.SocketListener]:
    """A UDP listener answering each datagram with ``echo:`` and the datagram."""

    async def echo(sock: unisock.Socket) -> None:
        writer = sock.writable.get_writer()
        async for datagram in sock.readable:
            await writer.write(b"echo:" + datagram)

    async def serve() -> None:
        async for event in listener:
            tasks.spawn(echo(event.socket))

    async with unisock.SocketListener(type="udp", **opts) as listener, background() as tasks:
        tasks.spawn(serve())
        yield listener


@pytest.mark.trio
def test_connected_mode_keeps_boundaries_and_counts(run: Any) -> None:
    async def main() -> None:
        async with udp_echo_listener() as listener:
            s = unisock.Socket(type="udp", remote=listener.local)
            writer = s.writable.get_writer()
            reader = s.readable.get_reader()
            for word in (b"a", b"bb", b"ccc"):
                await writer.write(word)
            got = [(await reader.read()).value for _ in range(3)]
            assert sorted(got) == [b"echo:a", b"echo:bb", b"echo:ccc"]
            assert s.stats.packets_sent == 3 and s.stats.packets_received == 3
            assert s.stats.bytes_sent == 6 and s.stats.bytes_received == 6 + 15
            assert s.info.type == "udp" and s.info.remote == listener.local
            reader.release_lock()
            await s.close()

    run(main)


@pytest.mark.trio
def test_bound_mode_both_families(run: Any) -> None:
    async def main() -> None:
        for host in ("127.0.0.1", "::1"):
            a = unisock.Socket(type="udp", local=(host, 0))
            b = unisock.Socket(type="udp", local=(host, 0))
            info_a, info_b = await a.ready, await b.ready
            assert info_a.local is not None and info_b.local is not None
            wa = a.writable.get_writer()
            await wa.write(Datagram(b"hi", info_b.local))
            got = (await b.readable.get_reader().read()).value
            assert isinstance(got, Datagram)
            assert got.data == b"hi" and got.remote == info_a.local
            with pytest.raises(TypeError, match="Datagram"):
                await wa.write(b"no address")
            await a.close()
            await b.close()

    run(main)


@pytest.mark.trio
def test_oversize_is_value_error_and_socket_survives(run: Any) -> None:
    async def main() -> None:
        async with udp_echo_listener() as listener:
            s = unisock.Socket(type="udp", remote=listener.local)
            writer = s.writable.get_writer()
            await s.ready
            with pytest.raises(ValueError, match="65507"):
                await writer.write(b"x" * 65508)
            await writer.write(b"x" * 65507 - 5 if False else b"still fine")
            assert (await s.readable.get_reader().read()).value == b"echo:still fine"
            await s.close()

    run(main)


@pytest.mark.trio
def test_port_unreachable_is_network_error(run: Any) -> None:
    async def main() -> None:
        s = unisock.Socket(type="udp", remote=("127.0.0.1", port))
        writer = s.writable.get_writer()
        reader = s.readable.get_reader()
        await writer.write(b"anyone?")
        with pytest.raises(errors.NetworkError) as info:
            await wait_for(reader.read(), 5)
        assert info.value.errno == 111
        reader.release_lock()
        await s.close()

    with refusing_port("udp") as port:
        run(main)


@pytest.mark.trio
def test_socat_echo(run: Any, peer: Any) -> None:
    need("socat")
    port = peer(["socat", "UDP4-RECVFROM:0,bind=127.0.0.1,fork", "EXEC:cat"]).port("udp")

    async def main() -> None:
        s = unisock.Socket(type="udp", remote=("127.0.0.1", port))
        writer = s.writable.get_writer()
        reader = s.readable.get_reader()
        await writer.write(b"ping")  # socat is bound: no retry (loopback loses nothing)
        result = await wait_for(reader.read(), 5)
        assert result.value == b"ping"
        reader.release_lock()
        await s.close()

    run(main)


def _dns_query(name: str, qid: int = 0x1234) -> bytes:
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return header + labels + struct.pack("!HH", 1, 1)


def _dns_answer_a(reply: bytes, qid: int = 0x1234) -> str:
    rid, flags, qd, an, _, _ = struct.unpack("!HHHHHH", reply[:12])
    assert rid == qid and flags & 0x8000 and an >= 1
    pos = 12
    for _ in range(qd):
        while reply[pos]:
            pos += reply[pos] + 1
        pos += 5
    if reply[pos] & 0xC0 == 0xC0:
        pos += 2
    else:
        while reply[pos]:
            pos += reply[pos] + 1
        pos += 1
    rtype, _, _, rdlen = struct.unpack("!HHIH", reply[pos : pos + 10])
    assert rtype == 1 and rdlen == 4
    return ".".join(str(b) for b in reply[pos + 10 : pos + 14])


@pytest.mark.trio
def test_dnsmasq_answers_hand_built_query(run: Any, peer: Any, tmp_path: Any) -> None:
    need("dnsmasq")
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
        s = unisock.Socket(type="udp", remote=("127.0.0.1", port))
        writer = s.writable.get_writer()
        reader = s.readable.get_reader()
        await writer.write(_dns_query("example.test"))  # dnsmasq is bound: no retry
        result = await wait_for(reader.read(), 5)
        assert _dns_answer_a(result.value) == "10.1.2.3"
        reader.release_lock()
        await s.close()

    run(main)


def test_listener_keeps_two_socat_clients_apart(run: Any) -> None:
    # asyncio only: it drives socat through asyncio's subprocess pipes (trio's own UDP
    # listener against socat is test_trio.py's test_udp_listener_with_socat_clients).
    need("socat")

    async def main() -> None:
        async with udp_echo_listener() as listener:
            assert listener.local is not None
            procs = []
            for word in (b"alpha", b"beta"):
                proc = await asyncio.create_subprocess_exec(
                    "socat",
                    "-t",
                    "2",
                    "-",
                    f"UDP4:127.0.0.1:{listener.local.port}",
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.DEVNULL,
                )
                procs.append((proc, word))
            for proc, word in procs:
                assert proc.stdin is not None
                proc.stdin.write(word)
                await proc.stdin.drain()
            for proc, word in procs:
                assert proc.stdout is not None
                got = await wait_for(proc.stdout.read(len(b"echo:") + len(word)), 5)
                assert got == b"echo:" + word
                assert proc.stdin is not None
                proc.stdin.close()
                proc.kill()
                await proc.wait()

    run(main)


@pytest.mark.trio
def test_listener_idle_peers_and_limits(run: Any) -> None:
    async def main() -> None:
        listener = unisock.SocketListener(type="udp", idle_timeout=0.2, max_peers=2)
        local = await listener.ready
        socks = []
        peers = []
        for i in range(3):  # each accepted before the next arrives
            s = unisock.Socket(type="udp", remote=local)
            await s.writable.get_writer().write(b"%d" % i)
            socks.append(s)
            peers.append(await wait_for(listener.accept(), 5))
        with pytest.raises(errors.NetworkError, match="capacity"):
            await wait_for(peers[0].closed, 5)
        with pytest.raises(errors.TimeoutError):
            await wait_for(peers[2].closed, 5)
        for s in socks:
            await s.close()
        await listener.close()

    run(main)


@pytest.mark.trio
def test_evicted_peers_never_accepted_leave_the_queue(run: Any) -> None:
    """A peer evicted before anyone accepted it is dropped from the queue (at most
    max_peers queued: spoofed sources cannot grow it)."""

    async def main() -> None:
        async with unisock.SocketListener(type="udp", max_peers=2) as listener:
            socks = []
            for i in range(3):
                s = unisock.Socket(type="udp", remote=listener.local)
                await s.writable.get_writer().write(b"%d" % i)
                socks.append(s)
            assert listener.local is not None
            await eventually(lambda: udp_unread(listener.local.port) == 0, what="all read")
            got = [await wait_for(listener.accept(), 5) for _ in range(2)]
            with pytest.raises(TimeoutError):
                await wait_for(listener.accept(), 0.2)
            assert len(got) == 2
            for s in socks + got:
                await s.close()

    run(main)


@pytest.mark.trio
def test_no_fd_leak(run: Any) -> None:
    async def main() -> None:
        before = fd_count()
        for _ in range(200):
            s = unisock.Socket(type="udp", remote=("127.0.0.1", 9))
            await s.ready
            await s.close()
        await eventually(lambda: fd_count() <= before + 2, what="sockets closed")

    run(main)


@pytest.mark.trio
def test_full_readable_drops_and_counts(run: Any) -> None:
    """Nobody reads: the readable keeps at most its high-water mark, the rest is counted."""

    async def main() -> None:
        receiver = unisock.Socket(type="udp", local=("127.0.0.1", 0), receive_buffer_size=4 << 20)
        local = (await receiver.ready).local
        sender = unisock.Socket(type="udp", remote=local)
        writer = sender.writable.get_writer()
        for i in range(3000):
            await writer.write(b"%d" % i)
            if i % 200 == 0:
                await sleep(0)  # let the receiver drain the kernel buffer
        assert local is not None
        await eventually(lambda: udp_unread(local.port) == 0, what="the receiver read all")
        queued = len(receiver.readable._controller._queue)
        assert queued <= 1024
        assert receiver.stats.datagrams_dropped > 0
        assert queued + receiver.stats.datagrams_dropped == receiver.stats.packets_received
        await sender.close()
        await receiver.close()

    run(main)
