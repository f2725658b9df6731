"""``unisock listen`` paths no other test reached (issue 19, coverage), run as a user runs
them: ``python -m unisock`` in a subprocess, real clients on loopback.  Each server here
ends by itself or on SIGTERM (which the command turns into a clean exit, status 143), so
what it did is also measured."""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import LOOPS

UNISOCK = [sys.executable, "-m", "unisock"]


class Server:
    """A ``unisock`` command in the background; stderr read as it comes."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*UNISOCK, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.err = b""

    def wait_for(self, pattern: str, timeout: float = 15) -> re.Match[str]:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.err.decode(errors="replace"))
            if found:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{pattern!r} not in stderr: {self.err!r}")
            if select.select([self.proc.stderr], [], [], left)[0]:
                chunk = os.read(self.proc.stderr.fileno(), 4096)
                if not chunk:
                    raise AssertionError(f"{pattern!r} not in stderr: {self.err!r}")
                self.err += chunk

    def port(self) -> int:
        return int(self.wait_for(r"listening on \S+:(\d+)").group(1))

    def finish(self, timeout: float = 20) -> tuple[int, bytes, bytes]:
        out, err = self.proc.communicate(timeout=timeout)
        self.err += err
        return self.proc.returncode, out, self.err

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=10)


@pytest.fixture
def server() -> Iterator[Any]:
    started: list[Server] = []

    def start(*args: str) -> Server:
        s = Server(*args)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.mark.parametrize("loop", LOOPS)
def test_listen_refuses_a_second_client_while_busy(server: Any, loop: str) -> None:
    """``unisock listen`` joins its first client to stdin/stdout; a second client while
    the first is connected is turned away (reset) and named on stderr; with
    ``--verbose`` the connection's details and its byte counts are printed."""
    srv = server("listen", "--verbose", "--loop", loop, "0")
    port = srv.port()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as first:
        first_name = f"127.0.0.1:{first.getsockname()[1]}"
        srv.wait_for(r"connection from " + re.escape(first_name))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as second:
            second_name = f"127.0.0.1:{second.getsockname()[1]}"
            srv.wait_for(f"refused {re.escape(second_name)}: busy with {re.escape(first_name)}")
            with pytest.raises(ConnectionResetError):  # turned away with a reset
                second.recv(100)
        first.sendall(b"to stdout\n")
        first.shutdown(socket.SHUT_WR)
        assert srv.proc.stdin is not None
        srv.proc.stdin.write(b"to the client\n")
        srv.proc.stdin.close()
        srv.proc.stdin = None
        got = b""
        while chunk := first.recv(100):
            got += chunk
        assert got == b"to the client\n"
    code, out, err = srv.finish()
    assert code == 0, err
    assert out == b"to stdout\n"
    text = err.decode()
    assert f"{first_name}: tcp" in text  # the --verbose info line
    assert re.search(re.escape(first_name) + r" done: .*10 B", text), text


@pytest.mark.parametrize("loop", LOOPS)
def test_listen_echo_reports_a_reset_and_exits_143_on_sigterm(server: Any, loop: str) -> None:
    """``unisock listen --echo``: a client that resets mid-connection is reported on
    stderr as that connection's error, the server carries on serving the next client,
    and SIGTERM ends it like Ctrl-C with status 143."""
    srv = server("listen", "--echo", "--verbose", "--loop", loop, "0")
    port = srv.port()
    rude = socket.create_connection(("127.0.0.1", port), timeout=10)
    rude_name = f"127.0.0.1:{rude.getsockname()[1]}"
    srv.wait_for("connection from " + re.escape(rude_name))
    rude.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    rude.sendall(b"x" * 1000)
    rude.close()  # RST
    srv.wait_for(re.escape(rude_name) + r": .*(reset|connection lost)")
    srv.wait_for(re.escape(rude_name) + r" done: ")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as polite:
        polite.sendall(b"echo me")
        polite.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := polite.recv(100):
            got += chunk
        assert got == b"echo me"
    srv.proc.send_signal(signal.SIGTERM)
    code, out, err = srv.finish()
    assert code == 143, err
    assert out == b""


def unisock_run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*UNISOCK, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_connect_timeout_is_one_line() -> None:
    """``--timeout`` against an address that never answers (a listener whose accept
    queue is full drops the SYN): status 1 and one line saying it timed out."""
    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        port = full.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):  # fills the queue
            start = time.monotonic()
            got = unisock_run("connect", "--timeout", "0.5", f"127.0.0.1:{port}")
            took = time.monotonic() - start
    assert got.returncode == 1, got.stderr
    lines = got.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("unisock: error: timed out"), lines
    assert took < 10


class ClosingServer:
    """Accepts TCP connections, reads the client's first bytes (a ClientHello) and
    closes, in a thread: a server that rejects every TLS client without a word."""

    def __init__(self, read: int) -> None:
        import threading

        self.read = read
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                with contextlib.suppress(OSError):
                    conn.recv(self.read)

    def close(self) -> None:
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


@pytest.fixture(params=[65536, 10], ids=["closes", "resets"])
def closing_server(request: pytest.FixtureRequest) -> Iterator[ClosingServer]:
    s = ClosingServer(request.param)
    yield s
    s.close()


def test_tls_to_a_server_that_hangs_up_hints_at_why(closing_server: ClosingServer) -> None:
    """A server that ends the connection during the TLS handshake, with a FIN (it read
    the whole ClientHello) or a reset (it closed with part of it unread): one line that
    says the handshake was cut and that the server may have rejected it or not speak
    TLS."""
    got = unisock_run("connect", "--type", "tls", f"127.0.0.1:{closing_server.port}")
    assert got.returncode == 1, got.stderr
    lines = got.stderr.splitlines()
    assert len(lines) == 1, lines
    assert "the server may have rejected the handshake, or may not speak TLS" in lines[0]


def test_info_on_a_plain_tcp_server_says_no_tls() -> None:
    """``unisock info --type tcp``: the addresses, and ``tls`` reported as none."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)  # the kernel completes the handshake: nothing to accept
        port = server.getsockname()[1]
        got = unisock_run("info", "--type", "tcp", "--no-resume", f"127.0.0.1:{port}")
    assert got.returncode == 0, got.stderr
    assert re.search(r"tls\s+none \(plain connection\)", got.stdout), got.stdout
    assert f"127.0.0.1:{port}" in got.stdout
