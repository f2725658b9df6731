"""A QUIC library used directly through its asyncio API: aioquic's, or qh3's (the same shape).

    server quic-server          client quic-bulk1 | quic-bulk8 | quic-opens | quic-datagrams PORT

The request protocol of unisock_peer.py's QUIC modes: each request is a new stream of one
connection carrying an ASCII byte count then FIN; the server answers with that many bytes
then FIN.  The libraries' ``StreamWriter`` has no backpressure (``write`` queues everything
at once), which is why requests are bounded (4 MiB).  Datagrams: the server echoes each
one; the client keeps :data:`DATAGRAM_WINDOW` in flight and counts the echoes.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from functools import partial
from typing import Any

import _common as c
import _tls

REQUEST = 4 << 20
DATAGRAM = b"d" * 1000
DATAGRAM_WINDOW = 64
"""Datagrams in flight; one lost is written off after :data:`DATAGRAM_STALL` seconds."""
DATAGRAM_STALL = 0.05
TASKS: set[asyncio.Task[None]] = set()


class Library:
    """The modules of one library (``aioquic`` or ``qh3``): same names, same API."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.configuration = importlib.import_module(f"{name}.quic.configuration")
        self.events = importlib.import_module(f"{name}.quic.events")
        self.protocol = importlib.import_module(f"{name}.asyncio.protocol")
        self.client = importlib.import_module(f"{name}.asyncio.client")
        self.server = importlib.import_module(f"{name}.asyncio.server")

    def config(self, is_client: bool) -> Any:
        config = self.configuration.QuicConfiguration(
            is_client=is_client, alpn_protocols=[_tls.ALPN], max_datagram_frame_size=65536
        )
        if is_client:
            config.server_name = "localhost"
            config.cadata = _tls.pem("ca")
        else:
            d = _tls.cert_dir()
            config.load_cert_chain(str(d / "chain.pem"), str(d / "key.pem"))
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


def protocol_class(lib: Library, on_datagram: Any) -> Any:
    """The library's protocol, calling ``on_datagram(protocol, data)`` per datagram."""
    base = lib.protocol.QuicConnectionProtocol
    kind = lib.events.DatagramFrameReceived

    class DatagramProtocol(base):  # type: ignore[misc, valid-type]
        def quic_event_received(self, event: Any) -> None:
            if type(event) is kind:
                on_datagram(self, event.data)
            else:
                super().quic_event_received(event)

    return DatagramProtocol


def echo(protocol: Any, data: bytes) -> None:
    protocol._quic.send_datagram_frame(data)
    protocol.transmit()


async def serve(lib: Library, args: c.Args) -> None:
    server = await lib.server.serve(
        _tls.HOST, 0, configuration=lib.config(False), stream_handler=on_stream,
        create_protocol=protocol_class(lib, echo),
    )  # fmt: skip
    transport: Any = server._transport  # no public way to read the port
    c.announce_port(transport.get_extra_info("sockname")[1])
    await asyncio.Event().wait()


async def requests(lib: Library, client: Any, meter: c.Meter, size: int, bulk: bool) -> None:
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
            c.fail(f"{lib.name}: an answer had {got} bytes, not {size}")
        if not bulk:
            meter.count += 1


class Datagrams:
    """Client side: keep a window of datagrams in flight, count the echoes."""

    def __init__(self, meter: c.Meter) -> None:
        self.meter = meter
        self.in_flight = 0
        self.last = time.monotonic()
        self.protocol: Any = None

    def received(self, protocol: Any, data: bytes) -> None:
        self.meter.count += 1
        self.in_flight -= 1
        self.last = time.monotonic()
        self.top_up()

    def top_up(self) -> None:
        quic = self.protocol._quic
        while self.in_flight < DATAGRAM_WINDOW:
            quic.send_datagram_frame(DATAGRAM)
            self.in_flight += 1
        self.protocol.transmit()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(DATAGRAM_STALL)
            if time.monotonic() - self.last > DATAGRAM_STALL:
                self.in_flight = 0  # the window was lost: start another
                self.top_up()


def failed(name: str, task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        c.fail(f"{name}: {task.exception()!r}")


async def client(lib: Library, args: c.Args) -> None:
    meter = c.Meter()
    datagrams = Datagrams(meter)
    protocol = protocol_class(lib, datagrams.received)
    async with lib.client.connect(
        _tls.HOST, args.port, configuration=lib.config(True), create_protocol=protocol
    ) as quic:
        if args.mode == "quic-datagrams":
            datagrams.protocol = quic
            datagrams.top_up()
            coros = [datagrams.run()]
        elif args.mode == "quic-opens":
            coros = [requests(lib, quic, meter, 1, False)]
        else:
            streams = 8 if args.mode == "quic-bulk8" else 1
            coros = [requests(lib, quic, meter, REQUEST, True) for _ in range(streams)]
        for coro in coros:
            task = asyncio.create_task(coro)
            TASKS.add(task)
            task.add_done_callback(partial(failed, lib.name))
        await c.measure_asyncio(meter, args)


def main(name: str) -> None:
    args = c.parse()
    try:
        lib = Library(name)
    except ImportError:
        c.fail(f"{name} is not installed")
    if args.loop == "uvloop":
        import uvloop  # noqa: F401
    if args.role == "check":
        _tls.cert_dir()
        return
    c.run_asyncio(lambda: client(lib, args) if args.role == "client" else serve(lib, args),
                  args.loop)  # fmt: skip
