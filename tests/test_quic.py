"""QUIC sockets through the public API: pooling, server-initiated
streams, datagrams, listener; the independent-stack tests live in test_quic_layer.py."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trustme
from cryptography import x509
from tests.conftest import background, eventually, fd_count, wait_for

import unisock
from unisock import errors
from unisock import testing as conformance  # read_all, settled

CA = trustme.CA()
CERT = CA.issue_cert("localhost", "127.0.0.1")
KEY_PEM = CERT.private_key_pem.bytes()
CHAIN_PEM = b"".join(b.bytes() for b in CERT.cert_chain_pems)
CA_PEM = CA.cert_pem.bytes()


def client_opts(**extra: Any) -> dict[str, Any]:
    return {"type": "quic", "alpn": ["test"], "ca": CA_PEM, "servername": "localhost", **extra}


@contextlib.asynccontextmanager
async def quic_listener(**extra: Any) -> AsyncIterator[unisock.SocketListener]:
    async with unisock.SocketListener(
        type="quic", alpn=["test"], cert=CHAIN_PEM, key=KEY_PEM, **extra
    ) as listener:
        yield listener


@contextlib.asynccontextmanager
async def quic_pair(**opts: Any) -> AsyncIterator[tuple[unisock.Socket, unisock.Socket]]:
    server_opts = {k: v for k, v in opts.items() if k in ("allow_half_open", "send_buffer_size")}
    async with quic_listener(**server_opts) as listener:
        client = unisock.Socket(remote=listener.local, allow_pooling=False, **client_opts(**opts))
        # A QUIC stream is announced to the peer by its first frame.
        writer = client.writable.get_writer()
        writer.write(b"\0")
        writer.release_lock()
        event = await listener.__anext__()
        server = event.socket
        first = server.readable.get_reader()
        assert (await first.read()).value == b"\0"
        first.release_lock()
        await client.ready
        await eventually(lambda: client.stats.bytes_sent == 1, what="the first byte counted")
        async with conformance.settled(client, server):
            yield client, server
        client.connection.close()


@pytest.mark.trio
def test_pooled_sockets_share_a_connection_and_server_pushes(run: Any) -> None:
    async def main() -> None:
        async with quic_listener() as listener:

            async def serve() -> None:
                async for ev in listener:
                    s = ev.socket
                    s.readable.pipe_to(s.writable)
                    push = await s.connection.create_unidirectional_stream()
                    assert push.readable is None
                    w = push.writable.get_writer()
                    await w.write(b"pushed")
                    await w.close()
                    bidi = await s.connection.create_bidirectional_stream()
                    w2 = bidi.writable.get_writer()
                    await w2.write(b"server bidi")
                    await w2.close()

            async with background(serve()):
                socks = [
                    unisock.Socket(remote=listener.local, body=f"s{i}", **client_opts())
                    for i in range(3)
                ]
                got = [await conformance.read_all(s) for s in socks]
                assert got == [b"s0", b"s1", b"s2"]
                assert socks[0].connection is socks[1].connection is socks[2].connection
                conn = socks[0].connection
                uni_reader = conn.incoming_unidirectional_streams.get_reader()
                first = (await uni_reader.read()).value
                assert first.writable is None
                assert await conformance.read_all(first) == b"pushed"
                bidi_reader = conn.incoming_bidirectional_streams.get_reader()
                bidi = (await bidi_reader.read()).value
                assert await conformance.read_all(bidi) == b"server bidi"
                other = unisock.Socket(
                    remote=listener.local, body=b"x", allow_pooling=False, **client_opts()
                )
                assert await conformance.read_all(other) == b"x"
                assert other.connection is not conn
                uni_reader.release_lock()
                bidi_reader.release_lock()
                conn.close()
                other.connection.close()

    run(main)


@pytest.mark.trio
def test_datagrams_both_ways(run: Any) -> None:
    async def main() -> None:
        async with quic_listener() as listener:

            async def serve() -> None:
                async for ev in listener:
                    dgrams = ev.socket.connection.datagrams
                    reader = dgrams.readable.get_reader()
                    writer = dgrams.writable.get_writer()
                    while True:
                        result = await reader.read()
                        if result.done:
                            return
                        await writer.write(b"echo:" + result.value)

            async with background(serve()):
                s = unisock.Socket(remote=listener.local, body=b"open", **client_opts())
                await s.ready
                conn = s.connection
                assert conn.datagrams.max_datagram_size > 1000
                writer = conn.datagrams.writable.get_writer()
                reader = conn.datagrams.readable.get_reader()
                for _ in range(50):  # datagrams may be lost: retry until one echo arrives
                    await writer.write(b"ping")
                    try:
                        result = await wait_for(reader.read(), 0.2)
                    except TimeoutError:
                        continue
                    assert result.value == b"echo:ping"
                    break
                else:
                    raise AssertionError("no datagram echo")
                reader.release_lock()
                conn.close()

    run(main)


@pytest.mark.trio
def test_wrong_ca_is_tls_error(run: Any) -> None:
    async def main() -> None:
        other = trustme.CA()
        async with quic_listener() as listener:
            s = unisock.Socket(
                remote=listener.local, **client_opts(ca=other.cert_pem.bytes(), ready_timeout=5)
            )
            with pytest.raises(errors.TLSError) as info:
                await s.ready
            assert info.value.verification_status

    run(main)


def test_quic_needs_alpn() -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="alpn"):
            unisock.Socket(type="quic", remote=("127.0.0.1", 4433))
        with pytest.raises(ValueError, match="cert"):
            unisock.SocketListener(type="quic", alpn=["x"])

    asyncio.run(main())


@pytest.mark.trio
def test_body_goes_out_as_0rtt_on_a_resumed_connection(run: Any) -> None:
    async def main() -> None:
        async with quic_listener() as listener:

            async def serve() -> None:
                async for ev in listener:
                    ev.socket.readable.pipe_to(ev.socket.writable)

            async with background(serve()):
                first = unisock.Socket(
                    remote=listener.local, body=b"first", allow_pooling=False, **client_opts()
                )
                assert await conformance.read_all(first) == b"first"
                assert first.info.session_reused is False
                first.connection.close()
                await first.connection.closed
                second = unisock.Socket(
                    remote=listener.local, body=b"early data", allow_pooling=False, **client_opts()
                )
                assert await conformance.read_all(second) == b"early data"
                assert second.info.session_reused is True
                assert second.info.early_data_accepted is True
                second.connection.close()

    run(main)


@pytest.mark.trio
@pytest.mark.parametrize("pooling", [True, False], ids=["pooled", "unpooled"])
def test_a_connect_given_up_closes_its_connection(run: Any, pooling: bool) -> None:
    """A QUIC ``connect()`` given up (a timeout cancels it) while the peer never answers:
    the connection that nothing else uses closes with it, its UDP socket (and on trio its
    reader task) gone at once, not after the idle timeout."""
    from unisock._transports.quic import pool_size

    async def main() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
            silent.bind(("127.0.0.1", 0))
            before = fd_count()
            opts = client_opts(allow_pooling=pooling)
            with pytest.raises(TimeoutError):
                await wait_for(unisock.connect(remote=silent.getsockname(), **opts), 0.2)
            await eventually(lambda: fd_count() <= before, what="its UDP socket closed")
            assert pool_size() == 0

    run(main)


# -- info, stats, trust, key log, material checked at construction ------------------------

CLIENT = CA.issue_cert("client.example")


def _der(pem: bytes) -> bytes:
    import ssl

    return ssl.PEM_cert_to_DER_cert(pem.decode())


def dns_names(certificate: bytes | None) -> list[str]:
    assert certificate is not None
    cert = x509.load_der_x509_certificate(certificate)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return names.get_values_for_type(x509.DNSName)


@pytest.mark.trio
def test_info_is_filled_on_both_sides(run: Any) -> None:
    """What the QUIC core knows is reported on both sides, with the TLS-over-TCP naming
    (a listener requiring client certificates runs on aioquic, the client on qh3)."""

    async def main() -> None:
        async with quic_listener(ca=CA_PEM) as listener:  # client certificates required
            client = unisock.Socket(
                remote=listener.local,
                allow_pooling=False,
                body=b"hi",
                cert=CLIENT.cert_chain_pems[0].bytes(),
                key=CLIENT.private_key_pem.bytes(),
                **client_opts(),
            )
            server = (await listener.__anext__()).socket
            c, s = await client.ready, server.info
            server_der = _der(CERT.cert_chain_pems[0].bytes())
            client_der = _der(CLIENT.cert_chain_pems[0].bytes())
            assert c.type == s.type == "test"  # the ALPN both sides agreed on
            assert c.servername == s.servername == "localhost"  # the SNI the server got
            assert "localhost" in dns_names(c.peer_certificate)
            assert "client.example" in dns_names(c.certificate)
            assert c.certificate == s.peer_certificate == client_der
            assert s.certificate == c.peer_certificate == server_der
            assert c.verification_status == s.verification_status == "ok"
            assert c.cipher == s.cipher and c.cipher is not None
            assert c.cipher.name == c.cipher.standard_name and c.cipher.name.startswith("TLS_")
            assert c.cipher.version == "TLSv1.3"
            assert c.ephemeral_key == s.ephemeral_key and c.ephemeral_key is not None
            assert c.ephemeral_key.name in ("X25519", "X448", "prime256v1", "secp384r1")
            assert c.signature_algorithms == s.signature_algorithms
            assert c.signature_algorithms and "ecdsa_secp256r1_sha256" in c.signature_algorithms
            client.connection.close()

        async with quic_listener() as listener:  # no client certificate asked: none sent
            client = unisock.Socket(
                remote=listener.local,
                allow_pooling=False,
                body=b"hi",
                cert=CLIENT.cert_chain_pems[0].bytes(),
                key=CLIENT.private_key_pem.bytes(),
                **client_opts(),
            )
            server = (await listener.__anext__()).socket
            c, s = await client.ready, server.info
            assert c.certificate is None
            assert s.peer_certificate is None
            # qh3 on both sides: the same facts, read from its own hellos
            assert c.servername == s.servername == "localhost"
            assert s.certificate == c.peer_certificate == _der(CERT.cert_chain_pems[0].bytes())
            assert c.cipher == s.cipher and c.cipher is not None
            assert c.ephemeral_key == s.ephemeral_key and c.ephemeral_key is not None
            assert c.ephemeral_key.name in ("X25519MLKEM768", "X25519", "prime256v1")
            assert c.signature_algorithms == s.signature_algorithms
            assert c.signature_algorithms and "ecdsa_secp256r1_sha256" in c.signature_algorithms
            client.connection.close()

    run(main)


class Relay:
    """A UDP relay between a client and a server on loopback that can hold the server's
    datagrams (so the client hears no ACK) and release them later."""

    def __init__(self) -> None:
        self.hold = False
        self.held: list[bytes] = []
        self.from_client = 0
        self.client_addr: Any = None
        self.front: Any = None
        self.back: Any = None
        self.runtime: Any = None

    async def start(self, server: Any) -> tuple[str, int]:
        # Raw sockets read by the runtime's reader callbacks: runs on asyncio and trio.
        from unisock._runtime import current

        self.runtime = current()
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for sock in (self.front, self.back):
            sock.setblocking(False)
        self.front.bind(("127.0.0.1", 0))
        self.back.connect((server.address, server.port))
        self.runtime.add_reader(self.front, self._from_client)
        self.runtime.add_reader(self.back, self._from_server)
        return self.front.getsockname()  # type: ignore[no-any-return]

    def _from_client(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while True:
                data, self.client_addr = self.front.recvfrom(65536)
                self.from_client += 1
                self.back.send(data)

    def _from_server(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while True:
                data = self.back.recv(65536)
                if self.hold:
                    self.held.append(data)
                else:
                    self.front.sendto(data, self.client_addr)

    def release(self) -> None:
        self.hold = False
        for data in self.held:
            self.front.sendto(data, self.client_addr)
        self.held.clear()

    def close(self) -> None:
        for sock in (self.front, self.back):
            if sock is not None:
                self.runtime.remove_reader(sock)
                sock.close()


@pytest.mark.trio
def test_bytes_sent_counts_what_left_not_what_was_acknowledged(run: Any) -> None:
    """``bytes_sent`` counts bytes that left in packets, as TCP counts what the kernel
    took, not only those the peer acknowledged: with every answer (ACKs included) held
    back by a relay, the request still counts as sent."""

    async def main() -> None:
        async with quic_listener() as listener:

            async def serve() -> None:
                async for ev in listener:
                    # The client closes its connection at the end, perhaps while this echo
                    # still runs: that end is not what this test is about.
                    with contextlib.suppress(unisock.errors.NetworkError):
                        await ev.socket.readable.pipe_to(ev.socket.writable)

            relay = Relay()
            try:
                async with background(serve()):
                    front = await relay.start(listener.local)
                    client = unisock.Socket(remote=front, allow_pooling=False, **client_opts())
                    await client.ready
                    relay.hold = True
                    before = relay.from_client
                    writer = client.writable.get_writer()
                    await writer.write(b"ping")
                    # the request left in a datagram, the server answered (held by the relay)
                    await eventually(lambda: relay.from_client > before and relay.held)
                    assert client.stats.bytes_sent == 4  # unacknowledged, but sent
                    relay.release()
                    reader = client.readable.get_reader()
                    got = b""
                    while got != b"ping":
                        got += (await wait_for(reader.read(), 5)).value
                    assert client.stats.bytes_sent == 4 and client.stats.bytes_received == 4
                    reader.release_lock()
                    writer.release_lock()
                    client.connection.close()
                    await client.connection.closed
            finally:
                relay.close()

    run(main)


@pytest.mark.trio
def test_system_trust_honours_ssl_cert_file(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``ca=``: QUIC verifies against the same store as TLS, ``SSL_CERT_FILE`` included
    (aioquic alone would use certifi's bundle only, qh3 its own reading of the store)."""
    import tempfile

    async def main() -> None:
        async with quic_listener() as listener:
            opts = {k: v for k, v in client_opts().items() if k != "ca"}
            s = unisock.Socket(remote=listener.local, allow_pooling=False, **opts)
            with pytest.raises(errors.TLSError):
                await s.ready
            with tempfile.NamedTemporaryFile(suffix=".pem") as f:
                f.write(CA_PEM)
                f.flush()
                monkeypatch.setenv("SSL_CERT_FILE", f.name)
                s = unisock.Socket(remote=listener.local, allow_pooling=False, **opts)
                info = await s.ready
                assert info.verification_status == "ok"
                s.connection.close()

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    run(main)


