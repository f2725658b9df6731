"""``unisock ... --loop trio``: the command line under ``trio.run``, end to end in a
subprocess against real peers (socat, and the CLI's own listener on either loop)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import need
from tests.test_cli import UNISOCK, Running, one_clean_line, unisock

pytest.importorskip("trio")


@pytest.fixture
def bg() -> Any:
    started: list[Running] = []

    def start(*args: str, **kw: Any) -> Running:
        r = Running(*args, **kw)
        started.append(r)
        return r

    yield start
    for r in started:
        r.stop()


@pytest.mark.parametrize("command", ["connect", "listen", "send", "recv", "info"])
def test_help_lists_trio(command: str) -> None:
    result = unisock(command, "--help")
    assert result.returncode == 0
    assert "asyncio,uvloop,trio" in result.stdout.decode().replace(" ", "")


def test_connect_on_trio_to_socat_binary_echo_and_half_close(peer: Any) -> None:
    need("socat")
    port = peer(["socat", "TCP-LISTEN:0,fork", "EXEC:cat"]).port()
    payload = os.urandom(300_000) + b"\0\r\n\xff"
    # cat ends only at its stdin's EOF: the echo completes only if unisock half-closes.
    result = unisock("connect", "--loop", "trio", f"127.0.0.1:{port}", stdin=payload)
    assert result.returncode == 0, result.stderr
    assert result.stdout == payload


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
@pytest.mark.parametrize("server_loop", ["trio", "asyncio"])
def test_listen_echo_and_connect_on_trio(bg: Any, tls: bool, server_loop: str) -> None:
    """The CLI's own echo listener (on trio or asyncio) and a trio client, both ways
    half-closed; then Ctrl-C ends the trio listener with 130."""
    flags = ["--type", "tls", "--self-signed"] if tls else []
    server = bg("listen", "--loop", server_loop, "--echo", "--verbose", *flags, "0")
    port = server.port()
    client_flags = ["--type", "tls", "--ca", server.wait_for(r"--ca (\S+)").group(1)] if tls else []
    payload = os.urandom(200_000)
    for _ in range(2):
        result = unisock(
            "connect", "--loop", "trio", *client_flags, f"localhost:{port}", stdin=payload
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == payload
    server.wait_for(r"done: sent 200,000 B[\s\S]*done: sent 200,000 B")
    server.proc.send_signal(signal.SIGINT)
    code, _, err = server.finish()
    assert code == 130
    assert b"Traceback" not in err


def test_listen_stdio_on_trio_with_socat_client(bg: Any) -> None:
    need("socat")
    server = bg("listen", "--loop", "trio", "0", stdin=subprocess.PIPE)
    port = server.port()
    server.feed(b"from server")  # read once the first connection arrives
    client = subprocess.run(
        ["socat", "-t", "5", "-", f"TCP:127.0.0.1:{port}"],
        input=b"from client",
        capture_output=True,
        timeout=20,
        check=False,
    )
    code, out, err = server.finish()
    assert (out, client.stdout, code) == (b"from client", b"from server", 0), err
    assert b"connection from 127.0.0.1:" in err


def test_sigint_while_connected_on_trio_closes_gracefully(bg: Any, peer: Any) -> None:
    """Ctrl-C ends ``connect --loop trio`` with 130 and a FIN, not a reset."""
    need("socat")
    # One connection, no fork, so that socat ends with it; -d: it warns of a reset.
    server = peer(["socat", "-d", "TCP-LISTEN:0", "EXEC:cat"], stderr=subprocess.PIPE)
    port = server.port()
    client = bg(
        "connect", "--verbose", "--loop", "trio", f"127.0.0.1:{port}", stdin=subprocess.PIPE
    )
    client.wait_for("connected to")
    assert client.proc.stdin is not None and client.proc.stdout is not None
    client.proc.stdin.write(b"ping\n")
    client.proc.stdin.flush()
    assert select.select([client.proc.stdout], [], [], 10)[0], "no echo"
    assert os.read(client.proc.stdout.fileno(), 100) == b"ping\n"
    client.proc.send_signal(signal.SIGINT)
    code, _, err = client.finish()
    assert code == 130
    assert b"Traceback" not in err
    assert server.proc.wait(10) == 0
    warnings = server.proc.stderr.read()
    assert b"reset" not in warnings, warnings


def test_sigterm_ends_a_trio_listener_with_143(bg: Any) -> None:
    server = bg("listen", "--loop", "trio", "--echo", "0")
    server.port()
    server.proc.send_signal(signal.SIGTERM)
    code, _, err = server.finish()
    assert code == 128 + signal.SIGTERM
    assert b"Traceback" not in err


def test_demo_on_trio_runs_every_transport() -> None:
    """``unisock demo --loop trio``: TCP, TLS, UDP and QUIC on loopback under trio.run."""
    result = unisock("demo", "--loop", "trio", "--size", "65536", timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "trio loop" in out
    assert "4 of 4 transports worked" in out, out


def test_udp_connect_on_trio_to_socat_echo(peer: Any) -> None:
    need("socat")
    port = peer(["socat", "UDP4-RECVFROM:0,bind=127.0.0.1,fork", "EXEC:cat"]).port("udp")
    result = unisock(
        "connect", "--loop", "trio", "--type", "udp", f"127.0.0.1:{port}", stdin=b"hello\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"hello\n"


def test_without_trio_the_flag_is_refused_by_name(tmp_path: Path) -> None:
    """A Python where ``import trio`` fails: the flag and value are named, exit 2."""
    (tmp_path / "trio.py").write_text("raise ImportError('no trio here')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    result = subprocess.run(
        [*UNISOCK, "connect", "--loop", "trio", "127.0.0.1:9"],
        capture_output=True,
        timeout=20,
        check=False,
        env=env,
    )
    assert result.returncode == 2, result.stderr
    line = one_clean_line(result.stderr)
    assert "--loop trio" in line and "not installed" in line, line
