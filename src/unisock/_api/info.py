"""The one builder of ``SocketInfo``: every driver hands it addresses and typed TLS facts.

The transports report what they know as typed records (``TLSFacts`` from either TLS
layer, ``QuicFacts`` from a QUIC connection); this module alone decides how those become
the public record, so TCP, TLS, UDP and QUIC sockets fill ``info`` the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._base.address import SocketAddress, from_sockaddr
from .._base.records import SocketInfo

if TYPE_CHECKING:
    from .._transports.tls.facts import TLSFacts

__all__ = ["build_info", "pair_address", "transport_info"]


def build_info(
    type: str,
    remote: SocketAddress | None,
    local: SocketAddress | None,
    tls: TLSFacts | None = None,
) -> SocketInfo:
    """``info`` of a socket: ``type`` unless TLS agreed an ALPN, and the TLS facts if any."""
    if tls is None:
        return SocketInfo(type=type, remote=remote, local=local)
    return SocketInfo(
        type=tls.alpn or type,
        remote=remote,
        local=local,
        servername=tls.servername,
        certificate=tls.certificate,
        peer_certificate=tls.peer_certificate,
        verification_status=tls.verification_status,
        cipher=tls.cipher,
        ephemeral_key=tls.ephemeral_key,
        session=tls.session,
        ticket=tls.ticket,
        signature_algorithms=tls.signature_algorithms or None,
        session_reused=tls.session_reused,
        early_data_accepted=tls.early_data_accepted,
    )


def transport_info(
    type: str,
    transport: Any,
    fallback_remote: SocketAddress | None,
    tls: TLSFacts | None = None,
    *,
    remote: SocketAddress | None = None,
) -> SocketInfo:
    """``info`` of a connected transport, at the addresses it reports (``peername``, else
    the address asked for; ``sockname``).  ``remote``: the client a PROXY header named,
    which wins over ``peername``."""
    return build_info(
        type,
        remote or from_sockaddr(transport.get_extra_info("peername")) or fallback_remote,
        from_sockaddr(transport.get_extra_info("sockname")),
        tls,
    )


def pair_address(address: tuple[Any, ...] | None) -> SocketAddress | None:
    """A QUIC endpoint's ``(host, port, ...)`` tuple as a ``SocketAddress``."""
    return SocketAddress(str(address[0]), int(address[1])) if address else None
