"""TLS sockets through the public API: real peers (openssl, curl),
verification failures, resumption, STARTTLS in place on both sides."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from tests import rt
from tests.conftest import background, eventually
from tests.tls_util import Pki, expired, make_pki, openssl_server, run_peer

import unisock
from unisock import errors
from unisock import testing as conformance  # read_all, settled

pytestmark = pytest.mark.trio  # every test that takes `run` runs on trio too


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


def server_opts(pki: Pki) -> dict[str, Any]:
    return {
        "cert": pki.server.cert_chain_pems[0].bytes(),
        "key": pki.server.private_key_pem.bytes(),
    }


async def expect_reversed(s: unisock.Socket, line: bytes) -> None:
    """Send a line to `openssl s_server -rev` and wait for it to come back reversed."""
    await s.writable.get_writer().write(line + b"\n")
    reader = s.readable.get_reader()
    data = b""
    while line[::-1] not in data:
        data += (await rt.wait_for(reader.read(), 5)).value
    reader.release_lock()
    await s.abort()


def tls_pair_factory(pki: Pki) -> Any:
    @contextlib.asynccontextmanager
    async def tls_pair(**opts: Any) -> AsyncIterator[tuple[unisock.Socket, unisock.Socket]]:
        sopts = {k: v for k, v in opts.items() if k != "idle_timeout"}
        async with unisock.SocketListener(type="tls", **server_opts(pki), **sopts) as listener:
            client = unisock.Socket(
                type="tls", remote=listener.local, ca=pki.ca_pem, servername="localhost", **opts
            )
            event = await listener.__anext__()
            await client.ready
            async with conformance.settled(client, event.socket):
                yield client, event.socket

    return tls_pair


TLS13_SUITES = ("TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256")


def der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def dns_names(certificate: bytes) -> list[str]:
    cert = x509.load_der_x509_certificate(certificate)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return names.get_values_for_type(x509.DNSName)


@pytest.mark.trio
def test_info_fields(run: Any, pki: Pki) -> None:
    """What each side of a TLS socket reports, by value: the version, the suite, the ALPN
    the server chose from the client's offer, the certificates and who verified whom."""

    async def main() -> None:
        sopts = server_opts(pki)
        async with unisock.SocketListener(type="tls", alpn=["h2", "x-test"], **sopts) as lst:
            s = unisock.Socket(
                type="tls",
                alpn=["x-test", "h3"],
                remote=lst.local,
                ca=pki.ca_pem,
                servername="localhost",
            )
            info = await s.ready
            server = (await lst.__anext__()).socket
            theirs = server.info
            assert info.type == theirs.type == "x-test"  # the one both sides offered
            assert info.servername == theirs.servername == "localhost"  # the SNI it got
            assert info.verification_status == "ok"
            assert theirs.verification_status is None  # no client certificate asked
            server_der = der(pki.server.cert_chain_pems[0].bytes())
            assert info.peer_certificate == theirs.certificate == server_der
            assert "localhost" in dns_names(info.peer_certificate)
            assert info.certificate is None and theirs.peer_certificate is None
            assert info.cipher == theirs.cipher
            assert info.cipher is not None and info.cipher.version == "TLSv1.3"
            assert info.cipher.name == info.cipher.standard_name  # TLS 1.3: IANA names
            assert info.cipher.name in TLS13_SUITES
            assert info.ephemeral_key == theirs.ephemeral_key
            assert info.ephemeral_key is not None and info.ephemeral_key.type == "ECDH"
            assert info.ephemeral_key.size >= 253
            assert info.signature_algorithms and "ecdsa_secp256r1_sha256" in (
                info.signature_algorithms  # the server's key is ECDSA P-256
            )
            assert info.session_reused is False and theirs.session_reused is False
            assert info.remote == theirs.local and info.local == theirs.remote
            await s.close()
            await server.close()

    run(main)


