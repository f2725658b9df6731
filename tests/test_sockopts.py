"""The one set of socket-option setters (``_transports.sockopts``): what each sets, and a
refusal by the OS as a ``NetworkError`` naming the field and the value."""

from __future__ import annotations

import errno
import socket

import pytest

from unisock._transports import sockopts
from unisock.errors import NetworkError


def test_setters_set_what_they_name() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sockopts.set_ttl(sock, 7)
        assert sock.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == 7
        sockopts.set_buffer_size(sock, "receive_buffer_size", 1 << 17)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 1 << 17
        sockopts.set_buffer_size(sock, "send_buffer_size", 1 << 17)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) >= 1 << 17
        sockopts.set_reuse_port(sock)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        sockopts.set_ipv6_only(sock, True)  # nothing to do on IPv4
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sockopts.set_ttl(sock, 9)
        assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS) == 9
        sockopts.set_ipv6_only(sock, False)
        assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sockopts.set_reuse_address(sock)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
        sockopts.set_no_delay(sock, True)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_a_refusal_names_the_field_and_the_value() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        with pytest.raises(NetworkError, match=r"cannot set ttl=300: .*\(EINVAL\)") as info:
            sockopts.set_ttl(sock, 300)
        assert info.value.errno == errno.EINVAL
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.bind(("::", 0))  # the kernel fixes IPV6_V6ONLY once the socket is bound
        with pytest.raises(NetworkError, match=r"cannot set ipv6_only=True: "):
            sockopts.set_ipv6_only(sock, True)
