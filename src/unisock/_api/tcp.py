"""The TCP driver: connecting (Happy Eyeballs, Fast Open), listening, accepting."""

from __future__ import annotations

import contextlib
import socket
from typing import TYPE_CHECKING, Any, ClassVar

from .._base.address import SocketAddress, from_sockaddr, is_ip
from .._base.options import ListenerOptions
from .._base.records import tcp_segments
from .._transports.sockopts import set_ipv6_only, set_no_delay, set_reuse_address, set_reuse_port
from .._transports.tcp import apply_socket_options, open_tcp, reset
from ..errors import NetworkError
from .driver import Driver
from .info import transport_info

if TYPE_CHECKING:
    from .listener import SocketListener
    from .socket import Socket

__all__ = ["DRIVER", "TcpDriver"]

FAST_OPEN_MAX = 1400
"""The largest body sent on the SYN (one segment on any usual path)."""


class TcpDriver(Driver):
    name: ClassVar[str] = "tcp"
    zero_copy_reads: ClassVar[bool] = True
    any_runtime: ClassVar[bool] = True  # and TLS, which inherits it

    def early_data(self, sock: Socket, body: Any) -> bytes | None:
        # A small fixed body can ride on the SYN (TCP Fast Open, where the kernel can).
        if not sock._opts.no_delay or not isinstance(body, str | bytes | bytearray | memoryview):
            return None
        payload = body.encode() if isinstance(body, str) else bytes(body)
        return payload if 0 < len(payload) <= FAST_OPEN_MAX else None

    async def open(self, sock: Socket) -> None:
        transport, sent = await open_tcp(
            sock._loop, sock._opts, lambda: sock._protocol, fast_open=sock._fast_open
        )
        if sock._state == "closed":  # aborted meanwhile: see Socket._attach
            reset(transport)  # the peer may have accepted already: RST, as any abort
            return
        sock._fast_open_sent = sent
        sock._bytes_written += sent
        sock._open(transport_info(sock._opts.type_label, transport, sock._opts.remote))

    async def listen(self, listener: SocketListener) -> None:
        # unisock's own accept loop (``_transports.accept``): out of file descriptors it
        # pauses and retries with a backoff, logging once, on every loop.
        from .._transports.accept import Acceptor, open_listening_sockets

        opts = listener._opts
        if opts.local.path is not None and opts.sock is None:
            from .._transports.unix import listening_socket

            sockets, listener._handle = await _unix_listening(opts, listening_socket)
        elif opts.sock is not None:  # adopted (systemd socket activation, a parent process)
            from .._transports.adopt import take_listening

            sockets = take_listening(opts.sock)
        else:
            sockets = await open_listening_sockets(
                listener._loop,
                opts.local.address,
                opts.local.port,
                backlog=opts.backlog,
                reuse_port=opts.reuse_port,
                prebound=_ipv6_listening_socket(opts),
            )
        listener.local = from_sockaddr(sockets[0].getsockname()) if sockets else None
        what = f"{self.name.upper()} listener on {listener.local}"
        listener._server = Acceptor(
            listener._loop, sockets, listener._make_protocol, listener._accept_failed, what
        )

    def accepted(self, listener: SocketListener, sock: Socket, transport: Any) -> None:
        self.configure_accepted(sock, transport)
        if listener._opts.proxy_protocol:  # the PROXY header first (``_api.proxy``)
            from .proxy import read_proxy_header

            read_proxy_header(listener, sock, transport)
            return
        self.begin(listener, sock, transport)

    def begin(
        self,
        listener: SocketListener,
        sock: Socket,
        transport: Any,
        initial_data: bytes = b"",
        remote: SocketAddress | None = None,
    ) -> None:
        """An accepted connection, ready to start: deliver it.  ``initial_data``: bytes
        already read (after a PROXY header); ``remote``: the client the header named."""
        if transport.get_protocol() is not sock._protocol:
            transport.set_protocol(sock._protocol)  # back from the PROXY header reader
        info = transport_info(sock._opts.type_label, transport, sock._opts.remote, remote=remote)
        if initial_data:
            sock._on_data(initial_data)
        sock._open(info)
        listener._deliver(sock)

    def configure_accepted(self, sock: Socket, transport: Any) -> None:
        """The listener's socket options, applied to an accepted connection."""
        opts = sock._opts
        raw = transport.get_extra_info("socket")
        if raw is not None:
            set_no_delay(raw, opts.no_delay)
            with contextlib.suppress(NetworkError):
                apply_socket_options(raw, opts)

    def packets(self, sock: Socket) -> tuple[int, int]:
        if sock._state == "closed" or sock._final_packets is not None:
            return sock._final_packets or (0, 0)
        transport = sock._transport
        segments = tcp_segments(transport.get_extra_info("socket")) if transport else None
        return segments or (0, 0)


async def _unix_listening(opts: ListenerOptions, listening_socket: Any) -> tuple[list[Any], Any]:
    """One listening socket on the listener's path, and what removes its file on close."""
    assert opts.local.path is not None
    sock, owner = listening_socket(opts.local.path, opts.backlog, opts.mode)
    return [sock], owner


def _ipv6_listening_socket(opts: ListenerOptions) -> socket.socket | None:
    """A bound TCP socket for an IPv6 ``local``, dual stack unless ``ipv6_only``.

    asyncio's ``create_server`` (and ``open_listening_sockets`` for host names) sets
    ``IPV6_V6ONLY``, so ``[::]`` would refuse IPv4 clients; Node, Deno and Go accept them,
    and so does unisock.  Host names and IPv4 addresses are left to
    ``open_listening_sockets``.
    """
    host = opts.local.address
    if ":" not in host or not is_ip(host.split("%")[0]):
        return None
    info = socket.getaddrinfo(
        host, opts.local.port, socket.AF_INET6, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST
    )
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        set_reuse_address(sock)
        if opts.reuse_port:
            set_reuse_port(sock)
        set_ipv6_only(sock, opts.ipv6_only)
        sock.bind(info[0][4])
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


DRIVER = TcpDriver()
