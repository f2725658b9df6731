"""The UDP layer below ``Socket(type="udp")``: ``DatagramEndpoint`` and ``PeerTable``.

Real sockets on 127.0.0.1 / ::1 only, against peers we did not write (socat as a UDP echo
and as clients, dnsmasq as a DNS server), on the stock loop, on uvloop and under trio.run
(the endpoint reads through the runtime's ``add_reader``).
"""

from __future__ import annotations

import errno
import os
import select
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from tests import rt
from tests.conftest import Peers, eventually, fd_count, sleep, udp_unread

from unisock._transports.udp.endpoint import (
    MAX_PAYLOAD_IPV4,
    MAX_PAYLOAD_IPV6,
    Address,
    DatagramEndpoint,
)
from unisock._transports.udp.opening import open_datagram_endpoint
from unisock._transports.udp.peers import Peer, PeerTable, RemoveReason
from unisock.errors import NetworkError

pytestmark = [pytest.mark.timeout(30), pytest.mark.trio]

Run = Callable[[Callable[[], Awaitable[Any]]], Any]


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


HAS_IPV6 = _has_ipv6()


def need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed")
    return path


class Recorder:
    """A protocol that keeps what it gets; ``wait_for`` polls it (on any runtime)."""

    def __init__(self) -> None:
        self.datagrams: list[tuple[bytes, Address]] = []
        self.errors: list[Exception] = []
        self.lost: list[Exception | None] = []
        self.endpoint: DatagramEndpoint | None = None

    def connection_made(self, endpoint: DatagramEndpoint) -> None:
        self.endpoint = endpoint

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.datagrams.append((data, addr))

    def error_received(self, exc: Exception) -> None:
        self.errors.append(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.append(exc)

    async def wait_for(self, check: Callable[[Recorder], bool]) -> None:
        await eventually(lambda: check(self), timeout=5.0, what="the recorder's condition")


async def wait_until(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5.0
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await sleep(0.01)


def socat_echo(host: str, port: int) -> list[str]:
    kind = "UDP6-RECVFROM" if ":" in host else "UDP4-RECVFROM"
    bind = f"[{host}]" if ":" in host else host
    return [need("socat"), "-b", "65536", f"{kind}:{port},fork,bind={bind}", "EXEC:cat"]


# -- connected mode against socat ----------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_connected_echo_through_socat(run: Run, peer: Peers, host: str) -> None:
    if ":" in host and not HAS_IPV6:
        pytest.skip("no IPv6 loopback")
    port = peer(socat_echo(host, 0)).port("udp")  # socat binds port 0: no race for a port
    payloads = [b"a", b"hello world", bytes(range(256)) * 5, b"z" * 9000]

    async def main() -> None:
        endpoint, rec = await open_datagram_endpoint(Recorder, remote=(host, port), ttl=7)
        try:
            sock = endpoint.get_extra_info("socket")
            if ":" in host:
                ttl = sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS)
                assert endpoint.max_payload == MAX_PAYLOAD_IPV6
            else:
                ttl = sock.getsockopt(socket.IPPROTO_IP, socket.IP_TTL)
                assert endpoint.max_payload == MAX_PAYLOAD_IPV4
            assert ttl == 7
            assert endpoint.get_extra_info("peername")[:2] == (host, port)
            assert endpoint.get_extra_info("sockname")[0] == host
            for p in payloads:
                endpoint.sendto(p)
            await rec.wait_for(lambda r: len(r.datagrams) >= len(payloads))
            # socat answers each datagram from its own child: order may vary,
            # boundaries may not.
            assert sorted(d for d, _ in rec.datagrams) == sorted(payloads)
            assert {a[:2] for _, a in rec.datagrams} == {(host, port)}
            assert endpoint.datagrams_sent == len(payloads)
            assert endpoint.bytes_sent == sum(map(len, payloads))
            assert endpoint.datagrams_received == len(payloads)
            assert endpoint.bytes_received == sum(map(len, payloads))
            assert rec.errors == []
        finally:
            endpoint.close()
        await rec.wait_for(lambda r: bool(r.lost))
        assert rec.lost == [None]

    run(main)


def test_host_name_resolves_with_family_of_local(run: Run, peer: Peers) -> None:
    port = peer(socat_echo("127.0.0.1", 0)).port("udp")

    async def main() -> None:
        endpoint, rec = await open_datagram_endpoint(
            Recorder, remote=("localhost", port), local=("127.0.0.1", 0)
        )
        try:
            assert endpoint.get_extra_info("peername") == ("127.0.0.1", port)
            endpoint.sendto(b"by name")
            await rec.wait_for(lambda r: bool(r.datagrams))
            assert rec.datagrams[0][0] == b"by name"
        finally:
            endpoint.close()

    run(main)


# -- bound mode against dnsmasq ---------------------------------------------------------------


def dns_query(qid: int, name: str) -> bytes:
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)  # RD set, one question
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.split("."))
    return header + labels + b"\x00" + struct.pack("!HH", 1, 1)  # A, IN


