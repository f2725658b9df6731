"""Running a subcommand: the event loop, one-line errors, and Ctrl-C as exit code 130."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import sys
import traceback
from collections.abc import Callable, Coroutine
from typing import Any

from .. import errors

__all__ = ["UsageError", "describe", "eprint", "run"]

EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A problem with what the user asked for: one line, exit code 2."""


def eprint(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


NOT_TLS_REASONS = (
    "unexpected message",
    "unexpected record",
    "wrong version number",
    "packet length too long",
    "record layer failure",
    "unknown protocol",
)
"""OpenSSL's words for a handshake answered with bytes that are not TLS."""

NOT_TLS_HINT = "the server may not speak TLS on this port (a plaintext service?)"


def _tls_hint(text: str) -> str:
    lowered = text.lower().replace("_", " ")
    if any(reason in lowered for reason in NOT_TLS_REASONS):
        return f"{text}: {NOT_TLS_HINT}"
    return text


def describe(exc: BaseException) -> str:
    """One readable line for an error, without the Python plumbing."""
    if isinstance(exc, errors.TLSError):
        text = _tls_hint(f"TLS error: {exc}")
        status = exc.verification_status
        if status and status not in text:
            text += f" (verification: {status})"
    elif isinstance(exc, ssl.SSLError):
        text = _tls_hint(f"TLS error: {exc.reason or exc}")
    elif isinstance(exc, errors.NetworkError) and _message(exc).startswith("TLS handshake"):
        # Closed or reset during the handshake: a server that rejects this client, or one
        # that does not speak TLS and gave up on the ClientHello.
        text = f"{_message(exc)}: the server may have rejected the handshake, or may not speak TLS"
    elif isinstance(exc, errors.TimeoutError | TimeoutError):
        text = f"timed out: {exc}" if str(exc) else "timed out"
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
        if exc.errno and "Connect call failed" in text:  # asyncio's wording: say why
            text = text.split("Connect call failed")[0] + os.strerror(exc.errno)
        if exc.filename:
            text = f"{exc.filename}: {text}"
    elif isinstance(exc, NotImplementedError) and str(exc):
        text = f"not supported: {exc}"
    elif isinstance(exc, errors.AbortError | errors.InvalidStateError | UsageError):
        text = str(exc)
    elif isinstance(exc, ValueError | TypeError):
        text = f"bad option: {exc}"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return " ".join(text.split())


def _loop_factory(kind: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if kind == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if kind == "uvloop":
            raise UsageError("--loop uvloop: uvloop is not installed: pip install uvloop") from None
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def _run_on_trio(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    try:
        import trio  # noqa: F401
    except ImportError:
        raise UsageError("--loop trio: trio is not installed: pip install trio") from None
    from .tasks import run_on_trio

    return run_on_trio(main)


def run(
    main: Callable[[], Coroutine[Any, Any, int]], *, loop: str = "auto", debug: bool = False
) -> int:
    """Run ``main()`` on a fresh loop; map every failure to one line and an exit code."""
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        if loop == "trio":
            signal.signal(signal.SIGTERM, previous)  # trio's own receiver takes it
            return _run_on_trio(main)
        with asyncio.Runner(loop_factory=_loop_factory(loop)) as runner:
            return runner.run(main())
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except BrokenPipeError:
        # stdout's reader went away (``| head``): quiet, and no second error at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1
    except (UsageError, NotImplementedError) as exc:
        # NotImplementedError: a combination unisock refuses (UDP or QUIC on trio, so far).
        if debug:
            traceback.print_exc()
        text = describe(exc)
        if isinstance(exc, NotImplementedError) and loop == "trio":
            text = f"--loop trio: {text}"
        eprint(f"unisock: error: {text}")
        return 2
    except Exception as exc:
        if debug:
            traceback.print_exc()
        eprint(f"unisock: error: {describe(exc)}")
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM ends like Ctrl-C (sockets closed, temporary files removed), status 143."""
    raise SystemExit(128 + signum)


def _message(exc: OSError) -> str:
    """An OS-level error's own words, without the ``[Errno N]`` prefix ``str()`` adds."""
    return exc.strerror if exc.errno is not None and exc.strerror else str(exc)
