"""Every ```python block of docs/guide.md runs as a program, so the guide never rots.

A block whose first line is ``# not run`` is skipped.  Each block runs in its own
interpreter (warnings as errors) with a time limit, must exit 0 without printing a
traceback or an asyncio complaint, and must print what the ```text block right after it
shows, where ``...`` stands for anything (a port, a packet count), as in doctest.
"""

from __future__ import annotations

import difflib
import doctest
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guide.md"
BLOCK = re.compile(r"^```python\n(.*?)^```\n(?:\s*^```text\n(.*?)^```$)?", re.S | re.M)


@dataclass
class Example:
    name: str
    code: str
    expected: str | None  # None: no output block follows the example


def examples() -> list[Example]:
    text = GUIDE.read_text()
    found = []
    for match in BLOCK.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        heading = re.findall(r"^## (.+)$", text[: match.start()], re.M)
        found.append(Example(f"line{line}-{(heading or ['top'])[-1]}", *match.groups()))
    return found


EXAMPLES = examples()


def test_the_guide_has_examples() -> None:
    assert len(EXAMPLES) >= 15


def test_every_example_shows_its_output() -> None:
    missing = [e.name for e in EXAMPLES if e.expected is None and not skipped(e)]
    assert not missing, f"no ```text output block right after: {missing}"


def skipped(example: Example) -> bool:
    return example.code.lstrip().startswith("# not run")


def matches(expected: str, got: str) -> bool:
    """``got`` is ``expected``, each ``...`` in it standing for any text."""
    checker = doctest.OutputChecker()
    return checker.check_output(expected, got, doctest.ELLIPSIS)


def test_the_comparison_is_strict_but_for_ellipses() -> None:
    assert matches("a ... b\n", "a 1234 b\n")
    assert not matches("a ... b\n", "a 1234 c\n")
    assert not matches("one\n", "one\ntwo\n")
    assert not matches("one\ntwo\n", "one\n")


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_guide_example_runs(example: Example, tmp_path: Path) -> None:
    if skipped(example):
        pytest.skip("marked '# not run'")
    script = tmp_path / "example.py"
    script.write_text(example.code)
    result = subprocess.run(
        [sys.executable, "-W", "error", "-X", "dev", str(script)],
        capture_output=True,
        timeout=30,
        check=False,
        cwd=tmp_path,
    )
    err = result.stderr.decode()
    assert result.returncode == 0, f"{example.name} failed:\n{err}"
    for complaint in ("Traceback", "never retrieved", "was never awaited", "Unclosed"):
        assert complaint not in err, f"{example.name}:\n{err}"
    out = result.stdout.decode()
    assert example.expected is not None, "no ```text block shows what this example prints"
    if not matches(example.expected, out):
        diff = "\n".join(
            difflib.unified_diff(
                example.expected.splitlines(), out.splitlines(), "guide", "printed", lineterm=""
            )
        )
        pytest.fail(f"{example.name} printed something else than the guide shows:\n{diff}")
