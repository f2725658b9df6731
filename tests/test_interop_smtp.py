"""Interop: a unisock ``SocketListener`` as a tiny SMTP server that upgrades with STARTTLS
(``update(type="tls", cert=..., key=...)`` on the accepted socket), against
``openssl s_client -starttls smtp`` clients, several in a row and several at once.

Issue 10, fault 1: accepted sockets shared one options object, so the second client saw
``info.type == "tls"`` before its upgrade, its own upgrade failed, and an
``update(idle_timeout=...)`` on one accepted socket aborted the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests import rt
from tests.conftest import Background, background, need
from tests.tls_util import Pki, make_pki

import unisock
from unisock import errors

pytestmark = pytest.mark.trio  # every test that takes `run` runs on trio too

Run = Callable[..., Any]


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


@dataclass
class Session:
    """What one SMTP session saw, recorded by the server side."""

    type_before: str | None = None
    type_after: str | None = None
    cipher: str | None = None
    commands: list[bytes] = field(default_factory=list)
    error: BaseException | None = None


class Lines:
    """CRLF lines from a socket's readable, through one reader held across the upgrade."""

    def __init__(self, sock: unisock.Socket) -> None:
        self.reader = sock.readable.get_reader()
        self.buffer = b""

    async def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            result = await self.reader.read()
            if result.done:
                raise EOFError(f"EOF after {self.buffer!r}")
            self.buffer += result.value
        text, _, self.buffer = self.buffer.partition(b"\r\n")
        return text


async def smtp_session(sock: unisock.Socket, pki: Pki, record: Session) -> None:
    """220 greeting; EHLO offers STARTTLS; STARTTLS upgrades in place; EHLO/QUIT over TLS.

    A client that never says STARTTLS is served in plaintext to its QUIT.
    """
    lines = Lines(sock)
    writer = sock.writable.get_writer()
    record.type_before = sock.info.type
    try:
        await writer.write(b"220 unisock.test ESMTP ready\r\n")
        while True:
            command = await lines.line()
            verb = command.split(b" ", 1)[0].upper()
            if record.type_after is not None:
                record.commands.append(command)
            if verb == b"EHLO":
                if record.type_after is None:
                    await writer.write(
                        b"250-unisock.test hello\r\n250-8BITMIME\r\n250 STARTTLS\r\n"
                    )
                else:
                    await writer.write(b"250-unisock.test hello again\r\n250 AUTH PLAIN\r\n")
            elif verb == b"STARTTLS" and record.type_after is None:
                await writer.write(b"220 2.0.0 ready to start TLS\r\n")
                assert lines.buffer == b"", "nothing may follow STARTTLS before the handshake"
                await sock.update(
                    type="tls",
                    cert=pki.server.cert_chain_pems[0].bytes(),
                    key=pki.server.private_key_pem.bytes(),
                )
                record.type_after = sock.info.type
                cipher = sock.info.cipher
                record.cipher = cipher.name if cipher is not None else None
            elif verb == b"QUIT":
                await writer.write(b"221 2.0.0 bye\r\n")
                break
            else:
                await writer.write(b"502 5.5.2 not implemented\r\n")
    except BaseException as exc:  # recorded, and re-raised so the test sees it
        record.error = exc
        raise
    finally:
        lines.reader.release_lock()
        writer.release_lock()
        await sock.close()


class SmtpServer:
    """A listener serving each accepted socket with ``smtp_session``, recording each.

    Its tasks run in ``tasks`` (conftest's ``background``): a session that fails fails
    the test at once, with its own error.
    """

    def __init__(self, listener: unisock.SocketListener, pki: Pki, tasks: Background) -> None:
        self.listener = listener
        self.pki = pki
        self.sessions: list[Session] = []
        self.spawned = tasks
        self.tasks: list[asyncio.Task[None]] = []
        self.accepted: list[unisock.Socket] = []
        self.serving = tasks.spawn(self._serve())

    async def _serve(self) -> None:
        async for event in self.listener:
            record = Session()
            self.sessions.append(record)
            self.accepted.append(event.socket)
            self.tasks.append(self.spawned.spawn(smtp_session(event.socket, self.pki, record)))

    async def stop(self) -> None:
        """Stop accepting; wait for the sessions under way to end."""
        self.serving.cancel()
        await rt.wait_for(rt.gather(*self.tasks), 10)


