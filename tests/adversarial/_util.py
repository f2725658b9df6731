"""Shared helpers of the adversarial suite: certificates, memory, a legitimate client."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import trustme
from tests import rt

import unisock
from unisock import errors

CA = trustme.CA()
CERT = CA.issue_cert("localhost", "127.0.0.1")
KEY_PEM = CERT.private_key_pem.bytes()
CHAIN_PEM = b"".join(b.bytes() for b in CERT.cert_chain_pems)
CA_PEM = CA.cert_pem.bytes()
ALPN = "adversarial"


def rss_mib() -> float:
    """Resident set size of this process, in MiB (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def client_opts(**extra: Any) -> dict[str, Any]:
    return {"type": "quic", "alpn": [ALPN], "ca": CA_PEM, "servername": "localhost", **extra}


@contextlib.asynccontextmanager
async def quic_echo_listener(**extra: Any) -> AsyncIterator[unisock.SocketListener]:
    """A QUIC listener echoing every bidirectional stream."""
    listener = unisock.SocketListener(
        type="quic", alpn=[ALPN], cert=CHAIN_PEM, key=KEY_PEM, **extra
    )

    def on_socket(event: Any) -> None:
        sock = event.socket
        sock.readable.pipe_to(sock.writable)

    listener.add_event_listener("socket", on_socket)
    async with listener:
        await listener.ready
        yield listener


def quic_server(listener: unisock.SocketListener) -> Any:
    """The QUIC layer's server under ``listener`` (for counting its connections)."""
    return listener._handle._server  # type: ignore[attr-defined]


async def quic_echo_roundtrip(listener: unisock.SocketListener, payload: bytes = b"ping") -> float:
    """Connect a fresh client, echo ``payload``, return the seconds it took."""
    start = time.perf_counter()
    sock = unisock.Socket(remote=listener.local, allow_pooling=False, **client_opts())
    try:
        writer = sock.writable.get_writer()
        await writer.write(payload)
        await writer.close()
        got = b""
        reader = sock.readable.get_reader()
        while True:
            chunk = await reader.read()
            if chunk.done:
                break
            got += bytes(chunk.value)
        assert got == payload
        return time.perf_counter() - start
    finally:
        sock.connection.close()
        with contextlib.suppress(errors.NetworkError):  # the connection's end
            await sock.closed
        await rt.sleep(0)
