"""Fuzzing the TLS handshake observer (``_tls_names.HandshakeObserver``) with hypothesis.

It reads what a peer sends during the handshake (ClientHello, ServerHello and the TLS 1.2
messages in the clear), before OpenSSL has judged it.  Structure-aware cases: well-formed
records around random or truncated handshake messages, garbage bytes, random splits across
reads, both directions.  Asserted: no exception ever leaves ``feed``/``feed_messages``, no
hang (hypothesis' own time limit per example is off; the test has a timeout), the
buffers stay bounded, and the facts do not depend on how the bytes were split.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unisock._transports.tls.names import _MAX_BUFFERED, HandshakeObserver

pytestmark = pytest.mark.timeout(120)

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _vec(n: int, data: bytes) -> bytes:
    return len(data).to_bytes(n, "big") + data


def _ext(kind: int, data: bytes) -> bytes:
    return struct.pack(">HH", kind, len(data)) + data


sni = st.binary(max_size=40).map(lambda name: _ext(0, _vec(2, b"\x00" + _vec(2, name))))
sigalgs = st.lists(st.integers(0, 0xFFFF), max_size=20).map(
    lambda algs: _ext(13, _vec(2, b"".join(a.to_bytes(2, "big") for a in algs)))
)
key_share = st.integers(0, 0xFFFF).map(lambda g: _ext(51, g.to_bytes(2, "big")))
junk_ext = st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=30)).map(lambda t: _ext(*t))
extensions = st.lists(st.one_of(sni, sigalgs, key_share, junk_ext), max_size=6).map(
    lambda exts: _vec(2, b"".join(exts))
)


@st.composite
def client_hello(draw: Any) -> bytes:
    return (
        b"\x03\x03"
        + draw(st.binary(min_size=32, max_size=32))
        + _vec(1, draw(st.binary(max_size=32)))
        + _vec(2, draw(st.binary(max_size=20)))
        + _vec(1, b"\x00")
        + draw(extensions)
    )


@st.composite
def server_hello(draw: Any) -> bytes:
    return (
        b"\x03\x03"
        + draw(st.binary(min_size=32, max_size=32))
        + _vec(1, draw(st.binary(max_size=32)))
        + draw(st.integers(0, 0xFFFF)).to_bytes(2, "big")
        + b"\x00"
        + draw(extensions)
    )


@st.composite
def key_exchange(draw: Any) -> bytes:
    if draw(st.booleans()):
        return (
            b"\x03" + draw(st.integers(0, 0xFFFF)).to_bytes(2, "big") + draw(st.binary(max_size=8))
        )
    return _vec(2, draw(st.binary(max_size=40))) + draw(st.binary(max_size=8))


@st.composite
def handshake_message(draw: Any) -> bytes:
    kind = draw(st.sampled_from([1, 2, 4, 11, 12, 13, 0, 8, 255]))
    body = draw(
        {
            1: client_hello(),
            2: server_hello(),
            12: key_exchange(),
        }.get(kind, st.binary(max_size=64))
    )
    if draw(st.booleans()):  # truncated or padded: the length says one thing, the body another
        body = body[: draw(st.integers(0, len(body)))] + draw(st.binary(max_size=4))
    length = len(body)
    if draw(st.integers(0, 9)) == 0:
        length = draw(st.integers(0, (1 << 24) - 1))  # a lying length
    return bytes([kind]) + length.to_bytes(3, "big") + body


@st.composite
def records(draw: Any) -> bytes:
    out = b""
    for _ in range(draw(st.integers(1, 5))):
        ctype = draw(st.sampled_from([22, 22, 22, 21, 20, 23, 0, 99]))
        if ctype == 22:
            payload = b"".join(draw(st.lists(handshake_message(), min_size=1, max_size=3)))
        else:
            payload = draw(st.binary(max_size=20))
        length = len(payload)
        if draw(st.integers(0, 9)) == 0:
            length = draw(st.integers(0, 0xFFFF))
        out += bytes([ctype]) + b"\x03\x03" + length.to_bytes(2, "big") + payload
    if draw(st.booleans()):
        out = out[: draw(st.integers(0, len(out)))]
    return out


def _splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in [*points, len(data)]:
        pieces.append(data[last:p])
        last = p
    return pieces


def _facts(obs: HandshakeObserver) -> tuple[Any, ...]:
    return (
        obs.servername,
        obs.sigalgs,
        obs.cipher_code,
        obs.group,
        obs.ticket,
        obs.client_cert_requested,
        obs.client_sent_certificate,
    )


def _buffered(obs: HandshakeObserver) -> int:
    return sum(len(d.raw) + len(d.handshake) for d in (obs._client, obs._server))


@FUZZ
@given(
    client=records(),
    server=records(),
    cuts=st.lists(st.integers(0, 10_000), max_size=8),
    server_side=st.booleans(),
)
def test_records_in_any_split(
    client: bytes, server: bytes, cuts: list[int], server_side: bool
) -> None:
    whole = HandshakeObserver(server_side)
    whole.feed(client, outgoing=not server_side)
    whole.feed(server, outgoing=server_side)
    split = HandshakeObserver(server_side)
    for piece in _splits(client, cuts):
        split.feed(piece, outgoing=not server_side)
    for piece in _splits(server, cuts):
        split.feed(piece, outgoing=server_side)
    assert _facts(split) == _facts(whole)
    assert _buffered(split) <= _MAX_BUFFERED * 2 + 2 * (5 + 0xFFFF)


@FUZZ
@given(data=st.binary(max_size=2000), cuts=st.lists(st.integers(0, 2000), max_size=8))
def test_garbage(data: bytes, cuts: list[int]) -> None:
    for server_side in (False, True):
        obs = HandshakeObserver(server_side)
        for piece in _splits(data, cuts):
            obs.feed(piece, outgoing=False)
            obs.feed(piece, outgoing=True)
        obs.feed_messages(data, outgoing=False)


@FUZZ
@given(
    messages=st.lists(handshake_message(), min_size=1, max_size=4),
    cuts=st.lists(st.integers(0, 10_000), max_size=8),
    server_side=st.booleans(),
)
def test_quic_crypto_frames(messages: list[bytes], cuts: list[int], server_side: bool) -> None:
    data = b"".join(messages)
    obs = HandshakeObserver(server_side)
    for piece in _splits(data, cuts):
        obs.feed_messages(piece, outgoing=False)
        obs.feed_messages(piece, outgoing=True)
    assert _buffered(obs) <= 2 * _MAX_BUFFERED


def test_a_lying_length_does_not_buffer_without_bound() -> None:
    """A handshake message header claiming 16 MiB, then endless handshake records."""
    obs = HandshakeObserver(server_side=True)
    obs.feed(b"\x16\x03\x03\x00\x04\x01\xff\xff\xff", outgoing=False)
    record = b"\x16\x03\x03\xff\xff" + b"\x00" * 0xFFFF
    for _ in range(64):  # 4 MiB
        obs.feed(record, outgoing=False)
    assert _buffered(obs) <= _MAX_BUFFERED + 5 + 0xFFFF
    obs.feed_messages(b"\x01\xff\xff\xff" + b"\x00" * (2 * _MAX_BUFFERED), outgoing=False)
    assert _buffered(obs) <= _MAX_BUFFERED + 5 + 0xFFFF
