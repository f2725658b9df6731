"""The benchmark harness runs end to end: every workload, real processes, positive figures.

Runs ``benchmarks/run.py --smoke`` (0.3 s measurements) in-process through its ``main()``,
so a leaked pipe or process would fail under ``-W error``: every TCP workload with the
asyncio Protocol and C peers, then one workload of each plug-in (TLS, UDP, QUIC) with
unisock's peers for them.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

RUN_PY = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"
WORKLOADS = (
    "upload",
    "download",
    "conns100",
    "pingpong_pinned",
    "proxy",
    "pingpong_pinned_c",
    "conns100_c",
)
PEERS = ("asyncio-protocol", "c")
PLUGIN_WORKLOADS = {
    "tls_download": "unisock-tls",
    "udp_blast": "unisock-udp",
    "udp_delivered": "unisock-udp",
    "udp_send": "unisock-udp",
    "quic_bulk1": "unisock-quic",
}


def load_run() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run", RUN_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(40)
def test_smoke_run_measures_every_workload(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the C peer")
    run = load_run()
    out_json, out_md = tmp_path / "bench.json", tmp_path / "bench.md"
    argv = ["--smoke", "--quiet", "--json", str(out_json), "--markdown", str(out_md)]
    assert run.main([*argv, "--only", ",".join(WORKLOADS)]) == 0
    table = capsys.readouterr().out

    data = json.loads(out_json.read_text())
    assert data["settings"]["mode"] == "smoke"
    assert data["settings"]["duration"] == pytest.approx(0.3)
    assert set(data["results"]) == set(WORKLOADS)
    for workload in WORKLOADS:
        assert set(data["results"][workload]) == set(PEERS)
        for peer in PEERS:
            result = data["results"][workload][peer]
            assert result["error"] is None, (workload, peer, result["error"])
            assert result["median"] > 0, (workload, peer)

    lines = table.splitlines()
    header = next(line for line in lines if line.startswith("peer "))
    assert "bulk upload MB/s" in header and "proxy" in header
    for peer in PEERS:
        row = next(line for line in lines if line.startswith(peer + " "))
        cells = row.split()[1:]
        assert len(cells) == len(WORKLOADS)
        assert all(float(cell.replace(",", "")) > 0 for cell in cells), row
    assert "| asyncio-protocol |" in out_md.read_text()


@pytest.mark.timeout(40)
def test_smoke_run_measures_tls_udp_quic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One workload per plug-in, unisock through its public API, in one run of the suite."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the UDP senders")
    run = load_run()
    out_json = tmp_path / "bench.json"
    only = ",".join(PLUGIN_WORKLOADS)
    peers = ",".join(["c", *sorted(set(PLUGIN_WORKLOADS.values()))])  # c: a TCP peer
    argv = ["--smoke", "--quiet", "--only", only, "--peers", peers, "--json", str(out_json)]
    assert run.main(argv) == 0
    table = capsys.readouterr().out

    data = json.loads(out_json.read_text())
    assert set(data["results"]) == set(PLUGIN_WORKLOADS)
    for workload, peer in PLUGIN_WORKLOADS.items():
        assert set(data["results"][workload]) == {peer}, workload
        result = data["results"][workload][peer]
        assert result["error"] is None, (workload, peer, result["error"])
        assert result["median"] > 0, (workload, peer)
    assert 0 < data["results"]["udp_delivered"]["unisock-udp"]["median"] <= 100
    for title in ("TLS download MB/s", "UDP blast dgram/s", "QUIC 1 stream MB/s"):
        assert title in table
    sender, receiver = data["results"]["udp_send"]["unisock-udp"]["cpu_us_per_op"]
    assert sender > 0 and receiver > 0  # the sender's CPU per datagram, the C receiver's
    assert "UDP send into C dgram/s: CPU us/op" in table
    # a plug-in's unisock is compared only with peers of its kind (never the TCP C peer)
    assert "unisock-tls: ratio" not in table


@pytest.mark.timeout(40)
def test_smoke_run_udp_data_peers_and_issue_14_targets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The UDP ``"data"`` listener peers echo (on both loops) and their targets are judged."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the UDP client")
    pytest.importorskip("uvloop")
    run = load_run()
    out_json = tmp_path / "bench.json"
    peers = "udp-uvloop-endpoint,unisock-udp-data,unisock-udp-data-uvloop"
    argv = ["--smoke", "--quiet", "--only", "udp_pingpong", "--peers", peers]
    assert run.main([*argv, "--json", str(out_json)]) == 0
    table = capsys.readouterr().out
    results = json.loads(out_json.read_text())["results"]["udp_pingpong"]
    for peer in peers.split(","):
        assert results[peer]["error"] is None, (peer, results[peer]["error"])
        assert results[peer]["median"] > 0, peer
    assert "unisock-udp-data-uvloop udp_pingpong >= 0.9x udp-uvloop-endpoint [issue 14]" in table


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    run = load_run()
    assert run.main(["--only", "no-such-workload"]) == 2
    assert "unknown workload" in capsys.readouterr().err


def test_missing_peer_reports_na(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """unisock's peer without its Socket (or any broken peer) is "n/a", never a crash."""
    run = load_run()
    peers_mod = sys.modules["suite.peers"]
    broken = peers_mod.Peer("broken", "no_such_peer.py", "asyncio")
    peers_mod.PEERS["broken"] = broken
    try:
        out_json = tmp_path / "bench.json"
        argv = ["--smoke", "--quiet", "--only", "upload", "--peers", "broken"]
        assert run.main([*argv, "--json", str(out_json)]) == 0
    finally:
        del peers_mod.PEERS["broken"]
    result = json.loads(out_json.read_text())["results"]["upload"]["broken"]
    assert result["median"] is None and "missing" in result["error"]
    out = capsys.readouterr().out
    assert "n/a" in out and "no_such_peer.py is missing" in out
