"""Checks for byte-stream pairs (TCP, TLS, STARTTLS, QUIC streams), modelled on trio's
``check_one_way_stream`` / ``check_two_way_stream`` / ``check_half_closeable_stream``.

One-way checks send from ``a`` to ``b``; :func:`check_two_way_stream` runs each of them
on the pair and on the pair flipped. Every check uses the public API only, so it
holds any transport to the contract of ``docs/api.md`` rather than to unisock's
insides.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .. import Socket, errors
from ..errors import AbortError, NetworkError
from ._common import (
    PairFactory,
    bounded,
    byob_reader,
    default_reader,
    expect_error,
    first_difference,
    flipped,
    now,
    read_all,
    run_all,
    sleep,
    wait_for,
)

__all__ = [
    "ONE_WAY_CHECKS",
    "TWO_WAY_CHECKS",
    "HALF_CLOSE_CHECKS",
    "check_abort",
    "check_async_for",
    "check_auto_close_after_end",
    "check_backpressure",
    "check_byob_reads",
    "check_concurrent_both_ways",
    "check_half_close",
    "check_half_closeable_stream",
    "check_idle_timeout",
    "check_large_write",
    "check_many_small_writes",
    "check_ordered_integrity",
    "check_pipe_to",
    "check_stats",
    "check_two_way_stream",
]

WITHIN = 30.0
"""Bound on each wait inside a check: a hang fails with a message, not a stuck run."""


async def _send(sock: Socket, data: bytes, rng: random.Random, max_chunk: int) -> None:
    """Write ``data`` in random chunk sizes, honouring backpressure, then half-close."""
    writer = sock.writable.get_writer()
    pos = 0
    while pos < len(data):
        n = rng.randint(1, max_chunk)
        await bounded(writer.ready, WITHIN, "writer.ready")
        writer.write(data[pos : pos + n])
        pos += n
    await bounded(writer.close(), WITHIN, "writer.close()")


async def _both_closed(*socks: Socket) -> None:
    """Each socket's ``closed`` resolves once both its directions are done."""
    for sock in socks:
        await bounded(sock.closed, WITHIN, "closed after both directions ended")


def _same(got: bytes, expected: bytes, what: str) -> None:
    if got != expected:
        raise AssertionError(f"{what}: {first_difference(got, expected)}")


async def check_ordered_integrity(
    make_pair: PairFactory, *, total: int = 512 * 1024, seed: int = 0
) -> None:
    """Random bytes written in random chunk sizes arrive in order and intact; after
    ``b`` reads the end, both ``closed`` resolve (``allow_half_open=False`` closes
    ``b``'s writable, so ``a`` sees its end too, read or not)."""
    rng = random.Random(seed)
    data = rng.randbytes(total)
    async with make_pair() as (a, b):
        _, got = await run_all(_send(a, data, rng, 64 * 1024), read_all(b, WITHIN))
        _same(got, data, "ordered integrity")
        await _both_closed(a, b)


async def check_many_small_writes(make_pair: PairFactory, *, count: int = 4000) -> None:
    """Thousands of tiny writes (some empty, some ``bytearray``/``memoryview``), none
    awaited (they are queued at once, as in JavaScript), arrive whole and in order:
    the per-chunk path must not drop, reorder or coalesce wrongly, and an empty
    write is no end of stream."""
    rng = random.Random(1)
    kinds: list[Callable[[bytes], bytes | bytearray | memoryview]] = [
        bytes,
        bytearray,
        memoryview,
        lambda c: memoryview(b"." + c)[1:],
    ]
    chunks = [rng.choice(kinds)(rng.randbytes(rng.randint(0, 16))) for _ in range(count)]
    async with make_pair() as (a, b):
        writer = a.writable.get_writer()

        async def send() -> None:
            for chunk in chunks:
                writer.write(chunk)
            await bounded(writer.close(), WITHIN, "closing after many writes")

        _, got = await run_all(send(), read_all(b, WITHIN))
        _same(got, b"".join(bytes(c) for c in chunks), "many small writes")
        await _both_closed(a, b)


