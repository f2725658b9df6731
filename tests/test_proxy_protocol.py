"""The PROXY protocol: the sans-I/O parser (known headers, every malformation, hypothesis
round trips and fuzzing) and a listener with ``proxy_protocol=True`` fed by raw sockets."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests import rt
from tests.tls_util import Pki, make_pki

import unisock
from unisock import testing as conformance
from unisock._base.options import SocketListenerInit
from unisock._transports.proxy_protocol import (
    V2_SIGNATURE,
    ProxyHeader,
    ProxyHeaderParser,
    ProxyProtocolError,
    crc32c,
    parse_header,
)

pytestmark = pytest.mark.trio  # every test that takes `run` runs on trio too

# -- an encoder, written from the specification (the peer's side) --------------------------


def v1(source: tuple[str, int] | None, destination: tuple[str, int] | None) -> bytes:
    if source is None or destination is None:
        return b"PROXY UNKNOWN\r\n"
    proto = "TCP6" if ":" in source[0] else "TCP4"
    return f"PROXY {proto} {source[0]} {destination[0]} {source[1]} {destination[1]}\r\n".encode()


def v2(
    source: tuple[str, int] | None = None,
    destination: tuple[str, int] | None = None,
    *,
    command: int = 1,
    tlvs: list[tuple[int, bytes]] | None = None,
    crc: bool = False,
    unix: bool = False,
    protocol: int = 1,
) -> bytes:
    if unix:
        family = 3
        addresses = b"/tmp/src".ljust(108, b"\0") + b"/tmp/dst".ljust(108, b"\0")
    elif source is None or destination is None:
        family, addresses = 0, b""
    elif ":" in source[0]:
        family = 2
        addresses = (
            ipaddress.IPv6Address(source[0]).packed
            + ipaddress.IPv6Address(destination[0]).packed
            + struct.pack("!HH", source[1], destination[1])
        )
    else:
        family = 1
        addresses = (
            ipaddress.IPv4Address(source[0]).packed
            + ipaddress.IPv4Address(destination[0]).packed
            + struct.pack("!HH", source[1], destination[1])
        )
    extensions = b"".join(struct.pack("!BH", t, len(v)) + v for t, v in tlvs or [])
    if crc:
        extensions += struct.pack("!BH", 0x03, 4) + b"\0\0\0\0"
    body = addresses + extensions
    header = V2_SIGNATURE + bytes([0x20 | command, family << 4 | protocol])
    header += struct.pack("!H", len(body)) + body
    if crc:
        header = header[:-4] + struct.pack("!I", crc32c(header))
    return header


# -- known headers ----------------------------------------------------------------------------


def test_crc32c_check_value() -> None:
    assert crc32c(b"123456789") == 0xE3069283  # the standard check value of CRC-32C
    assert crc32c(b"") == 0


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n",
            ProxyHeader(1, "PROXY", "inet", "stream", ("192.0.2.1", 56324), ("198.51.100.7", 443)),
        ),
        (
            b"PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n",
            ProxyHeader(1, "PROXY", "inet6", "stream", ("2001:db8::1", 1), ("2001:db8::2", 65535)),
        ),
        (b"PROXY UNKNOWN\r\n", ProxyHeader(1, "PROXY", "unspec", "unspec")),
        (
            b"PROXY UNKNOWN ffff:f...f:ffff 1.2.3.4 65535 65535\r\n",
            ProxyHeader(1, "PROXY", "unspec", "unspec"),
        ),
        (
            v2(("10.0.0.1", 1234), ("10.0.0.2", 80)),
            ProxyHeader(2, "PROXY", "inet", "stream", ("10.0.0.1", 1234), ("10.0.0.2", 80)),
        ),
        (
            v2(("::1", 5), ("fe80::1", 6), tlvs=[(0x01, b"h2"), (0x02, b"example.com")]),
            ProxyHeader(
                2,
                "PROXY",
                "inet6",
                "stream",
                ("::1", 5),
                ("fe80::1", 6),
                ((0x01, b"h2"), (0x02, b"example.com")),
            ),
        ),
        (v2(command=0), ProxyHeader(2, "LOCAL", "unspec", "stream")),
        (
            v2(("10.0.0.1", 1), ("10.0.0.2", 2), command=0),
            ProxyHeader(2, "LOCAL", "inet", "stream"),
        ),
        (v2(unix=True), ProxyHeader(2, "PROXY", "unix", "stream")),
        (
            v2(("10.0.0.1", 1), ("10.0.0.2", 2), protocol=2),
            ProxyHeader(2, "PROXY", "inet", "dgram", ("10.0.0.1", 1), ("10.0.0.2", 2)),
        ),
    ],
)
def test_known_headers(data: bytes, expected: ProxyHeader) -> None:
    assert parse_header(data + b"client bytes") == (expected, len(data))


def test_crc32c_tlv_is_checked() -> None:
    good = v2(("10.0.0.1", 1), ("10.0.0.2", 2), tlvs=[(0x05, b"id")], crc=True)
    header, used = parse_header(good) or (None, 0)
    assert header is not None and used == len(good)
    assert header.tlvs[-1][0] == 0x03
    bad = good[:-1] + bytes([good[-1] ^ 1])
    with pytest.raises(ProxyProtocolError, match="CRC32C checksum mismatch"):
        parse_header(bad)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"GET / HTTP/1.1\r\n", "not a PROXY protocol header"),
        (b"\x16\x03\x01\x02\x00", "not a PROXY protocol header"),  # a TLS ClientHello
        (b"PROXX", "not a PROXY protocol header"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "CRLF"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", "CRLF"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "single spaces"),
        (b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", "single spaces"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "single spaces"),
        (b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "not TCP4, TCP6 or UNKNOWN"),
        (b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", "not TCP4, TCP6 or UNKNOWN"),
        (b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "source address '::1' is not an IPv4"),
        (b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "source address '1.2.3.4' is not an IPv6"),
        (b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", "not an IPv6"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.256 1 2\r\n", "destination address"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "source port '65536'"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "source port '-1'"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 02\r\n", "leading zero"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 \xd9\xa3\r\n", "not ASCII"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\x00\r\n", "control character"),
        (b"PROXY UNKNOWN " + b"x" * 100, "no CRLF within 107 bytes"),
        (V2_SIGNATURE[:5] + b"X", "v2 signature mismatch"),
        (V2_SIGNATURE + b"\x11\x11\x00\x0c" + bytes(12), "version 1, not 2"),
        (V2_SIGNATURE + b"\x22\x11\x00\x0c" + bytes(12), "neither LOCAL nor PROXY"),
        (V2_SIGNATURE + b"\x21\x41\x00\x0c" + bytes(12), "unknown family/protocol 0x41"),
        (V2_SIGNATURE + b"\x21\x13\x00\x0c" + bytes(12), "unknown family/protocol 0x13"),
        (V2_SIGNATURE + b"\x21\x11\x00\x08" + bytes(8), "inet addresses need 12 bytes"),
        (V2_SIGNATURE + b"\x21\x21\x00\x0c" + bytes(12), "inet6 addresses need 36 bytes"),
        (V2_SIGNATURE + b"\x21\x11\x00\x0e" + bytes(14), "a TLV is cut short"),
        (V2_SIGNATURE + b"\x21\x11\x00\x10" + bytes(12) + b"\x01\x00\x09\x00", "TLV 0x01 claims 9"),
        (
            v2(("1.2.3.4", 1), ("1.2.3.4", 2), tlvs=[(0x03, b"\0\0")]),
            "the CRC32C TLV holds 2 bytes, not 4",
        ),
    ],
)
def test_malformed_headers(data: bytes, match: str) -> None:
    with pytest.raises(ProxyProtocolError, match=match):
        parse_header(data)


def test_garbage_is_refused_at_its_first_byte() -> None:
    parser = ProxyHeaderParser()
    assert parser.feed(b"PRO") is None  # could still be a header
    with pytest.raises(ProxyProtocolError):
        parser.feed(b"Z")
    with pytest.raises(ProxyProtocolError):
        ProxyHeaderParser().feed(b"G")


def test_parser_gives_the_header_once_with_the_rest() -> None:
    parser = ProxyHeaderParser()
    data = v1(("1.2.3.4", 10), ("5.6.7.8", 20)) + b"hello"
    assert parser.feed(data[:10]) is None
    result = parser.feed(data[10:])
    assert result is not None and result[1] == b"hello"
    with pytest.raises(ProxyProtocolError, match="parsed already"):
        parser.feed(b"more")


# -- hypothesis ----------------------------------------------------------------------------

ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(lambda a: socket.inet_ntop(socket.AF_INET6, a.packed))
ports = st.integers(0, 65535)


@st.composite
def headers(draw: st.DrawFn) -> tuple[bytes, ProxyHeader]:
    """A valid header of either version and the header the parser must return."""
    addresses = draw(st.sampled_from([ipv4, ipv6]))
    source = (draw(addresses), draw(ports))
    destination = (draw(addresses), draw(ports))
    family = "inet6" if ":" in source[0] else "inet"
    if draw(st.booleans()):
        if draw(st.integers(0, 9)) == 0:
            return v1(None, None), ProxyHeader(1, "PROXY", "unspec", "unspec")
        return v1(source, destination), ProxyHeader(
            1, "PROXY", family, "stream", source, destination
        )
    tlvs = draw(
        st.lists(
            st.tuples(st.integers(0, 255).filter(lambda t: t != 0x03), st.binary(max_size=40)),
            max_size=4,
        )
    )
    crc = draw(st.booleans())
    command = draw(st.sampled_from([0, 1]))
    data = v2(source, destination, command=command, tlvs=tlvs, crc=crc)
    all_tlvs = (*tlvs, (0x03, data[-4:])) if crc else tuple(tlvs)
    if command == 0:
        return data, ProxyHeader(2, "LOCAL", family, "stream", tlvs=all_tlvs)
    return data, ProxyHeader(2, "PROXY", family, "stream", source, destination, all_tlvs)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(headers(), st.binary(max_size=64), st.lists(st.integers(1, 64), max_size=20))
def test_round_trip_in_any_pieces(
    case: tuple[bytes, ProxyHeader], rest: bytes, cuts: list[int]
) -> None:
    data, expected = case
    stream = data + rest
    parser = ProxyHeaderParser()
    result = None
    at = 0
    for size in [*cuts, len(stream)]:
        piece = stream[at : at + size]
        at += len(piece)
        result = parser.feed(piece)
        if result is not None:
            break
    assert result is not None
    header, after = result
    assert header == expected
    assert after + stream[at:] == rest


@settings(max_examples=300)
@given(headers())
def test_every_proper_prefix_asks_for_more(case: tuple[bytes, ProxyHeader]) -> None:
    data, _ = case
    for end in range(len(data)):
        assert parse_header(data[:end]) is None


@settings(max_examples=1000)
@given(st.binary(max_size=300))
def test_fuzz_any_bytes(data: bytes) -> None:
    """Anything: a header, a request for more, or ProxyProtocolError; never another error."""
    try:
        result = parse_header(data)
    except ProxyProtocolError:
        return
    if result is not None:
        header, used = result
        assert 0 < used <= len(data)
        assert header.version in (1, 2)


@settings(max_examples=500)
@given(headers(), st.data())
def test_fuzz_mutated_headers(case: tuple[bytes, ProxyHeader], data: st.DataObject) -> None:
    header, _ = case
    at = data.draw(st.integers(0, len(header) - 1))
    flipped = data.draw(st.integers(1, 255))
    mutated = header[:at] + bytes([header[at] ^ flipped]) + header[at + 1 :]
    with contextlib.suppress(ProxyProtocolError):
        parse_header(mutated)


@settings(max_examples=200)
@given(st.binary(min_size=1, max_size=50).filter(lambda b: b[0] not in b"P\r"))
def test_anything_else_fails_at_once(data: bytes) -> None:
    with pytest.raises(ProxyProtocolError, match="not a PROXY protocol header"):
        parse_header(data)


# -- a listener with proxy_protocol=True, fed by raw sockets -----------------------------------


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


def _connect(listener: unisock.SocketListener) -> socket.socket:
    assert listener.local is not None
    raw = socket.create_connection((listener.local.address, listener.local.port))
    raw.setblocking(False)
    return raw


async def _send(raw: socket.socket, data: bytes) -> None:
    await rt.sock_sendall(raw, data)


async def _closed_by_peer(raw: socket.socket, within: float = 5) -> bool:
    """Whether the listener's side closed (EOF or reset) within ``within`` seconds."""
    try:
        while True:
            chunk = await rt.wait_for(rt.sock_recv(raw, 100), within)
            if not chunk:
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


