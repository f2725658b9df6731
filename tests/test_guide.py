"""Every ```python block of docs/guide.md runs as a program, so the guide never rots.

A block whose first line is ``# not run`` is skipped.  Each block runs in its own
interpreter (warnings as errors) with a time limit, and must exit 0 without printing a
traceback or an asyncio complaint.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guide.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def blocks() -> list[tuple[str, str]]:
    text = GUIDE.read_text()
    found = []
    for match in BLOCK.finditer(text):
        code = match.group(1)
        line = text.count("\n", 0, match.start()) + 1
        heading = re.findall(r"^## (.+)$", text[: match.start()], re.M)
        found.append((f"line{line}-{(heading or ['top'])[-1]}", code))
    return found


BLOCKS = blocks()


def test_the_guide_has_examples() -> None:
    assert len(BLOCKS) >= 15


@pytest.mark.parametrize(("name", "code"), BLOCKS, ids=[n for n, _ in BLOCKS])
def test_guide_example_runs(name: str, code: str, tmp_path: Path) -> None:
    if code.lstrip().startswith("# not run"):
        pytest.skip("marked '# not run'")
    script = tmp_path / "example.py"
    script.write_text(code)
    result = subprocess.run(
        [sys.executable, "-W", "error", "-X", "dev", str(script)],
        capture_output=True,
        timeout=30,
        check=False,
        cwd=tmp_path,
    )
    err = result.stderr.decode()
    assert result.returncode == 0, f"{name} failed:\n{err}"
    for complaint in ("Traceback", "never retrieved", "was never awaited", "Unclosed"):
        assert complaint not in err, f"{name}:\n{err}"
