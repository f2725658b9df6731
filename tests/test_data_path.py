"""The per-chunk fast paths (issue 14): the ``"data"`` mode's own protocol entry and the
socket writer's one-call ``write``.  Each test pins a behaviour those shortcuts must keep:
events built without ``__init__`` are whole ``SocketDataEvent``s, the entry is switched
whether the transport is attached yet or not (uvloop caches the protocol's method), a
released BYOB reader's protocol still dispatches, TLS delivers through the same entry, and
a write that fills the transport's buffer is still pending with backpressure.  Real
sockets on loopback, on both loops."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests import rt
from tests.conftest import eventually
from tests.test_tls import tls_pair_factory
from tests.tls_util import Pki, make_pki

import unisock
from unisock.events import Event
from unisock.testing import pairs

pytestmark = pytest.mark.trio  # every test that takes `run` runs on trio too

tcp_pair = pairs.tcp_pair()


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


def test_data_event_built_on_the_fast_entry_is_a_whole_event(run: Any) -> None:
    """Every field of the DOM event is set, ``stop_immediate_propagation`` and
    ``prevent_default`` work on it, and ``stats.bytes_received`` counts the bytes."""

    async def main() -> None:
        async with tcp_pair() as (client, server):
            events: list[Any] = []
            arrived = rt.Event()

            def on_data(event: Any) -> None:
                event.prevent_default()  # not cancelable: no effect
                event.stop_immediate_propagation()
                events.append(event)
                if sum(len(b) for e in events for b in e.buffers) >= 5:
                    arrived.set()

            server.add_event_listener("data", on_data)
            await rt.sleep(0.01)  # the backlog flush has run: the entry is switched
            before = server.stats.bytes_received
            await client.writable.get_writer().write(b"hello")
            await rt.wait_for(arrived.wait(), 5)
            event = events[-1]
            assert isinstance(event, unisock.SocketDataEvent) and isinstance(event, Event)
            assert event.type == "data"
            assert event.target is server
            assert event.current_target is None
            assert event.cancelable is False
            assert event.default_prevented is False
            assert isinstance(event.time_stamp, float) and event.time_stamp > 0
            assert repr(event) == "<SocketDataEvent 'data'>"
            with pytest.raises(AttributeError):
                event.type = "other"  # a class constant of every "data" event
            assert b"".join(b for e in events for b in e.buffers) == b"hello"
            assert server.stats.bytes_received - before == 5

    run(main)


def test_data_listeners_one_then_several_then_one_again(run: Any) -> None:
    """The entry calls a sole listener itself and several through the list: from the
    backlog (bytes queued before the first listener) to one listener, two (one of them
    ``once``) and back to one, each chunk reaches exactly the listeners present when it
    arrives, in the order they were added."""

    async def main() -> None:
        async with tcp_pair() as (client, server):
            calls: list[tuple[str, bytes]] = []

            def listener(name: str) -> Any:
                def on_data(event: Any) -> None:
                    calls.append((name, b"".join(event.buffers)))

                return on_data

            first, second, once = listener("first"), listener("second"), listener("once")
            writer = client.writable.get_writer()

            async def send(chunk: bytes, expected: list[tuple[str, bytes]]) -> None:
                calls.clear()
                await writer.write(chunk)
                await eventually(lambda: len(calls) >= len(expected), what=repr(expected))
                await rt.sleep(0.01)  # nothing more comes
                assert calls == expected

            await writer.write(b"queued")
            await eventually(lambda: server.stats.bytes_received == 6, what="6 bytes queued")
            server.add_event_listener("data", first)  # first gets the queued bytes first
            await eventually(lambda: calls == [("first", b"queued")], what="the backlog")
            await send(b"a", [("first", b"a")])
            server.add_event_listener("data", second)
            server.add_event_listener("data", once, once=True)
            await send(b"b", [("first", b"b"), ("second", b"b"), ("once", b"b")])
            await send(b"c", [("first", b"c"), ("second", b"c")])
            server.remove_event_listener("data", first)
            await send(b"d", [("second", b"d")])
            server.remove_event_listener("data", second)
            server.add_event_listener("data", first)
            await send(b"e", [("first", b"e")])

    run(main)


def test_data_listener_added_before_the_socket_opens(run: Any) -> None:
    """The entry is switched before the transport exists: the loop picks it up when the
    connection is made (uvloop looks ``data_received`` up once, then)."""

    async def main() -> None:
        async with unisock.SocketListener() as listener:
            assert listener.local is not None
            client = unisock.Socket(remote=listener.local)
            got: list[bytes] = []
            done = rt.Event()

            def on_data(event: Any) -> None:
                got.extend(event.buffers)
                if b"".join(got) == b"ping":
                    done.set()

            client.add_event_listener("data", on_data)
            server = (await listener.__anext__()).socket
            await client.ready
            await server.writable.get_writer().write(b"ping")
            await rt.wait_for(done.wait(), 5)
            assert client.stats.bytes_received == 4
            await client.close()
            await server.close()

    run(main)


def test_data_listener_after_a_released_byob_reader(run: Any) -> None:
    """A BYOB reader switched the transport to the BYOB protocol; once it is released, a
    ``"data"`` listener still gets every byte (through ``_on_data``)."""

    async def main() -> None:
        async with tcp_pair() as (client, server):
            writer = server.writable.get_writer()
            await writer.write(b"abc")
            reader = client.readable.get_reader(mode="byob")
            first = await rt.wait_for(reader.read(memoryview(bytearray(16))), 5)
            assert bytes(first.value) == b"abc"
            reader.release_lock()
            got: list[bytes] = []
            client.add_event_listener("data", lambda event: got.extend(event.buffers))
            await writer.write(b"defg")
            await eventually(lambda: b"".join(got) == b"defg", what="b'defg' as data events")

    run(main)


def test_data_echo_over_tls(run: Any, pki: Pki) -> None:
    """The TLS layer calls the same switched entry: a ``"data"`` echo round-trips."""
    tls_pair = tls_pair_factory(pki)

    async def main() -> None:
        async with tls_pair() as (client, server):
            write = server.writable.get_writer().write

            def echo(event: Any) -> None:
                for buffer in event.buffers:
                    write(buffer)

            server.add_event_listener("data", echo)
            writer = client.writable.get_writer()
            reader = client.readable.get_reader()
            for i in range(20):
                message = b"message %d" % i
                await writer.write(message)
                got = b""
                while len(got) < len(message):
                    got += (await rt.wait_for(reader.read(), 5)).value
                assert got == message
            reader.release_lock()

    run(main)


def test_socket_writer_fast_path_and_backpressure(run: Any) -> None:
    """A ``bytes`` write to an idle socket settles at once and is counted; other
    bytes-like chunks take the general path; a write that fills the transport's buffer
    stays pending (``ready`` too) until the peer reads, and the bytes arrive in order."""

    async def main() -> None:
        async with tcp_pair() as (client, server):
            writer = client.writable.get_writer()
            first = writer.write(b"ab")
            assert first.done()
            assert writer.write(bytearray(b"cd")).done()
            assert writer.write(memoryview(b"ef")).done()
            big = b"z" * (8 << 20)
            pending = writer.write(big)
            assert not pending.done()  # the server reads nothing yet
            assert not writer.ready.done()
            reader = server.readable.get_reader()
            total = bytearray()
            while len(total) < 6 + len(big):
                total += (await rt.wait_for(reader.read(), 5)).value
            await rt.wait_for(pending, 5)
            await rt.wait_for(writer.ready, 5)
            assert bytes(total[:6]) == b"abcdef"
            assert client.stats.bytes_sent == 6 + len(big)

    run(main)


def test_socket_writer_refuses_writes_once_closing(run: Any) -> None:
    """The fast path skips a write only on an empty queue: a close queued behind a pending
    write, then in flight, then done, refuses every later write (never sent), while the
    bytes written before the close all arrive, in order."""

    async def main() -> None:
        async with tcp_pair() as (client, server):
            writer = client.writable.get_writer()
            big = b"z" * (8 << 20)
            pending = writer.write(big)
            assert not pending.done()
            closing = writer.close()
            refused = 0
            reader = server.readable.get_reader()
            total = 0
            while True:
                late = writer.write(b"late")
                assert late.done() and isinstance(late.exception(), TypeError)
                refused += 1
                result = await rt.wait_for(reader.read(), 5)
                if result.done:
                    break
                assert b"late" not in result.value
                total += len(result.value)
            await rt.wait_for(closing, 5)
            late = writer.write(b"late")
            assert late.done() and isinstance(late.exception(), TypeError)
            assert total == len(big) and refused > 1
            assert client.stats.bytes_sent == len(big)

    run(main)


def test_socket_writer_keeps_order_with_writes_queued_before_ready(run: Any) -> None:
    """Writes made before the connection exists are queued; a write as soon as ``ready``
    settles (from its callback, and after ``await``) goes behind them, not around them."""

    async def main() -> None:
        async with unisock.SocketListener() as listener:
            assert listener.local is not None
            client = unisock.Socket(remote=listener.local)
            writer = client.writable.get_writer()
            written = [writer.write(b"%d," % i) for i in range(20)]
            client.ready.add_done_callback(lambda _: written.append(writer.write(b"cb,")))
            await client.ready
            written.append(writer.write(b"after,"))
            server = (await listener.__anext__()).socket
            reader = server.readable.get_reader()
            expected = b"".join(b"%d," % i for i in range(20)) + b"cb,after,"
            got = b""
            while len(got) < len(expected):
                got += (await rt.wait_for(reader.read(), 5)).value
            assert got == expected
            for request in written:
                await rt.wait_for(request, 5)
            await client.close()
            await server.close()

    run(main)


def test_socket_data_event_through_dispatch_event() -> None:
    """The fields a ``"data"`` event shadows still behave under ``dispatch_event``:
    ``current_target`` is the target during the dispatch and ``None`` after it, and
    ``stop_immediate_propagation`` skips the listeners after the one that called it."""
    target = unisock.EventTarget()
    seen: list[tuple[str, Any]] = []

    def first(event: Any) -> None:
        seen.append(("first", event.current_target))
        event.stop_immediate_propagation()

    target.add_event_listener("data", first)
    target.add_event_listener("data", lambda event: seen.append(("second", None)))
    event = unisock.SocketDataEvent([b"x"])
    assert event.current_target is None and event._stop is False
    assert target.dispatch_event(event) is True
    assert seen == [("first", target)]
    assert event.current_target is None and event.target is target
    assert event.type == "data" and event.buffers == [b"x"]
