"""The driver seam: what each transport type brings to ``Socket`` and ``SocketListener``.

One module per type (``tcp``, ``tls``, ``udp``, ``quic`` in this package), each with a
``DRIVER``.  ``driver(name)`` imports it on first use, so TLS (and ``cryptography``) and
QUIC (and ``aioquic``) load only when a socket of that type is made.  ``Socket`` and
``SocketListener`` never branch on the type: they ask their driver.  The drivers sit above
the socket and the listener in the import graph and may use their private fields (this
package is the only code that builds or changes a ``Socket``); the transports below know
nothing of sockets.

Adding a transport (e.g. Unix sockets) is one driver module here, its transport under
``unisock._transports``, and its name in ``_base.options``' table of types.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, ClassVar

from .._runtime import is_asyncio

if TYPE_CHECKING:
    import socket

    from .._base.address import SocketAddress
    from .._base.options import Options
    from .listener import SocketListener
    from .socket import Socket

__all__ = ["Driver", "driver"]


class Driver:
    """The defaults: a stream transport with no handshake and nothing to check up front."""

    name: ClassVar[str] = ""
    handshake_bounded: ClassVar[bool] = False
    """``ready`` waits for a handshake, bounded by ``Socket.HANDSHAKE_TIMEOUT`` by default."""
    datagrams: ClassVar[bool] = False
    """One chunk is one datagram (no byte stream, no socket-to-socket push pipe)."""
    zero_copy_reads: ClassVar[bool] = False
    """The socket's transport is the loop's own TCP transport, which can read straight into
    a BYOB reader's buffer (``channel._ByobProtocol``)."""
    any_runtime: ClassVar[bool] = False
    """Runs on every runtime (asyncio, uvloop, trio); otherwise on asyncio and uvloop only."""
    update_type: ClassVar[str] = "tcp"
    """The type whose field rules an ``update()`` of the runtime fields is checked with."""

    def check_runtime(self, runtime: Any) -> None:
        """Refuse a runtime this type does not run on yet, saying so (not a late
        ``AttributeError`` from deep inside the transport)."""
        if not self.any_runtime and not is_asyncio(runtime):
            raise NotImplementedError(
                f"{self.name.upper()} sockets run on asyncio and uvloop; not on trio yet"
            )

    def check_client(self, opts: Options) -> None:
        """Refuse bad material at ``Socket(...)`` (not at ``ready``), naming the field."""

    def check_listener(self, listener: SocketListener) -> Any:
        """Refuse bad material at ``SocketListener(...)``; returns the server config kept
        in ``listener._server_config`` for every accepted connection."""
        return None

    def setup(self, sock: Socket) -> None:
        """Shape the new socket's streams (byte streams unless the driver says otherwise)."""

    def early_data(self, sock: Socket, body: Any) -> bytes | None:
        """A body small enough to ride on the connection's opening packet, if any."""
        return None

    async def open(self, sock: Socket) -> None:
        """Connect ``sock`` and call ``sock._open(info)`` once it is ready."""
        raise NotImplementedError

    async def listen(self, listener: SocketListener) -> None:
        """Bind and listen; sets ``listener.local`` and the handles closed with it."""
        raise NotImplementedError

    def accepted(self, listener: SocketListener, sock: Socket, transport: Any) -> None:
        """A stream transport the listener accepted: open ``sock`` and deliver it."""
        raise NotImplementedError

    def begin(
        self,
        listener: SocketListener,
        sock: Socket,
        transport: Any,
        initial_data: bytes = b"",
        remote: SocketAddress | None = None,
    ) -> None:
        """Start an accepted connection (after its PROXY header, if any): a handshake, or
        delivery at once."""
        raise NotImplementedError

    def packets(self, sock: Socket) -> tuple[int, int]:
        """Packets sent and received so far, for ``stats``."""
        return (0, 0)

    def raw_socket(self, sock: Socket) -> socket.socket | None:
        """The OS socket that ``update()`` sets options on (``None`` when shared)."""
        transport = sock._transport
        return transport.get_extra_info("socket") if transport is not None else None

    def shares_socket(self, sock: Socket) -> bool:
        """Whether the OS socket is shared with other sockets (a UDP listener's peers)."""
        return False

    async def update_listener(self, listener: SocketListener, raw: dict[str, Any]) -> None:
        """``SocketListener.update()`` with fields already checked to be this type's."""
        raise NotImplementedError

    async def upgrade(self, sock: Socket, fields: dict[str, Any]) -> None:
        """STARTTLS: put this driver's security layer under a live socket."""
        raise NotImplementedError


_drivers: dict[str, Driver] = {}


def driver(name: str) -> Driver:
    """The driver of a transport type, imported on first use."""
    found = _drivers.get(name)
    if found is None:
        module = importlib.import_module(f"{__package__}.{name}")
        found = _drivers[name] = module.DRIVER
    return found
