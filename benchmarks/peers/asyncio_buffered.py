"""Peer: asyncio ``BufferedProtocol``, reading into one reusable buffer per connection.

The stock loop then reads with ``recv_into`` instead of ``recv(256 KiB)``: no allocation
per read (PERFORMANCE-NOTES cause 1).  ``--loop uvloop`` works too.
"""

from __future__ import annotations

import asyncio
from typing import cast

import _common as c
from asyncio_protocol import Source

BUFFER = c.READ_SIZE


class Reader(asyncio.BufferedProtocol):
    """Base: one reusable buffer; subclasses act on ``buffer_updated``."""

    def __init__(self) -> None:
        self.buffer = bytearray(BUFFER)
        self.view = memoryview(self.buffer)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        pass


class Echo(Reader):
    def buffer_updated(self, nbytes: int) -> None:
        # A copy: the transport may keep what it cannot send at once, and we reuse the buffer.
        self.transport.write(self.buffer[:nbytes])


class Counter(Reader):
    def __init__(self, meter: c.Meter) -> None:
        super().__init__()
        self.meter = meter

    def buffer_updated(self, nbytes: int) -> None:
        self.meter.count += nbytes


class Pinger(Reader):
    def __init__(self, meter: c.Meter) -> None:
        super().__init__()
        self.meter = meter
        self.got = 0

    def start(self) -> None:
        self.transport.write(c.MSG)

    def buffer_updated(self, nbytes: int) -> None:
        self.got += nbytes
        if self.got >= len(c.MSG):
            self.got -= len(c.MSG)
            self.meter.count += 1
            self.transport.write(c.MSG)


class Relay(Reader):
    """One side of the proxy; backpressure on one side pauses reading on the other."""

    def __init__(self, partner: Relay | None = None, upstream: int = 0) -> None:
        super().__init__()
        self.partner = partner
        self.upstream = upstream
        self.early: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
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

    def buffer_updated(self, nbytes: int) -> None:
        if self.partner is None:  # uvloop may read before honouring pause_reading()
            self.early.append(bytes(self.buffer[:nbytes]))
            return
        self.partner.transport.write(self.buffer[:nbytes])

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
    if args.role == "proxy":
        server = await loop.create_server(lambda: Relay(upstream=args.upstream), "127.0.0.1", 0)
    elif args.mode == "source":
        server = await loop.create_server(Source, "127.0.0.1", 0)
    else:
        server = await loop.create_server(Echo if args.mode == "echo" else Reader, "127.0.0.1", 0)
    c.announce_port(server.sockets[0].getsockname()[1])
    await server.serve_forever()


async def client(args: c.Args) -> None:
    await c.protocol_client(args, Source, Counter, Pinger)


def main() -> None:
    c.protocol_main(client, serve)


if __name__ == "__main__":
    main()
