"""``unisock info HOST:PORT``: what a TLS (the default) or QUIC connection really is.

The certificate fields are parsed with ``cryptography`` from ``info.peer_certificate``
(DER); a second connection offering ``info.session`` shows whether the server resumes.
"""

from __future__ import annotations

import argparse
import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from .. import Socket, SocketInfo
from .connect import finish
from .options import client_options, open_socket, target_address, transport_of
from .tasks import sleep

__all__ = ["certificate_lines", "info_main", "ticket_text"]

TICKET_WAIT = 0.2
"""Seconds the first connection stays open so that a TLS 1.3 session ticket arrives."""


def _names(cert: x509.Certificate) -> str:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return "(none)"
    names = [str(n) for n in san.get_values_for_type(x509.DNSName)]
    names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return ", ".join(names) or "(none)"


def certificate_lines(der: bytes, now: datetime.datetime | None = None) -> list[tuple[str, str]]:
    """(label, value) rows describing a DER certificate."""
    cert = x509.load_der_x509_certificate(der)
    now = now or datetime.datetime.now(datetime.UTC)
    end = cert.not_valid_after_utc
    days = (end - now).total_seconds() / 86400
    expiry = f"{end:%Y-%m-%d %H:%M} UTC"
    expiry += f" (in {days:.0f} days)" if days >= 0 else f" (EXPIRED {-days:.0f} days ago)"
    key = cert.public_key()
    key_text = type(key).__name__.removeprefix("_").replace("PublicKey", "")
    bits = getattr(key, "key_size", None)
    if bits:
        key_text += f" {bits} bits"
    return [
        ("subject", cert.subject.rfc4514_string()),
        ("issuer", cert.issuer.rfc4514_string()),
        ("names", _names(cert)),
        ("valid from", f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"),
        ("expires", expiry),
        ("public key", key_text),
        ("sha-256", cert.fingerprint(hashes.SHA256()).hex(":")),
    ]


def info_rows(info: SocketInfo) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = [
        ("remote", str(info.remote)),
        ("local", str(info.local)),
        ("type", info.type),
    ]
    if info.cipher is None and info.peer_certificate is None:
        rows.append(("tls", "none (plain connection)"))
        return rows
    if info.cipher is not None:
        rows.append(("protocol", info.cipher.version))
        name = info.cipher.standard_name or info.cipher.name
        if info.cipher.standard_name and info.cipher.name != info.cipher.standard_name:
            name += f" (OpenSSL: {info.cipher.name})"
        rows.append(("cipher", name))
    if info.ephemeral_key is not None:
        k = info.ephemeral_key
        bits = f"{k.size} bits" if k.size else None
        rows.append(("key exchange", " ".join(str(p) for p in (k.type, k.name, bits) if p)))
    rows.append(("servername", info.servername or "(none)"))
    if info.signature_algorithms:
        algs = info.signature_algorithms
        text = ", ".join(algs[:6]) + (f", ... ({len(algs)} in all)" if len(algs) > 6 else "")
        rows.append(("signature algs", text))
    status = info.verification_status
    rows.append(("verification", status if status else "off (--insecure)"))
    if info.peer_certificate:
        cert = certificate_lines(info.peer_certificate)
        rows += [(f"cert {label}", value) for label, value in cert]
    else:
        rows.append(("certificate", "(the peer sent none)"))
    return rows


def ticket_text(info: SocketInfo, reused: bool | None, *, quic: bool = False) -> str:
    """What is known of the session ticket the server sent (``reused``: on a second try)."""
    if info.ticket:
        return f"{len(info.ticket)} bytes"
    session = info.session
    if getattr(session, "has_ticket", False):
        text = "received"
        lifetime = getattr(session, "ticket_lifetime_hint", 0)
        if lifetime:
            text += f", lifetime {lifetime} s"
        if info.cipher is not None and info.cipher.version == "TLSv1.3":
            text += " (TLS 1.3 sends it encrypted: its size is not shown)"
        return text
    tls13 = info.cipher is not None and info.cipher.version == "TLSv1.3"
    if reused and not tls13:
        return "none (the server resumed by session ID)"
    if reused:
        return "received (the second connection resumed with it; its details are not shown)"
    if quic:
        return "not shown (the QUIC stack keeps tickets to itself)"
    return "none"


def _print(rows: list[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label.ljust(width)}  {value}")


async def _open(remote: tuple[str, int] | str, init: dict[str, Any]) -> tuple[Socket, SocketInfo]:
    sock = open_socket(remote=remote, **init)
    try:
        info = await sock.ready
    except BaseException:
        await finish(sock, False)
        raise
    return sock, info


async def info_main(args: argparse.Namespace) -> int:
    remote = target_address(args.target)
    init = client_options(args)
    quic = transport_of(args) == "quic"
    if quic:
        init["allow_pooling"] = False  # a pooled QUIC socket would share the connection
    sock, info = await _open(remote, init)
    if info.cipher is not None:
        await sleep(TICKET_WAIT)  # TLS 1.3 tickets come just after the handshake
        info = sock.info  # refreshed: its session now holds the ticket, if one came
    await finish(sock, True)
    rows = info_rows(info)
    if info.cipher is None:
        pass
    elif args.no_resume:
        rows.append(("session ticket", ticket_text(info, None, quic=quic)))
        rows.append(("session reuse", "not tried (--no-resume)"))
    else:
        # TLS: the library's session cache (allow_pooling) offers what the first one got.
        again_init = {**init, "session": info.session} if quic and info.session else init
        again, info2 = await _open(remote, again_init)
        await finish(again, True)
        rows.append(("session ticket", ticket_text(info, info2.session_reused, quic=quic)))
        reused = "yes" if info2.session_reused else "no"
        rows.append(("session reuse", f"{reused} (on a second connection)"))
    _print(rows)
    return 0
