"""QUIC sockets through the public API: the conformance kit, pooling, server-initiated
streams, datagrams, listener; the independent-stack tests live in test_quic_layer.py."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trustme
from tests import conformance

import unisock
from unisock import errors

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
        for _ in range(200):  # until the first byte is acknowledged (counted as sent)
            if client.stats.bytes_sent == 1:
                break
            await asyncio.sleep(0.01)
        async with conformance.settled(client, server):
            yield client, server
        client.connection.close()


QUIC_CHECKS = [
    c for c in conformance.CHECKS if c is not conformance.check_idle_timeout
]


@pytest.mark.parametrize("check", QUIC_CHECKS, ids=lambda c: c.__name__)
def test_conformance(run: Any, check: Any) -> None:
    run(lambda: check(quic_pair), timeout=90)


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

            server = asyncio.ensure_future(serve())
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
            server.cancel()

    run(main)


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

            server = asyncio.ensure_future(serve())
            s = unisock.Socket(remote=listener.local, body=b"open", **client_opts())
            await s.ready
            conn = s.connection
            assert conn.datagrams.max_datagram_size > 1000
            writer = conn.datagrams.writable.get_writer()
            reader = conn.datagrams.readable.get_reader()
            for _ in range(50):  # datagrams may be lost: retry until one echo arrives
                await writer.write(b"ping")
                try:
                    result = await asyncio.wait_for(reader.read(), 0.2)
                except TimeoutError:
                    continue
                assert result.value == b"echo:ping"
                break
            else:
                raise AssertionError("no datagram echo")
            reader.release_lock()
            conn.close()
            server.cancel()

    run(main)


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


def test_body_goes_out_as_0rtt_on_a_resumed_connection(run: Any) -> None:
    async def main() -> None:
        async with quic_listener() as listener:

            async def serve() -> None:
                async for ev in listener:
                    ev.socket.readable.pipe_to(ev.socket.writable)

            server = asyncio.ensure_future(serve())
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
            server.cancel()

    run(main)
