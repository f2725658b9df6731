"""Run unisock's benchmark suite against the peers a user would pick instead.

    python benchmarks/run.py [--quick|--full|--smoke] [--only WORKLOAD,...] [--peers P,...]
                             [--json FILE] [--markdown FILE]

Over loopback, each peer's client and server (or proxy) run as separate processes; the
table gives each figure (median of the runs) and unisock's ratio to each comparable peer.
A peer that fails or is missing shows "n/a" with its reason under the tables.
See docs/performance.md.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

# Importable both as a script and by path (a CLI may load this file and call main()).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from suite import report, runner
from suite.peers import PEERS, add_baselines
from suite.settings import MODES
from suite.workloads import WORKLOADS

SMOKE_PEERS = ("asyncio-protocol", "c")

# Workloads of other kinds (TLS, UDP, QUIC) plug in as suite/workloads_<kind>.py modules
# that call suite.workloads.register() when imported.
for _plugin in sorted((Path(__file__).resolve().parent / "suite").glob("workloads_*.py")):
    importlib.import_module(f"suite.{_plugin.stem}")
add_baselines()  # before/after twins when UNISOCK_BENCH_BASELINE names another src


def _names(value: str, known: dict[str, object], what: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(unknown)} (choose from {', '.join(known)})"
        )
    return names


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="benchmarks/run.py", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick", dest="mode", action="store_const", const="quick", help="1 run each (default)"
    )
    mode.add_argument("--full", dest="mode", action="store_const", const="full", help="median of 3")
    mode.add_argument(
        "--smoke",
        dest="mode",
        action="store_const",
        const="smoke",
        help=f"0.3 s runs, peers {','.join(SMOKE_PEERS)} unless --peers",
    )
    p.add_argument(
        "--only",
        type=lambda v: _names(v, dict(WORKLOADS), "workload"),
        help=f"workloads ({','.join(WORKLOADS)})",
    )
    p.add_argument(
        "--peers", type=lambda v: _names(v, dict(PEERS), "peer"), help=f"peers ({','.join(PEERS)})"
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="write every measurement as JSON")
    p.add_argument("--markdown", type=Path, metavar="FILE", help="write the tables as Markdown")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(mode="quick")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the suite; 0 when it ran (whatever peers failed), 2 on bad arguments."""
    try:
        args = parse(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    settings = MODES[args.mode]
    workloads = [WORKLOADS[n] for n in args.only or WORKLOADS]
    default_peers = SMOKE_PEERS if args.mode == "smoke" else tuple(PEERS)
    chosen = set(args.peers or default_peers)
    peers = [p for p in PEERS.values() if p.name in chosen]  # table order, not argv order

    def progress(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    started = time.monotonic()
    try:
        results = runner.run(settings, workloads, peers, progress)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    progress(f"done in {time.monotonic() - started:.0f} s")
    print(report.text(results))
    if args.markdown:
        args.markdown.write_text(report.markdown(results))
    if args.json:
        args.json.write_text(json.dumps(report.as_json(results), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
