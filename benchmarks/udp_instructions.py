"""CPU instructions per UDP round trip in an echo server, counted by valgrind (callgrind).

    python benchmarks/udp_instructions.py SERVER [SERVER ...]
    SERVER: endpoint-asyncio | endpoint-uvloop | unisock | unisock-uvloop | unisock-data |
            unisock-data-uvloop (the suite's udp_pingpong servers)

Why: on a shared machine a timing moves with the neighbours' load; an instruction count
does not.  Each server runs under ``valgrind --tool=callgrind`` twice, answering a
blocking client (another process) for ``FEW`` and then ``MANY`` 64-byte round trips; the
difference of the two totals divided by ``MANY - FEW`` is the server's user-space
instructions per round trip, start-up excluded.  Kernel work (system calls) is not
counted: compare CPU time (``run.py``'s us/op columns) for that.  ``PYTHONPATH`` chooses
the unisock under test (``src`` of this or another checkout).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
FEW, MANY = 500, 3500
SERVERS = {
    "endpoint-asyncio": [str(BENCH / "udp_bench.py"), "--serve", "asyncio", "endpoint", "echo"],
    "endpoint-uvloop": [str(BENCH / "udp_bench.py"), "--serve", "uvloop", "endpoint", "echo"],
    "unisock": [str(BENCH / "peers" / "unisock_peer.py"), "server", "udp-echo"],
    "unisock-uvloop": [
        str(BENCH / "peers" / "unisock_peer.py"), "server", "udp-echo", "--loop", "uvloop",
    ],
    "unisock-data": [str(BENCH / "peers" / "unisock_peer.py"), "server", "udp-echo", "--data"],
    "unisock-data-uvloop": [
        str(BENCH / "peers" / "unisock_peer.py"), "server", "udp-echo", "--loop", "uvloop",
        "--data",
    ],
}  # fmt: skip


def instructions(argv: list[str], trips: int, out: str) -> int:
    """The server's total instructions after ``trips`` round trips (then SIGTERM)."""
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    fields = proc.stdout.readline().split()
    if len(fields) != 2 or fields[0] != "READY":
        proc.kill()
        raise SystemExit(f"{argv[0]} did not start: {proc.communicate()[1][-500:]}")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.connect(("127.0.0.1", int(fields[1])))
        client.settimeout(30)
        for _ in range(trips):
            client.send(b"x" * 64)
            client.recv(2048)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    found = re.search(r"Collected : (\d+)", err)
    if found is None:
        raise SystemExit(f"no callgrind total: {err[-500:]}")
    return int(found.group(1))


def main() -> None:
    names = sys.argv[1:] or list(SERVERS)
    unknown = [n for n in names if n not in SERVERS]
    if unknown:
        raise SystemExit(f"unknown server {', '.join(unknown)} (choose from {', '.join(SERVERS)})")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            few = instructions(SERVERS[name], FEW, os.path.join(tmp, f"{name}.few"))
            many = instructions(SERVERS[name], MANY, os.path.join(tmp, f"{name}.many"))
            print(f"{name:20s} {(many - few) / (MANY - FEW):9,.0f} instructions per round trip")


if __name__ == "__main__":
    main()
