"""Peer: ngtcp2's example HTTP/3 programs on GnuTLS (C): the QUIC limit on this machine.

    server quic-server          client quic-bulk1 | quic-bulk8 PORT

``gtlsserver`` serves sparse files of zeros from a folder beside the run's certificates
(this process makes them, prints the port, then becomes ``gtlsserver``, so stopping the
server stops it).  The client runs ``gtlsclient`` one download after another and counts
the bytes of the downloads that ended inside the measured window, over their own time
(process start and handshake included: a few ms per download).  bulk1 GETs one
:data:`BULK1` file on one stream; bulk8 GETs a :data:`BULK8` file on each of 8 streams.
ngtcp2's examples have no sequential-request or datagram mode: those rows are n/a.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import _common as c
import _tls

BULK1 = 128 << 20
BULK8 = 16 << 20


def program(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        c.fail(f"{name} is not installed (Debian: ngtcp2-server / ngtcp2-client)")
    return found


def htdocs() -> Path:
    folder = _tls.cert_dir() / "ngtcp2-htdocs"
    folder.mkdir(exist_ok=True)
    for name, size in (("bulk1", BULK1), ("bulk8", BULK8)):
        path = folder / name
        if not path.exists() or path.stat().st_size != size:
            with open(path, "wb") as f:
                f.truncate(size)  # sparse: no disk, zeros when read
    return folder


def serve() -> None:
    server = program("gtlsserver")
    folder = htdocs()
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind((_tls.HOST, 0))
    port = probe.getsockname()[1]
    probe.close()
    d = _tls.cert_dir()
    c.announce_port(port)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.execv(server, [server, "-q", "-d", str(folder), _tls.HOST, str(port),
                      str(d / "key.pem"), str(d / "chain.pem")])  # fmt: skip


def download(client: str, port: int, mode: str) -> tuple[int, float]:
    """One gtlsclient run: (bytes downloaded, seconds), or (0, seconds) if it failed."""
    if mode == "quic-bulk8":
        extra, name, total = ["-n", "8"], "bulk8", 8 * BULK8
    else:
        extra, name, total = [], "bulk1", BULK1
    started = time.perf_counter()
    done = subprocess.run(
        [client, "-q", "--exit-on-all-streams-close", *extra, _tls.HOST, str(port),
         f"https://{_tls.HOST}:{port}/{name}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=False,
    )  # fmt: skip
    return (total if done.returncode == 0 else 0), time.perf_counter() - started


def client(args: c.Args) -> None:
    program_path = program("gtlsclient")
    deadline = time.monotonic() + 5
    while download(program_path, args.port, args.mode)[0] == 0:  # warm-up; server starting
        if time.monotonic() > deadline:
            c.fail("gtlsclient: no download from gtlsserver")
        time.sleep(0.1)
    count, seconds = 0, 0.0
    end = time.monotonic() + args.duration
    while time.monotonic() < end or not count:
        got, took = download(program_path, args.port, args.mode)
        if not got:
            c.fail("gtlsclient: a download failed")
        count += got
        seconds += took
    c.report(count, seconds)


def main() -> None:
    args = c.parse()
    if args.role == "check":
        program("gtlsserver")
        program("gtlsclient")
        _tls.cert_dir()
        return
    if args.role == "server":
        serve()
    else:
        client(args)


if __name__ == "__main__":
    main()