def _skip_name(msg: bytes, pos: int) -> int:
    while True:
        length = msg[pos]
        if length & 0xC0 == 0xC0:  # compression pointer ends the name
            return pos + 2
        if length == 0:
            return pos + 1
        pos += 1 + length


def parse_a_answers(msg: bytes, qid: int) -> list[str]:
    rid, flags, qd, an, _ns, _ar = struct.unpack_from("!HHHHHH", msg)
    assert rid == qid
    assert flags & 0x8000, "not a response"
    assert flags & 0x000F == 0, f"rcode {flags & 0xF}"
    pos = 12
    for _ in range(qd):
        pos = _skip_name(msg, pos) + 4
    found = []
    for _ in range(an):
        pos = _skip_name(msg, pos)
        rtype, rclass, _ttl, rdlength = struct.unpack_from("!HHIH", msg, pos)
        pos += 10
        if rtype == 1 and rclass == 1 and rdlength == 4:
            found.append(socket.inet_ntoa(msg[pos : pos + 4]))
        pos += rdlength
    return found


def test_dns_query_to_dnsmasq_in_bound_mode(run: Run, peer: Peers, tmp_path: Path) -> None:
    dnsmasq = need("dnsmasq")
    _, (port,) = peer.on_free_ports(
        lambda port: [
            dnsmasq,
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--address=/example.test/10.1.2.3",
            f"--port={port}",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            f"--pid-file={tmp_path / 'dnsmasq.pid'}",
        ],
        kinds=("tcp+udp",),
    )

    async def main() -> None:
        endpoint, rec = await open_datagram_endpoint(Recorder, local=("127.0.0.1", 0))
        try:
            assert endpoint.get_extra_info("peername") is None
            with pytest.raises(ValueError, match="addr is required"):
                endpoint.sendto(b"no address")
            endpoint.sendto(dns_query(0x4242, "www.example.test"), ("127.0.0.1", port))
            await rec.wait_for(lambda r: bool(r.datagrams))
            reply, addr = rec.datagrams[0]
            assert addr == ("127.0.0.1", port)
            assert parse_a_answers(reply, 0x4242) == ["10.1.2.3"]
        finally:
            endpoint.close()

    run(main)


# -- PeerTable: a demultiplexing server for two socat clients ---------------------------------


class Numbered:
    """Per-peer handler: answers ``<peer index>:<count>:<data>`` through the shared endpoint."""

    def __init__(self, peer: Peer[Numbered], index: int) -> None:
        self.peer = peer
        self.index = index
        self.count = 0

    def datagram_received(self, data: bytes) -> None:
        self.count += 1
        self.peer.send(b"%d:%d:" % (self.index, self.count) + data)


