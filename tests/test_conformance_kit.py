"""Runs the public conformance kit, ``unisock.testing``, over every transport and mode:
TCP, TLS, STARTTLS, UDP (connected, per-peer from a listener, bound), QUIC streams
(client- and server-opened) and the ``"data"`` event mode, in both directions where a
check has one, on every loop (the ``run`` fixture).

Each (transport, check) that does not apply is skipped with the reason; each that
reveals a unisock bug is a strict xfail naming the bug (see ``BUGS``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trustme

from unisock import testing
from unisock.testing import PairFactory, TLSMaterial, pairs

_CA = trustme.CA()
_LEAF = _CA.issue_cert("localhost", "127.0.0.1")
MATERIAL = TLSMaterial(
    cert=b"".join(blob.bytes() for blob in _LEAF.cert_chain_pems),
    key=_LEAF.private_key_pem.bytes(),
    ca=_CA.cert_pem.bytes(),
)

FACTORIES: dict[str, Callable[[], PairFactory]] = {
    "tcp": pairs.tcp_pair,
    "tls": lambda: pairs.tls_pair(MATERIAL),
    "starttls": lambda: pairs.starttls_pair(MATERIAL),
    "udp": pairs.udp_pair,
    "udp-peer": pairs.udp_peer_pair,
    "udp-bound": pairs.udp_bound_pair,
    "quic": lambda: pairs.quic_pair(MATERIAL),
    "quic-server-stream": lambda: pairs.quic_server_stream_pair(MATERIAL),
}
STREAMS = ["tcp", "tls", "starttls", "quic", "quic-server-stream"]
DATAGRAMS = ["udp", "udp-peer"]
TRANSPORTS = list(FACTORIES)

Check = Callable[[PairFactory], Awaitable[None]]
DIRECTIONAL: dict[str, Check] = {
    c.__name__: c for c in [*testing.ONE_WAY_CHECKS, *testing.HALF_CLOSE_CHECKS]
}
DIRECTIONAL["check_data_event_mode"] = testing.check_data_event_mode
DIRECTIONAL["check_datagram_pair"] = testing.check_datagram_pair
UNDIRECTED: dict[str, Check] = {c.__name__: c for c in testing.TWO_WAY_CHECKS}
UNDIRECTED["check_bound_datagrams"] = testing.check_bound_datagrams
UNDIRECTED["check_starttls"] = lambda make_pair: testing.check_starttls(make_pair, MATERIAL)

# Why a check does not apply to a transport.
NOT_A_BYTE_STREAM = "UDP keeps datagram boundaries and has no byte stream, FIN or reset"
NOT_BOUND = "only a bound UDP socket (local, no remote) reads Datagram objects"
BOUND_ONLY = "a bound UDP socket has no single peer: checked by check_bound_datagrams"
NOT_DATAGRAMS = "a byte stream has no datagram boundaries to keep"
STARTTLS_ONLY = "STARTTLS upgrades a plain TCP pair; run once on tcp (the starttls row "
"runs every byte-stream check over an upgraded pair)"


def skip_reason(transport: str, check: str) -> str | None:
    """Why ``check`` does not apply to ``transport`` (``None``: it applies)."""
    if check == "check_starttls":
        return None if transport == "tcp" else STARTTLS_ONLY
    if check == "check_bound_datagrams":
        return None if transport == "udp-bound" else NOT_BOUND
    if transport == "udp-bound":
        return BOUND_ONLY
    if check == "check_datagram_pair":
        return None if transport in DATAGRAMS else NOT_DATAGRAMS
    if transport in DATAGRAMS and check != "check_idle_timeout":
        return NOT_A_BYTE_STREAM
    return None


# (transport, check, direction or None) -> the unisock bug the check reveals.
BUGS: dict[tuple[str, str, str | None], str] = {}


def _case(transport: str, check: str, direction: str | None) -> Any:
    marks = []
    reason = skip_reason(transport, check)
    if reason is not None:
        marks.append(pytest.mark.skip(reason=reason))
    bug = BUGS.get((transport, check, direction))
    if bug is not None:
        marks.append(pytest.mark.xfail(strict=True, reason=bug))
    ident = f"{transport}-{check.removeprefix('check_')}" + (f"-{direction}" if direction else "")
    return pytest.param(transport, check, direction, marks=marks, id=ident)


CASES = [
    _case(t, c, d) for t in TRANSPORTS for c in DIRECTIONAL for d in ("a-to-b", "b-to-a")
] + [_case(t, c, None) for t in TRANSPORTS for c in UNDIRECTED]


@pytest.mark.parametrize(("transport", "check", "direction"), CASES)
def test_conformance_kit(run: Any, transport: str, check: str, direction: str | None) -> None:
    make_pair = FACTORIES[transport]()
    if direction == "b-to-a":
        make_pair = testing.flipped(make_pair)
    fn = DIRECTIONAL[check] if direction else UNDIRECTED[check]
    run(lambda: fn(make_pair), timeout=60)
