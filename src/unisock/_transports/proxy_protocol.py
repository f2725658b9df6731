"""The PROXY protocol (HAProxy's, versions 1 and 2), parsed without I/O.

A load balancer that forwards TCP connections (HAProxy ``send-proxy``/``send-proxy-v2``,
AWS NLB, nginx ``proxy_protocol on``) sends one header before the client's bytes, naming
the client it accepted.  The listener feeds what arrives to ``ProxyHeaderParser.feed``
until it returns the header and the bytes after it (the client's own: a TLS ClientHello,
an HTTP request).

Strict on purpose: the header is trusted to say who the client is, so anything not exactly
as the specification writes it raises ``ProxyProtocolError`` at the first byte that
cannot belong to a header (a plain HTTP request fails at ``G``), never after waiting for
more.  Sizes are bounded: a v1 line is at most 107 bytes, a v2 header at most 16 + 65,535.

Specification: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass

__all__ = [
    "V1_MAX",
    "V2_SIGNATURE",
    "ProxyHeader",
    "ProxyHeaderParser",
    "ProxyProtocolError",
    "crc32c",
    "parse_header",
]

V1_PREFIX = b"PROXY "
V1_MAX = 107
"""The longest v1 line, CRLF included (``PROXY UNKNOWN`` with two IPv6 addresses)."""
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_FIXED = 16  # signature, version/command, family/protocol, length

_V2_FAMILIES = {0x0: "unspec", 0x1: "inet", 0x2: "inet6", 0x3: "unix"}
_V2_PROTOCOLS = {0x0: "unspec", 0x1: "stream", 0x2: "dgram"}
_V2_ADDRESS_SIZES = {"inet": 12, "inet6": 36, "unix": 216}

PP2_TYPE_CRC32C = 0x03


class ProxyProtocolError(ValueError):
    """A header that is not a PROXY protocol header, or is malformed."""


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """What the proxy said about the connection.

    ``command`` is ``"PROXY"`` (relayed: ``source`` is the client) or ``"LOCAL"`` (the
    proxy's own connection, a health check: use the real endpoints).  ``source`` and
    ``destination`` are ``(host, port)`` for TCP/UDP over IPv4/IPv6, ``None`` otherwise
    (v1 ``UNKNOWN``, v2 ``UNSPEC``, Unix sockets).  ``tlvs`` are v2's type-length-value
    extensions in order (ALPN, authority, unique id, SSL details...).
    """

    version: int
    command: str
    family: str  # "inet", "inet6", "unix", "unspec"
    protocol: str  # "stream", "dgram", "unspec"
    source: tuple[str, int] | None = None
    destination: tuple[str, int] | None = None
    tlvs: tuple[tuple[int, bytes], ...] = ()


def _make_crc32c_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE = _make_crc32c_table()


def crc32c(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-32C (Castagnoli), the checksum of v2's ``PP2_TYPE_CRC32C``."""
    crc ^= 0xFFFFFFFF
    table = _CRC32C_TABLE
    for byte in bytes(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# -- v1 --------------------------------------------------------------------------------------


def _v1_port(text: str, which: str) -> int:
    if not text.isdigit() or not text.isascii() or len(text) > 5 or int(text) > 65535:
        raise ProxyProtocolError(f"v1 header: {which} port {text!r} is not a port (0..65535)")
    if len(text) > 1 and text[0] == "0":
        raise ProxyProtocolError(f"v1 header: {which} port {text!r} has a leading zero")
    return int(text)


def _v1_address(text: str, version: int, which: str) -> str:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        address = None
    if address is None or address.version != version or "%" in text:
        kind = "IPv4" if version == 4 else "IPv6"
        raise ProxyProtocolError(f"v1 header: {which} address {text!r} is not an {kind} address")
    return _text(address.packed)


def _text(packed: bytes) -> str:
    """An address as the OS writes it (``getpeername``): ``::ffff:1.2.3.4``, not
    ``ipaddress``'s ``::ffff:102:304`` (Python before 3.13)."""
    family = socket.AF_INET if len(packed) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, packed)


def _parse_v1(line: bytes) -> ProxyHeader:
    """``line`` without its CRLF."""
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise ProxyProtocolError("v1 header: not ASCII") from None
    if not text.isprintable():
        raise ProxyProtocolError(f"v1 header: a control character in {text[:40]!r}")
    parts = text.split(" ")
    if parts[0] != "PROXY" or len(parts) < 2:
        raise ProxyProtocolError(f"v1 header: does not start with 'PROXY ': {text[:40]!r}")
    proto = parts[1]
    if proto == "UNKNOWN":  # the proxy cannot tell: the rest of the line is ignored
        return ProxyHeader(1, "PROXY", "unspec", "unspec")
    if proto not in ("TCP4", "TCP6"):
        raise ProxyProtocolError(f"v1 header: protocol {proto[:10]!r} is not TCP4, TCP6 or UNKNOWN")
    if len(parts) != 6:
        raise ProxyProtocolError(
            f"v1 header: {proto} needs source, destination and two ports separated by single "
            f"spaces, got {text[:60]!r}"
        )
    version = 4 if proto == "TCP4" else 6
    source = _v1_address(parts[2], version, "source")
    destination = _v1_address(parts[3], version, "destination")
    sport = _v1_port(parts[4], "source")
    dport = _v1_port(parts[5], "destination")
    return ProxyHeader(
        1,
        "PROXY",
        "inet" if version == 4 else "inet6",
        "stream",
        (source, sport),
        (destination, dport),
    )


# -- v2 --------------------------------------------------------------------------------------


def _tlvs(data: bytes) -> tuple[tuple[int, bytes], ...]:
    found: list[tuple[int, bytes]] = []
    at = 0
    while at < len(data):
        if len(data) - at < 3:
            raise ProxyProtocolError("v2 header: a TLV is cut short (fewer than 3 bytes left)")
        kind = data[at]
        (size,) = struct.unpack_from("!H", data, at + 1)
        if at + 3 + size > len(data):
            raise ProxyProtocolError(
                f"v2 header: TLV 0x{kind:02x} claims {size} bytes, only {len(data) - at - 3} left"
            )
        found.append((kind, data[at + 3 : at + 3 + size]))
        at += 3 + size
    return tuple(found)


def _check_crc(header: bytes, tlvs: tuple[tuple[int, bytes], ...], tlv_start: int) -> None:
    """Verify a ``PP2_TYPE_CRC32C`` TLV: the checksum of the header with its value zeroed."""
    at = tlv_start
    for kind, value in tlvs:
        if kind == PP2_TYPE_CRC32C:
            if len(value) != 4:
                raise ProxyProtocolError(
                    f"v2 header: the CRC32C TLV holds {len(value)} bytes, not 4"
                )
            zeroed = header[: at + 3] + b"\x00\x00\x00\x00" + header[at + 7 :]
            if crc32c(zeroed) != struct.unpack("!I", value)[0]:
                raise ProxyProtocolError("v2 header: CRC32C checksum mismatch")
        at += 3 + len(value)


def _parse_v2(header: bytes) -> ProxyHeader:
    """A whole v2 header (``V2_FIXED`` + its length)."""
    version_command, family_protocol = header[12], header[13]
    command = "LOCAL" if version_command & 0x0F == 0 else "PROXY"
    family = _V2_FAMILIES[family_protocol >> 4]
    protocol = _V2_PROTOCOLS[family_protocol & 0x0F]
    body = header[V2_FIXED:]
    size = _V2_ADDRESS_SIZES.get(family, 0)
    if len(body) < size:
        raise ProxyProtocolError(
            f"v2 header: {family} addresses need {size} bytes, the header holds {len(body)}"
        )
    tlvs = _tlvs(body[size:])
    _check_crc(header, tlvs, V2_FIXED + size)
    if command == "LOCAL":  # the proxy's own connection: the block is discarded
        return ProxyHeader(2, "LOCAL", family, protocol, tlvs=tlvs)
    source = destination = None
    if family == "inet":
        src, dst, sport, dport = struct.unpack_from("!4s4sHH", body)
        source, destination = (_text(src), sport), (_text(dst), dport)
    elif family == "inet6":
        src, dst, sport, dport = struct.unpack_from("!16s16sHH", body)
        source, destination = (_text(src), sport), (_text(dst), dport)
    return ProxyHeader(2, "PROXY", family, protocol, source, destination, tlvs)


def _check_v2_start(data: bytes) -> int | None:
    """The whole v2 header's size once known; raises at the first impossible byte."""
    seen = data[: len(V2_SIGNATURE)]
    if not V2_SIGNATURE.startswith(seen):
        raise ProxyProtocolError("not a PROXY protocol header (v2 signature mismatch)")
    if len(data) > 12:
        version_command = data[12]
        if version_command >> 4 != 2:
            raise ProxyProtocolError(f"v2 header: version {version_command >> 4}, not 2")
        if version_command & 0x0F > 1:
            raise ProxyProtocolError(
                f"v2 header: command 0x{version_command & 0x0F:x} is neither LOCAL nor PROXY"
            )
    if len(data) > 13:
        family_protocol = data[13]
        if family_protocol >> 4 not in _V2_FAMILIES or family_protocol & 0x0F not in _V2_PROTOCOLS:
            raise ProxyProtocolError(f"v2 header: unknown family/protocol 0x{family_protocol:02x}")
    if len(data) < V2_FIXED:
        return None
    length: int = struct.unpack_from("!H", data, 14)[0]
    return V2_FIXED + length


# -- both ------------------------------------------------------------------------------------


def parse_header(data: bytes) -> tuple[ProxyHeader, int] | None:
    """``(header, bytes it took)`` from the start of ``data``, ``None`` if more is needed.

    Raises ``ProxyProtocolError`` as soon as ``data`` cannot start a valid header.
    """
    if not data:
        return None
    if data[0] == V1_PREFIX[0]:
        if not V1_PREFIX.startswith(data[: len(V1_PREFIX)]):
            raise ProxyProtocolError(f"not a PROXY protocol header: {data[:16]!r}")
        end = data.find(b"\r\n", 0, V1_MAX)
        if end < 0:
            carriage = data.find(b"\r", 0, V1_MAX)
            if data.find(b"\n", 0, V1_MAX) >= 0 or 0 <= carriage < len(data) - 1:
                raise ProxyProtocolError("v1 header: a line must end with CRLF")
            if len(data) >= V1_MAX:
                raise ProxyProtocolError(f"v1 header: no CRLF within {V1_MAX} bytes")
            return None
        return _parse_v1(data[:end]), end + 2
    if data[0] == V2_SIGNATURE[0]:
        total = _check_v2_start(data)
        if total is None or len(data) < total:
            return None
        return _parse_v2(bytes(data[:total])), total
    raise ProxyProtocolError(f"not a PROXY protocol header: {data[:16]!r}")


class ProxyHeaderParser:
    """Feed bytes as they arrive; ``feed`` returns ``(header, the bytes after it)`` once.

    Once a v2 header's length is known, nothing is parsed again until that many bytes are
    in: a peer trickling a 64 KiB header a byte at a time costs one parse, not 65,535
    parses of a growing buffer."""

    __slots__ = ("_buffer", "_done", "_needed")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._done = False
        self._needed = 1

    def feed(self, data: bytes | bytearray | memoryview) -> tuple[ProxyHeader, bytes] | None:
        if self._done:
            raise ProxyProtocolError("the header was parsed already")
        self._buffer += data
        if len(self._buffer) < self._needed:
            return None
        result = parse_header(bytes(self._buffer))
        if result is None:
            self._needed = len(self._buffer) + 1
            if len(self._buffer) >= V2_FIXED and self._buffer[0] == V2_SIGNATURE[0]:
                self._needed = V2_FIXED + int.from_bytes(self._buffer[14:16], "big")
            return None
        header, used = result
        rest = bytes(self._buffer[used:])
        self._done = True
        self._buffer = bytearray()
        return header, rest
