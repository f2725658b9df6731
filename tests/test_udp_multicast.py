"""UDP broadcast and multicast on this host: IPv4 groups on the loopback interface, IPv6
interface-local groups (ff01::/16, which never leave the host), joining and leaving by
``multicast_groups`` and ``update()``, TTL, loopback and interface read back from the
kernel."""

from __future__ import annotations

import random
import socket
import struct
from typing import Any

import pytest
from tests.conftest import wait_for

import unisock
from unisock import errors
from unisock import testing as conformance
from unisock._base.options import SocketInit, SocketListenerInit


def group4() -> str:
    """A fresh administratively scoped IPv4 group, so parallel runs never share one."""
    return f"239.255.{random.randint(0, 255)}.{random.randint(1, 254)}"


def group6() -> str:
    return f"ff01::{random.randint(1, 0xFFFF):x}:{random.randint(1, 0xFFFF):x}"


def ipv6_multicast_interface() -> str:
    """An interface that carries IPv6 multicast on this host (lo first): a group joined on
    it hears what this host sends to the group.  Skips when there is none."""
    names = ["lo"] + [name for _, name in socket.if_nameindex() if name != "lo"]
    for name in names:
        index = socket.if_nametoindex(name)
        group = group6()
        try:
            with (
                socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as receiver,
                socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sender,
            ):
                receiver.bind(("::", 0))
                receiver.setsockopt(
                    socket.IPPROTO_IPV6,
                    socket.IPV6_JOIN_GROUP,
                    socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", index),
                )
                sender.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
                sender.sendto(b"probe", (group, receiver.getsockname()[1], 0, index))
                receiver.settimeout(0.5)
                if receiver.recv(16) == b"probe":
                    return name
        except OSError:
            continue
    pytest.skip(
        "no interface carries IPv6 multicast here (the kernel has no ff00::/8 route on any "
        "interface that is up, see `ip -6 route show table local`)"
    )


async def receive(sock: unisock.Socket, within: float = 2) -> Any:
    reader = sock.readable.get_reader()
    try:
        return (await wait_for(reader.read(), within)).value
    finally:
        reader.release_lock()


async def nothing_arrives(sock: unisock.Socket, within: float = 0.3) -> bool:
    try:
        await receive(sock, within)
    except TimeoutError:
        return True
    return False


async def send(sock: unisock.Socket, chunk: Any) -> None:
    writer = sock.writable.get_writer()
    try:
        await writer.write(chunk)
    finally:
        writer.release_lock()


@pytest.mark.trio
def test_ipv4_group_on_loopback(run: Any) -> None:
    async def main() -> None:
        group = group4()
        receiver = unisock.Socket(
            type="udp",
            local="0.0.0.0:0",
            multicast_groups=[group],
            multicast_interface="127.0.0.1",
        )
        port = (await receiver.ready).local.port  # type: ignore[union-attr]
        sender = unisock.Socket(
            type="udp",
            remote=f"{group}:{port}",
            multicast_interface="127.0.0.1",
            multicast_ttl=0,  # looped back to this host, never sent anywhere
            multicast_loopback=True,
        )
        async with conformance.settled(receiver, sender):
            sent_from = (await sender.ready).local
            await send(sender, b"to the group")
            datagram = await receive(receiver)
            assert datagram.data == b"to the group"
            assert datagram.remote == sent_from
            raw = sender._transport.endpoint.get_extra_info("socket")  # type: ignore[union-attr]
            assert raw.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL) == 0
            assert raw.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP) == 1
            interface = raw.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, 4)
            assert socket.inet_ntoa(interface) == "127.0.0.1"

    run(main)


@pytest.mark.trio
def test_join_and_leave_by_update(run: Any) -> None:
    async def main() -> None:
        group = group4()
        receiver = unisock.Socket(type="udp", local="0.0.0.0:0", multicast_interface="127.0.0.1")
        port = (await receiver.ready).local.port  # type: ignore[union-attr]
        sender = unisock.Socket(
            type="udp", local="127.0.0.1:0", multicast_interface="127.0.0.1", multicast_ttl=0
        )
        await sender.ready
        to_group = unisock.Datagram(b"group", (group, port))
        to_host = unisock.Datagram(b"unicast", ("127.0.0.1", port))
        async with conformance.settled(receiver, sender):
            await send(sender, to_group)
            assert await nothing_arrives(receiver)  # not a member yet
            await receiver.update(multicast_groups=[group])
            assert group in memberships("lo")
            await send(sender, to_group)
            assert (await receive(receiver)).data == b"group"
            await receiver.update(multicast_groups=[])
            await send(sender, to_group)
            assert await nothing_arrives(receiver)  # left
            await send(sender, to_host)
            assert (await receive(receiver)).data == b"unicast"  # still alive
            await sender.update(multicast_loopback=False)  # (lo delivers it all the same)
            raw = sender._transport.endpoint.get_extra_info("socket")  # type: ignore[union-attr]
            assert raw.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP) == 0

    run(main)


