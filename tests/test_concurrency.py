"""Many clients at once on one listener, TCP and TLS, on both loops.

Each client pushes its own random payload through an echo server (the socket
``pipe_to`` fast path) and checks the sha256 of what came back; some clients reset
mid-transfer while the others complete, and the listener keeps accepting throughout.
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path
from typing import Any

import pytest
from tests import rt
from tests.conftest import background
from tests.tls_util import Pki, make_pki

import unisock
from unisock import errors

pytestmark = pytest.mark.trio  # every test that takes `run` runs on trio too

CLIENTS = 20


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(Path(tmp_path_factory.mktemp("pki")))


def listener_opts(kind: str, pki: Pki) -> dict[str, Any]:
    if kind == "tcp":
        return {}
    return {
        "type": "tls",
        "cert": pki.server.cert_chain_pems[0].bytes(),
        "key": pki.server.private_key_pem.bytes(),
    }


def client_opts(kind: str, pki: Pki) -> dict[str, Any]:
    if kind == "tcp":
        return {}
    return {"type": "tls", "ca": pki.ca_pem, "servername": "localhost"}


def echo_server(listener: unisock.SocketListener, pipes: list[Any]) -> None:
    """The echo server of the docs: every accepted socket piped into itself."""

    def on_socket(event: Any) -> None:
        sock = event.socket
        done = sock.readable.pipe_to(sock.writable)
        pipes.append((sock, done))

    listener.add_event_listener("socket", on_socket)


async def echo_client(
    remote: Any, opts: dict[str, Any], payload: bytes, seed: int
) -> tuple[str, int]:
    """Send ``payload`` in random chunk sizes, half-close, read the echo to its end."""
    rng = random.Random(seed)
    sock = await unisock.connect(remote=remote, **opts)
    writer = sock.writable.get_writer()

    async def send() -> None:
        pos = 0
        while pos < len(payload):
            n = rng.randint(1, 128 * 1024)
            await writer.ready
            writer.write(payload[pos : pos + n])
            pos += n
        await writer.close()

    digest = hashlib.sha256()
    size = 0
    async with background(send()) as tasks:  # a failing sender fails the test at once
        async for chunk in sock.readable:
            digest.update(chunk)
            size += len(chunk)
        await tasks.tasks[0]
    await sock.closed
    return digest.hexdigest(), size


async def settle_pipes(pipes: list[Any], *, failures_allowed: int = 0) -> int:
    """Wait for every server-side pipe; returns how many failed."""
    failed = 0
    for sock, done in pipes:
        try:
            await done
        except Exception:
            failed += 1
        await sock.close()
    assert failed <= failures_allowed
    return failed


@pytest.mark.parametrize("kind", ["tcp", "tls"])
def test_many_clients_echo_integrity(run: Any, kind: str, pki: Pki) -> None:
    """20 clients at once, each 4 MiB (TLS: 2 MiB) of its own random bytes, echoed back
    byte-identical to each; a 21st client after them is still accepted."""
    size = (4 << 20) if kind == "tcp" else (2 << 20)
    payloads = [random.Random(i).randbytes(size) for i in range(CLIENTS)]
    expected = [hashlib.sha256(p).hexdigest() for p in payloads]

    async def main() -> None:
        pipes: list[Any] = []
        async with unisock.SocketListener(**listener_opts(kind, pki)) as listener:
            echo_server(listener, pipes)
            copts = client_opts(kind, pki)
            results = await rt.gather(
                *(echo_client(listener.local, copts, payloads[i], seed=i) for i in range(CLIENTS))
            )
            for i, (digest, got) in enumerate(results):
                assert got == size, f"client {i}: {got} bytes echoed, sent {size}"
                assert digest == expected[i], f"client {i}: echoed bytes differ"
            # The listener keeps accepting after the crowd.
            last = await echo_client(listener.local, copts, b"after", seed=99)
            assert last == (hashlib.sha256(b"after").hexdigest(), 5)
            assert len(pipes) == CLIENTS + 1
            await settle_pipes(pipes)

    run(main, timeout=50)


@pytest.mark.parametrize("kind", ["tcp", "tls"])
def test_resets_mid_transfer_do_not_disturb_others(run: Any, kind: str, pki: Pki) -> None:
    """Half of 20 concurrent clients abort (TCP RST) after sending part of their
    payload; the other half still get every byte back, and the listener keeps accepting."""
    size = 1 << 20

    async def resetting_client(remote: Any, opts: dict[str, Any], seed: int) -> None:
        sock = await unisock.connect(remote=remote, **opts)
        writer = sock.writable.get_writer()
        reader = sock.readable.get_reader()
        data = os.urandom(64 * 1024)
        for _ in range(4):
            await writer.write(data)
        got = 0
        while got < 64 * 1024:  # some of the echo is under way
            result = await reader.read()
            assert not result.done
            got += len(result.value)
        await sock.abort(errors.AbortError("reset mid-transfer"))
        assert sock.signal.aborted

    async def main() -> None:
        pipes: list[Any] = []
        async with unisock.SocketListener(**listener_opts(kind, pki)) as listener:
            echo_server(listener, pipes)
            copts = client_opts(kind, pki)
            payloads = {i: random.Random(i).randbytes(size) for i in range(0, CLIENTS, 2)}
            jobs = [
                echo_client(listener.local, copts, payloads[i], seed=i)
                if i in payloads
                else resetting_client(listener.local, copts, seed=i)
                for i in range(CLIENTS)
            ]
            results = await rt.gather(*jobs)
            for i, result in enumerate(results):
                if i in payloads:
                    assert result == (hashlib.sha256(payloads[i]).hexdigest(), size), i
            last = await echo_client(listener.local, copts, b"still here", seed=99)
            assert last[1] == len(b"still here")
            # Each reset ends its server-side pipe with an error; the others complete.
            failed = await settle_pipes(pipes, failures_allowed=CLIENTS // 2)
            assert len(pipes) == CLIENTS + 1
            assert failed == CLIENTS // 2

    run(main, timeout=50)


def test_accept_iteration_with_many_clients(run: Any) -> None:
    """``async for`` on the listener hands every one of 30 concurrent connections out
    exactly once, in a consumer that serves each in its own task."""

    async def main() -> None:
        async with unisock.SocketListener() as listener:
            clients = [
                unisock.Socket(remote=listener.local, body=f"client {i}".encode())
                for i in range(30)
            ]
            seen: list[bytes] = []
            servers: list[unisock.Socket] = []

            async def serve(sock: unisock.Socket) -> None:
                data = b"".join([c async for c in sock.readable])
                seen.append(data)
                await sock.close()

            tasks = []
            async for event in listener:
                servers.append(event.socket)
                tasks.append(rt.spawn(serve(event.socket)))
                if len(servers) == len(clients):
                    break
            await rt.gather(*tasks)
            assert sorted(seen) == sorted(f"client {i}".encode() for i in range(30))
            for c in clients:
                await c.closed

    run(main, timeout=30)