async def check_large_write(make_pair: PairFactory, *, size: int = 3 << 19) -> None:
    """One write far above the high-water mark resolves once it is all sent, and the
    peer gets it byte for byte."""
    data = random.Random(2).randbytes(size)
    async with make_pair() as (a, b):
        writer = a.writable.get_writer()

        async def send() -> None:
            await bounded(writer.write(data), WITHIN, "a large write")
            await bounded(writer.close(), WITHIN, "closing after a large write")

        _, got = await run_all(send(), read_all(b, WITHIN))
        _same(got, data, "large write")
        await _both_closed(a, b)


async def check_byob_reads(make_pair: PairFactory, *, total: int = 512 * 1024) -> None:
    """A BYOB reader fills the caller's buffers (random sizes, some with ``min=`` the
    whole view) with exactly the bytes sent, and reports the end with ``done``."""
    rng = random.Random(3)
    data = rng.randbytes(total)

    async def receive(b: Socket) -> bytes:
        reader = byob_reader(b.readable)
        got = bytearray()
        try:
            while True:
                size = rng.randint(1, 64 * 1024)
                view = memoryview(bytearray(size))
                want_full = rng.random() < 0.3 and len(got) + size <= total
                read = reader.read(view, min=size) if want_full else reader.read(view)
                result = await bounded(read, WITHIN, "a BYOB read")
                if result.done:
                    return bytes(got)
                filled = bytes(result.value)
                if not filled:
                    raise AssertionError("a BYOB read resolved with no bytes and not done")
                if want_full and len(filled) != size:
                    raise AssertionError(f"read(view, min={size}) gave {len(filled)} bytes")
                got += filled
        finally:
            reader.release_lock()

    async with make_pair() as (a, b):
        _, got = await run_all(_send(a, data, rng, 32 * 1024), receive(b))
        _same(got, data, "BYOB reads")
        await _both_closed(a, b)


async def check_async_for(make_pair: PairFactory, *, total: int = 128 * 1024) -> None:
    """``async for chunk in readable`` and ``socket.stream()`` yield ``bytes`` chunks
    that add up to what was sent, and end at the peer's end."""
    rng = random.Random(4)
    data = rng.randbytes(total)
    for use_stream in (False, True):
        async with make_pair() as (a, b):

            async def receive(b: Socket = b, use_stream: bool = use_stream) -> bytes:
                parts: list[bytes] = []
                source = b.stream() if use_stream else b.readable
                async for chunk in source:
                    if type(chunk) is not bytes:
                        raise AssertionError(f"a chunk read is {type(chunk).__name__}, not bytes")
                    parts.append(chunk)
                return b"".join(parts)

            _, got = await run_all(
                _send(a, data, rng, 16 * 1024), bounded(receive(), WITHIN, "async for")
            )
            _same(got, data, "socket.stream()" if use_stream else "async for over readable")
            await _both_closed(a, b)


async def check_pipe_to(make_pair: PairFactory, *, total: int = 256 * 1024) -> None:
    """``b.readable.pipe_to(b.writable)`` echoes everything back while ``a`` sends and
    reads at once, then carries ``a``'s end through to ``a``'s readable."""
    rng = random.Random(5)
    data = rng.randbytes(total)
    async with make_pair() as (a, b):
        pipe = b.readable.pipe_to(b.writable)
        _, echoed = await run_all(_send(a, data, rng, 64 * 1024), read_all(a, WITHIN))
        await bounded(pipe, WITHIN, "pipe_to resolving")
        _same(echoed, data, "echo through pipe_to")
        await _both_closed(a, b)


async def check_stats(make_pair: PairFactory) -> None:
    """``stats.bytes_sent``/``bytes_received`` count exactly the payload, on both
    ends, and packet counters move."""
    async with make_pair() as (a, b):
        sent0, received0 = a.stats.bytes_sent, b.stats.bytes_received
        back0 = a.stats.bytes_received
        packets_sent0, packets_received0 = a.stats.packets_sent, b.stats.packets_received
        writer = a.writable.get_writer()
        writer.write(b"a" * 1000)
        await bounded(writer.write(b"b" * 234), WITHIN, "a write")
        await bounded(writer.close(), WITHIN, "writer.close()")
        got = await read_all(b, WITHIN)
        await _both_closed(a, b)
        assert len(got) == 1234, f"read {len(got)} bytes, sent 1234"
        assert a.stats.bytes_sent - sent0 == 1234, f"bytes_sent moved {a.stats.bytes_sent - sent0}"
        assert b.stats.bytes_received - received0 == 1234, (
            f"bytes_received moved {b.stats.bytes_received - received0}"
        )
        assert a.stats.bytes_received == back0, "a received bytes nobody sent"
        assert a.stats.packets_sent > packets_sent0, "packets_sent did not move"
        assert b.stats.packets_received > packets_received0, "packets_received did not move"


