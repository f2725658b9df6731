"""``unisock connect``: stdin to a socket, the socket to stdout."""

from __future__ import annotations

import argparse
import contextlib

from .. import Socket
from .bridge import bridge
from .describe import info_line, stats_line
from .options import client_options, datagram, open_socket, target_address
from .run import eprint
from .tasks import cancelled_errors, settle_within

__all__ = ["connect_main", "finish"]


async def connect_main(args: argparse.Namespace) -> int:
    remote = target_address(args.target)
    init = client_options(args)
    udp = datagram(args)
    sock = open_socket(remote=remote, allow_half_open=True, **init)
    ok = False
    try:
        info = await sock.ready
        ok = True  # from here on, Ctrl-C closes (FIN), it does not reset
        if args.verbose:
            eprint(f"unisock: connected to {info.remote} from {info.local} ({info_line(info)})")
        try:
            await bridge(sock, datagram=udp, half_close=not args.no_half_close, wait=args.wait)
        except cancelled_errors():
            raise  # Ctrl-C (the runner cancels this task): still a graceful close
        except BaseException:
            ok = False
            raise
    finally:
        await finish(sock, ok)
    if args.verbose:
        eprint(f"unisock: {stats_line(sock.stats)}")
    return 0


async def finish(sock: Socket, graceful: bool) -> None:
    """Close (or, after a failure, abort) the socket and its QUIC connection."""
    if graceful:
        await sock.close()
    else:
        await sock.abort()
    connection = getattr(sock, "connection", None)
    if connection is not None:
        with contextlib.suppress(Exception):
            connection.close()
            await settle_within(connection.closed, 2)
    with contextlib.suppress(Exception):
        await sock.closed
