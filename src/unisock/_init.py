"""``SocketInit`` and ``SocketListenerInit``: every option, validated once, up front.

Each bad value raises ``TypeError``/``ValueError`` naming the field and the value, at
construction, before anything touches the network.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ._address import SocketAddress, parse_address
from .abort import AbortSignal

__all__ = ["SocketInit", "SocketListenerInit", "resolve_type"]

TRANSPORTS = ("tcp", "udp", "tls", "quic")


def _is_quic_alpn(alpn: str) -> bool:
    return alpn in ("h3", "doq") or alpn.startswith(("h3-", "hq-"))


def resolve_type(value: Any, alpn: Any) -> tuple[str, tuple[str, ...]]:
    """The transport (``tcp``/``udp``/``tls``/``quic``) and ALPN ids a ``type`` stands for."""
    alpns = _alpn_list(alpn)
    if isinstance(value, str):
        if not value:
            raise ValueError("type must not be empty")
        if value in TRANSPORTS:
            if value == "quic" and not alpns:
                raise ValueError("type='quic' needs alpn=[...] (QUIC always negotiates an ALPN)")
            if value in ("tcp", "udp") and alpns:
                raise ValueError(f"alpn={list(alpns)!r} needs type 'tls' or 'quic', not {value!r}")
            return value, alpns
        ids: tuple[str, ...] = (value,)
    elif isinstance(value, list | tuple) and value:
        for v in value:
            if not isinstance(v, str) or not v:
                raise TypeError(f"type must be a transport or ALPN id(s), got {value!r}")
            if v in TRANSPORTS:
                raise ValueError(f"type list must hold ALPN ids only, got {value!r}")
        ids = tuple(value)
    else:
        raise TypeError(
            f"type must be 'tcp', 'udp', 'tls', 'quic' or ALPN id(s), got {value!r}"
        )
    quic = [_is_quic_alpn(i) for i in ids]
    if any(quic) and not all(quic):
        raise ValueError(f"type mixes QUIC and TLS ALPN ids: {list(ids)!r}")
    return ("quic" if all(quic) else "tls"), ids + tuple(a for a in alpns if a not in ids)


def _alpn_list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise TypeError(f"alpn must be a list of non-empty str, got {value!r}")
    for v in value:
        if len(v.encode()) > 255:
            raise ValueError(f"alpn id {v!r} is longer than 255 bytes")
    return tuple(value)


def seconds(value: Any, name: str) -> float:
    """A timeout in seconds; ``0``/``None`` mean none."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if math.isnan(value) or value < 0:
        raise ValueError(f"{name} must be >= 0 seconds, got {value!r}")
    return float(value)


def _size(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int number of bytes, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def _ttl(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"ttl must be an int, got {value!r}")
    if not 1 <= value <= 255:
        raise ValueError(f"ttl must be in 1..255, got {value}")
    return value


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def _signal(value: Any) -> AbortSignal | None:
    if value is not None and not isinstance(value, AbortSignal):
        raise TypeError(f"signal must be an AbortSignal, got {value!r}")
    return value


def _tuning(get: Any) -> dict[str, Any]:
    """The options a socket and a listener's accepted sockets share, validated."""
    return {
        "no_delay": _bool(get("no_delay", False), "no_delay"),
        "ready_timeout": seconds(get("ready_timeout"), "ready_timeout"),
        "idle_timeout": seconds(get("idle_timeout"), "idle_timeout"),
        "send_buffer_size": _size(get("send_buffer_size"), "send_buffer_size"),
        "receive_buffer_size": _size(get("receive_buffer_size"), "receive_buffer_size"),
        "ttl": _ttl(get("ttl")),
        "allow_half_open": _bool(get("allow_half_open", False), "allow_half_open"),
    }


def merge(init: Any, kwargs: dict[str, Any], cls: type[Any]) -> dict[str, Any]:
    """One dict of options from a positional dict/dataclass and keyword arguments."""
    if init is None:
        merged: dict[str, Any] = {}
    elif isinstance(init, dict):
        merged = dict(init)
    elif dataclasses.is_dataclass(init) and not isinstance(init, type):
        merged = {f.name: getattr(init, f.name) for f in dataclasses.fields(init)}
    else:
        raise TypeError(f"init must be a dict or {cls.__name__}, got {init!r}")
    merged.update(kwargs)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(merged) - names)
    if unknown:
        raise TypeError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    return merged


@dataclass(frozen=True, slots=True)
class SocketInit:
    """The options of a ``Socket`` (see API.md); validated by ``SocketInit.parse``."""

    type: Any = "tcp"
    alpn: Any = None
    remote: Any = None
    local: Any = None
    body: Any = None
    signal: AbortSignal | None = None
    allow_pooling: bool = True
    no_delay: bool = False
    ready_timeout: float | None = 0
    idle_timeout: float | None = 0
    send_buffer_size: int | None = None
    receive_buffer_size: int | None = None
    ttl: int | None = None
    servername: str | None = None
    key: Any = None
    cert: Any = None
    ca: Any = None
    session: Any = None
    verify: bool = True
    allow_half_open: bool = False

    @classmethod
    def parse(cls, init: Any, kwargs: dict[str, Any]) -> Options:
        raw = merge(init, kwargs, cls)
        return Options.build(raw)


