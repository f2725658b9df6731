"""httpx requests per second: on unisock (``unisock.httpx``) vs on httpx's default backend.

Starts one local nginx (``/usr/sbin/nginx``; plain HTTP and HTTPS, a 13-byte ``return
200``), then, for each backend, sends ``--requests`` sequential GETs over one keep-alive
HTTP/1.1 connection from one ``httpx.AsyncClient``, ``--repeat`` times; prints the median
requests per second and the client's CPU time per request (steadier than the rate on a
shared machine).  The client runs in this process, on the loop ``--loop`` names.

Run: ``.venv/bin/python benchmarks/httpx_bench.py [--requests 3000] [--repeat 3]
[--loop asyncio|uvloop] [--https] [--http2] [--concurrency 1]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx
import trustme

import unisock.httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"nginx did not listen on {port}")


@contextmanager
def nginx(root: Path, ca: trustme.CA) -> Iterator[tuple[int, int]]:
    program = "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else shutil.which("nginx")
    if program is None:
        raise SystemExit("nginx is not installed (apt-get install nginx)")
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    leaf.cert_chain_pems[0].write_to_path(str(root / "cert.pem"))
    leaf.private_key_pem.write_to_path(str(root / "key.pem"))
    http, https = _free_port(), _free_port()
    out = subprocess.run([program, "-v"], capture_output=True, text=True).stderr
    old = tuple(int(x) for x in out.split("/")[-1].split(".")[:2]) < (1, 25)
    h2_listen, h2_on = (" http2", "") if old else ("", "http2 on;")
    (root / "nginx.conf").write_text(f"""
worker_processes 1;
events {{ worker_connections 512; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    server {{
        listen 127.0.0.1:{http};
        location / {{ return 200 "hello world\\n"; }}
    }}
    server {{
        listen 127.0.0.1:{https} ssl{h2_listen};
        {h2_on}
        ssl_certificate {root}/cert.pem;
        ssl_certificate_key {root}/key.pem;
        location / {{ return 200 "hello world\\n"; }}
    }}
}}
""")
    proc = subprocess.Popen(
        [
            program,
            "-p",
            str(root),
            "-c",
            str(root / "nginx.conf"),
            "-g",
            f"daemon off; pid {root}/nginx.pid; error_log stderr;",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_port(http)
        _wait_port(https)
        yield http, https
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


async def _measure(transport: Any, url: str, n: int, concurrency: int) -> tuple[float, float]:
    """(requests per second, this process's CPU microseconds per request)."""
    async with httpx.AsyncClient(transport=transport) as client:
        (await client.get(url)).raise_for_status()  # connect (and handshake) outside the clock
        per_task = n // concurrency

        async def worker() -> None:
            for _ in range(per_task):
                r = await client.get(url)
                assert r.status_code == 200

        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        done = per_task * concurrency
        cpu = (time.process_time() - c0) / done * 1e6
        return done / (time.perf_counter() - t0), cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    ap.add_argument("--https", action="store_true", help="HTTPS (TLS 1.3) instead of HTTP")
    ap.add_argument("--http2", action="store_true", help="HTTP/2 (implies --https)")
    ap.add_argument("--concurrency", type=int, default=1, help="requests in flight at once")
    args = ap.parse_args(argv)
    https = args.https or args.http2
    ca = trustme.CA()
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    kinds = {
        "httpx default (anyio)": lambda: httpx.AsyncHTTPTransport(verify=ctx, http2=args.http2),
        "unisock.httpx": lambda: unisock.httpx.AsyncHTTPTransport(verify=ctx, http2=args.http2),
    }
    if args.loop == "uvloop":
        import uvloop

        factory: Any = uvloop.new_event_loop
    else:
        factory = asyncio.new_event_loop
    with (
        tempfile.TemporaryDirectory(prefix="httpx-bench-") as tmp,
        nginx(Path(tmp), ca) as (
            http_port,
            https_port,
        ),
    ):
        url = f"https://127.0.0.1:{https_port}/" if https else f"http://127.0.0.1:{http_port}/"
        proto = "HTTP/2" if args.http2 else "HTTP/1.1"
        print(
            f"{proto} keep-alive GETs to a local nginx ({url}), {args.requests} requests, "
            f"{args.concurrency} in flight, {args.loop} loop, median of {args.repeat}"
        )
        results: dict[str, list[float]] = {name: [] for name in kinds}
        cpus: dict[str, list[float]] = {name: [] for name in kinds}
        for _ in range(args.repeat):  # interleaved, so drift hits both alike
            for name, make in kinds.items():
                with asyncio.Runner(loop_factory=factory) as runner:
                    rps, cpu = runner.run(_measure(make(), url, args.requests, args.concurrency))
                results[name].append(rps)
                cpus[name].append(cpu)
        base = statistics.median(results["httpx default (anyio)"])
        for name, runs in results.items():
            med = statistics.median(runs)
            cpu = statistics.median(cpus[name])
            print(
                f"  {name:24} {med:7.0f} req/s ({med / base:.2f}x)  {cpu:5.0f} us CPU/req"
                "  runs: " + ", ".join(f"{r:.0f}" for r in runs)
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
