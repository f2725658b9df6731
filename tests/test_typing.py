"""The keyword arguments of Socket, connect, update and SocketListener are typed: mypy
accepts correct calls and names the field of each wrong one (tests/typing_samples/calls.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SAMPLE = Path(__file__).parent / "typing_samples" / "calls.py"


def test_mypy_checks_the_options(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path),
            "--config-file",
            "/dev/null",
            str(SAMPLE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    reported: dict[int, str] = {}
    for line in result.stdout.splitlines():
        found = re.match(r".*calls\.py:(\d+): error: (.*)", line)
        if found:
            number = int(found.group(1))
            reported[number] = reported.get(number, "") + found.group(2)
    expected = {
        number: line.split("# E:")[1].strip()
        for number, line in enumerate(SAMPLE.read_text().splitlines(), 1)
        if "# E:" in line
    }
    assert expected, "the sample has no wrong calls"
    for number, fragment in expected.items():
        assert number in reported, f"mypy accepted line {number}: {result.stdout}"
        assert fragment in reported[number], (number, reported[number])
    unexpected = {n: m for n, m in reported.items() if n not in expected}
    assert not unexpected, f"mypy refused correct calls: {unexpected}"
