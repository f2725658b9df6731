"""Certificates for the TLS and QUIC peers: the suite makes them once per run.

The harness (suite/kinds.py) writes ``ca.pem``, ``chain.pem`` (server certificate for
127.0.0.1 and localhost, then its chain) and ``key.pem`` into a temp dir and names it in
``UNISOCK_BENCH_CERTS``.  Clients verify the server against ``ca.pem`` and the IP address.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import _common as c

HOST = "127.0.0.1"
ALPN = "bench"
"""The ALPN id of the QUIC peers (QUIC always negotiates one)."""


def cert_dir() -> Path:
    """The run's certificate dir, or exit with a reason the report shows."""
    path = os.environ.get("UNISOCK_BENCH_CERTS")
    if not path or not (Path(path) / "chain.pem").exists():
        c.fail("UNISOCK_BENCH_CERTS names no certificate dir (run through benchmarks/run.py)")
    return Path(path)


def pem(name: str) -> bytes:
    """``ca``, ``chain`` or ``key`` as PEM bytes."""
    return (cert_dir() / f"{name}.pem").read_bytes()


def server_context() -> ssl.SSLContext:
    """A server context with the run's certificate (the defaults of ``create_default_context``)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    d = cert_dir()
    ctx.load_cert_chain(d / "chain.pem", d / "key.pem")
    return ctx


def client_context() -> ssl.SSLContext:
    """A verifying client context trusting only the run's CA."""
    ctx = ssl.create_default_context(cafile=str(cert_dir() / "ca.pem"))
    return ctx
