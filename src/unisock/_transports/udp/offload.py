"""UDP segmentation offload on Linux: GRO to receive, GSO (``UDP_SEGMENT``) to send.

With ``UDP_GRO`` the kernel hands over up to 64 datagrams of one peer in one read, the
segment size in a control message; with ``UDP_SEGMENT`` one ``sendmsg`` carries a run of
equal-size datagrams (the last may be shorter) to one peer.  QUIC sends and receives
bursts of full-size packets, so both save most of its system calls; a request/response
UDP socket gains nothing, so only endpoints opened with ``offload=True`` use them.  Either
is switched off for a socket at its first refusal, and everything works without them.
"""

from __future__ import annotations

import errno
import socket
import struct
import sys
from collections.abc import Iterator
from typing import Any

__all__ = [
    "ANCILLARY",
    "GSO_REFUSED",
    "gso_possible",
    "gso_runs",
    "segment_option",
    "segment_size",
]

_SOL_UDP = getattr(socket, "SOL_UDP", 17)
_UDP_SEGMENT = 103  # linux/udp.h
_UDP_GRO = 104  # the control message of a GRO read (sockopts.enable_gro asks for it)
_GSO_SEGMENTS = 64  # segments per send at most (UDP_MAX_SEGMENTS)
_GSO_BYTES = 65000  # bytes per send at most: one UDP payload
_LINUX = sys.platform == "linux"
_U16 = struct.Struct("=H")

ANCILLARY = socket.CMSG_SPACE(4) if hasattr(socket, "CMSG_SPACE") else 0
"""Control-message room for the GRO segment size."""

GSO_REFUSED = frozenset(
    {errno.EIO, errno.EINVAL, errno.ENOPROTOOPT, errno.EOPNOTSUPP, errno.EMSGSIZE}
)
"""What a kernel (or a device) without GSO answers: send the run one datagram at a time."""


def gso_possible(sock: socket.socket) -> bool:
    """Whether sends may try ``UDP_SEGMENT`` (the kernel has the last word)."""
    return _LINUX and hasattr(sock, "sendmsg")


def segment_size(ancillary: list[tuple[int, int, bytes]]) -> int:
    """The GRO segment size of a read, ``0`` when the read is one datagram."""
    for level, kind, data in ancillary:
        if level == _SOL_UDP and kind == _UDP_GRO:
            if len(data) >= 4:
                return int.from_bytes(data[:4], sys.byteorder)
            if len(data) >= 2:
                return int(_U16.unpack_from(data)[0])
    return 0


def segment_option(size: int) -> list[tuple[int, int, bytes]]:
    """The ``sendmsg`` control message that cuts a buffer into ``size``-byte datagrams."""
    return [(_SOL_UDP, _UDP_SEGMENT, _U16.pack(size))]


def gso_runs(datagrams: list[tuple[bytes, Any]]) -> Iterator[tuple[int, int]]:
    """``(start, end)`` slices of ``datagrams`` that may leave as one GSO send each: one
    peer, at most 64 segments and 65,000 bytes, all of the first one's size but the last,
    which may be shorter (and then ends the run)."""
    i, count = 0, len(datagrams)
    while i < count:
        data, addr = datagrams[i]
        size = len(data)
        j = i + 1
        total = size
        while j < count and j - i < _GSO_SEGMENTS:
            following, to = datagrams[j]
            length = len(following)
            if to != addr or length > size or total + length > _GSO_BYTES:
                break
            total += length
            j += 1
            if length < size:
                break  # a shorter datagram may only end a run
        yield i, j
        i = j
