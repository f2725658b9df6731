"""From command-line flags to the library's options: addresses, ``SocketInit`` fields."""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .run import UsageError

__all__ = [
    "client_options",
    "datagram",
    "listen_address",
    "listener_options",
    "read_file",
    "target_address",
    "transport_of",
]

_QUIC_ALPN_HINT = "QUIC always negotiates an ALPN: add --alpn ID (e.g. --alpn h3)"


def _port(text: str, what: str, *, allow_zero: bool) -> int:
    if not text.isdigit():
        raise UsageError(f"bad {what} port {text!r}: not a number")
    port = int(text)
    if not (0 if allow_zero else 1) <= port <= 65535:
        raise UsageError(f"bad {what} port {port}: must be 1..65535")
    return port


def _split(text: str, what: str) -> tuple[str | None, str]:
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1 : end + 2] != ":":
            raise UsageError(f"bad {what} {text!r}: IPv6 is written [ADDRESS]:PORT")
        return text[1:end], text[end + 2 :]
    host, sep, port = text.rpartition(":")
    if ":" in host:
        raise UsageError(f"bad {what} {text!r}: write an IPv6 address as [ADDRESS]:PORT")
    return (host if sep else None), port


def target_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``[v6]:PORT``) of a peer to connect to."""
    host, port = _split(text, "address")
    if not host:
        raise UsageError(f"bad address {text!r}: expected HOST:PORT (e.g. example.com:443)")
    return host, _port(port, "address", allow_zero=False)


def listen_address(text: str) -> tuple[str, int]:
    """``[HOST:]PORT`` to listen on; HOST defaults to 127.0.0.1 (loopback only)."""
    host, port = _split(text, "listen address")
    return host or "127.0.0.1", _port(port, "listen address", allow_zero=True)


def read_file(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"{what} {path}: {exc.strerror or exc}") from None


def transport_of(args: argparse.Namespace) -> str:
    """The transport a ``--type`` stands for: an ALPN id means TLS, or QUIC for QUIC's."""
    kind: str = args.type
    if kind in ("tcp", "udp", "tls", "quic"):
        transport = kind
    elif kind in ("h3", "doq") or kind.startswith(("h3-", "hq-")):
        transport = "quic"
    elif kind:
        transport = "tls"
    else:
        raise UsageError("--type must not be empty")
    if transport == "quic" and not args.alpn and kind == "quic":
        raise UsageError(f"--type quic: {_QUIC_ALPN_HINT}")
    if transport in ("tcp", "udp") and args.alpn:
        raise UsageError(f"--alpn needs --type tls or quic (or an ALPN), not {transport}")
    return transport


def datagram(args: argparse.Namespace) -> bool:
    return transport_of(args) == "udp"


def _base(args: argparse.Namespace) -> dict[str, Any]:
    init: dict[str, Any] = {"type": args.type}
    if args.alpn:
        init["alpn"] = list(args.alpn)
    return init


def _check_tls_flags(args: argparse.Namespace, transport: str, names: tuple[str, ...]) -> None:
    if transport in ("tls", "quic"):
        return
    for name in names:
        if getattr(args, name, None):
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag} needs --type tls or quic (or an ALPN), not {transport}")


def client_options(args: argparse.Namespace) -> dict[str, Any]:
    """``Socket`` options from ``connect``/``send``/``info`` flags (remote excluded)."""
    transport = transport_of(args)
    _check_tls_flags(args, transport, ("servername", "ca", "cert", "key", "insecure"))
    init = _base(args)
    if (args.cert is None) != (args.key is None):
        raise UsageError("--cert and --key go together")
    if args.servername:
        init["servername"] = args.servername
    if args.ca:
        init["ca"] = read_file(args.ca, "--ca")
    if args.cert:
        init["cert"] = read_file(args.cert, "--cert")
        init["key"] = read_file(args.key, "--key")
    if args.insecure:
        init["verify"] = False
    timeout = getattr(args, "timeout", 0)
    if timeout:
        init["ready_timeout"] = timeout
    return init


def listener_options(args: argparse.Namespace, ca_file: str | None) -> dict[str, Any]:
    """``SocketListener`` options from ``listen``/``recv`` flags (local excluded).

    ``ca_file`` is where ``--self-signed`` wrote its CA (the caller made it).
    """
    transport = transport_of(args)
    _check_tls_flags(args, transport, ("cert", "key", "ca", "self_signed"))
    init = _base(args)
    if transport in ("tls", "quic"):
        if args.self_signed and (args.cert or args.key):
            raise UsageError("choose --self-signed or --cert/--key, not both")
        if args.self_signed:
            from .certs import make_certificates

            host = listen_address(args.target)[0]
            extra = () if host in ("0.0.0.0", "::") else (host,)
            certs = make_certificates(extra)
            init["cert"], init["key"] = certs.cert_pem, certs.key_pem
            if ca_file is not None:
                Path(ca_file).write_bytes(certs.ca_pem)
        elif args.cert and args.key:
            init["cert"] = read_file(args.cert, "--cert")
            init["key"] = read_file(args.key, "--key")
        else:
            raise UsageError(
                f"a {transport} listener needs --cert FILE --key FILE or --self-signed"
            )
        if args.ca:
            init["ca"] = read_file(args.ca, "--ca")
    return init


@contextlib.contextmanager
def temporary_ca_file(wanted: bool) -> Iterator[str | None]:
    """A temporary path for a ``--self-signed`` CA, removed at exit."""
    if not wanted:
        yield None
        return
    fd, path = tempfile.mkstemp(prefix="unisock-ca-", suffix=".pem")
    os.close(fd)
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
