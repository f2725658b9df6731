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

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._base.options import Options
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
    kind = listener._opts.transport
    for name in raw:
        wanted = "tls" if name in _TLS_FIELDS else "udp"
        if kind != wanted:
            extra = " (a QUIC listener keeps its certificate)" if kind == "quic" else ""
            raise ValueError(f"{name} needs a {wanted!r} listener, not {kind!r}{extra}")
    if listener._state == "closed":
        raise InvalidStateError("cannot update a closed listener")
    if kind == "tls":
        _swap_certificates(listener, raw)
    elif raw:
        await _change_datagram(listener, raw)


def _swap_certificates(listener: SocketListener, raw: dict[str, Any]) -> None:
    from .tls import server_options

    current = listener._opts.socket_options
    changed = dataclasses.replace(current, **raw)
    tls_options = server_options(changed)  # reads and checks everything: may raise
    listener._opts.socket_options = changed
    listener._tls_opts = tls_options


async def _change_datagram(listener: SocketListener, raw: dict[str, Any]) -> None:
    from .._transports.udp.multicast import reconfigure_datagram

    current = listener._opts.socket_options
    trial = {name: raw.get(name, getattr(current, name)) for name in _DATAGRAM_FIELDS}
    checked = Options.build({"type": "udp", "local": ("127.0.0.1", 0), **trial})
    changed = dataclasses.replace(current, **{name: getattr(checked, name) for name in raw})
    if listener._state == "opening":
        await listener._ready
    handle = listener._handle
    if handle is None:
        raise InvalidStateError("cannot update a closed listener")
    raw_sock = handle.endpoint.get_extra_info("socket")
    reconfigure_datagram(raw_sock, current, changed, raw)
    listener._opts.socket_options = changed
