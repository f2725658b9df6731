"""httpx on unisock (``unisock.httpx``): the real httpx and httpcore against a real nginx,
and HTTPS through a real CONNECT proxy (Debian's tinyproxy).

One nginx per module serves plain HTTP, HTTPS with HTTP/2 by ALPN, and plain HTTP with a
one-second keep-alive timeout; every response carries nginx's connection serial number
(``$connection``) in ``X-Conn``, so a test sees which requests shared a connection.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests import rt
from tests.conftest import Peers, eventually, need, refusing_port, start_on_free_ports

from nginx_util import nginx_argv, nginx_program, nginx_version, write_nginx_conf

httpx = pytest.importorskip("httpx")
httpcore = pytest.importorskip("httpcore")
trustme = pytest.importorskip("trustme")

import unisock  # noqa: E402
import unisock.httpx  # noqa: E402

pytestmark = pytest.mark.trio  # every test that takes `run` runs on trio too

Run = Callable[..., Any]

BIG = os.urandom(3 * 1024 * 1024 + 7)  # a download larger than any one read


@dataclass
class Nginx:
    http: int  # plain HTTP/1.1
    https: int  # TLS, HTTP/2 and HTTP/1.1 by ALPN
    short: int  # plain HTTP, keepalive_timeout 1s
    ca: Any  # trustme.CA that issued nginx's certificate
    root: Path

    def ctx(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        return ctx


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    program = nginx_program()
    root = tmp_path_factory.mktemp("nginx")
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    leaf.cert_chain_pems[0].write_to_path(str(root / "cert.pem"))
    leaf.private_key_pem.write_to_path(str(root / "key.pem"))
    (root / "www").mkdir()
    (root / "www" / "big").write_bytes(BIG)
    new_h2 = nginx_version(program) >= (1, 25, 1)  # "http2 on;" since 1.25.1
    listen_h2 = "" if new_h2 else " http2"
    http2_on = "http2 on;" if new_h2 else ""
    common = f"""
        keepalive_requests 10000;
        add_header X-Conn $connection always;
        location / {{ return 200 "hello $request_method $content_length\\n"; }}
        location /big {{ alias {root}/www/big; }}
    """

    def configure(http: int, https: int, short: int) -> list[str]:
        conf = write_nginx_conf(
            root,
            f"""
    access_log {root}/access.log;
    default_type text/plain;
    client_max_body_size 64m;
    server {{
        listen 127.0.0.1:{http};
        {common}
    }}
    server {{
        listen 127.0.0.1:{https} ssl{listen_h2};
        {http2_on}
        ssl_certificate {root}/cert.pem;
        ssl_certificate_key {root}/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        {common}
    }}
    server {{
        listen 127.0.0.1:{short};
        keepalive_timeout 1s;
        {common}
    }}
    server {{
        listen unix:{root}/plain.sock;
        {common}
    }}
    server {{
        listen unix:{root}/tls.sock ssl;
        ssl_certificate {root}/cert.pem;
        ssl_certificate_key {root}/key.pem;
        {common}
    }}""",
        )
        return nginx_argv(program, root, conf)

    proc, (http, https, short) = start_on_free_ports(
        configure, kinds=("tcp", "tcp", "tcp"), stderr=subprocess.PIPE
    )
    try:
        yield Nginx(http, https, short, ca, root)
    finally:
        proc.stop()


def client(**kw: Any) -> Any:
    timeout = kw.pop("timeout", 10.0)
    return httpx.AsyncClient(transport=unisock.httpx.AsyncHTTPTransport(**kw), timeout=timeout)


# -- HTTP/1.1 ----------------------------------------------------------------------------


def test_keep_alive_pool_reuses_one_connection(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        async with client() as c:
            conns = set()
            for _ in range(8):
                r = await c.get(f"http://127.0.0.1:{nginx.http}/")
                assert r.status_code == 200 and r.text == "hello GET \n"
                assert r.http_version == "HTTP/1.1"
                conns.add(r.headers["x-conn"])
            assert len(conns) == 1, conns  # nginx saw one connection for all eight
            stream = r.extensions["network_stream"]
            assert isinstance(stream, unisock.httpx.UnisockStream)
            assert isinstance(stream.socket, unisock.Socket)
            assert stream.get_extra_info("server_addr") == ("127.0.0.1", nginx.http)
            host, port = stream.get_extra_info("client_addr")
            assert host == "127.0.0.1" and port > 0
            assert stream.get_extra_info("ssl_object") is None
            assert stream.get_extra_info("socket") is not None

    run(main)


def test_concurrent_requests_bounded_by_pool_limits(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        limits = httpx.Limits(max_connections=3, max_keepalive_connections=3)
        async with client(limits=limits) as c:
            rs = await rt.gather(*(c.get(f"http://127.0.0.1:{nginx.http}/") for _ in range(30)))
            assert all(r.status_code == 200 for r in rs)
            assert 1 <= len({r.headers["x-conn"] for r in rs}) <= 3

    run(main)


def test_large_upload_and_download(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        async with client(verify=nginx.ctx()) as c:
            for base in (f"http://127.0.0.1:{nginx.http}", f"https://127.0.0.1:{nginx.https}"):
                r = await c.get(f"{base}/big")
                assert r.status_code == 200 and r.content == BIG
                upload = b"x" * (5 * 1024 * 1024)
                r = await c.post(f"{base}/", content=upload)
                assert r.text == f"hello POST {len(upload)}\n"
                chunks = [c async for c in _stream_body(c, f"{base}/big")]
                assert b"".join(chunks) == BIG

    run(main, timeout=90)


async def _stream_body(c: Any, url: str) -> Any:
    async with c.stream("GET", url) as r:
        async for chunk in r.aiter_raw():
            yield chunk


def test_idle_connection_closed_by_server_is_not_reused(run: Run, nginx: Nginx) -> None:
    """nginx closes an idle keep-alive connection after 1 s: httpcore asks the stream
    ``is_readable`` before reusing it, sees the EOF, and opens a new connection instead
    of failing the request."""

    async def main() -> None:
        async with client() as c:
            first = await c.get(f"http://127.0.0.1:{nginx.short}/")
            stream = first.extensions["network_stream"]
            assert stream.get_extra_info("is_readable") is False  # idle, nothing pending
            # nginx's FIN arrives after its 1 s keep-alive timeout
            await eventually(lambda: stream.get_extra_info("is_readable") is True, timeout=10)
            second = await c.get(f"http://127.0.0.1:{nginx.short}/")
            assert second.status_code == 200
            assert second.headers["x-conn"] != first.headers["x-conn"]

    run(main)


# -- HTTPS and HTTP/2 --------------------------------------------------------------------


def test_https_http1_verified_with_httpx_context(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        async with client(verify=nginx.ctx()) as c:
            rs = [await c.get(f"https://localhost:{nginx.https}/") for _ in range(3)]
            assert [r.http_version for r in rs] == ["HTTP/1.1"] * 3
            assert len({r.headers["x-conn"] for r in rs}) == 1
            stream = rs[0].extensions["network_stream"]
            sslobj = stream.get_extra_info("ssl_object")
            assert isinstance(sslobj, ssl.SSLObject)
            assert sslobj.selected_alpn_protocol() == "http/1.1"
            info = stream.socket.info
            assert info.type == "http/1.1" and info.verification_status == "ok"
            assert info.servername == "localhost"

    run(main)


def test_http2_over_alpn(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        async with client(verify=nginx.ctx(), http2=True) as c:
            rs = await rt.gather(*(c.get(f"https://127.0.0.1:{nginx.https}/") for _ in range(10)))
            assert {r.http_version for r in rs} == {"HTTP/2"}
            assert all(r.text == "hello GET \n" for r in rs)
            assert len({r.headers["x-conn"] for r in rs}) == 1  # multiplexed on one
            r = await c.get(f"https://127.0.0.1:{nginx.https}/big")
            assert r.http_version == "HTTP/2" and r.content == BIG

    run(main, timeout=90)


def test_wrong_ca_is_connect_error(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        other = ssl.create_default_context()
        trustme.CA().configure_trust(other)
        async with client(verify=other) as c:
            with pytest.raises(httpx.ConnectError) as caught:
                await c.get(f"https://localhost:{nginx.https}/")
            assert "verif" in str(caught.value)
            # the name is checked too: nginx's certificate does not name this host
            with pytest.raises(httpx.ConnectError):
                await c.get(f"https://127.0.0.2:{nginx.https}/")

    run(main)


def test_wrong_name_is_connect_error(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        async with client(verify=nginx.ctx()) as c:
            # SNI and the verified name are the URL's host; the certificate lacks it
            with pytest.raises(httpx.ConnectError) as caught:
                await c.get(
                    f"https://127.0.0.1:{nginx.https}/",
                    extensions={"sni_hostname": "wrong.example"},
                )
            assert "verif" in str(caught.value) or "match" in str(caught.value)

    run(main)


def test_verify_false_is_honoured_from_the_context(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        async with client(verify=False) as c:
            r = await c.get(f"https://127.0.0.1:{nginx.https}/")
            assert r.status_code == 200
            info = r.extensions["network_stream"].socket.info
            assert info.verification_status is None  # nothing was verified

    run(main)


# -- errors and timeouts -----------------------------------------------------------------


def test_refused_is_connect_error(run: Run) -> None:
    async def main() -> None:
        async with client() as c:
            with pytest.raises(httpx.ConnectError):
                await c.get(f"http://127.0.0.1:{port}/")

    with refusing_port() as port:
        run(main)


def test_silent_server_read_timeout_and_tls_connect_timeout(run: Run) -> None:
    """A server that accepts (the kernel does) and never answers: a plain request times
    out reading (ReadTimeout), an HTTPS one in the TLS handshake (ConnectTimeout)."""

    async def main() -> None:
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen(16)
            port = silent.getsockname()[1]
            async with client(timeout=httpx.Timeout(5.0, read=0.3)) as c:
                t0 = time.monotonic()
                with pytest.raises(httpx.ReadTimeout):
                    await c.get(f"http://127.0.0.1:{port}/")
                assert time.monotonic() - t0 < 3
            async with client(timeout=httpx.Timeout(5.0, connect=0.3)) as c:
                t0 = time.monotonic()
                with pytest.raises(httpx.ConnectTimeout):
                    await c.get(f"https://127.0.0.1:{port}/")
                assert time.monotonic() - t0 < 3

    run(main)


def test_http_over_nginx_unix_socket(run: Run, nginx: Nginx) -> None:
    """``uds=``: httpx's requests over a Unix socket nginx listens on, kept alive."""

    async def main() -> None:
        async with client(uds=str(nginx.root / "plain.sock")) as c:
            first = await c.get("http://localhost/")
            second = await c.post("http://localhost/", content=b"x" * 100)
            assert first.status_code == 200
            assert first.text == "hello GET \n"
            assert second.text == "hello POST 100\n"
            assert first.headers["x-conn"] == second.headers["x-conn"]  # one connection

    run(main)


