"""The run's figures as a terminal table, Markdown (docs/performance.md) and JSON."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

from .peers import comparisons
from .runner import Results
from .targets import evaluate, ratio
from .workloads import PER_OP_WORKLOADS

NA = "n/a"
"""Failed or missing (the reason is listed under the tables)."""
SKIP = "-"
"""Not run by design (e.g. the "data" event variant on bulk workloads)."""

Table = list[list[str]]


def figures(results: Results) -> Table:
    """One row per peer, one column per workload."""
    rows = [["peer", *(w.title for w in results.workloads)]]
    for p in results.peers:
        row = [p.name]
        for w in results.workloads:
            if (w.name, p.name) not in results.outcomes:
                row.append(SKIP)
            else:
                value = results.figure(w.name, p.name)
                row.append(NA if value is None else f"{value:,.0f}")
        rows.append(row)
    return rows


PER_OP_UNITS = frozenset({"rt/s"})
"""Rows where CPU per operation means something (a round trip); bulk rows count bytes."""


def _per(unit: str) -> str:
    """What one CPU figure is per: a MB for the byte rates, an operation otherwise."""
    return "MB" if unit == "MB/s" else "op"


def cpu_per_op(results: Results) -> Table | None:
    """CPU microseconds per operation (per MB for the bulk rows), client / server."""
    workloads = [
        w for w in results.workloads if w.unit in PER_OP_UNITS or w.name in PER_OP_WORKLOADS
    ]
    rows = [["peer", *(f"{w.title}: CPU us/{_per(w.unit)} client / server" for w in workloads)]]
    for p in results.peers:
        row = [p.name]
        for w in workloads:
            outcome = results.outcomes.get((w.name, p.name))
            cpu = None if outcome is None else outcome.cpu_figure
            row.append(
                SKIP if outcome is None else NA if cpu is None else f"{cpu[0]:.1f} / {cpu[1]:.1f}"
            )
        if any(c not in (SKIP, NA) for c in row[1:]):
            rows.append(row)
    return rows if workloads and len(rows) > 1 else None


def ratios(results: Results) -> list[tuple[str, Table]]:
    """For each unisock variant, its figure divided by each comparable peer's."""
    tables = []
    for subject in (p for p in results.peers if p.subject):
        rows = [[f"{subject.name} vs", *(w.title for w in results.workloads)]]
        for peer in comparisons(subject, results.peers):
            row = [peer.name]
            for w in results.workloads:
                if (w.name, subject.name) not in results.outcomes:
                    row.append(SKIP)
                    continue
                r = ratio(results, w.name, subject.name, peer.name)
                row.append(NA if r is None else f"{r:.2f}x")
            rows.append(row)
        if len(rows) > 1:
            tables.append((subject.name, rows))
    return tables


def failures(results: Results) -> list[str]:
    """One line per failed peer (or per failed workload when the reasons differ)."""
    by_peer: dict[str, list[tuple[str, str]]] = {}
    for (workload, peer), outcome in results.outcomes.items():
        if outcome.error is not None:
            by_peer.setdefault(peer, []).append((workload, outcome.error))
    lines = []
    for peer, errors in by_peer.items():
        reasons = {e for _, e in errors}
        if len(reasons) == 1:
            names = ", ".join(w for w, _ in errors)
            lines.append(f"{peer} ({names}): {reasons.pop()}")
        else:
            lines.extend(f"{peer} ({w}): {e}" for w, e in errors)
    return lines


def _render_text(rows: Table) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _render_markdown(rows: Table) -> str:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" + "---:|" * (len(rows[0]) - 1)]
    out.extend("| " + " | ".join(r) + " |" for r in rows[1:])
    return "\n".join(out)


def _header(results: Results) -> str:
    s = results.settings
    return (
        f"mode {s.mode}: {s.warmup:g} s warm-up, {s.duration:g} s window, median of "
        f"{s.repeats}; Python {platform.python_version()}, {os.cpu_count()} CPUs, loopback"
    )


def text(results: Results) -> str:
    """The terminal report."""
    parts = [_header(results), "", _render_text(figures(results))]
    cpu = cpu_per_op(results)
    if cpu is not None:
        parts += ["", "CPU per operation (per MB for bulk rows), measured window (/proc, rusage)"]
        parts.append(_render_text(cpu))
    for name, rows in ratios(results):
        parts += ["", f"{name}: ratio to each peer (higher is better for unisock)"]
        parts.append(_render_text(rows))
    verdicts = evaluate(results)
    if verdicts:
        parts += ["", "targets (issue 3 unless tagged):"]
        parts += [f"  {v.status:8} {v.target.describe()}" + _ratio(v.ratio) for v in verdicts]
    fails = failures(results)
    if fails:
        parts += ["", "n/a means failed or missing:"] + [f"  {line}" for line in fails]
    return "\n".join(parts)


def markdown(results: Results) -> str:
    """The same report as Markdown, for docs/performance.md."""
    parts = [f"_{_header(results)}_", "", _render_markdown(figures(results))]
    cpu = cpu_per_op(results)
    if cpu is not None:
        title = "**CPU per operation** (microseconds per round trip, handshake or MB)"
        parts += ["", f"{title}, client / server", ""]
        parts.append(_render_markdown(cpu))
    for name, rows in ratios(results):
        parts += ["", f"**{name}**: ratio to each peer", "", _render_markdown(rows)]
    verdicts = evaluate(results)
    if verdicts:
        parts += ["", "Targets (issue 3 unless tagged):", ""]
        parts += [f"- {v.status}: {v.target.describe()}" + _ratio(v.ratio) for v in verdicts]
    fails = failures(results)
    if fails:
        parts += ["", "n/a (failed or missing):", ""] + [f"- {line}" for line in fails]
    return "\n".join(parts) + "\n"


def _ratio(r: float | None) -> str:
    return "" if r is None else f" (measured {r:.2f}x)"


def as_json(results: Results) -> dict[str, Any]:
    """Everything measured, for tools and for comparing runs."""
    s = results.settings
    return {
        "settings": {
            "mode": s.mode,
            "warmup": s.warmup,
            "duration": s.duration,
            "repeats": s.repeats,
        },
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "workloads": {w.name: {"title": w.title, "unit": w.unit} for w in results.workloads},
        "results": {
            w.name: {
                p: {
                    "runs": o.runs,
                    "median": o.figure,
                    "error": o.error,
                    "cpu_us_per_op": o.cpu_figure,
                }
                for (wn, p), o in results.outcomes.items()
                if wn == w.name
            }
            for w in results.workloads
        },
        "targets": [
            {"target": v.target.describe(), "ratio": v.ratio, "status": v.status}
            for v in evaluate(results)
        ],
    }