def test_peer_table_keeps_two_socat_clients_apart(run: Run) -> None:
    socat = need("socat")

    async def main() -> None:
        made: list[Peer[Numbered]] = []

        def new_peer(peer: Peer[Numbered]) -> Numbered:
            made.append(peer)
            return Numbered(peer, len(made))

        table: PeerTable[Numbered] = PeerTable(new_peer)
        endpoint, _ = await open_datagram_endpoint(lambda: table, local=("127.0.0.1", 0))
        port = endpoint.get_extra_info("sockname")[1]
        clients = [
            await rt.exec_process(
                socat,
                "-t",
                "0.2",
                "-",
                f"UDP4:127.0.0.1:{port}",
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            for _ in range(2)
        ]
        try:
            replies: list[list[bytes]] = [[], []]
            for round_ in range(1, 4):
                for i, proc in enumerate(clients):
                    assert proc.stdin is not None and proc.stdout is not None
                    proc.stdin.write(b"%s%d\n" % (b"ab"[i : i + 1], round_))
                    await proc.stdin.drain()
                    line = await rt.wait_for(proc.stdout.readline(), 5)
                    replies[i].append(line)
            first = [r[0].split(b":")[0] for r in replies]
            assert first[0] != first[1]
            for i, lines in enumerate(replies):
                letter = b"ab"[i : i + 1]
                assert lines == [b"%s:%d:%s%d\n" % (first[i], n, letter, n) for n in (1, 2, 3)]
            assert len(table) == 2
            assert len({p.address for p in made}) == 2
        finally:
            for proc in clients:
                assert proc.stdin is not None
                proc.stdin.close()
            for proc in clients:
                await rt.wait_for(proc.wait(), 5)
            endpoint.close()
        await wait_until(lambda: len(table) == 0)

    run(main)


# -- errors ---------------------------------------------------------------------------------------


def test_oversized_datagram_is_a_value_error(run: Run) -> None:
    async def main() -> None:
        hosts = ["127.0.0.1", "::1"] if HAS_IPV6 else ["127.0.0.1"]
        for host in hosts:
            limit = MAX_PAYLOAD_IPV6 if ":" in host else MAX_PAYLOAD_IPV4
            server, rec = await open_datagram_endpoint(Recorder, local=(host, 0))
            client, _ = await open_datagram_endpoint(
                Recorder, remote=server.get_extra_info("sockname")[:2]
            )
            try:
                with pytest.raises(ValueError, match=rf"{limit + 1} bytes.*\({limit} bytes\)"):
                    client.sendto(b"x" * (limit + 1))
                with pytest.raises(ValueError, match=str(limit)):
                    client.sendto(memoryview(bytearray(limit + 100)))
                assert client.datagrams_sent == 0
                big = os.urandom(limit)
                client.sendto(big)  # exactly the limit goes through, whole
                await rec.wait_for(lambda r: bool(r.datagrams))
                assert rec.datagrams[0][0] == big
                assert server.datagrams_truncated == 0
            finally:
                client.close()
                server.close()

    run(main)


def test_icmp_port_unreachable_is_a_network_error(run: Run) -> None:
    async def main() -> None:
        # The port is held by a socket connected elsewhere: the kernel delivers it nothing
        # from us and answers with port unreachable, and no other process can take it.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
            holder.bind(("127.0.0.1", 0))
            holder.connect(("127.0.0.1", 9))
            port = holder.getsockname()[1]
            await refused(holder, port)

    async def refused(holder: socket.socket, port: int) -> None:
        endpoint, rec = await open_datagram_endpoint(Recorder, remote=("127.0.0.1", port))
        try:
            endpoint.sendto(b"anyone?")
            await rec.wait_for(lambda r: bool(r.errors))
            err = rec.errors[0]
            assert isinstance(err, NetworkError)
            assert err.errno == errno.ECONNREFUSED
            assert str(port) in str(err)
            # Reading goes on after the error (uvloop stops its poll handle on EPOLLERR).
            holder.sendto(b"now I am here", endpoint.get_extra_info("sockname"))
            await rec.wait_for(lambda r: bool(r.datagrams))
            assert rec.datagrams[0][0] == b"now I am here"

            # Not reading: the OS reports the pending error on the next write instead.
            endpoint.pause_reading()
            assert not endpoint.is_reading()
            endpoint.sendto(b"gone again")
            # the refusal is pending on the socket (poll says POLLERR; reading it clears it)
            await eventually(lambda: error_pending(endpoint.get_extra_info("socket")))
            with pytest.raises(NetworkError) as info:
                endpoint.sendto(b"and again")
            assert info.value.errno == errno.ECONNREFUSED
            assert "was not sent" in str(info.value)
        finally:
            endpoint.close()

    run(main)


def error_pending(sock: socket.socket) -> bool:
    """The socket has an error waiting (POLLERR), without taking it (as SO_ERROR would)."""
    poller = select.poll()
    poller.register(sock.fileno(), 0)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def test_kernel_refusal_fails_that_write(run: Run) -> None:
    if not HAS_IPV6:
        pytest.skip("no IPv6 loopback")

    async def main() -> None:
        server, _ = await open_datagram_endpoint(Recorder, local=("::1", 0))
        client, _ = await open_datagram_endpoint(
            Recorder, remote=server.get_extra_info("sockname")[:2]
        )
        try:
            # With "don't fragment", a datagram above the loopback MTU is refused: EMSGSIZE.
            client.get_extra_info("socket").setsockopt(socket.IPPROTO_IPV6, socket.IPV6_DONTFRAG, 1)
            with pytest.raises(NetworkError) as info:
                client.sendto(b"x" * MAX_PAYLOAD_IPV6)
            assert info.value.errno == errno.EMSGSIZE
            assert "EMSGSIZE" in str(info.value)
            assert client.datagrams_sent == 0
            client.sendto(b"small is fine")
            assert client.datagrams_sent == 1
        finally:
            client.close()
            server.close()

    run(main)


def test_bad_arguments_name_the_field(run: Run) -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="remote, local"):
            await open_datagram_endpoint(Recorder)
        with pytest.raises(ValueError, match="ttl"):
            await open_datagram_endpoint(Recorder, local=("127.0.0.1", 0), ttl=0)
        with pytest.raises(ValueError, match="receive_buffer_size"):
            await open_datagram_endpoint(Recorder, local=("127.0.0.1", 0), receive_buffer_size=-1)
        with pytest.raises(TypeError, match="remote"):
            await open_datagram_endpoint(Recorder, remote="127.0.0.1:53")  # type: ignore[arg-type]
        with pytest.raises(NetworkError):
            await open_datagram_endpoint(Recorder, local=("no-such-host.invalid", 0))

    run(main)


