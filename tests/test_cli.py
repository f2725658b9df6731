"""The ``unisock`` command end to end, as a user runs it: ``python -m unisock`` in a
subprocess, real sockets on loopback, real peers (socat, openssl, curl)."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from tests.conftest import need, refusing_port

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
        (["connect", "localhost:-1"], "bad address port -1: must be a number 1..65535"),
        (["connect", "localhost:0"], "1..65535"),
        (["connect", "::1:80"], "[ADDRESS]:PORT"),
        (["listen", "nope"], "must be a number 0..65535"),
        (["listen", "--", "-1"], "port -1: must be a number 0..65535"),
        (["listen", "65536"], "0..65535"),
        (["connect", "--type", "tsl", "localhost:1"], "'tsl' is not a type: did you mean 'tls'"),
        (["info", "--type", "tsl", "localhost:1"], "'tsl' is not a type"),
        (["listen", "--type", "tcpp", "0"], "'tcpp' is not a type"),
        (["send", "--type", "TLS", "f", "localhost:1"], "did you mean 'tls'"),
        (["connect", "--type", "tls", "--alpn", "a" * 300, "localhost:1"], "alpn"),
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
    with refusing_port() as port:
        result = unisock("connect", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert "refused" in one_clean_line(result.stderr).lower()


def test_unknown_host_is_one_line() -> None:
    result = unisock("connect", "no-such-host.invalid:80")
    assert result.returncode == 1
    assert "no-such-host.invalid" in one_clean_line(result.stderr)


def test_debug_shows_the_traceback() -> None:
    with refusing_port() as port:
        result = unisock("connect", "--debug", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert b"Traceback" in result.stderr


def test_type_help_lists_the_choices() -> None:
    for command, default in (("connect", "tcp"), ("listen", "tcp"), ("info", "tls")):
        result = unisock(command, "--help")
        assert result.returncode == 0
        text = " ".join(result.stdout.decode().split())
        assert f"{default} (default)" in text, (command, text)
        for choice in ("udp", "quic", "h2", "http/1.1", "acme-tls/1", "h3", "doq"):
            assert choice in text, (command, choice)


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory, pki: dict[str, Path]) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("bad")
    files = {
        "text": b"hello, not a certificate\n",
        "empty": b"",
        "damaged": b"-----BEGIN CERTIFICATE-----\nMIIBroken\n-----END CERTIFICATE-----\n",
        "der": ssl.PEM_cert_to_DER_cert(trustme.CA().cert_pem.bytes().decode()),
    }
    paths = {name: str(tmp / name) for name in files}
    for name, data in files.items():
        Path(paths[name]).write_bytes(data)
    paths["missing"] = str(tmp / "missing.pem")
    paths["ca"] = str(pki["ca"])  # a certificate, no key
    paths["server"] = str(pki["server"])  # key and chain
    paths["other_key"] = str(tmp / "other_key.pem")
    trustme.CA().issue_cert("localhost").private_key_pem.write_to_path(paths["other_key"])
    return paths


@pytest.mark.parametrize(
    ("flags", "culprit", "words"),
    [
        (["connect", "--type", "tls", "--ca", "{text}"], "text", "no PEM certificate"),
        (["connect", "--type", "tls", "--ca", "{empty}"], "empty", "empty"),
        (["connect", "--type", "tls", "--ca", "{damaged}"], "damaged", "does not parse"),
        (["connect", "--type", "tls", "--ca", "{der}"], "der", "no PEM certificate"),
        (["info", "--ca", "{text}"], "text", "no PEM certificate"),
        (["send", "/dev/null", "--type", "tls", "--ca", "{text}"], "text", "no PEM"),
        (
            ["connect", "--type", "tls", "--cert", "{text}", "--key", "{server}"],
            "text",
            "--cert",
        ),
        (
            ["connect", "--type", "tls", "--cert", "{server}", "--key", "{ca}"],
            "ca",
            "no usable PEM private key",
        ),
        (
            ["connect", "--type", "tls", "--cert", "{server}", "--key", "{missing}"],
            "missing",
            "No such file",
        ),
        (
            ["connect", "--type", "tls", "--cert", "{server}", "--key", "{other_key}"],
            "other_key",
            "is not the key of --cert",
        ),
        (["listen", "--type", "tls", "--cert", "{text}", "--key", "{server}"], "text", "--cert"),
        (["listen", "--type", "tls", "--cert", "{server}", "--key", "{text}"], "text", "--key"),
        (["listen", "--type", "tls", "--cert", "{missing}", "--key", "{server}"], "missing", ""),
        (["listen", "--type", "tls", "--self-signed", "--ca", "{empty}"], "empty", "--ca"),
        (["recv", "--type", "tls", "--self-signed", "--ca", "{der}"], "der", "--ca"),
    ],
)
def test_bad_certificate_files_are_usage_errors(
    bad_files: dict[str, str], flags: list[str], culprit: str, words: str
) -> None:
    """A file that is missing or no PEM certificate/key: exit 2, one line naming the file."""
    args = [flag.format(**bad_files) for flag in flags]
    target = "0" if flags[0] in ("listen", "recv") else "localhost:1"
    result = unisock(*args, target)
    line = one_clean_line(result.stderr)
    assert result.returncode == 2, line
    assert bad_files[culprit] in line
    assert words in line
    assert "ParseError" not in line and "asn1" not in line.lower()


def test_info_defaults_to_tls_and_tells_the_ticket_truly(peer: Any, pki: dict[str, Path]) -> None:
    tls13 = s_server(peer, pki, "-rev")
    result = unisock("info", "--ca", str(pki["ca"]), f"localhost:{tls13}")
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    assert "protocol         TLSv1.3" in text
    assert "verification     ok" in text
    assert "session reuse    yes" in text
    assert re.search(r"session ticket   received, lifetime \d+ s", text), text
    tls12 = s_server(peer, pki, "-rev", "-tls1_2")
    text = unisock("info", "--ca", str(pki["ca"]), f"localhost:{tls12}").stdout.decode()
    assert "session reuse    yes" in text
    assert re.search(r"session ticket   \d+ bytes", text), text
    session_id = s_server(peer, pki, "-rev", "-tls1_2", "-no_ticket")
    text = unisock("info", "--ca", str(pki["ca"]), f"localhost:{session_id}").stdout.decode()
    assert "session reuse    yes" in text
    assert "session ticket   none (the server resumed by session ID)" in text, text
    plain = unisock("info", "--type", "tcp", "--ca", str(pki["ca"]), f"localhost:{tls13}")
    assert plain.returncode == 2
    assert "--ca needs --type tls" in one_clean_line(plain.stderr)


# -- TCP with socat and curl -----------------------------------------------------------


def test_connect_to_socat_binary_echo_and_half_close(peer: Any) -> None:
    need("socat")
    port = peer(["socat", "TCP-LISTEN:0,fork", "EXEC:cat"]).port()
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


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_sigint_while_connected_closes_gracefully(bg: Any, peer: Any, loop: str) -> None:
    """Ctrl-C ends ``connect`` with 130 and a FIN, not a reset: the peer sees a clean EOF."""
    need("socat")
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    # One connection, no fork, so that socat ends with it; -d: it warns of a reset.
    server = peer(["socat", "-d", "TCP-LISTEN:0", "EXEC:cat"], stderr=subprocess.PIPE)
    port = server.port()  # read from /proc: a probe connection would be its one connection
    client = bg("connect", "--verbose", "--loop", loop, f"127.0.0.1:{port}", stdin=subprocess.PIPE)
    client.wait_for("connected to")
    assert client.proc.stdin is not None
    client.proc.stdin.write(b"ping\n")
    client.proc.stdin.flush()
    assert client.proc.stdout is not None
    assert select.select([client.proc.stdout], [], [], 10)[0], "no echo"
    assert os.read(client.proc.stdout.fileno(), 100) == b"ping\n"
    client.proc.send_signal(signal.SIGINT)
    code, _, err = client.finish()
    assert code == 130
    assert b"Traceback" not in err
    assert server.proc.wait(10) == 0
    warnings = server.proc.stderr.read()
    assert b"reset" not in warnings, warnings


# -- UDP -------------------------------------------------------------------------------


def test_udp_connect_to_socat_echo(peer: Any) -> None:
    need("socat")
    port = peer(["socat", "UDP-RECVFROM:0,fork", "EXEC:cat"]).port("udp")
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


def test_udp_to_a_closed_port_reports_the_refusal() -> None:
    """The ICMP port unreachable the OS reports fails ``connect --type udp`` (exit 1)."""
    with refusing_port("udp") as port:
        started = time.monotonic()
        result = unisock(
            "connect", "--type", "udp", "--wait", "3", f"127.0.0.1:{port}", stdin=b"anyone?"
        )
    assert result.returncode == 1
    assert "refused" in one_clean_line(result.stderr).lower()
    assert time.monotonic() - started < 3, "it waited for replies instead of failing"


# -- TLS with openssl ------------------------------------------------------------------


def s_server(peer: Any, pki: dict[str, Path], *extra: str) -> int:
    need("openssl")
    server = peer(
        ["openssl", "s_server", "-accept", "0", "-cert", str(pki["server"]), "-quiet", *extra]
    )
    return server.port()


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


@pytest.mark.parametrize(
    "server",
    [
        "EXEC:cat",  # echoes the ClientHello back
        "SYSTEM:echo 220 plain text banner; sleep 5",  # an SMTP-like greeting
    ],
)
def test_tls_to_a_plaintext_server_hints_at_it(peer: Any, server: str) -> None:
    need("socat")
    port = peer(["socat", "TCP-LISTEN:0,fork", server]).port()
    result = unisock("connect", "--type", "tls", "-k", f"127.0.0.1:{port}")
    assert result.returncode == 1
    line = one_clean_line(result.stderr)
    assert "TLS" in line and "may not speak TLS" in line


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
    port = peer(
        ["socat", "-u", "TCP-LISTEN:0,fork", f"OPEN:{tmp_path / 'b.bin'},creat,append"]
    ).port()
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
