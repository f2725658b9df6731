"""``SocketInit`` and ``SocketListenerInit``: every option, validated once, up front.

Each bad value raises ``TypeError``/``ValueError`` naming the field and the value, at
construction, before anything touches the network.
"""

from __future__ import annotations

import dataclasses
import inspect
import ipaddress
import math
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..abort import AbortSignal
from ..alpn import IANA_IDS, is_quic_alpn
from .address import SocketAddress, parse_address
from .adopted import check_adopted_listener, check_adopted_socket

__all__ = ["SocketInit", "SocketListenerInit", "resolve_type"]

TRANSPORTS = ("tcp", "udp", "tls", "quic")

_IANA = frozenset(IANA_IDS)

_MAX_SIZE = 2**31 - 1
"""Buffer sizes and counts pass through C ``int`` socket options: larger is refused at
once rather than failing late inside the OS call."""


def _check_type_id(value: str, given: Any) -> None:
    if value in _IANA or is_quic_alpn(value):
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
    quic = [is_quic_alpn(i) for i in ids]
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


def _int_in(value: Any, name: str, low: int, high: int) -> int | None:
    """An optional int within ``low..high``, the error naming the field."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {value}")
    return value


def _ttl(value: Any) -> int | None:
    return _int_in(value, "ttl", 1, 255)


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


MAX_KEEP_ALIVE = 32767
"""The longest keep-alive idle time and probe interval Linux takes (``MAX_TCP_KEEPIDLE``)."""


def _keep_alive(value: Any) -> float:
    number = seconds(value, "keep_alive")
    if number > MAX_KEEP_ALIVE:
        raise ValueError(
            f"keep_alive must be at most {MAX_KEEP_ALIVE} seconds (the kernel's limit), "
            f"got {value!r}"
        )
    return number


def _multicast_ttl(value: Any) -> int | None:
    return _int_in(value, "multicast_ttl", 0, 255)


def _optional_bool(value: Any, name: str) -> bool | None:
    return None if value is None else _bool(value, name)


def _interface(value: Any, name: str) -> str | None:
    """A multicast interface: an IPv4 address of it, or its name or index (``"lo"``, ``"2"``)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be an interface name or IPv4 address (str), got {value!r}")
    if not value or "\x00" in value:
        raise ValueError(f"{name} must be a non-empty interface name or address, got {value!r}")
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        address = None
    if address is not None:
        if address.version == 6:
            raise ValueError(
                f"{name}: an IPv6 interface is named by its name or index (such as 'eth0'), "
                f"not by an address, got {value!r}"
            )
        return value
    if value.isdigit():
        return value
    try:
        socket.if_nametoindex(value)
    except OSError:
        raise ValueError(f"{name}: no network interface named {value!r}") from None
    return value


def _multicast_groups(value: Any) -> tuple[tuple[str, str | None], ...]:
    """``[group, (group, interface), ...]`` -> ``((group, interface or None), ...)``."""
    if value is None:
        return ()
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple | set | frozenset):
        raise TypeError(
            "multicast_groups must be a list of group addresses (or (group, interface) "
            f"pairs), got {value!r}"
        )
    groups: list[tuple[str, str | None]] = []
    for i, item in enumerate(value):
        name = f"multicast_groups[{i}]"
        interface = None
        if isinstance(item, tuple) and len(item) == 2:
            item, interface = item[0], _interface(item[1], f"{name} interface")
        if not isinstance(item, str):
            raise TypeError(f"{name} must be a group address (str), got {item!r}")
        try:
            group = ipaddress.ip_address(item)
        except ValueError:
            raise ValueError(f"{name} must be an IP address, got {item!r}") from None
        if not group.is_multicast:
            raise ValueError(
                f"{name} must be a multicast address (224.0.0.0/4 or ff00::/8), got {item!r}"
            )
        scope = getattr(group, "scope_id", None)
        if scope:  # "ff02::1%eth0": the interface, as in an IPv6 scoped address
            if interface is not None:
                raise ValueError(f"{name}: give the interface once, not as scope and pair")
            interface = _interface(scope, f"{name} scope")
            group = ipaddress.ip_address(item.split("%", 1)[0])
        entry = (str(group), interface)
        if entry not in groups:
            groups.append(entry)
    return tuple(groups)


