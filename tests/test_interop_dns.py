"""Interop: DNS against unbound on loopback, over UDP (connected and bound sockets) and
over TCP (RFC 1035 2-byte length prefix, several queries on one connection), with the DNS
wire format built by hand here.  unbound answers from a ``local-zone``, never the network.
"""

from __future__ import annotations

import ipaddress
import shutil
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import PeerDidNotStart, Peers, wait_for

import unisock
from unisock import Datagram

Run = Callable[..., Any]

TYPE_A = 1
TYPE_TXT = 16
CLASS_IN = 1
RCODE_NXDOMAIN = 3
FLAG_QR = 0x8000
FLAG_AA = 0x0400
FLAG_TC = 0x0200
FLAG_RD = 0x0100

BIG_TXT = [f"record {i:02d} " + "x" * 40 for i in range(40)]
"""Enough TXT strings that the answer (over 2 kB) cannot fit a 512-byte UDP reply."""


# -- the DNS wire format (RFC 1035), just what these tests need -------------------------


def encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("ascii")
        assert 0 < len(raw) < 64
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def build_query(ident: int, name: str, qtype: int = TYPE_A) -> bytes:
    """A standard query with recursion desired, one question, no EDNS."""
    header = struct.pack(">HHHHHH", ident, FLAG_RD, 1, 0, 0, 0)
    return header + encode_name(name) + struct.pack(">HH", qtype, CLASS_IN)


@dataclass
class Record:
    name: str
    type: int
    klass: int
    ttl: int
    rdata: bytes


@dataclass
class Response:
    ident: int
    flags: int
    question: tuple[str, int, int]
    answers: list[Record]

    @property
    def rcode(self) -> int:
        return self.flags & 0xF


def decode_name(msg: bytes, offset: int) -> tuple[str, int]:
    """A possibly compressed name at ``offset``: (name, offset after it in place)."""
    labels: list[str] = []
    end: int | None = None
    for _ in range(128):  # bounds a malicious pointer loop
        length = msg[offset]
        if length & 0xC0 == 0xC0:
            if end is None:
                end = offset + 2
            offset = struct.unpack_from(">H", msg, offset)[0] & 0x3FFF
            continue
        if length == 0:
            return ".".join(labels) + ".", end if end is not None else offset + 1
        labels.append(msg[offset + 1 : offset + 1 + length].decode("ascii"))
        offset += 1 + length
    raise ValueError("name compression loop")


def parse_response(msg: bytes) -> Response:
    ident, flags, qdcount, ancount, _ns, _ar = struct.unpack_from(">HHHHHH", msg)
    assert qdcount == 1, qdcount
    qname, offset = decode_name(msg, 12)
    qtype, qclass = struct.unpack_from(">HH", msg, offset)
    offset += 4
    answers = []
    for _ in range(ancount):
        name, offset = decode_name(msg, offset)
        rtype, klass, ttl, rdlength = struct.unpack_from(">HHIH", msg, offset)
        offset += 10
        answers.append(Record(name, rtype, klass, ttl, msg[offset : offset + rdlength]))
        offset += rdlength
    assert offset <= len(msg)
    return Response(ident, flags, (qname, qtype, qclass), answers)


def txt_strings(rdata: bytes) -> list[str]:
    out, i = [], 0
    while i < len(rdata):
        out.append(rdata[i + 1 : i + 1 + rdata[i]].decode())
        i += 1 + rdata[i]
    return out


def check_a(resp: Response, ident: int) -> None:
    assert resp.ident == ident
    assert resp.flags & FLAG_QR and resp.flags & FLAG_AA and not resp.flags & FLAG_TC
    assert resp.rcode == 0
    assert resp.question == ("test.example.", TYPE_A, CLASS_IN)
    assert [(r.name, r.type, r.klass) for r in resp.answers] == [
        ("test.example.", TYPE_A, CLASS_IN)
    ]
    assert ipaddress.IPv4Address(resp.answers[0].rdata) == ipaddress.IPv4Address("192.0.2.7")
    assert resp.answers[0].ttl == 3600


# -- the peer ---------------------------------------------------------------------------


@pytest.fixture
def unbound(tmp_path: Path, peer: Peers) -> Iterator[int]:
    """unbound on 127.0.0.1:<port> (UDP and TCP), answering ``test.example`` locally."""
    program = shutil.which("unbound") or shutil.which("unbound", path="/usr/sbin:/sbin")
    if program is None:
        pytest.skip("unbound is not installed")
    big = "\n".join(f"    local-data: 'big.test.example. TXT \"{t}\"'" for t in BIG_TXT)
    conf = tmp_path / "unbound.conf"

    def configure(port: int) -> list[str]:
        conf.write_text(
            f"""server:
    interface: 127.0.0.1
    port: {port}
    do-daemonize: no
    do-ip6: no
    do-udp: yes
    do-tcp: yes
    num-threads: 1
    access-control: 127.0.0.0/8 allow
    username: ""
    chroot: ""
    directory: "{tmp_path}"
    pidfile: "{tmp_path}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    module-config: "iterator"
    local-zone: "test.example." static
    local-data: "test.example. 3600 IN A 192.0.2.7"
{big}
remote-control:
    control-enable: no
"""
        )
        return [program, "-d", "-c", str(conf)]

    log = tmp_path / "unbound.log"
    try:
        with log.open("wb") as stderr:
            proc, (port,) = peer.on_free_ports(configure, kinds=("tcp+udp",), stderr=stderr)
    except (PeerDidNotStart, TimeoutError):
        raise AssertionError(f"unbound did not start: {log.read_text()[-2000:]}") from None
    yield port
    assert proc.proc.poll() is None, f"unbound died: {log.read_text()[-2000:]}"


