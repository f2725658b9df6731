"""The smaller items of issue 16 (item 12): each failed before its fix.

* ``[::1%lo]``: a scope id on a non-link-local address, or naming no interface, was a bare
  resolver error ("Unknown error -2" / "Name or service not known");
* a TLS 1.0/1.1 client got a bare EOF from the TLS listener instead of a
  protocol_version alert (the alert was dropped by an abort);
* ``close()`` on a socket still connecting blamed the peer ("the peer is not reading");
* the CLI printed aioquic's own log line next to its one-line error.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from tests import rt
from tests.adversarial._util import CA_PEM, CHAIN_PEM, KEY_PEM
from tests.conftest import eventually, tcp_unread

import unisock
from unisock._base.address import parse_address

pytestmark = [pytest.mark.timeout(60), pytest.mark.trio]  # `run` tests on trio too


@pytest.mark.parametrize(
    ("host", "match"),
    [
        ("::1%lo", "only applies to link-local"),
        ("::1%1", "only applies to link-local"),
        ("fe80::1%no-such-if0", "no network interface is named 'no-such-if0'"),
        ("fe80::1%", "empty scope id"),
    ],
)
def test_bad_scope_ids_say_what_is_wrong(host: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_address((host, 443), "remote", allow_zero_port=False)
    with pytest.raises(ValueError, match=match):
        parse_address(f"[{host}]:443", "remote", allow_zero_port=False)


def test_good_scope_ids_pass() -> None:
    for host in ("fe80::1%lo", "fe80::1%1", "ff02::1%lo"):
        assert parse_address((host, 1), "remote", allow_zero_port=False).address == host


def _old_tls_client(port: int, version: ssl.TLSVersion) -> BaseException | None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSVersion.TLSv1 is deprecated
        ctx.minimum_version = version
        ctx.maximum_version = version
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        try:
            ctx.wrap_socket(raw, server_hostname="localhost").close()
        except (ssl.SSLError, OSError) as exc:
            return exc
    return None


def test_tls_listener_refuses_old_versions_with_an_alert(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener(type="tls", cert=CHAIN_PEM, key=KEY_PEM) as listener:
            port = listener.local.port
            for name in ("TLSv1", "TLSv1_1"):
                version = getattr(ssl.TLSVersion, name)
                exc = await rt.to_thread(_old_tls_client, port, version)
                # Before: SSLEOFError "UNEXPECTED_EOF_WHILE_READING".
                assert isinstance(exc, ssl.SSLError), repr(exc)
                assert "ALERT_PROTOCOL_VERSION" in str(exc), repr(exc)

    run(main)


def test_close_while_connecting_says_never_established(run: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(unisock.Socket, "CLOSE_GRACE", 0.3)

    async def main() -> None:
        # A TCP peer that never answers the TLS handshake: the socket stays connecting.
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen()
            sock = unisock.Socket(
                remote=silent.getsockname(), type="tls", ca=CA_PEM, servername="localhost"
            )
            # connected, and the ClientHello waits, unread, in the silent peer's socket
            port = silent.getsockname()[1]
            await eventually(lambda: tcp_unread(port) > 0, what="the ClientHello arrived")
            await sock.close()
            with pytest.raises(unisock.errors.TimeoutError) as info:
                await sock.closed
            assert "the TLS handshake never finished" in str(info.value)
            assert "peer is not reading" not in str(info.value)

    run(main)


def test_cli_quic_error_is_one_line(tmp_path: Path) -> None:
    pem = tmp_path / "server.pem"
    pem.write_bytes(KEY_PEM + CHAIN_PEM)
    cli = [sys.executable, "-m", "unisock"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    server = subprocess.Popen(
        [
            *cli,
            "listen",
            "-t",
            "quic",
            "--alpn",
            "x",
            "--cert",
            str(pem),
            "--key",
            str(pem),
            "--echo",
            "127.0.0.1:0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stderr is not None
        listening = server.stderr.readline()
        found = re.search(r"listening on \S+:(\d+)", listening)
        assert found, listening
        port = int(found.group(1))
        # No --ca: the server's certificate is not trusted; aioquic logged
        # "[<cid>] Error: 298, reason: unable to get local issuer certificate" too.
        client = subprocess.run(
            [*cli, "connect", "-t", "quic", "--alpn", "x", "--timeout", "5", f"127.0.0.1:{port}"],
            input="hi\n",
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
        )
        assert client.returncode == 1
        assert client.stderr.count("\n") == 1, client.stderr
        assert client.stderr.startswith("unisock: error:"), client.stderr
        time.sleep(0.3)  # time is part of the test: the listener handles the client's end
    finally:
        server.terminate()
        _, rest = server.communicate(timeout=10)
    assert "Error:" not in rest, rest  # nothing from aioquic on the listener's side
