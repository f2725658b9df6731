"""The ``unisock`` command line (filled in by the CLI issue)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("unisock: the command line is not built yet", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
