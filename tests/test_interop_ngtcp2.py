"""Interop: HTTP/3 between unisock's QUIC (on qh3) and ngtcp2's example programs built
on GnuTLS, a QUIC stack we did not write (Debian ``ngtcp2-server``/``ngtcp2-client``).

(a) A unisock QUIC client GETs a 1 MiB file from ``gtlsserver``, byte-identical, also with
    5 % of the server's packets lost each way.
(b) ``gtlsclient`` completes a handshake and a request against a unisock QUIC listener
    that answers it with HTTP/3.

HTTP/3 framing and QPACK (static table only) are in ``tests/h3_util.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from tests import h3_util as h3
from tests.conftest import Background, PeerDidNotStart, Peers, background, wait_for
from tests.tls_util import Pki, make_pki

import unisock
from unisock._runtime import current

Run = Callable[..., Any]

FILE_SIZE = 1024 * 1024


def program(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        pytest.skip(f"{name} is not installed")
    return found


@dataclass
class Material:
    pki: Pki
    key: Path
    cert: Path


@pytest.fixture
def material(tmp_path: Path) -> Material:
    pki = make_pki(tmp_path)
    key = tmp_path / "server.key"
    cert = tmp_path / "server.crt"
    pki.server.private_key_pem.write_to_path(str(key))
    pki.server.cert_chain_pems[0].write_to_path(str(cert))
    return Material(pki, key, cert)


@dataclass
class Served:
    port: int
    path: str
    sha256: str
    log: Path


def start_gtlsserver(
    tmp_path: Path, peer: Peers, material: Material, *extra: str
) -> Iterator[Served]:
    server = program("gtlsserver")
    htdocs = tmp_path / "htdocs"
    htdocs.mkdir()
    content = os.urandom(FILE_SIZE)
    (htdocs / "big.bin").write_bytes(content)
    log = tmp_path / "gtlsserver.log"
    try:
        with log.open("wb") as out:
            proc, (port,) = peer.on_free_ports(
                lambda port: [
                    server,
                    "-d",
                    str(htdocs),
                    *extra,
                    "127.0.0.1",
                    str(port),
                    str(material.key),
                    str(material.cert),
                ],
                kinds=("udp",),
                stdout=out,
                stderr=out,
            )
    except (PeerDidNotStart, TimeoutError):
        raise AssertionError(f"gtlsserver did not start: {log.read_text()[-2000:]}") from None
    yield Served(port, "/big.bin", hashlib.sha256(content).hexdigest(), log)
    assert proc.proc.poll() is None, f"gtlsserver died: {log.read_text()[-2000:]}"


@pytest.fixture
def gtlsserver(tmp_path: Path, peer: Peers, material: Material) -> Iterator[Served]:
    yield from start_gtlsserver(tmp_path, peer, material, "-q")


@pytest.fixture
def lossy_gtlsserver(tmp_path: Path, peer: Peers, material: Material) -> Iterator[Served]:
    # not -q: the log then says each packet it dropped on purpose.  One packet per send
    # (no GSO batches), so the loss is per packet and about 40 of the 1 MiB's go.
    yield from start_gtlsserver(
        tmp_path,
        peer,
        material,
        "--no-quic-dump",
        "--no-http-dump",
        "--max-gso-dgrams=1",
        "--tx-loss=0.05",
        "--rx-loss=0.05",
    )


async def h3_get(served: Served, material: Material) -> tuple[h3.Headers, bytes, dict[int, int]]:
    """One HTTP/3 GET over a fresh connection: (response headers, body, server SETTINGS)."""
    sock = unisock.Socket(
        type="quic",
        alpn=["h3"],
        remote=("127.0.0.1", served.port),
        servername="localhost",
        ca=material.pki.ca_pem,
        allow_pooling=False,
    )
    info = await sock.ready
    assert info.type == "h3" and info.verification_status == "ok"
    leaf = x509.load_pem_x509_certificate(material.cert.read_bytes())
    assert info.peer_certificate == leaf.public_bytes(serialization.Encoding.DER)
    assert info.ephemeral_key is not None and info.cipher is not None
    conn = sock.connection
    control = await h3.open_control_stream(conn)
    peer_settings = current().create_task(h3.read_peer_settings(conn))  # asyncio or trio
    try:
        codec = h3.QpackCodec()
        block = codec.encode(0, h3.request_headers(f"localhost:{served.port}", served.path))
        writer = sock.writable.get_writer()
        await writer.write(h3.frame(h3.FRAME_HEADERS, block))
        await writer.close()
        headers, body = await h3.response(sock, codec)
        settings = await wait_for(peer_settings, 30)
    finally:
        if not peer_settings.done():
            peer_settings.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await peer_settings
        conn.close(h3.H3_NO_ERROR)
        await wait_for(conn.closed, 10)
        await control.close()
        await sock.close()
    return headers, body, settings


def check_download(result: tuple[h3.Headers, bytes, dict[int, int]], served: Served) -> None:
    headers, body, _settings = result
    fields = dict(headers)
    assert fields[b":status"] == b"200", headers
    assert int(fields[b"content-length"]) == FILE_SIZE
    assert len(body) == FILE_SIZE
    assert hashlib.sha256(body).hexdigest() == served.sha256


@pytest.mark.trio
@pytest.mark.timeout(120)
def test_h3_get_1mib_from_gtlsserver(run: Run, gtlsserver: Served, material: Material) -> None:
    async def main() -> None:
        result = await h3_get(gtlsserver, material)
        check_download(result, gtlsserver)
        settings = result[2]
        assert settings.get(h3.SETTINGS_QPACK_MAX_TABLE_CAPACITY, 0) >= 0

    run(main, timeout=60)


@pytest.mark.trio
@pytest.mark.timeout(240)
def test_h3_get_1mib_with_loss(run: Run, lossy_gtlsserver: Served, material: Material) -> None:
    """5 % of gtlsserver's packets lost each way: QUIC's recovery on both stacks."""

    async def main() -> None:
        check_download(await h3_get(lossy_gtlsserver, material), lossy_gtlsserver)
        log = lossy_gtlsserver.log.read_text(errors="replace")
        dropped = log.count("Simulated outgoing packet loss")
        assert dropped >= 5, log[-2000:]  # about 40 expected; fewer than 5: P < 1e-10
        assert " lost type=" in log  # and ngtcp2 saw them lost and sent them again

    run(main, timeout=100)


# -- (b) gtlsclient against a unisock QUIC listener -------------------------------------

PAGE = b"hello from a unisock QUIC listener\n" * 100


class H3Server:
    """Serves each request stream of a unisock QUIC listener: HEADERS :status 200 and the
    page as DATA.  Per connection it opens a control stream with SETTINGS and reads the
    client's SETTINGS."""

    def __init__(self, listener: unisock.SocketListener, tasks: Background) -> None:
        self.listener = listener
        self.spawned = tasks  # conftest's background: a failing stream fails the test at once
        self.codec = h3.QpackCodec()
        self.requests: list[h3.Headers] = []
        self.client_settings: list[dict[int, int]] = []
        self.infos: list[unisock.SocketInfo] = []
        self.controls: dict[int, unisock.Socket] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.serving = tasks.spawn(self._serve())

    async def _serve(self) -> None:
        async for event in self.listener:
            self.tasks.append(self.spawned.spawn(self._stream(event.socket)))

    async def _stream(self, sock: unisock.Socket) -> None:
        conn = sock.connection
        if id(conn) not in self.controls:
            self.controls[id(conn)] = await h3.open_control_stream(conn)
            self.client_settings.append(await h3.read_peer_settings(conn))
        self.infos.append(sock.info)
        stream_id = len(self.requests) * 4
        headers, _body = await h3.request(sock, self.codec)
        self.requests.append(headers)
        response = self.codec.encode(
            stream_id,
            [
                (b":status", b"200"),
                (b"content-type", b"text/plain"),
                (b"content-length", str(len(PAGE)).encode()),
            ],
        )
        writer = sock.writable.get_writer()
        await writer.write(h3.frame(h3.FRAME_HEADERS, response) + h3.frame(h3.FRAME_DATA, PAGE))
        await writer.close()

    async def stop(self) -> None:
        self.serving.cancel()
        await asyncio.gather(*self.tasks)
        for control in self.controls.values():
            await control.close()


