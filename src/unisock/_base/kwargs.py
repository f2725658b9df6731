"""The keyword arguments of ``Socket``, ``connect``, ``update`` and ``SocketListener``,
typed (PEP 692), so that an editor completes every field and mypy catches a misspelt
field or a wrong type.  The values are still validated at run time (``_init.py``), with
errors that name the field and the value."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict

if TYPE_CHECKING:
    from ..abort import AbortSignal
    from .address import SocketAddress

AddressLike: TypeAlias = "SocketAddress | tuple[str, int] | Mapping[str, Any] | str"
"""``SocketAddress(address, port)``, ``(host, port)``, ``{"address": ..., "port": ...}``,
``"host:port"`` or ``"[v6]:port"``."""

TypeLike: TypeAlias = "str | Sequence[str]"

MulticastGroup: TypeAlias = "str | tuple[str, str | int]"
"""A group address (``"239.1.2.3"``, ``"ff02::1:3"``), or ``(group, interface)``."""

CertAndKey: TypeAlias = "Mapping[str, Any] | tuple[Any, Any]"
"""``{"cert": ..., "key": ...}`` or ``(cert, key)``, each in any form ``cert``/``key`` take."""

SNILike: TypeAlias = "Mapping[str, CertAndKey] | Callable[[str], CertAndKey | None]"
"""Certificates by server name (``"*.example.com"`` matches one label), or a function of
the name the client sent returning one (``None``: the listener's ``cert``/``key``)."""
"""``"tcp"``, ``"udp"``, ``"tls"``, ``"quic"``, an IANA ALPN id, or a list of ALPN ids."""


class _TuningFields(TypedDict, total=False):
    no_delay: bool
    """TCP_NODELAY (default ``False``)."""
    ready_timeout: float | None
    """Seconds until ``ready``, else ``TimeoutError`` (``0``/``None``: none)."""
    idle_timeout: float | None
    """Seconds without traffic before the socket aborts with ``TimeoutError``."""
    send_buffer_size: int | None
    """SO_SNDBUF and the writable's high-water mark, bytes."""
    receive_buffer_size: int | None
    """SO_RCVBUF and the readable's high-water mark, bytes."""
    ttl: int | None
    """IP_TTL / IPV6_UNICAST_HOPS, 1..255."""
    keep_alive: float | None
    """TCP keep-alive: seconds idle before probes, and between them (``0``: off)."""


class _DatagramFields(TypedDict, total=False):
    broadcast: bool
    """UDP: SO_BROADCAST, sending to broadcast addresses (default ``False``)."""
    multicast_groups: Sequence[MulticastGroup] | None
    """UDP: the multicast groups joined (``update()`` joins and leaves to match)."""
    multicast_ttl: int | None
    """UDP: hops a multicast datagram may take, 0..255 (OS default 1)."""
    multicast_loopback: bool | None
    """UDP: this host's own sockets hear its multicast datagrams (OS default on)."""
    multicast_interface: str | int | None
    """UDP: the interface multicast goes out of and groups are joined on (name, index, or
    IPv4 address)."""


class _TLSFields(TypedDict, total=False):
    servername: str | None
    """SNI and the name verified (defaults to the remote host)."""
    key: Any
    """Private key: a ``cryptography`` key, PEM text/bytes or a path."""
    cert: Any
    """Certificate chain: PEM/DER, a ``cryptography`` certificate, or a path."""
    ca: Any
    """CA certificates replacing the system trust store."""
    session: Any
    """``info.session`` of an earlier TLS socket, to resume."""
    verify: bool
    """Certificate and name verification (default ``True``)."""
    alpn: Sequence[str] | str | None
    """ALPN ids to offer, any id."""
    require_close_notify: bool
    """An EOF without close_notify is a ``TLSError`` (default ``False``)."""
    ssl_context: ssl.SSLContext | None
    """A client ``ssl.SSLContext`` used as it is (trust, verification, ALPN from it)."""


class SocketUpdateKwargs(_TuningFields, _TLSFields, _DatagramFields, total=False):
    """What ``Socket.update()`` accepts: the tuning fields, and ``type="tls"`` with the
    TLS fields for STARTTLS."""

    type: TypeLike


class SocketKwargs(SocketUpdateKwargs, total=False):
    """Every field of ``SocketInit``."""

    remote: AddressLike | None
    """Where to connect."""
    local: AddressLike | None
    """Where to bind before connecting (UDP: the bound address)."""
    body: Any
    """The whole outbound payload (bytes, str, stream, iterable, file, Path, awaitable)."""
    signal: AbortSignal | None
    """Aborting it aborts the socket."""
    allow_pooling: bool
    """Share QUIC connections and resume TLS sessions (default ``True``)."""
    allow_half_open: bool
    """Keep ``writable`` open after the peer's EOF (default ``False``)."""
    sock: socket.socket | None
    """An open socket to adopt: connected (TCP/TLS), bound or connected (UDP)."""
    server_side: bool
    """With ``sock``: this end accepted the connection (TLS: the server's handshake)."""


class SocketListenerUpdateKwargs(_DatagramFields, total=False):
    """What ``SocketListener.update()`` accepts: a TLS listener's certificates (taken by
    the connections accepted from then on), a UDP listener's broadcast and multicast."""

    key: Any
    cert: Any
    ca: Any
    sni: SNILike | None


class SocketListenerKwargs(_TuningFields, _DatagramFields, total=False):
    """Every field of ``SocketListenerInit``."""

    type: TypeLike
    alpn: Sequence[str] | str | None
    local: AddressLike | None
    """Where to listen (default ``127.0.0.1``, an ephemeral port)."""
    signal: AbortSignal | None
    backlog: int
    reuse_port: bool
    allow_half_open: bool
    key: Any
    cert: Any
    ca: Any
    """Client certificates are required and verified against these CAs."""
    max_peers: int
    """UDP: the most peers kept at once (the least recently active is evicted)."""
    ipv6_only: bool
    """On ``[::]``: refuse IPv4 clients (default ``False``: dual stack)."""
    require_close_notify: bool
    """TLS: an accepted socket's EOF without close_notify is a ``TLSError``."""
    sock: socket.socket | None
    """A listening socket to adopt (systemd's ``LISTEN_FDS``, a parent's), or a bound UDP one."""
    sni: SNILike | None
    """TLS: certificates by server name; ``cert``/``key`` serve every other client."""
    proxy_protocol: bool
    """TCP/TLS: each connection starts with a PROXY protocol v1/v2 header naming the client."""
    mode: int | None
    """A Unix listener's socket file permissions (e.g. ``0o660``)."""
