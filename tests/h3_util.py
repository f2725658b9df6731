"""The least of HTTP/3 (RFC 9114) that the ngtcp2 interop tests need, by hand: QUIC
variable-length integers, frames, the control stream's SETTINGS, and request/response
HEADERS through ``pylsqpack`` with no dynamic table (QPACK_MAX_TABLE_CAPACITY 0, so no
encoder or decoder stream is needed)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pylsqpack
from tests.conftest import wait_for

import unisock

STREAM_CONTROL = 0x00
STREAM_PUSH = 0x01
STREAM_QPACK_ENCODER = 0x02
STREAM_QPACK_DECODER = 0x03

FRAME_DATA = 0x00
FRAME_HEADERS = 0x01
FRAME_SETTINGS = 0x04
FRAME_GOAWAY = 0x07

SETTINGS_QPACK_MAX_TABLE_CAPACITY = 0x01
SETTINGS_MAX_FIELD_SECTION_SIZE = 0x06
SETTINGS_QPACK_BLOCKED_STREAMS = 0x07

H3_NO_ERROR = 0x100

Headers = list[tuple[bytes, bytes]]


def encode_varint(value: int) -> bytes:
    """RFC 9000 section 16: 1, 2, 4 or 8 bytes, the top two bits giving the length."""
    if value < 0x40:
        return value.to_bytes(1, "big")
    if value < 0x4000:
        return (value | 0x4000).to_bytes(2, "big")
    if value < 0x4000_0000:
        return (value | 0x8000_0000).to_bytes(4, "big")
    if value < 0x4000_0000_0000_0000:
        return (value | 0xC000_0000_0000_0000).to_bytes(8, "big")
    raise ValueError(f"{value} does not fit a QUIC varint")


def decode_varint(data: bytes | bytearray, offset: int = 0) -> tuple[int, int] | None:
    """(value, offset after it), or ``None`` if ``data`` ends inside the integer."""
    if offset >= len(data):
        return None
    length = 1 << (data[offset] >> 6)
    if offset + length > len(data):
        return None
    value = int.from_bytes(data[offset : offset + length], "big") & ((1 << (8 * length - 2)) - 1)
    return value, offset + length


def frame(kind: int, payload: bytes) -> bytes:
    return encode_varint(kind) + encode_varint(len(payload)) + payload


def settings_frame(settings: Iterable[tuple[int, int]] = ()) -> bytes:
    return frame(FRAME_SETTINGS, b"".join(encode_varint(k) + encode_varint(v) for k, v in settings))


def parse_settings(payload: bytes) -> dict[int, int]:
    out: dict[int, int] = {}
    offset = 0
    while offset < len(payload):
        key = decode_varint(payload, offset)
        assert key is not None
        value = decode_varint(payload, key[1])
        assert value is not None
        out[key[0]] = value[0]
        offset = value[1]
    return out


class QpackCodec:
    """QPACK with the static table and literals only (what a peer must accept while our
    SETTINGS announce a dynamic table of 0 bytes, the default)."""

    def __init__(self) -> None:
        self.encoder = pylsqpack.Encoder()
        self.decoder = pylsqpack.Decoder(0, 0)

    def encode(self, stream_id: int, headers: Headers) -> bytes:
        encoder_stream, block = self.encoder.encode(stream_id, headers)
        assert encoder_stream == b"", "no dynamic table: nothing for an encoder stream"
        return block

    def decode(self, stream_id: int, block: bytes) -> Headers:
        decoder_stream, headers = self.decoder.feed_header(stream_id, block)
        assert decoder_stream == b"", "no dynamic table: nothing for a decoder stream"
        return list(headers)


class FrameReader:
    """Reads a stream type (uni streams) and whole HTTP/3 frames from a socket."""

    def __init__(self, sock: unisock.Socket, timeout: float = 30) -> None:
        assert sock.readable is not None
        self.reader: Any = sock.readable.get_reader()
        self.buffer = bytearray()
        self.eof = False
        self.timeout = timeout

    async def _more(self) -> bool:
        result = await wait_for(self.reader.read(), self.timeout)
        if result.done:
            self.eof = True
            return False
        self.buffer += result.value
        return True

    async def varint(self) -> int | None:
        """The next varint, or ``None`` at a clean EOF before it."""
        while True:
            decoded = decode_varint(self.buffer)
            if decoded is not None:
                value, end = decoded
                del self.buffer[:end]
                return value
            if not await self._more():
                if self.buffer:
                    raise EOFError(f"EOF inside a varint: {bytes(self.buffer)!r}")
                return None

    async def frame(self) -> tuple[int, bytes] | None:
        """(type, payload) of the next frame, or ``None`` at a clean EOF between frames."""
        kind = await self.varint()
        if kind is None:
            return None
        length = await self.varint()
        if length is None:
            raise EOFError("EOF inside a frame header")
        while len(self.buffer) < length:
            if not await self._more():
                raise EOFError(f"EOF after {len(self.buffer)} of {length} payload bytes")
        payload = bytes(self.buffer[:length])
        del self.buffer[:length]
        return kind, payload

    def release(self) -> None:
        self.reader.release_lock()


def request_headers(authority: str, path: str, method: str = "GET") -> Headers:
    return [
        (b":method", method.encode()),
        (b":scheme", b"https"),
        (b":authority", authority.encode()),
        (b":path", path.encode()),
        (b"user-agent", b"unisock-interop-test"),
    ]


async def open_control_stream(connection: Any) -> unisock.Socket:
    """Our control stream: its type and an empty SETTINGS (every default). It must stay
    open for the connection's life (closing it is H3_CLOSED_CRITICAL_STREAM)."""
    control: unisock.Socket = await connection.create_unidirectional_stream()
    assert control.readable is None and control.writable is not None
    writer = control.writable.get_writer()
    await writer.write(encode_varint(STREAM_CONTROL) + settings_frame())
    writer.release_lock()
    return control


