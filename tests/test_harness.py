"""The test helpers in conftest.py do what the other tests rely on."""

from __future__ import annotations

import socket
import subprocess
import time
from typing import Any

import pytest
from tests import rt
from tests.conftest import (
    PeerDidNotStart,
    Peers,
    background,
    eventually,
    need,
    refusing_port,
    start_on_free_ports,
    udp_unread,
)

pytestmark = pytest.mark.trio  # every test that takes `run` runs on trio too


def test_a_failing_background_task_fails_at_once_with_its_own_error(run: Any) -> None:
    async def server() -> None:
        await rt.sleep(0)
        raise AssertionError("the server saw something wrong")

    async def main() -> None:
        started = time.monotonic()
        with pytest.raises(AssertionError, match="the server saw something wrong"):
            async with background(server()):
                await rt.sleep(30)  # what would have waited for the server
        assert time.monotonic() - started < 5

    run(main)


def test_background_tasks_still_running_are_cancelled_on_leaving(run: Any) -> None:
    async def main() -> None:
        async with background(rt.sleep(30)) as tasks:
            tasks.spawn(rt.sleep(30))
        assert all(task.cancelled() for task in tasks.tasks)

    run(main)


def test_eventually_fails_naming_what_never_came(run: Any) -> None:
    async def main() -> None:
        with pytest.raises(AssertionError, match="the moon"):
            await eventually(lambda: False, timeout=0.05, what="the moon")

    run(main)


def test_a_refusing_port_refuses_tcp_and_udp() -> None:
    with refusing_port() as port, pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    with refusing_port("udp") as port, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.connect(("127.0.0.1", port))
        s.send(b"anyone?")
        with pytest.raises(ConnectionRefusedError):
            s.recv(10)
        assert udp_unread(port) == 0  # delivered to nobody


def test_peer_port_reads_what_the_peer_bound(peer: Peers) -> None:
    need("socat")
    tcp = peer(["socat", "TCP4-LISTEN:0,bind=127.0.0.1,fork", "EXEC:cat"]).port()
    with socket.create_connection(("127.0.0.1", tcp), timeout=5) as s:
        s.sendall(b"echo")
        assert s.recv(4) == b"echo"
    udp = peer(["socat", "UDP4-RECVFROM:0,bind=127.0.0.1,fork", "EXEC:cat"]).port("udp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(b"echo", ("127.0.0.1", udp))
        assert s.recv(4) == b"echo"


def test_a_port_taken_meanwhile_starts_the_peer_again_elsewhere(peer: Peers) -> None:
    need("socat")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        calls: list[int] = []

        def args(port: int) -> list[str]:
            calls.append(port)
            use = taken.getsockname()[1] if len(calls) == 1 else port  # first: the taken one
            return ["socat", f"TCP4-LISTEN:{use},bind=127.0.0.1", "EXEC:cat"]

        started, (port,) = peer.on_free_ports(args)
        assert len(calls) == 2 and port == calls[1]
        assert started.ports() == {port}
        with pytest.raises(PeerDidNotStart, match="Address already in use"):
            start_on_free_ports(
                lambda _: ["socat", f"TCP4-LISTEN:{taken.getsockname()[1]}", "EXEC:cat"],
                attempts=2,
                stderr=subprocess.PIPE,  # the reason is then in the error
            )
