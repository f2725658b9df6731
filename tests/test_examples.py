"""The examples in examples/ run as a user runs them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


def test_reuse_port_server_spreads_connections_over_processes() -> None:
    # The example needs its port number before its workers bind it: another process may
    # take a port chosen free meanwhile, so a bind failure tries another port.
    for _ in range(5):
        result = subprocess.run(
            [
                sys.executable,
                str(ROOT / "examples" / "reuse_port_server.py"),
                str(free_port()),
                "--connections",
                "32",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if "address already in use" not in result.stderr.lower():
            break
    assert result.returncode == 0, result.stderr
    out = result.stdout
    replies = re.findall(r"worker (\d+): hello (\d+)", out)
    assert [int(n) for _, n in replies] == list(range(32))
    assert len({pid for pid, _ in replies}) >= 2, out
