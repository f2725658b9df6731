"""Shared test helpers: run a coroutine on each loop, count file descriptors, start peers."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import faulthandler
import gc
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

with warnings.catch_warnings():
    # Importing Hypothesis runs trio's entry-point hook, which registers trio's scheduler
    # Random; Hypothesis's heuristic then warns that the object might be collected (it is a
    # module global, it will not be).  Imported here, once, so -W error does not fail the
    # first module (or the terminal summary) that imports Hypothesis.
    warnings.filterwarnings("ignore", message="It looks like `register_random`")
    import hypothesis  # noqa: F401

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is in the test extra
    uvloop = None  # type: ignore[assignment]

try:
    import trio
except ImportError:  # pragma: no cover - trio is in the test extra
    trio = None  # type: ignore[assignment]

LOOPS = ["asyncio", "uvloop"] if uvloop is not None else ["asyncio"]
"""The runtimes every test that takes ``run`` runs on."""
TRIO = ["trio"] if trio is not None else []
"""Added for tests marked ``@pytest.mark.trio`` (``trio(only=True)``: trio alone)."""


def run_on(kind: str, main: Callable[[], Awaitable[Any]], timeout: float = 60) -> Any:
    """Run ``main()`` on a fresh loop of ``kind``, bounded by ``timeout`` seconds.

    The test fails if a task is still running when ``main()`` returns, or if anything
    reached the loop's exception handler (a misbehaving peer must never raise into the
    loop; an error in a background task must not pass unseen).
    """
    if kind == "trio":
        return run_on_trio(main, timeout)
    reported: list[dict[str, Any]] = []

    async def bounded() -> Any:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: reported.append(context))
        result = await asyncio.wait_for(main(), timeout)
        for _ in range(10):  # callbacks scheduled by main()'s last step
            await asyncio.sleep(0)
        me = asyncio.current_task()
        running = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
        if running:
            raise AssertionError(f"tasks still running after the test: {running}")
        return result

    if kind == "uvloop":
        assert uvloop is not None
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            result = runner.run(bounded())
    else:
        with asyncio.Runner() as runner:
            result = runner.run(bounded())
    if reported:
        lines = [f"{c.get('message')}: {c.get('exception')!r}" for c in reported]
        raise AssertionError("the loop's exception handler was called:\n" + "\n".join(lines))
    return result


def run_on_trio(main: Callable[[], Awaitable[Any]], timeout: float = 60) -> Any:
    """``run_on`` for trio: the same bound and the same checks, on unisock's trio runtime
    (no library task may outlive the test, nothing may reach the exception handler)."""
    from unisock._runtime.trio import runtime

    reported: list[dict[str, Any]] = []

    async def bounded() -> Any:
        rt = runtime()
        rt.set_exception_handler(lambda _rt, context: reported.append(context))
        with trio.fail_after(timeout):
            result = await main()
        for _ in range(10):  # callbacks scheduled by main()'s last step
            await trio.lowlevel.checkpoint()
        running = rt.tasks()
        if running:
            raise AssertionError(f"tasks still running after the test: {running}")
        return result

    result = trio.run(bounded)
    if reported:
        lines = [f"{c.get('message')}: {c.get('exception')!r}" for c in reported]
        raise AssertionError("the runtime's exception handler was called:\n" + "\n".join(lines))
    return result


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that takes ``run`` (or ``loop_kind``) runs on each of ``LOOPS``; one
    marked ``@pytest.mark.trio`` on trio too, ``@pytest.mark.trio(only=True)`` on trio
    alone."""
    if "loop_kind" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("trio")
    kinds = LOOPS
    if marker is not None:
        kinds = TRIO if marker.kwargs.get("only") else [*LOOPS, *TRIO]
    metafunc.parametrize("loop_kind", kinds, indirect=True)


