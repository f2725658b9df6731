"""The connected UDP socket's send path (issue 14): ``writer.write(datagram)`` goes
straight to the kernel's ``send`` (no endpoint hop), so a refusal must still fail that
write only, with the same ``NetworkError`` the endpoint gives, and the socket stays usable.
Real sockets on loopback, on both loops."""

from __future__ import annotations

import errno
import time
from typing import Any

import pytest
from tests.conftest import refusing_port

import unisock
from unisock import errors

pytestmark = pytest.mark.trio  # every test that takes `run` runs on trio too


def test_refused_send_fails_that_write_with_a_network_error(run: Any) -> None:
    with refusing_port("udp") as port:

        async def main() -> None:
            s = unisock.Socket(type="udp", remote=("127.0.0.1", port))
            await s.ready
            writer = s.writable.get_writer()
            first = writer.write(b"one")
            assert first.done() and first.exception() is None
            # Block the loop: the ICMP refusal arrives while nobody reads the socket, so
            # the kernel reports it to the next send() itself.
            time.sleep(0.2)
            second = writer.write(b"two")
            assert second.done()
            exc = second.exception()
            assert isinstance(exc, errors.NetworkError), repr(exc)
            assert exc.errno == errno.ECONNREFUSED
            assert f"UDP datagram of 3 bytes to 127.0.0.1:{port} was not sent" in str(exc)
            third = writer.write(b"three")  # that write only: the socket still sends
            assert third.done() and third.exception() is None
            assert s.stats.packets_sent == 2
            assert s.stats.bytes_sent == len(b"one") + len(b"three")
            await s.close()

        run(main)


def test_sent_datagrams_arrive_and_are_counted(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener(type="udp") as listener:
            assert listener.local is not None
            s = unisock.Socket(type="udp", remote=listener.local)
            await s.ready
            writer = s.writable.get_writer()
            for i in range(10):
                assert writer.write(b"d%d" % i).done()
            peer = (await listener.__anext__()).socket
            reader = peer.readable.get_reader()
            got = [(await reader.read()).value for _ in range(10)]
            assert got == [b"d%d" % i for i in range(10)]
            assert s.stats.packets_sent == 10
            reader.release_lock()
            await peer.close()
            await s.close()

    run(main)
