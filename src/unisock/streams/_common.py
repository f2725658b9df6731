"""Small pieces shared by the stream classes: strategies, sources' optional methods."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

from .._base.deferred import RESOLVED_NONE, Deferred, settle_from

SizeFn = Callable[[Any], float]


class ReadResult(NamedTuple):
    """What ``reader.read()`` resolves to: a chunk, or ``done=True`` at the end."""

    value: Any
    done: bool


_new_tuple = tuple.__new__


def read_result(value: Any, done: bool) -> ReadResult:
    """Build a ``ReadResult`` without the NamedTuple constructor's overhead (hot path)."""
    return _new_tuple(ReadResult, (value, done))


DONE = read_result(None, True)


class ByteLengthQueuingStrategy:
    """Counts queued chunks by their length in bytes."""

    __slots__ = ("high_water_mark",)

    def __init__(self, high_water_mark: float) -> None:
        self.high_water_mark = validate_hwm(high_water_mark)

    @staticmethod
    def size(chunk: Any) -> float:
        return len(chunk)


class CountQueuingStrategy:
    """Counts each queued chunk as one."""

    __slots__ = ("high_water_mark",)

    def __init__(self, high_water_mark: float) -> None:
        self.high_water_mark = validate_hwm(high_water_mark)

    @staticmethod
    def size(chunk: Any) -> float:
        return 1


def validate_hwm(value: object, field: str = "high_water_mark") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{field} must be a number, got {value!r}")
    if math.isnan(value) or value < 0:
        raise ValueError(f"{field} must be a non-negative number, got {value!r}")
    return float(value)


def get_member(obj: object, name: str) -> Any:
    """An optional member of a source/sink/strategy object or dict (``None`` if absent)."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def extract_strategy(
    strategy: object, default_hwm: float, *, bytes_stream: bool = False
) -> tuple[float, SizeFn | None]:
    """(high-water mark, size function or None for 'each chunk counts 1')."""
    hwm_value = get_member(strategy, "high_water_mark")
    hwm = default_hwm if hwm_value is None else validate_hwm(hwm_value)
    size = get_member(strategy, "size")
    if size is not None and not callable(size):
        raise TypeError(f"strategy.size must be callable, got {size!r}")
    if bytes_stream and size is not None:
        raise ValueError("a byte stream's strategy cannot have a size function")
    if isinstance(strategy, CountQueuingStrategy):
        size = None
    return hwm, size


def invoke(method: Callable[..., Any] | None, *args: Any) -> Deferred[Any]:
    """Call an optional, plain or async, source/sink method; its outcome as a Deferred."""
    if method is None:
        return RESOLVED_NONE
    try:
        result = method(*args)
    except Exception as exc:
        return Deferred.rejected(exc)
    if result is None:  # the per-chunk common case, without a further call
        return RESOLVED_NONE
    return _as_deferred(result)


def _as_deferred(result: Any) -> Deferred[Any]:
    """A method's return value as a Deferred (settled at once unless it is awaitable)."""
    if result is None:
        return RESOLVED_NONE
    if isinstance(result, Deferred):
        return result
    if hasattr(result, "__await__"):
        d: Deferred[Any] = Deferred()
        settle_from(d, result)
        return d
    return Deferred.resolved(result)


def invoke_start(method: Callable[..., Any] | None, controller: Any) -> Deferred[Any]:
    """Call a source's, sink's or transformer's optional ``start``; its outcome as a Deferred.

    Unlike ``invoke``, an exception raised synchronously propagates: the standard rethrows
    it from the stream's constructor (an ``async`` start that fails rejects instead).
    """
    if method is None:
        return RESOLVED_NONE
    return _as_deferred(method(controller))


def to_bytes(chunk: Any, what: str = "chunk") -> bytes:
    """A bytes-like chunk as immutable ``bytes`` (no copy when it already is)."""
    if type(chunk) is bytes:
        return chunk
    if isinstance(chunk, bytes | bytearray | memoryview):
        return bytes(chunk)
    if isinstance(chunk, str):
        raise TypeError(f"{what} must be bytes-like, got str (encode it first)")
    try:
        return bytes(memoryview(chunk))
    except TypeError:
        raise TypeError(f"{what} must be bytes-like, got {type(chunk).__name__}") from None
