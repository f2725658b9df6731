"""A ping-pong server's user-space instructions per 64-byte message (issue 14's budget).

    python benchmarks/instructions_per_message.py [PEER ...] [--conns N] [--messages N]
        [--src OTHER_CHECKOUT/src]

Each named server peer of the suite (``uvloop-protocol``, ``unisock-data-uvloop``,
``asyncio-buffered``, ``unisock-data``, ...) runs under ``valgrind --tool=cachegrind``,
which counts the instructions it executes; a client (plain blocking sockets, in this
process, not measured) drives ``--conns`` connections through a fixed number of round
trips.  Two runs, with ``M`` and ``3M`` messages, give (instructions(3M) - instructions(M))
/ 2M: start-up, connection set-up and teardown cancel out.  On a shared machine, where
wall-clock ratios are noise, the count is deterministic to a fraction of a percent.
Under valgrind the server is slow, so with many connections every epoll wait finds them
all ready: the figure is the per-message cost with the loop's work shared, as in a busy
server.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from suite.peers import PEERS  # noqa: E402

MSG = b"p" * 64


def drive(port: int, conns: int, per_conn: int) -> None:
    """``per_conn`` round trips on each of ``conns`` connections, one ping in flight each."""
    sel = selectors.DefaultSelector()
    left: dict[socket.socket, list[int]] = {}
    for _ in range(conns):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        left[s] = [per_conn, 0]
        sel.register(s, selectors.EVENT_READ)
    for s in left:
        s.sendall(MSG)
    active = conns
    while active:
        for key, _ in sel.select():
            s = key.fileobj
            assert isinstance(s, socket.socket)
            state = left[s]
            data = s.recv(65536)
            if not data:
                raise SystemExit("server closed a connection")
            state[1] += len(data)
            while state[1] >= len(MSG):
                state[1] -= len(MSG)
                state[0] -= 1
                if state[0] == 0:
                    sel.unregister(s)
                    active -= 1
                else:
                    s.sendall(MSG)
    for s in left:
        s.close()
    sel.close()


def count(peer_name: str, conns: int, per_conn: int, src: str) -> int:
    """Instructions the server executes, start to SIGTERM, serving the given round trips."""
    peer = PEERS[peer_name]
    script = HERE / "peers" / peer.program
    env = dict(os.environ, PYTHONHASHSEED="0")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [
        "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
        sys.executable, str(script), "server", "echo", *peer.options,
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    port = json.loads(proc.stdout.readline())["port"]
    drive(port, conns, per_conn)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=600)
    found = re.search(r"I\s+refs:\s+([\d,]+)", err)
    if found is None:
        raise SystemExit(f"{peer_name}: no instruction count from valgrind:\n{err[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("peers", nargs="*", default=["uvloop-protocol", "unisock-data-uvloop"])
    p.add_argument("--conns", type=int, default=100)
    p.add_argument("--messages", type=int, default=10_000, help="M: the smaller run")
    p.add_argument(
        "--src", default=str(HERE.parent / "src"), help="unisock's src folder (before/after)"
    )
    ns = p.parse_args()
    per_conn = max(1, ns.messages // ns.conns)
    small = per_conn * ns.conns
    results = {}
    for name in ns.peers:
        low = count(name, ns.conns, per_conn, ns.src)
        high = count(name, ns.conns, 3 * per_conn, ns.src)
        results[name] = (high - low) / (2 * small)
        print(f"{name:24} {results[name]:10.0f} instructions/message ({ns.conns} conns)")
        sys.stdout.flush()
    if len(results) > 1:
        first = next(iter(results.values()))
        for name, value in results.items():
            print(f"{name:24} {first / value:6.2f}x the first")


if __name__ == "__main__":
    main()
