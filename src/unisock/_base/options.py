"""``SocketInit`` and ``SocketListenerInit``: every option, validated once, up front.

Each bad value raises ``TypeError``/``ValueError`` naming the field and the value, at
construction, before anything touches the network.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..abort import AbortSignal
from .address import SocketAddress, parse_address

__all__ = ["SocketInit", "SocketListenerInit", "resolve_type"]

TRANSPORTS = ("tcp", "udp", "tls", "quic")

IANA_ALPN_IDS = frozenset(
    {
        "http/0.9",
        "http/1.0",
        "http/1.1",
        "spdy/1",
        "spdy/2",
        "spdy/3",
        "stun.turn",
        "stun.nat-discovery",
        "h2",
        "h2c",
        "webrtc",
        "c-webrtc",
        "ftp",
        "imap",
        "pop3",
        "managesieve",
        "coap",
        "xmpp-client",
        "xmpp-server",
        "acme-tls/1",
        "mqtt",
        "dot",
        "ntske/1",
        "sunrpc",
        "h3",
        "smb",
        "irc",
        "nntp",
        "nnsp",
        "doq",
        "sip/2",
        "tds/8.0",
        "dicom",
        "postgresql",
        "radius/1.0",
        "radius/1.1",
    }
)
"""The TLS ALPN protocol ids of the IANA registry that ``type`` accepts by name.  Any
other id goes in ``alpn=[...]``: as a ``type`` it would more likely be a typo (``"tsl"``)
than a protocol, and taking it as an ALPN id offers TLS to a server that may not speak
it."""

_MAX_SIZE = 2**31 - 1
"""Buffer sizes and counts pass through C ``int`` socket options: larger is refused at
once rather than failing late inside the OS call."""


def _is_quic_alpn(alpn: str) -> bool:
    return alpn in ("h3", "doq") or alpn.startswith(("h3-", "hq-"))


def _check_type_id(value: str, given: Any) -> None:
    if value in IANA_ALPN_IDS or _is_quic_alpn(value):
        return
    raise ValueError(
        f"type must be 'tcp', 'udp', 'tls', 'quic' or an ALPN id of the IANA registry "
        f"(such as 'h2', 'http/1.1', 'h3'), got {given!r}; to offer another ALPN id, "
        f"use type='tls' (or 'quic') with alpn=[{value!r}]"
    )


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
        _check_type_id(value, value)
        ids: tuple[str, ...] = (value,)
    elif isinstance(value, list | tuple) and value:
        for v in value:
            if not isinstance(v, str) or not v:
                raise TypeError(f"type must be a transport or ALPN id(s), got {value!r}")
            if v in TRANSPORTS:
                raise ValueError(f"type list must hold ALPN ids only, got {value!r}")
            _check_type_id(v, value)
        ids = tuple(value)
    else:
        raise TypeError(f"type must be 'tcp', 'udp', 'tls', 'quic' or ALPN id(s), got {value!r}")
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


MAX_SECONDS = 86400.0 * 365
"""The longest timeout taken (a year); ``math.inf`` means none, like ``0``."""


def seconds(value: Any, name: str) -> float:
    """A timeout in seconds; ``0``/``None`` mean none."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"{name} must be a finite number of seconds, got {value!r}") from None
    if math.isnan(number) or number < 0:
        raise ValueError(f"{name} must be >= 0 seconds, got {value!r}")
    if math.isinf(number):
        return 0.0  # no timeout, as for 0 and None
    if number > MAX_SECONDS:
        raise ValueError(f"{name} must be at most {MAX_SECONDS:g} seconds, got {value!r}")
    return number


