"""Broadcast and multicast on a UDP socket: what ``broadcast`` and the ``multicast_*``
fields set, at open and when ``update()`` changes them.

The group list is declarative: ``update(multicast_groups=[...])`` joins the groups not yet
joined and leaves those no longer listed, so the socket's memberships are always exactly
the list (Node's ``addMembership``/``dropMembership`` as one field).

Interfaces: IPv4 names an interface by one of its addresses (``"127.0.0.1"``, portable) or,
on Linux, by its name or index (``ip_mreqn``); IPv6 by its name or index (``"lo"``, ``"2"``),
or by the scope of the group (``"ff02::1%eth0"``).  No interface: the kernel picks one from
the routing table.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import sys
from collections.abc import Iterable

from ..._base.options import Options
from ..sockopts import set_option

__all__ = ["DATAGRAM_FIELDS", "configure_datagram", "reconfigure_datagram"]

DATAGRAM_FIELDS = frozenset(
    {"broadcast", "multicast_groups", "multicast_ttl", "multicast_loopback", "multicast_interface"}
)

Group = tuple[str, str | None]


def _index(interface: str, field: str) -> int:
    if interface.isdigit():
        return int(interface)
    try:
        return socket.if_nametoindex(interface)
    except OSError:
        raise ValueError(f"{field}: no network interface named {interface!r}") from None


def _is_ipv4_address(interface: str) -> bool:
    try:
        return ipaddress.ip_address(interface).version == 4
    except ValueError:
        return False


def _ipv4_request(group: str | None, interface: str | None, field: str) -> bytes:
    """``ip_mreq`` (an interface address) or, for a name or index, Linux's ``ip_mreqn``."""
    packed_group = socket.inet_aton(group) if group is not None else b""
    if interface is None or _is_ipv4_address(interface):
        address = socket.inet_aton(interface or "0.0.0.0")
        return packed_group + address if group is not None else address
    if not sys.platform.startswith("linux"):
        raise ValueError(
            f"{field}: name an IPv4 interface by one of its addresses here, not {interface!r}"
        )
    request = struct.pack("@4s4si", packed_group or bytes(4), bytes(4), _index(interface, field))
    return request


def _ipv6_request(group: str, interface: str | None, field: str) -> bytes:
    index = 0 if interface is None else _index(interface, field)
    return socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", index)


def _check_ipv6_interface(interface: str | None, field: str) -> None:
    if interface is not None and _is_ipv4_address(interface):
        raise ValueError(
            f"{field}: an IPv6 socket names its interface by name or index (such as 'lo'), "
            f"not by the IPv4 address {interface!r}"
        )


def _membership(sock: socket.socket, group: Group, default: str | None, join: bool) -> None:
    address, interface = group
    interface = interface or default
    field = f"multicast_groups ({address})"
    is_v6 = ":" in address
    if is_v6 and sock.family != socket.AF_INET6:
        raise ValueError(
            f"{field}: an IPv6 group needs an IPv6 socket (bind local to '[::]:port'), "
            "this one is IPv4"
        )
    on = f" on {interface}" if interface else ""
    what = f"cannot {'join' if join else 'leave'} multicast group {address}{on}"
    if is_v6:
        _check_ipv6_interface(interface, field)
        option = socket.IPV6_JOIN_GROUP if join else socket.IPV6_LEAVE_GROUP
        set_option(
            sock, socket.IPPROTO_IPV6, option, _ipv6_request(address, interface, field), what
        )
    else:
        option = socket.IP_ADD_MEMBERSHIP if join else socket.IP_DROP_MEMBERSHIP
        set_option(sock, socket.IPPROTO_IP, option, _ipv4_request(address, interface, field), what)


def _set(
    sock: socket.socket, level: int, option: int, value: int | bytes, field: str, opts: Options
) -> None:
    """One scalar field; a refusal names the field and the value it was given."""
    set_option(sock, level, option, value, f"cannot set {field}={getattr(opts, field)!r}")


def _apply_scalars(sock: socket.socket, opts: Options, names: Iterable[str]) -> None:
    v6 = sock.family == socket.AF_INET6
    for name in names:
        if name == "broadcast":
            if v6 and opts.broadcast:
                raise ValueError(
                    "broadcast: IPv6 has no broadcast; send to a multicast group such as "
                    "ff02::1 (all nodes on the link) instead"
                )
            if not v6:
                _set(sock, socket.SOL_SOCKET, socket.SO_BROADCAST, int(opts.broadcast), name, opts)
        elif name == "multicast_ttl" and opts.multicast_ttl is not None:
            if v6:
                _set(
                    sock,
                    socket.IPPROTO_IPV6,
                    socket.IPV6_MULTICAST_HOPS,
                    opts.multicast_ttl,
                    name,
                    opts,
                )
            else:
                _set(
                    sock, socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, opts.multicast_ttl, name, opts
                )
        elif name == "multicast_loopback" and opts.multicast_loopback is not None:
            flag = int(opts.multicast_loopback)
            if v6:
                _set(sock, socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, flag, name, opts)
            else:
                _set(sock, socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, flag, name, opts)
        elif name == "multicast_interface" and opts.multicast_interface is not None:
            interface = opts.multicast_interface
            if v6:
                _check_ipv6_interface(interface, name)
                index = _index(interface, name)
                _set(sock, socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index, name, opts)
            else:
                request = _ipv4_request(None, interface, name)
                _set(sock, socket.IPPROTO_IP, socket.IP_MULTICAST_IF, request, name, opts)


_SCALARS = ("broadcast", "multicast_ttl", "multicast_loopback", "multicast_interface")


def configure_datagram(sock: socket.socket, opts: Options) -> None:
    """At open: set what was given (nothing is touched for fields left at their default)."""
    if not (
        opts.broadcast
        or opts.multicast_groups
        or opts.multicast_ttl is not None
        or opts.multicast_loopback is not None
        or opts.multicast_interface is not None
    ):
        return
    _apply_scalars(sock, opts, _SCALARS)
    for group in opts.multicast_groups:
        _membership(sock, group, opts.multicast_interface, join=True)


def reconfigure_datagram(
    sock: socket.socket, old: Options, new: Options, changed: Iterable[str]
) -> None:
    """``update()``: the changed scalars, then leave the groups dropped and join the new."""
    changed = set(changed)
    _apply_scalars(sock, new, [n for n in _SCALARS if n in changed])
    if "multicast_groups" not in changed:
        return
    before = _effective(old)
    after = _effective(new)
    for group in before:
        if group not in after:
            _membership(sock, group, None, join=False)
    for group in after:
        if group not in before:
            _membership(sock, group, None, join=True)


def _effective(opts: Options) -> list[Group]:
    """The memberships as joined: each group with the interface it was joined on."""
    default = opts.multicast_interface
    return [(address, interface or default) for address, interface in opts.multicast_groups]
