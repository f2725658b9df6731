"""Opening the endpoint of a UDP socket or listener from its options: a socket of our own
or an adopted one (``sock=``), then broadcast and multicast set on it."""

from __future__ import annotations

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
    """The endpoint, with every socket option of ``opts`` set; closed again if one fails."""
    if adopted is not None:
        endpoint, protocol = adopt_datagram_endpoint(
            protocol_factory,
            adopted,
            ttl=opts.ttl,
            send_buffer_size=opts.send_buffer_size,
            receive_buffer_size=opts.receive_buffer_size,
        )
    else:
        endpoint, protocol = await open_datagram_endpoint(
            protocol_factory,
            remote=remote,
            local=local,
            ttl=opts.ttl,
            send_buffer_size=opts.send_buffer_size,
            receive_buffer_size=opts.receive_buffer_size,
            reuse_port=reuse_port,
            ipv6_only=ipv6_only,
        )
    try:
        configure_datagram(endpoint.get_extra_info("socket"), opts)
    except BaseException:
        endpoint.close()
        raise
    return endpoint, protocol