def memberships(device: str) -> set[str]:
    """IPv4 groups joined on ``device``, from /proc/net/igmp."""
    groups: set[str] = set()
    current = None
    with open("/proc/net/igmp") as f:
        for line in f.readlines()[1:]:
            if not line.startswith("\t"):
                current = line.split()[1]
            elif current == device:
                groups.add(socket.inet_ntoa(struct.pack("<I", int(line.split()[0], 16))))
    return groups


@pytest.mark.trio
def test_interface_by_name_and_per_group(run: Any) -> None:
    async def main() -> None:
        group, other = group4(), group4()
        receiver = unisock.Socket(
            type="udp", local="0.0.0.0:0", multicast_groups=[(group, "lo"), (other, "127.0.0.1")]
        )
        port = (await receiver.ready).local.port  # type: ignore[union-attr]
        assert {group, other} <= memberships("lo")
        sender = unisock.Socket(type="udp", local="127.0.0.1:0", multicast_interface="lo")
        await sender.ready
        async with conformance.settled(receiver, sender):
            for g in (group, other):
                await send(sender, unisock.Datagram(g.encode(), (g, port)))
                assert (await receive(receiver)).data == g.encode()

    run(main)


@pytest.mark.trio
def test_udp_listener_hears_a_group(run: Any) -> None:
    async def main() -> None:
        group = group4()
        async with unisock.SocketListener(
            type="udp", local="0.0.0.0:0", multicast_groups=[group], multicast_interface="127.0.0.1"
        ) as listener:
            assert listener.local is not None
            sender = unisock.Socket(
                type="udp", remote=f"{group}:{listener.local.port}", multicast_interface="127.0.0.1"
            )
            await send(sender, b"hello group")
            peer = await wait_for(listener.accept(), 5)
            async with conformance.settled(sender, peer):
                assert await receive(peer) == b"hello group"
                assert peer.info.remote == sender.info.local
                with pytest.raises(ValueError, match="one peer of a UDP listener"):
                    await peer.update(multicast_groups=[])
                await listener.update(multicast_groups=[], multicast_ttl=3)
                raw = listener._handle.endpoint.get_extra_info("socket")  # type: ignore[union-attr]
                assert raw.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL) == 3
                await send(sender, b"after leaving")
                assert await nothing_arrives(peer)

    run(main)


@pytest.mark.trio
def test_ipv6_interface_local_group(run: Any) -> None:
    interface = ipv6_multicast_interface()

    async def main() -> None:
        group = group6()
        receiver = unisock.Socket(
            type="udp", local="[::]:0", multicast_groups=[f"{group}%{interface}"]
        )
        port = (await receiver.ready).local.port  # type: ignore[union-attr]
        sender = unisock.Socket(
            type="udp",
            remote=f"[{group}]:{port}",
            multicast_interface=interface,
            multicast_ttl=1,
            multicast_loopback=True,
        )
        async with conformance.settled(receiver, sender):
            await send(sender, b"six")
            datagram = await receive(receiver)
            assert datagram.data == b"six"
            raw = sender._transport.endpoint.get_extra_info("socket")  # type: ignore[union-attr]
            index = socket.if_nametoindex(interface)
            assert raw.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF) == index
            assert raw.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS) == 1
            assert raw.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP) == 1
            await receiver.update(multicast_groups=[])
            await send(sender, b"gone")
            assert await nothing_arrives(receiver)

    run(main)


@pytest.mark.trio
def test_broadcast(run: Any) -> None:
    async def main() -> None:
        receiver = unisock.Socket(type="udp", local="0.0.0.0:0")
        port = (await receiver.ready).local.port  # type: ignore[union-attr]
        refused = unisock.Socket(type="udp", local="127.0.0.1:0")
        allowed = unisock.Socket(type="udp", local="127.0.0.1:0", broadcast=True)
        await refused.ready
        await allowed.ready
        async with conformance.settled(receiver, refused, allowed):
            to_all = unisock.Datagram(b"everyone", ("127.255.255.255", port))
            with pytest.raises(errors.NetworkError, match="EACCES"):
                await send(refused, to_all)  # the kernel refuses without SO_BROADCAST
            await send(allowed, to_all)
            assert (await receive(receiver)).data == b"everyone"
            await refused.update(broadcast=True)
            raw = refused._transport.endpoint.get_extra_info("socket")  # type: ignore[union-attr]
            assert raw.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST) == 1
            await send(refused, to_all)
            assert (await receive(receiver)).data == b"everyone"
            await allowed.update(broadcast=False)
            with pytest.raises(errors.NetworkError, match="EACCES"):
                await send(allowed, to_all)

    run(main)


