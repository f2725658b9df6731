"""Peer: plain aioquic through its asyncio API (``aioquic.asyncio.serve`` / ``connect``).

    server quic-server          client quic-bulk1 | quic-bulk8 | quic-opens PORT

The same request protocol as unisock_peer.py's QUIC modes: each request is a new stream
of one connection carrying an ASCII byte count then FIN; the server answers with that
many bytes then FIN.  aioquic's ``StreamWriter`` has no backpressure (``write`` queues
everything at once), which is why requests are bounded (4 MiB).
"""

from __future__ import annotations

import asyncio
from typing import Any

import _common as c
import _tls

REQUEST = 4 << 20
TASKS: set[asyncio.Task[None]] = set()


def configuration(is_client: bool) -> Any:
    from aioquic.quic.configuration import QuicConfiguration

    config = QuicConfiguration(is_client=is_client, alpn_protocols=[_tls.ALPN])
    if is_client:
        config.server_name = "localhost"
        config.cadata = _tls.pem("ca")
    else:
        d = _tls.cert_dir()
        config.load_cert_chain(d / "chain.pem", d / "key.pem")
    return config


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    left = int((await reader.read()) or b"0")
    chunk, size = c.CHUNK, len(c.CHUNK)
    while left > 0:
        writer.write(chunk if left >= size else chunk[:left])
        left -= size
    writer.write_eof()


def on_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    task = asyncio.ensure_future(answer(reader, writer))
    TASKS.add(task)
    task.add_done_callback(TASKS.discard)


async def serve(args: c.Args) -> None:
    from aioquic.asyncio.server import serve as quic_serve

    server = await quic_serve(
        _tls.HOST, 0, configuration=configuration(False), stream_handler=on_stream
    )
    transport: Any = server._transport  # aioquic exposes no public way to read the port
    c.announce_port(transport.get_extra_info("sockname")[1])
    await asyncio.Event().wait()


async def requests(client: Any, meter: c.Meter, size: int, bulk: bool) -> None:
    body = b"%d" % size
    while True:
        reader, writer = await client.create_stream()
        writer.write(body)
        writer.write_eof()
        got = 0
        while data := await reader.read(c.READ_SIZE):
            got += len(data)
            if bulk:
                meter.count += len(data)
        if got != size:
            c.fail(f"aioquic: an answer had {got} bytes, not {size}")
        if not bulk:
            meter.count += 1


async def client(args: c.Args) -> None:
    from aioquic.asyncio.client import connect

    meter = c.Meter()
    async with connect(_tls.HOST, args.port, configuration=configuration(True)) as quic:
        if args.mode == "quic-opens":
            coros = [requests(quic, meter, 1, False)]
        else:
            streams = 8 if args.mode == "quic-bulk8" else 1
            coros = [requests(quic, meter, REQUEST, True) for _ in range(streams)]
        for coro in coros:
            task = asyncio.create_task(coro)
            TASKS.add(task)
            task.add_done_callback(lambda t: t.cancelled() or c.fail(f"aioquic: {t.exception()!r}"))
        await c.measure_asyncio(meter, args)


def main() -> None:
    args = c.parse()
    import aioquic  # noqa: F401

    if args.loop == "uvloop":
        import uvloop  # noqa: F401
    if args.role == "check":
        _tls.cert_dir()
        return
    c.run_asyncio(lambda: client(args) if args.role == "client" else serve(args), args.loop)


if __name__ == "__main__":
    main()
