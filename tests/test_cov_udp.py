"""UDP rules of API.md no other test pinned down (issue 19, coverage): what
``Datagram`` accepts, bad writes failing that write only, buffer-protocol chunks, a
``Datagram`` written on a connected socket, and ``"data"`` listeners on UDP.  Real UDP on
loopback, on both loops."""

from __future__ import annotations

import array
import asyncio
import socket
from typing import Any

import pytest

import unisock
from unisock import Datagram


def test_datagram_takes_bytes_like_data_only() -> None:
    d = Datagram(bytearray(b"ab"), ("127.0.0.1", 9))
    assert d.data == b"ab" and type(d.data) is bytes
    assert d.remote == unisock.SocketAddress("127.0.0.1", 9)
    assert Datagram(memoryview(b"cd"), "127.0.0.1:9").data == b"cd"
    with pytest.raises(TypeError, match="got str: encode it first"):
        Datagram("text", ("127.0.0.1", 9))
    with pytest.raises(TypeError, match="must be bytes-like, got float"):
        Datagram(1.5, ("127.0.0.1", 9))
    with pytest.raises(ValueError):
        Datagram(b"x", ("127.0.0.1", 0))  # port 0 is no destination


class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.transport.sendto(data, addr)


def test_bad_writes_fail_alone_and_buffers_are_sent(run: Any) -> None:
    """On a connected UDP socket: a chunk that is not bytes-like fails that write with
    ``TypeError`` and the socket stays usable; any buffer (an ``array``) is one datagram;
    a ``Datagram`` goes to the connected peer whatever its ``remote``."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        echo, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
        try:
            port = echo.get_extra_info("sockname")[1]
            sock = unisock.Socket(type="udp", remote=("127.0.0.1", port))
            await sock.ready
            writer = sock.writable.get_writer()
            reader = sock.readable.get_reader()
            with pytest.raises(TypeError, match="got object"):
                await writer.write(object())
            with pytest.raises(TypeError, match="got str"):
                await writer.write("text")
            await writer.write(array.array("B", b"arr"))
            assert (await asyncio.wait_for(reader.read(), 5)).value == b"arr"
            await writer.write(Datagram(b"dgram", ("127.0.0.1", 9)))
            assert (await asyncio.wait_for(reader.read(), 5)).value == b"dgram"
            assert sock.stats.bytes_sent == 8
            reader.release_lock()
            writer.release_lock()
            await sock.close()
        finally:
            echo.close()

    run(main)


def test_data_listener_on_a_bound_socket_gets_datagrams(run: Any) -> None:
    """A ``"data"`` listener on a bound UDP socket: each event carries one ``Datagram``
    naming its sender."""

    async def main() -> None:
        sock = unisock.Socket(type="udp", local=("127.0.0.1", 0))
        info = await sock.ready
        assert info.local is not None
        got: asyncio.Queue[Any] = asyncio.Queue()
        sock.add_event_listener("data", lambda e: [got.put_nowait(b) for b in e.buffers])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.bind(("127.0.0.1", 0))
            sender.sendto(b"one", ("127.0.0.1", info.local.port))
            sender.sendto(b"two", ("127.0.0.1", info.local.port))
            first = await asyncio.wait_for(got.get(), 5)
            second = await asyncio.wait_for(got.get(), 5)
            assert isinstance(first, Datagram)
            assert (first.data, second.data) == (b"one", b"two")
            assert first.remote.port == sender.getsockname()[1]
        await sock.close()

    run(main)
