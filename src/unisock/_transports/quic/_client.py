"""Client connections: ``connect_quic`` opens one, or shares a live one from the pool.

The pool holds one connection per (loop, resolved remote, TLS options with the servername
filled in); a connection leaves it as soon as it starts closing.  A connection is handed
out before its handshake completes, so that streams opened at once ride in 0-RTT when a
session ticket allows it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable
from functools import partial
from typing import Any

from ..._runtime import current
from ..._runtime.base import Runtime
from ...errors import NetworkError, network_error
from ._connection import QuicConnectionCore
from ._endpoint import Address, open_client_endpoint
from ._engines import core as quic_core
from ._options import QuicTLSOptions
from ._resolve import resolve_udp
from ._stream import QuicStreamTransport
from ._tickets import client_tickets

__all__ = ["connect_quic", "pool_size"]

_pool: dict[tuple[int, Hashable], QuicConnectionCore] = {}


def pool_size() -> int:
    """Live pooled connections, all loops together (for tests and diagnostics)."""
    return sum(1 for core in _pool.values() if not core.is_closing)


async def connect_quic(
    remote: tuple[str, int], options: QuicTLSOptions, *, pooling: bool = True
) -> QuicConnectionCore:
    """A client connection to ``remote``: a pooled live one, or a new one (handshaking)."""
    loop = current()
    host, port = remote
    try:
        family, addr = await resolve_udp(loop, host, port)
    except OSError as exc:
        raise network_error(exc, f"cannot resolve {host!r}") from None
    if options.servername is None:
        options = dataclasses.replace(options, servername=host.strip("[]"))
    key = (addr, options)
    pool_key = (id(loop), key)
    if pooling:
        core = _pool.get(pool_key)
        if core is not None and core.loop is loop and not core.is_closing:
            return core
    core = _open(loop, family, addr, options, key)
    if pooling:
        _pool[pool_key] = core
        core.on_end.append(partial(_leave_pool, pool_key))
    return core


def _leave_pool(pool_key: tuple[int, Hashable], core: QuicConnectionCore) -> None:
    if _pool.get(pool_key) is core:
        del _pool[pool_key]


def _open(
    loop: Runtime,
    family: int,
    addr: Address,
    options: QuicTLSOptions,
    key: Hashable,
) -> QuicConnectionCore:
    engine = quic_core()
    config = engine.configuration(options, is_client=True)
    ticket = client_tickets.take((engine.NAME, key))
    if ticket is not None:
        config.session_ticket = ticket
    try:
        endpoint = open_client_endpoint(loop, family, addr)
    except OSError as exc:
        raise NetworkError(f"cannot open a UDP socket to {addr!r}: {exc}", exc.errno) from None
    streams: dict[int, QuicStreamTransport] = {}
    link = engine.link(
        config,
        credits=streams,
        window=options.stream_window,
        session_ticket_handler=partial(_keep_ticket, (engine.NAME, key)),
    )
    core = QuicConnectionCore(loop, link, endpoint, peer=addr, options=options, streams=streams)
    endpoint.core = core
    core.on_end.append(_release_endpoint)
    link.connect(addr, loop.time())
    core.schedule_flush()  # one pass later, so 0-RTT writes made now share the first flight
    return core


def _keep_ticket(key: Hashable, ticket: Any) -> None:
    client_tickets.store(key, ticket)


def _release_endpoint(core: QuicConnectionCore) -> None:
    endpoint: Any = core.endpoint
    endpoint.core = None
    endpoint.close()
