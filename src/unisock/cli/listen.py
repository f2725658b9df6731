"""``unisock listen``: serve connections, echoing them or joining the first to stdin/stdout."""

from __future__ import annotations

import argparse
import contextlib

from .. import Socket, SocketListener
from .bridge import bridge
from .connect import finish
from .describe import info_line, stats_line
from .options import (
    datagram,
    listen_address,
    listener_options,
    new_listener,
    temporary_ca_file,
)
from .run import describe, eprint
from .tasks import Job, cancelled_errors, spawn

__all__ = ["listen_main", "open_listener"]


async def open_listener(
    args: argparse.Namespace, ca_file: str | None, **extra: object
) -> SocketListener:
    """Listen as the flags say and announce the address (and a --self-signed CA) on stderr."""
    where = listen_address(args.target)
    init = listener_options(args, ca_file)
    listener = new_listener(local=where, **init, **extra)
    local = await listener.ready
    eprint(f"unisock: listening on {local} ({args.type})")
    if ca_file is not None:
        eprint(f"unisock: self-signed certificate; clients can trust it with --ca {ca_file}")
    return listener


async def listen_main(args: argparse.Namespace) -> int:
    with temporary_ca_file(getattr(args, "self_signed", False)) as ca_file:
        listener = await open_listener(args, ca_file, allow_half_open=not args.echo)
        async with listener:
            if args.echo:
                await _serve_echo(listener, args.verbose)
                return 0
            return await _serve_stdio(listener, args)


def _peer(sock: Socket) -> str:
    return str(sock.info.remote)


async def _serve_echo(listener: SocketListener, verbose: bool) -> None:
    tasks: set[Job] = set()
    try:
        async for event in listener:
            task = spawn(_echo(event.socket, verbose))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        for task in list(tasks):
            task.cancel()
        for task in list(tasks):
            with contextlib.suppress(BaseException):
                await task


async def _echo(sock: Socket, verbose: bool) -> None:
    peer = _peer(sock)
    eprint(f"unisock: connection from {peer}")
    if verbose:
        eprint(f"unisock: {peer}: {info_line(sock.info)}")
    ok = True  # also on Ctrl-C: each connection is closed (FIN), not reset
    try:
        await sock.readable.pipe_to(sock.writable)
    except Exception as exc:
        ok = False
        eprint(f"unisock: {peer}: {describe(exc)}")
    finally:
        await finish(sock, ok)
        if verbose:
            eprint(f"unisock: {peer} done: {stats_line(sock.stats)}")


async def _serve_stdio(listener: SocketListener, args: argparse.Namespace) -> int:
    events = aiter(listener)
    event = await anext(events, None)
    if event is None:
        return 1
    sock = event.socket
    peer = _peer(sock)
    eprint(f"unisock: connection from {peer}")
    if args.verbose:
        eprint(f"unisock: {peer}: {info_line(sock.info)}")

    refusing: set[Job] = set()

    def busy(ev: object) -> None:
        other: Socket = ev.socket  # type: ignore[attr-defined]
        eprint(f"unisock: refused {_peer(other)}: busy with {peer}")
        task = spawn(finish(other, False))
        refusing.add(task)
        task.add_done_callback(refusing.discard)

    listener.add_event_listener("socket", busy)
    ok = True
    try:
        await bridge(sock, datagram=datagram(args), wait=args.wait)
    except cancelled_errors():
        raise  # Ctrl-C: a graceful close (FIN), as at the end
    except BaseException:
        ok = False
        raise
    finally:
        await finish(sock, ok)
    if args.verbose:
        eprint(f"unisock: {peer} done: {stats_line(sock.stats)}")
    return 0
