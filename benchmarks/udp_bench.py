"""UDP benchmark: unisock's DatagramEndpoint against asyncio, uvloop, Node.js dgram and C.

    python benchmarks/udp_bench.py [--seconds S] [--size N] [--json FILE]

Two workloads, every receiver in its own process, side by side in one run:

* blast: a C sender (c/udp_blast.c) sends 64-byte datagrams as fast as the kernel takes
  them for S seconds; the receiver counts what it got.  Reported: datagrams received per
  second and the share lost.  Sender and receiver are pinned to different CPUs.
* ping-pong: a C client (c/udp_ping.c) sends one datagram and waits for its echo, over
  and over; client and echo server are both pinned to CPU 0 (so the figure measures CPU
  per message, not this VM's cross-CPU wake-up latency).  Reported: round trips per second.

Receivers: unisock's endpoint on the stock loop and on uvloop, asyncio's
``DatagramProtocol`` (``loop.create_datagram_endpoint``) on both loops, Node's ``dgram``
(peers/node_dgram.js) and C (c/udp_server.c, the limit).  Every socket keeps the kernel's
default buffer sizes.  C programs are built with ``gcc -O2`` into .build/ on first use.

Targets (issue 5): unisock on the stock loop >= 5x asyncio's endpoint; on uvloop >= 0.9x
uvloop's endpoint.  The script also serves as the Python receivers
(``--serve LOOP IMPL MODE``) and as the ``DatagramProtocol`` senders of the suite's
``udp_send`` workload (``--send LOOP PORT SECONDS SIZE``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BUILD = HERE / ".build"
HOST = "127.0.0.1"

# name -> (how to start it as a server: argv builder taking the mode)
PY_IMPLS = {
    "unisock (asyncio)": ("asyncio", "unisock"),
    "unisock (uvloop)": ("uvloop", "unisock"),
    "asyncio DatagramProtocol": ("asyncio", "protocol"),
    "uvloop DatagramProtocol": ("uvloop", "protocol"),
}
ORDER = [*PY_IMPLS, "Node.js dgram", "C (limit)"]


# -- the Python receivers (run in a child process) ----------------------------------------


class _Sink:
    def __init__(self) -> None:
        self.count = 0
        self.bytes = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.count += 1
        self.bytes += len(data)

    def error_received(self, exc: Exception) -> None:
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        pass


class _Echo(_Sink):
    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.count += 1
        self.bytes += len(data)
        self.transport.sendto(data, addr)


async def _serve(impl: str, mode: str) -> None:
    loop = asyncio.get_running_loop()
    factory = _Echo if mode == "echo" else _Sink
    close: Callable[[], None]
    if impl == "unisock":
        sys.path.insert(0, str(HERE.parent / "src"))
        from unisock._transports.udp.opening import open_datagram_endpoint

        endpoint, proto = await open_datagram_endpoint(factory, local=(HOST, 0))
        port = endpoint.get_extra_info("sockname")[1]
        close = endpoint.close
    else:
        transport, proto = await loop.create_datagram_endpoint(
            factory,  # type: ignore[type-var]  # a structural DatagramProtocol
            local_addr=(HOST, 0),
        )
        port = transport.get_extra_info("sockname")[1]
        close = transport.close
    done = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    cpu0 = time.process_time()
    print(f"READY {port}", flush=True)
    await done.wait()
    cpu = time.process_time() - cpu0
    close()
    print(f"received {proto.count} {proto.bytes} {cpu:.6f}", flush=True)


SEND_BATCH = 64
"""Datagrams a Python sender sends between two yields to its loop (every sender alike)."""


def print_sent(sent: int, cpu_seconds: float) -> None:
    """A sender's last line: ``sent N CPU_SECONDS`` (the CPU of its sending loop)."""
    print(f"sent {sent} {cpu_seconds:.6f}", flush=True)


