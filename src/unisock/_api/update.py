"""``Socket.update()``: what may change on a live socket, validated before anything changes.

Rules (API.md): only the fields the caller gives count (a ``SocketInit`` counts the fields
set on it when it was made, default-valued ones included); every field is checked before
anything changes, so a refused ``update()`` changes nothing; an update made before
``ready`` waits for it, as queued writes do; the STARTTLS handshake is bounded like
``ready`` (``ready_timeout``, else ``Socket.HANDSHAKE_TIMEOUT``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import errors
from .._base.options import Options, SocketInit, given_fields, merge, resolve_type
from .driver import driver

if TYPE_CHECKING:
    from .socket import Socket

_TLS_FIELDS = {
    "servername",
    "ca",
    "cert",
    "key",
    "verify",
    "alpn",
    "session",
    "require_close_notify",
    "ssl_context",
}
_RUNTIME_FIELDS = {
    "ready_timeout",
    "idle_timeout",
    "no_delay",
    "send_buffer_size",
    "receive_buffer_size",
    "ttl",
    "keep_alive",
    "broadcast",
    "multicast_groups",
    "multicast_ttl",
    "multicast_loopback",
    "multicast_interface",
}


async def update_socket(sock: Socket, init: Any, kwargs: Mapping[str, Any]) -> None:
    raw = merge(init, kwargs, SocketInit)
    if isinstance(init, SocketInit):
        given = given_fields(init)
        raw = {k: v for k, v in raw.items() if k in kwargs or k in given}
    forbidden = sorted(set(raw) - _RUNTIME_FIELDS - _TLS_FIELDS - {"type"})
    if forbidden:
        raise TypeError(
            f"update() cannot change {', '.join(forbidden)}: only type (tcp -> tls), the TLS "
            "fields, timeouts, no_delay, keep_alive, buffer sizes, ttl, broadcast and multicast"
        )
    opts = sock._opts
    upgrade = _is_upgrade(opts, raw)
    tls_given = sorted(set(raw) & _TLS_FIELDS)
    if tls_given and not upgrade:
        raise ValueError(f"{', '.join(tls_given)} can only be given with type='tls' (STARTTLS)")
    # Every value is validated before anything changes.
    checked = _checked(opts, raw, sock._driver.update_type)
    shared = sorted(
        {"ttl", "send_buffer_size", "receive_buffer_size", "broadcast"} & set(raw)
        | {name for name in raw if name.startswith("multicast_")}
    )
    if shared and sock._driver.shares_socket(sock):
        raise ValueError(
            f"{', '.join(shared)} cannot change on one peer of a UDP listener: all its peers "
            "share the listener's socket (set it on the SocketListener)"
        )
    if sock._state == "connecting":
        await sock._ready  # like a queued write; a failed connect rejects this too
    if sock._state == "closed" or (sock._state == "closing" and upgrade):
        raise errors.InvalidStateError(f"cannot update a {sock._state} socket")
    changes = {name: getattr(checked, name) for name in _RUNTIME_FIELDS & set(raw)}
    if "require_close_notify" in raw:  # read by the TLS layer the upgrade builds
        changes["require_close_notify"] = checked.require_close_notify
    _apply(sock, dataclasses.replace(sock._opts, **changes), set(changes))
    if upgrade:
        await _bounded_upgrade(sock, raw)


def _is_upgrade(opts: Options, raw: dict[str, Any]) -> bool:
    if "type" not in raw:
        return False
    kind, alpn = resolve_type(raw["type"], raw.get("alpn"))
    if kind == "tls" and opts.transport == "tls":
        raise ValueError(
            "update(type='tls') on a TLS socket would renegotiate, which Python's ssl module "
            "cannot do (no renegotiation, no TLS 1.3 KeyUpdate); open a new socket instead"
        )
    if kind == opts.transport and not alpn:
        return False
    if kind == "tls" and opts.transport == "tcp":
        return True
    raise ValueError(
        f"update() can only upgrade 'tcp' to 'tls', not {opts.transport!r} to {kind!r}"
    )


def _checked(opts: Options, raw: dict[str, Any], sock_type: str) -> Options:
    """The runtime fields as they would be after the update, validated by the one table
    of field validators (a throw-away ``Options`` of the same kind)."""
    fields = _RUNTIME_FIELDS | {"require_close_notify"}
    trial = {name: raw.get(name, getattr(opts, name)) for name in fields}
    trial["type"] = sock_type
    if sock_type == "quic":
        trial["alpn"] = opts.alpn
    trial["remote"] = opts.remote or ("127.0.0.1", 1)
    return Options.build(trial)


def _apply(sock: Socket, opts: Options, changed: set[str]) -> None:
    from .._transports.sockopts import set_keep_alive, set_no_delay
    from .._transports.tcp import apply_socket_options
    from .._transports.udp.multicast import DATAGRAM_FIELDS, reconfigure_datagram

    old, sock._opts = sock._opts, opts
    if not changed:
        return
    transport = sock._transport
    raw_sock = sock._driver.raw_socket(sock)
    if raw_sock is not None:
        if changed & DATAGRAM_FIELDS:
            try:
                reconfigure_datagram(raw_sock, old, opts, changed & DATAGRAM_FIELDS)
            except BaseException:
                sock._opts = old
                raise
        if "no_delay" in changed:
            set_no_delay(raw_sock, opts.no_delay)
        if "keep_alive" in changed:
            set_keep_alive(raw_sock, opts.keep_alive)
        if {"send_buffer_size", "receive_buffer_size", "ttl"} & changed:
            apply_socket_options(raw_sock, opts)
    if "receive_buffer_size" in changed and opts.receive_buffer_size:
        sock._rctrl._hwm = opts.receive_buffer_size
    if "send_buffer_size" in changed and opts.send_buffer_size and transport is not None:
        with contextlib.suppress(Exception):
            transport.set_write_buffer_limits(
                high=opts.send_buffer_size, low=opts.send_buffer_size // 4
            )
    if "idle_timeout" in changed and sock._state == "open":
        sock._arm_idle()


async def _bounded_upgrade(sock: Socket, raw: dict[str, Any]) -> None:
    """STARTTLS, aborted with ``TimeoutError`` past ``ready_timeout`` (else the default
    handshake bound)."""
    timeout = sock._opts.ready_timeout or sock.HANDSHAKE_TIMEOUT
    expired: list[BaseException] = []

    def expire() -> None:
        exc = errors.TimeoutError(f"the STARTTLS handshake was not done after {timeout:g} s")
        expired.append(exc)
        sock._abort(exc)

    timer = sock._loop.call_later(timeout, expire) if timeout > 0 else None
    try:
        await driver("tls").upgrade(sock, raw)
    except BaseException as exc:
        if not isinstance(exc, Exception):
            # Cancelled (asyncio or trio): half-way through a handshake the socket can be
            # neither plaintext nor TLS, so a cancelled upgrade aborts it (as asyncio's
            # start_tls closes its transport).
            sock._abort(errors.AbortError("the STARTTLS upgrade was cancelled"))
            raise
        if expired:
            raise expired[0] from None
        raise
    finally:
        if timer is not None:
            timer.cancel()