def test_info_of_tls12_against_openssl(run: Any, pki: Pki) -> None:
    """Against ``openssl s_server -tls1_2``: the version, OpenSSL's and the IANA name of
    an ECDHE-ECDSA suite, the ALPN it chose, and its certificate verified."""
    with openssl_server("-cert", str(pki.server_pem), "-tls1_2", "-alpn", "x-echo", "-rev") as port:

        async def main() -> None:
            s = unisock.Socket(
                type="tls",
                alpn=["x-echo"],
                remote=("127.0.0.1", port),
                ca=pki.ca_pem,
                servername="localhost",
            )
            info = await s.ready
            assert info.type == "x-echo"
            assert info.verification_status == "ok"
            assert info.peer_certificate == der(pki.server.cert_chain_pems[0].bytes())
            assert info.cipher is not None and info.cipher.version == "TLSv1.2"
            assert info.cipher.name.startswith("ECDHE-ECDSA-"), info.cipher
            assert info.cipher.standard_name is not None
            assert info.cipher.standard_name.startswith("TLS_ECDHE_ECDSA_WITH_"), info.cipher
            assert info.ephemeral_key is not None and info.ephemeral_key.type == "ECDH"
            await expect_reversed(s, b"twelve")

        run(main)


def test_client_against_openssl_s_server_with_alpn(run: Any, pki: Pki) -> None:
    with openssl_server("-cert", str(pki.server_pem), "-alpn", "x-echo", "-rev") as port:

        async def main() -> None:
            s = unisock.Socket(
                type="tls",
                alpn=["x-echo"],
                remote=("127.0.0.1", port),
                ca=pki.ca_pem,
                servername="localhost",
            )
            info = await s.ready
            assert info.type == "x-echo"
            await expect_reversed(s, b"hello")

        run(main)


def test_mutual_tls_against_openssl_verify(run: Any, pki: Pki) -> None:
    with openssl_server(
        "-cert", str(pki.server_pem), "-Verify", "1", "-CAfile", str(pki.ca_pem), "-rev"
    ) as port:

        async def main() -> None:
            s = unisock.Socket(
                type="tls",
                remote=("127.0.0.1", port),
                ca=pki.ca_pem,
                servername="localhost",
                cert=pki.client.cert_chain_pems[0].bytes(),
                key=pki.client.private_key_pem.bytes(),
            )
            await s.ready
            await expect_reversed(s, b"abc")

        run(main)


def test_openssl_s_client_against_listener(run: Any, pki: Pki) -> None:
    async def main() -> None:
        async with unisock.SocketListener(type="tls", alpn=["x-test"], **server_opts(pki)) as lst:
            assert lst.local is not None

            async def serve() -> None:
                async for ev in lst:
                    reader = ev.socket.readable.get_reader()
                    line = b""
                    while b"\n" not in line:
                        line += (await reader.read()).value
                    writer = ev.socket.writable.get_writer()
                    await writer.write(b"echo " + line)
                    await writer.close()

            async with background(serve()):
                rc, out, err = await run_peer(
                    [
                        "openssl",
                        "s_client",
                        "-connect",
                        f"127.0.0.1:{lst.local.port}",
                        "-CAfile",
                        str(pki.ca_pem),
                        "-servername",
                        "localhost",
                        "-alpn",
                        "x-test",
                        "-verify_return_error",
                        "-quiet",
                        "-ign_eof",
                    ],
                    stdin=b"ping over tls\n",
                )
                assert b"ping over tls" in out, err

    run(main)


def test_curl_fetches_from_listener(run: Any, pki: Pki) -> None:
    async def main() -> None:
        async with unisock.SocketListener(type="tls", **server_opts(pki)) as lst:
            assert lst.local is not None

            async def serve() -> None:
                async for ev in lst:
                    reader = ev.socket.readable.get_reader()
                    request = b""
                    while b"\r\n\r\n" not in request:
                        result = await reader.read()
                        if result.done:
                            return
                        request += result.value
                    body = b"hello curl"
                    writer = ev.socket.writable.get_writer()
                    await writer.write(
                        b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                    )
                    await writer.close()

            async with background(serve()):
                rc, out, err = await run_peer(
                    [
                        "curl",
                        "-sS",
                        "--cacert",
                        str(pki.ca_pem),
                        f"https://localhost:{lst.local.port}/",
                    ],
                )
                assert rc == 0, err
                assert out == b"hello curl"

    run(main)