async def check_concurrent_both_ways(
    make_pair: PairFactory, *, total: int = 512 * 1024, buffer_size: int = 64 * 1024
) -> None:
    """Both ends send and receive at once, far more than the (small) buffers hold:
    neither side may deadlock waiting for the other to read, and both streams arrive
    intact. (``allow_half_open=True``: each end closes its own writable when done.)"""
    rng_a, rng_b = random.Random(6), random.Random(7)
    data_a, data_b = rng_a.randbytes(total), rng_b.randbytes(total)
    async with make_pair(
        allow_half_open=True, send_buffer_size=buffer_size, receive_buffer_size=buffer_size
    ) as (a, b):
        _, _, got_b, got_a = await run_all(
            _send(a, data_a, rng_a, 64 * 1024),
            _send(b, data_b, rng_b, 64 * 1024),
            read_all(b, WITHIN),
            read_all(a, WITHIN),
        )
        _same(got_b, data_a, "a to b")
        _same(got_a, data_b, "b to a")
        await _both_closed(a, b)


async def check_half_close(make_pair: PairFactory) -> None:
    """With ``allow_half_open=True``: ``a.writable.close()`` ends ``b``'s readable, the
    other direction still works, and ``closed`` waits for both directions."""
    async with make_pair(allow_half_open=True) as (a, b):
        writer = a.writable.get_writer()
        await bounded(writer.write(b"request"), WITHIN, "a write")
        writer.release_lock()
        await bounded(a.writable.close(), WITHIN, "a.writable.close()")
        assert await read_all(b, WITHIN) == b"request"
        await sleep(0.05)
        assert not b.closed.done(), "b closed although its writable is open (allow_half_open)"
        assert not a.closed.done(), "a closed although b can still send to it"
        b_writer = b.writable.get_writer()
        await bounded(b_writer.write(b"response"), WITHIN, "writing after the peer's end")
        await bounded(b_writer.close(), WITHIN, "half-closing b")
        assert await read_all(a, WITHIN) == b"response"
        await _both_closed(a, b)


async def check_auto_close_after_end(make_pair: PairFactory) -> None:
    """With ``allow_half_open=False`` (the default): once ``b`` has read to the end, its
    writable closes after what it queued, so ``a`` reads that and then the end."""
    async with make_pair() as (a, b):
        writer = a.writable.get_writer()
        await bounded(writer.write(b"bye"), WITHIN, "a write")
        await bounded(writer.close(), WITHIN, "half-closing a")
        b.writable.get_writer().write(b"last words")
        assert await read_all(b, WITHIN) == b"bye"
        assert await read_all(a, WITHIN) == b"last words"
        await _both_closed(a, b)


