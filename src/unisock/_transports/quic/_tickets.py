"""TLS session tickets kept for the life of the process, so a later connection resumes.

Tickets are the QUIC core's own objects (each core reads only its own: the keys name the
core).  Client side: one ticket per (resolved remote, servername, TLS options), taken (not copied)
by the next connection, since a server accepts each ticket once for 0-RTT.  Server side: a
bounded map from ticket label to ticket, owned by one server.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

__all__ = ["ClientTickets", "ServerTickets", "client_tickets"]


class ClientTickets:
    """Tickets received by clients, keyed like the connection pool."""

    def __init__(self, limit: int = 256) -> None:
        self._tickets: OrderedDict[Hashable, Any] = OrderedDict()
        self._limit = limit

    def store(self, key: Hashable, ticket: Any) -> None:
        self._tickets[key] = ticket
        self._tickets.move_to_end(key)
        while len(self._tickets) > self._limit:
            self._tickets.popitem(last=False)

    def take(self, key: Hashable) -> Any | None:
        ticket = self._tickets.pop(key, None)
        return ticket if ticket is not None and ticket.is_valid else None

    def clear(self) -> None:
        self._tickets.clear()


class ServerTickets:
    """Tickets a server issued, looked up (once) when a client presents one."""

    def __init__(self, limit: int = 4096) -> None:
        self._tickets: OrderedDict[bytes, Any] = OrderedDict()
        self._limit = limit

    def add(self, ticket: Any) -> None:
        self._tickets[ticket.ticket] = ticket
        while len(self._tickets) > self._limit:
            self._tickets.popitem(last=False)

    def pop(self, label: bytes) -> Any | None:
        return self._tickets.pop(label, None)


client_tickets = ClientTickets()
"""The process-wide client ticket store."""
