"""Happy Eyeballs (RFC 8305) as a user meets it: a host name with an IPv6 and an IPv4
address, one of them dead.

This machine's ``localhost`` has one address, so the client runs in a subprocess inside a
user and mount namespace (``unshare``) whose ``/etc/hosts`` gives the name ``dual`` both
``::1`` and ``127.0.0.1``: real name resolution (glibc reading a hosts file), real
sockets on loopback (the network namespace is the test's own).  The dead address either
refuses at once (a bound socket that does not listen) or never answers (a listener whose
accept queue is full drops the SYN, so the connect hangs): the second case is what the
250 ms stagger is for.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import LOOPS as ASYNCIO_LOOPS
from tests.conftest import TRIO

LOOPS = [*ASYNCIO_LOOPS, *TRIO]

# What the client does, in the namespace: for each loop, connect to dual:PORT, say which
# address answered, how long it took, and what went wrong; or report the error.
CLIENT = r"""
import asyncio, json, socket, sys, time
import unisock

port = int(sys.argv[1])
order = [i[0] for i in socket.getaddrinfo("dual", port, type=socket.SOCK_STREAM)]

async def main():
    start = time.monotonic()
    try:
        sock = await unisock.connect(remote=f"dual:{port}", body=b"hello")
    except Exception as exc:
        return {"error": type(exc).__name__, "message": str(exc),
                "errno": getattr(exc, "errno", None), "took": time.monotonic() - start}
    took = time.monotonic() - start
    remote = sock.info.remote.address
    await sock.close()  # the body, then FIN; the test reads it after this process ends
    return {"remote": remote, "took": took}

out = {"order": ["v6" if f == socket.AF_INET6 else "v4" for f in order]}
for kind in sys.argv[2:]:
    if kind == "trio":
        import trio
        out[kind] = trio.run(main)
        continue
    factory = None
    if kind == "uvloop":
        import uvloop
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        out[kind] = runner.run(main())
print(json.dumps(out))
"""

HOSTS = "::1 dual\n127.0.0.1 dual\n"


def _namespaces_work(tmp: Path) -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    hosts = tmp / "probe-hosts"
    hosts.write_text(HOSTS)
    probe = subprocess.run(
        [
            unshare,
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            'mount --bind "$0" /etc/hosts && getent ahosts dual',
            str(hosts),
        ],
        capture_output=True,
        timeout=20,
        check=False,
    )
    return probe.returncode == 0 and b"::1" in probe.stdout and b"127.0.0.1" in probe.stdout


@pytest.fixture(scope="module")
def namespace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("eyeballs")
    if not _namespaces_work(tmp):
        pytest.skip("unshare cannot make a user + mount namespace here")
    hosts = tmp / "hosts"
    hosts.write_text(HOSTS)
    yield hosts


def connect_from_namespace(hosts: Path, port: int) -> dict[str, object]:
    """Run CLIENT for every loop in a namespace where ``dual`` is ::1 and 127.0.0.1."""
    got = subprocess.run(
        [
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            'mount --bind "$0" /etc/hosts && exec "$@"',
            str(hosts),
            sys.executable,
            "-c",
            CLIENT,
            str(port),
            *LOOPS,
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert got.returncode == 0, got.stderr.decode(errors="replace")
    result: dict[str, object] = json.loads(got.stdout)
    return result


class Ends:
    """One port, an end on ::1 and one on 127.0.0.1, each live, refusing or black-holed."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []
        self.port = 0

    def open(self, v6: str, v4: str) -> int:
        for _ in range(20):
            try:
                self._open(v6, v4)
            except OSError:  # the port was free on one family only: pick another
                self.close()
                continue
            return self.port
        raise RuntimeError("no port free on both ::1 and 127.0.0.1")

    def _open(self, v6: str, v4: str) -> None:
        four = self._socket(socket.AF_INET, ("127.0.0.1", 0))
        self.port = four.getsockname()[1]
        six = self._socket(socket.AF_INET6, ("::1", self.port))
        for sock, mode, host in ((six, v6, "::1"), (four, v4, "127.0.0.1")):
            if mode == "live":
                sock.listen(8)
            elif mode == "blackhole":
                sock.listen(0)  # room for one connection: fill it, never accept
                filler = socket.socket(sock.family, socket.SOCK_STREAM)
                self.sockets.append(filler)
                filler.connect((host, self.port))
            else:
                assert mode == "refuse"  # bound and not listening: connect gets RST

    def _socket(self, family: int, address: tuple[str, int]) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_STREAM)
        self.sockets.append(sock)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        return sock

    def accept_hello(self, family: int) -> bytes:
        """The body the client sent, read from the live listener of ``family``."""
        listener = next(s for s in self.sockets if s.family == family and _listening(s))
        listener.settimeout(10)
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(10)
            data = b""
            while chunk := conn.recv(100):
                data += chunk
            return data

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        self.sockets.clear()