async def check_abort(make_pair: PairFactory, *, peer_notified: bool = True) -> None:
    """``a.abort(reason)`` rejects ``a``'s pending read, the reader's and the writer's
    ``closed``, a write still queued, later writes (even of a chunk the socket would
    refuse: an errored stream rejects before it looks at the chunk, as the streams
    standard orders it) and ``closed`` with ``reason`` itself, and aborts ``a.signal``
    with it. A non-exception reason is wrapped in ``AbortError`` carrying it.

    With ``peer_notified`` (byte streams: TCP RST, TLS, QUIC RESET_STREAM) the peer
    then sees an error (``NetworkError``) or the end on its pending read, and its own
    ``closed`` settles once it has read that. Pass ``False`` for transports that tell
    the peer nothing (UDP)."""
    async with make_pair() as (a, b):
        reason = ValueError("the check aborts")
        a_reader = default_reader(a.readable)
        a_read = a_reader.read()
        a_writer = a.writable.get_writer()
        b_reader = default_reader(b.readable)
        b_read = b_reader.read()
        await sleep(0)
        # More than any buffer takes at once, so part of it is still queued at the abort.
        queued = a_writer.write(b"q" * (8 << 20)) if peer_notified else None
        # A bound UDP socket (no remote) writes Datagrams: give it a chunk it takes.
        late: object = b"late"
        if a.info.remote is None and b.info.local is not None:
            import unisock

            datagram: Any = unisock.Datagram  # resolved lazily by unisock itself
            late = datagram(b"late", b.info.local)
        await bounded(a.abort(reason), WITHIN, "abort()")
        assert a.signal.aborted, "abort() did not abort signal"
        assert a.signal.reason is reason, f"signal.reason is {a.signal.reason!r}"
        checks: list[tuple[str, Awaitable[object]]] = [
            ("closed", a.closed),
            ("the pending read", a_read),
            ("reader.closed", a_reader.closed),
            ("writer.closed", a_writer.closed),
            ("a write after abort", a_writer.write(late)),
            # The streams standard checks the state before the chunk: a bad chunk too.
            ("a str write after abort", a_writer.write("late")),
        ]
        if queued is not None:
            checks.append(("a write queued at the abort", queued))
        for what, awaitable in checks:
            try:
                value = await bounded(awaitable, WITHIN, what)
            except Exception as exc:
                if exc is not reason:
                    raise AssertionError(
                        f"{what} rejected with {exc!r}, not the abort reason {reason!r}"
                    ) from exc
            else:
                raise AssertionError(f"{what} resolved ({value!r}) after abort()")
        if peer_notified:
            try:
                while True:  # bytes of the big write that left before the abort come first
                    result = await bounded(b_read, WITHIN, "the peer's read after an abort")
                    if result.done:
                        break
                    b_read = b_reader.read()
            except NetworkError:
                pass  # a reset: what TCP (RST) and QUIC (RESET_STREAM) do
            with contextlib.suppress(NetworkError):
                await bounded(b.closed, WITHIN, "the peer's closed after it saw the abort")
    async with make_pair() as (a, b):
        await bounded(a.abort("plain reason"), WITHIN, "abort()")
        wrapped = await expect_error(a.closed, AbortError, "closed after abort('plain reason')")
        assert isinstance(wrapped, AbortError) and wrapped.reason == "plain reason", repr(wrapped)


async def check_backpressure(
    make_pair: PairFactory,
    *,
    buffer_size: int = 128 * 1024,
    chunk: int = 64 * 1024,
    read_slack: int = 256 * 1024,
    transport_slack: int = 2 << 20,
    stall: float = 0.15,
) -> None:
    """A peer that does not read pushes back: ``a``'s ``writer.ready`` stays pending
    and ``desired_size`` goes to 0 or below, and what is held stays bounded by the
    high-water marks.

    Measured from the public API only: bytes queued in ``a``'s writable are
    ``send_buffer_size - desired_size``; bytes held unread by ``b`` are
    ``b.stats.bytes_received`` (nothing was read). Those two are bounded by the
    high-water marks (plus one chunk written past the mark, ``read_slack`` for one
    transport read); everything written beyond them is in the kernel or the transport
    (QUIC flow-control windows), bounded by ``transport_slack``. Then ``b`` reads, the
    writer is released and every byte arrives.
    """
    async with make_pair(send_buffer_size=buffer_size, receive_buffer_size=buffer_size) as (a, b):
        writer = a.writable.get_writer()
        base_received = b.stats.bytes_received
        block = b"z" * chunk
        written = 0
        limit = 4 * (2 * buffer_size + read_slack + transport_slack)
        while written < limit:
            desired = writer.desired_size
            if desired is not None and desired <= 0:
                try:
                    await wait_for(writer.ready, stall)
                except TimeoutError:
                    break
            writer.write(block)
            written += chunk
        assert written < limit, f"wrote {written} bytes to a peer that reads nothing, no pushback"
        desired = writer.desired_size
        assert desired is not None and desired <= 0, f"desired_size is {desired} under pushback"
        assert not writer.ready.done(), "writer.ready resolved while the peer reads nothing"
        queued = buffer_size - desired
        unread = b.stats.bytes_received - base_received
        elsewhere = written - queued - unread
        assert queued <= buffer_size + chunk, f"{queued} bytes queued in the writable"
        assert unread <= buffer_size + read_slack, f"{unread} bytes held unread by the peer"
        assert 0 <= elsewhere <= transport_slack, (
            f"{elsewhere} bytes neither queued nor delivered (kernel/transport buffers); "
            f"written {written}, queued {queued}, unread {unread}"
        )

        async def drain() -> int:
            return len(await read_all(b, WITHIN))

        async def release() -> None:
            await bounded(writer.ready, WITHIN, "writer.ready once the peer reads")
            await bounded(writer.close(), WITHIN, "closing after backpressure")

        _, total = await run_all(release(), drain())
        assert total == written, f"the peer read {total} bytes of {written}"
        await _both_closed(a, b)


