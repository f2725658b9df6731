"""mypy over samples: the keyword arguments of Socket, connect, update and SocketListener
are typed (it accepts correct calls and names the field of each wrong one:
tests/typing_samples/calls.py), and every transport fits the seam unisock owns
(tests/typing_samples/seam.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SAMPLE = Path(__file__).parent / "typing_samples" / "calls.py"
SEAM = Path(__file__).parent / "typing_samples" / "seam.py"


def mypy(sample: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    """``mypy --strict`` on one sample, with no project config and a cache of its own."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(cache),
            "--config-file",
            "/dev/null",
            str(sample),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_every_transport_fits_the_seam(tmp_path: Path) -> None:
    result = mypy(SEAM, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_checks_the_options(tmp_path: Path) -> None:
    result = mypy(SAMPLE, tmp_path)
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
