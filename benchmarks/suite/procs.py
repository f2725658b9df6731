"""Starting the peers of one measurement, bounded in time, and always killing them after.

Each process runs in its own session so that leaving the ``with`` block kills it and
anything it started, whatever happened (a hung client, a crash, Ctrl-C).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import resource
import selectors
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO

from .peers import PeerError


def pinning(cpu: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that pins the child (and every thread it starts) to ``cpu``."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def last_cpu() -> int:
    """The CPU the pinned workloads share: the last one this process may use."""
    return max(os.sched_getaffinity(0))


class Procs:
    """The processes of one measurement; a context manager that kills what is left."""

    def __init__(self) -> None:
        self._procs: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []
        self.window_cpu: tuple[float, float] | None = None
        """CPU seconds of (the client, the servers) over the client's measured window,
        set by ``run_client(..., warmup=...)``: from /proc at the end of the warm-up to the
        client's exit (its rusage) and to the same moment for the servers."""
        self.cpu_per_op: tuple[float, float] | None = None
        """Microseconds of CPU per counted operation (client, servers), for rt/s rows."""

    def __enter__(self) -> Procs:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _spawn(self, argv: list[str], cpu: int | None) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
        err = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
                preexec_fn=pinning(cpu),
            )
        except OSError as e:
            err.close()
            raise PeerError(f"cannot start {argv[0]}: {e.strerror}") from None
        self._procs.append((proc, err))
        return proc, err

    def start_server(self, argv: list[str], *, cpu: int | None, timeout: float) -> int:
        """Start a server or proxy and return the port it printed on its first line."""
        proc, err = self._spawn(argv, cpu)
        line = _read_line(proc, timeout)
        if line is None:
            why = "exited" if proc.poll() is not None else f"printed no port in {timeout:g} s"
            raise PeerError(f"server {why}: {_tail(err)}")
        try:
            return int(json.loads(line)["port"])
        except (ValueError, KeyError, TypeError):
            raise PeerError(f"server printed {line[:80]!r} instead of its port") from None

    def run_client(
        self, argv: list[str], *, cpu: int | None, timeout: float, sample: bool = False
    ) -> dict[str, float]:
        """Run a client to its end and return its JSON line (count, seconds).

        With ``sample``, the CPU time of the client and of the servers over the client's
        measured window goes to ``window_cpu``: /proc is sampled every ``SAMPLE_EVERY``
        seconds and read at the window's start (the client's exit minus the seconds it
        reports) by interpolation; the client's end is its rusage at exit.
        """
        servers = [p for p, _ in self._procs]
        before = _children_cpu()
        proc, err = self._spawn(argv, cpu)
        samples: list[tuple[float, float, float]] = []
        stop = threading.Event()

        def sampler() -> None:
            while not stop.is_set():
                client, others = _cpu_seconds(proc.pid), _total(servers)
                if client is not None and others is not None:
                    samples.append((time.monotonic(), client, others))
                stop.wait(SAMPLE_EVERY)

        thread = threading.Thread(target=sampler, daemon=True) if sample else None
        if thread is not None:
            thread.start()
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill(proc)
            raise PeerError(f"client hung for {timeout:g} s: {_tail(err)}") from None
        finally:
            ended = time.monotonic()
            stop.set()
            if thread is not None:
                thread.join()
        client_total = _children_cpu() - before
        servers_end = _total(servers)
        if proc.returncode != 0:
            raise PeerError(f"client exited with {proc.returncode}: {_tail(err)}")
        lines = out.decode(errors="replace").strip().splitlines()
        try:
            result = json.loads(lines[-1])
            found = {"count": float(result["count"]), "seconds": float(result["seconds"])}
        except (IndexError, ValueError, KeyError, TypeError):
            raise PeerError(f"client printed no result: {_tail(err)}") from None
        start = ended - found["seconds"]
        if len(samples) >= 2 and samples[0][0] <= start and servers_end is not None:
            client_start = _at(samples, start, 1)
            servers_start = _at(samples, start, 2)
            self.window_cpu = (client_total - client_start, servers_end - servers_start)
        return found

    def check(self, argv: list[str], timeout: float) -> None:
        """Run ``PEER check``: it exits 0 when the peer can run here."""
        proc, err = self._spawn(argv, None)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._kill(proc)
            raise PeerError(f"check hung for {timeout:g} s") from None
        if proc.returncode != 0:
            raise PeerError(_tail(err))

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)

    def close(self) -> None:
        """Kill every process still running, reap it, close its pipes."""
        for proc, err in reversed(self._procs):
            if proc.poll() is None:
                self._kill(proc)
            if proc.stdout is not None:
                proc.stdout.close()
            err.close()
        self._procs.clear()


SAMPLE_EVERY = 0.02
"""Seconds between two /proc samples (its clock ticks are 10 ms)."""


def _at(samples: list[tuple[float, float, float]], when: float, column: int) -> float:
    """The sampled value of ``column`` at time ``when``, interpolated linearly."""
    for (t0, *v0), (t1, *v1) in itertools.pairwise(samples):
        if t0 <= when <= t1:
            share = (when - t0) / (t1 - t0) if t1 > t0 else 0.0
            return v0[column - 1] + (v1[column - 1] - v0[column - 1]) * share
    return samples[-1][column]


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a live process, from /proc (Linux); None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _total(procs: list[subprocess.Popen[bytes]]) -> float | None:
    values = [_cpu_seconds(p.pid) for p in procs]
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def _children_cpu() -> float:
    """CPU seconds of every child reaped so far (the client, once ``communicate`` reaps it)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> str | None:
    """The first stdout line of ``proc``, or None on EOF or timeout."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    data = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                return None
            chunk = os.read(fd, 4096)
            if not chunk:
                return None
            data += chunk
    return data.split(b"\n", 1)[0].decode(errors="replace")


def _tail(err: IO[bytes]) -> str:
    """The last non-empty line of a process's stderr: the reason shown in the report."""
    err.seek(0)
    lines = [ln.strip() for ln in err.read().decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "no error output"