async def openssl_smtp_client(port: int, pki: Pki, timeout: float = 15) -> tuple[int, bytes, bytes]:
    """``openssl s_client -starttls smtp``; after the upgrade it sends EHLO then QUIT."""
    proc = await rt.exec_process(
        need("openssl"),
        "s_client",
        "-starttls",
        "smtp",
        "-connect",
        f"127.0.0.1:{port}",
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
    try:
        out, err = await rt.wait_for(proc.communicate(b"EHLO client.example\r\nQUIT\r\n"), timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out, err


POST_UPGRADE = b"250-unisock.test hello again\r\n250 AUTH PLAIN\r\n221 2.0.0 bye\r\n"


def check_upgraded(record: Session, result: tuple[int, bytes, bytes]) -> None:
    rc, out, err = result
    assert record.error is None
    assert rc == 0, (out, err)
    assert out == POST_UPGRADE, (out, err)
    assert record.type_before == "tcp"
    assert record.type_after == "tls"
    assert record.cipher is not None
    assert record.commands == [b"EHLO client.example", b"QUIT"]


async def plaintext_client(port: int) -> bytes:
    """An SMTP client that never upgrades: EHLO, QUIT, read to the end."""
    sock = unisock.Socket(remote=("127.0.0.1", port), body=b"EHLO plain.example\r\nQUIT\r\n")
    data = b"".join([chunk async for chunk in sock.readable])
    await sock.closed
    return data


def test_three_starttls_clients_in_a_row(run: Run, pki: Pki) -> None:
    """Each of three ``openssl s_client -starttls smtp`` upgrades its own socket, and a
    plaintext client between them stays plaintext."""

    async def main() -> None:
        async with unisock.SocketListener() as listener:
            assert listener.local is not None
            port = listener.local.port
            async with background() as tasks:
                server = SmtpServer(listener, pki, tasks)
                results = [await openssl_smtp_client(port, pki)]
                plain = await plaintext_client(port)
                results.append(await openssl_smtp_client(port, pki))
                results.append(await openssl_smtp_client(port, pki))
                await server.stop()

        assert len(server.sessions) == 4
        upgraded = [server.sessions[i] for i in (0, 2, 3)]
        for record, result in zip(upgraded, results, strict=True):
            check_upgraded(record, result)
        assert plain.startswith(b"220 unisock.test ESMTP ready\r\n250-")
        assert b"250 STARTTLS\r\n" in plain and plain.endswith(b"221 2.0.0 bye\r\n")
        quiet = server.sessions[1]
        assert quiet.error is None
        assert quiet.type_before == "tcp" and quiet.type_after is None
        assert server.accepted[1].info.type == "tcp"
        assert [s.info.type for s in server.accepted] == ["tls", "tcp", "tls", "tls"]

    run(main, timeout=60)


def test_starttls_clients_at_once(run: Run, pki: Pki) -> None:
    """Four clients at the same time, each upgraded on its own accepted socket."""

    async def main() -> None:
        async with unisock.SocketListener() as listener:
            assert listener.local is not None
            port = listener.local.port
            async with background() as tasks:
                server = SmtpServer(listener, pki, tasks)
                results = await rt.gather(*(openssl_smtp_client(port, pki) for _ in range(4)))
                await server.stop()

        assert len(server.sessions) == 4
        for record, result in zip(server.sessions, results, strict=True):
            # the clients are not told apart: every one must have been upgraded
            check_upgraded(record, result)

    run(main, timeout=60)


def test_idle_timeout_update_is_per_socket(run: Run) -> None:
    """``update(idle_timeout=0.3)`` on one accepted socket aborts that socket alone."""

    async def main() -> None:
        async with unisock.SocketListener() as listener:
            assert listener.local is not None
            first = unisock.Socket(remote=listener.local)
            s1 = (await anext(listener)).socket
            await s1.update(idle_timeout=0.3)
            second = unisock.Socket(remote=listener.local)
            s2 = (await anext(listener)).socket
            await rt.gather(first.ready, second.ready)

            with pytest.raises(TimeoutError):
                await rt.wait_for(s1.closed, 5)
            await rt.sleep(0.7)  # time is what is tested: s2 now idle > 2 x 0.3 s
            assert not s2.signal.aborted
            writer = second.writable.get_writer()
            await writer.write(b"still here")
            reader = s2.readable.get_reader()
            got = await rt.wait_for(reader.read(), 5)
            assert got.value == b"still here"
            reader.release_lock()
            writer.release_lock()

            # a third socket, accepted after the timeout fired, has no idle timeout either
            third = unisock.Socket(remote=listener.local)
            s3 = (await anext(listener)).socket
            await third.ready
            await rt.sleep(0.5)  # time is what is tested: s3 idle past 0.3 s
            assert not s3.signal.aborted
            await s3.writable.get_writer().write(b"and me")
            got = await rt.wait_for(third.readable.get_reader().read(), 5)
            assert got.value == b"and me"

            for sock in (first, second, third, s2, s3):
                await sock.close()
            with contextlib.suppress(errors.NetworkError, EOFError):
                await first.closed

    run(main, timeout=30)
