"""Peer: asyncio streams (``StreamReader``/``StreamWriter``); ``--loop uvloop`` for uvloop streams.

What most asyncio code uses: a coroutine per connection, ``await reader.read()``,
``writer.write()`` + ``await writer.drain()``.
"""

from __future__ import annotations

import asyncio

import _common as c


async def pump(writer: asyncio.StreamWriter, meter: c.Meter | None) -> None:
    """Write chunks forever, honouring ``drain()``; yield now and then if it never waits."""
    chunk, n = c.CHUNK, 0
    while True:
        writer.write(chunk)
        await writer.drain()
        if meter is not None:
            meter.count += len(chunk)
        n += 1
        if n % c.YIELD_EVERY == 0:
            await asyncio.sleep(0)


async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(c.READ_SIZE):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.transport.abort()


async def handle(args: c.Args, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        if args.role == "proxy":
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", args.upstream)
            await asyncio.gather(forward(reader, up_writer), forward(up_reader, writer))
            up_writer.close()
        elif args.mode == "sink":
            while await reader.read(c.READ_SIZE):
                pass
        elif args.mode == "echo":
            while data := await reader.read(c.READ_SIZE):
                writer.write(data)
                await writer.drain()
        else:
            await pump(writer, None)
    except OSError:
        pass
    writer.close()


async def serve(args: c.Args) -> None:
    server = await asyncio.start_server(lambda r, w: handle(args, r, w), "127.0.0.1", 0)
    c.announce_port(server.sockets[0].getsockname()[1])
    await server.serve_forever()


async def ping(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, meter: c.Meter) -> None:
    msg, size = c.MSG, len(c.MSG)
    while True:
        writer.write(msg)
        await reader.readexactly(size)
        meter.count += 1


async def client(args: c.Args) -> None:
    meter = c.Meter()
    tasks = []
    if args.mode == "pingpong":
        conns = [await asyncio.open_connection("127.0.0.1", args.port) for _ in range(args.conns)]
        tasks = [asyncio.create_task(ping(r, w, meter)) for r, w in conns]
    else:
        reader, writer = await asyncio.open_connection("127.0.0.1", args.port)
        if args.mode == "upload":
            tasks.append(asyncio.create_task(pump(writer, meter)))
        else:
            tasks.append(asyncio.create_task(count(reader, meter)))
    await c.measure_asyncio(meter, args)


async def count(reader: asyncio.StreamReader, meter: c.Meter) -> None:
    while data := await reader.read(c.READ_SIZE):
        meter.count += len(data)


def main() -> None:
    args = c.parse()
    if args.role == "check":
        if args.loop == "uvloop":
            import uvloop  # noqa: F401
        return
    c.run_asyncio(lambda: client(args) if args.role == "client" else serve(args), args.loop)


if __name__ == "__main__":
    main()
