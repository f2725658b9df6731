"""Checks for datagram pairs (UDP), STARTTLS upgrades and the ``"data"`` event mode."""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable
from typing import Any

from .. import Deferred, Socket, SocketDataEvent
from ..events import Event
from ._common import (
    PairFactory,
    TLSMaterial,
    bounded,
    default_reader,
    expect_error,
    first_difference,
    now,
    read_all,
    run_all,
    sleep,
    start,
)

__all__ = [
    "UDP_MAX_IPV4",
    "check_bound_datagrams",
    "check_data_event_mode",
    "check_datagram_pair",
    "check_starttls",
]

WITHIN = 30.0

UDP_MAX_IPV4 = 65_507
"""The largest UDP payload over IPv4: 65,535 minus the IP and UDP headers."""


async def _read_n(sock: Socket, count: int, what: str) -> list[Any]:
    reader = default_reader(sock.readable)
    got: list[Any] = []
    try:
        while len(got) < count:
            result = await bounded(reader.read(), 5, f"{what} (read {len(got)} of {count})")
            if result.done:
                raise AssertionError(f"{what}: the readable ended after {len(got)} of {count}")
            got.append(result.value)
    finally:
        reader.release_lock()
    return got


async def _until(condition: Callable[[], bool], what: str, within: float = 10) -> None:
    """Poll ``condition``: byte counters have no event to wait on."""
    deadline = now() + within
    while not condition():
        if now() > deadline:
            raise AssertionError(f"{what}: not after {within} s")
        await sleep(0.005)


async def check_datagram_pair(make_pair: PairFactory, *, count: int = 200) -> None:
    """Connected datagram sockets keep boundaries: each write is one datagram and each
    read one datagram (``bytes``), sizes from 0 bytes to the IPv4 maximum; a datagram
    over the maximum fails *that* write with ``ValueError`` and a ``str`` with
    ``TypeError``, and the socket stays usable; ``stats`` count datagrams.

    Assumes a path that neither loses nor reorders (loopback).
    """
    rng = random.Random(8)
    sizes = [rng.randint(1, 1400) for _ in range(count)] + [0, UDP_MAX_IPV4]
    payloads = [rng.randbytes(n) for n in sizes]
    async with make_pair() as (a, b):
        sent0, received0 = a.stats.packets_sent, b.stats.packets_received
        bytes0 = b.stats.bytes_received
        writer = a.writable.get_writer()

        async def send() -> None:
            for i, payload in enumerate(payloads):
                await bounded(writer.write(payload), WITHIN, "a datagram write")
                if i % 32 == 31:
                    await sleep(0.001)  # let the reader keep up: loopback drops too

        _, got = await run_all(send(), _read_n(b, len(payloads), "datagrams"))
        for i, (x, y) in enumerate(zip(got, payloads, strict=True)):
            if type(x) is not bytes:
                raise AssertionError(f"datagram {i} read as {type(x).__name__}, not bytes")
            if x != y:
                raise AssertionError(f"datagram {i}: {first_difference(x, y)}")
        assert a.stats.packets_sent - sent0 == len(payloads), "packets_sent is not datagrams sent"
        assert b.stats.packets_received - received0 == len(payloads), "packets_received"
        assert b.stats.bytes_received - bytes0 == sum(sizes), "bytes_received"
        await expect_error(writer.write(b"x" * (UDP_MAX_IPV4 + 1)), ValueError, "oversize write")
        await expect_error(writer.write("text"), TypeError, "a str write")
        await bounded(writer.write(b"still usable"), WITHIN, "a write after a failed one")
        assert await _read_n(b, 1, "after failed writes") == [b"still usable"]
        assert not a.closed.done() and not b.closed.done(), "a failed datagram write ended a socket"


async def check_bound_datagrams(make_pair: PairFactory) -> None:
    """A *bound* UDP socket ``a`` (no ``remote``) reads ``Datagram(data, remote)``
    naming the sender, answers with ``Datagram``s, refuses plain bytes (``TypeError``)
    and oversize payloads (``ValueError``), and stays usable. ``b`` is connected to
    ``a``."""
    import unisock

    Datagram: Any = unisock.Datagram  # resolved lazily by unisock itself

    async with make_pair() as (a, b):
        b_writer = b.writable.get_writer()
        await bounded(b_writer.write(b"hello bound"), WITHIN, "a write to a bound socket")
        [got] = await _read_n(a, 1, "a datagram on a bound socket")
        assert isinstance(got, Datagram), f"a bound socket read {type(got).__name__}"
        assert got.data == b"hello bound", got.data
        assert got.remote == b.info.local, f"Datagram.remote {got.remote} is not {b.info.local}"
        a_writer = a.writable.get_writer()
        await bounded(a_writer.write(Datagram(b"reply", got.remote)), WITHIN, "a Datagram write")
        assert await _read_n(b, 1, "a reply from a bound socket") == [b"reply"]
        await expect_error(a_writer.write(b"no address"), TypeError, "bytes on a bound socket")
        await expect_error(
            a_writer.write(Datagram(b"x" * (UDP_MAX_IPV4 + 1), got.remote)),
            ValueError,
            "an oversize Datagram",
        )
        await bounded(a_writer.write(Datagram(b"again", got.remote)), WITHIN, "a later write")
        assert await _read_n(b, 1, "after failed writes") == [b"again"]


