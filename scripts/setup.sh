#!/usr/bin/env bash
# Creates .venv with unisock installed (editable) and the extras named in $1 (e.g. "test").
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-uvloop}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[${extras}]"