async def _send(port: int, seconds: float, size: int) -> None:
    """asyncio's ``DatagramProtocol`` sender: ``transport.sendto`` on a connected endpoint,
    as fast as the loop goes, yielding every ``SEND_BATCH`` datagrams."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, remote_addr=(HOST, port)
    )
    payload = b"s" * size
    sendto = transport.sendto
    sent = 0
    cpu0 = time.process_time()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(SEND_BATCH):
            sendto(payload)
        sent += SEND_BATCH
        await asyncio.sleep(0)
    print_sent(sent, time.process_time() - cpu0)
    transport.close()


def send(loop_name: str, port: int, seconds: float, size: int) -> None:
    """Run the ``DatagramProtocol`` sender on ``loop_name`` (asyncio or uvloop)."""
    if loop_name == "uvloop":
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    else:
        loop_factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_send(port, seconds, size))


def sender_argv(name: str, port: int, seconds: float, size: int) -> list[str] | None:
    """How to start ``name`` as a sender to ``HOST:port`` (None: it has no sender here)."""
    if name in PY_IMPLS:
        loop_name, impl = PY_IMPLS[name]
        if impl != "protocol":
            return None  # unisock's sender is its public API: unisock_peer.py udp-send
        here = str(Path(__file__).resolve())
        return [sys.executable, here, "--send", loop_name, str(port), str(seconds), str(size)]
    if name == "C (limit)":
        return [str(build("udp_blast")), HOST, str(port), str(seconds), str(size)]
    return None


def serve(loop_name: str, impl: str, mode: str) -> None:
    if loop_name == "uvloop":
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    else:
        loop_factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve(impl, mode))


# -- orchestration ------------------------------------------------------------------------


def build(name: str) -> Path:
    """Compile c/<name>.c with gcc -O2 into .build/ unless the binary is up to date."""
    src = HERE / "c" / f"{name}.c"
    out = BUILD / name
    if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
        BUILD.mkdir(exist_ok=True)
        subprocess.run(["gcc", "-O2", "-o", str(out), str(src)], check=True)
    return out


def server_argv(name: str, mode: str) -> list[str] | None:
    if name in PY_IMPLS:
        loop_name, impl = PY_IMPLS[name]
        return [sys.executable, str(Path(__file__).resolve()), "--serve", loop_name, impl, mode]
    if name == "Node.js dgram":
        node = shutil.which("node")
        return [node, str(HERE / "peers" / "node_dgram.js"), mode, HOST, "0"] if node else None
    return [str(build("udp_server")), mode, HOST, "0"]


def _pinned(cpu: int | None) -> Callable[[], None] | None:
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


class Server:
    """A receiver process: started, its port read, stopped with SIGTERM, its count read."""

    def __init__(self, argv: list[str], cpu: int | None) -> None:
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, text=True, preexec_fn=_pinned(cpu)
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "READY":
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"{argv[0]} did not start")
        self.port = int(line[1])

    def stop(self) -> tuple[int, float]:
        """Datagrams received and the receiver's CPU seconds since it was ready."""
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=10)
        for line in out.splitlines():
            if line.startswith("received"):
                fields = line.split()
                return int(fields[1]), float(fields[3])
        raise RuntimeError("the receiver reported nothing")


def blast(name: str, seconds: float, size: int) -> dict[str, float] | None:
    """Datagrams/s a receiver takes from the C blaster, the share lost, its CPU per datagram."""
    argv = server_argv(name, "sink")
    if argv is None:
        return None
    cpus = sorted(os.sched_getaffinity(0))
    recv_cpu, send_cpu = (cpus[0], cpus[1]) if len(cpus) > 1 else (None, None)
    server = Server(argv, recv_cpu)
    try:
        time.sleep(0.1)
        out = subprocess.run(
            [str(build("udp_blast")), HOST, str(server.port), str(seconds), str(size)],
            capture_output=True,
            text=True,
            check=True,
            preexec_fn=_pinned(send_cpu),
        ).stdout
        sent = int(out.split()[1])
        time.sleep(0.3)  # let the receiver drain its socket buffer
    finally:
        received, cpu = server.stop()
    return {
        "sent": float(sent),
        "received": received,
        "received_per_s": received / seconds,
        "lost_share": 1 - received / sent if sent else 0.0,
        "cpu_us_per_datagram": cpu * 1e6 / received if received else 0.0,
    }


def ping_pong(name: str, seconds: float, size: int) -> dict[str, float] | None:
    """Round trips/s of the C ping client against an echo server, both on one CPU."""
    argv = server_argv(name, "echo")
    if argv is None:
        return None
    cpu = min(os.sched_getaffinity(0))
    server = Server(argv, cpu)
    try:
        out = subprocess.run(
            [str(build("udp_ping")), HOST, str(server.port), str(seconds), str(size)],
            capture_output=True,
            text=True,
            check=True,
            preexec_fn=_pinned(cpu),
        ).stdout
    finally:
        echoed, cpu_seconds = server.stop()
    fields = out.split()
    trips, lost = int(fields[1]), int(fields[3])
    return {
        "roundtrips": float(trips),
        "lost": float(lost),
        "roundtrips_per_s": trips / seconds,
        "server_cpu_us_per_roundtrip": cpu_seconds * 1e6 / echoed if echoed else 0.0,
    }


