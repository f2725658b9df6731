"""The goals issues 3 (TCP), 4 (TLS), 5 (UDP), 6 and 17 (QUIC), 13 (trio) and 14 (per
message) set, checked against one run."""

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
    issue: int = 3
    peer_workload: str | None = None
    """Compare with ``peer``'s figure on this other workload (QUIC opens vs TLS handshakes)."""
    cpu: int | None = None
    """Compare CPU per operation instead (0: the client's column, 1: the server's): the
    ratio is ``peer``'s CPU divided by ``subject``'s, so higher is better here too."""

    def describe(self) -> str:
        op = ">" if self.strictly_above else ">="
        other = f" {self.peer_workload}" if self.peer_workload else ""
        tag = "" if self.issue == 3 else f" [issue {self.issue}]"
        what = "" if self.cpu is None else f" {('client', 'server')[self.cpu]} CPU/op"
        return f"{self.subject} {self.workload}{what} {op} {self.factor:g}x {self.peer}{other}{tag}"

    def workloads(self) -> set[str]:
        return {self.workload, self.peer_workload or self.workload}


def _both(
    subject: str, workloads: tuple[str, ...], peer: str, factor: float, issue: int = 3
) -> list[Target]:
    return [Target(subject, w, peer, factor, issue=issue) for w in workloads]


BULK = ("upload", "download")
PINGPONG = ("conns100", "pingpong_pinned")
QUIC_BULK = ("quic_bulk1", "quic_bulk8")

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
    # issue 4: TLS
    Target("unisock-tls", "tls_download", "tls-asyncio-streams", 2.0, issue=4),
    Target("unisock-tls", "tls_download", "tls-node", 1.0, strictly_above=True, issue=4),
    Target("unisock-tls", "tls_handshakes", "tls-asyncio-streams", 1.0, issue=4),
    Target("unisock-tls-uvloop", "tls_download", "tls-uvloop-streams", 2.0, issue=4),
    Target("unisock-tls-uvloop", "tls_download", "tls-node", 1.0, strictly_above=True, issue=4),
    Target("unisock-tls-uvloop", "tls_handshakes", "tls-uvloop-streams", 1.0, issue=4),
    # issue 5: UDP
    Target("unisock-udp", "udp_blast", "udp-asyncio-endpoint", 5.0, issue=5),
    Target("unisock-udp-uvloop", "udp_blast", "udp-uvloop-endpoint", 0.9, issue=5),
    Target("unisock-udp-uvloop", "udp_pingpong", "udp-uvloop-endpoint", 0.9, issue=5),
    # issue 14: the "data" path's server CPU per message against a C client (the same
    # client for every peer), and a UDP sender's CPU per datagram
    Target("unisock-data-uvloop", "pingpong_pinned_c", "uvloop-protocol", 0.8, issue=14, cpu=1),
    Target("unisock-data", "pingpong_pinned_c", "asyncio-buffered", 0.8, issue=14, cpu=1),
    Target("unisock-data-uvloop", "conns100_c", "uvloop-protocol", 0.8, issue=14, cpu=1),
    Target("unisock-data", "conns100_c", "asyncio-buffered", 0.8, issue=14, cpu=1),
    Target("unisock-udp-uvloop", "udp_send", "udp-uvloop-endpoint", 0.8, issue=14),
    # issue 14: UDP request/response on streams, and on the "data" path
    Target("unisock-udp", "udp_pingpong", "udp-asyncio-endpoint", 1.5, issue=14),
    Target("unisock-udp-uvloop", "udp_pingpong", "udp-uvloop-endpoint", 0.7, issue=14),
    Target("unisock-udp-data-uvloop", "udp_pingpong", "udp-uvloop-endpoint", 0.9, issue=14),
    Target("unisock-udp-uvloop", "udp_send", "udp-uvloop-endpoint", 0.8, issue=14, cpu=0),
    # issue 6: QUIC ("pooled stream opens far cheaper than new TCP+TLS connections": 2x)
    # issue 17: QUIC on qh3 (>= 0.7x raw qh3 and >= 5x raw aioquic, in the same run)
    *_both("unisock-quic", QUIC_BULK, "quic-qh3", 0.7, issue=17),
    *_both("unisock-quic-uvloop", QUIC_BULK, "quic-qh3-uvloop", 0.7, issue=17),
    *_both("unisock-quic", QUIC_BULK, "quic-aioquic", 5.0, issue=17),
    *_both("unisock-quic-uvloop", QUIC_BULK, "quic-aioquic-uvloop", 5.0, issue=17),
    Target(
        "unisock-quic", "quic_opens", "unisock-tls", 2.0, issue=6, peer_workload="tls_handshakes"
    ),
    Target(
        "unisock-quic-uvloop",
        "quic_opens",
        "unisock-tls-uvloop",
        2.0,
        issue=6,
        peer_workload="tls_handshakes",
    ),
    # issue 14: streams round trips at least asyncio streams' on the same loop (1.3x on
    # the stock loop's 1-connection row; its 100-connection row is issue 3's 3x above)
    Target("unisock", "pingpong_pinned", "asyncio-streams", 1.3, issue=14),
    *_both("unisock-uvloop", PINGPONG, "uvloop-streams", 1.0, issue=14),
    # issue 13: unisock on trio at or above trio's own streams on every TCP/TLS row
    *_both("unisock-trio", BULK + PINGPONG, "trio", 1.0, issue=13),
    *_both("unisock-tls-trio", ("tls_download", "tls_handshakes"), "tls-trio", 1.0, issue=13),
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


def ratio(
    results: Results, workload: str, subject: str, peer: str, peer_workload: str | None = None
) -> float | None:
    """``subject``'s figure divided by ``peer``'s, or None if either is missing."""
    a, b = results.figure(workload, subject), results.figure(peer_workload or workload, peer)
    if a is None or b is None or b <= 0:
        return None
    return a / b


def cpu_ratio(
    results: Results, workload: str, subject: str, peer: str, column: int
) -> float | None:
    """``peer``'s CPU per operation divided by ``subject``'s (one column), or None."""
    figures = []
    for name in (subject, peer):
        outcome = results.outcomes.get((workload, name))
        cpu = None if outcome is None else outcome.cpu_figure
        if cpu is None or cpu[column] <= 0:
            return None
        figures.append(cpu[column])
    return figures[1] / figures[0]


def evaluate(results: Results) -> list[Verdict]:
    """Every target whose subject, peer and workload took part in this run."""
    names = {p.name for p in results.peers}
    workloads = {w.name for w in results.workloads}
    return [
        Verdict(
            t,
            ratio(results, t.workload, t.subject, t.peer, t.peer_workload)
            if t.cpu is None
            else cpu_ratio(results, t.workload, t.subject, t.peer, t.cpu),
        )
        for t in TARGETS
        if t.subject in names and t.peer in names and t.workloads() <= workloads
    ]
