#!/usr/bin/env bash
# README's second command (and CI's): install the real peers and Python packages the
# tests talk to, then run lint, types and the test suite.  Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# Real peers we did not write: program -> Debian package.
peers="socat:socat ncat:ncat openssl:openssl redis-server:redis-server dnsmasq:dnsmasq-base
curl:curl node:nodejs gcc:gcc
sshd:openssh-server unbound:unbound gtlsserver:ngtcp2-server gtlsclient:ngtcp2-client
nginx:nginx tinyproxy:tinyproxy haproxy:haproxy systemd-socket-activate:systemd"
missing=()
for pair in $peers; do
  # sshd, unbound, nginx, haproxy and gtlsserver live in /usr/sbin, which a non-root PATH may lack
  command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pair%%:*}" ] \
    || missing+=("${pair##*:}")
done
# Headers for the benchmark's C/OpenSSL peer (compiled by the benchmark smoke test).
[ -f /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing peers: ${missing[*]}"
    apt-get update -qq
    # Installing a daemon (sshd, unbound, nginx, haproxy) must not start it: the tests start their own.
    policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      policy=/usr/sbin/policy-rc.d
      printf '#!/bin/sh\nexit 101\n' >"$policy"
      chmod 755 "$policy"
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    if [ -n "$policy" ]; then
      rm -f "$policy"
      trap - EXIT
    fi
  else
    echo "missing peers (tests needing them are skipped): ${missing[*]}" >&2
  fi
fi

bash scripts/setup.sh test
.venv/bin/ruff check src tests benchmarks examples
.venv/bin/mypy
.venv/bin/lint-imports --no-cache  # the layers (.importlinter): each imports only those below

# The suite runs under coverage (line + branch, `python -m unisock` subprocesses included;
# see docs/testing.md).  A full run (no arguments) fails below [tool.coverage.report]
# fail_under; a partial run only reports.  UNISOCK_COVERAGE=0 runs pytest alone.
if [ "${UNISOCK_COVERAGE:-1}" = 0 ]; then
  exec .venv/bin/python -m pytest "$@"
fi
rm -rf build/coverage
status=0
.venv/bin/python -m coverage run -m pytest "$@" || status=$?
.venv/bin/python -m coverage combine -q || [ "$status" -ne 0 ]
if [ "$status" -ne 0 ] || [ "$#" -gt 0 ]; then
  .venv/bin/python -m coverage report --fail-under=0 | tail -n 3
  exit "$status"
fi
.venv/bin/python -m coverage report
