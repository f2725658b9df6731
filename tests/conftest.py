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
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any

import pytest
from tests import rt

with warnings.catch_warnings():
    # Imported here, once, before any test: trio (when installed) registers its PRNG with
    # hypothesis from an entry point, and hypothesis warns that the object might be
    # collected (it is a module global, it will not).  Under -W error that third-party
    # warning would fail whichever run imports hypothesis first at its end.
    warnings.simplefilter("ignore", category=Warning)
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
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
        if "loop_kind" in (names.replace(" ", "").split(",") if isinstance(names, str) else names):
            return  # the test names its loops itself
    marker = metafunc.definition.get_closest_marker("trio")
    kinds = LOOPS
    if os.environ.get("SURVEY_TRIO"):
        kinds = TRIO
        metafunc.parametrize("loop_kind", kinds, indirect=True)
        return
    if metafunc.definition.get_closest_marker("asyncio_only") is not None:
        marker = None  # the reason is in the marker: asyncio's own API under test
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


class Background:
    """Tasks running beside a test's body; see ``background``."""

    def __init__(self, group: asyncio.TaskGroup | None, failed: Callable[[Any], None]) -> None:
        self._group = group
        self._failed = failed
        self.tasks: list[Any] = []

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> Any:
        if self._group is not None:
            task: Any = self._group.create_task(coro)
        else:  # trio: a runtime task whose failure interrupts the block
            task = rt.spawn(coro)
            task.add_done_callback(self._failed)
        self.tasks.append(task)
        return task


@contextlib.asynccontextmanager
async def background(*coros: Coroutine[Any, Any, Any]) -> AsyncIterator[Background]:
    """Run ``coros`` (a server loop, a peer's session) as tasks beside the block;
    ``spawn`` adds more.

    A task that fails (an assertion in a server) interrupts the block at once and the
    test fails with that task's own error, not with a timeout waiting for what the task
    would have done. On leaving the block, tasks still running are cancelled and every
    task is awaited.  The same on asyncio (a ``TaskGroup``) and trio (runtime tasks and a
    cancel scope around the block).
    """
    if rt.on_trio():
        async with _background_on_trio(coros) as tasks:
            yield tasks
        return
    try:
        async with asyncio.TaskGroup() as group:
            tasks = Background(group, lambda _: None)
            for coro in coros:
                tasks.spawn(coro)
            try:
                yield tasks
            finally:
                for task in tasks.tasks:
                    task.cancel()
    except BaseExceptionGroup as failed:
        if len(failed.exceptions) == 1:  # the one error, with its own traceback
            raise failed.exceptions[0] from None
        raise


@contextlib.asynccontextmanager
async def _background_on_trio(
    coros: tuple[Coroutine[Any, Any, Any], ...],
) -> AsyncIterator[Background]:
    assert trio is not None
    failures: list[BaseException] = []
    scope = trio.CancelScope()

    def failed(task: Any) -> None:
        if not task.cancelled() and task.exception() is not None:
            failures.append(task.exception())
            scope.cancel()

    tasks = Background(None, failed)
    for coro in coros:
        tasks.spawn(coro)
    try:
        with scope:
            yield tasks
    finally:
        for task in tasks.tasks:
            task.cancel()
        for task in tasks.tasks:
            with contextlib.suppress(BaseException):
                await task
        await trio.lowlevel.checkpoint()  # the failure callbacks run
    if failures:
        raise failures[0]


sleep = rt.sleep
"""``asyncio.sleep`` on the caller's runtime (``tests/rt.py`` has the other helpers)."""
wait_for = rt.wait_for
"""``asyncio.wait_for`` on the caller's runtime: the builtin ``TimeoutError`` past the
bound (on trio the wait is withdrawn by a cancel scope)."""


