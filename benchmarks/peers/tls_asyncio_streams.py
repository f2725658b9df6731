"""Peer: asyncio streams with ``ssl=`` (``open_connection`` / ``start_server``), any loop.

    server tls-source | tls-hs        client tls-download | tls-handshakes PORT

``tls-source`` writes 128 KiB chunks with ``drain()``; ``tls-hs`` completes each handshake
and closes when the client does.  ``tls-handshakes`` counts new connections whose full
handshake finished (then closed); no session is reused.
"""

from __future__ import annotations

import asyncio
import contextlib

import _common as c
import _tls


async def handle(args: c.Args, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        if args.mode == "tls-source":
            chunk = c.CHUNK
            while True:
                writer.write(chunk)
                await writer.drain()
        else:
            await reader.read(1)
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def serve(args: c.Args) -> None:
    server = await asyncio.start_server(
        lambda r, w: handle(args, r, w), _tls.HOST, 0, ssl=_tls.server_context()
    )
    c.announce_port(server.sockets[0].getsockname()[1])
    await asyncio.Event().wait()


async def download(args: c.Args, meter: c.Meter) -> None:
    reader, _ = await asyncio.open_connection(_tls.HOST, args.port, ssl=_tls.client_context())
    size = c.READ_SIZE
    while data := await reader.read(size):
        meter.count += len(data)
    c.fail("asyncio: the server closed the connection")


async def handshakes(args: c.Args, meter: c.Meter) -> None:
    ctx = _tls.client_context()
    while True:
        _, writer = await asyncio.open_connection(_tls.HOST, args.port, ssl=ctx)
        writer.close()
        await writer.wait_closed()
        meter.count += 1


async def client(args: c.Args) -> None:
    meter = c.Meter()
    run = download if args.mode == "tls-download" else handshakes
    task = asyncio.create_task(run(args, meter))
    task.add_done_callback(lambda t: t.cancelled() or c.fail(f"asyncio: {t.exception()!r}"))
    await c.measure_asyncio(meter, args)


def main() -> None:
    args = c.parse()
    if args.loop == "uvloop":
        import uvloop  # noqa: F401
    if args.role == "check":
        _tls.cert_dir()
        return
    c.run_asyncio(lambda: client(args) if args.role == "client" else serve(args), args.loop)


if __name__ == "__main__":
    main()