def test_uds_to_a_missing_path_is_a_connect_error(run: Run, tmp_path: Path) -> None:
    async def main() -> None:
        async with client(uds=str(tmp_path / "none.sock")) as c:
            with pytest.raises(httpx.ConnectError, match=r"none\.sock"):
                await c.get("http://localhost/")

    run(main)


def test_tls_over_nginx_unix_socket(run: Run, nginx: Nginx) -> None:
    """TLS over a Unix socket: the certificate is checked against ``servername``."""

    async def main() -> None:
        sock = await unisock.connect(
            type="tls",
            remote=f"unix:{nginx.root}/tls.sock",
            servername="localhost",
            ca=nginx.ca.cert_pem.bytes(),
        )
        assert sock.info.remote == unisock.SocketAddress(path=f"{nginx.root}/tls.sock")
        assert sock.info.cipher is not None
        writer = sock.writable.get_writer()
        await writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        body = b"".join([chunk async for chunk in sock.readable])
        assert body.startswith(b"HTTP/1.1 200 OK")
        assert body.endswith(b"hello GET \n")
        await sock.close()

    run(main)


def test_plain_httpcore_pool(run: Run, nginx: Nginx) -> None:
    """httpcore used directly, with ``network_backend=UnisockBackend()``."""

    async def main() -> None:
        async with httpcore.AsyncConnectionPool(
            ssl_context=nginx.ctx(), http2=True, network_backend=unisock.httpx.UnisockBackend()
        ) as pool:
            r = await pool.request("GET", f"https://127.0.0.1:{nginx.https}/")
            assert r.status == 200 and r.extensions["http_version"] == b"HTTP/2"
            r = await pool.request("GET", f"http://127.0.0.1:{nginx.http}/")
            assert r.status == 200 and r.content == b"hello GET \n"

    run(main)