@pytest.mark.trio
def test_sslkeylogfile_gets_the_secrets(
    run: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "keys.log"
    monkeypatch.setenv("SSLKEYLOGFILE", str(path))

    async def main() -> None:
        async with quic_listener() as listener:
            s = unisock.Socket(remote=listener.local, allow_pooling=False, **client_opts())
            await s.ready
            s.connection.close()

    run(main)
    text = path.read_text()
    for label in (
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
    ):
        assert label in text


GARBAGE_PEM = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"
OTHER = CA.issue_cert("other.example")


@pytest.mark.parametrize(
    ("fields", "error", "words"),
    [
        ({"ca": 42}, TypeError, "ca must be"),
        ({"ca": GARBAGE_PEM}, ValueError, "ca: not a certificate"),
        ({"ca": "/nonexistent/ca.pem"}, ValueError, "ca: cannot read"),
        (
            {"cert": CLIENT.cert_chain_pems[0].bytes(), "key": OTHER.private_key_pem.bytes()},
            ValueError,
            "key: does not match",
        ),
        ({"session": b"not a session"}, ValueError, "session: QUIC"),
    ],
    ids=["ca-int", "ca-garbage", "ca-missing", "key-mismatch", "session"],
)
@pytest.mark.trio
def test_bad_client_material_fails_at_construction(
    run: Any, fields: dict[str, Any], error: type[Exception], words: str
) -> None:
    async def main() -> None:
        opts = {**client_opts(), **fields}
        with pytest.raises(error, match=words):
            unisock.Socket(remote="127.0.0.1:9", **opts)

    run(main)
