"""Shared test helpers: run a coroutine on each loop, count file descriptors, start peers."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is in the test extra
    uvloop = None  # type: ignore[assignment]

LOOPS = ["asyncio", "uvloop"] if uvloop is not None else ["asyncio"]


def run_on(kind: str, main: Callable[[], Awaitable[Any]], timeout: float = 60) -> Any:
    """Run ``main()`` on a fresh loop of ``kind``, bounded by ``timeout`` seconds."""

    async def bounded() -> Any:
        return await asyncio.wait_for(main(), timeout)

    if kind == "uvloop":
        assert uvloop is not None
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(bounded())
    with asyncio.Runner() as runner:
        return runner.run(bounded())


@pytest.fixture(params=LOOPS)
def loop_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def run(loop_kind: str) -> Callable[..., Any]:
    """``run(async_fn, timeout=...)`` on the parametrized loop."""

    def runner(main: Callable[[], Awaitable[Any]], timeout: float = 60) -> Any:
        return run_on(loop_kind, main, timeout)

    return runner


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed")
    return path


def wait_port(port: int, host: str = "127.0.0.1", timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout} s")


class Peer:
    """A real peer program started for one test and always stopped after it."""

    def __init__(self, args: list[str], **kwargs: Any) -> None:
        self.proc = subprocess.Popen(
            args,
            stdin=kwargs.pop("stdin", subprocess.DEVNULL),
            stdout=kwargs.pop("stdout", subprocess.DEVNULL),
            stderr=kwargs.pop("stderr", subprocess.DEVNULL),
            **kwargs,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def peer() -> Iterator[Callable[..., Peer]]:
    started: list[Peer] = []

    def start(args: list[str], **kwargs: Any) -> Peer:
        p = Peer(args, **kwargs)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


def wait_udp_bound(port: int, timeout: float = 10) -> None:
    """Wait until some process has a UDP socket bound to ``port`` (from /proc/net/udp*)."""
    needle = f":{port:04X} "
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for table in ("/proc/net/udp", "/proc/net/udp6"):
            try:
                with open(table) as f:
                    if any(needle in line.split("\n")[0][:40] for line in f):
                        return
            except OSError:
                pass
        time.sleep(0.02)
    raise TimeoutError(f"nothing bound to UDP port {port} after {timeout} s")


def free_tcp_udp_port(host: str = "127.0.0.1") -> int:
    """A port free for both TCP and UDP (dnsmasq binds both on its --port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        with socket.socket(family, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(family, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free for both TCP and UDP")
