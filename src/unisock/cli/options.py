"""From command-line flags to the library's options: addresses, ``SocketInit`` fields."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from .. import Socket, SocketListener
from .run import UsageError
from .transports import TRANSPORTS, is_quic_alpn

__all__ = [
    "client_options",
    "datagram",
    "listen_address",
    "listener_options",
    "new_listener",
    "open_socket",
    "read_cert_and_key",
    "read_certificates",
    "read_file",
    "read_key",
    "target_address",
    "transport_of",
]

_QUIC_ALPN_HINT = "QUIC always negotiates an ALPN: add --alpn ID (e.g. --alpn h3)"


def _port(text: str, what: str, *, allow_zero: bool) -> int:
    lowest = 0 if allow_zero else 1
    expected = f"a number {lowest}..65535" + (" (0: any free port)" if allow_zero else "")
    digits = text[1:] if text[:1] in ("-", "+") else text  # one sign at most ("-+5" is bad)
    if not digits.isascii() or not digits.isdigit():
        raise UsageError(f"bad {what} port {text!r}: must be {expected}")
    port = int(text)
    if not lowest <= port <= 65535:
        raise UsageError(f"bad {what} port {text}: must be {expected}")
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


def _unix(text: str) -> str | None:
    """``unix:/path`` (or ``unix:@abstract``) as the library takes it, else None."""
    text = text.strip()
    if not text.startswith("unix:"):
        return None
    if len(text) == len("unix:"):
        raise UsageError(f"bad address {text!r}: expected unix:/PATH (or unix:@NAME)")
    return text


def target_address(text: str) -> tuple[str, int] | str:
    """``HOST:PORT`` (or ``[v6]:PORT``) of a peer to connect to, or ``unix:/PATH``."""
    unix = _unix(text)
    if unix is not None:
        return unix
    host, port = _split(text, "address")
    if not host:
        raise UsageError(f"bad address {text!r}: expected HOST:PORT (e.g. example.com:443)")
    return host, _port(port, "address", allow_zero=False)


def listen_address(text: str) -> tuple[str, int] | str:
    """``[HOST:]PORT`` to listen on (HOST defaults to 127.0.0.1, loopback only), or
    ``unix:/PATH``."""
    unix = _unix(text)
    if unix is not None:
        return unix
    host, port = _split(text, "listen address")
    return host or "127.0.0.1", _port(port, "listen address", allow_zero=True)


def read_file(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"{what} {path}: {exc.strerror or exc}") from None


def read_certificates(path: str, flag: str) -> bytes:
    """A file of PEM certificates (``--ca``, ``--cert``), checked here: a usage error names it."""
    data = read_file(path, flag)
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        certs = []
    if not certs:
        what = _found(data, "CERTIFICATE")
        raise UsageError(f"{flag} {path}: no PEM certificate in this file ({what})")
    return data


def read_key(path: str, flag: str) -> tuple[bytes, Any]:
    """A PEM private key (``--key``) and its public key, checked here."""
    data = read_file(path, flag)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise UsageError(f"{flag} {path}: the key is encrypted; decrypt it first") from None
    except (ValueError, UnsupportedAlgorithm):
        what = _found(data, "PRIVATE KEY")
        raise UsageError(f"{flag} {path}: no usable PEM private key in it ({what})") from None
    return data, key.public_key()


def read_cert_and_key(args: argparse.Namespace) -> tuple[bytes, bytes]:
    """``--cert`` and ``--key``, checked to be a certificate chain and the key of its leaf."""
    cert = read_certificates(args.cert, "--cert")
    key, public = read_key(args.key, "--key")
    leaf = x509.load_pem_x509_certificates(cert)[0]
    if leaf.public_key() != public:
        raise UsageError(
            f"--key {args.key} is not the key of --cert {args.cert} (its first certificate)"
        )
    return cert, key


def _found(data: bytes, wanted: str) -> str:
    """What a file that is not what was asked for holds, in a few words."""
    labels = re.findall(rb"-----BEGIN ([A-Z0-9 ]+)-----", data)
    found = list(dict.fromkeys(label.decode() for label in labels))
    if not found:
        return "it is not PEM" if data.strip() else "it is empty"
    damaged = [label for label in found if wanted in label]
    if damaged:
        return f"its {damaged[0]} block does not parse"
    return f"it holds only {', '.join(found)}"


def transport_of(args: argparse.Namespace) -> str:
    """The transport a ``--type`` stands for: an ALPN id means TLS, or QUIC for QUIC's."""
    kind: str = args.type
    if kind in TRANSPORTS:
        transport = kind
    elif is_quic_alpn(kind):
        transport = "quic"
    else:
        transport = "tls"
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
        init["ca"] = read_certificates(args.ca, "--ca")
    if args.cert:
        init["cert"], init["key"] = read_cert_and_key(args)
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

            where = listen_address(args.target)
            host = where[0] if isinstance(where, tuple) else "localhost"
            extra = () if host in ("0.0.0.0", "::") else (host,)
            certs = make_certificates(extra)
            init["cert"], init["key"] = certs.cert_pem, certs.key_pem
            if ca_file is not None:
                Path(ca_file).write_bytes(certs.ca_pem)
        elif args.cert and args.key:
            init["cert"], init["key"] = read_cert_and_key(args)
        else:
            raise UsageError(
                f"a {transport} listener needs --cert FILE --key FILE or --self-signed"
            )
        if args.ca:
            init["ca"] = read_certificates(args.ca, "--ca")
    return init


def open_socket(**init: Any) -> Socket:
    """``Socket(**init)``; what the library rejects in the options is a usage error."""
    try:
        return Socket(**init)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"bad option: {exc}") from None


def new_listener(**init: Any) -> SocketListener:
    """``SocketListener(**init)``; what the library rejects is a usage error."""
    try:
        return SocketListener(**init)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"bad option: {exc}") from None


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