def _size(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int number of bytes, got {value!r}")
    if not 0 < value <= _MAX_SIZE:
        raise ValueError(f"{name} must be in 1..{_MAX_SIZE} bytes, got {value}")
    return value


def _ttl(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"ttl must be an int, got {value!r}")
    if not 1 <= value <= 255:
        raise ValueError(f"ttl must be in 1..255, got {value}")
    return value


def _count(value: Any, name: str, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if not 1 <= value <= most:
        raise ValueError(f"{name} must be in 1..{most}, got {value}")
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


def merge(init: Any, kwargs: Mapping[str, Any], cls: type[Any]) -> dict[str, Any]:
    """One dict of options from a positional dict/dataclass and keyword arguments."""
    if init is None:
        merged: dict[str, Any] = {}
    elif isinstance(init, Mapping):
        merged = dict(init)
    elif dataclasses.is_dataclass(init) and not isinstance(init, type):
        merged = {f.name: getattr(init, f.name) for f in dataclasses.fields(init) if f.init}
    else:
        raise TypeError(f"init must be a dict or {cls.__name__}, got {init!r}")
    merged.update(kwargs)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(merged) - names)
    if unknown:
        raise TypeError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    return merged


def given_fields(init: Any) -> frozenset[str]:
    """The fields set when a ``SocketInit`` was made (default-valued ones included)."""
    given: frozenset[str] = getattr(init, "_given", frozenset())
    return given


def _recording_given(cls: type[Any]) -> type[Any]:
    """Wrap the dataclass ``__init__`` so an instance remembers which fields were given:
    ``update(SocketInit(idle_timeout=0))`` must turn the idle timeout off, though 0 is the
    default."""
    generated = cls.__init__
    names = [f.name for f in dataclasses.fields(cls) if f.init]

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        generated(self, *args, **kwargs)
        object.__setattr__(self, "_given", frozenset(names[: len(args)]) | frozenset(kwargs))

    __init__.__doc__ = generated.__doc__
    __init__.__signature__ = inspect.signature(generated)  # type: ignore[attr-defined]
    __init__.__qualname__ = generated.__qualname__
    cls.__init__ = __init__
    return cls


@_recording_given
@dataclass(frozen=True, slots=True)
class SocketInit:
    """The options of a ``Socket`` (docs/api.md lists each field); validated by
    ``SocketInit.parse``, which raises ``TypeError``/``ValueError`` naming the field."""

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
    require_close_notify: bool = False
    allow_half_open: bool = False
    ssl_context: Any = None
    _given: frozenset[str] = dataclasses.field(
        default=frozenset(), init=False, repr=False, compare=False
    )

    @classmethod
    def parse(cls, init: Any, kwargs: Mapping[str, Any]) -> Options:
        raw = merge(init, kwargs, cls)
        return Options.build(raw)


@dataclass(frozen=True, slots=True)
class Options:
    """Validated socket options (internal).  Frozen: each socket holds its own reference,
    and ``update()`` or a STARTTLS upgrade replaces that socket's reference with a new
    ``Options``, so a change to one socket never reaches another (a listener hands the
    same object to every socket it accepts)."""

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
    require_close_notify: bool = False
    type_label: str = "tcp"
    ssl_context: Any = None

    @classmethod
    def build(cls, raw: dict[str, Any]) -> Options:
        get = raw.get
        transport, alpn = resolve_type(get("type", "tcp"), get("alpn"))
        remote = get("remote")
        local = get("local")
        remote_addr = (
            None if remote is None else parse_address(remote, "remote", allow_zero_port=False)
        )
        local_addr = None if local is None else parse_address(local, "local", allow_zero_port=True)
        if remote_addr is None and not (transport == "udp" and local_addr is not None):
            raise TypeError("remote is required (only a UDP socket may be bound with local only)")
        servername = get("servername")
        if servername is not None and not isinstance(servername, str):
            raise TypeError(f"servername must be a str, got {servername!r}")
        if servername == "":
            raise ValueError("servername must not be empty")
        if servername is not None and ("\x00" in servername or len(servername) > 253):
            raise ValueError(
                f"servername must be a host name of at most 253 characters without NUL, "
                f"got {servername!r}"
            )
        if transport in ("tcp", "udp"):
            for name in ("servername", "key", "cert", "ca", "session"):
                if get(name) is not None:
                    raise ValueError(f"{name} needs type 'tls' or 'quic', not {transport!r}")
        ssl_context = get("ssl_context")
        if ssl_context is not None and transport != "tls":
            raise ValueError(
                f"ssl_context needs type 'tls' (or update(type='tls')), not {transport!r}"
                + (
                    ": QUIC's TLS is configured by ca, cert, key and verify"
                    if transport == "quic"
                    else ""
                )
            )
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
            require_close_notify=_bool(get("require_close_notify", False), "require_close_notify"),
            type_label=transport,
            ssl_context=ssl_context,
            **_tuning(get),
        )
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
    ipv6_only: bool = False
    require_close_notify: bool = False

    @classmethod
    def parse(cls, init: Any, kwargs: Mapping[str, Any]) -> ListenerOptions:
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
    ipv6_only: bool = False

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
        backlog = _count(get("backlog", 128), "backlog", 65535)
        max_peers = _count(get("max_peers", 1024), "max_peers", 1 << 20)
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
            require_close_notify=_bool(get("require_close_notify", False), "require_close_notify"),
            type_label=transport,
            **_tuning(get),
        )
        return cls(
            transport=transport,
            alpn=alpn,
            local=local_addr,
            signal=_signal(get("signal")),
            backlog=backlog,
            reuse_port=_bool(get("reuse_port", False), "reuse_port"),
            socket_options=sock_opts,
            max_peers=max_peers,
            ipv6_only=_bool(get("ipv6_only", False), "ipv6_only"),
        )