@pytest.mark.trio
def test_family_mismatches_fail_ready_naming_the_field(run: Any) -> None:
    async def main() -> None:
        v4 = unisock.Socket(type="udp", local="127.0.0.1:0", multicast_groups=["ff01::1"])
        with pytest.raises(
            ValueError, match=r"multicast_groups \(ff01::1\): an IPv6 group needs an IPv6 socket"
        ):
            await v4.ready
        v6 = unisock.Socket(type="udp", local="[::1]:0", broadcast=True)
        with pytest.raises(ValueError, match="broadcast: IPv6 has no broadcast"):
            await v6.ready
        v6 = unisock.Socket(type="udp", local="[::1]:0", multicast_interface="127.0.0.1")
        with pytest.raises(
            ValueError, match="multicast_interface: an IPv6 socket names its interface"
        ):
            await v6.ready
        ok = unisock.Socket(type="udp", local="127.0.0.1:0")
        await ok.ready
        with pytest.raises(ValueError, match="an IPv6 group needs an IPv6 socket"):
            await ok.update(multicast_groups=["ff02::1"])
        await ok.close()

    run(main)


@pytest.mark.parametrize(
    ("fields", "error", "match"),
    [
        ({"multicast_groups": "239.1.1.1"}, TypeError, "must be a list of group addresses"),
        (
            {"multicast_groups": ["10.0.0.1"]},
            ValueError,
            r"multicast_groups\[0\] must be a multicast address .* got '10.0.0.1'",
        ),
        (
            {"multicast_groups": ["not-an-ip"]},
            ValueError,
            r"multicast_groups\[0\] must be an IP address, got 'not-an-ip'",
        ),
        (
            {"multicast_groups": [5]},
            TypeError,
            r"multicast_groups\[0\] must be a group address \(str\), got 5",
        ),
        (
            {"multicast_groups": [("239.1.1.1", "no-such-if0")]},
            ValueError,
            "no network interface named 'no-such-if0'",
        ),
        ({"multicast_groups": ["ff02::1%lo"], "multicast_interface": "lo"}, None, None),
        ({"multicast_ttl": 256}, ValueError, "multicast_ttl must be in 0..255, got 256"),
        ({"multicast_ttl": True}, TypeError, "multicast_ttl must be an int, got True"),
        ({"multicast_loopback": 1}, TypeError, "multicast_loopback must be True or False, got 1"),
        ({"broadcast": "yes"}, TypeError, "broadcast must be True or False, got 'yes'"),
        (
            {"multicast_interface": "fe80::1"},
            ValueError,
            "multicast_interface: an IPv6 interface is named by its name or index",
        ),
        (
            {"multicast_interface": "no-such-if0"},
            ValueError,
            "multicast_interface: no network interface named 'no-such-if0'",
        ),
        ({"multicast_interface": 1.5}, TypeError, "multicast_interface must be an interface name"),
    ],
)
def test_bad_values(
    fields: dict[str, Any], error: type[Exception] | None, match: str | None
) -> None:
    init = {"type": "udp", "local": "0.0.0.0:0", **fields}
    if error is None:
        SocketInit.parse(None, init)
        SocketListenerInit.parse(None, init)
        return
    with pytest.raises(error, match=match):
        SocketInit.parse(None, init)
    with pytest.raises(error, match=match):
        SocketListenerInit.parse(None, init)


@pytest.mark.parametrize("kind", ["tcp", "tls", "quic"])
@pytest.mark.parametrize(
    "field",
    [
        {"broadcast": True},
        {"multicast_groups": ["239.1.1.1"]},
        {"multicast_ttl": 1},
        {"multicast_loopback": False},
        {"multicast_interface": "lo"},
    ],
)
def test_refused_on_other_types(kind: str, field: dict[str, Any]) -> None:
    (name,) = field
    extra = {"alpn": "h3"} if kind == "quic" else {}
    with pytest.raises(ValueError, match=f"{name} needs type 'udp', not '{kind}'"):
        SocketInit.parse(None, {"type": kind, "remote": "127.0.0.1:9", **extra, **field})


@pytest.mark.trio
def test_refused_on_tcp_update(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener() as listener:
            client = await unisock.connect(remote=listener.local)
            server = await listener.accept()
            async with conformance.settled(client, server):
                with pytest.raises(ValueError, match="broadcast needs type 'udp', not 'tcp'"):
                    await client.update(broadcast=True)

    run(main)
