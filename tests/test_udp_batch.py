"""The UDP endpoint's adaptive batch: one datagram per wake-up in request/response,
growing batches under a flood, and nothing lost or reordered either way."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from tests.conftest import LOOPS, TRIO, run_on, sleep

from unisock._transports.udp.endpoint import _BATCH_MAX
from unisock._transports.udp.opening import open_datagram_endpoint


class Recorder:
    def __init__(self) -> None:
        self.got: list[bytes] = []
        self.endpoint: Any = None

    def connection_made(self, endpoint: Any) -> None:
        self.endpoint = endpoint

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.got.append(data)

    def error_received(self, exc: Exception) -> None:
        raise AssertionError(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        pass


@pytest.mark.parametrize("loop_name", [*LOOPS, *TRIO])
def test_a_flood_is_drained_in_growing_batches_in_order(loop_name: str) -> None:

    async def main() -> None:
        endpoint, rec = await open_datagram_endpoint(Recorder, local=("127.0.0.1", 0))
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            endpoint.pause_reading()
            total = 200  # under the default receive buffer (about 256 small datagrams)
            for i in range(total):
                sender.sendto(b"%d" % i, endpoint.get_extra_info("sockname"))
            endpoint.resume_reading()
            for _ in range(200):
                if len(rec.got) == total:
                    break
                await sleep(0.005)
            assert rec.got == [b"%d" % i for i in range(total)]
            # uvloop reads with its own transport (udp/native.py): libuv batches there
            assert endpoint.reads_natively == (loop_name == "uvloop")
            if not endpoint.reads_natively:
                assert endpoint._batch == _BATCH_MAX or endpoint._batch >= 8  # it grew
        finally:
            sender.close()
            endpoint.close()

    run_on(loop_name, main)


@pytest.mark.parametrize("loop_name", [*LOOPS, *TRIO])
def test_request_response_reads_one_per_wake_up_and_probes_rarely(loop_name: str) -> None:

    async def main() -> None:
        endpoint, rec = await open_datagram_endpoint(Recorder, local=("127.0.0.1", 0))
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probes = 0
        try:
            for i in range(300):
                sender.sendto(b"%d" % i, endpoint.get_extra_info("sockname"))
                for _ in range(200):
                    if len(rec.got) == i + 1:
                        break
                    await sleep(0)
                probes += endpoint._batch == 2
                assert endpoint._batch <= 2
            assert rec.got == [b"%d" % i for i in range(300)]
            if endpoint.reads_natively:  # uvloop: no batch of ours to size (udp/native.py)
                assert loop_name == "uvloop"
                return
            # Probes back off: 300 one-at-a-time wake-ups probe fewer than 30 times.
            assert endpoint._probe_after >= 8
            assert probes < 30
        finally:
            sender.close()
            endpoint.close()

    run_on(loop_name, main)