def _listening(sock: socket.socket) -> bool:
    return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))


@pytest.fixture
def ends() -> Iterator[Ends]:
    e = Ends()
    yield e
    e.close()


def test_resolution_orders_ipv6_first(namespace: Path, ends: Ends) -> None:
    """The premise of the tests below: glibc sorts ::1 before 127.0.0.1 (RFC 6724)."""
    port = ends.open(v6="refuse", v4="refuse")
    got = connect_from_namespace(namespace, port)
    assert got["order"] == ["v6", "v4"]


def test_refused_first_address_falls_through_at_once(namespace: Path, ends: Ends) -> None:
    """::1 refuses: the IPv4 attempt starts right away, without waiting out the stagger."""
    port = ends.open(v6="refuse", v4="live")
    got = connect_from_namespace(namespace, port)
    for kind in LOOPS:
        result = got[kind]
        assert isinstance(result, dict)
        assert result.get("remote") == "127.0.0.1", result
        assert result["took"] < 0.2, result  # no 250 ms wait after a refusal
    for _ in LOOPS:
        assert ends.accept_hello(socket.AF_INET) == b"hello"


def test_silent_first_address_is_raced_after_250ms(namespace: Path, ends: Ends) -> None:
    """::1 never answers: 250 ms later IPv4 is tried and wins; the pending IPv6 attempt
    is dropped (the client's loop closes with no task left and exits 0)."""
    port = ends.open(v6="blackhole", v4="live")
    got = connect_from_namespace(namespace, port)
    for kind in LOOPS:
        result = got[kind]
        assert isinstance(result, dict)
        assert result.get("remote") == "127.0.0.1", result
        # The stagger (0.25 s) was waited, and the kernel's first SYN retry (1 s) was not.
        assert 0.24 <= result["took"] < 1.0, result  # type: ignore[operator]
    for _ in LOOPS:
        assert ends.accept_hello(socket.AF_INET) == b"hello"


def test_silent_second_address_is_never_waited_for(namespace: Path, ends: Ends) -> None:
    """::1 answers: IPv4 (black-holed) is never tried, the connect takes no stagger."""
    port = ends.open(v6="live", v4="blackhole")
    got = connect_from_namespace(namespace, port)
    for kind in LOOPS:
        result = got[kind]
        assert isinstance(result, dict)
        assert result.get("remote") == "::1", result
        assert result["took"] < 0.2, result
    for _ in LOOPS:
        assert ends.accept_hello(socket.AF_INET6) == b"hello"


def test_every_address_refused_is_one_network_error(namespace: Path, ends: Ends) -> None:
    """Both addresses refuse: one NetworkError naming the name asked for, with the
    errno of the first failure (ECONNREFUSED)."""
    port = ends.open(v6="refuse", v4="refuse")
    got = connect_from_namespace(namespace, port)
    for kind in LOOPS:
        result = got[kind]
        assert isinstance(result, dict)
        assert result.get("error") == "NetworkError", result
        assert f"cannot connect to dual:{port}" in str(result["message"]), result
        assert result["errno"] == 111, result  # ECONNREFUSED
