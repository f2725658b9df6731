"""A progress bar on stderr: bytes, rate and ETA, redrawn a few times a second.

It reads a counter on a timer rather than being told about each chunk, so the transfer's
per-chunk path pays nothing for it.  It draws only on a terminal.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from typing import TextIO

from .describe import size
from .tasks import Job, sleep, spawn

__all__ = ["Progress"]

INTERVAL = 0.2


def _clock(seconds: float) -> str:
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


class Progress:
    """Draws ``count()`` against ``total`` (when known) every ``INTERVAL`` seconds."""

    def __init__(
        self,
        count: Callable[[], int],
        total: int | None,
        *,
        out: TextIO | None = None,
        enabled: bool | None = None,
    ) -> None:
        self._count = count
        self._total = total
        self._out = sys.stderr if out is None else out
        self.enabled = self._out.isatty() if enabled is None else enabled
        self._start = time.monotonic()
        self._task: Job | None = None

    def start(self) -> None:
        self._start = time.monotonic()
        if self.enabled:
            self._task = spawn(self._run())

    async def _run(self) -> None:
        while True:
            self._draw(final=False)
            await sleep(INTERVAL)

    def elapsed(self) -> float:
        return time.monotonic() - self._start

    def line(self, done: int, width: int) -> str:
        """The bar for ``done`` bytes in ``width`` columns."""
        elapsed = max(self.elapsed(), 1e-6)
        rate = done / elapsed
        text = f"{size(done)}"
        total = self._total
        if total:
            fraction = min(done / total, 1.0)
            left = (total - done) / rate if rate > 0 else None
            eta = _clock(left) if left is not None else "--:--"
            tail = f" {fraction:4.0%} {size(done)}/{size(total)} {size(rate)}/s ETA {eta}"
            bar_width = max(width - len(tail) - 3, 10)
            filled = int(bar_width * fraction)
            return f"[{'#' * filled}{'.' * (bar_width - filled)}]{tail}"
        return f"{text} {size(rate)}/s {_clock(elapsed)}"

    def _draw(self, *, final: bool) -> None:
        width = shutil.get_terminal_size((80, 24)).columns - 1
        text = self.line(self._count(), width)[:width]
        self._out.write("\r" + text.ljust(width) + ("\n" if final else ""))
        self._out.flush()

    def stop(self) -> None:
        """Stop redrawing; draw the final state once (on a terminal)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self.enabled:
            self._draw(final=True)