@pytest.mark.parametrize("version", [1, 2])
def test_listener_reports_the_client_the_proxy_names(run: Any, version: int) -> None:
    async def main() -> None:
        async with unisock.SocketListener(proxy_protocol=True) as listener:
            header = (v1 if version == 1 else v2)(("203.0.113.9", 40000), ("198.51.100.1", 443))
            with _connect(listener) as raw:
                for i in range(len(header)):  # the header trickles in, a byte at a time
                    await _send(raw, header[i : i + 1])
                    await rt.sleep(0)
                await _send(raw, b"request")
                raw.shutdown(socket.SHUT_WR)
                server = await rt.wait_for(listener.accept(), 5)
                assert server.info.remote == unisock.SocketAddress("203.0.113.9", 40000)
                assert (await server.ready).remote == server.info.remote
                assert server.info.local == listener.local  # the real local end
                assert await conformance.read_all(server) == b"request"
                assert server.stats.bytes_received == len(b"request")  # the header is not data
                await server.close()

    run(main)


def test_header_and_data_in_one_segment(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener(proxy_protocol=True) as listener:
            with _connect(listener) as raw:
                await _send(raw, v2(("::ffff:1.2.3.4", 9), ("::1", 80)) + b"all at once")
                server = await rt.wait_for(listener.accept(), 5)
                async with conformance.settled(server):
                    assert server.info.remote == unisock.SocketAddress("::ffff:1.2.3.4", 9)
                    got = await server.readable.get_reader().read()
                    assert got.value == b"all at once"

    run(main)


@pytest.mark.parametrize(
    "header",
    [v2(command=0), v1(None, None), v2(unix=True)],
    ids=["v2-local", "v1-unknown", "v2-unix"],
)
def test_local_and_unknown_keep_the_real_peer(run: Any, header: bytes) -> None:
    async def main() -> None:
        async with unisock.SocketListener(proxy_protocol=True) as listener:
            with _connect(listener) as raw:
                await _send(raw, header + b"x")
                server = await rt.wait_for(listener.accept(), 5)
                async with conformance.settled(server):
                    assert server.info.remote == unisock.SocketAddress(*raw.getsockname())

    run(main)


def test_a_malformed_header_closes_that_connection_only(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener(proxy_protocol=True) as listener:
            good = _connect(listener)
            bad = [_connect(listener) for _ in range(3)]
            try:
                await _send(bad[0], b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # no header at all
                await _send(bad[1], b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n")
                await _send(bad[2], V2_SIGNATURE + b"\x21\x11\x00\x04abcd")
                for raw in bad:
                    assert await _closed_by_peer(raw)
                await _send(good, v1(("192.0.2.5", 5), ("192.0.2.6", 6)) + b"fine")
                server = await rt.wait_for(listener.accept(), 5)
                async with conformance.settled(server):
                    assert server.info.remote == unisock.SocketAddress("192.0.2.5", 5)
                assert not listener._queue  # the bad ones never reached the program
            finally:
                for raw in (good, *bad):
                    raw.close()

    run(main)


def test_a_header_that_does_not_arrive_in_time_closes_the_connection(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener(proxy_protocol=True, ready_timeout=0.3) as listener:
            silent = _connect(listener)
            partial = _connect(listener)
            try:
                await _send(partial, b"PROXY TCP4 1.2.3.4")  # and then nothing
                started = time.monotonic()
                assert await _closed_by_peer(silent)
                assert await _closed_by_peer(partial)
                assert 0.2 < time.monotonic() - started < 3
            finally:
                silent.close()
                partial.close()

    run(main)


def test_a_connection_that_ends_before_its_header_is_dropped(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener(proxy_protocol=True) as listener:
            with _connect(listener) as raw:
                await _send(raw, b"PROXY TCP4")
                raw.shutdown(socket.SHUT_WR)
                assert await _closed_by_peer(raw)
            with _connect(listener) as raw:
                await _send(raw, v1(("10.1.1.1", 1), ("10.1.1.2", 2)))
                server = await rt.wait_for(listener.accept(), 5)
                async with conformance.settled(server):
                    assert server.info.remote == unisock.SocketAddress("10.1.1.1", 1)

    run(main)


def test_tls_listener_reads_the_header_before_the_handshake(run: Any, pki: Pki) -> None:
    async def main() -> None:
        async with unisock.SocketListener(
            type="tls",
            cert=pki.server.cert_chain_pems[0].bytes(),
            key=pki.server.private_key_pem.bytes(),
            proxy_protocol=True,
        ) as listener:
            raw = _connect(listener)
            await _send(raw, v2(("2001:db8::7", 7000), ("2001:db8::1", 443)))
            client = unisock.Socket(type="tls", sock=raw, ca=pki.ca_pem, servername="localhost")
            await client.ready
            server = await rt.wait_for(listener.accept(), 5)
            async with conformance.settled(client, server):
                assert server.info.remote == unisock.SocketAddress("2001:db8::7", 7000)
                assert (await server.ready).remote == server.info.remote
                assert server.info.cipher is not None
                await client.writable.get_writer().write(b"secret")
                assert (await server.readable.get_reader().read()).value == b"secret"
            # a TLS ClientHello without the header is refused, and the listener goes on
            plain = unisock.Socket(
                type="tls", remote=listener.local, ca=pki.ca_pem, servername="localhost"
            )
            with pytest.raises(unisock.errors.NetworkError):
                await plain.ready

    run(main)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        (
            {"type": "udp", "proxy_protocol": True},
            "proxy_protocol needs a 'tcp' or 'tls' listener, not 'udp'",
        ),
        (
            {"type": "quic", "alpn": "h3", "cert": "c", "key": "k", "proxy_protocol": True},
            "not 'quic'",
        ),
        ({"proxy_protocol": 1}, "proxy_protocol must be True or False, got 1"),
    ],
)
def test_bad_proxy_protocol_values(fields: dict[str, Any], match: str) -> None:
    with pytest.raises((TypeError, ValueError), match=match):
        SocketListenerInit.parse(None, fields)


def test_a_trickled_v2_header_is_parsed_once_its_length_is_in() -> None:
    header = v2(("10.0.0.1", 1), ("10.0.0.2", 2), tlvs=[(0xE0, bytes(60000))])
    parser = ProxyHeaderParser()
    started = time.monotonic()
    for i in range(len(header) - 1):
        assert parser.feed(header[i : i + 1]) is None
    result = parser.feed(header[-1:])
    assert result is not None and result[0].tlvs[0] == (0xE0, bytes(60000))
    assert time.monotonic() - started < 5  # linear, not quadratic, in the header's size
