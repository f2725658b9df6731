"""What every Python peer shares: its command line, the measured window, the JSON lines.

The harness (benchmarks/suite/) drives every peer, whatever its language, with one
command line, so a peer is only its I/O code:

    PEER server sink|source|echo      prints {"port": N} once listening, serves until killed
    PEER proxy UPSTREAM_PORT          same, relaying each connection to 127.0.0.1:UPSTREAM_PORT
    PEER client upload|download|pingpong PORT [--conns N] [--warmup S] [--duration S]
                                      prints {"count": N, "seconds": S} and exits
    PEER check                        exits 0 when the peer can run here

A client counts bytes (bulk) or round trips (ping-pong) in ``Meter.count`` on its hot path;
the window opens after the warm-up, so connection set-up and slow start are not measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, NoReturn

CHUNK = b"x" * (128 * 1024)
"""One bulk write."""
MSG = b"p" * 64
"""One ping (the echo sends the same bytes back)."""
READ_SIZE = 64 * 1024
"""Read size where the API asks for one (trio's and anyio's default, measured best here)."""
YIELD_EVERY = 16
"""A writer that never meets backpressure still yields to its loop after this many chunks."""


@dataclass(frozen=True)
class Args:
    """One peer invocation, parsed."""

    role: str
    mode: str
    port: int
    upstream: int
    conns: int
    warmup: float
    duration: float
    loop: str
    data: bool


def parse(argv: list[str] | None = None) -> Args:
    """Parse the shared command line (see the module docstring)."""
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["server", "proxy", "client", "check"])
    p.add_argument("mode", nargs="?", default="")
    p.add_argument("port", nargs="?", type=int, default=0)
    p.add_argument("--conns", type=int, default=1)
    p.add_argument("--warmup", type=float, default=0.5)
    p.add_argument("--duration", type=float, default=2.0)
    p.add_argument("--loop", choices=["asyncio", "uvloop", "trio"], default="asyncio")
    p.add_argument("--data", action="store_true", help="unisock: use the 'data' event")
    ns = p.parse_args(argv)
    upstream = 0
    if ns.role == "proxy":
        upstream = int(ns.mode)
    return Args(
        role=ns.role,
        mode=ns.mode,
        port=ns.port,
        upstream=upstream,
        conns=ns.conns,
        warmup=ns.warmup,
        duration=ns.duration,
        loop=ns.loop,
        data=ns.data,
    )


class Meter:
    """The client's counter; a plain attribute so the hot path pays one addition."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


def announce_port(port: int) -> None:
    """Tell the harness where the server listens (its first stdout line)."""
    sys.stdout.write(json.dumps({"port": port}) + "\n")
    sys.stdout.flush()


def report(count: int, seconds: float) -> NoReturn:
    """Print the client's one JSON line and leave at once: teardown is not measured."""
    sys.stdout.write(json.dumps({"count": count, "seconds": seconds}) + "\n")
    sys.stdout.flush()
    os._exit(0)


class Window:
    """The measured window: ``open()`` after the warm-up, ``close()`` reports and exits."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.base = 0
        self.start = 0.0

    def open(self) -> None:
        self.base = self.meter.count
        self.start = time.perf_counter()

    def close(self) -> NoReturn:
        report(self.meter.count - self.base, time.perf_counter() - self.start)


async def measure_asyncio(meter: Meter, args: Args) -> NoReturn:
    """Warm up, then count for ``args.duration`` seconds (any asyncio loop)."""
    window = Window(meter)
    await asyncio.sleep(args.warmup)
    window.open()
    await asyncio.sleep(args.duration)
    window.close()


def run_asyncio(main: Callable[[], Coroutine[Any, Any, object]], loop: str) -> None:
    """Run ``main`` on the stock loop or on uvloop."""
    if loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main())
    else:
        with asyncio.Runner() as runner:
            runner.run(main())


def fail(message: str) -> NoReturn:
    """One line on stderr for the harness's failure list, then exit 1."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
    os._exit(1)


async def protocol_client(
    args: Args,
    source: Callable[[Meter], Any],
    counter: Callable[[Meter], Any],
    pinger: Callable[[Meter], Any],
) -> NoReturn:
    """The client side shared by the Protocol-based peers: upload, download or ping-pong."""
    import asyncio

    loop = asyncio.get_running_loop()
    meter = Meter()
    if args.mode == "upload":
        await loop.create_connection(lambda: source(meter), "127.0.0.1", args.port)
    elif args.mode == "download":
        await loop.create_connection(lambda: counter(meter), "127.0.0.1", args.port)
    else:
        pingers = []
        for _ in range(args.conns):
            _, p = await loop.create_connection(lambda: pinger(meter), "127.0.0.1", args.port)
            pingers.append(p)
        for p in pingers:
            p.start()
    await measure_asyncio(meter, args)


def protocol_main(
    client: Callable[[Args], Coroutine[Any, Any, object]],
    serve: Callable[[Args], Coroutine[Any, Any, object]],
) -> None:
    """Entry point shared by the Protocol-based peers."""
    args = parse()
    if args.role == "check":
        if args.loop == "uvloop":
            import uvloop  # noqa: F401
        return
    run_asyncio(lambda: client(args) if args.role == "client" else serve(args), args.loop)
