"""Peer: trio ``SocketStream`` (``receive_some`` / ``send_all``), one task per connection.

UDP (``server udp-sink|udp-echo``, benchmarks/udp_bench.py's receiver protocol): trio has
no datagram abstraction, so a ``trio.socket`` UDP socket read with ``recvfrom`` (and
answered with ``sendto``) in a loop: what a trio program would write by hand.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from functools import partial

import _common as c
import trio

ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


async def forward(src: trio.SocketStream, dst: trio.SocketStream) -> None:
    try:
        while data := await src.receive_some():
            await dst.send_all(data)
        await dst.send_eof()
    except ERRORS:
        pass


async def pump(stream: trio.SocketStream, meter: c.Meter | None) -> None:
    chunk = c.CHUNK
    while True:
        await stream.send_all(chunk)  # always a checkpoint: the window timer can fire
        if meter is not None:
            meter.count += len(chunk)


async def handle(args: c.Args, stream: trio.SocketStream) -> None:
    try:
        if args.role == "proxy":
            upstream = await trio.open_tcp_stream("127.0.0.1", args.upstream)
            async with upstream, trio.open_nursery() as nursery:
                nursery.start_soon(forward, stream, upstream)
                nursery.start_soon(forward, upstream, stream)
        elif args.mode == "sink":
            while await stream.receive_some():
                pass
        elif args.mode == "echo":
            while data := await stream.receive_some():
                await stream.send_all(data)
        else:
            await pump(stream, None)
    except ERRORS:
        pass
    finally:
        await stream.aclose()


async def serve_udp(args: c.Args) -> None:
    """Count (and for udp-echo, echo) datagrams until SIGTERM, then report them."""
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await sock.bind(("127.0.0.1", 0))
    counts = [0, 0]
    echo = args.mode == "udp-echo"

    async def receive() -> None:
        while True:
            data, addr = await sock.recvfrom(65536)
            counts[0] += 1
            counts[1] += len(data)
            if echo:
                await sock.sendto(data, addr)

    with trio.open_signal_receiver(signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive)
            cpu = time.process_time()
            print(f"READY {sock.getsockname()[1]}", flush=True)
            async for _ in signals:
                break
            cpu = time.process_time() - cpu
            sys.stdout.write(f"received {counts[0]} {counts[1]} {cpu:.6f}\n")
            sys.stdout.flush()
            os._exit(0)


async def serve(args: c.Args) -> None:
    if args.mode.startswith("udp-"):
        return await serve_udp(args)
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    c.announce_port(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(partial(handle, args), listeners)


async def ping(stream: trio.SocketStream, meter: c.Meter) -> None:
    msg, size = c.MSG, len(c.MSG)
    while True:
        await stream.send_all(msg)
        got = 0
        while got < size:
            data = await stream.receive_some()
            if not data:
                c.fail("trio: the server closed the connection")
            got += len(data)
        meter.count += 1


async def count(stream: trio.SocketStream, meter: c.Meter) -> None:
    while data := await stream.receive_some():
        meter.count += len(data)


async def client(args: c.Args) -> None:
    meter = c.Meter()
    async with trio.open_nursery() as nursery:
        if args.mode == "pingpong":
            streams = [
                await trio.open_tcp_stream("127.0.0.1", args.port) for _ in range(args.conns)
            ]
            for stream in streams:
                nursery.start_soon(ping, stream, meter)
        else:
            stream = await trio.open_tcp_stream("127.0.0.1", args.port)
            nursery.start_soon(pump if args.mode == "upload" else count, stream, meter)
        window = c.Window(meter)
        await trio.sleep(args.warmup)
        window.open()
        await trio.sleep(args.duration)
        window.close()


def main() -> None:
    args = c.parse()
    if args.role == "check":
        return
    trio.run(client if args.role == "client" else serve, args)


if __name__ == "__main__":
    main()
