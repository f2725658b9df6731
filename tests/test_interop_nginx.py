"""Interop: HTTPS against a real nginx on loopback (the Debian package).

One nginx per module, with two TLS servers: a plain one (HTTP/1.1 and h2 by ALPN, session
tickets) and one that requires a client certificate from the test CA.  nginx closes the
TCP connection after a ``Connection: close`` response without sending close_notify once
our side has half-closed: the README's ``b"".join([c async for c in sock.readable])``
pattern must still get the whole response (``require_close_notify=False``, the default).
"""

from __future__ import annotations

import re
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tests import rt
from tests.conftest import start_on_free_ports
from tests.tls_util import Pki, make_pki

import unisock
from nginx_util import nginx_argv, nginx_program, nginx_version, write_nginx_conf
from unisock import errors

pytestmark = pytest.mark.trio  # every test that takes `run` runs on trio too

Run = Callable[..., Any]

BODY = b"hello from nginx\n"
ROUNDS = 30


@dataclass
class Nginx:
    port: int
    mtls_port: int
    pki: Pki
    impatient_port: int
    """A server that gives a client 300 ms to send its request headers, then closes the
    connection as a timed-out one: without close_notify (nginx's quiet shutdown)."""


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    program = nginx_program()
    root = tmp_path_factory.mktemp("nginx")
    pki = make_pki(root)
    (root / "cert.pem").write_bytes(pki.server.cert_chain_pems[0].bytes())
    (root / "key.pem").write_bytes(pki.server.private_key_pem.bytes())
    # nginx 1.25.1 made "http2 on;" the way to enable h2; older ones say "listen ... http2".
    new_h2 = nginx_version(program) >= (1, 25, 1)
    listen_h2 = "" if new_h2 else " http2"
    http2_on = "http2 on;" if new_h2 else ""
    tls = f"""
        ssl_certificate {root}/cert.pem;
        ssl_certificate_key {root}/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets on;
        keepalive_requests 100;
        location / {{ return 200 "{BODY.decode().strip()}\\n"; }}
    """

    def configure(port: int, mtls_port: int, impatient_port: int) -> list[str]:
        conf = write_nginx_conf(
            root,
            f"""
    access_log off;
    default_type text/plain;
    server {{
        listen 127.0.0.1:{port} ssl{listen_h2};
        {http2_on}
        {tls}
    }}
    server {{
        listen 127.0.0.1:{mtls_port} ssl;
        ssl_verify_client on;
        ssl_client_certificate {pki.ca_pem};
        {tls}
    }}
    server {{
        listen 127.0.0.1:{impatient_port} ssl;
        client_header_timeout 300ms;
        {tls}
    }}""",
        )
        return nginx_argv(program, root, conf)

    proc, (port, mtls_port, impatient_port) = start_on_free_ports(
        configure, kinds=("tcp", "tcp", "tcp"), stderr=subprocess.PIPE
    )
    try:
        yield Nginx(port, mtls_port, pki, impatient_port)
    finally:
        proc.stop()


def request(path: str = "/", *, close: bool = True) -> bytes:
    connection = "close" if close else "keep-alive"
    return (f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: {connection}\r\n\r\n").encode()


def client(n: Nginx, port: int | None = None, **kw: Any) -> unisock.Socket:
    return unisock.Socket(
        type=kw.pop("type", "tls"),
        remote=("127.0.0.1", port or n.port),
        servername="localhost",
        ca=n.pki.ca_pem,
        **kw,
    )


def check_complete(response: bytes) -> None:
    """The status line is 200 and the body is all there (Content-Length bytes)."""
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), response[:200]
    length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
    assert body == BODY and len(body) == length, response


async def read_response(reader: Any, buf: bytearray) -> bytes:
    """One HTTP/1.1 response (headers and Content-Length body) from ``reader``."""
    while b"\r\n\r\n" not in buf:
        chunk = await rt.wait_for(reader.read(), 10)
        assert not chunk.done, f"EOF inside the headers: {bytes(buf)!r}"
        buf += chunk.value
    head, _, _ = bytes(buf).partition(b"\r\n\r\n")
    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
    assert m is not None, head
    total = len(head) + 4 + int(m.group(1))
    while len(buf) < total:
        chunk = await rt.wait_for(reader.read(), 10)
        assert not chunk.done, f"EOF inside the body: {bytes(buf)!r}"
        buf += chunk.value
    response = bytes(buf[:total])
    del buf[:total]
    return response


# -- close without close_notify ---------------------------------------------------------


def test_body_then_read_to_end_without_close_notify(run: Run, nginx: Nginx) -> None:
    """``body=`` sends our close_notify after the request; nginx answers and closes TCP
    without its own: every one of 30 responses is complete and the readable ends."""

    async def main() -> None:
        for _ in range(ROUNDS):
            s = client(nginx, body=request(), allow_pooling=False)
            data = b"".join([c async for c in s.readable])
            info = s.info
            assert info.cipher is not None and info.cipher.version == "TLSv1.3"
            check_complete(data)
            await s.close()

    run(main, timeout=60)