@pytest.fixture
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
    """A real peer program started for one test and always stopped after it.

    It runs in a process group of its own, and stopping it signals the whole group: a
    forking peer (``socat ... fork``, ``EXEC:``) leaves no child behind.
    """

    def __init__(self, args: list[str], **kwargs: Any) -> None:
        self.proc = subprocess.Popen(
            args,
            stdin=kwargs.pop("stdin", subprocess.DEVNULL),
            stdout=kwargs.pop("stdout", subprocess.DEVNULL),
            stderr=kwargs.pop("stderr", subprocess.DEVNULL),
            start_new_session=True,
            **kwargs,
        )

    def stop(self) -> None:
        kill_group(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        kill_group(self.proc.pid, signal.SIGKILL)
        self.proc.wait(5)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def kill_group(pgid: int, sig: int) -> None:
    """Signal every process of group ``pgid`` (gone already is fine)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


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


# -- per-test leak and hang checks ------------------------------------------------------

HARD_TIMEOUT_MARGIN = 60
"""Seconds past pytest-timeout's bound after which the whole run dumps every thread's
stack and exits: a test stuck inside C (e.g. uvloop's ``Loop.close()``) cannot be
interrupted by a signal, and a hung suite must fail fast rather than eat CI's budget."""


def _become_subreaper() -> None:
    """Orphaned grandchildren (a forking peer's children) are re-parented to this
    process instead of init, so the per-test check below sees and kills them."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


_become_subreaper()


def _warm_up() -> None:
    """Open what each loop opens once per process (libuv's global signal pipe, resolver
    threads), so the per-test fd check counts only what a test itself leaked."""

    async def touch() -> None:
        await asyncio.get_running_loop().getaddrinfo("localhost", 80)

    loops: list[Callable[[], asyncio.AbstractEventLoop]] = [asyncio.new_event_loop]
    if uvloop is not None:
        loops.append(uvloop.new_event_loop)
    for factory in loops:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(touch())


_warm_up()


def _children() -> dict[int, str]:
    """Live (non-zombie) processes whose parent is this process: pid -> command line."""
    me = os.getpid()
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[1]) == me:
            found[int(entry)] = cmd
    return found


def _fds() -> dict[int, str]:
    found: dict[int, str] = {}
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            found[int(name)] = os.readlink(f"/proc/self/fd/{name}")
    return found


def _bound(item: pytest.Item) -> float:
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args:
        return float(marker.args[0])
    return float(item.config.getini("timeout") or 120)


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test that leaked a file descriptor or left a process running.

    Also collects garbage at the end of each test so that an unclosed transport's
    ``ResourceWarning`` fails the test that leaked it, not the next, innocent one.
    """
    # Everything alive now (the previous test's teardown collected its garbage) moves to
    # the permanent generation: the collection after this test then scans only what the
    # test itself made (milliseconds instead of tens of them, over 2,000 tests).
    gc.freeze()
    fds_before = _fds()
    children_before = set(_children())
    faulthandler.dump_traceback_later(
        _bound(request.node) + HARD_TIMEOUT_MARGIN, exit=True, file=sys.__stderr__
    )
    yield
    faulthandler.cancel_dump_traceback_later()
    left = {pid: cmd for pid, cmd in _children().items() if pid not in children_before}
    deadline = time.monotonic() + 3
    while left and time.monotonic() < deadline:
        # A peer's forked children may still be on their way out after its group was
        # signalled: only what outlives a short grace is left running.
        time.sleep(0.05)
        left = {pid: cmd for pid, cmd in _children().items() if pid not in children_before}
    for pid in left:
        kill_group(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in left:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    gc.collect()
    problems = []
    if left:
        problems.append(f"processes left running (killed now): {sorted(left.values())}")
    fds_after = _fds()
    if len(fds_after) > len(fds_before):
        new = sorted(
            f"{fd} -> {target}" for fd, target in fds_after.items() if fds_before.get(fd) != target
        )
        problems.append(f"{len(fds_after) - len(fds_before)} file descriptor(s) leaked: {new}")
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)