async def check_idle_timeout(
    make_pair: PairFactory, *, idle: float = 0.2, active: float = 0.3
) -> None:
    """A pair made with ``idle_timeout`` stays open while bytes flow (``b`` sends to
    ``a`` every ``idle / 4`` for ``active`` seconds, longer than ``idle``), then, left
    silent, is aborted: ``closed`` rejects and ``signal`` aborts, with
    ``TimeoutError``, between ``idle`` and about ``1.25 * idle`` after the last byte.
    The end whose timer fires second may instead see the first one's abort
    (``NetworkError``), but at least one end times out itself."""
    async with make_pair(idle_timeout=idle) as (a, b):
        writer = b.writable.get_writer()
        reader = default_reader(a.readable)
        until = now() + active
        last_byte = time.monotonic()
        while now() < until:
            await bounded(writer.write(b"."), WITHIN, "a write to keep the pair busy")
            await bounded(reader.read(), WITHIN, "a read to keep the pair busy")
            last_byte = time.monotonic()
            await sleep(idle / 4)
            for sock in (a, b):
                assert not sock.closed.done(), "a socket timed out although bytes flowed"
        reader.release_lock()
        writer.release_lock()
        outcomes: list[BaseException] = []
        for sock in (a, b):
            exc = await expect_error(
                sock.closed,
                (errors.TimeoutError, NetworkError),
                "closed of an idle socket",
                10 * idle + 5,
            )
            assert sock.signal.aborted and sock.signal.reason is exc, (
                f"signal.reason is {sock.signal.reason!r}, closed rejected with {exc!r}"
            )
            outcomes.append(exc)
        elapsed = time.monotonic() - last_byte
        timed_out = [e for e in outcomes if isinstance(e, errors.TimeoutError)]
        assert timed_out, f"neither end timed out: {outcomes}"
        assert elapsed >= idle * 0.95, f"aborted {elapsed:.3f} s after the last byte: too early"
        assert elapsed <= idle * 1.25 + 2, f"aborted only {elapsed:.3f} s after the last byte"


ONE_WAY_CHECKS: list[Callable[[PairFactory], Awaitable[None]]] = [
    check_ordered_integrity,
    check_many_small_writes,
    check_large_write,
    check_byob_reads,
    check_async_for,
    check_pipe_to,
    check_stats,
    check_abort,
    check_backpressure,
]
"""Checks with a direction (``a`` sends, ``b`` receives): run on the pair and flipped."""

TWO_WAY_CHECKS: list[Callable[[PairFactory], Awaitable[None]]] = [
    check_concurrent_both_ways,
    check_idle_timeout,
]
"""Checks that use both directions at once."""

HALF_CLOSE_CHECKS: list[Callable[[PairFactory], Awaitable[None]]] = [
    check_half_close,
    check_auto_close_after_end,
]
"""Checks of ending one direction (directional: run on the pair and flipped)."""


async def check_two_way_stream(make_pair: PairFactory) -> None:
    """Every one-way check in both directions, then the two-way checks (trio's
    ``check_two_way_stream``)."""
    for check in ONE_WAY_CHECKS:
        await check(make_pair)
        await check(flipped(make_pair))
    for check in TWO_WAY_CHECKS:
        await check(make_pair)


async def check_half_closeable_stream(make_pair: PairFactory) -> None:
    """:func:`check_two_way_stream` plus half-close in both directions (trio's
    ``check_half_closeable_stream``): what every unisock byte-stream pair must pass."""
    await check_two_way_stream(make_pair)
    for check in HALF_CLOSE_CHECKS:
        await check(make_pair)
        await check(flipped(make_pair))
