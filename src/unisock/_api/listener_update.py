"""``SocketListener.update()``: new certificates for a TLS listener, new broadcast and
multicast settings for a UDP one, with no restart and no connection dropped.

Why a certificate swap is safe mid-flight: each accepted connection builds its TLS layer
from the listener's options at accept time and keeps it, so connections already accepted
(and handshakes under way) keep the certificate they started with; the next accepted
connection gets the new one.  As ``Socket.update()``: every value is checked before
anything changes, so a refused update (a key that does not match, an unreadable path)
leaves the listener as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import InvalidStateError

if TYPE_CHECKING:
    from .listener import SocketListener

__all__ = ["update_listener"]

_TLS_FIELDS = ("cert", "key", "ca", "sni")
_DATAGRAM_FIELDS = (
    "broadcast",
    "multicast_groups",
    "multicast_ttl",
    "multicast_loopback",
    "multicast_interface",
)


async def update_listener(
    listener: SocketListener, init: Mapping[str, Any] | None, kwargs: Mapping[str, Any]
) -> None:
    if init is not None and not isinstance(init, Mapping):
        raise TypeError(f"SocketListener.update() takes a dict or keyword arguments, got {init!r}")
    raw = {**(init or {}), **kwargs}
    unknown = sorted(set(raw) - set(_TLS_FIELDS) - set(_DATAGRAM_FIELDS))
    if unknown:
        raise TypeError(
            f"SocketListener.update() cannot change {', '.join(unknown)}: only cert, key, ca "
            "and sni (TLS), broadcast and the multicast fields (UDP)"
        )
    kind = listener._driver.name
    for name in raw:
        wanted = "tls" if name in _TLS_FIELDS else "udp"
        if kind != wanted:
            extra = " (a QUIC listener keeps its certificate)" if kind == "quic" else ""
            raise ValueError(f"{name} needs a {wanted!r} listener, not {kind!r}{extra}")
    if listener._state == "closed":
        raise InvalidStateError("cannot update a closed listener")
    if raw:
        await listener._driver.update_listener(listener, raw)