async def eventually(condition: Callable[[], object], timeout: float = 5, what: str = "") -> None:
    """Wait until ``condition()`` is true, checking it every 5 ms; fail after ``timeout``
    seconds.  For a state with no event to await (a counter, a kernel buffer)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout} s: {what or condition}")
        await rt.sleep(0.005)  # polling: nothing to await


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    """A port free now, for a peer that must be told its port before it binds.

    Another process may take it before the peer binds it: start such peers with
    ``start_on_free_ports`` (which retries), and never use this for "a port nobody
    listens on" (``refusing_port`` holds one).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def refusing_port(kind: str = "tcp", host: str = "127.0.0.1") -> Iterator[int]:
    """A port that refuses connections (TCP: RST) or answers datagrams with ICMP port
    unreachable (UDP) for as long as the block lasts.

    A socket of ours holds the port meanwhile, so no other process can start listening
    on it: a TCP socket bound but not listening, a UDP socket bound and connected to a
    port nobody sends from (the kernel delivers it nothing from anyone else).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        if kind == "udp":
            s.connect((host, 9))  # discard: nothing sends from there
        yield int(s.getsockname()[1])


def need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed")
    return path


def redis_argv(directory: Any, *listen: str) -> list[str]:
    """redis-server listening as ``listen`` says, with no persistence, files in ``directory``."""
    return [
        need("redis-server"),
        *listen,
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
    ]


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

    def ports(self, kind: str = "tcp") -> set[int]:
        """The ports this peer (any process of its group) listens on (TCP) or has bound
        (UDP), read from /proc: no probe connection disturbs the peer."""
        return _ports_of(_socket_inodes(_group(self.proc.pid)), kind)

    def port(self, kind: str = "tcp", timeout: float = 10) -> int:
        """Wait for a peer told to bind port 0 to bind; return the port it got."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.ports(kind)
            if found:
                assert len(found) == 1, f"the peer bound several {kind} ports: {found}"
                return found.pop()
            if self.proc.poll() is not None:
                raise PeerDidNotStart(f"{self.proc.args[0]} exited with {self.proc.returncode}")
            time.sleep(0.02)  # polling /proc: nothing to await
        raise TimeoutError(f"{self.proc.args[0]} bound no {kind} port after {timeout} s")

    def holds(self, ports: dict[int, str], timeout: float = 10) -> bool:
        """Wait until this peer holds every port (port -> "tcp", "udp" or "tcp+udp").

        False if it exited first (most likely another process took a port after
        ``free_port`` chose it); raises ``TimeoutError`` if it neither binds nor exits.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            held = {kind: self.ports(kind) for kind in ("tcp", "udp")}
            if all(
                port in held[kind] for port, kinds in ports.items() for kind in kinds.split("+")
            ):
                return True
            time.sleep(0.02)  # polling /proc: nothing to await
        raise TimeoutError(f"{self.proc.args[0]} did not bind {ports} after {timeout} s")

    def stop(self) -> None:
        kill_group(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        kill_group(self.proc.pid, signal.SIGKILL)
        self.proc.wait(5)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


class PeerDidNotStart(RuntimeError):
    pass


def start_on_free_ports(
    make_args: Callable[..., list[str]],
    kinds: tuple[str, ...] = ("tcp",),
    attempts: int = 5,
    timeout: float = 10,
    **kwargs: Any,
) -> tuple[Peer, list[int]]:
    """Start a peer that must be told its ports (``make_args(*ports)``), one per entry of
    ``kinds`` ("tcp", "udp" or "tcp+udp"), and wait until it holds them all.

    A port chosen free may be taken by another process before the peer binds it; the peer
    then exits, and it is started again on other ports, up to ``attempts`` times.
    """
    status, said, args = None, b"", ["the peer"]
    for _ in range(attempts):
        ports = [
            free_tcp_udp_port()
            if kind == "tcp+udp"
            else free_port(socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
            for kind in kinds
        ]
        args = make_args(*ports)
        started = Peer(args, **kwargs)
        try:
            if started.holds(dict(zip(ports, kinds, strict=True)), timeout):
                return started, ports
        except BaseException:
            started.stop()
            raise
        status = started.proc.returncode
        said = started.proc.stderr.read()[-2000:] if started.proc.stderr is not None else b""
        started.stop()
    raise PeerDidNotStart(
        f"{args[0]} exited before binding its ports, {attempts} "
        f"times (last exit status {status}): {said!r}"
    )


def _group(pgid: int) -> list[int]:
    """The live processes of process group ``pgid``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:
                found.append(int(entry))
    return found


