"""PROXY protocol against a real proxy: HAProxy (Debian's ``haproxy``) in TCP mode with
``send-proxy`` (v1) and ``send-proxy-v2`` (with the CRC32C and unique-id TLVs) in front
of unisock TCP and TLS listeners.  The client connects from 127.0.0.2 (or ``::1``), so
``info.remote`` tells the client apart from HAProxy, which connects from 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import socket
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from tests import rt
from tests.conftest import Peer, free_port
from tests.tls_util import Pki, make_pki

import unisock
from unisock import testing as conformance

pytestmark = pytest.mark.trio  # every test that takes `run` runs on trio too


def haproxy() -> str:
    path = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None
    )
    if path is None:
        pytest.skip("haproxy is not installed (Debian: apt-get install haproxy)")
    return path


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


SEND = {
    "v1": "send-proxy",
    "v2": "send-proxy-v2 proxy-v2-options crc32c,unique-id",
}


@asynccontextmanager
async def behind_haproxy(
    peer: Callable[..., Peer], tmp_path: Path, backend_port: int, send: str, frontend: str
) -> AsyncIterator[int]:
    """HAProxy listening on ``frontend`` (``127.0.0.1`` or ``::1``), forwarding each
    connection to 127.0.0.1:``backend_port`` with a PROXY header; yields its port."""
    port = free_port(host=frontend)
    bind = f"[{frontend}]:{port}" if ":" in frontend else f"{frontend}:{port}"
    config = tmp_path / f"haproxy-{port}.cfg"
    config.write_text(
        textwrap.dedent(
            f"""\
            global
                maxconn 100
            defaults
                mode tcp
                timeout connect 5s
                timeout client 30s
                timeout server 30s
                unique-id-format %{{+X}}o\\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid
            frontend front
                bind {bind}
                default_backend back
            backend back
                server unisock 127.0.0.1:{backend_port} {SEND[send]}
            """
        )
    )
    proc = peer([haproxy(), "-db", "-f", str(config)])
    deadline = time.monotonic() + 10
    while not listening(port):  # not by connecting: haproxy would forward the probe
        if time.monotonic() > deadline or proc.proc.poll() is not None:
            pytest.fail(f"haproxy did not start (exit code {proc.proc.poll()})")
        await rt.sleep(0.02)
    yield port


def listening(port: int) -> bool:
    """Whether some socket listens on TCP ``port`` (from /proc/net/tcp*; state 0A)."""
    needle = f":{port:04X} "
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f:
                fields = line.split()
                if len(fields) > 3 and (fields[1] + " ").endswith(needle) and fields[3] == "0A":
                    return True
    return False


async def one_exchange(server: unisock.Socket, client: unisock.Socket) -> None:
    writer = client.writable.get_writer()
    await writer.write(b"through haproxy")
    reader = server.readable.get_reader()
    got = b""
    while len(got) < len(b"through haproxy"):
        got += (await rt.wait_for(reader.read(), 5)).value
    assert got == b"through haproxy"
    await server.writable.get_writer().write(b"and back")
    back = await rt.wait_for(client.readable.get_reader().read(), 5)
    assert back.value == b"and back"


@pytest.mark.parametrize("send", ["v1", "v2"])
def test_tcp_listener_behind_haproxy(run: Any, peer: Any, tmp_path: Path, send: str) -> None:
    async def main() -> None:
        async with unisock.SocketListener(proxy_protocol=True) as listener:
            assert listener.local is not None
            async with behind_haproxy(
                peer, tmp_path, listener.local.port, send, "127.0.0.1"
            ) as port:
                for _ in range(3):  # each connection gets its own header
                    client = unisock.Socket(remote=f"127.0.0.1:{port}", local="127.0.0.2:0")
                    info = await client.ready
                    server = await rt.wait_for(listener.accept(), 10)
                    async with conformance.settled(client, server):
                        assert server.info.remote == info.local  # the client, not haproxy
                        assert server.info.remote.address == "127.0.0.2"
                        await one_exchange(server, client)

    run(main)


@pytest.mark.parametrize("send", ["v1", "v2"])
def test_ipv6_client_behind_haproxy(run: Any, peer: Any, tmp_path: Path, send: str) -> None:
    async def main() -> None:
        async with unisock.SocketListener(proxy_protocol=True) as listener:
            assert listener.local is not None
            async with behind_haproxy(peer, tmp_path, listener.local.port, send, "::1") as port:
                client = unisock.Socket(remote=f"[::1]:{port}")
                info = await client.ready
                server = await rt.wait_for(listener.accept(), 10)
                async with conformance.settled(client, server):
                    assert server.info.remote == info.local
                    assert server.info.remote.address == "::1"
                    # haproxy itself reaches the listener over IPv4
                    raw = server._transport.get_extra_info("socket")  # type: ignore[union-attr]
                    assert raw.getpeername()[0] == "127.0.0.1"

    run(main)


@pytest.mark.parametrize("send", ["v1", "v2"])
def test_tls_listener_behind_haproxy(
    run: Any, peer: Any, tmp_path: Path, pki: Pki, send: str
) -> None:
    async def main() -> None:
        async with unisock.SocketListener(
            type="tls",
            cert=pki.server.cert_chain_pems[0].bytes(),
            key=pki.server.private_key_pem.bytes(),
            proxy_protocol=True,
        ) as listener:
            assert listener.local is not None
            async with behind_haproxy(
                peer, tmp_path, listener.local.port, send, "127.0.0.1"
            ) as port:
                client = unisock.Socket(
                    type="tls",
                    remote=f"127.0.0.1:{port}",
                    local="127.0.0.2:0",
                    ca=pki.ca_pem,
                    servername="localhost",
                )
                info = await client.ready
                server = await rt.wait_for(listener.accept(), 10)
                async with conformance.settled(client, server):
                    assert server.info.remote == info.local
                    assert server.info.servername == "localhost"
                    await one_exchange(server, client)

    run(main)


def test_a_direct_connection_without_header_is_dropped(run: Any, peer: Any, tmp_path: Path) -> None:
    """The same listener: a client that bypasses haproxy is closed; haproxy's go on."""

    async def main() -> None:
        async with unisock.SocketListener(proxy_protocol=True) as listener:
            assert listener.local is not None
            async with behind_haproxy(
                peer, tmp_path, listener.local.port, "v2", "127.0.0.1"
            ) as port:
                direct = unisock.Socket(remote=listener.local, body=b"GET / HTTP/1.0\r\n\r\n")
                with pytest.raises(unisock.errors.NetworkError):
                    await rt.wait_for(direct.closed, 10)
                client = unisock.Socket(remote=f"127.0.0.1:{port}", local="127.0.0.2:0")
                await client.ready
                server = await rt.wait_for(listener.accept(), 10)
                async with conformance.settled(client, server):
                    assert server.info.remote == client.info.local

    run(main)


def test_loopback_aliases_work() -> None:
    """The tests above bind clients to 127.0.0.2: Linux routes all of 127/8 to lo."""
    with socket.socket() as s:
        s.bind(("127.0.0.2", 0))