@pytest.mark.trio
@pytest.mark.parametrize("case", ["unknown-ca", "wrong-name", "expired"])
def test_verification_failures(run: Any, pki: Pki, case: str) -> None:
    if case == "expired":
        leaf, _ = expired(pki)
        sopts = {"cert": leaf.cert_chain_pems[0].bytes(), "key": leaf.private_key_pem.bytes()}
    else:
        sopts = server_opts(pki)

    async def main() -> None:
        async with unisock.SocketListener(type="tls", **sopts) as lst:
            kwargs: dict[str, Any] = {"ca": pki.ca_pem, "servername": "localhost"}
            if case == "unknown-ca":
                kwargs.pop("ca")
            if case == "wrong-name":
                kwargs["servername"] = "other.example"
            s = unisock.Socket(type="tls", remote=lst.local, body=b"secret", **kwargs)
            with pytest.raises(errors.TLSError) as info:
                await s.ready
            status = info.value.verification_status or ""
            expected = {"unknown-ca": "issuer", "wrong-name": "mismatch", "expired": "expired"}
            assert expected[case] in status, status
            with pytest.raises(errors.TLSError):
                await s.closed

    run(main)


@pytest.mark.trio
def test_verify_false_only_when_asked(run: Any, pki: Pki) -> None:
    async def main() -> None:
        async with unisock.SocketListener(type="tls", **server_opts(pki)) as lst:
            s = unisock.Socket(type="tls", remote=lst.local, verify=False, body=b"x")
            info = await s.ready
            assert info.verification_status is None
            await s.close()

    run(main)