def test_writer_close_then_read_to_end_without_close_notify(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        for _ in range(ROUNDS):
            s = client(nginx, allow_pooling=False)
            writer = s.writable.get_writer()
            await writer.write(request())
            await writer.close()  # half-close: our close_notify
            data = b"".join([c async for c in s.readable])
            assert s.info.cipher is not None and s.info.cipher.version == "TLSv1.3"
            check_complete(data)
            await s.close()

    run(main, timeout=60)


def test_require_close_notify_reports_the_truncation(run: Run, nginx: Nginx) -> None:
    """With ``require_close_notify=True`` the same exchange ends in a TLSError (what a
    protocol framed by the connection's end must hear), never in a silent short read."""

    async def main() -> None:
        # Whether nginx reads our close_notify before it closes (then it sends none) is a
        # race; most tries lose it, some runs win several in a row: try until one loses.
        truncated = 0
        for attempt in range(60):
            if truncated:
                break
            if attempt % 2:
                s = client(nginx, body=request(), allow_pooling=False, require_close_notify=True)
            else:  # our close_notify not sent at all: nginx ends first, the way it ends
                s = client(nginx, allow_pooling=False, require_close_notify=True)
                await s.writable.get_writer().write(request())
            try:
                data = b"".join([c async for c in s.readable])
            except errors.TLSError as exc:
                assert "truncated" in str(exc)
                truncated += 1
            else:  # nginx saw our close_notify first and answered it with its own
                check_complete(data)
            await s.close()
        if not truncated:  # seen on a loaded machine: nginx sent close_notify 60 times
            pytest.skip(
                "nginx ended with a close_notify in all 60 tries, so the truncation path "
                "was not reached here (test_timed_out_request_ends_without_close_notify and "
                "test_tls.py reach it every time)"
            )

    run(main, timeout=60)


@pytest.mark.parametrize("strict", [True, False])
def test_timed_out_request_ends_without_close_notify(run: Run, nginx: Nginx, strict: bool) -> None:
    """nginx drops a client that is too slow with its headers without a close_notify
    (a quiet shutdown), every time: a strict socket reports the truncation as a TLSError,
    a lenient one ends its readable stream with what arrived (nothing here)."""

    async def main() -> None:
        s = client(nginx, nginx.impatient_port, require_close_notify=strict)
        await s.writable.get_writer().write(b"GET / HTTP/1.1\r\n")  # and no more
        if strict:
            with pytest.raises(errors.TLSError, match="truncated"):
                await rt.wait_for(s.readable.get_reader().read(), 10)
        else:
            result = await rt.wait_for(s.readable.get_reader().read(), 10)
            assert result.done, result
        await s.close()

    run(main, timeout=30)


# -- HTTPS features -----------------------------------------------------------------------


def test_keep_alive_two_requests_on_one_socket(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        s = client(nginx, alpn=["http/1.1"])
        info = await s.ready
        assert info.type == "http/1.1"
        writer = s.writable.get_writer()
        reader = s.readable.get_reader()
        buf = bytearray()
        for _ in range(2):
            await writer.write(request(close=False))
            check_complete(await read_response(reader, buf))
        assert not buf
        reader.release_lock()
        writer.release_lock()
        await s.close()

    run(main)


def test_alpn_h2_and_http11(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        s = client(nginx, alpn=["h2", "http/1.1"])
        info = await s.ready
        assert info.type == "h2"
        # The client connection preface: nginx answers with its SETTINGS frame (type 4).
        writer = s.writable.get_writer()
        empty_settings = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
        await writer.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + empty_settings)
        reader = s.readable.get_reader()
        head = b""
        while len(head) < 9:
            chunk = await rt.wait_for(reader.read(), 10)
            assert not chunk.done
            head += chunk.value
        assert head[3] == 4 and head[5:9] == b"\x00\x00\x00\x00"  # SETTINGS on stream 0
        reader.release_lock()
        writer.release_lock()
        await s.close()

        s = client(nginx, alpn=["http/1.1"])
        assert (await s.ready).type == "http/1.1"
        await s.close()

    run(main)


def test_session_resumption(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        first = client(nginx, body=request(), allow_pooling=False)
        check_complete(b"".join([c async for c in first.readable]))
        assert first.info.session_reused is False
        session = first.info.session
        assert session is not None and session.has_ticket  # TLS 1.3 ticket arrived
        await first.close()

        second = client(nginx, body=request(), allow_pooling=False, session=session)
        check_complete(b"".join([c async for c in second.readable]))
        assert second.info.session_reused is True
        await second.close()

    run(main)


def test_client_certificate_required(run: Run, nginx: Nginx) -> None:
    pki = nginx.pki

    async def main() -> None:
        s = client(
            nginx,
            nginx.mtls_port,
            body=request(),
            allow_pooling=False,
            cert=pki.client.cert_chain_pems[0].bytes(),
            key=pki.client.private_key_pem.bytes(),
        )
        check_complete(b"".join([c async for c in s.readable]))
        assert s.info.certificate == ssl.PEM_cert_to_DER_cert(
            pki.client.cert_chain_pems[0].bytes().decode()
        )
        await s.close()

        s = client(nginx, nginx.mtls_port, body=request(), allow_pooling=False)
        try:
            data = b"".join([c async for c in s.readable])
        except (errors.TLSError, errors.NetworkError):
            pass  # refused in the handshake
        else:
            assert data.startswith(b"HTTP/1.1 400"), data[:200]  # "No required SSL certificate"
        await s.close()

    run(main)
