"""Opening the endpoint of a UDP socket or listener from its options: a socket of our own
or an adopted one (``sock=``), with broadcast and multicast set before it connects (a
connected socket's route, and so its multicast interface, is fixed by ``connect``)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any, TypeVar

from ..._base.options import Options
from .endpoint import (
    DatagramEndpoint,
    DatagramProtocol,
    adopt_datagram_endpoint,
    open_datagram_endpoint,
)
from .multicast import configure_datagram

__all__ = ["open_endpoint"]

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
