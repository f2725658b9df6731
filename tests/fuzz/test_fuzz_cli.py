"""Fuzzing the CLI's parsers with hypothesis: addresses, argv, PEM files.

Asserted: each fails only the documented way (``UsageError`` with a message, argparse's
``SystemExit(2)``, ``ValueError``/``TypeError`` from ``parse_address``), never another
exception.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from unisock._base.address import parse_address
from unisock.cli.args import build_parser
from unisock.cli.options import listen_address, read_certificates, read_key, target_address
from unisock.cli.run import UsageError

pytestmark = pytest.mark.timeout(120)

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

address_text = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda host, sep, port: f"{host}{sep}{port}",
        st.one_of(
            st.sampled_from(
                ["", "localhost", "127.0.0.1", "[::1]", "[fe80::1%lo]", "[::1%lo]", "["]
            ),
            st.text(max_size=12),
        ),
        st.sampled_from([":", "", "]:", "::"]),
        st.one_of(
            st.integers(-70000, 70000).map(str),
            st.sampled_from(["-+5", "+-5", "+5", "-0", "٣", "1_0", " 80", "0x50", "", "+"]),
            st.text(max_size=6),
        ),
    ),
)


@FUZZ
@given(text=address_text)
@example(text="h:-+5")
@example(text="h:+-5")
def test_cli_addresses(text: str) -> None:
    for parse in (target_address, listen_address):
        try:
            host, port = parse(text)
        except UsageError as exc:
            assert str(exc)
        else:
            assert isinstance(host, str) and host
            assert 0 <= port <= 65535


@FUZZ
@given(text=address_text)
def test_library_addresses(text: str) -> None:
    for allow_zero in (False, True):
        try:
            parse_address(text, "remote", allow_zero_port=allow_zero)
        except (ValueError, TypeError) as exc:
            assert str(exc)


flags = st.sampled_from(
    [
        "connect",
        "listen",
        "send",
        "recv",
        "info",
        "demo",
        "--type",
        "-t",
        "quic",
        "tls",
        "udp",
        "h2",
        "--alpn",
        "--timeout",
        "--wait",
        "-1",
        "nan",
        "inf",
        "1e999",
        "0",
        "--loop",
        "uvloop",
        "trio",
        "--echo",
        "--insecure",
        "--self-signed",
        "127.0.0.1:0",
        "--",
        "-",
        "--cert",
        "--key",
        "--ca",
        "-v",
        "--debug",
        "--no-half-close",
        "--servername",
    ]
)


@FUZZ
@given(argv=st.lists(st.one_of(flags, st.text(max_size=10)), max_size=8))
def test_argv(argv: list[str]) -> None:
    parser = build_parser()
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            parser.parse_args(argv)
        except SystemExit as exc:
            assert exc.code in (0, 2)


pem_blocks = st.builds(
    lambda label, body, end: f"-----BEGIN {label}-----\n{body}\n-----END {end}-----\n".encode(),
    st.sampled_from(["CERTIFICATE", "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY", "X"]),
    st.one_of(
        st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123456789+/=\n", max_size=200),
        st.binary(max_size=120).map(lambda b: __import__("base64").b64encode(b).decode()),
    ),
    st.sampled_from(["CERTIFICATE", "PRIVATE KEY", "EC PRIVATE KEY", "Y"]),
)


@FUZZ
@given(
    data=st.one_of(
        st.binary(max_size=300), pem_blocks, st.lists(pem_blocks, max_size=3).map(b"".join)
    )
)
def test_pem_files(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "file.pem"
    path.write_bytes(data)
    for read in (read_certificates, read_key):
        try:
            read(str(path), "--flag")
        except UsageError as exc:
            assert str(path) in str(exc)
