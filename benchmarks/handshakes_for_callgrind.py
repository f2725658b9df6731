"""N TLS handshakes, both ends in one process, for counting instructions with callgrind.

    valgrind --tool=callgrind python benchmarks/handshakes_for_callgrind.py PEER N [--no-tickets]

PEER: ``unisock-trio``, ``unisock``, ``unisock-uvloop``, ``trio`` or ``asyncio-streams``,
the workloads of ``calls_per_handshake.py`` without its profiler.  Run it for two values
of N (say 50 and 150) and divide the difference of callgrind's "Collected" totals by the
difference of N: start-up and imports cancel out, what is left is one handshake and close,
client and server, in instructions (Python, OpenSSL, libc: everything the process runs).

Deterministic enough to compare two checkouts: run with ``PYTHONHASHSEED=0``; trio's
scheduler, which shuffles each batch, is seeded here.  What still moves the figure is
ordering: an unisock client reads what arrives before it closes, so it processes the
server's TLS 1.3 session tickets when they come first (~0.2M instructions), which a trio
``SSLStream`` client that never calls ``receive_some`` does not.  ``--no-tickets`` makes
both servers send none (``num_tickets = 0``), so both ends of every peer do the same TLS
work.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import calls_per_handshake as cph


class Plain:
    """``calls_per_handshake.Counter`` without the profiler or the warm-up."""

    def __init__(self, n: int) -> None:
        self.n = n

    async def run(self, one: Callable[[], Awaitable[None]]) -> None:
        for _ in range(self.n):
            await one()


def no_tickets() -> None:
    """Both servers (trio's context and unisock's) send no TLS 1.3 session tickets."""
    from unisock._transports.tls import config

    make = cph.Pki.server_context

    def server_context(self: cph.Pki) -> ssl.SSLContext:
        ctx = make(self)
        ctx.num_tickets = 0
        return ctx

    build = config._build_server

    def build_server(opts: Any) -> ssl.SSLContext:
        ctx = build(opts)
        ctx.num_tickets = 0
        return ctx

    cph.Pki.server_context = server_context  # type: ignore[method-assign]
    config._build_server = build_server


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 2 or args[0] not in (*cph.PEERS, "unisock-uvloop"):
        sys.exit(f"usage: handshakes_for_callgrind.py {'|'.join(cph.PEERS)}|unisock-uvloop N")
    peer, n = args[0], int(args[1])
    random.seed(0)
    try:
        import trio._core._run as trio_run

        trio_run._r.seed(0)  # trio shuffles each batch of tasks: the same order every run
    except ImportError:
        pass
    if "--no-tickets" in sys.argv:
        no_tickets()
    pki, counter = cph.Pki(), Plain(n)
    if peer in ("unisock-trio", "trio"):
        cph.run_trio(peer, pki, counter)  # type: ignore[arg-type]
    elif peer == "unisock":
        asyncio.run(cph.run_unisock_asyncio(pki, counter))  # type: ignore[arg-type]
    elif peer == "unisock-uvloop":
        import uvloop

        uvloop.run(cph.run_unisock_asyncio(pki, counter))  # type: ignore[arg-type]
    else:
        asyncio.run(cph.run_asyncio_streams(pki, counter))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
