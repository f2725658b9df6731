"""Readable one-liners for a socket's ``info`` and ``stats`` (``--verbose``, the demo)."""

from __future__ import annotations

from .. import SocketInfo, SocketStats

__all__ = ["info_line", "size", "stats_line"]


def size(n: float) -> str:
    """``n`` bytes in IEC units: ``512 B``, ``1.5 KiB``, ``3.2 MiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def info_line(info: SocketInfo) -> str:
    """``ALPN h2, TLSv1.3 TLS_AES_128_GCM_SHA256, verified`` and the like."""
    if info.cipher is None and info.peer_certificate is None:
        return info.type
    parts = []
    if info.type not in ("tls", "quic"):
        parts.append(f"ALPN {info.type}")
    if info.cipher is not None:
        parts.append(f"{info.cipher.version} {info.cipher.standard_name or info.cipher.name}")
    if info.verification_status == "ok":
        parts.append("verified")
    elif info.verification_status:
        parts.append(f"verification: {info.verification_status}")
    else:
        parts.append("not verified")
    if info.session_reused:
        parts.append("resumed")
    return ", ".join(parts)


def stats_line(stats: SocketStats) -> str:
    return (
        f"sent {stats.bytes_sent:,} B in {stats.packets_sent:,} packets, "
        f"received {stats.bytes_received:,} B in {stats.packets_received:,} packets"
    )
