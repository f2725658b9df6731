"""``PeerTable``: one bound UDP endpoint split into per-peer channels.

This is what ``SocketListener(type="udp")`` stands on.

UDP has no connections, so a listener makes one per source address: the first datagram
from a new address asks the ``new_peer`` factory for a handler (it may refuse by returning
``None``: the datagram is dropped), and every datagram from that address goes to that
handler's ``datagram_received(data)``.  Replies go out through ``Peer.send`` on the
shared endpoint.

Bounded memory: source addresses are free to forge, so the table holds at most
``max_peers`` (default 1024) peers.  A new peer past the maximum first evicts the least
recently active one (``on_remove(peer, "capacity")`` lets the upper layer close that
peer's socket).  Recency is exact: the table is an ``OrderedDict`` moved to the end on
each datagram received or sent (one C-level call).

Idle peers: a peer with no traffic in either direction for its idle timeout (the table's
``idle_timeout``, or ``Peer.idle_timeout`` when set for that peer) is removed with
``on_remove(peer, "idle")``.  No timer per datagram and no clock read per datagram: one
periodic sweep, running only while the table holds peers, stamps activity with a coarse
clock (the next sweep's time) and walks the table from its least recent end, stopping at
the first peer not yet idle; so a sweep costs O(peers removed + peers with their own
timeout).  A peer is freed between ``idle_timeout`` and ``idle_timeout + 2 * resolution``
after its last datagram, with ``resolution = clamp(idle_timeout / 8, 10 ms, 1 s)``.

``expire(now)`` is the sweep itself, with the time given, so tests can drive it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, Literal, Protocol, TypeAlias, TypeVar

from ..._runtime import current
from ...errors import InvalidStateError
from .endpoint import Address, DatagramEndpoint

if TYPE_CHECKING:
    from ..._runtime.base import Handle, Runtime

__all__ = ["DEFAULT_MAX_PEERS", "Peer", "PeerHandler", "PeerTable", "RemoveReason"]

DEFAULT_MAX_PEERS = 1024
_MIN_RESOLUTION = 0.01
_MAX_RESOLUTION = 1.0

RemoveReason: TypeAlias = Literal["capacity", "idle", "closed"]
"""Why the table dropped a peer: over ``max_peers``, idle too long, or the endpoint closed."""


class PeerHandler(Protocol):
    """What a per-peer object must do: take that peer's datagrams, one ``bytes`` each."""

    def datagram_received(self, data: bytes) -> None: ...


H = TypeVar("H", bound=PeerHandler)


class Peer(Generic[H]):
    """One remote address of the table: its handler, its activity stamp, its own send."""

    __slots__ = ("_idle_timeout", "_table", "address", "handler", "stamp")

    def __init__(self, table: PeerTable[H], address: Address) -> None:
        self._table = table
        self.address = address
        self.handler: H | None = None
        self.stamp = 0.0  # coarse time of last activity (an upper bound), set by the table
        self._idle_timeout: float | None = None

    @property
    def idle_timeout(self) -> float | None:
        """This peer's own idle timeout (``None``: the table's; ``0``: never idle)."""
        return self._idle_timeout

    @idle_timeout.setter
    def idle_timeout(self, seconds: float | None) -> None:
        self._table._set_peer_timeout(self, seconds)

    def send(self, data: bytes | bytearray | memoryview) -> None:
        """Send one datagram to this peer through the shared endpoint (see ``sendto``)."""
        table = self._table
        endpoint = table._endpoint
        if endpoint is None:
            raise InvalidStateError("the UDP listener's endpoint is closed")
        endpoint.sendto(data, self.address)
        peers = table._peers
        if peers.get(self.address) is self:
            peers.move_to_end(self.address)
            self.stamp = table._stamp

    def close(self) -> None:
        """Forget this peer (no ``on_remove`` call): its next datagram makes a new peer."""
        self._table._discard(self)


