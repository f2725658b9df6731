"""An asyncio loop in a thread of its own, for an independent peer that only has an
asyncio API (aioquic's and qh3's QUIC servers and clients).

The test body runs on asyncio, uvloop or trio in the main thread; the peer lives on this
loop and is only ever touched from it: ``run`` hands it a coroutine and waits for the
result without blocking the test's runtime (which must keep serving its side of the
connection), ``call`` runs a quick function there and returns its result.  Closing the
loop cancels what still runs on it (a wait our side gave up on), so no thread, task or
descriptor outlives the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from tests import rt

T = TypeVar("T")

__all__ = ["PeerLoop", "peer_loop"]


class PeerLoop:
    """The peer's loop and its thread; see the module docstring."""

    def __init__(self) -> None:
        # The peer's own trouble (qh3's server may fail in its own ``transmit()``) goes
        # to this loop's default handler: logged, never reported to the test's runtime.
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="peer-loop", daemon=True)
        self._thread.start()

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the peer's loop and wait for its result (or its error); a wait
        cancelled on our side cancels the peer's coroutine too."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return await rt.to_thread(future.result)
        finally:
            future.cancel()

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run the quick, non-blocking ``fn(*args)`` on the peer's loop; its result."""

        async def once() -> T:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(once(), self.loop).result(10)

    def close(self) -> None:
        """Cancel what still runs on the peer's loop, let closed transports release their
        sockets, stop the loop and its thread."""
        if self.loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(_wind_down(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


async def _wind_down() -> None:
    me = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not me]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()
    for _ in range(5):  # a closed transport closes its socket in a later callback
        await asyncio.sleep(0)


@contextlib.contextmanager
def peer_loop() -> Iterator[PeerLoop]:
    """A ``PeerLoop`` for the block, closed on leaving it (synchronously: closing needs
    nothing from the test's runtime, and a cancelled test body must still close it)."""
    peer = PeerLoop()
    try:
        yield peer
    finally:
        peer.close()
