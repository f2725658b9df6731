"""``unisock bench``: run the benchmark suite of a source checkout, and plot its ratios.

The suite (``benchmarks/run.py``) lives beside the package in the repository, not in the
wheel: it needs the peers' sources and programs.  It is loaded by path and its ``main``
called with the matching flags; ``--plot`` asks it for JSON and draws from that.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["bench_main", "find_suite", "plot"]


def find_suite() -> Path | None:
    """``benchmarks/run.py`` of the checkout this package was imported from, if any."""
    package = Path(__file__).resolve().parent.parent  # src/unisock
    candidate = package.parent.parent / "benchmarks" / "run.py"
    return candidate if candidate.is_file() else None


def _load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("unisock_benchmarks_run", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _error(text: str, code: int) -> int:
    print(f"unisock bench: error: {text}", file=sys.stderr, flush=True)
    return code


def ratios(data: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """{subject: {peer: {workload title: ratio}}} from the suite's JSON."""
    titles = {name: w["title"] for name, w in data["workloads"].items()}
    out: dict[str, dict[str, dict[str, float]]] = {}
    for workload, by_peer in data["results"].items():
        for subject, s in by_peer.items():
            if not subject.startswith("unisock") or not s.get("median"):
                continue
            for peer, p in by_peer.items():
                if peer.startswith("unisock") or not p.get("median"):
                    continue
                ratio = s["median"] / p["median"]
                out.setdefault(subject, {}).setdefault(peer, {})[titles[workload]] = ratio
    return out


def plot(data: dict[str, Any], path: str) -> None:
    """Grouped bars: one panel per unisock variant, one bar per peer and workload."""
    import matplotlib  # type: ignore[import-not-found]

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found]

    table = ratios(data)
    if not table:
        raise ValueError("the run measured no ratio to plot")
    fig, axes = plt.subplots(len(table), 1, figsize=(10, 3.2 * len(table)), squeeze=False)
    for ax, (subject, by_peer) in zip(axes[:, 0], sorted(table.items()), strict=True):
        workloads = sorted({w for r in by_peer.values() for w in r})
        width = 0.8 / max(len(by_peer), 1)
        for i, (peer, values) in enumerate(sorted(by_peer.items())):
            xs = [j + i * width for j in range(len(workloads))]
            ax.bar(xs, [values.get(w, 0.0) for w in workloads], width, label=peer)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(workloads))])
        ax.set_xticklabels(workloads, rotation=15, fontsize=8)
        ax.set_ylabel("ratio (>1: unisock better)")
        ax.set_title(f"{subject} vs each peer")
        ax.legend(fontsize=7, ncol=4)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def bench_main(args: argparse.Namespace) -> int:
    suite = find_suite()
    if suite is None:
        return _error(
            "the benchmark suite comes with a source checkout only (benchmarks/run.py is not "
            "next to this installation); clone the repository and run 'unisock bench' there",
            2,
        )
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            return _error("--plot needs matplotlib: pip install matplotlib", 2)
    argv = [f"--{args.mode}"]
    if args.only:
        argv += ["--only", args.only]
    if args.peers:
        argv += ["--peers", args.peers]
    with tempfile.TemporaryDirectory(prefix="unisock-bench-") as tmp:
        json_path = args.json or (str(Path(tmp) / "bench.json") if args.plot else None)
        if json_path:
            argv += ["--json", json_path]
        try:
            code = int(_load(suite).main(argv))
        except KeyboardInterrupt:
            return 130
        if code != 0 or not args.plot:
            return code
        assert json_path is not None
        try:
            plot(json.loads(Path(json_path).read_text()), args.plot)
        except (OSError, ValueError, KeyError) as exc:
            return _error(f"--plot {args.plot}: {exc}", 1)
    print(f"unisock bench: ratios drawn to {args.plot}", file=sys.stderr)
    return 0