def test_httpcore2_pool(run: Run, nginx: Nginx, tmp_path: Path) -> None:
    """httpcore2 (same backend interface): HTTP/2 over TLS, HTTP/1.1, a Unix socket, and
    its own error types."""
    httpcore2 = pytest.importorskip("httpcore2")

    async def main() -> None:
        backend = unisock.httpx.httpcore2_backend()
        async with httpcore2.AsyncConnectionPool(
            ssl_context=nginx.ctx(), http2=True, network_backend=backend
        ) as pool:
            r = await pool.request("GET", f"https://127.0.0.1:{nginx.https}/")
            assert r.status == 200 and r.extensions["http_version"] == b"HTTP/2"
            r = await pool.request("GET", f"http://127.0.0.1:{nginx.http}/")
            assert r.status == 200 and r.content == b"hello GET \n"
        async with httpcore2.AsyncConnectionPool(
            uds=str(nginx.root / "plain.sock"), network_backend=backend
        ) as pool:
            r = await pool.request("GET", "http://localhost/")
            assert r.content == b"hello GET \n"
        with refusing_port() as port:
            async with httpcore2.AsyncConnectionPool(network_backend=backend) as pool:
                with pytest.raises(httpcore2.ConnectError):
                    await pool.request("GET", f"http://127.0.0.1:{port}/")

    run(main)


