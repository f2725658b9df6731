"""The conformance kit (``unisock.testing``) must fail a transport that breaks the
contract, and say how (issue 19, coverage: its failure paths never ran).  The broken
transport here is real: a TCP relay on loopback between the two unisock sockets that
flips one byte, or drops the tail of the stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests import rt

import unisock
from unisock import testing as kit

pytestmark = pytest.mark.trio  # every test that takes `run` runs on trio too


def relayed_pair(damage: str) -> Any:
    """A pair factory: ``a`` connects to a relay, the relay to a listener that gives
    ``b``; from ``a`` to ``b`` the relay flips byte 1000 (``"flip"``) or stops after
    1000 bytes and ends the stream (``"cut"``)."""

    @contextlib.asynccontextmanager
    async def make(**options: Any) -> AsyncIterator[tuple[unisock.Socket, unisock.Socket]]:
        pumps: list[asyncio.Task[None]] = []

        async def pump(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, harm: bool
        ) -> None:
            seen = 0
            try:
                while chunk := await reader.read(65536):
                    if harm and seen <= 1000 < seen + len(chunk):
                        i = 1000 - seen
                        if damage == "cut":
                            writer.write(chunk[:i])
                            break
                        chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1 :]
                    seen += len(chunk)
                    writer.write(chunk)
                    await writer.drain()
                if writer.can_write_eof():
                    writer.write_eof()
            except (ConnectionError, OSError):
                pass

        async with unisock.SocketListener(**options) as listener:
            assert listener.local is not None
            target = listener.local

            async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                up_reader, up_writer = await asyncio.open_connection(target.address, target.port)
                pumps.append(rt.spawn(pump(reader, up_writer, True)))
                pumps.append(rt.spawn(pump(up_reader, writer, False)))
                await asyncio.gather(*pumps[-2:])
                for w in (writer, up_writer):
                    w.close()
                    with contextlib.suppress(Exception):
                        await w.wait_closed()

            server = await asyncio.start_server(relay, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            try:
                a = unisock.Socket(remote=("127.0.0.1", port), **options)
                async with kit.settled(a):
                    b = await rt.wait_for(listener.accept(), 10)
                    async with kit.settled(b):
                        await a.ready
                        yield a, b
            finally:
                server.close()
                for task in pumps:
                    task.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
                await server.wait_closed()

    return make


@pytest.mark.asyncio_only("the relay between the pair is made of asyncio streams")
def test_the_kit_passes_an_intact_relay(run: Any) -> None:
    """The control: the same relay without damage passes (``"flip"`` at an offset past
    the end would change nothing; here the relay is given no stream to harm)."""

    async def main() -> None:
        await kit.check_ordered_integrity(relayed_pair("flip"), total=900)

    run(main)


@pytest.mark.asyncio_only("the relay between the pair is made of asyncio streams")
def test_the_kit_names_the_first_corrupted_byte(run: Any) -> None:
    async def main() -> None:
        with pytest.raises(
            AssertionError, match=r"ordered integrity: first difference at byte 1000 "
        ):
            await kit.check_ordered_integrity(relayed_pair("flip"), total=100_000)

    run(main)


@pytest.mark.asyncio_only("the relay between the pair is made of asyncio streams")
def test_the_kit_reports_a_short_stream(run: Any) -> None:
    async def main() -> None:
        with pytest.raises(AssertionError, match=r"large write: got 1000 bytes, expected \d+"):
            await kit.check_large_write(relayed_pair("cut"), size=200_000)

    run(main)