# -- options, reading control, closing --------------------------------------------------------


def test_options_bound_ipv6_and_pause_resume(run: Run) -> None:
    hosts = ["127.0.0.1", "::1"] if HAS_IPV6 else ["127.0.0.1"]

    async def main() -> None:
        for host in hosts:
            server, rec = await open_datagram_endpoint(
                Recorder,
                local=(host, 0),
                receive_buffer_size=1 << 20,
                send_buffer_size=1 << 18,
                reuse_port=True,
                ttl=3,
            )
            try:
                sock = server.get_extra_info("socket")
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
                # Linux doubles what it is given (for its bookkeeping).
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 1 << 20
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) >= 1 << 18
                addr = server.get_extra_info("sockname")
                server.pause_reading()
                client, crec = await open_datagram_endpoint(Recorder, local=(host, 0))
                try:
                    for i in range(200):  # more than one wake-up's worth
                        client.sendto(b"%d" % i, addr)
                    assert udp_unread(addr[1]) > 0  # queued on loopback as sendto returns
                    for _ in range(3):  # each loop turn polls the sockets it reads from
                        await sleep(0)
                    assert rec.datagrams == []  # paused: they wait in the kernel
                    server.resume_reading()
                    await rec.wait_for(lambda r: len(r.datagrams) == 200)
                    assert [d for d, _ in rec.datagrams] == [b"%d" % i for i in range(200)]
                    source = client.get_extra_info("sockname")
                    assert {a for _, a in rec.datagrams} == {source}
                    server.sendto(b"reply", rec.datagrams[0][1])
                    await crec.wait_for(lambda r: bool(r.datagrams))
                    assert crec.datagrams == [(b"reply", addr)]
                finally:
                    client.close()
            finally:
                server.close()
            assert server.is_closing()

    run(main)


