"""How each transport type opens: the one place that knows TCP, TLS, UDP and QUIC apart."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._transports.tcp import open_tcp

if TYPE_CHECKING:
    from .socket import Socket


async def open_socket(sock: Socket) -> None:
    """Connect ``sock`` according to its options and mark it open."""
    opts = sock._opts
    loop = sock._loop
    if opts.transport == "tcp":
        transport, sent = await open_tcp(
            loop, opts, lambda: sock._protocol, fast_open=sock._fast_open
        )
        if sock._state == "closed":  # aborted meanwhile: see Socket._attach
            transport.abort()
            return
        sock._fast_open_sent = sent
        sock._bytes_written += sent
        sock._open(sock._transport_info(transport))
        return
    if opts.transport == "tls":
        from .tls import connect_tls

        await connect_tls(sock)
        return
    if opts.transport == "udp":
        from .udp import open_udp

        await open_udp(sock)
        return
    if opts.transport == "quic":
        from .quic import open_quic_stream

        await open_quic_stream(sock)
        return
    raise AssertionError(opts.transport)


__all__ = ["open_socket"]