def _ratio(value: float | None, base: float | None) -> str:
    return f"{value / base:.2f}x" if value and base else "-"


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def measure(names: list[str], seconds: float, size: int, rounds: int) -> dict[str, Any]:
    """Each round runs every receiver once (interleaved, so drifting load hits all alike)."""
    runs: dict[str, dict[str, list[dict[str, float]]]] = {n: {} for n in names}
    errors: dict[str, dict[str, str]] = {n: {} for n in names}
    for round_ in range(rounds):
        for name in names:
            for workload, fn in (("blast", blast), ("ping_pong", ping_pong)):
                try:
                    got = fn(name, seconds, size)
                except (OSError, RuntimeError, subprocess.SubprocessError, ValueError) as exc:
                    errors[name][workload] = str(exc)
                    continue
                if got is None:
                    errors[name][workload] = "not installed"
                    continue
                runs[name].setdefault(workload, []).append(got)
            print(f"  round {round_ + 1}/{rounds}: measured {name}", file=sys.stderr)
    results: dict[str, Any] = {}
    for name in names:
        row: dict[str, Any] = {}
        for workload, figures in runs[name].items():
            summary: dict[str, Any] = {k: _median([f[k] for f in figures]) for k in figures[0]}
            summary["runs"] = figures
            row[workload] = summary
        for workload, message in errors[name].items():
            if workload not in row:
                row[f"{workload}_error"] = message
        results[name] = row
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--seconds", type=float, default=2.0, help="length of each run (2)")
    p.add_argument("--size", type=int, default=64, help="datagram payload in bytes (64)")
    p.add_argument("--rounds", type=int, default=1, help="runs per figure, median shown (1)")
    p.add_argument("--json", type=Path, help="write the figures to this file")
    p.add_argument("--only", help=f"comma-separated receivers (default: {', '.join(ORDER)})")
    p.add_argument("--serve", nargs=3, metavar=("LOOP", "IMPL", "MODE"), help=argparse.SUPPRESS)
    p.add_argument("--send", nargs=4, metavar=("LOOP", "PORT", "S", "N"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        serve(*args.serve)
        return 0
    if args.send:
        loop_name, port, seconds, size = args.send
        send(loop_name, int(port), float(seconds), int(size))
        return 0

    names = ORDER if not args.only else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in names if n not in ORDER]
    if unknown:
        p.error(f"unknown receivers {unknown} (choose from {ORDER})")
    results = measure(names, args.seconds, args.size, args.rounds)

    def fig(name: str, workload: str, key: str) -> float | None:
        r = results.get(name, {}).get(workload)
        return None if r is None else float(r[key])

    base_b = fig("asyncio DatagramProtocol", "blast", "received_per_s")
    base_p = fig("asyncio DatagramProtocol", "ping_pong", "roundtrips_per_s")
    uv_b = fig("uvloop DatagramProtocol", "blast", "received_per_s")
    uv_p = fig("uvloop DatagramProtocol", "ping_pong", "roundtrips_per_s")
    print(
        f"UDP, {args.size}-byte datagrams, {args.seconds:g} s per run, "
        f"median of {args.rounds}, loopback, {len(os.sched_getaffinity(0))} CPUs"
    )
    head = (
        f"{'receiver':<25} {'blast dgram/s':>13} {'lost':>5} {'us CPU':>7} {'/asyncio':>8} "
        f"{'/uvloop':>8} {'ping-pong rt/s':>14} {'us CPU':>7} {'/asyncio':>8} {'/uvloop':>8}"
    )
    print(head)
    print("-" * len(head))
    for name in names:
        b = fig(name, "blast", "received_per_s")
        lost = fig(name, "blast", "lost_share")
        bcpu = fig(name, "blast", "cpu_us_per_datagram")
        pp = fig(name, "ping_pong", "roundtrips_per_s")
        pcpu = fig(name, "ping_pong", "server_cpu_us_per_roundtrip")
        print(
            f"{name:<25} {f'{b:,.0f}' if b else 'n/a':>13} "
            f"{f'{lost:.0%}' if lost is not None else '':>5} "
            f"{f'{bcpu:.2f}' if bcpu else '':>7} {_ratio(b, base_b):>8} {_ratio(b, uv_b):>8} "
            f"{f'{pp:,.0f}' if pp else 'n/a':>14} {f'{pcpu:.2f}' if pcpu else '':>7} "
            f"{_ratio(pp, base_p):>8} {_ratio(pp, uv_p):>8}"
        )
    print(
        "us CPU: the receiver's CPU microseconds per datagram (blast) / per echo (ping-pong);\n"
        "1e6 / us CPU estimates what a receiver would take with a CPU to itself, which the\n"
        "blast figure shows only when nothing else competes for the machine."
    )
    for name in names:
        for key, value in results[name].items():
            if key.endswith("_error"):
                print(f"{name} {key[: -len('_error')]}: {value}")

    targets = {
        "stock loop >= 5x asyncio endpoint (blast)": (
            fig("unisock (asyncio)", "blast", "received_per_s"),
            base_b,
            5.0,
        ),
        "uvloop >= 0.9x uvloop endpoint (blast)": (
            fig("unisock (uvloop)", "blast", "received_per_s"),
            uv_b,
            0.9,
        ),
        "uvloop >= 0.9x uvloop endpoint (ping-pong)": (
            fig("unisock (uvloop)", "ping_pong", "roundtrips_per_s"),
            uv_p,
            0.9,
        ),
    }
    verdicts: dict[str, dict[str, Any]] = {}
    for label, (ours, theirs, want) in targets.items():
        ratio = ours / theirs if ours and theirs else None
        verdicts[label] = {"ratio": ratio, "target": want, "met": bool(ratio and ratio >= want)}
        shown = f"{ratio:.2f}x" if ratio else "n/a"
        print(f"target {label}: {shown} ({'met' if verdicts[label]['met'] else 'NOT met'})")

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "seconds": args.seconds,
                    "size": args.size,
                    "rounds": args.rounds,
                    "cpus": len(os.sched_getaffinity(0)),
                    "results": results,
                    "targets": verdicts,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
