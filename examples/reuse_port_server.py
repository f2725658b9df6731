"""An echo server served by one process per core, all listening on one port (reuse_port).

    python examples/reuse_port_server.py [PORT] [--seconds N]

Each worker process opens its own ``SocketListener(reuse_port=True)`` on the same address;
the kernel spreads incoming connections across them (SO_REUSEPORT).  The parent prints
which worker served each of a few test connections, then stops the workers.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys

import unisock


async def serve(port: int, ready: multiprocessing.synchronize.Event) -> None:
    async with unisock.SocketListener(local=("127.0.0.1", port), reuse_port=True) as listener:
        ready.set()
        async for event in listener:
            sock = event.socket
            writer = sock.writable.get_writer()
            writer.write(f"worker {os.getpid()}: ".encode())
            writer.release_lock()
            sock.readable.pipe_to(sock.writable)


def worker(port: int, ready: multiprocessing.synchronize.Event) -> None:
    asyncio.run(serve(port, ready))


async def probe(port: int, count: int) -> list[bytes]:
    replies = []
    for i in range(count):
        sock = unisock.Socket(remote=("127.0.0.1", port), body=f"hello {i}")
        replies.append(b"".join([chunk async for chunk in sock.readable]))
    return replies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port", nargs="?", type=int, default=8765)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    processes = []
    for _ in range(max(2, os.cpu_count() or 1)):  # one per core, at least two
        ready = multiprocessing.Event()
        proc = multiprocessing.Process(target=worker, args=(args.port, ready), daemon=True)
        proc.start()
        if not ready.wait(10):
            print("a worker did not start", file=sys.stderr)
            return 1
        processes.append(proc)
    try:
        for reply in asyncio.run(probe(args.port, args.connections)):
            print(reply.decode())
    finally:
        for proc in processes:
            proc.terminate()
            proc.join(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
