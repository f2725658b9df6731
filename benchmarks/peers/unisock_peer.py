"""Peer: unisock, through its public API only (/work/shared/API.md), on asyncio or uvloop.

Streams by default: ``async for chunk in sock.readable``, a writer that writes without
awaiting while ``desired_size > 0``, and ``readable.pipe_to(writable)`` for the proxy.
``--data`` uses the ``"data"`` event instead for both sides of ping-pong: a sync listener
that writes each buffer back (the fast echo path of API.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import _common as c

import unisock as _unisock_module

# Typed loosely on purpose: Socket and SocketListener land with issue 3, after this peer.
unisock: Any = _unisock_module


async def write_all(writer: Any, chunk: bytes, meter: c.Meter | None) -> None:
    """Bulk writer: queue without awaiting while there is room, else wait for ``ready``."""
    n = 0
    while True:
        size = writer.desired_size
        if size is not None and size > 0:
            writer.write(chunk)
            if meter is not None:
                meter.count += len(chunk)
            n += 1
            if n % c.YIELD_EVERY == 0:
                await asyncio.sleep(0)
        else:
            await writer.ready


async def echo_streams(sock: Any) -> None:
    writer = sock.writable.get_writer()
    async for chunk in sock.readable:
        size = writer.desired_size
        if size is None or size <= 0:
            await writer.ready
        writer.write(chunk)


def echo_data(sock: Any) -> None:
    writer = sock.writable.get_writer()
    write = writer.write

    def on_data(event: Any) -> None:
        for buffer in event.buffers:
            write(buffer)

    sock.add_event_listener("data", on_data)


async def proxy(args: c.Args, client: Any) -> None:
    upstream = unisock.Socket(remote=("127.0.0.1", args.upstream), no_delay=True)
    await upstream.ready
    await asyncio.gather(
        client.readable.pipe_to(upstream.writable),
        upstream.readable.pipe_to(client.writable),
    )


async def handle(args: c.Args, sock: Any) -> None:
    try:
        if args.role == "proxy":
            await proxy(args, sock)
        elif args.mode == "sink":
            async for _ in sock.readable:
                pass
        elif args.mode == "echo":
            if args.data:
                echo_data(sock)
                await sock.closed
            else:
                await echo_streams(sock)
        else:
            await write_all(sock.writable.get_writer(), c.CHUNK, None)
    except Exception:  # the client leaving ends every handler with some error
        with contextlib.suppress(Exception):
            await sock.abort()


async def serve(args: c.Args) -> None:
    handlers: set[asyncio.Task[None]] = set()
    async with unisock.SocketListener(local=("127.0.0.1", 0), no_delay=True) as listener:
        await listener.ready
        c.announce_port(listener.local.port)
        async for event in listener:
            task = asyncio.create_task(handle(args, event.socket))
            handlers.add(task)
            task.add_done_callback(handlers.discard)


async def ping_streams(sock: Any, meter: c.Meter) -> None:
    writer = sock.writable.get_writer()
    reader = sock.readable.get_reader()
    msg, size = c.MSG, len(c.MSG)
    while True:
        writer.write(msg)
        got = 0
        while got < size:
            result = await reader.read()
            if result.done:
                c.fail("unisock: the server closed the connection")
            got += len(result.value)
        meter.count += 1


def ping_data(sock: Any, meter: c.Meter) -> None:
    writer = sock.writable.get_writer()
    write, msg, size = writer.write, c.MSG, len(c.MSG)
    got = 0

    def on_data(event: Any) -> None:
        nonlocal got
        for buffer in event.buffers:
            got += len(buffer)
        if got >= size:
            got -= size
            meter.count += 1
            write(msg)

    sock.add_event_listener("data", on_data)
    write(msg)


async def count(sock: Any, meter: c.Meter) -> None:
    async for chunk in sock.readable:
        meter.count += len(chunk)


async def connect(port: int) -> Any:
    sock = unisock.Socket(remote=("127.0.0.1", port), no_delay=True)
    await sock.ready
    return sock


async def client(args: c.Args) -> None:
    meter = c.Meter()
    tasks: list[asyncio.Task[None]] = []
    if args.mode == "pingpong":
        socks = [await connect(args.port) for _ in range(args.conns)]
        for sock in socks:
            if args.data:
                ping_data(sock, meter)
            else:
                tasks.append(asyncio.create_task(ping_streams(sock, meter)))
    else:
        sock = await connect(args.port)
        if args.mode == "upload":
            tasks.append(asyncio.create_task(write_all(sock.writable.get_writer(), c.CHUNK, meter)))
        else:
            tasks.append(asyncio.create_task(count(sock, meter)))
    for task in tasks:  # a failing side ends the run with its reason, not a silent zero
        task.add_done_callback(lambda t: t.cancelled() or c.fail(f"unisock: {t.exception()!r}"))
    await c.measure_asyncio(meter, args)


def check(args: c.Args) -> None:
    """Fail with one line when the API this peer needs is not there yet."""
    missing = [name for name in ("Socket", "SocketListener") if not hasattr(unisock, name)]
    if missing:
        c.fail(f"unisock.{', unisock.'.join(missing)} not available yet")
    if args.loop == "uvloop":
        import uvloop  # noqa: F401


def main() -> None:
    args = c.parse()
    check(args)
    if args.role == "check":
        return
    c.run_asyncio(lambda: client(args) if args.role == "client" else serve(args), args.loop)


if __name__ == "__main__":
    main()
