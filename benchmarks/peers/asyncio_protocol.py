"""Peer: asyncio ``Protocol`` callbacks (``--loop uvloop`` for the uvloop Protocol peer).

The fastest thing asyncio offers without buffer management: ``data_received`` gets a
fresh ``bytes`` per read (on the stock loop that read is ``recv(256 KiB)``).
"""

from __future__ import annotations

import asyncio
from typing import cast

import _common as c


class Sink(asyncio.Protocol):
    """Discard every byte."""

    def data_received(self, data: bytes) -> None:
        pass


class Echo(asyncio.Protocol):
    """Send every byte back."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


class Source(asyncio.Protocol):
    """Write 128 KiB chunks until the transport pauses us; count them for an upload."""

    def __init__(self, meter: c.Meter | None = None) -> None:
        self.meter = meter
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.loop = asyncio.get_running_loop()
        self.fill()

    def fill(self) -> None:
        transport, chunk, meter = self.transport, c.CHUNK, self.meter
        for _ in range(c.YIELD_EVERY):
            if self.paused or transport.is_closing():
                return
            transport.write(chunk)
            if meter is not None:
                meter.count += len(chunk)
        self.loop.call_soon(self.fill)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self.fill()


class Counter(asyncio.Protocol):
    """Bulk download: count what arrives."""

    def __init__(self, meter: c.Meter) -> None:
        self.meter = meter

    def data_received(self, data: bytes) -> None:
        self.meter.count += len(data)


class Pinger(asyncio.Protocol):
    """Ping-pong client: one 64-byte ping in flight, the next once the pong is whole."""

    def __init__(self, meter: c.Meter) -> None:
        self.meter = meter
        self.got = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def start(self) -> None:
        self.transport.write(c.MSG)

    def data_received(self, data: bytes) -> None:
        self.got += len(data)
        if self.got >= len(c.MSG):
            self.got -= len(c.MSG)
            self.meter.count += 1
            self.transport.write(c.MSG)


class Relay(asyncio.Protocol):
    """One side of the proxy; backpressure on one side pauses reading on the other."""

    def __init__(self, partner: Relay | None = None, upstream: int = 0) -> None:
        self.partner = partner
        self.upstream = upstream
        self.early: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        if self.partner is None:
            self.transport.pause_reading()
            self.task = asyncio.get_running_loop().create_task(self.connect())

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, partner = await loop.create_connection(
                lambda: Relay(self), "127.0.0.1", self.upstream
            )
        except OSError:
            self.transport.abort()
            return
        self.partner = partner
        for data in self.early:
            partner.transport.write(data)
        self.early.clear()
        self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.partner is None:  # uvloop may read before honouring pause_reading()
            self.early.append(data)
            return
        self.partner.transport.write(data)

    def eof_received(self) -> bool:
        if self.partner is not None and not self.partner.transport.is_closing():
            self.partner.transport.write_eof()
        return True

    def pause_writing(self) -> None:
        if self.partner is not None:
            self.partner.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.partner is not None:
            self.partner.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.partner is not None:
            self.partner.transport.close()


async def serve(args: c.Args) -> None:
    loop = asyncio.get_running_loop()
    factories: dict[str, type[asyncio.Protocol]] = {"sink": Sink, "echo": Echo, "source": Source}
    if args.role == "proxy":
        server = await loop.create_server(lambda: Relay(upstream=args.upstream), "127.0.0.1", 0)
    else:
        server = await loop.create_server(factories[args.mode], "127.0.0.1", 0)
    c.announce_port(server.sockets[0].getsockname()[1])
    await server.serve_forever()


async def client(args: c.Args) -> None:
    await c.protocol_client(args, Source, Counter, Pinger)


def main() -> None:
    c.protocol_main(client, serve)


if __name__ == "__main__":
    main()
