"""``AbortController`` and ``AbortSignal``, as on the web platform."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from . import errors
from ._runtime import current
from .events import Event, EventTarget, report_exception

__all__ = ["AbortController", "AbortSignal"]


def as_exception(reason: object) -> BaseException:
    """The exception an abort with ``reason`` raises: the reason itself, or an AbortError."""
    if isinstance(reason, BaseException):
        return reason
    return errors.AbortError(f"aborted: {reason!r}", reason=reason)


class AbortSignal(EventTarget):
    """Tells whether, and why, an operation was aborted; fires ``"abort"`` once."""

    __slots__ = ("_aborted", "_algorithms", "_reason", "_timer")

    def __init__(self) -> None:
        super().__init__()
        self._aborted = False
        self._reason: object = None
        self._algorithms: list[Callable[[], object]] | None = []
        self._timer: Any = None  # the runtime's timer handle (``timeout``)

    @property
    def aborted(self) -> bool:
        return self._aborted

    @property
    def reason(self) -> object:
        return self._reason

    def throw_if_aborted(self) -> None:
        if self._aborted:
            raise as_exception(self._reason)

    def _add_algorithm(self, algorithm: Callable[[], object]) -> Callable[[], None]:
        """Run ``algorithm`` on abort, before the listeners; returns a remover."""
        if self._algorithms is not None:
            self._algorithms.append(algorithm)

        def remove() -> None:
            if self._algorithms is not None and algorithm in self._algorithms:
                self._algorithms.remove(algorithm)

        return remove

    def _signal_abort(self, reason: object = None) -> None:
        if self._aborted:
            return
        if reason is None:
            reason = errors.AbortError("signal is aborted without reason")
        self._aborted = True
        self._reason = reason
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        algorithms, self._algorithms = self._algorithms or [], None
        for algorithm in algorithms:
            try:
                algorithm()
            except Exception as exc:
                report_exception(exc, "exception in abort algorithm")
        self.dispatch_event(Event("abort"))

    @classmethod
    def abort(cls, reason: object = None) -> AbortSignal:
        """A signal that is already aborted with ``reason``."""
        signal = cls()
        signal._signal_abort(reason)
        return signal

    @classmethod
    def timeout(cls, seconds: float) -> AbortSignal:
        """A signal that aborts with ``unisock.errors.TimeoutError`` after ``seconds``."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise TypeError(f"seconds must be a number, got {seconds!r}")
        if not seconds >= 0:
            raise ValueError(f"seconds must be >= 0, got {seconds!r}")
        loop = current()
        signal = cls()
        signal._timer = loop.call_later(
            seconds,
            lambda: signal._signal_abort(
                errors.TimeoutError(f"signal timed out after {seconds} s")
            ),
        )
        return signal

    @classmethod
    def any(cls, signals: Iterable[AbortSignal]) -> AbortSignal:
        """A signal that aborts as soon as any of ``signals`` does, with its reason."""
        signals = list(signals)
        for s in signals:
            if not isinstance(s, AbortSignal):
                raise TypeError(f"AbortSignal.any takes AbortSignals, got {s!r}")
        result = cls()
        for s in signals:
            if s.aborted:
                result._signal_abort(s.reason)
                return result
        removers: list[Callable[[], None]] = []

        def follow(source: AbortSignal) -> Callable[[], None]:
            def run() -> None:
                for remove in removers:
                    remove()
                result._signal_abort(source.reason)

            return run

        for s in signals:
            removers.append(s._add_algorithm(follow(s)))
        return result

    def __repr__(self) -> str:
        return f"<AbortSignal aborted={self._aborted} reason={self._reason!r}>"


class AbortController:
    """Owns an ``AbortSignal`` and aborts it on request."""

    __slots__ = ("_signal",)

    def __init__(self) -> None:
        self._signal = AbortSignal()

    @property
    def signal(self) -> AbortSignal:
        return self._signal

    def abort(self, reason: object = None) -> None:
        """Abort the signal (plain, not async, as on the web)."""
        self._signal._signal_abort(reason)