def test_close_releases_every_descriptor(run: Run) -> None:
    async def main() -> None:
        before = fd_count()
        endpoints = []
        for i in range(50):
            if i % 2:
                ep, _ = await open_datagram_endpoint(Recorder, local=("127.0.0.1", 0))
            else:
                ep, _ = await open_datagram_endpoint(Recorder, remote=("127.0.0.1", 9))
            endpoints.append(ep)
        assert fd_count() >= before + 50
        for ep in endpoints:
            ep.close()
            ep.close()  # twice is harmless
        assert all(ep.get_extra_info("socket").fileno() == -1 for ep in endpoints)
        # On uvloop the reading descriptor (a duplicate, see udp/native.py) is uvloop's: it
        # goes when uvloop ends its transport, within two loop turns.
        for _ in range(2):
            await rt.sleep(0)
        assert fd_count() == before
        from unisock.errors import InvalidStateError

        with pytest.raises(InvalidStateError):
            endpoints[0].sendto(b"late")

    run(main)


# -- PeerTable: bounds and idle expiry ------------------------------------------------------


class Collect:
    def __init__(self, peer: Peer[Collect]) -> None:
        self.peer = peer
        self.data: list[bytes] = []

    def datagram_received(self, data: bytes) -> None:
        self.data.append(data)


def test_peer_table_evicts_least_recently_active_past_the_maximum(run: Run) -> None:
    async def main() -> None:
        removed: list[tuple[Address, RemoveReason]] = []

        def new_peer(peer: Peer[Collect]) -> Collect:
            return Collect(peer)

        def on_remove(peer: Peer[Collect], reason: RemoveReason) -> None:
            removed.append((peer.address, reason))

        table: PeerTable[Collect] = PeerTable(new_peer, max_peers=3, on_remove=on_remove)
        assert PeerTable(new_peer).max_peers == 1024
        endpoint, _ = await open_datagram_endpoint(lambda: table, local=("127.0.0.1", 0))
        server = endpoint.get_extra_info("sockname")
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(24)]
        try:
            for s in socks:
                s.bind(("127.0.0.1", 0))
            names = [s.getsockname() for s in socks]
            total = 0

            async def send(i: int) -> None:
                nonlocal total
                socks[i].sendto(b"from %d" % i, server)
                total += 1
                await wait_until(lambda: table.datagrams_received == total)

            a, b, c, d = range(4)
            for i in (a, b, c, a):
                await send(i)
            assert len(table) == 3 and removed == []
            await send(d)  # b is the least recently active: a spoke again after it
            assert removed == [(names[b], "capacity")]
            assert [p.address for p in table.peers()] == [names[c], names[a], names[d]]
            peer_a = table.get(names[a])
            assert peer_a is not None and peer_a.handler is not None
            assert peer_a.handler.data == [b"from 0", b"from 0"]
            for i in range(4, 24):  # a flood of new sources stays bounded
                await send(i)
                assert len(table) == 3
            assert len(removed) == 21
            assert {r for _, r in removed} == {"capacity"}
            assert [p.address for p in table.peers()] == names[21:24]
        finally:
            for s in socks:
                s.close()
            endpoint.close()
        await wait_until(lambda: len(table) == 0)
        assert removed[-3:] == [(n, "closed") for n in names[21:24]]

    run(main)


