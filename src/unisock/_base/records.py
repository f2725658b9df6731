"""``SocketInfo`` (what the socket is connected to, and how) and ``SocketStats`` (counters)."""

from __future__ import annotations

import socket as _socket
import struct
from dataclasses import dataclass
from typing import Any

from .address import SocketAddress

__all__ = ["CipherInfo", "EphemeralKeyInfo", "SocketInfo", "SocketStats"]


@dataclass(frozen=True, slots=True)
class CipherInfo:
    """The negotiated cipher suite."""

    name: str
    """OpenSSL's name (``ECDHE-RSA-AES128-GCM-SHA256``)."""
    standard_name: str | None
    """The IANA name (``TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256``)."""
    version: str
    """The protocol version (``TLSv1.3``)."""


@dataclass(frozen=True, slots=True)
class EphemeralKeyInfo:
    """The key exchange of the handshake, as Node.js ``getEphemeralKeyInfo()`` spells it."""

    type: str
    """``"ECDH"`` (elliptic curves, X25519, X448), ``"DH"`` (finite field) or ``"KEM"``
    (ML-KEM alone or in a hybrid such as ``X25519MLKEM768``); ``"unknown"`` for a group
    missing from the IANA registry."""
    name: str | None
    """The group (``X25519``, ``prime256v1``, ``ffdhe2048``, ``X25519MLKEM768``); ``None``
    for custom DH; ``"0x...."`` for an unknown group."""
    size: int
    """Key size in bits (for ``"KEM"``: the ML-KEM parameter set; 0 when unknown)."""


@dataclass(frozen=True, slots=True)
class SocketInfo:
    """A snapshot of what a socket is: its type and addresses, and TLS details where any.

    TLS fields the TLS library cannot tell are ``None`` (see docs/design.md).
    """

    type: str
    remote: SocketAddress | None
    local: SocketAddress | None
    servername: str | None = None
    certificate: bytes | None = None
    peer_certificate: bytes | None = None
    verification_status: str | None = None
    cipher: CipherInfo | None = None
    ephemeral_key: EphemeralKeyInfo | None = None
    session: Any = None
    ticket: bytes | None = None
    signature_algorithms: tuple[str, ...] | None = None
    session_reused: bool | None = None
    early_data_accepted: bool | None = None


# struct tcp_info (linux/tcp.h): tcpi_segs_out and tcpi_segs_in are the u32s at 136 and 140.
_TCP_INFO = getattr(_socket, "TCP_INFO", None)
_TCP_INFO_LEN = 144
_SEGS = struct.Struct("=II")


def tcp_segments(sock: _socket.socket | None) -> tuple[int, int] | None:
    """(segments sent, segments received) from the kernel's TCP_INFO, or None."""
    if sock is None or _TCP_INFO is None:
        return None
    try:
        raw = sock.getsockopt(_socket.IPPROTO_TCP, _TCP_INFO, _TCP_INFO_LEN)
    except OSError:
        return None
    if len(raw) < _TCP_INFO_LEN:
        return None
    out, inn = _SEGS.unpack_from(raw, 136)
    return out, inn


class SocketStats:
    """Live counters: payload bytes and packets (segments, datagrams or QUIC packets)."""

    __slots__ = ("_source",)

    def __init__(self, source: Any) -> None:
        self._source = source

    @property
    def bytes_sent(self) -> int:
        return int(self._source._stat_bytes_sent())

    @property
    def bytes_received(self) -> int:
        return int(self._source._bytes_received)

    @property
    def packets_sent(self) -> int:
        return int(self._source._stat_packets()[0])

    @property
    def packets_received(self) -> int:
        return int(self._source._stat_packets()[1])

    @property
    def datagrams_dropped(self) -> int:
        """UDP only: datagrams dropped because the readable was full."""
        return int(getattr(self._source, "_dropped", 0))

    def __repr__(self) -> str:
        return (
            f"SocketStats(bytes_sent={self.bytes_sent}, bytes_received={self.bytes_received}, "
            f"packets_sent={self.packets_sent}, packets_received={self.packets_received})"
        )