_DATAGRAM_DEFAULTS: dict[str, Any] = {
    "broadcast": False,
    "multicast_groups": (),
    "multicast_ttl": None,
    "multicast_loopback": None,
    "multicast_interface": None,
}


def _datagram(get: Any, transport: str) -> dict[str, Any]:
    """Broadcast and multicast: UDP only, refused elsewhere naming the field."""
    fields = {
        "broadcast": _bool(get("broadcast", False), "broadcast"),
        "multicast_groups": _multicast_groups(get("multicast_groups")),
        "multicast_ttl": _multicast_ttl(get("multicast_ttl")),
        "multicast_loopback": _optional_bool(get("multicast_loopback"), "multicast_loopback"),
        "multicast_interface": _interface(get("multicast_interface"), "multicast_interface"),
    }
    if transport != "udp":
        for name, value in fields.items():
            if value is not _DATAGRAM_DEFAULTS[name] and value != ():
                raise ValueError(f"{name} needs type 'udp', not {transport!r}")
    return fields


def _tuning(get: Any) -> dict[str, Any]:
    """The options a socket and a listener's accepted sockets share, validated."""
    return {
        "no_delay": _bool(get("no_delay", False), "no_delay"),
        "keep_alive": _keep_alive(get("keep_alive")),
        "ready_timeout": seconds(get("ready_timeout"), "ready_timeout"),
        "idle_timeout": seconds(get("idle_timeout"), "idle_timeout"),
        "send_buffer_size": _size(get("send_buffer_size"), "send_buffer_size"),
        "receive_buffer_size": _size(get("receive_buffer_size"), "receive_buffer_size"),
        "ttl": _ttl(get("ttl")),
        "allow_half_open": _bool(get("allow_half_open", False), "allow_half_open"),
    }


def _is_unix(address: SocketAddress | None) -> bool:
    return address is not None and address.path is not None


_IP_ONLY = (
    "ttl",
    "keep_alive",
    "broadcast",
    "multicast_groups",
    "multicast_ttl",
    "multicast_loopback",
    "multicast_interface",
    "reuse_port",
    "ipv6_only",
)


def _check_unix(opts: Options, get: Any, *, listener: bool) -> None:
    """What a Unix socket can be: a stream (tcp, tls) or datagrams (udp), on one path."""
    transport = opts.transport
    if transport == "quic":
        raise ValueError("QUIC runs over UDP/IP: a Unix socket path needs type tcp, tls or udp")
    if not listener and opts.remote is not None and opts.local is not None:
        if (opts.remote.path is None) != (opts.local.path is None):
            raise ValueError(
                f"remote={opts.remote} and local={opts.local}: one is a Unix path, the other "
                "an IP address"
            )
        if transport != "udp":
            raise ValueError(
                "local with a Unix stream remote: a stream client's own address is unnamed "
                "(local binds a Unix datagram socket)"
            )
    for name in _IP_ONLY:
        value = get(name)
        if value not in (None, False, 0, (), []):
            raise ValueError(f"{name}={value!r} applies to IP sockets, not to a Unix socket")
    if (
        transport == "tls"
        and not listener
        and opts.servername is None
        and opts.verify
        and opts.ssl_context is None
        and not opts.server_side
    ):
        raise ValueError(
            "servername: TLS over a Unix socket has no host name to check the certificate "
            "against; give servername=... (or verify=False)"
        )


def _check_mode(mode: Any) -> None:
    if mode is None:
        return
    if isinstance(mode, bool) or not isinstance(mode, int):
        raise TypeError(f"mode must be an int such as 0o660, got {mode!r}")
    if not 0 <= mode <= 0o7777:
        raise ValueError(f"mode must be permission bits (0 to 0o7777), got {oct(mode)}")


