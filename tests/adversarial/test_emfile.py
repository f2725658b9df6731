"""A TCP listener at its file-descriptor limit (item 8 of issue 16).

A server process with ``RLIMIT_NOFILE`` lowered to 64 is flooded with connections it
cannot all accept.  Before: asyncio's accept loop logged a traceback per attempt (and
scheduled up to ``backlog`` retries per failure: hundreds of lines a second), uvloop said
nothing.  Now, on every runtime (asyncio, uvloop, trio): one WARNING per episode on the
``"unisock"`` logger, accepting paused with a backoff (no busy loop), and a legitimate
client is served once descriptors free up.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import subprocess
import sys
import time

import pytest
from tests.conftest import LOOPS, TRIO

pytestmark = pytest.mark.timeout(60)

LIMIT = 64
FLOOD = 200

SERVER = r"""
import asyncio, logging, resource, sys
import unisock

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")


async def echo(sock):
    try:
        await sock.readable.pipe_to(sock.writable)
    except Exception:
        await sock.abort()


async def main(spawn):
    async with unisock.SocketListener(type="tcp", backlog=512) as listener:
        # One round trip first: modules imported lazily on the way are loaded before
        # the limit (at EMFILE an import cannot open its .py file).
        client = unisock.Socket(remote=listener.local)
        accepted = await listener.accept()
        writer = client.writable.get_writer()
        await writer.write(b"warm")
        await writer.close()
        await echo(accepted)
        async for _ in client.readable:
            pass
        await client.closed
        limit = int(sys.argv[2])
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
        print(listener.local.port, flush=True)
        async for event in listener:
            spawn(echo, event.socket)


if sys.argv[1] == "trio":
    import trio

    async def on_trio():
        async with trio.open_nursery() as nursery:
            await main(nursery.start_soon)

    trio.run(on_trio)
else:
    tasks = set()

    def spawn(fn, *args):
        task = asyncio.ensure_future(fn(*args))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    if sys.argv[1] == "uvloop":
        import uvloop
        uvloop.run(main(spawn))
    else:
        asyncio.run(main(spawn))
"""


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (from /proc/<pid>/stat), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def warning_line(proc: subprocess.Popen[str], timeout: float = 10) -> list[str]:
    """Read the server's stderr (bytes straight from the pipe) up to and including its
    first WARNING line; return the lines read."""
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while not any(line.startswith(b"WARNING") for line in seen.split(b"\n")[:-1]):
        left = deadline - time.monotonic()
        assert left > 0 and select.select([fd], [], [], left)[0], f"no WARNING: {seen!r}"
        chunk = os.read(fd, 4096)
        assert chunk, f"the server ended: {seen!r}"
        seen += chunk
    return seen.decode().splitlines()


@pytest.mark.parametrize("loop_kind", [*LOOPS, *TRIO])
def test_emfile_logs_once_backs_off_and_recovers(loop_kind: str) -> None:
    if loop_kind == "uvloop":
        pytest.importorskip("uvloop")
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, loop_kind, str(LIMIT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    flood: list[socket.socket] = []
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        for _ in range(FLOOD):  # far more than the server has descriptors for
            with contextlib.suppress(OSError):
                flood.append(socket.create_connection(("127.0.0.1", port), timeout=1))
        assert len(flood) > LIMIT, f"only {len(flood)} connections were made"
        said = warning_line(proc)  # the server reached EMFILE and paused

        start_cpu = cpu_seconds(proc.pid)
        time.sleep(2.0)  # time is what is tested: CPU spent over 2 s while paused
        spent = cpu_seconds(proc.pid) - start_cpu
        # Paused with a backoff, the server wakes a few times a second at most (before,
        # asyncio spun on the retries: a core's worth of log formatting).
        assert spent < 0.3, f"the server used {spent:.2f} s of CPU in 2 s at its fd limit"

        for s in flood:
            s.close()
        flood.clear()

        # Descriptors free up as the echo tasks see EOF: a legitimate client is served.
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as legit:
                    legit.sendall(b"ping")
                    assert legit.recv(4) == b"ping"
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        for s in flood:
            s.close()
        proc.kill()
        _, err = proc.communicate(timeout=10)

    lines = said + err.splitlines()
    warnings = [line for line in lines if line.startswith("WARNING")]
    assert len(warnings) == 1, err[:2000]
    assert "Too many open files" in warnings[0] and "unisock" in warnings[0]
    assert len(lines) <= 2, err[:2000]  # the WARNING and one INFO "accepting again"
    assert sum(map(len, lines)) < 1000
