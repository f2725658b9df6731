"""The goals issue 3 sets for unisock, checked against one run's ratios."""

from __future__ import annotations

from dataclasses import dataclass

from .runner import Results


@dataclass(frozen=True)
class Target:
    """``subject``'s figure on ``workload`` must reach ``factor`` times ``peer``'s."""

    subject: str
    workload: str
    peer: str
    factor: float
    strictly_above: bool = False

    def describe(self) -> str:
        op = ">" if self.strictly_above else ">="
        return f"{self.subject} {self.workload} {op} {self.factor:g}x {self.peer}"


def _both(subject: str, workloads: tuple[str, ...], peer: str, factor: float) -> list[Target]:
    return [Target(subject, w, peer, factor) for w in workloads]


BULK = ("upload", "download")
PINGPONG = ("conns100", "pingpong_pinned")

TARGETS: list[Target] = [
    *_both("unisock", BULK, "asyncio-streams", 3.0),
    *_both("unisock", BULK, "c", 0.9),
    Target("unisock", "conns100", "asyncio-streams", 3.0),
    Target("unisock", "conns100", "asyncio-buffered", 0.8),
    Target("unisock", "proxy", "c", 0.8),
    Target("unisock-uvloop", "conns100", "uvloop-protocol", 0.8),
    Target("unisock-uvloop", "conns100", "node", 1.0, strictly_above=True),
    *_both("unisock-uvloop", BULK, "c", 0.9),
    *_both("unisock-data", PINGPONG, "asyncio-protocol", 0.95),
    *_both("unisock-data-uvloop", PINGPONG, "uvloop-protocol", 0.95),
]


@dataclass(frozen=True)
class Verdict:
    target: Target
    ratio: float | None
    """None when either figure is missing (n/a)."""

    @property
    def status(self) -> str:
        if self.ratio is None:
            return "n/a"
        t = self.target
        met = self.ratio > t.factor if t.strictly_above else self.ratio >= t.factor
        return "met" if met else "NOT met"


def ratio(results: Results, workload: str, subject: str, peer: str) -> float | None:
    """``subject``'s figure divided by ``peer``'s, or None if either is missing."""
    a, b = results.figure(workload, subject), results.figure(workload, peer)
    if a is None or b is None or b <= 0:
        return None
    return a / b


def evaluate(results: Results) -> list[Verdict]:
    """Every target whose subject, peer and workload took part in this run."""
    names = {p.name for p in results.peers}
    workloads = {w.name for w in results.workloads}
    return [
        Verdict(t, ratio(results, t.workload, t.subject, t.peer))
        for t in TARGETS
        if t.subject in names and t.peer in names and t.workload in workloads
    ]
