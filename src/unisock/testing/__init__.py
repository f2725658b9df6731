"""A public conformance kit for unisock sockets, in the spirit of ``trio.testing``.

Each ``check_*`` function is an ``async`` function that takes a *pair factory*
(:class:`PairFactory`: called with socket options, it yields two connected sockets
and cleans them up) and raises ``AssertionError`` saying what is wrong when the pair
breaks the contract of ``docs/api.md``. The checks use the public API only, so they
test any transport the same way: unisock's own (factories in
:mod:`unisock.testing.pairs`), or yours.

- byte streams (TCP, TLS, STARTTLS, QUIC streams): :func:`check_half_closeable_stream`
  runs everything below in both directions, or call the checks one by one;
- datagrams (UDP): :func:`check_datagram_pair`, :func:`check_bound_datagrams`;
- STARTTLS over a TCP pair: :func:`check_starttls`;
- the ``"data"`` event mode over a byte-stream pair: :func:`check_data_event_mode`.

Usage, on asyncio, uvloop or trio (the checks run on the caller's runtime)::

    from unisock.testing import TLSMaterial, check_half_closeable_stream, pairs

    await check_half_closeable_stream(pairs.tcp_pair())
    await check_half_closeable_stream(pairs.tls_pair(TLSMaterial(cert, key, ca)))

The checks assume loopback (no loss, no reordering, small delays): they bound every
wait and compare timings loosely.
"""

from __future__ import annotations

from . import pairs
from ._common import Pair, PairFactory, TLSMaterial, flipped, read_all, settled
from ._other_checks import (
    UDP_MAX_IPV4,
    check_bound_datagrams,
    check_data_event_mode,
    check_datagram_pair,
    check_starttls,
)
from ._stream_checks import (
    HALF_CLOSE_CHECKS,
    ONE_WAY_CHECKS,
    TWO_WAY_CHECKS,
    check_abort,
    check_async_for,
    check_auto_close_after_end,
    check_backpressure,
    check_byob_reads,
    check_concurrent_both_ways,
    check_half_close,
    check_half_closeable_stream,
    check_idle_timeout,
    check_large_write,
    check_many_small_writes,
    check_ordered_integrity,
    check_pipe_to,
    check_stats,
    check_two_way_stream,
)

__all__ = [
    "HALF_CLOSE_CHECKS",
    "ONE_WAY_CHECKS",
    "TWO_WAY_CHECKS",
    "UDP_MAX_IPV4",
    "Pair",
    "PairFactory",
    "TLSMaterial",
    "check_abort",
    "check_async_for",
    "check_auto_close_after_end",
    "check_backpressure",
    "check_bound_datagrams",
    "check_byob_reads",
    "check_concurrent_both_ways",
    "check_data_event_mode",
    "check_datagram_pair",
    "check_half_close",
    "check_half_closeable_stream",
    "check_idle_timeout",
    "check_large_write",
    "check_many_small_writes",
    "check_ordered_integrity",
    "check_pipe_to",
    "check_starttls",
    "check_stats",
    "check_two_way_stream",
    "flipped",
    "pairs",
    "read_all",
    "settled",
]