# -- the tests --------------------------------------------------------------------------


async def udp_exchange(port: int, query: bytes) -> bytes:
    sock = unisock.Socket(type="udp", remote=("127.0.0.1", port))
    writer = sock.writable.get_writer()
    reader = sock.readable.get_reader()
    await writer.write(query)
    result = await wait_for(reader.read(), 5)
    reader.release_lock()
    writer.release_lock()
    await sock.close()
    assert isinstance(result.value, bytes)
    return result.value


@pytest.mark.trio
def test_udp_query_connected_socket(run: Run, unbound: int) -> None:
    async def main() -> None:
        reply = await udp_exchange(unbound, build_query(0x1234, "test.example"))
        check_a(parse_response(reply), 0x1234)

        missing = parse_response(await udp_exchange(unbound, build_query(7, "nope.test.example")))
        assert missing.ident == 7 and missing.rcode == RCODE_NXDOMAIN and missing.answers == []

    run(main, timeout=30)


@pytest.mark.trio
def test_udp_query_bound_socket(run: Run, unbound: int) -> None:
    """A bound UDP socket: the reply is a ``Datagram`` from unbound's own address."""

    async def main() -> None:
        sock = unisock.Socket(type="udp", local=("127.0.0.1", 0))
        await sock.ready
        server = unisock.SocketAddress("127.0.0.1", unbound)
        writer = sock.writable.get_writer()
        reader = sock.readable.get_reader()
        idents = [0x0101, 0x0202, 0x0303]
        for ident in idents:
            await writer.write(Datagram(build_query(ident, "test.example"), server))
        seen = []
        for _ in idents:
            got = (await wait_for(reader.read(), 5)).value
            assert isinstance(got, Datagram)
            assert got.remote == server
            resp = parse_response(got.data)
            check_a(resp, resp.ident)
            seen.append(resp.ident)
        assert sorted(seen) == idents
        assert sock.stats.packets_sent == 3 and sock.stats.packets_received == 3
        reader.release_lock()
        writer.release_lock()
        await sock.close()

    run(main, timeout=30)


class Framed:
    """DNS over TCP: each message after a 2-byte big-endian length."""

    def __init__(self, sock: unisock.Socket) -> None:
        self.reader = sock.readable.get_reader()
        self.buffer = b""

    async def exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            result = await wait_for(self.reader.read(), 5)
            if result.done:
                raise EOFError(f"EOF after {len(self.buffer)} of {n} bytes")
            self.buffer += result.value
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    async def message(self) -> bytes:
        (length,) = struct.unpack(">H", await self.exactly(2))
        return await self.exactly(length)


def framed(msg: bytes) -> bytes:
    return struct.pack(">H", len(msg)) + msg


@pytest.mark.trio
def test_tcp_queries_on_one_connection(run: Run, unbound: int) -> None:
    """Three length-prefixed queries, sent before any answer, on one TCP connection."""

    async def main() -> None:
        sock = unisock.Socket(remote=("127.0.0.1", unbound), no_delay=True)
        writer = sock.writable.get_writer()
        queries = {
            0xA001: build_query(0xA001, "test.example"),
            0xA002: build_query(0xA002, "nope.test.example"),
            0xA003: build_query(0xA003, "big.test.example", TYPE_TXT),
        }
        await writer.write(b"".join(framed(q) for q in queries.values()))
        messages = Framed(sock)
        replies = {}
        for _ in queries:
            resp = parse_response(await messages.message())
            replies[resp.ident] = resp
        assert sorted(replies) == sorted(queries)
        check_a(replies[0xA001], 0xA001)
        assert replies[0xA002].rcode == RCODE_NXDOMAIN
        big = replies[0xA003]
        assert big.rcode == 0 and not big.flags & FLAG_TC
        assert sorted(txt_strings(r.rdata)[0] for r in big.answers) == BIG_TXT
        assert sock.stats.bytes_received > 2000
        messages.reader.release_lock()
        writer.release_lock()
        await sock.close()

    run(main, timeout=30)


@pytest.mark.trio
def test_truncated_over_udp_then_whole_over_tcp(run: Run, unbound: int) -> None:
    """The resolver's classic fallback: the UDP reply says TC, the TCP one has it all."""

    async def main() -> None:
        query = build_query(0x5151, "big.test.example", TYPE_TXT)
        over_udp = parse_response(await udp_exchange(unbound, query))
        assert over_udp.ident == 0x5151 and over_udp.flags & FLAG_TC
        assert len(over_udp.answers) < len(BIG_TXT)

        sock = unisock.Socket(remote=("127.0.0.1", unbound), body=framed(query))
        data = b"".join([chunk async for chunk in sock.readable])
        await sock.closed
        (length,) = struct.unpack_from(">H", data)
        assert len(data) == 2 + length
        over_tcp = parse_response(data[2:])
        assert over_tcp.ident == 0x5151 and not over_tcp.flags & FLAG_TC
        assert sorted(txt_strings(r.rdata)[0] for r in over_tcp.answers) == BIG_TXT

    run(main, timeout=30)