@dataclass(slots=True)
class Options:
    """Validated socket options (internal, mutable by ``update()``)."""

    transport: str
    alpn: tuple[str, ...]
    remote: SocketAddress | None
    local: SocketAddress | None
    body: Any
    signal: AbortSignal | None
    allow_pooling: bool
    no_delay: bool
    ready_timeout: float
    idle_timeout: float
    send_buffer_size: int | None
    receive_buffer_size: int | None
    ttl: int | None
    servername: str | None
    key: Any
    cert: Any
    ca: Any
    session: Any
    verify: bool
    allow_half_open: bool
    type_label: str = "tcp"

    @classmethod
    def build(cls, raw: dict[str, Any]) -> Options:
        get = raw.get
        transport, alpn = resolve_type(get("type", "tcp"), get("alpn"))
        remote = get("remote")
        local = get("local")
        remote_addr = None if remote is None else parse_address(
            remote, "remote", allow_zero_port=False
        )
        local_addr = None if local is None else parse_address(local, "local", allow_zero_port=True)
        if remote_addr is None and not (transport == "udp" and local_addr is not None):
            raise TypeError("remote is required (only a UDP socket may be bound with local only)")
        servername = get("servername")
        if servername is not None and (not isinstance(servername, str) or not servername):
            raise TypeError(f"servername must be a non-empty str, got {servername!r}")
        if transport in ("tcp", "udp"):
            for name in ("servername", "key", "cert", "ca", "session"):
                if get(name) is not None:
                    raise ValueError(f"{name} needs type 'tls' or 'quic', not {transport!r}")
        opts = cls(
            transport=transport,
            alpn=alpn,
            remote=remote_addr,
            local=local_addr,
            body=get("body"),
            signal=_signal(get("signal")),
            allow_pooling=_bool(get("allow_pooling", True), "allow_pooling"),
            servername=servername,
            key=get("key"),
            cert=get("cert"),
            ca=get("ca"),
            session=get("session"),
            verify=_bool(get("verify", True), "verify"),
            **_tuning(get),
        )
        opts.type_label = transport
        if (get("cert") is None) != (get("key") is None):
            raise ValueError("cert and key must be given together")
        if transport == "udp" and opts.body is not None and remote_addr is None:
            raise ValueError("body needs a remote on a UDP socket")
        return opts


@dataclass(frozen=True, slots=True)
class SocketListenerInit:
    """The options of a ``SocketListener``."""

    type: Any = "tcp"
    alpn: Any = None
    local: Any = None
    signal: AbortSignal | None = None
    backlog: int = 128
    reuse_port: bool = False
    allow_half_open: bool = False
    no_delay: bool = False
    ready_timeout: float | None = 0
    idle_timeout: float | None = 0
    send_buffer_size: int | None = None
    receive_buffer_size: int | None = None
    ttl: int | None = None
    key: Any = None
    cert: Any = None
    ca: Any = None
    max_peers: int = 1024

    @classmethod
    def parse(cls, init: Any, kwargs: dict[str, Any]) -> ListenerOptions:
        raw = merge(init, kwargs, cls)
        return ListenerOptions.build(raw)


@dataclass(slots=True)
class ListenerOptions:
    transport: str
    alpn: tuple[str, ...]
    local: SocketAddress
    signal: AbortSignal | None
    backlog: int
    reuse_port: bool
    socket_options: Options
    max_peers: int

    @classmethod
    def build(cls, raw: dict[str, Any]) -> ListenerOptions:
        get = raw.get
        transport, alpn = resolve_type(get("type", "tcp"), get("alpn"))
        local = get("local")
        local_addr = (
            SocketAddress("127.0.0.1", 0)
            if local is None
            else parse_address(local, "local", allow_zero_port=True)
        )
        backlog = get("backlog", 128)
        if isinstance(backlog, bool) or not isinstance(backlog, int) or backlog < 1:
            raise ValueError(f"backlog must be a positive int, got {backlog!r}")
        max_peers = get("max_peers", 1024)
        if isinstance(max_peers, bool) or not isinstance(max_peers, int) or max_peers < 1:
            raise ValueError(f"max_peers must be a positive int, got {max_peers!r}")
        if transport in ("tls", "quic") and (get("cert") is None or get("key") is None):
            raise ValueError(f"a {transport!r} listener needs cert and key")
        if transport in ("tcp", "udp"):
            for name in ("key", "cert", "ca"):
                if get(name) is not None:
                    raise ValueError(f"{name} needs type 'tls' or 'quic', not {transport!r}")
        sock_opts = Options(
            transport=transport,
            alpn=alpn,
            remote=None,
            local=local_addr,
            body=None,
            signal=None,
            allow_pooling=False,
            servername=None,
            key=get("key"),
            cert=get("cert"),
            ca=get("ca"),
            session=None,
            verify=True,
            **_tuning(get),
        )
        sock_opts.type_label = transport
        return cls(
            transport=transport,
            alpn=alpn,
            local=local_addr,
            signal=_signal(get("signal")),
            backlog=backlog,
            reuse_port=_bool(get("reuse_port", False), "reuse_port"),
            socket_options=sock_opts,
            max_peers=max_peers,
        )