def _check_keep_alive(keep_alive: float, transport: str) -> None:
    if keep_alive and transport not in ("tcp", "tls"):
        extra = (
            " (QUIC keeps a connection alive by its own PING frames)" if transport == "quic" else ""
        )
        raise ValueError(
            f"keep_alive needs type 'tcp' or 'tls', not {transport!r}{extra}; 0 turns it off"
        )


_init_names: dict[type[Any], frozenset[str]] = {}
"""Each options class's field names, read once: every socket and listener checks its
keyword arguments against them."""


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
    names = _init_names.get(cls)
    if names is None:
        names = _init_names[cls] = frozenset(f.name for f in dataclasses.fields(cls) if f.init)
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
    keep_alive: float | None = 0
    sock: Any = None
    server_side: bool = False
    broadcast: bool = False
    multicast_groups: Any = None
    multicast_ttl: int | None = None
    multicast_loopback: bool | None = None
    multicast_interface: str | int | None = None
    _given: frozenset[str] = dataclasses.field(
        default=frozenset(), init=False, repr=False, compare=False
    )

    @classmethod
    def parse(cls, init: Any, kwargs: Mapping[str, Any]) -> Options:
        key = _parsed_key(kwargs) if init is None else None
        if key is not None:
            found = _parsed.get(key)
            if found is not None:
                return found
        opts = Options.build(merge(init, kwargs, cls))
        if key is not None:
            if len(_parsed) >= _PARSED_MAX:
                _parsed.clear()  # no iteration: safe with loops in other threads
            _parsed[key] = opts
        return opts


_PLAIN = frozenset((str, bytes, int, float, bool, type(None)))
"""Value types whose equality implies the same validation (the type is in the key)."""
_PARSED_MAX = 64
_parsed: dict[tuple[Any, ...], Options] = {}
"""``Options`` by the keyword arguments they were built from: a client that opens sockets
with the same arguments over and over validates them once.  ``Options`` is frozen, so
sockets can share one (a listener shares its own with every socket it accepts)."""


def _parsed_key(kwargs: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """A cache key for ``kwargs``, or ``None`` when a value is not plain data: a signal,
    an adopted socket or a stream body is the socket's own, and validation reads more of
    it than its equality says."""
    if kwargs.get("body") is not None:
        return None  # a body may be large: the cache would keep it alive
    parts: list[Any] = []
    plain = _PLAIN
    for name, value in kwargs.items():
        kind = type(value)
        if kind is tuple:
            kinds = tuple(map(type, value))
            if not plain.issuperset(kinds):
                return None
            parts.append((name, kinds, value))
        elif kind in plain:
            parts.append((name, kind, value))
        else:
            return None
    return tuple(parts)


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
    keep_alive: float = 0.0
    sock: socket.socket | None = None
    """An adopted socket (``sock=``): connected (TCP/TLS) or bound/connected (UDP)."""
    server_side: bool = False
    sni: Any = None
    """A TLS listener's certificates by server name (a mapping or a callable)."""
    broadcast: bool = False
    multicast_groups: tuple[tuple[str, str | None], ...] = ()
    multicast_ttl: int | None = None
    multicast_loopback: bool | None = None
    multicast_interface: str | None = None

    @classmethod
    def build(cls, raw: dict[str, Any]) -> Options:
        get = raw.get
        transport, alpn = resolve_type(get("type", "tcp"), get("alpn"))
        remote = get("remote")
        local = get("local")
        adopted = get("sock")
        if adopted is not None:
            adopted, local_addr, remote_addr = check_adopted_socket(adopted, transport)
            for name in ("remote", "local"):
                if get(name) is not None:
                    raise ValueError(
                        f"{name}={get(name)!r}: not with sock, which is connected or bound already"
                    )
        else:
            remote_addr = (
                None if remote is None else parse_address(remote, "remote", allow_zero_port=False)
            )
            local_addr = (
                None if local is None else parse_address(local, "local", allow_zero_port=True)
            )
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
            sock=adopted,
            server_side=_bool(get("server_side", False), "server_side"),
            **_tuning(get),
            **_datagram(get, transport),
        )
        _check_keep_alive(opts.keep_alive, transport)
        if (get("cert") is None) != (get("key") is None):
            raise ValueError("cert and key must be given together")
        if _is_unix(remote_addr) or _is_unix(local_addr):
            _check_unix(opts, get, listener=False)
        if opts.server_side:
            _check_server_side(opts, get)
        if transport == "udp" and opts.body is not None and remote_addr is None:
            raise ValueError("body needs a remote on a UDP socket")
        return opts


