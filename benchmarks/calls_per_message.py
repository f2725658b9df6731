"""Python calls per 64-byte round trip on a unisock echo server (issue 14's budget).

    python benchmarks/calls_per_message.py MODE [asyncio|uvloop]
    MODE: streams|pipe|data|udp|udp-bound|udp-data|udp-raw|udp-send|raw

One process: a unisock listener echoing in the chosen style (``reader.read()`` +
``writer.write()``, ``readable.pipe_to(writable)``, a ``"data"`` listener, or a UDP
listener with ``reader.read()`` + ``writer.write()``) and a raw asyncio client (one call
per round trip).  cProfile counts every Python call over ``N`` round trips: unlike timings
on a shared machine, the count is deterministic.  The busiest functions follow.

``udp-send`` (and ``raw``) count the sender instead: ``writer.write(datagram)`` on a connected UDP
socket, ``N`` times in a loop, into a plain socket that never reads (the kernel drops
what its buffer cannot hold; a refused send fails that write).  Compare with ``raw``:
``transport.sendto`` of the loop's own ``DatagramProtocol`` transport, the same loop.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import pstats
import sys
from typing import Any

import unisock

N = 20_000
MSG = b"x" * 64


class TcpClient(asyncio.Protocol):
    def __init__(self, done: asyncio.Future[None]) -> None:
        self.count = 0
        self.done = done
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.count += 1
        if self.count >= N:
            self.done.set_result(None)
            return
        self.transport.write(MSG)


class UdpClient(asyncio.DatagramProtocol):
    def __init__(self, done: asyncio.Future[None]) -> None:
        self.count = 0
        self.done = done
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.count += 1
        if self.count >= N:
            self.done.set_result(None)
            return
        self.transport.sendto(MSG)


async def serve(sock: unisock.Socket, mode: str) -> None:
    if mode == "pipe":
        await sock.readable.pipe_to(sock.writable)
        return
    if mode == "data":
        write = sock.writable.get_writer().write

        def echo(event: Any) -> None:
            for buffer in event.buffers:
                write(buffer)

        sock.add_event_listener("data", echo)
        await sock.closed
        return
    reader = sock.readable.get_reader()
    writer = sock.writable.get_writer()
    while True:
        result = await reader.read()
        if result.done:
            break
        writer.write(result.value)


async def send_calls(mode: str, loop_name: str) -> None:
    """Python calls per datagram sent: unisock's writer, or (``raw``) the loop's sendto."""
    import socket

    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    remote = sink.getsockname()
    loop = asyncio.get_running_loop()
    if mode == "udp-send":
        sock = unisock.Socket(type="udp", remote=remote)
        await sock.ready
        send: Any = sock.writable.get_writer().write
        close: Any = sock.close
    else:
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, remote_addr=remote
        )
        send, close = transport.sendto, transport.close
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(N):
        send(MSG)
    profile.disable()
    result = close()
    if result is not None:
        await result
    sink.close()
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    total = sum(entry[1] for entry in stats.stats.values())  # type: ignore[attr-defined]
    print(f"{mode} on {loop_name}: {total / N:.1f} Python calls per datagram sent")
    stats.sort_stats("ncalls").print_stats(12)
    print("\n".join(line[:150] for line in out.getvalue().splitlines()[:30] if line.strip()))


class UdpEcho(asyncio.DatagramProtocol):
    """The loop's own datagram echo (``udp-raw``)."""

    transport: Any = None
    count = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.count += 1
        self.transport.sendto(data, addr)


async def serve_bound(sock: unisock.Socket, mode: str) -> None:
    """The suite's unisock UDP echo server, streams or ``"data"`` listener."""
    writer = sock.writable.get_writer()
    if mode == "udp-data":
        write = writer.write

        def echo(event: Any) -> None:
            for datagram in event.buffers:
                write(datagram)

        sock.add_event_listener("data", echo)
        await sock.closed
        return
    async for datagram in sock.readable:
        writer.write(unisock.Datagram(datagram.data, datagram.remote))


