"""Interop: OpenSSH's sshd on loopback and a unisock TCP client doing the SSH version
exchange (RFC 4253 section 4.2): it reads the server's ``SSH-2.0-OpenSSH_...`` line, sends
its own, and gets the server's first binary packet, ``SSH_MSG_KEXINIT``."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests import rt
from tests.conftest import PeerDidNotStart, Peers

import unisock

pytestmark = pytest.mark.trio  # every test that takes `run` runs on trio too

Run = Callable[..., Any]

SSH_MSG_KEXINIT = 20
CLIENT_ID = b"SSH-2.0-unisock_interop_test"


def program(name: str) -> str:
    """``name`` on PATH, or in the sbin directories a non-root PATH may lack."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        pytest.skip(f"{name} is not installed")
    return found


@pytest.fixture
def sshd(tmp_path: Path, peer: Peers) -> Iterator[int]:
    """sshd -D -e on 127.0.0.1:<port> with a fresh ed25519 host key; yields the port."""
    daemon = program("sshd")
    keygen = program("ssh-keygen")
    privsep = Path("/run/sshd")  # sshd refuses to start without it
    try:
        privsep.mkdir(mode=0o755, exist_ok=True)
    except PermissionError:
        pytest.skip("sshd needs /run/sshd, which this user cannot create")
    host_key = tmp_path / "host_ed25519"
    subprocess.run(
        [keygen, "-q", "-t", "ed25519", "-N", "", "-C", "unisock-test", "-f", str(host_key)],
        check=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    config = tmp_path / "sshd_config"
    config.write_text(
        f"""ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {tmp_path}/sshd.pid
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication no
AuthorizedKeysFile none
PermitRootLogin no
StrictModes no
LoginGraceTime 20
"""
    )
    log = tmp_path / "sshd.log"
    try:
        with log.open("wb") as stderr:
            proc, (port,) = peer.on_free_ports(
                lambda port: [
                    daemon,
                    "-D",
                    "-e",
                    "-f",
                    str(config),
                    "-p",
                    str(port),
                    "-h",
                    str(host_key),
                ],
                stderr=stderr,
            )
    except (PeerDidNotStart, TimeoutError):
        raise AssertionError(f"sshd did not start: {log.read_text()[-2000:]}") from None
    yield port
    assert proc.proc.poll() is None, f"sshd died: {log.read_text()[-2000:]}"
    assert (tmp_path / "sshd.pid").read_text().strip() == str(proc.proc.pid)
    stop_connection_children(proc.proc.pid)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if fields[0] != "Z" and int(fields[1]) == pid:
                found.append(int(entry))
    return found


def stop_connection_children(sshd_pid: int) -> None:
    """sshd forks a child per connection, which calls setsid(): stopping sshd's process
    group misses it.  Give each a moment to end with its closed connection, then TERM it."""
    deadline = time.monotonic() + 5
    while children_of(sshd_pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    for child in children_of(sshd_pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while children_of(sshd_pid) and time.monotonic() < deadline:
        time.sleep(0.02)


@dataclass
class KexInit:
    cookie: bytes
    lists: list[list[str]]  # kex, host key, ciphers c2s/s2c, macs c2s/s2c, compression ...

    @property
    def kex(self) -> list[str]:
        return self.lists[0]

    @property
    def host_key(self) -> list[str]:
        return self.lists[1]


def parse_kexinit(payload: bytes) -> KexInit:
    assert payload[0] == SSH_MSG_KEXINIT, payload[:1]
    cookie = payload[1:17]
    offset = 17
    lists = []
    for _ in range(10):
        (length,) = struct.unpack_from(">I", payload, offset)
        offset += 4
        lists.append(payload[offset : offset + length].decode("ascii").split(","))
        offset += length
    assert len(payload) == offset + 5  # first_kex_packet_follows, reserved uint32
    return KexInit(cookie, lists)


class Exchange:
    """Reads the version line and then whole binary packets from one socket."""

    def __init__(self, sock: unisock.Socket) -> None:
        self.reader = sock.readable.get_reader()
        self.buffer = b""

    async def more(self) -> bool:
        result = await rt.wait_for(self.reader.read(), 10)
        if result.done:
            return False
        self.buffer += result.value
        return True

    async def version_line(self) -> bytes:
        """RFC 4253: the server may send other lines first; the version line starts
        with ``SSH-`` and ends with CR LF."""
        while True:
            while b"\r\n" not in self.buffer:
                assert await self.more(), f"EOF before the version line: {self.buffer!r}"
            line, _, self.buffer = self.buffer.partition(b"\r\n")
            if line.startswith(b"SSH-"):
                return line

    async def packet(self) -> bytes:
        """One unencrypted binary packet's payload (before NEWKEYS, no MAC)."""
        while len(self.buffer) < 5:
            assert await self.more(), "EOF inside a packet header"
        length, padding = struct.unpack_from(">IB", self.buffer)
        assert 5 <= length <= 35000 and (length + 4) % 8 == 0, length
        while len(self.buffer) < 4 + length:
            assert await self.more(), "EOF inside a packet"
        payload = self.buffer[5 : 4 + length - padding]
        assert padding >= 4
        self.buffer = self.buffer[4 + length :]
        return payload

    async def rest(self) -> bytes:
        while await self.more():
            pass
        rest, self.buffer = self.buffer, b""
        return rest


async def version_exchange(port: int) -> tuple[bytes, KexInit, unisock.Socket, Exchange]:
    sock = unisock.Socket(remote=("127.0.0.1", port), no_delay=True)
    exchange = Exchange(sock)
    banner = await exchange.version_line()
    writer = sock.writable.get_writer()
    await writer.write(CLIENT_ID + b"\r\n")
    writer.release_lock()
    kexinit = parse_kexinit(await exchange.packet())
    return banner, kexinit, sock, exchange


def test_banner_and_kexinit(run: Run, sshd: int) -> None:
    async def main() -> None:
        banner, kexinit, sock, exchange = await version_exchange(sshd)
        assert banner.startswith(b"SSH-2.0-OpenSSH_"), banner
        assert len(banner) + 2 <= 255
        assert "ssh-ed25519" in kexinit.host_key  # the only host key we gave it
        assert any(k.startswith(("curve25519", "sntrup", "mlkem")) for k in kexinit.kex)
        info = sock.info
        assert info.type == "tcp" and info.remote == unisock.SocketAddress("127.0.0.1", sshd)
        assert sock.stats.bytes_sent == len(CLIENT_ID) + 2
        assert sock.stats.bytes_received >= len(banner) + 2 + 5 + 17
        # our FIN: sshd gives up on the half-done key exchange and closes; readable ends
        await sock.writable.close()
        await exchange.rest()
        exchange.reader.release_lock()
        await sock.closed

    run(main, timeout=30)


def test_several_clients_at_once(run: Run, sshd: int) -> None:
    """Five connections at the same time: each its own banner, each a fresh KEXINIT cookie."""

    async def main() -> None:
        results = await rt.gather(*(version_exchange(sshd) for _ in range(5)))
        banners = {banner for banner, _, _, _ in results}
        assert len(banners) == 1 and next(iter(banners)).startswith(b"SSH-2.0-OpenSSH_")
        cookies = {kexinit.cookie for _, kexinit, _, _ in results}
        assert len(cookies) == 5
        for _, _, sock, exchange in results:
            exchange.reader.release_lock()
            await sock.close()

    run(main, timeout=30)


def test_bad_identification_is_answered_and_closed(run: Run, sshd: int) -> None:
    """A client line that is no SSH identification: sshd says so and closes; the readable
    ends normally with every byte delivered."""

    async def main() -> None:
        sock = unisock.Socket(remote=("127.0.0.1", sshd), body=b"HELLO sshd\r\n")
        exchange = Exchange(sock)
        banner = await exchange.version_line()
        assert banner.startswith(b"SSH-2.0-OpenSSH_")
        rest = await exchange.rest()
        exchange.reader.release_lock()
        await sock.closed
        assert b"Invalid SSH identification string" in rest, rest

    run(main, timeout=30)
