"""Exceptions raised by unisock: the Python names for the draft's DOMExceptions."""

from __future__ import annotations

import builtins
import errno as _errno
import os as _os
import socket as _socket

from ._base.framing_errors import IncompleteReadError, LimitOverrunError

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


def network_error(exc: OSError, what: str) -> NetworkError:
    """The one translation of an OS error into a ``NetworkError``: ``"<what>: <reason>
    (<ERRNO>)"``, keeping the OS ``errno`` (resolver errors keep their ``EAI_*`` code and
    the resolver's own words, which ``os.strerror`` does not know)."""
    if isinstance(exc, NetworkError):
        return exc
    code = exc.errno
    if isinstance(exc, _socket.gaierror) or not isinstance(code, int) or code <= 0:
        reason = exc.strerror or str(exc) or type(exc).__name__
        return NetworkError(f"{what}: {reason}", code if isinstance(code, int) else None)
    name = _errno.errorcode.get(code)
    reason = _os.strerror(code)
    return NetworkError(f"{what}: {reason} ({name})" if name else f"{what}: {reason}", code)


def translate(exc: BaseException, what: str) -> BaseException:
    """``exc`` as the error a socket reports: unisock's own errors as they are, OS errors
    through ``network_error``, anything else unchanged."""
    if isinstance(exc, NetworkError | TLSError | AbortError | TimeoutError | InvalidStateError):
        return exc
    if isinstance(exc, OSError):
        return network_error(exc, what)
    return exc
