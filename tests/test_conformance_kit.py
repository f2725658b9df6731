"""Runs the public conformance kit, ``unisock.testing``, over every transport and mode:
TCP, TLS, STARTTLS, UDP (connected, per-peer from a listener, bound), QUIC streams
(client- and server-opened) and the ``"data"`` event mode, in both directions where a
check has one, on every loop (the ``run`` fixture).

Each (transport, check) that does not apply is skipped with the reason; each that
reveals a unisock bug is a strict xfail naming the bug (see ``BUGS``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
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
TRANSPORTS = list(FACTORIES)

Check = Callable[[PairFactory], Awaitable[None]]
DIRECTIONAL: dict[str, Check] = {
    c.__name__: c for c in [*testing.ONE_WAY_CHECKS, *testing.HALF_CLOSE_CHECKS]
}
DIRECTIONAL["check_data_event_mode"] = testing.check_data_event_mode
DIRECTIONAL["check_datagram_pair"] = testing.check_datagram_pair
DIRECTIONAL["check_abort_local"] = lambda make_pair: testing.check_abort(
    make_pair, peer_notified=False
)
UNDIRECTED: dict[str, Check] = {c.__name__: c for c in testing.TWO_WAY_CHECKS}
UNDIRECTED["check_bound_datagrams"] = testing.check_bound_datagrams
UNDIRECTED["check_starttls"] = lambda make_pair: testing.check_starttls(make_pair, MATERIAL)

# Why a check does not apply to a transport.
UDP_REASONS = {
    "check_backpressure": "UDP never queues: each write is one datagram sent at once "
    "(send_buffer_size is SO_SNDBUF only) and a full readable drops datagrams, counted in "
    "stats.datagrams_dropped, instead of pushing back",
    "check_half_close": "UDP has no FIN: writable.close() sends nothing the peer could see",
    "check_auto_close_after_end": "UDP has no FIN, so the peer's readable never ends",
    "check_data_event_mode": "the data-mode check echoes a byte stream and waits for "
    "'end' (a FIN); UDP has neither",
    "check_stats": "byte-exact stream counters; UDP's datagram and packet counts are "
    "checked by check_datagram_pair",
}
NOT_A_BYTE_STREAM = "UDP keeps datagram boundaries: no byte stream to reassemble or pipe"
BOUND = (
    "a bound UDP socket reads and writes Datagram objects, not chunks: "
    "checked by check_bound_datagrams"
)
NOT_BOUND = "only a bound UDP socket (local, no remote) reads Datagram objects"
NOT_DATAGRAMS = "a byte stream has no datagram boundaries to keep"
STARTTLS_ONLY = (
    "STARTTLS upgrades a plain TCP pair, so it runs on tcp only (the starttls "
    "row runs every byte-stream check over an upgraded pair)"
)
UDP = {"udp", "udp-peer", "udp-bound"}
APPLY_TO_ALL_UDP = {"check_idle_timeout", "check_abort_local"}


def skip_reason(transport: str, check: str) -> str | None:
    """Why ``check`` does not apply to ``transport`` (``None``: it applies)."""
    if check == "check_starttls":
        return None if transport == "tcp" else STARTTLS_ONLY
    if check == "check_bound_datagrams":
        return None if transport == "udp-bound" else NOT_BOUND
    if check == "check_abort_local":
        return None if transport in UDP else "byte streams run check_abort (the peer's side too)"
    if transport not in UDP:
        return NOT_DATAGRAMS if check == "check_datagram_pair" else None
    if check in APPLY_TO_ALL_UDP:
        return None
    if transport == "udp-bound":
        return BOUND
    if check == "check_datagram_pair":
        return None
    if check == "check_abort":
        return "UDP tells the peer nothing of an abort: check_abort_local checks the local side"
    return UDP_REASONS.get(check, NOT_A_BYTE_STREAM)


# (transport, check) -> the unisock bug the check reveals (strict xfail).
BUGS: dict[tuple[str, str], str] = {}


def _case(transport: str, check: str) -> Any:
    marks = []
    reason = skip_reason(transport, check)
    if reason is not None:
        marks.append(pytest.mark.skip(reason=reason))
    bug = BUGS.get((transport, check))
    if bug is not None:
        marks.append(pytest.mark.xfail(strict=True, raises=AssertionError, reason=bug))
    ident = f"{transport}-{check.removeprefix('check_')}"
    return pytest.param(transport, check, marks=marks, id=ident)


CASES = [_case(t, c) for t in TRANSPORTS for c in [*DIRECTIONAL, *UNDIRECTED]]


@pytest.mark.parametrize(("transport", "check"), CASES)
def test_conformance_kit(run: Any, transport: str, check: str) -> None:
    """One check on one transport; a directional check runs a-to-b, then b-to-a (the
    pair flipped), each on a fresh loop (one test item for both halves the per-test
    leak-check cost)."""
    make_pair = FACTORIES[transport]()
    if check in UNDIRECTED:
        run(lambda: UNDIRECTED[check](make_pair), timeout=60)
        return
    for direction, factory in (("a-to-b", make_pair), ("b-to-a", testing.flipped(make_pair))):
        try:
            run(lambda factory=factory: DIRECTIONAL[check](factory), timeout=60)
        except AssertionError as exc:
            raise AssertionError(f"{direction}: {exc}") from exc


def test_kit_catches_a_factory_that_ignores_options(run: Any) -> None:
    """The kit must fail a broken pair, not only pass good ones: a factory that drops
    ``allow_half_open=True`` makes the accepted end close its writable after reading
    the end, which check_half_close reports."""
    plain = pairs.tcp_pair()

    @contextlib.asynccontextmanager
    async def careless(**options: Any) -> AsyncIterator[testing.Pair]:
        async with plain() as pair:
            yield pair

    async def main() -> None:
        with pytest.raises(AssertionError, match="allow_half_open"):
            await testing.check_half_close(careless)

    run(main)


@pytest.mark.trio(only=True)
@pytest.mark.parametrize(("transport", "check"), CASES)
def test_conformance_kit_on_trio(run: Any, transport: str, check: str) -> None:
    """The same checks under ``trio.run``: unisock's trio runtime, same public API."""
    test_conformance_kit(run, transport, check)
