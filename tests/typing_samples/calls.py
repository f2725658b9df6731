"""Calls that mypy must accept (no marker) or refuse (an E-colon comment naming the
field): checked by tests/test_typing.py, never run."""

import unisock


async def main() -> None:
    sock = unisock.Socket(remote=("example.com", 443), type="tls", no_delay=True)
    sock = await unisock.connect(remote="example.com:443", idle_timeout=5.0)
    sock = unisock.Socket({"remote": "h:1"}, ready_timeout=1)
    await sock.update(type="tls", servername="example.com", idle_timeout=None)
    listener = unisock.SocketListener(local="[::]:0", ipv6_only=False, backlog=64)
    await listener.accept()

    unisock.Socket(remote=("h", 1), no_dealy=True)  # E: no_dealy
    unisock.Socket(remote=("h", 1), no_delay="yes")  # E: no_delay
    await unisock.connect(remote=("h", 1), idle_timeout="5")  # E: idle_timeout
    await sock.update(remote=("h", 2))  # E: remote
    unisock.SocketListener(ipv6only=True)  # E: ipv6only
    unisock.SocketListener(backlog="many")  # E: backlog
