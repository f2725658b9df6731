"""Shared helpers for TLS tests: a trustme CA, certificates on disk, and openssl/curl peers."""

from __future__ import annotations

import datetime
import os
import re
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from tests import rt


def need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed")
    return path


@dataclass
class Pki:
    """A CA and the files of a server and a client certificate it issued."""

    ca: trustme.CA
    dir: Path
    ca_pem: Path
    server: trustme.LeafCert
    server_pem: Path  # key + chain
    client: trustme.LeafCert
    client_pem: Path

    def leaf(self, name: str, *identities: str, **kw: Any) -> tuple[trustme.LeafCert, Path]:
        cert = self.ca.issue_cert(*identities, **kw)
        path = self.dir / f"{name}.pem"
        cert.private_key_and_cert_chain_pem.write_to_path(str(path))
        return cert, path


def make_pki(tmp: Path) -> Pki:
    ca = trustme.CA()
    ca_pem = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    server = ca.issue_cert("localhost", "127.0.0.1")
    server_pem = tmp / "server.pem"
    server.private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    client = ca.issue_cert("client.example")
    client_pem = tmp / "client.pem"
    client.private_key_and_cert_chain_pem.write_to_path(str(client_pem))
    return Pki(ca, tmp, ca_pem, server, server_pem, client, client_pem)


def expired(pki: Pki) -> tuple[trustme.LeafCert, Path]:
    now = datetime.datetime.now(datetime.UTC)
    return pki.leaf(
        "expired",
        "localhost",
        "127.0.0.1",
        not_before=now - datetime.timedelta(days=30),
        not_after=now - datetime.timedelta(days=1),
    )


def _wait_line(proc: subprocess.Popen[bytes], pattern: bytes, timeout: float) -> re.Match[bytes]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen = b""
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        seen += chunk
        m = re.search(pattern, seen)
        if m:
            return m
    raise AssertionError(f"peer did not print {pattern!r}; it printed {seen[-500:]!r}")


@contextmanager
def openssl_server(*args: str, timeout: float = 10) -> Iterator[int]:
    """Run ``openssl s_server -accept 127.0.0.1:0 <args>``; yield its port."""
    need("openssl")
    proc = subprocess.Popen(
        ["openssl", "s_server", "-accept", "127.0.0.1:0", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        m = _wait_line(proc, rb"ACCEPT 127\.0\.0\.1:(\d+)", timeout)
        yield int(m.group(1))
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(5)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


async def run_peer(
    argv: list[str], stdin: bytes = b"", timeout: float = 10, close_stdin: bool = True
) -> tuple[int, bytes, bytes]:
    """Run a peer program to completion without blocking the runtime; return (rc, out, err)."""
    proc = await rt.exec_process(
        *argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = await rt.wait_for(proc.communicate(stdin), timeout)
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out, err


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))
