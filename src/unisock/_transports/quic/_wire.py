"""The few QUIC wire formats the listener handles itself, before any core sees a datagram.

Why here and not in the core: a datagram for an unknown connection ID must be judged
(parse the header, check that its Initial decrypts, answer with a Version Negotiation or a
Retry) without creating any connection state, and neither QUIC core offers that as public
API.  Written from RFC 9000 (section 17), RFC 9001 (sections 5.2, 5.4, 5.8) and RFC 8999,
on ``cryptography`` only, so the listener's hardening is the same whichever core runs.
"""

from __future__ import annotations

import hmac
import os
import struct
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

__all__ = [
    "CID_LENGTH",
    "INITIAL",
    "RETRY",
    "VERSION_1",
    "Header",
    "RetryTokens",
    "encode_retry",
    "encode_version_negotiation",
    "initial_decrypts",
    "parse_header",
]

VERSION_1 = 0x00000001
CID_LENGTH = 8
"""Length of the connection IDs our servers issue (both cores use 8)."""

INITIAL, ZERO_RTT, HANDSHAKE, RETRY = 0, 1, 2, 3
VERSION_NEGOTIATION = -1
SHORT = -2

_V1_SALT = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")
_RETRY_KEY = bytes.fromhex("be0c690b9f66575a1d766b54e368c84e")
_RETRY_NONCE = bytes.fromhex("461599d35d632bf2239825bb")


class WireError(ValueError):
    """Not a well-formed QUIC packet header."""


@dataclass(frozen=True, slots=True)
class Header:
    """What the listener reads from a packet header (RFC 9000 section 17)."""

    packet_type: int
    version: int | None
    destination_cid: bytes
    source_cid: bytes = b""
    token: bytes = b""
    pn_offset: int = 0
    """Offset of the (protected) packet number, for long headers with a length field."""
    packet_end: int = 0
    """End of this packet in the datagram (long headers with a length field)."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise WireError("truncated varint")
    first = data[pos]
    size = 1 << (first >> 6)
    if pos + size > len(data):
        raise WireError("truncated varint")
    value = first & 0x3F
    for i in range(1, size):
        value = (value << 8) | data[pos + i]
    return value, pos + size


def _cid(data: bytes, pos: int) -> tuple[bytes, int]:
    if pos >= len(data):
        raise WireError("truncated header")
    n = data[pos]
    if n > 20 or pos + 1 + n > len(data):
        raise WireError("bad connection ID length")
    return data[pos + 1 : pos + 1 + n], pos + 1 + n


def parse_header(data: bytes) -> Header:
    """Parse the first packet's header; raises :class:`WireError` on anything malformed."""
    if not data:
        raise WireError("empty datagram")
    first = data[0]
    if not first & 0x80:
        if len(data) < 1 + CID_LENGTH:
            raise WireError("short header too short")
        return Header(SHORT, None, data[1 : 1 + CID_LENGTH])
    if len(data) < 7:
        raise WireError("long header too short")
    version = struct.unpack_from("!I", data, 1)[0]
    dcid, pos = _cid(data, 5)
    scid, pos = _cid(data, pos)
    if version == 0:
        return Header(VERSION_NEGOTIATION, 0, dcid, scid)
    kind = (first >> 4) & 0x03
    token = b""
    if version != VERSION_1:
        return Header(kind, version, dcid, scid)  # answered with a Version Negotiation
    if kind == RETRY:
        return Header(RETRY, version, dcid, scid)
    if kind == INITIAL:
        length, pos = _varint(data, pos)
        if pos + length > len(data):
            raise WireError("token overruns the datagram")
        token = data[pos : pos + length]
        pos += length
    length, pos = _varint(data, pos)
    if pos + length > len(data) or length < 20:
        raise WireError("packet length overruns the datagram")
    return Header(kind, version, dcid, scid, token, pos, pos + length)


def _expand_label(secret: bytes, label: bytes, length: int) -> bytes:
    full = b"tls13 " + label
    info = struct.pack("!HB", length, len(full)) + full + b"\x00"
    return HKDFExpand(hashes.SHA256(), length, info).derive(secret)


