"""The UDP endpoint's reading through uvloop's own datagram transport (udp/native.py), and
the per-datagram path above it (``_api/udp.deliver`` and the writer's fast path).

On uvloop an IP endpoint in request/response mode reads with a ``NativeReader``; on the
stock loop and trio (and for Unix datagram sockets and QUIC's bursts) with
``add_reader``.  Each test runs on every runtime: the behaviour must be the same, only
``reads_natively`` differs.  Real sockets on loopback only.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Any

import pytest
from tests.conftest import LOOPS, TRIO, eventually, run_on, sleep

import unisock
from unisock import Datagram
from unisock._api import udp as udp_api
from unisock._transports.udp.endpoint import MAX_PAYLOAD_IPV4, DatagramEndpoint
from unisock._transports.udp.opening import adopt_datagram_endpoint, open_datagram_endpoint
from unisock.errors import NetworkError

RUNTIMES = [*LOOPS, *TRIO]

pytestmark = pytest.mark.timeout(60)


class Recorder:
    def __init__(self) -> None:
        self.got: list[tuple[bytes, Any]] = []
        self.errors: list[Exception] = []
        self.lost: list[Exception | None] = []

    def connection_made(self, endpoint: DatagramEndpoint) -> None:
        pass

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.got.append((data, addr))

    def error_received(self, exc: Exception) -> None:
        self.errors.append(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.append(exc)


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("kind", RUNTIMES)
def test_reads_natively_on_uvloop_only_for_ip_request_response(kind: str, tmp_path: Any) -> None:
    async def main() -> None:
        ip, _ = await open_datagram_endpoint(Recorder, local=("127.0.0.1", 0))
        unix_sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        unix_sock.bind(str(tmp_path / "u.sock"))
        unix, _ = adopt_datagram_endpoint(Recorder, unix_sock)
        try:
            assert ip.reads_natively == (kind == "uvloop")
            assert not unix.reads_natively  # may carry more than libuv's buffer
        finally:
            ip.close()
            unix.close()

    run_on(kind, main)


@pytest.mark.parametrize("kind", RUNTIMES)
def test_pause_and_resume_cycles_lose_nothing_and_leak_nothing(kind: str) -> None:
    """Each resume on uvloop is a new transport over a new duplicate descriptor; each pause
    (before or after uvloop called ``connection_made``) leaves the datagrams in the kernel."""

    async def main() -> None:
        before = fds()
        endpoint, rec = await open_datagram_endpoint(Recorder, local=("127.0.0.1", 0))
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        addr = endpoint.get_extra_info("sockname")
        sent = 0
        try:
            for cycle in range(20):
                endpoint.pause_reading()  # even cycles: before the reader got going
                assert not endpoint.is_reading()
                read = len(rec.got)
                for _ in range(5):
                    sender.sendto(b"%d" % sent, addr)
                    sent += 1
                for _ in range(3):
                    await sleep(0)
                assert len(rec.got) == read, "a paused endpoint read a datagram"
                endpoint.resume_reading()
                if cycle % 2:  # let the new reader start before the next pause
                    await eventually(lambda n=sent: len(rec.got) == n, what="all datagrams")
            await eventually(lambda: len(rec.got) == sent, what="all datagrams")
            assert [d for d, _ in rec.got] == [b"%d" % i for i in range(sent)]
            assert endpoint.datagrams_received == sent
            assert endpoint.bytes_received == sum(len(b"%d" % i) for i in range(sent))
        finally:
            sender.close()
            endpoint.close()
        for _ in range(3):
            await sleep(0)
        assert fds() == before
        assert len(rec.lost) == 1

    run_on(kind, main)


@pytest.mark.parametrize("kind", RUNTIMES)
def test_close_before_the_first_loop_turn(kind: str) -> None:
    async def main() -> None:
        before = fds()
        endpoint, rec = await open_datagram_endpoint(Recorder, local=("127.0.0.1", 0))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"never read", endpoint.get_extra_info("sockname"))
        endpoint.close()
        assert endpoint.get_extra_info("socket").fileno() == -1
        for _ in range(3):
            await sleep(0)
        assert fds() == before
        assert rec.got == [] and rec.lost == [None]

    run_on(kind, main)


@pytest.mark.parametrize("kind", RUNTIMES)
def test_largest_datagram_arrives_whole_and_addresses_match(kind: str) -> None:
    """No truncation either way (libuv's buffer is larger than any UDP payload); the
    sender's address has the socket module's shape on every runtime, IPv6 included."""

    async def main() -> None:
        hosts = ["127.0.0.1"]
        if socket.has_ipv6:
            try:
                with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
                    s.bind(("::1", 0))
                hosts.append("::1")
            except OSError:
                pass
        for host in hosts:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            endpoint, rec = await open_datagram_endpoint(
                Recorder, local=(host, 0), receive_buffer_size=1 << 20
            )
            with socket.socket(family, socket.SOCK_DGRAM) as sender:
                sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
                sender.bind((host, 0))
                big = os.urandom(MAX_PAYLOAD_IPV4)
                sender.sendto(big, endpoint.get_extra_info("sockname"))
                sender.sendto(b"", endpoint.get_extra_info("sockname"))
                try:
                    await eventually(lambda r=rec: len(r.got) == 2, what="both datagrams")
                    assert rec.got == [(big, sender.getsockname()), (b"", sender.getsockname())]
                    assert endpoint.datagrams_truncated == 0 and rec.errors == []
                finally:
                    endpoint.close()

    run_on(kind, main)


@pytest.mark.parametrize("kind", RUNTIMES)
def test_icmp_refusal_after_a_resume_is_reported_and_reading_goes_on(kind: str) -> None:
    async def main() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
            holder.bind(("127.0.0.1", 0))
            holder.connect(("127.0.0.1", 9))  # takes nothing from us: port unreachable
            port = holder.getsockname()[1]
            endpoint, rec = await open_datagram_endpoint(Recorder, remote=("127.0.0.1", port))
            try:
                endpoint.pause_reading()
                endpoint.resume_reading()
                await sleep(0)
                endpoint.sendto(b"anyone?")
                await eventually(lambda: bool(rec.errors), what="the refusal")
                assert isinstance(rec.errors[0], NetworkError)
                assert rec.errors[0].errno == errno.ECONNREFUSED
                holder.sendto(b"here now", endpoint.get_extra_info("sockname"))
                await eventually(lambda: bool(rec.got), what="the datagram after the error")
                assert rec.got[0][0] == b"here now"
            finally:
                endpoint.close()

    run_on(kind, main)


@pytest.mark.parametrize("kind", RUNTIMES)
def test_adopted_socket_is_read_and_closed_with_the_endpoint(kind: str) -> None:
    async def main() -> None:
        before = fds()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        endpoint, rec = adopt_datagram_endpoint(Recorder, sock)
        assert endpoint.get_extra_info("socket") is sock
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"to the adopted one", sock.getsockname())
            await eventually(lambda: bool(rec.got), what="the datagram")
            endpoint.sendto(b"back", sender.getsockname())
            assert sender.recv(100) == b"back"
        endpoint.close()
        assert sock.fileno() == -1  # the endpoint owns what it adopted
        for _ in range(3):
            await sleep(0)
        assert fds() == before

    run_on(kind, main)


@pytest.mark.parametrize("kind", RUNTIMES)
def test_bound_socket_senders_and_replies(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each sender's ``SocketAddress`` is made once (``link.remotes``, bounded); a reply
    ``Datagram`` goes straight out, and a refused one fails its own write."""
    monkeypatch.setattr(udp_api, "_MAX_REMOTES", 2)

    async def main() -> None:
        server = unisock.Socket(type="udp", local=("127.0.0.1", 0))
        info = await server.ready
        assert info.local is not None
        reader = server.readable.get_reader()
        writer = server.writable.get_writer()
        senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
        try:
            for s in senders:
                s.bind(("127.0.0.1", 0))
            for _round in range(2):
                for i, s in enumerate(senders):
                    s.sendto(b"%d" % i, ("127.0.0.1", info.local.port))
                    got = (await reader.read()).value
                    assert isinstance(got, Datagram) and got.data == b"%d" % i
                    assert (got.remote.address, got.remote.port) == s.getsockname()
                    await writer.write(Datagram(b"re:" + got.data, got.remote))
                    assert s.recv(100) == b"re:%d" % i
                assert len(server._transport.remotes) <= 2  # type: ignore[union-attr]
            assert server.stats.packets_received == server.stats.packets_sent == 6
            # Broadcast without SO_BROADCAST: the kernel refuses (EACCES), twice alike
            # (the second write takes the fast path: the address is known numeric).
            for _ in range(2):
                with pytest.raises(NetworkError) as refused:
                    await writer.write(Datagram(b"x", ("255.255.255.255", 9)))
                assert refused.value.errno == errno.EACCES
                assert "255.255.255.255:9" in str(refused.value)
            assert server.stats.packets_sent == 6
            await writer.write(Datagram(b"still fine", senders[0].getsockname()))
            assert senders[0].recv(100) == b"still fine"
        finally:
            for s in senders:
                s.close()
            await server.close()

    run_on(kind, main)


@pytest.mark.parametrize("kind", RUNTIMES)
def test_data_listener_on_a_bound_socket_gets_queued_datagrams_first(kind: str) -> None:
    async def main() -> None:
        server = unisock.Socket(type="udp", local=("127.0.0.1", 0))
        info = await server.ready
        assert info.local is not None
        got: list[bytes] = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for i in range(3):
                sender.sendto(b"q%d" % i, ("127.0.0.1", info.local.port))
            await eventually(lambda: server.stats.packets_received == 3, what="queued")
            writer = server.writable.get_writer()

            def echo(event: Any) -> None:
                for datagram in event.buffers:
                    got.append(datagram.data)
                    writer.write(datagram)

            server.add_event_listener("data", echo)
            for i in range(3):
                sender.sendto(b"n%d" % i, ("127.0.0.1", info.local.port))
            await eventually(lambda: len(got) == 6, what="all six")
            assert got == [b"q0", b"q1", b"q2", b"n0", b"n1", b"n2"]
            assert sorted(sender.recv(100) for _ in range(6)) == sorted(got)
        await server.close()

    run_on(kind, main)


class CountingRecorder(Recorder):
    counts_received = True


@pytest.mark.parametrize("kind", RUNTIMES)
def test_a_protocol_that_counts_gets_datagrams_straight_from_uvloop(kind: str) -> None:
    """``counts_received``: on uvloop's reading the endpoint adds no frame (and no count)
    of its own; elsewhere it counts per wake-up as always."""

    async def main() -> None:
        endpoint, rec = await open_datagram_endpoint(CountingRecorder, local=("127.0.0.1", 0))
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                for i in range(3):
                    sender.sendto(b"%d" % i, endpoint.get_extra_info("sockname"))
                await eventually(lambda: len(rec.got) == 3, what="three datagrams")
            assert [d for d, _ in rec.got] == [b"0", b"1", b"2"]
            counted = 0 if endpoint.reads_natively else 3
            assert endpoint.datagrams_received == counted
            assert endpoint.bytes_received == counted
        finally:
            endpoint.close()

    run_on(kind, main)


@pytest.mark.parametrize("kind", RUNTIMES)
def test_no_descriptor_to_spare_falls_back_to_add_reader(kind: str) -> None:
    """uvloop's reading needs a duplicate descriptor: at the process's limit the endpoint
    reads with ``add_reader`` instead, and loses nothing."""
    import resource

    async def main() -> None:
        endpoint, rec = await open_datagram_endpoint(Recorder, local=("127.0.0.1", 0))
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            endpoint.pause_reading()
            for _ in range(3):  # uvloop ends the paused reader's duplicate
                await sleep(0)
            sender.sendto(b"at the limit", endpoint.get_extra_info("sockname"))
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
            fillers: list[int] = []
            resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 1, hard))
            try:
                while True:  # take every free number under the limit
                    try:
                        fillers.append(os.open(os.devnull, os.O_RDONLY))
                    except OSError:
                        break
                endpoint.resume_reading()
            finally:
                for fd in fillers:
                    os.close(fd)
                resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            assert not endpoint.reads_natively
            await eventually(lambda: bool(rec.got), what="the datagram")
            assert rec.got[0][0] == b"at the limit"
        finally:
            sender.close()
            endpoint.close()

    run_on(kind, main)


def test_uvloop_ending_its_transport_falls_back_to_add_reader() -> None:
    """If uvloop gives up on the reading transport (a fatal error), the endpoint reads on
    with ``add_reader``: reading never stops silently."""
    if "uvloop" not in LOOPS:
        pytest.skip("uvloop is not installed")

    async def main() -> None:
        endpoint, rec = await open_datagram_endpoint(Recorder, local=("127.0.0.1", 0))
        try:
            await sleep(0)  # uvloop calls connection_made: the transport is known
            reader: Any = endpoint._native
            assert reader.transport is not None
            reader.transport.abort()  # as uvloop's own fatal-error path ends it
            for _ in range(3):
                await sleep(0)
            assert endpoint.is_reading() and not endpoint.reads_natively
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                sender.sendto(b"still read", endpoint.get_extra_info("sockname"))
                await eventually(lambda: bool(rec.got), what="the datagram")
            assert rec.got[0][0] == b"still read" and rec.errors == []
        finally:
            endpoint.close()

    run_on("uvloop", main)
