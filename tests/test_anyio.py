"""unisock.anyio: unisock sockets behind anyio's ByteStream and Listener, used through
anyio's own helpers (buffered and text streams, typed attributes, task groups), on
anyio's asyncio and trio backends."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
import trustme
from anyio.abc import SocketAttribute
from anyio.streams.buffered import BufferedByteReceiveStream
from anyio.streams.text import TextStream
from anyio.streams.tls import TLSAttribute

import unisock
import unisock.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _echo_lines(stream: unisock.anyio.SocketStream) -> None:
    buffered = BufferedByteReceiveStream(stream)
    async with stream:
        while True:
            try:
                line = await buffered.receive_until(b"\n", 1024)
            except anyio.IncompleteRead:
                return
            await stream.send(line.upper() + b"\n")


@pytest.mark.anyio
async def test_serve_and_talk_through_anyio_helpers() -> None:
    listener = await unisock.anyio.listen(local="127.0.0.1:0")
    port = listener.extra(SocketAttribute.local_port)
    assert listener.extra(SocketAttribute.local_address) == ("127.0.0.1", port)
    async with anyio.create_task_group() as group:
        group.start_soon(listener.serve, _echo_lines)
        stream = await unisock.anyio.connect(remote=f"127.0.0.1:{port}")
        assert stream.extra(SocketAttribute.remote_port) == port
        assert stream.extra(SocketAttribute.family) == 2  # AF_INET
        text = TextStream(stream)
        await text.send("hello\nworld\n")
        await stream.send_eof()  # half-close: the answers still come
        got = ""
        while got.count("\n") < 2:
            got += await text.receive()
        assert got == "HELLO\nWORLD\n"
        with pytest.raises(anyio.EndOfStream):
            await stream.receive()
        await stream.aclose()
        with pytest.raises(anyio.ClosedResourceError):
            await stream.receive()
        await listener.aclose()


@pytest.mark.anyio
async def test_tls_attributes_and_a_reset_is_broken() -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost")
    listener = await unisock.anyio.listen(
        type="tls",
        local="127.0.0.1:0",
        cert=leaf.cert_chain_pems[0].bytes(),
        key=leaf.private_key_pem.bytes(),
        alpn=["h2"],
    )
    port = listener.extra(SocketAttribute.local_port)
    accepted: list[unisock.anyio.SocketStream] = []

    async def keep(stream: unisock.anyio.SocketStream) -> None:
        accepted.append(stream)

    async with anyio.create_task_group() as group:
        group.start_soon(listener.serve, keep)
        stream = await unisock.anyio.connect(
            type="tls",
            remote=f"localhost:{port}",
            ca=ca.cert_pem.bytes(),
            alpn=["h2"],
        )
        assert stream.extra(TLSAttribute.tls_version) == "TLSv1.3"
        assert stream.extra(TLSAttribute.alpn_protocol) == "h2"
        assert stream.extra(TLSAttribute.server_side) is False
        assert stream.extra(TLSAttribute.peer_certificate_binary)
        while not accepted:
            await anyio.sleep(0.01)
        await accepted[0].socket.abort()  # RST
        with pytest.raises(anyio.BrokenResourceError):
            await stream.receive()
        await stream.aclose()
        await listener.aclose()


@pytest.mark.anyio
async def test_unix_socket_addresses(tmp_path: Any) -> None:
    path = str(tmp_path / "a.sock")
    listener = await unisock.anyio.listen(local=f"unix:{path}")
    assert listener.extra(SocketAttribute.local_address) == path
    async with anyio.create_task_group() as group:
        group.start_soon(listener.serve, _echo_lines)
        stream = await unisock.anyio.connect(remote=f"unix:{path}")
        assert stream.extra(SocketAttribute.remote_address) == path
        await stream.send(b"x\n")
        assert await stream.receive() == b"X\n"
        await stream.aclose()
        await listener.aclose()