def initial_decrypts(data: bytes, header: Header) -> bool:
    """Whether a client Initial decrypts with the keys of its destination connection ID.

    One HKDF derivation, one AES block for the header protection and one AEAD check: what
    a forged Initial costs the listener, and all it leaves behind.
    """
    if header.packet_type != INITIAL or header.version != VERSION_1:
        return False
    try:
        initial = hmac.new(_V1_SALT, header.destination_cid, "sha256").digest()
        secret = _expand_label(initial, b"client in", 32)
        key = _expand_label(secret, b"quic key", 16)
        iv = _expand_label(secret, b"quic iv", 12)
        hp = _expand_label(secret, b"quic hp", 16)
        pn_offset, end = header.pn_offset, header.packet_end
        sample = data[pn_offset + 4 : pn_offset + 20]
        if len(sample) != 16:
            return False
        encryptor = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
        mask = encryptor.update(sample) + encryptor.finalize()
        first = data[0] ^ (mask[0] & 0x0F)
        pn_length = (first & 0x03) + 1
        pn_bytes = bytes(
            b ^ m for b, m in zip(data[pn_offset : pn_offset + pn_length], mask[1:], strict=False)
        )
        aad = bytes([first]) + data[1:pn_offset] + pn_bytes
        pn = int.from_bytes(pn_bytes, "big")
        nonce = (int.from_bytes(iv, "big") ^ pn).to_bytes(12, "big")
        AESGCM(key).decrypt(nonce, data[pn_offset + pn_length : end], aad)
    except Exception:
        return False
    return True


def encode_version_negotiation(
    *, source_cid: bytes, destination_cid: bytes, versions: list[int]
) -> bytes:
    """A Version Negotiation packet (RFC 9000 section 17.2.1) offering ``versions``."""
    return (
        bytes([0x80 | (os.urandom(1)[0] & 0x7F)])
        + b"\x00\x00\x00\x00"
        + bytes([len(destination_cid)])
        + destination_cid
        + bytes([len(source_cid)])
        + source_cid
        + b"".join(struct.pack("!I", v) for v in versions)
    )


def encode_retry(
    *, source_cid: bytes, destination_cid: bytes, original_destination_cid: bytes, token: bytes
) -> bytes:
    """A Retry packet (RFC 9000 section 17.2.5) with its integrity tag (RFC 9001 5.8)."""
    packet = (
        bytes([0xF0 | (os.urandom(1)[0] & 0x0F)])
        + struct.pack("!I", VERSION_1)
        + bytes([len(destination_cid)])
        + destination_cid
        + bytes([len(source_cid)])
        + source_cid
        + token
    )
    pseudo = bytes([len(original_destination_cid)]) + original_destination_cid + packet
    tag = AESGCM(_RETRY_KEY).encrypt(_RETRY_NONCE, b"", pseudo)
    return packet + tag


class RetryTokens:
    """Address-validation tokens for Retry: sealed with a per-listener key, short-lived.

    A token binds the client's address, the connection ID it first used and the one our
    Retry gave it, and the time; only this listener can open it.
    """

    LIFETIME = 10.0

    def __init__(self) -> None:
        self._aead = AESGCM(AESGCM.generate_key(bit_length=128))

    @staticmethod
    def _address(addr: tuple[object, ...]) -> bytes:
        return f"{addr[0]}|{addr[1]}".encode()

    def create(self, addr: tuple[object, ...], original_cid: bytes, retry_cid: bytes) -> bytes:
        nonce = os.urandom(12)
        body = struct.pack("!d", time.time()) + bytes([len(original_cid)]) + original_cid
        return nonce + self._aead.encrypt(nonce, body, self._address(addr) + retry_cid)

    def validate(self, addr: tuple[object, ...], retry_cid: bytes, token: bytes) -> bytes:
        """The original destination connection ID; ``ValueError`` if the token is bad."""
        try:
            body = self._aead.decrypt(token[:12], token[12:], self._address(addr) + retry_cid)
        except Exception:
            raise ValueError("invalid retry token") from None
        (stamp,) = struct.unpack_from("!d", body)
        if not 0 <= time.time() - stamp <= self.LIFETIME:
            raise ValueError("expired retry token")
        n = body[8]
        return body[9 : 9 + n]
