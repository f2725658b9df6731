"""QUIC's endpoint on the shared UDP socket owner (``udp.endpoint`` with ``offload=True``).

What QUIC gains from sharing it: reading goes on after an ICMP error (uvloop stops its poll
handle on EPOLLERR), a datagram too big for the buffer is dropped and reported rather than
delivered short, and GRO/GSO batches arrive as the datagrams that were sent.  The owner
uses the runtime seam only, so all of it runs on asyncio, uvloop and trio alike.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from tests.conftest import run_on

from unisock._runtime import current
from unisock._transports.quic._endpoint import Address, Endpoint, open_quic_socket

pytestmark = pytest.mark.timeout(30)

FLAVORS = ["asyncio", "uvloop", "trio"]


def run(flavor: str, main: Callable[[], Awaitable[Any]]) -> Any:
    if flavor == "uvloop":
        pytest.importorskip("uvloop")
    if flavor == "trio":
        pytest.importorskip("trio")
    return run_on(flavor, main, 15)


async def eventually(condition: Callable[[], object], what: str) -> None:
    """Wait until ``condition()`` is true, polling every 5 ms on whichever runtime runs."""
    runtime = current()
    deadline = time.monotonic() + 5
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after 5 s: {what}")
        nap = runtime.create_future()
        runtime.call_later(0.005, nap.set_result, None)  # polling: nothing to await
        await nap


class Recording(Endpoint):
    """A QUIC endpoint whose "connections" just record what reaches them."""

    def __init__(self, sock: socket.socket) -> None:
        self.datagrams: list[tuple[bytes, Address]] = []
        self.errors: list[OSError] = []
        self.batches = 0
        super().__init__(current(), sock)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.datagrams.append((data, addr))

    def end_of_batch(self) -> None:
        self.batches += 1
        super().end_of_batch()

    def socket_error(self, exc: OSError) -> None:
        self.errors.append(exc)


def _udp(connect: Address | None = None) -> socket.socket:
    return open_quic_socket(socket.AF_INET, local=("127.0.0.1", 0), remote=connect)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_icmp_error_on_a_connected_client_socket_does_not_stop_reading(flavor: str) -> None:
    async def main() -> None:
        # The port is held by a socket connected elsewhere: the kernel delivers it nothing
        # from us and answers with port unreachable, and no other process can take it.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
            holder.bind(("127.0.0.1", 0))
            holder.connect(("127.0.0.1", 9))
            peer = holder.getsockname()
            endpoint = Recording(_udp(connect=peer))
            try:
                endpoint.send(b"anyone?", peer)
                await eventually(lambda: endpoint.errors, what="the port-unreachable error")
                assert endpoint.errors[0].errno == 111  # ECONNREFUSED
                assert str(peer[1]) in str(endpoint.errors[0])
                holder.sendto(b"now I am here", endpoint.local)
                await eventually(lambda: endpoint.datagrams, what="a datagram after the error")
                assert endpoint.datagrams[0][0] == b"now I am here"
                assert endpoint.batches >= 1
            finally:
                endpoint.close()

    run(flavor, main)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_datagram_too_big_for_the_buffer_is_dropped_not_cut(flavor: str) -> None:
    # UDP over IP cannot carry 65,537 bytes, a Unix datagram socket can: it stands in for
    # whatever might hand the endpoint an oversized datagram.
    async def main() -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        ours.setblocking(False)
        endpoint = Recording(ours)
        try:
            with theirs:
                theirs.send(b"x" * 70_000)
                theirs.send(b"small")
                await eventually(lambda: endpoint.datagrams, what="the small datagram")
            assert [data for data, _ in endpoint.datagrams] == [b"small"]
            assert endpoint.io.datagrams_truncated == 1
            assert endpoint.errors == []  # a lost packet, not a failed connection
        finally:
            endpoint.close()

    run(flavor, main)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_gso_runs_arrive_as_the_datagrams_sent(flavor: str) -> None:
    async def main() -> None:
        receiver = Recording(_udp())
        sender = Recording(_udp(connect=receiver.local))
        try:
            sent = [(bytes([i]) * 1200, receiver.local) for i in range(40)]
            sent += [(b"tail", receiver.local)]  # shorter: ends the run
            sent += [(bytes([i]) * 900, receiver.local) for i in range(40, 60)]
            sender.send_many(sent)
            await eventually(lambda: len(receiver.datagrams) >= len(sent), what="all datagrams")
            assert [data for data, _ in receiver.datagrams] == [data for data, _ in sent]
            assert {addr for _, addr in receiver.datagrams} == {sender.local}
            assert receiver.io.datagrams_received == len(sent)
            assert sender.io.datagrams_sent == len(sent)
            if receiver.io.gro:  # GRO hands over a whole run per read
                assert receiver.batches < len(sent)
        finally:
            sender.close()
            receiver.close()

    run(flavor, main)
