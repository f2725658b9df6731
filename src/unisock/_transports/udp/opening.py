"""Opening a UDP endpoint: resolving, making (or adopting) the socket, setting its options.

``open_endpoint`` does it from a socket's or listener's options: a socket of our own or an
adopted one (``sock=``), with broadcast and multicast set before it connects (a connected
socket's route, and so its multicast interface, is fixed by ``connect``).
``open_datagram_endpoint`` and ``adopt_datagram_endpoint`` are the layer below, with
explicit arguments.  Names resolve with the one resolver (``_transports.resolve``), options
are set with the one set of setters (``_transports.sockopts``).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any, TypeAlias, TypeVar

from ..._base.options import Options
from ..._runtime import current
from ...errors import NetworkError, network_error
from ..adopt import claim
from ..resolve import resolve
from ..sockopts import set_buffer_size, set_ipv6_only, set_reuse_port, set_ttl
from .endpoint import Address, DatagramEndpoint, DatagramProtocol, describe_address
from .multicast import configure_datagram

__all__ = [
    "adopt_datagram_endpoint",
    "open_datagram_endpoint",
    "open_endpoint",
    "open_socket",
]

P = TypeVar("P", bound=DatagramProtocol)


async def open_endpoint(
    protocol_factory: Callable[[], P],
    opts: Options,
    *,
    adopted: Any = None,
    remote: tuple[str, int] | None = None,
    local: tuple[str, int] | None = None,
    reuse_port: bool = False,
    ipv6_only: bool = False,
) -> tuple[DatagramEndpoint, P]:
    """The endpoint, with every socket option of ``opts`` set (a failure closes it)."""

    def prepare(sock: socket.socket) -> None:
        configure_datagram(sock, opts)

    if (opts.remote is not None and opts.remote.path is not None) or (
        opts.local is not None and opts.local.path is not None
    ):
        from ..unix import datagram_socket

        sock, owner = datagram_socket(
            opts.local.path if opts.local is not None else None,
            opts.remote.path if opts.remote is not None else None,
        )
        endpoint, protocol = adopt_datagram_endpoint(
            protocol_factory,
            sock,
            send_buffer_size=opts.send_buffer_size,
            receive_buffer_size=opts.receive_buffer_size,
        )
        endpoint.file_owner = owner
        return endpoint, protocol
    if adopted is not None:
        return adopt_datagram_endpoint(
            protocol_factory,
            adopted,
            ttl=opts.ttl,
            send_buffer_size=opts.send_buffer_size,
            receive_buffer_size=opts.receive_buffer_size,
            prepare=prepare,
        )
    return await open_datagram_endpoint(
        protocol_factory,
        remote=remote,
        local=local,
        ttl=opts.ttl,
        send_buffer_size=opts.send_buffer_size,
        receive_buffer_size=opts.receive_buffer_size,
        reuse_port=reuse_port,
        ipv6_only=ipv6_only,
        prepare=prepare,
    )


# -- options ------------------------------------------------------------------------------


def _check_int(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _set_buffer(sock: socket.socket, field: str, size: int) -> None:
    set_buffer_size(sock, field, _check_int(size, field, 1, 2**31 - 1))


def _set_options(
    sock: socket.socket,
    ttl: int | None,
    send_buffer_size: int | None,
    receive_buffer_size: int | None,
) -> None:
    if ttl is not None:
        set_ttl(sock, _check_int(ttl, "ttl", 1, 255))
    if send_buffer_size is not None:
        _set_buffer(sock, "send_buffer_size", send_buffer_size)
    if receive_buffer_size is not None:
        _set_buffer(sock, "receive_buffer_size", receive_buffer_size)


# -- opening ------------------------------------------------------------------------------

HostPort: TypeAlias = tuple[str | None, int]


def _check_address(value: object, name: str) -> HostPort:
    if not (isinstance(value, tuple) and len(value) == 2):
        raise TypeError(f"{name} must be a (host, port) tuple, got {value!r}")
    host, port = value
    if host is not None and not isinstance(host, str):
        raise TypeError(f"{name} host must be a str, got {type(host).__name__}")
    _check_int(port, f"{name} port", 0, 65535)
    return host, port


def open_socket(
    family: int,
    *,
    local: Address | None = None,
    remote: Address | None = None,
    ttl: int | None = None,
    send_buffer_size: int | None = None,
    receive_buffer_size: int | None = None,
    reuse_port: bool = False,
    ipv6_only: bool = False,
    prepare: Callable[[socket.socket], None] | None = None,
) -> socket.socket:
    """A non-blocking UDP socket of ``family`` (numeric addresses), options set, bound to
    ``local`` and connected to ``remote`` when given; closed again if any step fails.
    The UDP transport's and QUIC's sockets are all made here."""
    sock = socket.socket(family, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setblocking(False)
        set_ipv6_only(sock, ipv6_only)  # on "::", IPv4 peers too unless ipv6_only
        if reuse_port:
            set_reuse_port(sock)
        _set_options(sock, ttl, send_buffer_size, receive_buffer_size)
        if prepare is not None:  # before connect: a connected socket's route is fixed then
            prepare(sock)
        if local is not None:
            sock.bind(local)
        if remote is not None:
            sock.connect(remote)  # UDP: no handshake, returns at once
    except BaseException:
        sock.close()
        raise
    return sock


async def open_datagram_endpoint(
    protocol_factory: Callable[[], P],
    *,
    remote: HostPort | None = None,
    local: HostPort | None = None,
    ttl: int | None = None,
    send_buffer_size: int | None = None,
    receive_buffer_size: int | None = None,
    reuse_port: bool = False,
    ipv6_only: bool = False,
    prepare: Callable[[socket.socket], None] | None = None,
) -> tuple[DatagramEndpoint, P]:
    """Open a UDP endpoint: connected to ``remote`` if given, else bound to ``local``.

    ``prepare`` sets further options on each socket before it binds and connects.

    Host names resolve with the one resolver (``_transports.resolve``: IP literals without
    a lookup); each resolved address is tried in order until a socket binds (and
    connects).  Failures raise ``NetworkError``.
    """
    if remote is None and local is None:
        raise ValueError("open_datagram_endpoint needs remote, local or both")
    remote = _check_address(remote, "remote") if remote is not None else None
    local = _check_address(local, "local") if local is not None else None
    if ttl is not None:
        _check_int(ttl, "ttl", 1, 255)
    if send_buffer_size is not None:
        _check_int(send_buffer_size, "send_buffer_size", 1, 2**31 - 1)
    if receive_buffer_size is not None:
        _check_int(receive_buffer_size, "receive_buffer_size", 1, 2**31 - 1)
    runtime = current()
    remotes = (
        await resolve(runtime, remote[0], remote[1], kind=socket.SOCK_DGRAM)
        if remote is not None
        else None
    )
    locals_ = (
        await resolve(runtime, local[0], local[1], kind=socket.SOCK_DGRAM, passive=True)
        if local is not None
        else None
    )
    candidates: list[tuple[int, Address | None, Address | None]] = []
    if remotes is None:
        assert locals_ is not None
        candidates = [(family, addr, None) for family, addr in locals_]
    elif locals_ is None:
        candidates = [(family, None, addr) for family, addr in remotes]
    else:
        candidates = [(rf, la, ra) for rf, ra in remotes for lf, la in locals_ if lf == rf]
        if not candidates:
            raise NetworkError(f"local {local!r} and remote {remote!r} share no address family")

    last: OSError | None = None
    for family, local_addr, remote_addr in candidates:
        try:
            sock = open_socket(
                family,
                local=local_addr,
                remote=remote_addr,
                ttl=ttl,
                send_buffer_size=send_buffer_size,
                receive_buffer_size=receive_buffer_size,
                reuse_port=reuse_port,
                ipv6_only=ipv6_only,
                prepare=prepare,
            )
        except OSError as exc:
            last = exc
            continue
        protocol = protocol_factory()
        endpoint = DatagramEndpoint(runtime, sock, protocol)
        endpoint.start()
        return endpoint, protocol
    assert last is not None
    target = (
        f"to {describe_address(remote)}" if remote is not None else f"on {describe_address(local)}"
    )
    raise network_error(last, f"cannot open a UDP endpoint {target}") from None


def adopt_datagram_endpoint(
    protocol_factory: Callable[[], P],
    sock: socket.socket,
    *,
    ttl: int | None = None,
    send_buffer_size: int | None = None,
    receive_buffer_size: int | None = None,
    prepare: Callable[[socket.socket], None] | None = None,
) -> tuple[DatagramEndpoint, P]:
    """An endpoint on a UDP socket handed over (``sock=``), bound or connected already."""
    if sock.fileno() < 0:
        raise NetworkError(f"the adopted socket was closed before it was used: {sock!r}")
    try:
        sock.setblocking(False)
        _set_options(sock, ttl, send_buffer_size, receive_buffer_size)
        if prepare is not None:
            prepare(sock)
    except BaseException:
        sock.close()
        raise
    claim(sock)
    protocol = protocol_factory()
    endpoint = DatagramEndpoint(current(), sock, protocol)
    endpoint.start()
    return endpoint, protocol
