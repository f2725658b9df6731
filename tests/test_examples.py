"""The examples in examples/ run as a user runs them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


def test_reuse_port_server_spreads_connections_over_processes() -> None:
    port = free_port()
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "reuse_port_server.py"),
            str(port),
            "--connections",
            "32",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    replies = re.findall(r"worker (\d+): hello (\d+)", out)
    assert [int(n) for _, n in replies] == list(range(32))
    assert len({pid for pid, _ in replies}) >= 2, out
