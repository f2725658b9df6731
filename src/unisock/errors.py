"""Exceptions raised by unisock: the Python names for the draft's DOMExceptions."""

from __future__ import annotations

import builtins

from ._framing_errors import IncompleteReadError, LimitOverrunError

__all__ = [
    "AbortError",
    "IncompleteReadError",
    "InvalidStateError",
    "LimitOverrunError",
    "NetworkError",
    "TLSError",
    "TimeoutError",
]


class AbortError(Exception):
    """An operation was aborted; ``reason`` is what the abort was given."""

    def __init__(self, message: str = "the operation was aborted", reason: object = None) -> None:
        super().__init__(message)
        self.reason = reason


class TimeoutError(builtins.TimeoutError):
    """A ``ready_timeout``, ``idle_timeout`` or ``AbortSignal.timeout`` ran out."""


class NetworkError(ConnectionError):
    """Connect refused, reset, unreachable or a DNS failure; keeps the OS ``errno``."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        if errno is None:
            super().__init__(message)
        else:
            super().__init__(errno, message)


class TLSError(Exception):
    """A TLS handshake or certificate verification failed."""

    def __init__(self, message: str, verification_status: str | None = None) -> None:
        super().__init__(message)
        self.verification_status = verification_status


class InvalidStateError(Exception):
    """The object is not in a state that allows the call (closed, locked, released)."""
