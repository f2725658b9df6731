"""``Socket.update()``: what may change on a live socket, validated before anything changes."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from ._init import SocketInit, resolve_type, seconds
from ._tcp import apply_socket_options, set_no_delay

if TYPE_CHECKING:
    from .socket import Socket

_TLS_FIELDS = {"servername", "ca", "cert", "key", "verify", "alpn", "session"}
_RUNTIME_FIELDS = {
    "ready_timeout",
    "idle_timeout",
    "no_delay",
    "send_buffer_size",
    "receive_buffer_size",
    "ttl",
}


async def update_socket(sock: Socket, init: Any, kwargs: dict[str, Any]) -> None:
    from ._init import merge

    raw = merge(init, kwargs, SocketInit)
    if init is not None and not isinstance(init, dict):
        raw = {k: v for k, v in raw.items() if k in kwargs or _differs(k, v)}
    forbidden = sorted(set(raw) - _RUNTIME_FIELDS - _TLS_FIELDS - {"type"})
    if forbidden:
        raise TypeError(
            f"update() cannot change {', '.join(forbidden)}: only type (tcp -> tls), the TLS "
            "fields, timeouts, no_delay, buffer sizes and ttl"
        )
    opts = sock._opts
    upgrade = False
    if "type" in raw:
        kind, alpn = resolve_type(raw["type"], raw.get("alpn"))
        if kind == opts.transport and not alpn:
            pass
        elif kind == "tls" and opts.transport == "tcp":
            upgrade = True
        else:
            raise ValueError(
                f"update() can only upgrade 'tcp' to 'tls', not {opts.transport!r} to "
                f"{kind!r}"
            )
    tls_given = sorted(set(raw) & _TLS_FIELDS)
    if tls_given and not upgrade:
        raise ValueError(f"{', '.join(tls_given)} can only be given with type='tls' (STARTTLS)")
    # Validate everything before changing anything.
    from ._init import Options

    trial = dict(
        type="udp" if opts.transport == "udp" else "tcp",
        remote=opts.remote or ("127.0.0.1", 1),
        ready_timeout=raw.get("ready_timeout", opts.ready_timeout),
        idle_timeout=raw.get("idle_timeout", opts.idle_timeout),
        no_delay=raw.get("no_delay", opts.no_delay),
        send_buffer_size=raw.get("send_buffer_size", opts.send_buffer_size),
        receive_buffer_size=raw.get("receive_buffer_size", opts.receive_buffer_size),
        ttl=raw.get("ttl", opts.ttl),
    )
    checked = Options.build(trial)
    seconds(checked.ready_timeout, "ready_timeout")
    if sock._state == "closed":
        from .errors import InvalidStateError

        raise InvalidStateError("cannot update a closed socket")
    if upgrade:
        from ._tls_socket import upgrade_to_tls

        await upgrade_to_tls(sock, raw)
    for name in _RUNTIME_FIELDS & set(raw):
        setattr(opts, name, getattr(checked, name))
    transport = sock._transport
    raw_sock = transport.get_extra_info("socket") if transport is not None else None
    if raw_sock is not None:
        if "no_delay" in raw:
            set_no_delay(raw_sock, opts.no_delay)
        if {"send_buffer_size", "receive_buffer_size", "ttl"} & set(raw):
            apply_socket_options(raw_sock, opts)
    if "receive_buffer_size" in raw and opts.receive_buffer_size:
        sock._rctrl._hwm = opts.receive_buffer_size
    if "send_buffer_size" in raw and opts.send_buffer_size and transport is not None:
        with contextlib.suppress(Exception):
            transport.set_write_buffer_limits(
                high=opts.send_buffer_size, low=opts.send_buffer_size // 4
            )
    if "idle_timeout" in raw and sock._state == "open":
        sock._arm_idle()


def _differs(name: str, value: Any) -> bool:
    import dataclasses

    for f in dataclasses.fields(SocketInit):
        if f.name == name:
            return bool(value != f.default)
    return True
