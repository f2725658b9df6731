"""TCP keep-alive (``keep_alive`` seconds; 0 = off): read back from the kernel's socket."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from tests import rt
from tests.tls_util import Pki, make_pki

import unisock
from unisock import testing as conformance
from unisock._base.options import SocketInit, SocketListenerInit

pytestmark = pytest.mark.trio  # every test that takes `run` runs on trio too


def keep_alive_of(sock: unisock.Socket) -> tuple[int, int, int]:
    """(SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL) of the socket's OS socket."""
    raw = sock._transport.get_extra_info("socket")  # type: ignore[union-attr]
    return (
        raw.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
        raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
    )


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


def test_off_by_default(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener() as listener:
            client = await unisock.connect(remote=listener.local)
            server = await listener.accept()
            async with conformance.settled(client, server):
                assert keep_alive_of(client)[0] == 0
                assert keep_alive_of(server)[0] == 0

    run(main)


def test_client_and_accepted_sockets(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener(keep_alive=42) as listener:
            client = await unisock.connect(remote=listener.local, keep_alive=7)
            server = await listener.accept()
            async with conformance.settled(client, server):
                assert keep_alive_of(client) == (1, 7, 7)
                assert keep_alive_of(server) == (1, 42, 42)

    run(main)


def test_fractions_round_up_to_whole_seconds(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener() as listener:
            client = await unisock.connect(remote=listener.local, keep_alive=0.2)
            server = await listener.accept()
            async with conformance.settled(client, server):
                assert keep_alive_of(client) == (1, 1, 1)

    run(main)


def test_update_turns_it_on_changes_and_off(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener() as listener:
            client = await unisock.connect(remote=listener.local)
            server = await listener.accept()
            async with conformance.settled(client, server):
                await client.update(keep_alive=30)
                assert keep_alive_of(client) == (1, 30, 30)
                await server.update(keep_alive=5.5)
                assert keep_alive_of(server) == (1, 6, 6)
                await client.update(keep_alive=0)
                assert keep_alive_of(client)[0] == 0
                with pytest.raises(ValueError, match="keep_alive"):
                    await client.update(keep_alive=-1)
                with pytest.raises(ValueError, match="keep_alive"):
                    await server.update(keep_alive=99999)
                assert keep_alive_of(server) == (1, 6, 6)  # a refused update changes nothing

    run(main)


def test_tls_sockets(run: Any, pki: Pki) -> None:
    async def main() -> None:
        async with unisock.SocketListener(
            type="tls",
            cert=pki.server.cert_chain_pems[0].bytes(),
            key=pki.server.private_key_pem.bytes(),
            keep_alive=11,
        ) as listener:
            client = await unisock.connect(
                type="tls",
                remote=listener.local,
                ca=pki.ca_pem,
                servername="localhost",
                keep_alive=3,
            )
            server = await listener.accept()
            async with conformance.settled(client, server):
                assert keep_alive_of(client) == (1, 3, 3)
                assert keep_alive_of(server) == (1, 11, 11)
                await client.update(keep_alive=0)
                assert keep_alive_of(client)[0] == 0

    run(main)


def test_starttls_keeps_it(run: Any, pki: Pki) -> None:
    async def main() -> None:
        async with unisock.SocketListener(keep_alive=9) as listener:
            client = await unisock.connect(remote=listener.local, keep_alive=4)
            server = await listener.accept()
            async with conformance.settled(client, server):
                upgrades = [
                    client.update(type="tls", ca=pki.ca_pem, servername="localhost"),
                    server.update(
                        type="tls",
                        cert=pki.server.cert_chain_pems[0].bytes(),
                        key=pki.server.private_key_pem.bytes(),
                    ),
                ]
                await rt.gather(*upgrades)
                assert keep_alive_of(client) == (1, 4, 4)
                assert keep_alive_of(server) == (1, 9, 9)

    run(main)


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("udp", {}),
        ("quic", {"alpn": ["x"]}),
    ],
)
def test_refused_where_it_does_not_apply(kind: str, extra: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=f"keep_alive needs type 'tcp' or 'tls', not '{kind}'"):
        SocketInit.parse(None, {"type": kind, "remote": ("127.0.0.1", 9), "keep_alive": 5, **extra})
    listener_extra = {"cert": "x", "key": "y"} if kind == "quic" else {}
    with pytest.raises(ValueError, match="keep_alive"):
        SocketListenerInit.parse(None, {"type": kind, "keep_alive": 5, **extra, **listener_extra})
    # 0 is "off", which every type already is
    SocketInit.parse(None, {"type": kind, "remote": ("127.0.0.1", 9), "keep_alive": 0, **extra})


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (True, TypeError, "keep_alive must be a number of seconds, got True"),
        ("5", TypeError, "keep_alive must be a number of seconds, got '5'"),
        (-1, ValueError, "keep_alive must be >= 0 seconds, got -1"),
        (32768, ValueError, "keep_alive must be at most 32767 seconds"),
    ],
)
def test_bad_values(value: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        SocketInit.parse(None, {"remote": ("127.0.0.1", 9), "keep_alive": value})


def test_refused_on_udp_update(run: Any) -> None:
    async def main() -> None:
        sock = unisock.Socket(type="udp", local="127.0.0.1:0")
        await sock.ready
        with pytest.raises(ValueError, match="keep_alive needs type 'tcp' or 'tls', not 'udp'"):
            await sock.update(keep_alive=10)
        await sock.close()

    run(main)
