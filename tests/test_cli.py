"""The ``unisock`` command end to end, as a user runs it: ``python -m unisock`` in a
subprocess, real sockets on loopback, real peers (socat, openssl, curl)."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from tests.conftest import free_port, need, wait_port

UNISOCK = [sys.executable, "-m", "unisock"]
SUBCOMMANDS = {
    "connect": ["--type", "--alpn", "--servername", "--ca", "--cert", "--key", "--insecure"],
    "listen": [
        "--type",
        "--alpn",
        "--cert",
        "--key",
        "--self-signed",
        "--ca",
        "--echo",
        "--verbose",
    ],
    "send": ["--type", "--ca", "--insecure"],
    "recv": ["--type", "--self-signed", "--output"],
    "info": ["--type", "--alpn", "--ca", "--no-resume"],
    "demo": ["--size", "--rounds"],
    "bench": ["--quick", "--full", "--plot"],
}


def unisock(
    *args: str, stdin: bytes = b"", timeout: float = 20
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*UNISOCK, *args], input=stdin, capture_output=True, timeout=timeout, check=False
    )


class Running:
    """A ``unisock`` process in the background; stderr is collected line by line."""

    def __init__(self, *args: str, stdin: Any = subprocess.DEVNULL, **kw: Any) -> None:
        self.proc = subprocess.Popen(
            [*UNISOCK, *args], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw
        )
        self.err = b""

    def wait_for(self, pattern: str, timeout: float = 15) -> re.Match[str]:
        """Read stderr until ``pattern`` matches it."""
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.err.decode(errors="replace"))
            if found:
                return found
            left = deadline - time.monotonic()
            if left <= 0 or (
                self.proc.poll() is not None and not select.select([self.proc.stderr], [], [], 0)[0]
            ):
                raise AssertionError(f"{pattern!r} not in stderr: {self.err!r}")
            if select.select([self.proc.stderr], [], [], left)[0]:
                chunk = os.read(self.proc.stderr.fileno(), 4096)
                if not chunk and self.proc.poll() is not None:
                    continue
                self.err += chunk

    def port(self) -> int:
        return int(self.wait_for(r"listening on \S+:(\d+)").group(1))

    def feed(self, data: bytes) -> None:
        """Write ``data`` to stdin and close it (stdin EOF)."""
        stdin = self.proc.stdin
        assert stdin is not None
        stdin.write(data)
        stdin.close()
        self.proc.stdin = None

    def finish(self, stdin: bytes | None = None, timeout: float = 20) -> tuple[int, bytes, bytes]:
        out, err = self.proc.communicate(stdin, timeout=timeout)
        self.err += err
        return self.proc.returncode, out, self.err

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.communicate(timeout=10)
        finally:
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture
def bg() -> Iterator[Any]:
    started: list[Running] = []

    def start(*args: str, **kw: Any) -> Running:
        r = Running(*args, **kw)
        started.append(r)
        return r

    yield start
    for r in started:
        r.stop()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    paths = {"ca": tmp / "ca.pem", "server": tmp / "server.pem", "other_ca": tmp / "other.pem"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    server.private_key_and_cert_chain_pem.write_to_path(str(paths["server"]))
    trustme.CA().cert_pem.write_to_path(str(paths["other_ca"]))
    return paths


def one_clean_line(err: bytes) -> str:
    text = err.decode()
    assert "Traceback" not in text
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


# -- help and errors -------------------------------------------------------------------


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_help_names_every_option(command: str) -> None:
    result = unisock(command, "--help")
    assert result.returncode == 0
    text = result.stdout.decode()
    for option in SUBCOMMANDS[command]:
        assert option in text, option


def test_top_level_help_lists_subcommands() -> None:
    result = unisock("--help")
    assert result.returncode == 0
    for command in SUBCOMMANDS:
        assert command in result.stdout.decode()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["connect", "nohostport"], "bad address"),
        (["connect", "127.0.0.1:99999"], "1..65535"),
        (["connect", "::1:80"], "[ADDRESS]:PORT"),
        (["listen", "nope"], "not a number"),
        (["connect", "--type", "quic", "127.0.0.1:443"], "--alpn"),
        (["listen", "--type", "tls", "0"], "--self-signed"),
        (["connect", "--ca", "/nonexistent.pem", "--type", "tls", "localhost:1"], "--ca"),
        (["connect", "--insecure", "localhost:1"], "--insecure needs --type tls"),
        (["connect"], "required"),
    ],
)
def test_bad_input_is_one_line(args: list[str], words: str) -> None:
    result = unisock(*args)
    assert result.returncode == 2
    assert words in one_clean_line(result.stderr)


def test_refused_connection_is_one_line() -> None:
    result = unisock("connect", f"127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert "refused" in one_clean_line(result.stderr).lower()


def test_unknown_host_is_one_line() -> None:
    result = unisock("connect", "no-such-host.invalid:80")
    assert result.returncode == 1
    assert "no-such-host.invalid" in one_clean_line(result.stderr)


def test_debug_shows_the_traceback() -> None:
    result = unisock("connect", "--debug", f"127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert b"Traceback" in result.stderr


# -- TCP with socat and curl -----------------------------------------------------------


def test_connect_to_socat_binary_echo_and_half_close(peer: Any) -> None:
    need("socat")
    port = free_port()
    peer(["socat", f"TCP-LISTEN:{port},reuseaddr,fork", "EXEC:cat"])
    wait_port(port)
    payload = os.urandom(300_000) + b"\0\r\n\xff"
    # cat ends only at its stdin's EOF: the echo completes only if unisock half-closes.
    result = unisock("connect", f"127.0.0.1:{port}", stdin=payload)
    assert result.returncode == 0, result.stderr
    assert result.stdout == payload


def test_listen_stdio_with_socat_client(bg: Any) -> None:
    need("socat")
    server = bg("listen", "0", stdin=subprocess.PIPE)
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
    assert out == b"from client"
    assert client.stdout == b"from server"
    assert code == 0
    assert b"connection from 127.0.0.1:" in err


def test_listen_answers_curl(bg: Any) -> None:
    curl = need("curl")
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n"
    server = bg("listen", "0", stdin=subprocess.PIPE)
    port = server.port()
    server.feed(response)
    got = subprocess.run(
        [curl, "-s", "--max-time", "10", f"http://127.0.0.1:{port}/x"],
        capture_output=True,
        timeout=20,
        check=False,
    )
    assert got.stdout == b"hello\n"
    code, out, _ = server.finish()
    assert out.startswith(b"GET /x HTTP/1.1\r\n")
    assert code == 0


def test_echo_server_serves_many_and_sigint_is_130(bg: Any) -> None:
    need("socat")
    server = bg("listen", "--echo", "--verbose", "0")
    port = server.port()
    for i in range(3):
        got = subprocess.run(
            ["socat", "-t", "5", "-", f"TCP:127.0.0.1:{port}"],
            input=f"round {i}".encode(),
            capture_output=True,
            timeout=20,
            check=False,
        )
        assert got.stdout == f"round {i}".encode()
    server.wait_for(r"done: sent 7 B")
    server.proc.send_signal(signal.SIGINT)
    code, _, err = server.finish()
    assert code == 130
    assert b"Traceback" not in err


def test_sigint_while_connected_is_130(bg: Any, peer: Any) -> None:
    need("socat")
    port = free_port()
    peer(["socat", f"TCP-LISTEN:{port},reuseaddr,fork", "EXEC:cat"])
    wait_port(port)
    client = bg("connect", "--verbose", f"127.0.0.1:{port}", stdin=subprocess.PIPE)
    client.wait_for("connected to")
    client.proc.send_signal(signal.SIGINT)
    code, _, err = client.finish()
    assert code == 130
    assert b"Traceback" not in err


# -- UDP -------------------------------------------------------------------------------


def test_udp_connect_to_socat_echo(peer: Any) -> None:
    need("socat")
    port = free_port(__import__("socket").SOCK_DGRAM)
    peer(["socat", f"UDP-RECVFROM:{port},fork,reuseaddr", "EXEC:cat"])
    time.sleep(0.3)
    result = unisock(
        "connect", "--type", "udp", "--wait", "0.5", f"127.0.0.1:{port}", stdin=b"datagram one"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"datagram one"


def test_udp_echo_listener_with_socat_client(bg: Any) -> None:
    need("socat")
    server = bg("listen", "--type", "udp", "--echo", "0")
    port = server.port()
    got = subprocess.run(
        ["socat", "-t", "1", "-", f"UDP:127.0.0.1:{port}"],
        input=b"udp hello",
        capture_output=True,
        timeout=20,
        check=False,
    )
    assert got.stdout == b"udp hello"
    server.wait_for("connection from 127.0.0.1")


# -- TLS with openssl ------------------------------------------------------------------


def s_server(peer: Any, pki: dict[str, Path], *extra: str) -> int:
    need("openssl")
    port = free_port()
    peer(
        ["openssl", "s_server", "-accept", str(port), "-cert", str(pki["server"]), "-quiet", *extra]
    )
    wait_port(port)
    return port


def test_tls_connect_to_openssl_s_server(peer: Any, pki: dict[str, Path]) -> None:
    port = s_server(peer, pki, "-rev")
    result = unisock(
        "connect",
        "--type",
        "tls",
        "--ca",
        str(pki["ca"]),
        "--verbose",
        f"localhost:{port}",
        stdin=b"hello\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == b"olleh"
    assert b"verified" in result.stderr


def test_tls_certificate_failure_gives_its_reason(peer: Any, pki: dict[str, Path]) -> None:
    port = s_server(peer, pki)
    result = unisock("connect", "--type", "tls", "--ca", str(pki["other_ca"]), f"localhost:{port}")
    assert result.returncode == 1
    line = one_clean_line(result.stderr)
    assert "TLS" in line and "certificate" in line
    wrong_name = unisock(
        "connect",
        "--type",
        "tls",
        "--ca",
        str(pki["ca"]),
        "--servername",
        "example.org",
        f"127.0.0.1:{port}",
    )
    assert wrong_name.returncode == 1
    assert "example.org" in one_clean_line(wrong_name.stderr)


def test_info_against_openssl(peer: Any, pki: dict[str, Path]) -> None:
    port = s_server(peer, pki, "-alpn", "h2", "-rev")
    result = unisock(
        "info", "--type", "tls", "--alpn", "h2", "--ca", str(pki["ca"]), f"localhost:{port}"
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    for expected in (
        "TLSv1.3",
        "cipher",
        "verification     ok",
        "type             h2",
        "cert expires",
        "cert names       localhost, 127.0.0.1",
        "session reuse",
    ):
        assert expected in text, (expected, text)
    insecure = unisock("info", "--type", "tls", "-k", "--no-resume", f"127.0.0.1:{port}")
    assert insecure.returncode == 0
    assert "off (--insecure)" in insecure.stdout.decode()


def test_tls_listener_with_openssl_s_client(bg: Any) -> None:
    need("openssl")
    server = bg("listen", "--type", "tls", "--self-signed", "--echo", "0")
    port = server.port()
    ca = server.wait_for(r"--ca (\S+)").group(1)
    client = subprocess.Popen(
        [
            "openssl",
            "s_client",
            "-quiet",
            "-connect",
            f"127.0.0.1:{port}",
            "-CAfile",
            ca,
            "-verify_return_error",
            "-servername",
            "localhost",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert client.stdin is not None and client.stdout is not None
        client.stdin.write(b"over tls\n")
        client.stdin.flush()
        ready = select.select([client.stdout], [], [], 10)[0]
        assert ready, "no echo from the TLS listener"
        assert os.read(client.stdout.fileno(), 100) == b"over tls\n"
    finally:
        client.kill()
        client.communicate(timeout=10)
    server.proc.send_signal(signal.SIGINT)
    code, _, _ = server.finish()
    assert code == 130
    assert not os.path.exists(ca), "the --self-signed CA file outlived the listener"


# -- QUIC, send/recv, demo, bench ------------------------------------------------------


def test_quic_listen_and_connect(bg: Any) -> None:
    server = bg("listen", "--type", "quic", "--alpn", "demo", "--self-signed", "--echo", "0")
    port = server.port()
    ca = server.wait_for(r"--ca (\S+)").group(1)
    payload = os.urandom(100_000)
    result = unisock(
        "connect",
        "--type",
        "quic",
        "--alpn",
        "demo",
        "--ca",
        ca,
        f"localhost:{port}",
        stdin=payload,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == payload


def test_send_recv_file_with_progress_on_a_terminal(bg: Any, tmp_path: Path) -> None:
    data = os.urandom(3_000_000)
    source = tmp_path / "in.bin"
    source.write_bytes(data)
    target = tmp_path / "out.bin"
    receiver = bg("recv", "0", "--output", str(target))
    port = receiver.port()
    master, slave = pty.openpty()
    try:
        sender = subprocess.run(
            [*UNISOCK, "send", str(source), f"127.0.0.1:{port}"],
            stderr=slave,
            stdout=subprocess.DEVNULL,
            timeout=30,
            check=False,
        )
        os.close(slave)
        drawn = b""
        while select.select([master], [], [], 0.5)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(master)
    assert sender.returncode == 0
    code, _, err = receiver.finish()
    assert code == 0
    assert target.read_bytes() == data
    assert b"received 3,000,000 bytes" in err
    assert b"\r[" in drawn and b"100%" in drawn and b"ETA" in drawn  # the bar, on a terminal
    assert b"\r" not in err  # and none when stderr is not a terminal


def test_send_to_socat_and_recv_from_socat(peer: Any, bg: Any, tmp_path: Path) -> None:
    need("socat")
    data = os.urandom(500_000)
    (tmp_path / "a.bin").write_bytes(data)
    port = free_port()
    peer(
        [
            "socat",
            "-u",
            f"TCP-LISTEN:{port},reuseaddr,fork",
            f"OPEN:{tmp_path / 'b.bin'},creat,append",
        ]
    )
    wait_port(port)
    sent = unisock("send", "--quiet", str(tmp_path / "a.bin"), f"127.0.0.1:{port}")
    assert sent.returncode == 0, sent.stderr
    assert sent.stderr == b""
    receiver = bg("recv", "0")
    rport = receiver.port()
    subprocess.run(
        ["socat", "-u", f"OPEN:{tmp_path / 'a.bin'}", f"TCP:127.0.0.1:{rport}"],
        timeout=20,
        check=True,
    )
    code, out, _ = receiver.finish()
    assert code == 0 and out == data
    assert (tmp_path / "b.bin").read_bytes() == data


def test_demo_runs_every_transport() -> None:
    result = unisock("demo", "--size", "200000", timeout=60)
    text = result.stdout.decode()
    assert result.returncode == 0, (text, result.stderr)
    for transport in ("tcp", "tls", "udp", "quic"):
        assert re.search(rf"^{transport}\s+ok\s", text, re.M), text
    assert "4 of 4 transports worked" in text


def test_demo_on_the_stock_loop_too() -> None:
    result = unisock("demo", "--loop", "asyncio", "--size", "1000", "--rounds", "2", timeout=60)
    assert result.returncode == 0, result.stdout
    assert b"asyncio loop" in result.stdout


def test_bench_plot_needs_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        result = unisock("bench", "--smoke", "--plot", "x.png")
        assert result.returncode == 2
        assert "pip install matplotlib" in one_clean_line(result.stderr)
    else:
        pytest.skip("matplotlib is installed")


def test_bench_smoke_prints_ratios() -> None:
    need("gcc")
    result = unisock(
        "bench", "--smoke", "--only", "download", "--peers", "unisock,asyncio-protocol", timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert b"ratio" in result.stdout