PINGER = """
import socket, sys
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.connect(("127.0.0.1", int(sys.argv[1])))
c.settimeout(10)
for _ in range(int(sys.argv[2])):
    c.send(b"x" * 64)
    c.recv(2048)
"""
"""The client of the bound modes: a blocking socket in a process of its own (so only the
server is counted), one datagram in flight, as the suite's C ``udp_ping``."""


async def bound_calls(mode: str, loop_name: str) -> None:
    """Python calls per round trip in a bound UDP echo server, the client in another
    process pinned to the same CPU (as the suite's ``udp_pingpong``): the server alone."""
    import os

    loop = asyncio.get_running_loop()
    task: asyncio.Future[None] | None = None
    received: Any
    if mode == "udp-raw":
        server, echo = await loop.create_datagram_endpoint(UdpEcho, local_addr=("127.0.0.1", 0))
        port = server.get_extra_info("sockname")[1]
        close: Any = server.close
        received = lambda: echo.count  # noqa: E731
    else:
        sock = unisock.Socket(type="udp", local=("127.0.0.1", 0))
        info = await sock.ready
        assert info.local is not None
        port = info.local.port
        task = asyncio.ensure_future(serve_bound(sock, mode))
        close = sock.close
        received = lambda: sock.stats.packets_received  # noqa: E731
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    warmup = 1000
    client = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PINGER, str(port), str(warmup + N),
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
    )  # fmt: skip
    while received() < warmup:
        await asyncio.sleep(0.01)
    profile = cProfile.Profile()
    profile.enable()
    await client.wait()
    profile.disable()
    result = close()
    if result is not None:
        await result
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    total = sum(entry[1] for entry in stats.stats.values())  # type: ignore[attr-defined]
    print(f"{mode} on {loop_name}: {total / N:.1f} Python calls per round trip (server only)")
    stats.sort_stats("ncalls").print_stats(30)
    print("\n".join(line[:150] for line in out.getvalue().splitlines()[:50] if line.strip()))


async def main(mode: str, loop_name: str) -> None:
    if mode in ("udp-send", "raw"):
        await send_calls(mode, loop_name)
        return
    if mode in ("udp-bound", "udp-data", "udp-raw"):
        await bound_calls(mode, loop_name)
        return
    loop = asyncio.get_running_loop()
    udp = mode == "udp"
    done: asyncio.Future[None] = loop.create_future()
    tasks: set[asyncio.Task[None]] = set()
    async with unisock.SocketListener(
        type="udp" if udp else "tcp", local="127.0.0.1:0"
    ) as listener:
        assert listener.local is not None
        port = listener.local.port
        listener.add_event_listener(
            "socket", lambda event: tasks.add(asyncio.ensure_future(serve(event.socket, mode)))
        )
        if udp:
            transport, client = await loop.create_datagram_endpoint(
                lambda: UdpClient(done), remote_addr=("127.0.0.1", port)
            )
            transport.sendto(MSG)  # the first datagram makes the listener's peer socket
            while not tasks:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)
            client.count = 0
        else:
            transport, client = await loop.create_connection(
                lambda: TcpClient(done), "127.0.0.1", port
            )
            await asyncio.sleep(0.1)
        profile = cProfile.Profile()
        profile.enable()
        if not udp:
            transport.write(MSG)
        await done
        profile.disable()
        transport.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    total = sum(entry[1] for entry in stats.stats.values())  # type: ignore[attr-defined]
    print(f"{mode} on {loop_name}: {total / N:.1f} Python calls per round trip (client included)")
    stats.sort_stats("ncalls").print_stats(20)
    print("\n".join(line[:150] for line in out.getvalue().splitlines()[:40] if line.strip()))


if __name__ == "__main__":
    MODE = sys.argv[1] if len(sys.argv) > 1 else "streams"
    LOOP = sys.argv[2] if len(sys.argv) > 2 else "asyncio"
    if LOOP == "uvloop":
        import uvloop

        uvloop.run(main(MODE, LOOP))
    else:
        asyncio.run(main(MODE, LOOP))