def test_peer_table_idle_timeout_frees_a_peer(run: Run) -> None:
    async def main() -> None:
        removed: dict[Address, tuple[RemoveReason, float]] = {}
        last_seen: dict[Address, float] = {}

        class Stamp:
            def __init__(self, peer: Peer[Stamp]) -> None:
                self.peer = peer
                if peer.address == p:
                    peer.idle_timeout = 0  # this peer never goes idle

            def datagram_received(self, data: bytes) -> None:
                last_seen[self.peer.address] = time.monotonic()

        def on_remove(peer: Peer[Stamp], reason: RemoveReason) -> None:
            removed[peer.address] = (reason, time.monotonic())

        table: PeerTable[Stamp] = PeerTable(Stamp, idle_timeout=0.3, on_remove=on_remove)
        endpoint, _ = await open_datagram_endpoint(lambda: table, local=("127.0.0.1", 0))
        server = endpoint.get_extra_info("sockname")
        quiet, busy, pinned = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in "qbp")
        for s in (quiet, busy, pinned):
            s.bind(("127.0.0.1", 0))
        q, b, p = (s.getsockname() for s in (quiet, busy, pinned))
        try:
            quiet.sendto(b"once", server)
            pinned.sendto(b"forever", server)
            start = time.monotonic()
            while time.monotonic() - start < 0.9:
                busy.sendto(b"tick", server)
                await sleep(0.05)  # time is what is tested: busy every 50 ms, not idle
            assert q in removed, "the quiet peer was not freed"
            reason, when = removed[q]
            assert reason == "idle"
            idle_for = when - last_seen[q]
            assert 0.3 <= idle_for < 0.3 + 0.2, idle_for
            assert b in table
            assert p in table
            assert len(table) == 2
            # A freed peer that speaks again is a new peer.
            quiet.sendto(b"back", server)
            await wait_until(lambda: q in table)
            peer = table.get(q)
            assert peer is not None
            peer.close()  # the upper layer closing it: no on_remove call
            assert q not in table
            assert removed[q][0] == "idle"
        finally:
            for s in (quiet, busy, pinned):
                s.close()
            endpoint.close()
        await wait_until(lambda: len(table) == 0)
        assert removed[b][0] == removed[p][0] == "closed"

    run(main)


def test_peer_table_sweep_with_a_driven_clock(run: Run) -> None:
    """The sweep's arithmetic, with the time given (as a sans-I/O core allows)."""

    async def main() -> None:
        removed: list[tuple[Address, RemoveReason]] = []
        table: PeerTable[Collect] = PeerTable(
            Collect, idle_timeout=8.0, on_remove=lambda p, r: removed.append((p.address, r))
        )
        a, b, c = ("10.0.0.1", 1), ("10.0.0.2", 2), ("10.0.0.3", 3)
        for addr in (a, b, c):
            table.datagram_received(b"hi", addr)
        peer_a, peer_c = table.get(a), table.get(c)
        assert peer_a is not None and peer_c is not None
        s0 = peer_c.stamp  # activity is stamped with the next sweep's time
        peer_c.idle_timeout = 2.0  # its own, shorter timeout: resolution 2/8 s from now on
        table.expire(s0 + 1.99)
        assert removed == []
        table.expire(s0 + 2.0)
        assert removed == [(c, "idle")]
        table.datagram_received(b"again", a)  # stamped s0 + 2.25
        assert peer_a.stamp == pytest.approx(s0 + 2.25)
        table.expire(s0 + 7.99)
        assert removed == [(c, "idle")]
        table.expire(s0 + 8.0)  # b is idle; a, younger, stops the walk
        assert removed == [(c, "idle"), (b, "idle")]
        table.expire(s0 + 10.24)
        assert len(table) == 1
        table.expire(s0 + 10.25)
        assert removed[-1] == (a, "idle")
        assert len(table) == 0
        with pytest.raises(ValueError, match="idle_timeout"):
            table.set_idle_timeout(-1)
        with pytest.raises(ValueError, match="max_peers"):
            PeerTable(Collect, max_peers=0)

    run(main)