class PeerTable(Generic[H]):
    """Address -> ``Peer`` map with LRU eviction and idle expiry; the endpoint's protocol."""

    counts_received = True
    """The table counts the datagrams it is given (``datagrams_received``), so uvloop's
    reading hands them over with no frame of the endpoint's (``DatagramProtocol``)."""

    def __init__(
        self,
        new_peer: Callable[[Peer[H]], H | None],
        *,
        max_peers: int = DEFAULT_MAX_PEERS,
        idle_timeout: float | None = None,
        on_remove: Callable[[Peer[H], RemoveReason], object] | None = None,
        on_error: Callable[[Exception], object] | None = None,
        on_close: Callable[[Exception | None], object] | None = None,
    ) -> None:
        """``new_peer`` makes the handler for a new address (``None`` refuses the datagram).

        ``on_remove`` hears of peers the table drops itself (capacity, idle, endpoint
        closed), never of those closed by ``Peer.close()``.  ``on_error`` receives the
        endpoint's receive errors, ``on_close`` its ``connection_lost``.
        """
        if isinstance(max_peers, bool) or not isinstance(max_peers, int) or max_peers < 1:
            raise ValueError(f"max_peers must be a positive int, got {max_peers!r}")
        self._new_peer = new_peer
        self._max_peers = max_peers
        self._on_remove = on_remove
        self._on_error = on_error
        self._on_close = on_close
        self._peers: OrderedDict[Address, Peer[H]] = OrderedDict()
        self._own_timeout: set[Peer[H]] = set()
        self._endpoint: DatagramEndpoint | None = None
        self._loop: Runtime | None = None
        self._timer: Handle | None = None
        self._stamp = 0.0
        self._idle_timeout = 0.0
        self._resolution = _MAX_RESOLUTION
        self.datagrams_received = 0
        """Datagrams the endpoint delivered to the table (admitted to a peer or not)."""
        self.set_idle_timeout(idle_timeout)

    # -- configuration and inspection ------------------------------------------------------

    @property
    def max_peers(self) -> int:
        return self._max_peers

    @property
    def idle_timeout(self) -> float:
        return self._idle_timeout

    @property
    def endpoint(self) -> DatagramEndpoint | None:
        return self._endpoint

    def set_idle_timeout(self, seconds: float | None) -> None:
        """The table-wide idle timeout; ``0``/``None`` means peers never go idle."""
        self._idle_timeout = _check_timeout(seconds, "idle_timeout")
        self._retune()

    def __len__(self) -> int:
        return len(self._peers)

    def __contains__(self, address: object) -> bool:
        return address in self._peers

    def get(self, address: Address) -> Peer[H] | None:
        return self._peers.get(address)

    def peers(self) -> list[Peer[H]]:
        """The peers, least recently active first."""
        return list(self._peers.values())

    # -- the endpoint's protocol -----------------------------------------------------------

    def connection_made(self, endpoint: DatagramEndpoint) -> None:
        self._endpoint = endpoint
        self._loop = endpoint.runtime

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.datagrams_received += 1
        peer = self._peers.get(addr)
        if peer is None:
            peer = self._admit(addr)
            if peer is None:
                return
        else:
            self._peers.move_to_end(addr)
            peer.stamp = self._stamp
        handler = peer.handler
        if handler is not None:
            handler.datagram_received(data)

    def error_received(self, exc: Exception) -> None:
        if self._on_error is not None:
            self._on_error(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.clear("closed")
        self._endpoint = None
        if self._on_close is not None:
            self._on_close(exc)

    # -- membership --------------------------------------------------------------------------

    def _admit(self, addr: Address) -> Peer[H] | None:
        if self._timer is None:  # first peer: start the clock and the sweep
            self._start_sweep()
        peer: Peer[H] = Peer(self, addr)
        peer.stamp = self._stamp
        handler = self._new_peer(peer)
        if handler is None:
            return None
        peer.handler = handler
        peers = self._peers
        while len(peers) >= self._max_peers:
            _, oldest = peers.popitem(last=False)
            self._forget(oldest, "capacity")
        if addr in peers:  # the factory or an on_remove call admitted it meanwhile
            self._forget(peers.pop(addr), "capacity")
        peers[addr] = peer
        if peer._idle_timeout is not None:  # set by the factory, before the peer was in
            self._own_timeout.add(peer)
        return peer

    def _forget(self, peer: Peer[H], reason: RemoveReason | None) -> None:
        if peer in self._own_timeout:
            self._own_timeout.discard(peer)
            self._retune()
        if reason is not None and self._on_remove is not None:
            self._on_remove(peer, reason)

    def _discard(self, peer: Peer[H]) -> None:
        if self._peers.get(peer.address) is peer:
            del self._peers[peer.address]
            self._forget(peer, None)
            if not self._peers:
                self._stop_sweep()

    def clear(self, reason: RemoveReason = "closed") -> None:
        """Drop every peer, telling ``on_remove`` with ``reason``; stop the sweep."""
        self._stop_sweep()
        while self._peers:
            _, peer = self._peers.popitem(last=False)
            self._forget(peer, reason)

    # -- idle expiry ---------------------------------------------------------------------------

    def _set_peer_timeout(self, peer: Peer[H], seconds: float | None) -> None:
        if seconds is None:
            peer._idle_timeout = None
            self._own_timeout.discard(peer)
        else:
            peer._idle_timeout = _check_timeout(seconds, "idle_timeout")
            if self._peers.get(peer.address) is peer:
                self._own_timeout.add(peer)
        self._retune()

    def _retune(self) -> None:
        """Pick the sweep period from the shortest idle timeout in use."""
        timeouts = [self._idle_timeout] if self._idle_timeout else []
        timeouts.extend(p._idle_timeout for p in self._own_timeout if p._idle_timeout)
        shortest = min(timeouts, default=0.0)
        resolution = shortest / 8 if shortest else _MAX_RESOLUTION
        self._resolution = min(_MAX_RESOLUTION, max(_MIN_RESOLUTION, resolution))

    def _start_sweep(self) -> None:
        loop = self._loop
        if loop is None:
            loop = self._loop = current()
        now = loop.time()
        self._stamp = now + self._resolution
        self._timer = loop.call_at(self._stamp, self._on_timer)

    def _stop_sweep(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        assert self._loop is not None
        self.expire(self._loop.time())
        if self._peers and self._timer is None:
            self._timer = self._loop.call_at(self._stamp, self._on_timer)

    def expire(self, now: float) -> None:
        """The sweep: remove peers idle at ``now``; activity from here on is stamped later."""
        self._stamp = now + self._resolution
        default = self._idle_timeout
        peers = self._peers
        own = self._own_timeout
        expired: list[Peer[H]] = []
        if default:
            for peer in peers.values():  # least recently active first
                if peer in own:
                    continue
                if peer.stamp + default > now:
                    break
                expired.append(peer)
        for peer in own:
            timeout = peer._idle_timeout
            if timeout and peer.stamp + timeout <= now:
                expired.append(peer)
        for peer in expired:
            if peers.get(peer.address) is peer:
                del peers[peer.address]
                self._forget(peer, "idle")
        if not peers:
            self._stop_sweep()


def _check_timeout(seconds: float | None, name: str) -> float:
    if seconds is None:
        return 0.0
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise TypeError(f"{name} must be a number of seconds, got {type(seconds).__name__}")
    if not seconds >= 0:
        raise ValueError(f"{name} must be >= 0 seconds, got {seconds}")
    return float(seconds)
