"""TLSTransport and the TLS settings, against openssl s_server/s_client and curl."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from tests import rt
from tests.conftest import eventually, tcp_unread
from tests.rt_transports import connect, serve
from tests.tls_util import (
    Pki,
    expired,
    make_pki,
    need,
    open_fds,
    openssl_server,
    run_peer,
)

from unisock._transports.tls.config import (
    CipherInfo,
    EphemeralKeyInfo,
    SessionCache,
    TLSOptions,
    client_context,
    server_context,
)
from unisock._transports.tls.transport import TLSTransport
from unisock.errors import NetworkError, TLSError

pytestmark = [pytest.mark.timeout(30), pytest.mark.trio]
Run = Callable[..., Any]  # conftest's ``run`` fixture: each test on asyncio, uvloop and trio


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


# -- small protocols -----------------------------------------------------------------------


class Collect(asyncio.Protocol):
    """Collects what arrives; ``lost`` settles with connection_lost's argument."""

    def __init__(self, keep_open: bool = False) -> None:
        self.data = bytearray()
        self.eof = False
        self.keep_open = keep_open
        self.lost: Any = rt.future()  # settles with connection_lost's argument
        self.grew = rt.Event()
        self.paused_writing = 0
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert type(data) is bytes
        self.data += data
        self.grew.set()

    def eof_received(self) -> bool:
        self.eof = True
        self.grew.set()
        return self.keep_open

    def pause_writing(self) -> None:
        self.paused_writing += 1

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)
        self.grew.set()

    async def until(self, marker: bytes) -> None:
        while marker not in self.data:
            self.grew = rt.Event()  # trio's Event cannot be cleared: a new one
            if self.lost.done():
                raise AssertionError(f"lost before {marker!r}: {bytes(self.data[-200:])!r}")
            await self.grew.wait()


async def tls_connect(
    port: int, opts: TLSOptions, proto: asyncio.Protocol | None = None, **kw: Any
) -> tuple[TLSTransport, Collect]:
    lower, _ = await connect(asyncio.Protocol, port)
    p = proto if proto is not None else Collect()
    kw.setdefault("host", "localhost")
    return TLSTransport(lower, p, opts, **kw), p  # type: ignore[return-value]