async def read_peer_settings(connection: Any, timeout: float = 30) -> dict[int, int]:
    """Take the peer's uni streams until its control stream; return its SETTINGS.

    The peer's QPACK encoder/decoder streams are passed over: with no dynamic table they
    carry no more than their type byte, and they end with the connection."""
    incoming = connection.incoming_unidirectional_streams.get_reader()
    try:
        for _ in range(8):
            result = await wait_for(incoming.read(), timeout)
            assert not result.done, "connection ended before the peer's control stream"
            stream: unisock.Socket = result.value
            assert stream.writable is None and stream.readable is not None
            frames = FrameReader(stream, timeout)
            kind = await frames.varint()
            if kind != STREAM_CONTROL:
                frames.release()
                continue
            first = await frames.frame()
            frames.release()
            assert first is not None and first[0] == FRAME_SETTINGS, first
            return parse_settings(first[1])
    finally:
        incoming.release_lock()
    raise AssertionError("no control stream among the peer's first unidirectional streams")


async def response(
    sock: unisock.Socket, codec: QpackCodec, stream_id: int = 0
) -> tuple[Headers, bytes]:
    """Read one response on a request stream: HEADERS, then DATA to the stream's end.
    Frame types this helper does not know (reserved, grease) are skipped as RFC 9114 says."""
    frames = FrameReader(sock)
    headers: Headers | None = None
    body = bytearray()
    try:
        while (item := await frames.frame()) is not None:
            kind, payload = item
            if kind == FRAME_HEADERS:
                decoded = codec.decode(stream_id, payload)
                if headers is None:
                    headers = decoded
                # a second HEADERS is the trailer section: nothing to check here
            elif kind == FRAME_DATA:
                assert headers is not None, "DATA before HEADERS"
                body += payload
    finally:
        frames.release()
    assert headers is not None, "no HEADERS frame in the response"
    return headers, bytes(body)


async def request(sock: unisock.Socket, codec: QpackCodec) -> tuple[Headers, bytes]:
    """Read one request on a request stream (server side): HEADERS, DATA to the end."""
    return await response(sock, codec)