# -- through a CONNECT proxy -------------------------------------------------------------


@dataclass
class Proxy:
    port: int
    log: Path


@pytest.fixture
def tinyproxy(nginx: Nginx, tmp_path: Path, peer: Peers) -> Proxy:
    program = need("tinyproxy")
    log = tmp_path / "tinyproxy.log"
    conf = tmp_path / "tinyproxy.conf"

    def configure(port: int) -> list[str]:
        conf.write_text(
            f"""Port {port}
Listen 127.0.0.1
Allow 127.0.0.1
ConnectPort {nginx.https}
Timeout 30
MaxClients 20
LogLevel Info
LogFile "{log}"
PidFile "{tmp_path}/tinyproxy.pid"
"""
        )
        return [program, "-d", "-c", str(conf)]

    _, (port,) = peer.on_free_ports(configure, stderr=subprocess.PIPE)
    return Proxy(port, log)  # the peer fixture stops it


def test_https_through_connect_proxy(run: Run, nginx: Nginx, tinyproxy: Proxy) -> None:
    proxy = f"http://127.0.0.1:{tinyproxy.port}"

    async def main() -> None:
        for http2, version in ((False, "HTTP/1.1"), (True, "HTTP/2")):
            async with client(verify=nginx.ctx(), proxy=proxy, http2=http2) as c:
                rs = [await c.get(f"https://localhost:{nginx.https}/") for _ in range(3)]
                assert [r.http_version for r in rs] == [version] * 3
                assert len({r.headers["x-conn"] for r in rs}) == 1  # one tunnel, reused
                stream = rs[0].extensions["network_stream"]
                # the TCP connection is the proxy's; TLS runs end to end with nginx
                assert stream.get_extra_info("server_addr")[1] == tinyproxy.port
                assert stream.socket.info.servername == "localhost"
                r = await c.get(f"https://localhost:{nginx.https}/big")
                assert r.content == BIG
        log = tinyproxy.log.read_text(errors="replace")
        assert "CONNECT" in log, log[-2000:]

    run(main, timeout=90)


def test_proxy_refusing_the_port_is_an_error(run: Run, nginx: Nginx, tinyproxy: Proxy) -> None:
    proxy = f"http://127.0.0.1:{tinyproxy.port}"

    async def main() -> None:
        async with client(verify=nginx.ctx(), proxy=proxy) as c:
            with pytest.raises(httpx.ProxyError):  # ConnectPort allows nginx's port only
                await c.get(f"https://localhost:{nginx.http}/")

    run(main)


# -- the ssl_context TLS field the backend relies on -------------------------------------


def test_ssl_context_field_is_checked() -> None:
    async def main() -> None:
        ctx = ssl.create_default_context()
        remote = ("127.0.0.1", 9)
        for bad in ({"ca": b"x"}, {"verify": False}, {"alpn": ["h2"]}):
            with pytest.raises(ValueError, match="ssl_context"):
                unisock.Socket(type="tls", remote=remote, ssl_context=ctx, **bad)
        with pytest.raises(ValueError, match="ssl_context needs type 'tls'"):
            unisock.Socket(type="tcp", remote=remote, ssl_context=ctx)
        with pytest.raises(ValueError, match="QUIC"):
            unisock.Socket(type="quic", alpn=["h3"], remote=remote, ssl_context=ctx)
        with pytest.raises(TypeError, match=r"ssl_context must be an ssl\.SSLContext"):
            unisock.Socket(type="tls", remote=remote, ssl_context="ctx")
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with pytest.raises(ValueError, match="only a TLS client"):
            unisock.Socket(type="tls", remote=remote, ssl_context=server)

    asyncio.run(main())


def test_ssl_context_on_connect_and_starttls(run: Run, nginx: Nginx) -> None:
    """``type="tls"`` with ``ssl_context``, and ``update(type="tls", ssl_context=...)``:
    the context's trust and ALPN are used as they are."""

    async def main() -> None:
        ctx = nginx.ctx()
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        remote = ("127.0.0.1", nginx.https)
        async with await unisock.connect(
            type="tls", remote=remote, servername="localhost", ssl_context=ctx
        ) as s:
            assert s.info.type == "h2" and s.info.verification_status == "ok"
        s = await unisock.connect(remote=remote)
        await s.update(type="tls", ssl_context=ctx, servername="localhost")
        assert s.info.type == "h2" and s.info.servername == "localhost"
        await s.close()
        s = await unisock.connect(remote=remote)
        with pytest.raises(unisock.errors.TLSError):
            await s.update(
                type="tls", ssl_context=ssl.create_default_context(), servername="localhost"
            )
        with pytest.raises(unisock.errors.TLSError):  # a failed handshake fails the socket
            await s.closed

    run(main)
