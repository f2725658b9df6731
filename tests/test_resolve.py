"""The one resolver (``_transports.resolve``) under TCP, UDP, QUIC and listeners.

An IP literal never reaches ``getaddrinfo`` (a thread hop on the stock loop); a name does,
through the runtime (asyncio, uvloop, trio); a failure reads the same from every transport.
The runtime handed to ``resolve`` is the real one, wrapped only to count its lookups.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

import unisock
from unisock._runtime import current
from unisock._transports.quic._resolve import resolve_udp
from unisock._transports.resolve import interleave, numeric, resolve
from unisock.errors import NetworkError

BAD = "no-such-host.invalid"
WORDING = f"cannot resolve {BAD!r}: "


class Counting:
    """The running runtime, counting the ``getaddrinfo`` calls that go through it."""

    def __init__(self) -> None:
        self.runtime: Any = current()
        self.lookups: list[Any] = []

    async def getaddrinfo(self, host: Any, port: Any, **kwargs: Any) -> Any:
        self.lookups.append(host)
        return await self.runtime.getaddrinfo(host, port, **kwargs)


def _has_lo() -> bool:
    try:
        socket.if_nametoindex("lo")
        return True
    except OSError:
        return False


@pytest.mark.trio
def test_an_ip_literal_skips_the_resolver(run: Any) -> None:
    async def main() -> None:
        counting: Any = Counting()
        assert await resolve(counting, "127.0.0.1", 80) == [(socket.AF_INET, ("127.0.0.1", 80))]
        assert await resolve(counting, "::1", 53, kind=socket.SOCK_DGRAM) == [
            (socket.AF_INET6, ("::1", 53, 0, 0))
        ]
        assert await resolve_udp(counting, "[::1]", 443) == (socket.AF_INET6, ("::1", 443, 0, 0))
        if _has_lo():  # a scope name becomes its index, still without a lookup
            family, addr = await resolve_udp(counting, "fe80::1%lo", 443)
            assert family == socket.AF_INET6
            assert addr[1] == 443 and addr[3] == socket.if_nametoindex("lo")
        assert counting.lookups == []

    run(main)


@pytest.mark.trio
def test_a_name_goes_through_the_runtime(run: Any) -> None:
    async def main() -> None:
        counting: Any = Counting()
        found = await resolve(counting, "localhost", 8080, kind=socket.SOCK_DGRAM)
        assert counting.lookups == ["localhost"]
        assert found, "localhost has an address"
        assert len(found) == len(set(found)), "duplicates are removed"
        for family, addr in found:
            assert family in (socket.AF_INET, socket.AF_INET6)
            assert addr[1] == 8080
            assert addr[0] in ("127.0.0.1", "::1")
        # No host when binding: the wildcard, from getaddrinfo.
        wildcard = await resolve(counting, None, 0, kind=socket.SOCK_DGRAM, passive=True)
        assert {addr[0] for _, addr in wildcard} <= {"0.0.0.0", "::"}

    run(main)


@pytest.mark.trio
def test_a_failure_reads_the_same_from_every_transport(run: Any) -> None:
    async def main() -> None:
        with pytest.raises(NetworkError) as direct:
            await resolve(current(), BAD, 80)
        assert WORDING in str(direct.value)
        assert direct.value.errno is not None  # the resolver's EAI_* code, kept
        with pytest.raises(NetworkError) as quic:
            await resolve_udp(current(), BAD, 443)
        assert str(quic.value) == str(direct.value)
        with pytest.raises(NetworkError, match=WORDING):
            await unisock.connect(remote=(BAD, 80))

    run(main)


def test_a_failure_reads_the_same_for_udp_and_listeners(run: Any) -> None:
    async def main() -> None:
        with pytest.raises(NetworkError, match=WORDING):
            await unisock.connect(remote=(BAD, 53), type="udp")
        with pytest.raises(NetworkError, match=WORDING):
            async with unisock.SocketListener(local=(BAD, 0)):
                pass

    run(main)


def test_numeric_and_interleave() -> None:
    assert numeric("10.0.0.1", 1) == (socket.AF_INET, ("10.0.0.1", 1))
    assert numeric("2001:db8::1", 2) == (socket.AF_INET6, ("2001:db8::1", 2, 0, 0))
    assert numeric("example.com", 3) is None
    assert numeric("999.1.1.1", 4) is None
    assert numeric("fe80::1%no-such-interface", 5) is None
    v4a, v4b = (socket.AF_INET, ("10.0.0.1", 1)), (socket.AF_INET, ("10.0.0.2", 1))
    v6a, v6b = (socket.AF_INET6, ("::1", 1, 0, 0)), (socket.AF_INET6, ("::2", 1, 0, 0))
    assert interleave([v6a, v6b, v4a, v4b]) == [v6a, v4a, v6b, v4b]
    assert interleave([v4a, v4b, v6a]) == [v4a, v6a, v4b]
    assert interleave([]) == []
