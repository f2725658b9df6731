"""UDP rules of API.md no other test pinned down (issue 19, coverage): what
``Datagram`` accepts, bad writes failing that write only, buffer-protocol chunks, a
``Datagram`` written on a connected socket, and ``"data"`` listeners on UDP.  Real UDP on
loopback, on asyncio, uvloop and trio."""

from __future__ import annotations

import array
import socket
from typing import Any

import pytest
from tests.conftest import eventually, wait_for

import unisock
from unisock import Datagram
from unisock._transports.udp.endpoint import Address, DatagramEndpoint
from unisock._transports.udp.opening import open_datagram_endpoint

pytestmark = pytest.mark.trio


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


class Echo:
    """A UDP echo on the library's own endpoint (it reads through the runtime's
    ``add_reader``: the same peer on every runtime)."""

    def connection_made(self, endpoint: DatagramEndpoint) -> None:
        self.endpoint = endpoint

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.endpoint.sendto(data, addr)

    def error_received(self, exc: Exception) -> None:
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        pass


def test_bad_writes_fail_alone_and_buffers_are_sent(run: Any) -> None:
    """On a connected UDP socket: a chunk that is not bytes-like fails that write with
    ``TypeError`` and the socket stays usable; any buffer (an ``array``) is one datagram;
    a ``Datagram`` goes to the connected peer whatever its ``remote``."""

    async def main() -> None:
        echo, _ = await open_datagram_endpoint(Echo, local=("127.0.0.1", 0))
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
            assert (await wait_for(reader.read(), 5)).value == b"arr"
            await writer.write(Datagram(b"dgram", ("127.0.0.1", 9)))
            assert (await wait_for(reader.read(), 5)).value == b"dgram"
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
        got: list[Any] = []
        sock.add_event_listener("data", lambda e: got.extend(e.buffers))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.bind(("127.0.0.1", 0))
            sender.sendto(b"one", ("127.0.0.1", info.local.port))
            sender.sendto(b"two", ("127.0.0.1", info.local.port))
            await eventually(lambda: len(got) == 2, what="both datagrams delivered")
            first, second = got
            assert isinstance(first, Datagram)
            assert (first.data, second.data) == (b"one", b"two")
            assert first.remote.port == sender.getsockname()[1]
        await sock.close()

    run(main)