class TLSServer:
    """A plain TCP server that upgrades each connection to TLS at connection_made."""

    def __init__(self, opts: TLSOptions, factory: Callable[[], asyncio.Protocol]) -> None:
        self.opts = opts
        self.factory = factory
        self.transports: list[TLSTransport] = []
        self.protocols: list[Any] = []

    async def __aenter__(self) -> TLSServer:
        outer = self

        class Upgrade(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                p = outer.factory()
                outer.protocols.append(p)
                t = TLSTransport(transport, p, outer.opts)  # type: ignore[arg-type]
                t.handshake.add_done_callback(lambda d: None)
                outer.transports.append(t)

        self.serving = serve(Upgrade)
        self.port = await self.serving.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for t in self.transports:
            t.abort()
        await self.serving.__aexit__(None, None, None)
        await rt.sleep(0)


class Echo(Collect):
    """Echoes upper-cased lines; closes when it sees ``BYE``; keeps half-open on EOF."""

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self.transport.write(data.upper())
        if b"BYE" in self.data:
            self.transport.close()

    def eof_received(self) -> bool:
        self.eof = True
        self.transport.write(b"GOT EOF\n")
        self.transport.close()
        return True


def server_opts(pki: Pki, **kw: Any) -> TLSOptions:
    return TLSOptions.from_init(
        cert=str(pki.server_pem), key=str(pki.server_pem), server_side=True, **kw
    )


def client_opts(pki: Pki, **kw: Any) -> TLSOptions:
    kw.setdefault("ca", str(pki.ca_pem))
    return TLSOptions.from_init(**kw)


def der(cert_pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)


# -- against openssl s_server ---------------------------------------------------------------


def test_client_against_openssl_server(run: Run, pki: Pki) -> None:
    async def main() -> None:
        with openssl_server("-cert", str(pki.server_pem), "-www") as port:
            t, p = await tls_connect(port, client_opts(pki, session=None), pooling=False)
            t.write(b"GET / HTTP/1.0\r\n\r\n")  # queued until verified
            info = await t.handshake
            await p.until(b"</HTML>")
            t.close()
            assert await p.lost is None
        assert bytes(p.data).startswith(b"HTTP/1.0 200 ok")
        assert info.alpn is None
        assert info.servername == "localhost"
        assert info.verification_status == "ok"
        assert info.peer_certificate == der(pki.server.cert_chain_pems[0].bytes())
        assert info.certificate is None
        assert info.cipher == CipherInfo(
            "TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384", "TLSv1.3"
        )
        assert info.ephemeral_key == EphemeralKeyInfo("ECDH", "X25519", 253)
        assert "ecdsa_secp256r1_sha256" in info.signature_algorithms
        assert isinstance(info.session, ssl.SSLSession)
        assert info.session_reused is False
        assert info.ticket is None  # TLS 1.3 tickets travel encrypted
        assert t.get_extra_info("peercert")["subjectAltName"][0] == ("DNS", "localhost")
        assert t.get_extra_info("cipher")[0] == "TLS_AES_256_GCM_SHA384"
        assert t.get_extra_info("ssl_object").version() == "TLSv1.3"
        assert t.get_extra_info("peername")[1] == port

    run(main)


def test_tls12_info_names_and_ticket(run: Run, pki: Pki) -> None:
    async def main() -> dict[str, Any]:
        with openssl_server(
            "-cert", str(pki.server_pem), "-www", "-tls1_2", "-groups", "P-256"
        ) as port:
            t, p = await tls_connect(port, client_opts(pki), pooling=False)
            t.write(b"GET / HTTP/1.0\r\n\r\n")
            info = await t.handshake
            await p.until(b"</HTML>")
            t.close()
            await p.lost
            return info

    info = run(main)
    assert info.cipher == CipherInfo(
        "ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLSv1.2"
    )
    assert info.ephemeral_key == EphemeralKeyInfo("ECDH", "prime256v1", 256)
    assert isinstance(info.ticket, bytes) and len(info.ticket) > 32
    assert info.session.has_ticket


def test_alpn_with_openssl_server(run: Run, pki: Pki) -> None:
    async def main() -> str:
        with openssl_server("-cert", str(pki.server_pem), "-www", "-alpn", "h2,http/1.1") as port:
            t, p = await tls_connect(port, client_opts(pki, alpn=["http/1.1", "h2"]))
            info = await t.handshake
            t.close()
            await p.lost
            return str(info.alpn)

    assert run(main) == "h2"  # the server chooses, in its own order


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_mutual_tls_with_openssl_server(run: Run, version: str, pki: Pki) -> None:
    """-Verify requires a client certificate: with one it works, without it fails."""
    key = pki.client.private_key_pem.bytes()
    chain = [x509.load_pem_x509_certificate(c.bytes()) for c in pki.client.cert_chain_pems]
    key_obj = serialization.load_pem_private_key(key, None)

    async def main() -> tuple[dict[str, Any], BaseException | None]:
        with openssl_server(
            "-cert",
            str(pki.server_pem),
            "-www",
            "-Verify",
            "2",
            "-CAfile",
            str(pki.ca_pem),
            "-verify_return_error",
            version,
            "-naccept",
            "2",
        ) as port:
            t, p = await tls_connect(port, client_opts(pki, cert=chain, key=key_obj))
            t.write(b"GET / HTTP/1.0\r\n\r\n")
            info = await t.handshake
            await p.until(b"</HTML>")
            t.close()
            await p.lost
            # without a certificate
            t2, p2 = await tls_connect(port, client_opts(pki), pooling=False)
            t2.write(b"GET / HTTP/1.0\r\n\r\n")
            try:
                await t2.handshake
            except TLSError as exc:  # TLS 1.2: s_server's generic alert
                assert "certificate" in str(exc) or "alert handshake failure" in str(exc)
            return info, await p2.lost

    info, lost = run(main)
    assert info.certificate == der(pki.client.cert_chain_pems[0].bytes())
    assert b"client.example" not in (info.peer_certificate or b"")
    # TLS 1.2 fails the handshake; TLS 1.3 finishes it on the client, and the server's
    # "certificate required" alert ends the connection right after.
    assert isinstance(lost, TLSError)
    assert ("certificate required" if version == "-tls1_3" else "handshake failure") in str(lost)


# -- verification failures -------------------------------------------------------------------


def _verification_failure(
    run: Run, pki: Pki, cert_path: Path | None, **client: Any
) -> tuple[Any, bytes]:
    async def main() -> tuple[Any, bytes]:
        opts = server_opts(pki)
        if cert_path is not None:
            opts = TLSOptions.from_init(cert=cert_path, key=cert_path, server_side=True)
        async with TLSServer(opts, Collect) as srv:
            t, p = await tls_connect(srv.port, client_opts(pki, **client), pooling=False)
            t.write(b"secret before verification")
            with pytest.raises(TLSError) as info:
                await t.handshake
            assert isinstance(await p.lost, TLSError)
            await rt.wait_for(srv.protocols[0].lost, 5)  # the server's side is over too
            return info.value, bytes(srv.protocols[0].data)

    return run(main)


def test_unknown_ca(run: Run, pki: Pki, tmp_path: Path) -> None:
    other = make_pki(tmp_path)
    exc, leaked = _verification_failure(run, pki, None, ca=str(other.ca_pem))
    assert exc.verification_status == "unable to get local issuer certificate"
    assert "unable to get local issuer certificate" in str(exc)
    assert leaked == b""


def test_wrong_name(run: Run, pki: Pki) -> None:
    exc, leaked = _verification_failure(run, pki, None, servername="wrong.example")
    assert "Hostname mismatch" in exc.verification_status
    assert "wrong.example" in str(exc)
    assert leaked == b""


def test_expired_certificate(run: Run, pki: Pki) -> None:
    _, path = expired(pki)
    exc, leaked = _verification_failure(run, pki, path)
    assert exc.verification_status == "certificate has expired"
    assert leaked == b""


def test_verify_false_is_explicit(run: Run, pki: Pki, tmp_path: Path) -> None:
    other = make_pki(tmp_path)

    async def main() -> dict[str, Any]:
        async with TLSServer(server_opts(pki), Collect) as srv:
            t, p = await tls_connect(
                srv.port, TLSOptions.from_init(ca=str(other.ca_pem), verify=False)
            )
            info = await t.handshake
            t.close()
            await p.lost
            return info

    info = run(main)
    assert info.verification_status is None
    assert info.peer_certificate is not None
    assert client_context(TLSOptions.from_init()).verify_mode == ssl.CERT_REQUIRED


@pytest.mark.parametrize("hangup", ["close", "abort"])  # FIN or RST, before any reply
def test_peer_closes_during_handshake(run: Run, hangup: str) -> None:
    async def main() -> BaseException:
        class Hangup(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                getattr(transport, hangup)()

        async with serve(Hangup) as port:
            t, p = await tls_connect(port, TLSOptions.from_init(verify=False))
            with pytest.raises(NetworkError) as info:
                await t.handshake
            assert isinstance(await p.lost, NetworkError)
        return info.value

    assert "handshake" in str(run(main))


# -- our server against openssl s_client, curl ---------------------------------------------


def test_server_against_openssl_client(run: Run, pki: Pki) -> None:
    need("openssl")

    async def main() -> tuple[int, bytes, Any]:
        async with TLSServer(server_opts(pki, alpn=["x-test"]), Echo) as srv:
            rc, out, err = await run_peer(
                [
                    "openssl",
                    "s_client",
                    "-connect",
                    f"127.0.0.1:{srv.port}",
                    "-quiet",
                    "-CAfile",
                    str(pki.ca_pem),
                    "-verify_return_error",
                    "-verify_hostname",
                    "localhost",
                    "-servername",
                    "localhost",
                    "-alpn",
                    "x-test",
                    "-ign_eof",
                ],
                stdin=b"hello\nBYE\n",
            )
            info = await srv.transports[0].handshake
            return rc, out, info

    rc, out, info = run(main)
    assert rc == 0
    assert out == b"HELLO\nBYE\n"
    assert info.alpn == "x-test"
    assert info.servername == "localhost"
    assert info.certificate == der(pki.server.cert_chain_pems[0].bytes())
    assert info.peer_certificate is None and info.verification_status is None


def test_server_mutual_tls_against_openssl_client(run: Run, pki: Pki) -> None:
    need("openssl")

    async def main() -> tuple[bytes, dict[str, Any], BaseException | None]:
        async with TLSServer(server_opts(pki, ca=str(pki.ca_pem)), Echo) as srv:
            base = [
                "openssl",
                "s_client",
                "-connect",
                f"127.0.0.1:{srv.port}",
                "-quiet",
                "-CAfile",
                str(pki.ca_pem),
                "-ign_eof",
            ]
            rc, out, _ = await run_peer([*base, "-cert", str(pki.client_pem)], b"hi\nBYE\n")
            assert rc == 0
            info = await srv.transports[0].handshake
            await run_peer(base, b"BYE\n")
            with pytest.raises(TLSError):
                await srv.transports[1].handshake
            return out, info, await srv.protocols[1].lost

    out, info, lost = run(main)
    assert out == b"HI\nBYE\n"
    assert info.peer_certificate == der(pki.client.cert_chain_pems[0].bytes())
    assert info.verification_status == "ok"
    assert isinstance(lost, TLSError) and "certificate" in str(lost)


def test_curl_fetches_from_our_server(run: Run, pki: Pki) -> None:
    need("curl")

    class Http(Collect):
        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if b"\r\n\r\n" in self.data:
                self.transport.write(
                    b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                    + b"hello from unisock\n" * 1000
                )
                self.transport.close()

    async def main() -> tuple[int, bytes, bytes]:
        async with TLSServer(server_opts(pki, alpn=["http/1.1"]), Http) as srv:
            return await run_peer(
                [
                    "curl",
                    "-sS",
                    "--http1.0",
                    "--cacert",
                    str(pki.ca_pem),
                    "--resolve",
                    f"localhost:{srv.port}:127.0.0.1",
                    f"https://localhost:{srv.port}/",
                ]
            )

    rc, out, err = run(main)
    assert rc == 0, err
    assert out == b"hello from unisock\n" * 1000


# -- STARTTLS ------------------------------------------------------------------------------


class Smtp(asyncio.Protocol):
    """An SMTP-like responder: 220 banner, EHLO -> STARTTLS offer, upgrades in place."""

    def __init__(self, opts: TLSOptions) -> None:
        self.opts = opts
        self.buf = b""
        self.tls: TLSTransport | None = None
        self.lines: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport
        transport.write(b"220 localhost ESMTP ready\r\n")  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n" in self.buf and self.tls is None:
            line, self.buf = self.buf.split(b"\r\n", 1)
            self.answer(line)

    def answer(self, line: bytes) -> None:
        self.lines.append(line)
        verb = line.split(b" ")[0].upper()
        w = self.tls.write if self.tls is not None else self.transport.write
        if verb == b"EHLO":
            w(
                b"250-localhost\r\n"
                + (b"250 STARTTLS\r\n" if self.tls is None else b"250 SECURE\r\n")
            )
        elif verb == b"STARTTLS" and self.tls is None:
            w(b"220 Go ahead\r\n")
            rest, self.buf = self.buf, b""
            self.tls = TLSTransport(self.transport, _Lines(self), self.opts, initial_data=rest)
            self.tls.handshake.add_done_callback(lambda d: None)
        elif verb == b"QUIT":
            w(b"221 bye\r\n")
            (self.tls or self.transport).close()
        else:
            w(b"250 ok\r\n")


class _Lines(asyncio.Protocol):
    def __init__(self, smtp: Smtp) -> None:
        self.smtp = smtp
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n" in self.buf:
            line, self.buf = self.buf.split(b"\r\n", 1)
            self.smtp.answer(line)


def test_starttls_smtp_with_openssl_client(run: Run, pki: Pki) -> None:
    need("openssl")

    async def main() -> tuple[int, bytes, list[bytes], dict[str, Any]]:
        smtps: list[Smtp] = []

        def factory() -> Smtp:
            smtps.append(Smtp(server_opts(pki)))
            return smtps[-1]

        async with serve(factory) as port:
            rc, out, _ = await run_peer(
                [
                    "openssl",
                    "s_client",
                    "-starttls",
                    "smtp",
                    "-connect",
                    f"127.0.0.1:{port}",
                    "-quiet",
                    "-CAfile",
                    str(pki.ca_pem),
                    "-verify_return_error",
                    "-ign_eof",
                ],
                stdin=b"EHLO again\r\nQUIT\r\n",
            )
            assert smtps[0].tls is not None
            info = await smtps[0].tls.handshake
        return rc, out, smtps[0].lines, info

    rc, out, lines, info = run(main)
    assert rc == 0
    assert b"250 SECURE" in out and b"221 bye" in out
    assert lines[-2:] == [b"EHLO again", b"QUIT"]
    assert lines[1] == b"STARTTLS"
    assert info.cipher.version == "TLSv1.3"


def test_starttls_keeps_bytes_sent_with_the_upgrade(run: Run, pki: Pki) -> None:
    """Plaintext and the ClientHello arrive in one segment: none of it is lost or mixed."""

    async def main() -> bytes:
        got: list[Collect] = []

        class Prefix(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.t = transport
                self.buf = b""

            def data_received(self, data: bytes) -> None:
                self.buf += data
                if b"\n" in self.buf:
                    line, rest = self.buf.split(b"\n", 1)
                    assert line == b"UPGRADE"
                    got.append(Echo())
                    TLSTransport(
                        self.t,
                        got[-1],
                        server_opts(pki),  # type: ignore[arg-type]
                        initial_data=rest,
                    ).handshake.add_done_callback(lambda d: None)

        async with serve(Prefix) as port:
            lower, _ = await connect(asyncio.Protocol, port)
            lower.pause_reading()
            lower.write(b"UPGRADE\n")  # the ClientHello follows in the same loop pass
            p = Collect()
            t = TLSTransport(lower, p, client_opts(pki), host="localhost")
            t.write(b"after upgrade\nBYE")
            await t.handshake
            assert await p.lost is None
        return bytes(p.data)

    assert run(main) == b"AFTER UPGRADE\nBYE"


# -- sessions --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_session_resumption_through_the_cache(run: Run, version: str, pki: Pki) -> None:
    cache = SessionCache(maxsize=4)

    async def main() -> list[bool]:
        reused = []
        with openssl_server("-cert", str(pki.server_pem), "-www", version, "-naccept", "3") as port:
            for _ in range(3):
                t, p = await tls_connect(port, client_opts(pki), cache=cache)
                t.write(b"GET / HTTP/1.0\r\n\r\n")
                info = await t.handshake
                await p.until(b"</HTML>")  # TLS 1.3: the tickets came with the reply
                t.close()
                await p.lost
                reused.append(info.session_reused)
        return reused

    assert run(main) == [False, True, True]
    assert len(cache) == 1


def test_explicit_session_resumes_without_pooling(run: Run, pki: Pki) -> None:
    async def main() -> tuple[bool, bool]:
        async with TLSServer(server_opts(pki), Echo) as srv:
            t, p = await tls_connect(srv.port, client_opts(pki), pooling=False)
            t.write(b"x\nBYE")
            await t.handshake
            await p.lost
            session = t.tls_info().session
            t2, p2 = await tls_connect(srv.port, client_opts(pki, session=session), pooling=False)
            t2.write(b"BYE")
            info = await t2.handshake
            await p2.lost
            return session.has_ticket, info.session_reused

    assert run(main) == (True, True)


# -- closing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("allow", [False, True])
def test_close_notify_versus_truncation(run: Run, allow: bool, pki: Pki) -> None:
    class Truncate(Collect):
        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self.transport.write(b"partial answer")
            lower = self.transport._lower  # close TCP under TLS: no close_notify
            rt.runtime().call_later(0.05, lower.close)

    async def main() -> tuple[bool, BaseException | None, bytes]:
        async with TLSServer(server_opts(pki), Truncate) as srv:
            t, p = await tls_connect(srv.port, client_opts(pki), allow_truncation=allow)
            t.write(b"go")
            exc = await p.lost
            return p.eof, exc, bytes(p.data)

    eof, exc, data = run(main)
    assert data == b"partial answer"
    if allow:
        assert eof and exc is None
    else:
        assert not eof and isinstance(exc, TLSError)
        assert "truncated: the peer closed without close_notify" in str(exc)


def test_write_eof_half_close(run: Run, pki: Pki) -> None:
    async def main() -> tuple[bytes, bool, BaseException | None]:
        async with TLSServer(server_opts(pki), Echo) as srv:
            t, p = await tls_connect(srv.port, client_opts(pki))
            assert t.can_write_eof()
            t.write(b"abc\n")
            t.write_eof()
            with pytest.raises(RuntimeError):
                t.write(b"more")
            exc = await p.lost
            return bytes(p.data), p.eof, exc

    data, eof, exc = run(main)
    assert data == b"ABC\nGOT EOF\n"
    assert eof and exc is None


def test_close_is_bounded_when_peer_stops_reading(run: Run, pki: Pki) -> None:
    async def main() -> float:
        class Stall(Collect):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                super().connection_made(transport)
                transport.pause_reading()  # type: ignore[attr-defined]

        async with TLSServer(server_opts(pki), Stall) as srv:
            t, p = await tls_connect(srv.port, client_opts(pki), close_timeout=0.3)
            await t.handshake
            blob = b"z" * (1 << 20)
            while not p.paused_writing:
                t.write(blob)
                await rt.sleep(0)
            start = rt.now()
            t.close()
            await p.lost
            return rt.now() - start

    assert run(main) < 2


def test_read_backpressure(run: Run, pki: Pki) -> None:
    total = 8 << 20

    class Source(Collect):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            transport.write(b"y" * total)  # type: ignore[attr-defined]
            transport.close()

    async def main() -> tuple[int, int]:
        async with TLSServer(server_opts(pki), Source) as srv:
            t, p = await tls_connect(srv.port, client_opts(pki))
            await p.grew.wait()
            t.pause_reading()
            assert not t.is_reading()
            seen = len(p.data)
            port = t.get_extra_info("sockname")[1]
            # more has arrived (it waits in the kernel), and loop turns in which reading
            # would deliver it pass
            await eventually(lambda: tcp_unread(port) > 0, what="bytes waiting in the kernel")
            for _ in range(3):
                await rt.sleep(0)
            held = len(p.data) - seen
            t.resume_reading()
            assert await p.lost is None
            return held, len(p.data)

    held, got = run(main)
    assert held == 0
    assert got == total


def test_no_fd_leaks(run: Run, pki: Pki) -> None:
    async def main() -> None:
        async with TLSServer(server_opts(pki), Echo) as srv:
            for i in range(10):
                t, p = await tls_connect(srv.port, client_opts(pki))
                t.write(b"ping\nBYE")
                if i % 3 == 2:
                    t.abort()
                assert (await p.lost) is None
            # every server side has ended too
            await rt.wait_for(rt.gather(*(q.lost for q in srv.protocols)), 5)

    run(main)  # warm up: contexts, imports
    before = open_fds()
    run(main)
    assert open_fds() == before


# -- options --------------------------------------------------------------------------------


def test_accepted_key_and_cert_forms(pki: Pki, tmp_path: Path) -> None:
    key_pem = pki.server.private_key_pem.bytes()
    chain_pem = b"".join(c.bytes() for c in pki.server.cert_chain_pems)
    key_obj = serialization.load_pem_private_key(key_pem, None)
    key_der = key_obj.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    certs = x509.load_pem_x509_certificates(chain_pem)
    (tmp_path / "k.der").write_bytes(key_der)
    reference = TLSOptions.from_init(key=key_pem, cert=chain_pem, server_side=True)
    for key in (
        key_obj,
        key_pem,
        key_pem.decode(),
        key_der,
        tmp_path / "k.der",
        str(pki.server_pem),
    ):
        for cert in (certs, chain_pem, chain_pem.decode(), str(pki.server_pem)):
            opts = TLSOptions.from_init(key=key, cert=cert, server_side=True)
            assert opts == reference
            assert opts.fingerprint == reference.fingerprint
    leaf_der = certs[0].public_bytes(serialization.Encoding.DER)
    assert TLSOptions.from_init(key=key_obj, cert=leaf_der).cert == (leaf_der,)
    ca_der = pki.ca.cert_pem.bytes()
    ca_opts = TLSOptions.from_init(ca=[ca_der, str(pki.ca_pem), certs[0]])
    assert ca_opts.ca is not None and len(ca_opts.ca) == 3
    assert server_context(reference) is server_context(
        TLSOptions.from_init(key=key_obj, cert=certs, server_side=True)
    )  # cached by content


@pytest.mark.parametrize(
    ("fields", "error", "words"),
    [
        ({"key": 42, "cert": b"x"}, TypeError, ["key", "int"]),
        ({"cert": 3.5}, TypeError, ["cert", "float"]),
        ({"ca": "/nonexistent/ca.pem"}, ValueError, ["ca", "/nonexistent/ca.pem"]),
        ({"ca": b"not a certificate"}, ValueError, ["ca", "not a certificate"]),
        ({"ca": [[b"x"]]}, TypeError, ["ca", "nested"]),
        (
            {"key": b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
            ValueError,
            ["key"],
        ),
        ({"verify": "yes"}, TypeError, ["verify", "'yes'"]),
        ({"servername": 7}, TypeError, ["servername", "int"]),
        ({"servername": ""}, ValueError, ["servername"]),
        ({"alpn": [b"h2"]}, TypeError, ["alpn", "b'h2'"]),
        ({"alpn": [""]}, ValueError, ["alpn"]),
        ({"alpn": 5}, TypeError, ["alpn", "int"]),
        ({"session": b"abc"}, TypeError, ["session", "bytes"]),
        ({"server_side": True}, ValueError, ["cert", "server needs"]),
    ],
)
def test_option_errors_name_the_field(
    fields: dict[str, Any], error: type[Exception], words: list[str]
) -> None:
    with pytest.raises(error) as info:
        TLSOptions.from_init(**fields)
    for word in words:
        assert word in str(info.value)


def test_key_must_match_cert(pki: Pki) -> None:
    with pytest.raises(ValueError, match="key: does not match"):
        TLSOptions.from_init(
            key=pki.client.private_key_pem.bytes(), cert=pki.server.cert_chain_pems[0].bytes()
        )
    with pytest.raises(ValueError, match="cert and key must be given together"):
        TLSOptions.from_init(key=pki.client.private_key_pem.bytes())


def test_contexts() -> None:
    opts = TLSOptions.from_init(alpn="h2")
    ctx = client_context(opts)
    assert ctx is client_context(TLSOptions.from_init(alpn=["h2"]))
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.check_hostname and ctx.cert_store_stats()["x509_ca"] > 0
    insecure = client_context(TLSOptions.from_init(verify=False))
    assert insecure.verify_mode == ssl.CERT_NONE and not insecure.check_hostname
    with pytest.raises(ValueError, match="server_side"):
        server_context(opts)


def _server_hello(group: int) -> bytes:
    """A TLS 1.3 ServerHello record whose key_share names ``group`` (as a server sends)."""
    share = group.to_bytes(2, "big") + (4).to_bytes(2, "big") + b"\x11" * 4
    extensions = (
        (43).to_bytes(2, "big")
        + (2).to_bytes(2, "big")
        + b"\x03\x04"  # supported_versions
        + (51).to_bytes(2, "big")
        + len(share).to_bytes(2, "big")
        + share  # key_share
    )
    body = (
        b"\x03\x03"
        + b"\x00" * 32
        + b"\x00"  # legacy version, random, empty session id
        + b"\x13\x01"
        + b"\x00"  # TLS_AES_128_GCM_SHA256, no compression
        + len(extensions).to_bytes(2, "big")
        + extensions
    )
    message = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + len(message).to_bytes(2, "big") + message


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        (0x11EC, EphemeralKeyInfo("KEM", "X25519MLKEM768", 768)),  # OpenSSL 3.5's default
        (0x11EB, EphemeralKeyInfo("KEM", "SecP256r1MLKEM768", 768)),
        (0x11ED, EphemeralKeyInfo("KEM", "SecP384r1MLKEM1024", 1024)),
        (0x0201, EphemeralKeyInfo("KEM", "MLKEM768", 768)),
        (0x001F, EphemeralKeyInfo("ECDH", "brainpoolP256r1tls13", 256)),
        (0x001E, EphemeralKeyInfo("ECDH", "X448", 448)),
        (0x0101, EphemeralKeyInfo("DH", "ffdhe3072", 3072)),
        (0xFAFA, EphemeralKeyInfo("unknown", "0xfafa", 0)),  # GREASE: not a group
    ],
)
def test_ephemeral_key_names_current_groups(group: int, expected: EphemeralKeyInfo) -> None:
    """The key exchange group is read from the ServerHello; the IANA registry's current
    groups (post-quantum hybrids included) are named, not reported as "unknown"."""
    from unisock._transports.tls.names import HandshakeObserver

    record = _server_hello(group)
    for split in (len(record), 7):  # whole, and cut inside the record
        observer = HandshakeObserver(server_side=False)
        observer.feed(record[:split], outgoing=False)
        observer.feed(record[split:], outgoing=False)
        assert observer.group is not None
        assert EphemeralKeyInfo(*observer.group) == expected
        assert observer.cipher_code == 0x1301
    # QUIC carries the same message without the record layer.
    observer = HandshakeObserver(server_side=False)
    observer.feed_messages(record[5:], outgoing=False)
    assert observer.group is not None and EphemeralKeyInfo(*observer.group) == expected


@pytest.mark.parametrize("groups", ["ffdhe2048", "X448"])
def test_ephemeral_key_against_openssl_groups(run: Run, groups: str, pki: Pki) -> None:
    """A real server picking a finite-field or X448 group (after a HelloRetryRequest)."""

    async def main() -> dict[str, Any]:
        with openssl_server("-cert", str(pki.server_pem), "-www", "-groups", groups) as port:
            t, p = await tls_connect(port, client_opts(pki), pooling=False)
            info = await t.handshake
            t.abort()
            await p.lost
            return info

    info = run(main)
    expected = {
        "ffdhe2048": EphemeralKeyInfo("DH", "ffdhe2048", 2048),
        "X448": EphemeralKeyInfo("ECDH", "X448", 448),
    }[groups]
    assert info.ephemeral_key == expected