def test_starttls_with_openssl_s_client_smtp(run: Any, pki: Pki) -> None:
    """A tiny SMTP-like responder that upgrades in place with update()."""

    async def main() -> None:
        async with unisock.SocketListener() as lst:
            assert lst.local is not None
            done = rt.future()

            async def session(sock: unisock.Socket) -> None:
                reader = sock.readable.get_reader()
                writer = sock.writable.get_writer()
                buffer = b""

                async def line() -> bytes:
                    nonlocal buffer
                    while b"\r\n" not in buffer:
                        result = await reader.read()
                        if result.done:
                            raise EOFError
                        buffer += result.value
                    text, _, buffer = buffer.partition(b"\r\n")
                    return text

                await writer.write(b"220 unisock ESMTP\r\n")
                assert (await line()).upper().startswith(b"EHLO")
                await writer.write(b"250-unisock\r\n250 STARTTLS\r\n")
                assert (await line()).upper() == b"STARTTLS"
                await writer.write(b"220 Go ahead\r\n")
                assert buffer == b""
                await sock.update(type="tls", **server_opts(pki))
                assert sock.info.cipher is not None
                command = await line()
                await writer.write(b"250 secure " + command + b"\r\n")
                done.set_result(command)
                # openssl is killed next: its end is an EOF, a reset or a TLS truncation
                with contextlib.suppress(EOFError, errors.NetworkError, errors.TLSError):
                    await line()
                reader.release_lock()
                await sock.close()

            async def serve() -> None:
                async for ev in lst:
                    tasks.spawn(session(ev.socket))

            async with background() as tasks:
                tasks.spawn(serve())
                proc = await rt.exec_process(
                    "openssl",
                    "s_client",
                    "-connect",
                    f"127.0.0.1:{lst.local.port}",
                    "-starttls",
                    "smtp",
                    "-CAfile",
                    str(pki.ca_pem),
                    "-servername",
                    "localhost",
                    "-verify_return_error",
                    "-quiet",
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(b"NOOP\r\n")
                await proc.stdin.drain()
                assert await rt.wait_for(done, 10) == b"NOOP"
                reply = await rt.wait_for(proc.stdout.readline(), 5)
                assert reply == b"250 secure NOOP\r\n"
                proc.stdin.close()
                proc.kill()
                await proc.wait()

    run(main)


def test_starttls_client_side_keeps_earlier_bytes(run: Any, pki: Pki) -> None:
    async def main() -> None:
        async with unisock.SocketListener() as lst:

            async def serve() -> None:
                async for ev in lst:
                    sock = ev.socket
                    writer = sock.writable.get_writer()
                    await writer.write(b"plain-1 plain-2 ")
                    await sock.update(type="tls", **server_opts(pki))
                    await writer.write(b"secret")
                    await writer.close()

            async with background(serve()):
                s = await unisock.connect(remote=lst.local)
                # the plaintext arrives, unread, before the client upgrades
                await eventually(lambda: s.stats.bytes_received == 16, what="plaintext arrived")
                await s.update(type="tls", ca=pki.ca_pem, servername="localhost")
                assert s.info.verification_status == "ok"
                data = await conformance.read_all(s)
                assert data == b"plain-1 plain-2 secret"
                with pytest.raises(ValueError, match="upgrade"):
                    await s.update(type="udp")
                await s.closed

    run(main)


def test_session_resumption_with_pooling(run: Any, pki: Pki) -> None:
    async def main() -> None:
        async with unisock.SocketListener(type="tls", **server_opts(pki)) as lst:

            async def serve() -> None:
                async for ev in lst:
                    ev.socket.readable.pipe_to(ev.socket.writable)

            async with background(serve()):
                reused = []
                for _ in range(3):
                    s = unisock.Socket(
                        type="tls",
                        remote=lst.local,
                        ca=pki.ca_pem,
                        servername="localhost",
                        body=b"hi",
                    )
                    assert await conformance.read_all(s) == b"hi"
                    reused.append(s.info.session_reused)
                    session = s.info.session
                    await s.closed
                assert reused[1:] == [True, True], reused
                s = unisock.Socket(
                    type="tls",
                    remote=lst.local,
                    ca=pki.ca_pem,
                    servername="localhost",
                    session=session,
                    allow_pooling=False,
                    body=b"again",
                )
                assert await conformance.read_all(s) == b"again"
                assert s.info.session_reused

    run(main)


@pytest.mark.asyncio_only("the raw peers are asyncio streams (asyncio.open_connection)")
def test_listener_survives_garbage_and_stalled_handshakes(run: Any, pki: Pki) -> None:
    """Peers that send no TLS, a record too long, a record cut short, or nothing never
    become sockets: the listener drops each one (the two that stall once ready_timeout is
    up, not before), then accepts a real client as its next event."""

    async def main() -> None:
        async with unisock.SocketListener(type="tls", ready_timeout=0.3, **server_opts(pki)) as lst:
            assert lst.local is not None
            loop = asyncio.get_running_loop()
            payloads = [
                b"GET / HTTP/1.0\r\n\r\n",  # not TLS
                b"\x16\x03\x01\xff\xff" + b"z" * 50,  # a record longer than TLS allows
                b"\x16\x03\x01\x00\x80" + b"z" * 50,  # 50 bytes of a 128-byte record: stalls
                b"",  # silence: stalls
            ]
            peers = []
            try:
                for payload in payloads:
                    r, w = await asyncio.open_connection("127.0.0.1", lst.local.port)
                    w.write(payload)
                    peers.append((r, w, loop.time()))

                async def dropped(reader: asyncio.StreamReader, since: float) -> float:
                    """Read to the end (an alert at most): how long the listener kept us."""
                    with contextlib.suppress(ConnectionResetError):
                        while await reader.read(4096):
                            pass
                    return loop.time() - since

                kept = await rt.wait_for(
                    rt.gather(*(dropped(r, since) for r, _, since in peers)), 5
                )
                assert len(kept) == 4  # every one dropped by the listener
                assert kept[2] >= 0.25 and kept[3] >= 0.25, kept  # stalled: at ready_timeout
                s = unisock.Socket(
                    type="tls",
                    remote=lst.local,
                    ca=pki.ca_pem,
                    servername="localhost",
                    body=b"ok",
                )
                ev = await rt.wait_for(lst.__anext__(), 5)  # none of them became an event
                assert ev.socket.info.remote == (await s.ready).local
                assert await conformance.read_all(ev.socket) == b"ok"
                await s.closed
            finally:
                for _, w, _ in peers:
                    w.close()
                    with contextlib.suppress(ConnectionResetError):
                        await w.wait_closed()

    run(main)


def test_info_session_resumes_after_tls13_ticket(run: Any, pki: Pki) -> None:
    async def main() -> None:
        async with unisock.SocketListener(type="tls", **server_opts(pki)) as lst:

            async def serve() -> None:
                async for ev in lst:
                    ev.socket.readable.pipe_to(ev.socket.writable)

            async with background(serve()):
                s = unisock.Socket(
                    type="tls",
                    remote=lst.local,
                    ca=pki.ca_pem,
                    servername="localhost",
                    body=b"hi",
                    allow_pooling=False,
                )
                assert await conformance.read_all(s) == b"hi"
                session = s.info.session
                assert session is not None and session.has_ticket
                s2 = unisock.Socket(
                    type="tls",
                    remote=lst.local,
                    ca=pki.ca_pem,
                    servername="localhost",
                    body=b"again",
                    allow_pooling=False,
                    session=session,
                )
                assert await conformance.read_all(s2) == b"again"
                assert s2.info.session_reused

    run(main)


# -- trust policy, key log, material checked at construction ------------------------------


def test_system_trust_honours_ssl_cert_file(
    run: Any, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ``ca=``: the system store as OpenSSL finds it, so ``SSL_CERT_FILE`` counts, and
    a change of it reaches the next connection (no stale cached context)."""

    async def main() -> None:
        async with unisock.SocketListener(type="tls", **server_opts(pki)) as lst:
            s = unisock.Socket(type="tls", remote=lst.local, servername="localhost")
            with pytest.raises(errors.TLSError) as info:
                await s.ready
            assert info.value.verification_status is not None
            monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca_pem))
            s = unisock.Socket(type="tls", remote=lst.local, servername="localhost")
            assert (await s.ready).verification_status == "ok"
            server = (await lst.__anext__()).socket
            await s.close()
            await server.close()

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    run(main)


@pytest.fixture
def keylog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    # A context with a key log holds the file open: conftest's fresh_global_state drops
    # the cached contexts after the test, before the file descriptors are counted.
    path = tmp_path / "keys.log"
    monkeypatch.setenv("SSLKEYLOGFILE", str(path))
    return path


@pytest.mark.trio
def test_sslkeylogfile_gets_the_secrets(run: Any, pki: Pki, keylog: Path) -> None:
    async def main() -> None:
        async with unisock.SocketListener(type="tls", **server_opts(pki)) as lst:
            s = unisock.Socket(
                type="tls",
                remote=lst.local,
                ca=pki.ca_pem,
                servername="localhost",
                allow_pooling=False,
            )
            info = await s.ready
            assert info.cipher is not None and info.cipher.version == "TLSv1.3"
            server = (await lst.__anext__()).socket
            await s.close()
            await server.close()

    run(main)
    text = keylog.read_text()
    for label in (
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
    ):
        assert label in text


GARBAGE_PEM = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"


def bad_client_material(pki: Pki) -> list[tuple[dict[str, Any], type[Exception], str]]:
    other = pki.ca.issue_cert("other.example")
    return [
        ({"ca": 42}, TypeError, "ca must be"),
        ({"ca": GARBAGE_PEM}, ValueError, "ca: not a certificate"),
        ({"ca": str(pki.dir / "missing.pem")}, ValueError, "ca: cannot read"),
        (
            {"cert": pki.client.cert_chain_pems[0].bytes(), "key": other.private_key_pem.bytes()},
            ValueError,
            "key: does not match",
        ),
        (
            {"cert": GARBAGE_PEM, "key": pki.client.private_key_pem.bytes()},
            ValueError,
            "cert: not a certificate",
        ),
        ({"session": b"not a session"}, TypeError, "session must be"),
    ]


@pytest.mark.trio
@pytest.mark.parametrize("case", range(6))
def test_bad_client_material_fails_at_construction(run: Any, pki: Pki, case: int) -> None:
    """Bad TLS material raises at ``Socket(...)`` naming the field, as listeners do."""
    fields, error, words = bad_client_material(pki)[case]

    async def main() -> None:
        with pytest.raises(error, match=words):
            unisock.Socket(type="tls", remote="127.0.0.1:9", servername="localhost", **fields)

    run(main)


@pytest.mark.trio
def test_client_material_is_validated_once(run: Any, pki: Pki) -> None:
    """Construction validates and caches: connecting again with the same inputs reuses
    the validated options (a repeated connect stays cheap)."""
    from unisock._transports.tls import config as _tls_config

    async def main() -> None:
        async with unisock.SocketListener(type="tls", **server_opts(pki)) as lst:
            for _ in range(3):
                s = unisock.Socket(
                    type="tls",
                    remote=lst.local,
                    ca=pki.ca_pem,
                    servername="localhost",
                    cert=pki.client.cert_chain_pems[0].bytes(),
                    key=pki.client.private_key_pem.bytes(),
                )
                await s.ready
                server = (await lst.__anext__()).socket
                await s.close()
                await server.close()

    calls = 0
    original = _tls_config.TLSOptions.from_init

    def counting(**kw: Any) -> Any:
        nonlocal calls
        calls += not kw.get("server_side")
        return original(**kw)

    _tls_config.TLSOptions.from_init = counting  # type: ignore[method-assign]
    try:
        run(main)
    finally:
        _tls_config.TLSOptions.from_init = original  # type: ignore[method-assign]
    assert calls == 1


@contextlib.contextmanager
def _server_that_ends_without_close_notify(pki: Pki, payload: bytes) -> Iterator[int]:
    """A TLS server (Python's ``ssl`` in a thread) that sends ``payload`` to each of two
    clients and then closes TCP without a close_notify: the truncation a peer that crashes
    or a middlebox causes."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(pki.server_pem))
    listening = socket.create_server(("127.0.0.1", 0))
    listening.settimeout(20)

    def serve() -> None:
        for _ in range(2):
            try:
                raw, _ = listening.accept()
            except OSError:
                return
            with contextlib.suppress(OSError), ctx.wrap_socket(raw, server_side=True) as tls:
                tls.sendall(payload)
                # closing the TLS socket without unwrap() sends no close_notify

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listening.getsockname()[1]
    finally:
        listening.close()
        thread.join(20)


def test_a_peer_ending_without_close_notify_is_truncation(run: Any, pki: Pki) -> None:
    """The same abrupt end read twice: with ``require_close_notify=True`` the read ends
    in a TLSError naming the truncation (never a silent short read); by default the bytes
    that came are delivered and the stream ends (as browsers and asyncio do)."""
    payload = os.urandom(50_000)

    async def main() -> None:
        with _server_that_ends_without_close_notify(pki, payload) as port:
            opts: dict[str, Any] = {
                "type": "tls",
                "remote": ("127.0.0.1", port),
                "ca": pki.ca_pem,
                "servername": "localhost",
            }
            strict = unisock.Socket(**opts, require_close_notify=True)
            got = b""
            with pytest.raises(unisock.errors.TLSError, match="truncat"):
                async for chunk in strict.readable:
                    got += chunk
            assert payload.startswith(got)
            await strict.close()
            lenient = unisock.Socket(**opts)
            assert b"".join([c async for c in lenient.readable]) == payload
            await lenient.close()

    run(main)
