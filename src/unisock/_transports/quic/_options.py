"""The QUIC layer's own TLS options, and their translation into a core's configuration.

Kept small and isolated on purpose: the project's general key/certificate normalizer will
replace :func:`read_pem` later; nothing else here knows how keys and certificates arrive.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from ..tls.config import keylog_path, trust_locations

__all__ = ["DEFAULT_STREAM_WINDOW", "PemSource", "QuicTLSOptions", "fill_configuration", "read_pem"]

PemSource: TypeAlias = "bytes | str | os.PathLike[str]"
"""PEM bytes, PEM text (starting with ``-----BEGIN``) or a path to a PEM file."""

DEFAULT_STREAM_WINDOW = 1 << 20
"""Receive window per stream: the most a paused reader ever buffers for one stream."""


@dataclass(frozen=True)
class QuicTLSOptions:
    """TLS and transport settings of one QUIC connection; hashable, so it keys pools."""

    servername: str | None = None
    verify: bool = True
    ca: PemSource | None = None
    cert: PemSource | None = None
    key: PemSource | None = None
    alpn: tuple[str, ...] = ()
    idle_timeout: float = 30.0
    max_datagram_frame_size: int | None = 65536
    stream_window: int = DEFAULT_STREAM_WINDOW


def read_pem(source: PemSource) -> bytes:
    """Return PEM bytes from bytes, PEM text or a file path."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    if isinstance(source, str) and source.lstrip().startswith("-----BEGIN"):
        return source.encode("ascii")
    with open(source, "rb") as f:
        return f.read()


class _KeyLog:
    """A key log that appends each line to ``path`` and holds no file open in between
    (the cores only call ``write`` and ``flush``; a connection logs a handful of lines)."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    def write(self, line: str) -> int:
        try:
            with open(self.path, "a", encoding="ascii") as f:
                return f.write(line)
        except OSError:
            return 0  # as OpenSSL does: a key log that cannot be written is skipped

    def flush(self) -> None:
        pass


def fill_configuration(
    config: Any,
    options: QuicTLSOptions,
    *,
    is_client: bool,
    load_chain: Callable[[bytes, bytes], tuple[Any, list[Any], Any]],
) -> Any:
    """Fill a core's ``QuicConfiguration`` (both cores share the field names) from
    ``options``; ``load_chain(cert_pem, key_pem)`` gives the core's own certificate, chain
    and key objects.  Raises ``ValueError`` naming a bad field."""
    if not options.alpn:
        raise ValueError("alpn: QUIC needs at least one ALPN protocol id")
    config.alpn_protocols = list(options.alpn)
    config.idle_timeout = options.idle_timeout if options.idle_timeout else 3600.0
    config.max_datagram_frame_size = options.max_datagram_frame_size
    config.max_stream_data = options.stream_window
    config.max_data = max(options.stream_window * 4, 1 << 20)
    if is_client:
        config.server_name = options.servername
        if not options.verify:
            config.verify_mode = ssl.CERT_NONE
    if options.ca is not None:
        config.cadata = read_pem(options.ca)
    elif is_client and options.verify:
        # The trust policy of TLS over TCP (system store, SSL_CERT_FILE/SSL_CERT_DIR,
        # certifi only where there is none), not the core's own default.
        config.cafile, config.capath = trust_locations()
    keylog = keylog_path()
    if keylog is not None:
        config.secrets_log_file = _KeyLog(keylog)
    if options.cert is not None:
        cert_pem = read_pem(options.cert)
        key_pem = read_pem(options.key if options.key is not None else options.cert)
        config.certificate, config.certificate_chain, config.private_key = load_chain(
            cert_pem, key_pem
        )
    elif not is_client:
        raise ValueError("cert: a QUIC server needs a certificate and a key")
    return config
