"""Chunks per second through unisock's streams against asyncio's own queues.

    python benchmarks/streams_bench.py [--chunks N] [--loop asyncio|uvloop] [--repeat R]

Every variant is fed by the same push source, written the way a socket protocol feeds
data: a loop callback (``call_soon``, standing in for ``data_received``) hands over a batch
of chunks, stops when the consumer's buffer is full (``pause_reading``) and is scheduled
again when the consumer drains it (``resume_reading``).  Variants:

  (a) ``async for`` over a ``ReadableStream`` (the source enqueues, ``pull`` resumes it);
  (b) the same stream ``pipe_to`` a ``TransformStream`` into a ``WritableStream``;
  (c) an ``asyncio.Queue`` (``put_nowait`` / ``await get()``);
  (d) an ``asyncio.StreamReader`` (``feed_data`` / ``await read(CHUNK)``).

Targets (issue 2): (a) >= 1.5x (c) and >= 1.0x (d); (b) >= 0.5x (a).  Runs all variants
in one process on one loop, interleaved ``--repeat`` times, and reports the best of each.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from unisock.streams import (
    CountQueuingStrategy,
    ReadableStream,
    TransformStream,
    WritableStream,
)

CHUNK_SIZE = 1024
CHUNK = b"x" * CHUNK_SIZE
BATCH = 16  # chunks handed over per loop callback, like one data_received per read
HWM = 64  # chunks the consumer side may hold before the producer pauses


class PushSource:
    """Hands ``total`` chunks to ``deliver`` from loop callbacks, honouring ``room()``."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        total: int,
        deliver: Callable[[bytes], object],
        room: Callable[[], bool],
        finish: Callable[[], object],
    ) -> None:
        self.loop = loop
        self.left = total
        self.deliver = deliver
        self.room = room
        self.finish = finish
        self.paused = False
        self.scheduled = False

    def start(self) -> None:
        self.scheduled = True
        self.loop.call_soon(self.run)

    def run(self) -> None:
        self.scheduled = False
        deliver, room = self.deliver, self.room
        n = min(BATCH, self.left)
        while n and room():
            deliver(CHUNK)
            n -= 1
            self.left -= 1
        if self.left == 0:
            self.finish()
            self.left = -1
        elif self.left > 0:
            if room():
                self.start()
            else:
                self.paused = True  # pause_reading()

    def resume(self) -> None:
        """resume_reading(): the consumer made room."""
        if self.paused and not self.scheduled:
            self.paused = False
            self.start()


async def bench_readable(total: int) -> int:
    loop = asyncio.get_running_loop()
    src: PushSource

    def pull() -> None:
        src.resume()

    stream = ReadableStream._create(pull=pull, high_water_mark=HWM)
    controller = stream._controller
    src = PushSource(
        loop,
        total,
        controller.enqueue,
        lambda: (controller.desired_size or 0) > 0,
        controller.close,
    )
    src.start()
    count = 0
    async for _chunk in stream:
        count += 1
    return count


async def bench_pipe(total: int) -> int:
    loop = asyncio.get_running_loop()
    src: PushSource

    def pull() -> None:
        src.resume()

    stream = ReadableStream._create(pull=pull, high_water_mark=HWM)
    controller = stream._controller
    src = PushSource(
        loop,
        total,
        controller.enqueue,
        lambda: (controller.desired_size or 0) > 0,
        controller.close,
    )
    count = 0

    def write(chunk: bytes, controller: object) -> None:
        nonlocal count
        count += 1

    sink: WritableStream[Any] = WritableStream({"write": write})
    src.start()
    transform = TransformStream(None, CountQueuingStrategy(HWM), CountQueuingStrategy(HWM))
    await stream.pipe_through(transform).pipe_to(sink)
    return count


async def bench_queue(total: int) -> int:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(HWM)
    src = PushSource(
        loop, total, queue.put_nowait, lambda: not queue.full(), lambda: queue.put_nowait(None)
    )
    src.start()
    count = 0
    get = queue.get
    while True:
        chunk = await get()
        if chunk is None:
            return count
        count += 1
        src.resume()


async def bench_stream_reader(total: int) -> int:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=HWM * CHUNK_SIZE, loop=loop)
    buffered = [0]

    def feed(chunk: bytes) -> None:
        reader.feed_data(chunk)
        buffered[0] += len(chunk)

    src = PushSource(loop, total, feed, lambda: buffered[0] < HWM * CHUNK_SIZE, reader.feed_eof)
    src.start()
    received = 0
    read = reader.read
    while True:
        data = await read(CHUNK_SIZE)
        if not data:
            return received // CHUNK_SIZE
        received += len(data)
        buffered[0] -= len(data)
        src.resume()


VARIANTS: dict[str, Callable[[int], Coroutine[Any, Any, int]]] = {
    "a": bench_readable,
    "b": bench_pipe,
    "c": bench_queue,
    "d": bench_stream_reader,
}
LABELS = {
    "a": "(a) async for over ReadableStream (push source)",
    "b": "(b) pipe_to through TransformStream into WritableStream",
    "c": "(c) asyncio.Queue put_nowait / get",
    "d": "(d) asyncio.StreamReader feed_data / read",
}


async def measure(total: int, repeat: int) -> dict[str, float]:
    best: dict[str, float] = {}
    for fn in VARIANTS.values():  # warm-up
        await fn(min(total, 5000))
    for _ in range(repeat):
        for key, fn in VARIANTS.items():
            start = time.perf_counter()
            count = await fn(total)
            elapsed = time.perf_counter() - start
            if count != total:
                raise SystemExit(f"variant {key} moved {count} chunks, expected {total}")
            best[key] = max(best.get(key, 0.0), count / elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=200_000)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    else:
        factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        best = runner.run(measure(args.chunks, args.repeat))
    print(
        f"loop={args.loop} chunks={args.chunks} chunk={CHUNK_SIZE} B batch={BATCH} "
        f"hwm={HWM} best of {args.repeat}"
    )
    print(f"{'variant':58} {'chunks/s':>12}")
    for key, label in LABELS.items():
        print(f"{label:58} {best[key]:>12,.0f}")
    checks = [
        ("(a) / (c)", best["a"] / best["c"], 1.5),
        ("(a) / (d)", best["a"] / best["d"], 1.0),
        ("(b) / (a)", best["b"] / best["a"], 0.5),
    ]
    print()
    for name, ratio, target in checks:
        verdict = "ok" if ratio >= target else "MISSED"
        print(f"{name:10} {ratio:6.2f}x  target >= {target}x  {verdict}")


if __name__ == "__main__":
    main()
