"""Peer: anyio byte streams (``receive`` / ``send``) on its asyncio backend (the stock loop),
or on its trio backend (``--loop trio``)."""

from __future__ import annotations

from functools import partial

import _common as c
import anyio
import anyio.lowlevel
from anyio.abc import SocketAttribute, SocketStream

ERRORS = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


async def forward(src: SocketStream, dst: SocketStream) -> None:
    try:
        while True:
            await dst.send(await src.receive(c.READ_SIZE))
    except anyio.EndOfStream:
        await dst.send_eof()
    except ERRORS:
        pass


async def pump(stream: SocketStream, meter: c.Meter | None) -> None:
    chunk, n = c.CHUNK, 0
    while True:
        await stream.send(chunk)
        if meter is not None:
            meter.count += len(chunk)
        n += 1
        if n % c.YIELD_EVERY == 0:
            await anyio.lowlevel.checkpoint()


async def handle(args: c.Args, stream: SocketStream) -> None:
    try:
        async with stream:
            if args.role == "proxy":
                upstream = await anyio.connect_tcp("127.0.0.1", args.upstream)
                async with upstream, anyio.create_task_group() as tg:
                    tg.start_soon(forward, stream, upstream)
                    tg.start_soon(forward, upstream, stream)
            elif args.mode == "sink":
                while True:
                    await stream.receive(c.READ_SIZE)
            elif args.mode == "echo":
                while True:
                    await stream.send(await stream.receive(c.READ_SIZE))
            else:
                await pump(stream, None)
    except ERRORS:
        pass


async def serve(args: c.Args) -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    c.announce_port(listener.extra(SocketAttribute.local_port))
    await listener.serve(partial(handle, args))


async def ping(stream: SocketStream, meter: c.Meter) -> None:
    msg, size = c.MSG, len(c.MSG)
    while True:
        await stream.send(msg)
        got = 0
        while got < size:
            got += len(await stream.receive(c.READ_SIZE))
        meter.count += 1


async def count(stream: SocketStream, meter: c.Meter) -> None:
    while True:
        meter.count += len(await stream.receive(c.READ_SIZE))


async def client(args: c.Args) -> None:
    meter = c.Meter()
    async with anyio.create_task_group() as tg:
        if args.mode == "pingpong":
            streams = [await anyio.connect_tcp("127.0.0.1", args.port) for _ in range(args.conns)]
            for stream in streams:
                tg.start_soon(ping, stream, meter)
        else:
            stream = await anyio.connect_tcp("127.0.0.1", args.port)
            tg.start_soon(pump if args.mode == "upload" else count, stream, meter)
        window = c.Window(meter)
        await anyio.sleep(args.warmup)
        window.open()
        await anyio.sleep(args.duration)
        window.close()


def main() -> None:
    args = c.parse()
    if args.role == "check":
        return
    backend = "trio" if args.loop == "trio" else "asyncio"
    anyio.run(client if args.role == "client" else serve, args, backend=backend)


if __name__ == "__main__":
    main()