@pytest.mark.timeout(120)
def test_gtlsclient_against_unisock_listener(run: Run, material: Material, tmp_path: Path) -> None:
    # asyncio only: the server's streams are asyncio tasks it gathers, and gtlsclient runs
    # through asyncio's subprocess pipes (on trio, test_h3_get_* drive the client side).
    client = program("gtlsclient")
    downloads = tmp_path / "downloads"
    downloads.mkdir()

    async def main() -> None:
        async with unisock.SocketListener(
            type="quic",
            alpn=["h3"],
            local=("127.0.0.1", 0),
            allow_half_open=True,  # the response follows the request's FIN
            cert=material.cert.read_bytes(),
            key=material.key.read_bytes(),
        ) as listener:
            assert listener.local is not None
            port = listener.local.port
            async with background() as tasks:
                server = H3Server(listener, tasks)
                proc = await asyncio.create_subprocess_exec(
                    client,
                    "-q",
                    "--exit-on-first-stream-close",
                    f"--download={downloads}",
                    "--sni=localhost",
                    "127.0.0.1",
                    str(port),
                    f"https://localhost:{port}/page.txt",
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                )
                try:
                    out, _ = await asyncio.wait_for(proc.communicate(), 30)
                finally:
                    if proc.returncode is None:
                        proc.kill()
                        await proc.wait()
                await server.stop()

        assert proc.returncode == 0, out.decode(errors="replace")[-3000:]
        assert (downloads / "page.txt").read_bytes() == PAGE
        assert len(server.requests) == 1
        request = dict(server.requests[0])
        assert request[b":method"] == b"GET" and request[b":path"] == b"/page.txt"
        assert request[b":scheme"] == b"https"
        assert request[b":authority"] == f"localhost:{port}".encode()
        assert len(server.client_settings) == 1
        info = server.infos[0]
        assert info.type == "h3" and info.cipher is not None
        assert info.servername == "localhost"  # gtlsclient's --sni
        assert info.ephemeral_key is not None

    run(main, timeout=60)
