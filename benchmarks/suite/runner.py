"""The side-by-side loop: every workload, every peer, repeated, each run isolated.

Repeats are the outer loop so that the peers of one workload are measured close together
in time (the machine is shared: drift hits them all alike).  A peer that fails once is
not run again for that workload; a peer whose ``check`` fails is not run at all.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from .peers import Peer, PeerError
from .procs import Procs
from .settings import Settings
from .workloads import Workload

CHECK_TIMEOUT = 30.0


@dataclass
class Outcome:
    """The measurements of one peer on one workload."""

    runs: list[float] = field(default_factory=list)
    error: str | None = None
    cpu: list[tuple[float, float]] = field(default_factory=list)
    """CPU microseconds per operation (client, server) of each run, where measured."""

    @property
    def cpu_figure(self) -> tuple[float, float] | None:
        """The median client and server CPU per operation; None when not measured."""
        if self.error is not None or not self.cpu:
            return None
        return (
            statistics.median(c for c, _ in self.cpu),
            statistics.median(s for _, s in self.cpu),
        )

    @property
    def figure(self) -> float | None:
        """The median of the runs; None when the peer failed or did not run."""
        if self.error is not None or not self.runs:
            return None
        return statistics.median(self.runs)


@dataclass
class Results:
    """Everything one run of the suite measured."""

    settings: Settings
    workloads: list[Workload]
    peers: list[Peer]
    outcomes: dict[tuple[str, str], Outcome] = field(default_factory=dict)
    """Keyed by (workload name, peer name); absent when the peer does not run it by design."""

    def figure(self, workload: str, peer: str) -> float | None:
        outcome = self.outcomes.get((workload, peer))
        return None if outcome is None else outcome.figure


class _Prepared:
    """Each peer's argv prefix, found (and its ``check`` run) once per suite run."""

    def __init__(self) -> None:
        self._done: dict[str, tuple[str, ...] | PeerError] = {}

    def __call__(self, peer: Peer) -> tuple[str, ...]:
        if peer.name not in self._done:
            try:
                prefix = peer.prepare()
                with Procs() as procs:
                    procs.check(peer.argv(prefix, "check"), CHECK_TIMEOUT)
                self._done[peer.name] = prefix
            except PeerError as e:
                self._done[peer.name] = e
        found = self._done[peer.name]
        if isinstance(found, PeerError):
            raise found
        return found


def run(
    settings: Settings,
    workloads: list[Workload],
    peers: list[Peer],
    progress: Callable[[str], None],
) -> Results:
    """Measure every (workload, peer) pair ``settings.repeats`` times."""
    results = Results(settings, workloads, peers)
    prepared = _Prepared()
    pairs = [(w, p) for w in workloads for p in peers if p.runs(w.name, w.kind)]
    for w, p in pairs:
        results.outcomes[(w.name, p.name)] = Outcome()
    total = len(pairs) * settings.repeats
    done = 0
    for rep in range(settings.repeats):
        for w, p in pairs:
            done += 1
            outcome = results.outcomes[(w.name, p.name)]
            if outcome.error is not None:
                continue
            try:
                with Procs() as procs:
                    figure = w.measure(p, settings, procs, prepared)
                    if procs.cpu_per_op is not None:
                        outcome.cpu.append(procs.cpu_per_op)
            except PeerError as e:
                outcome.error = str(e)
                progress(f"[{done}/{total}] {w.name} {p.name}: n/a ({e})")
                continue
            outcome.runs.append(figure)
            progress(f"[{done}/{total}] {w.name} {p.name} (run {rep + 1}): {figure:,.0f} {w.unit}")
    return results