async def check_starttls(make_tcp_pair: PairFactory, material: TLSMaterial) -> None:
    """STARTTLS in place over a TCP pair (``a`` the client, ``b`` the server): bytes
    exchanged in clear before the upgrade; bytes the server sent before the upgrade
    that the client had not read stay readable as plaintext; bytes written while the
    handshake runs are held and sent encrypted; after ``update(type="tls", ...)`` on
    both ends the *same* ``readable``/``writable`` objects carry the data and ``info``
    has the TLS details."""
    async with make_tcp_pair() as (a, b):
        readable_a, writable_a = a.readable, a.writable
        readable_b, writable_b = b.readable, b.writable
        a_writer = a.writable.get_writer()
        await bounded(a_writer.write(b"STARTTLS\r\n"), WITHIN, "a clear-text write")
        b_reader = default_reader(b.readable)
        got = b""
        while len(got) < 10:
            result = await bounded(b_reader.read(), WITHIN, "the STARTTLS command")
            assert not result.done, "the readable ended before the STARTTLS command"
            got += result.value
        assert got == b"STARTTLS\r\n", got
        b_reader.release_lock()
        b_writer = b.writable.get_writer()
        await bounded(b_writer.write(b"220 go ahead\r\n"), WITHIN, "the clear-text answer")
        await _until(lambda: a.stats.bytes_received >= 14, "the answer reaching a")
        a_writer.release_lock()
        b_writer.release_lock()
        upgrades = run_all(
            start(a.update(type="tls", **material.client_options())),
            start(b.update(type="tls", **material.server_options())),
        )
        # update() is a coroutine: it acts once its task starts running, within one pass
        # on asyncio, within two on trio (which runs a pass's tasks in random order).
        for _ in range(2):
            await sleep(0)
        held = a.writable.get_writer()
        held.write(b"written during the handshake")
        await bounded(upgrades, WITHIN, "update(type='tls') on both ends")
        assert (a.readable, a.writable) == (readable_a, writable_a), "a's streams were replaced"
        assert (b.readable, b.writable) == (readable_b, writable_b), "b's streams were replaced"
        for sock in (a, b):
            assert sock.info.cipher is not None, f"no cipher in info after STARTTLS: {sock.info}"
        assert a.info.verification_status == "ok", a.info.verification_status
        await bounded(held.write(b" and after"), WITHIN, "a write after the upgrade")
        await bounded(held.close(), WITHIN, "closing after the upgrade")
        b_writer = b.writable.get_writer()
        await bounded(b_writer.write(b"over TLS"), WITHIN, "the server's write over TLS")
        await bounded(b_writer.close(), WITHIN, "the server's close")
        got_b, got_a = await run_all(read_all(b, WITHIN), read_all(a, WITHIN))
        assert got_b == b"written during the handshake and after", got_b
        assert got_a == b"220 go ahead\r\nover TLS", got_a
        for sock in (a, b):
            await bounded(sock.closed, WITHIN, "closed after an upgraded exchange")


async def check_data_event_mode(make_pair: PairFactory, *, total: int = 256 * 1024) -> None:
    """The ``"data"`` event mode on ``a``: a reader held on ``readable`` refuses a
    ``"data"`` listener (``TypeError``); the first listener gets every unread byte
    (queued ones first) and all later ones; ``readable`` then refuses readers and
    ``async for`` with ``TypeError``; a sync listener calling ``writer.write`` echoes
    everything intact; ``"end"`` comes after the last data event and, with
    ``allow_half_open=False``, closes ``a``'s writable after the echo."""
    rng = random.Random(9)
    early = b"queued before the first listener"
    data = rng.randbytes(total)
    async with make_pair() as (a, b):

        def on_data(event: Event) -> None:
            raise AssertionError("a listener refused with TypeError was called")

        held = a.readable.get_reader()
        try:
            a.add_event_listener("data", on_data)
        except TypeError:
            pass
        else:
            raise AssertionError("a 'data' listener was accepted while a reader held readable")
        finally:
            held.release_lock()
        a.remove_event_listener("data", on_data)

        b_writer = b.writable.get_writer()
        await bounded(b_writer.write(early), WITHIN, "an early write")
        await _until(lambda: a.stats.bytes_received >= len(early), "early bytes reaching a")

        received = bytearray()
        events: list[str] = []
        echo = a.writable.get_writer()
        ended: Deferred[None] = Deferred()

        def on_bytes(event: Event) -> None:
            assert isinstance(event, SocketDataEvent)
            for buffer in event.buffers:
                received.extend(buffer)
                echo.write(buffer)
            events.append("data")

        def on_end(event: Event) -> None:
            events.append("end")
            ended.resolve(None)

        a.add_event_listener("data", on_bytes)
        a.add_event_listener("end", on_end)
        for what, attempt in (
            ("get_reader()", lambda: a.readable.get_reader()),
            ("get_reader(mode='byob')", lambda: a.readable.get_reader(mode="byob")),
            ("async for", lambda: a.readable.__aiter__().__anext__()),
        ):
            try:
                result = attempt()
            except TypeError:
                continue
            if inspect.isawaitable(result):
                try:
                    await bounded(result, 1, what)
                except TypeError:
                    continue
            raise AssertionError(f"readable in data mode allowed {what}")

        async def send_rest() -> None:
            pos = 0
            while pos < total:
                n = rng.randint(1, 32 * 1024)
                await bounded(b_writer.ready, WITHIN, "writer.ready")
                b_writer.write(data[pos : pos + n])
                pos += n
            await bounded(b_writer.close(), WITHIN, "closing the sender")

        _, echoed = await run_all(send_rest(), read_all(b, WITHIN))
        await bounded(ended, WITHIN, "the 'end' event")
        expected = early + data
        if bytes(received) != expected:
            raise AssertionError(f"data events: {first_difference(bytes(received), expected)}")
        if echoed != expected:
            raise AssertionError(f"echo from data events: {first_difference(echoed, expected)}")
        assert events[-1] == "end" and events.count("end") == 1, events[-3:]
        for sock in (a, b):
            await bounded(sock.closed, WITHIN, "closed after the data-mode exchange")
