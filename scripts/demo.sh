#!/usr/bin/env bash
# README's first command: install unisock in .venv and run the loopback demo of every transport.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh uvloop
exec .venv/bin/unisock demo "$@"
