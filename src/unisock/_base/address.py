"""``SocketAddress`` and the forms an address may be given in.

An address is an IP address (or a host name) and a port, or a Unix socket path:
``"unix:/run/app.sock"``, ``{"path": ...}``, ``SocketAddress(path=...)`` or any
``os.PathLike``; ``"unix:@name"`` (or a path starting with ``"\0"``) is a Linux abstract
name, which has no file.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from typing import Any

__all__ = ["SocketAddress", "parse_address"]


@dataclass(frozen=True, slots=True)
class SocketAddress:
    """An IP address (or, before resolution, a host name) and a port; or a Unix socket
    ``path`` (then ``address`` is ``""`` and ``port`` is ``0``)."""

    address: str = ""
    port: int = 0
    path: str | None = None

    def __str__(self) -> str:
        if self.path is not None:
            return "unix:" + ("@" + self.path[1:] if self.path.startswith("\0") else self.path)
        if ":" in self.address:
            return f"[{self.address}]:{self.port}"
        return f"{self.address}:{self.port}"


UNIX_PREFIX = "unix:"
MAX_UNIX_PATH_BYTES = 107  # sun_path: 108 bytes on Linux, with the terminating NUL


def _unix_path(value: Any, field: str) -> SocketAddress:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, bytes):
        raise TypeError(f"{field}.path must be a str, got {value!r}")
    if not isinstance(value, str):
        raise TypeError(f"{field}.path must be a str or a path, got {value!r}")
    path = value
    if path.startswith("@"):
        path = "\0" + path[1:]  # Linux abstract name
    if path in ("", "\0"):
        raise ValueError(f"{field}.path must not be empty")
    if "\0" in path[1:]:
        raise ValueError(f"{field}.path must not contain NUL characters, got {value!r}")
    size = len(path.encode(errors="surrogateescape"))
    if size > MAX_UNIX_PATH_BYTES:
        raise ValueError(
            f"{field}.path is {size} bytes long; a Unix socket path holds at most "
            f"{MAX_UNIX_PATH_BYTES} (use a shorter path, or a directory fd and a relative name)"
        )
    return SocketAddress(path=path)


def _port(value: Any, field: str, allow_zero: bool) -> int:
    low = 0 if allow_zero else 1
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("+-").isdigit() and text.isascii() and len(text) < 12:
            value = int(text)
        else:
            raise ValueError(f"{field}.port must be a number in {low}..65535, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{field}.port must be an int, got {value!r}")
    if not low <= value <= 65535:
        raise ValueError(f"{field}.port must be in {low}..65535, got {value}")
    return value


def _host(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{field}.address must be a str, got {value!r}")
    host = value.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        raise ValueError(f"{field}.address must not be empty")
    if "\x00" in host:
        # The C resolver would stop at the NUL: "127.0.0.1\0.allowed.example" would
        # connect to 127.0.0.1 while an allow-list on the suffix let it through.
        raise ValueError(f"{field}.address must not contain NUL characters, got {value!r}")
    if len(host) > 255:
        raise ValueError(f"{field}.address is longer than 255 characters: {value[:40]!r}...")
    if "%" in host:
        _check_scope(host, field)
    return host


def _check_scope(host: str, field: str) -> None:
    """An IPv6 zone (``fe80::1%eth0``) must name an interface and fit the address.

    The C resolver answers both mistakes with a bare "Name or service not known" (or
    "Unknown error -2"): a named zone on an address that is not link-local (``::1%lo``)
    and an interface that does not exist (``fe80::1%nosuch``).
    """
    address, _, zone = host.partition("%")
    try:
        ip = ipaddress.IPv6Address(address)
    except ValueError:
        return  # not an IPv6 literal: a host name, refused later if it is not one
    if not zone:
        raise ValueError(f"{field}.address {host!r} has an empty scope id after '%'")
    if not (ip.is_link_local or ip.is_multicast):
        raise ValueError(
            f"{field}.address {host!r}: a scope id ('%{zone}') only applies to link-local "
            f"(fe80::/10) and multicast addresses, and {address} is neither"
        )
    if zone.isdigit() and zone.isascii():
        return  # an interface index, as the kernel takes it
    try:
        socket.if_nametoindex(zone)
    except OSError:
        raise ValueError(
            f"{field}.address {host!r}: no network interface is named {zone!r} "
            "(the scope id after '%' names the interface of a link-local address)"
        ) from None


def parse_address(value: Any, field: str, *, allow_zero_port: bool) -> SocketAddress:
    """Accept ``SocketAddress``, ``(host, port)``, ``{"address", "port"}`` or ``"host:port"``;
    or a Unix path: ``"unix:/path"``, ``{"path": ...}``, an ``os.PathLike``."""
    if isinstance(value, SocketAddress):
        if value.path is not None:
            return _unix_path(value.path, field)
        return SocketAddress(_host(value.address, field), _port(value.port, field, allow_zero_port))
    if isinstance(value, os.PathLike):
        return _unix_path(value, field)
    if isinstance(value, dict) and "path" in value:
        unknown = set(value) - {"path"}
        if unknown:
            raise TypeError(f"{field} is a Unix path: it has no {sorted(unknown)!r}")
        return _unix_path(value["path"], field)
    if isinstance(value, str) and value.strip().startswith(UNIX_PREFIX):
        return _unix_path(value.strip()[len(UNIX_PREFIX) :], field)
    if isinstance(value, tuple | list):
        if len(value) < 2:
            raise ValueError(f"{field} must be (host, port), got {value!r}")
        return SocketAddress(_host(value[0], field), _port(value[1], field, allow_zero_port))
    if isinstance(value, dict):
        unknown = set(value) - {"address", "port"}
        if unknown:
            raise TypeError(f"{field} has unknown keys {sorted(unknown)!r}")
        if "address" not in value or "port" not in value:
            raise TypeError(f"{field} needs both 'address' and 'port', got {value!r}")
        return SocketAddress(
            _host(value["address"], field), _port(value["port"], field, allow_zero_port)
        )
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            end = text.find("]")
            if end < 0 or text[end + 1 : end + 2] != ":":
                raise ValueError(f"{field} must look like '[::1]:443', got {value!r}")
            return SocketAddress(
                _host(text[1:end], field), _port(text[end + 2 :], field, allow_zero_port)
            )
        host, sep, port = text.rpartition(":")
        if not sep or ":" in host:
            raise ValueError(f"{field} must look like 'host:port' or '[v6]:port', got {value!r}")
        return SocketAddress(_host(host, field), _port(port, field, allow_zero_port))
    raise TypeError(
        f"{field} must be a SocketAddress, (host, port), a dict, 'host:port' or "
        f"'unix:/path', got {value!r}"
    )


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def from_sockaddr(sockaddr: Any) -> SocketAddress | None:
    """A ``SocketAddress`` from what ``getsockname``/``getpeername``/``recvfrom`` return
    (``None`` for an unnamed Unix socket: a client that never bound)."""
    if isinstance(sockaddr, tuple) and len(sockaddr) >= 2:
        return SocketAddress(str(sockaddr[0]), int(sockaddr[1]))
    if isinstance(sockaddr, bytes):  # Linux abstract names come back as bytes
        sockaddr = sockaddr.decode(errors="surrogateescape")
    if isinstance(sockaddr, str) and sockaddr:
        return SocketAddress(path=sockaddr)
    return None