def _check_server_side(opts: Options, get: Any) -> None:
    """``server_side``: this end accepted the adopted connection (TLS: the server's part)."""
    if opts.sock is None:
        raise ValueError(
            "server_side=True needs sock= (a connection accepted elsewhere and handed over); "
            "a Socket that connects is always the client"
        )
    if opts.transport not in ("tcp", "tls"):
        raise ValueError(f"server_side needs type 'tcp' or 'tls', not {opts.transport!r}")
    if opts.transport == "tls" and (opts.cert is None or opts.key is None):
        raise ValueError("server_side with type 'tls' needs cert and key (the server's)")
    for name in ("servername", "session", "ssl_context"):
        if get(name) is not None:
            raise ValueError(f"{name}: a TLS server takes no {name} (server_side=True)")


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
    keep_alive: float | None = 0
    sock: Any = None
    sni: Any = None
    proxy_protocol: bool = False
    broadcast: bool = False
    multicast_groups: Any = None
    multicast_ttl: int | None = None
    multicast_loopback: bool | None = None
    multicast_interface: str | int | None = None
    mode: int | None = None

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
    sock: socket.socket | None = None
    """An adopted socket (``sock=``): listening (TCP/TLS) or bound (UDP)."""
    proxy_protocol: bool = False
    mode: int | None = None
    """A Unix listener's file permissions (``None``: as the umask leaves them)."""

    @classmethod
    def build(cls, raw: dict[str, Any]) -> ListenerOptions:
        get = raw.get
        transport, alpn = resolve_type(get("type", "tcp"), get("alpn"))
        local = get("local")
        adopted = get("sock")
        if adopted is not None:
            adopted, local_addr = check_adopted_listener(adopted, transport)
            for name in ("local", "backlog", "reuse_port", "ipv6_only"):
                if get(name) is not None:
                    raise ValueError(
                        f"{name}={get(name)!r}: not with sock, which is bound and set up already"
                    )
        else:
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
            sni=_sni(get("sni"), transport),
            **_tuning(get),
            **_datagram(get, transport),
        )
        _check_keep_alive(sock_opts.keep_alive, transport)
        mode = get("mode")
        if _is_unix(local_addr):
            _check_unix(sock_opts, get, listener=True)
            _check_mode(mode)
        elif mode is not None:
            raise ValueError(
                f"mode={mode!r} sets a Unix socket file's permissions: local is not a path"
            )
        proxy_protocol = _bool(get("proxy_protocol", False), "proxy_protocol")
        if proxy_protocol and transport not in ("tcp", "tls"):
            raise ValueError(f"proxy_protocol needs a 'tcp' or 'tls' listener, not {transport!r}")
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
            sock=adopted,
            proxy_protocol=proxy_protocol,
            mode=mode,
        )


def _sni(value: Any, transport: str) -> Any:
    """The shape of ``sni`` (its certificates are read by the TLS layer, naming the entry)."""
    if value is None:
        return None
    if not callable(value) and not isinstance(value, Mapping):
        raise TypeError(
            "sni must be a mapping {server name: {'cert': ..., 'key': ...}} or a callable "
            f"taking the server name, got {value!r:.80}"
        )
    if transport != "tls":
        raise ValueError(f"sni needs a 'tls' listener, not {transport!r}")
    return value if callable(value) else dict(value)