def _socket_inodes(pids: list[int]) -> set[int]:
    inodes = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:["):
                        inodes.add(int(target[8:-1]))
    return inodes


def _ports_of(inodes: set[int], kind: str) -> set[int]:
    """Ports of the listening TCP sockets (state 0A) or the UDP sockets among ``inodes``."""
    ports = set()
    for table in (f"/proc/net/{kind}", f"/proc/net/{kind}6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[9]) in inodes and (kind == "udp" or fields[3] == "0A"):
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def udp_unread(port: int) -> int:
    """Bytes waiting in the receive queues of the UDP sockets bound to ``port`` (from
    /proc/net/udp*): 0 once their owner has read every datagram that arrived (on
    loopback a datagram is queued by the time ``sendto`` returns)."""
    return _receive_queue("udp", port, listening=False)


def tcp_unread(local_port: int) -> int:
    """Bytes received but not yet read by the TCP connection whose local port is
    ``local_port`` (from /proc/net/tcp*)."""
    return _receive_queue("tcp", local_port, listening=False)


def accept_queue(port: int) -> int:
    """Connections waiting in the accept queue of the TCP listener on ``port``."""
    return _receive_queue("tcp", port, listening=True)


@contextlib.contextmanager
def blackholed_address() -> Iterator[tuple[str, int]]:
    """A loopback address whose SYNs are dropped: a listener with backlog 0 whose accept
    queue is full, so a connect to it hangs (no refusal, no answer)."""
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(0)
        address = lsock.getsockname()
        for _ in range(4):
            f = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            f.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                f.connect(address)
            fillers.append(f)
        deadline = time.monotonic() + 5
        while accept_queue(address[1]) < 1:  # the one a backlog of 0 holds: full
            assert time.monotonic() < deadline, "the accept queue never filled"
            time.sleep(0.005)  # polling /proc: nothing to await
        yield address
    finally:
        for f in fillers:
            f.close()
        lsock.close()


def _receive_queue(kind: str, port: int, listening: bool) -> int:
    total = 0
    for table in (f"/proc/net/{kind}", f"/proc/net/{kind}6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and (
                    kind == "udp" or (fields[3] == "0A") == listening
                ):
                    total += int(fields[4].split(":")[1], 16)
    return total


def kill_group(pgid: int, sig: int) -> None:
    """Signal every process of group ``pgid`` (gone already is fine)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class Peers:
    """The ``peer`` fixture: ``peer(args, **popen)`` starts a peer (stopped after the
    test); ``peer.on_free_ports(make_args, kinds)`` starts one that must be told its
    ports (see ``start_on_free_ports``) and returns ``(peer, ports)``."""

    def __init__(self) -> None:
        self.started: list[Peer] = []

    def __call__(self, args: list[str], **kwargs: Any) -> Peer:
        p = Peer(args, **kwargs)
        self.started.append(p)
        return p

    def on_free_ports(
        self, make_args: Callable[..., list[str]], kinds: tuple[str, ...] = ("tcp",), **kw: Any
    ) -> tuple[Peer, list[int]]:
        p, ports = start_on_free_ports(make_args, kinds, **kw)
        self.started.append(p)
        return p, ports


@pytest.fixture
def peer() -> Iterator[Peers]:
    peers = Peers()
    yield peers
    for p in peers.started:
        p.stop()


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


def _reset_global_state() -> None:
    """Empty unisock's process-wide caches, so that no test sees what an earlier one left.

    Private names on purpose: these are the library's per-process state (the TLS session
    cache that ``allow_pooling`` resumes from, validated client options and built SSL
    contexts, the QUIC connection pool keyed by ``id(loop)`` -- a new loop can get a dead
    one's id -- and the QUIC client tickets, the once-per-process malloc tuning flag).
    If a module moves, this is the one place in the tests that names them.
    """
    from unisock._api import quic as _quic_socket
    from unisock._api import tls as _tls_socket
    from unisock._base import malloc as _malloc
    from unisock._transports.quic import _client, _tickets
    from unisock._transports.tls import config as _tls_config

    _tls_config.session_cache.clear()
    _tls_config._contexts.clear()  # a context may hold a key log file open
    _tls_socket._client_cache.clear()
    _client._pool.clear()
    _tickets.client_tickets.clear()
    _quic_socket._client_pems.clear()
    # tune_malloc() runs once per process; the next socket applies it again, reading
    # UNISOCK_MALLOC_TUNING anew.  (What mallopt did cannot be undone: a test of the
    # tuning being off runs in a process of its own.)
    _malloc._done = False


@pytest.fixture(autouse=True)
def fresh_global_state(no_leaks: None) -> Iterator[None]:
    """Reset unisock's process-wide state before each test and after it (after: before
    ``no_leaks`` counts file descriptors, so a cached context's key log is not one)."""
    _reset_global_state()
    yield
    _reset_global_state()
