"""``unisock send FILE HOST:PORT`` and ``unisock recv [HOST:]PORT > FILE``.

The bytes go as they are (no header), so either end may be another tool (``socat``,
``nc``, ``openssl s_client``).  The sender half-closes when the file is sent and ends
once the receiver has closed too, so a zero exit means the receiver read it all.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .connect import finish
from .describe import size
from .listen import open_listener
from .options import (
    client_options,
    datagram,
    open_socket,
    target_address,
    temporary_ca_file,
)
from .progress import Progress
from .run import UsageError, eprint

__all__ = ["recv_main", "send_main"]

CHUNK = 256 * 1024


def _stream_only(args: argparse.Namespace) -> None:
    if datagram(args):
        raise UsageError("file transfer needs a stream transport (tcp, tls, quic), not udp")


def _summary(verb: str, n: int, seconds: float, peer: object) -> None:
    rate = n / seconds if seconds > 0 else 0.0
    eprint(f"unisock: {verb} {n:,} bytes ({size(n)}) in {seconds:.2f} s, {size(rate)}/s, {peer}")


async def send_main(args: argparse.Namespace) -> int:
    _stream_only(args)
    path = Path(args.file)
    try:
        file = path.open("rb")  # noqa: ASYNC230 - a local file, opened once
    except OSError as exc:
        raise UsageError(f"{args.file}: {exc.strerror or exc}") from None
    with file:
        total = os.fstat(file.fileno()).st_size if path.is_file() else None  # noqa: ASYNC240
        remote = target_address(args.target)
        sock = open_socket(remote=remote, **client_options(args))
        ok = False
        progress = Progress(lambda: sock.stats.bytes_sent, total)
        try:
            await sock.ready
            progress.start()
            writer = sock.writable.get_writer()
            while chunk := file.read(CHUNK):
                await writer.ready
                writer.write(chunk)
            await writer.close()
            async for _ in sock.readable:  # until the receiver closes
                pass
            await sock.closed
            ok = True
        finally:
            progress.stop()
            await finish(sock, ok)
    if not args.quiet:
        _summary("sent", sock.stats.bytes_sent, progress.elapsed(), f"to {sock.info.remote}")
    return 0


async def recv_main(args: argparse.Namespace) -> int:
    _stream_only(args)
    out = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115, ASYNC230
    try:
        with temporary_ca_file(args.self_signed) as ca_file:
            async with await open_listener(args, ca_file) as listener:
                event = await anext(aiter(listener), None)
                if event is None:
                    return 1
                sock = event.socket
                eprint(f"unisock: receiving from {sock.info.remote}")
                received = 0
                progress = Progress(lambda: received, None)
                progress.start()
                ok = False
                try:
                    async for chunk in sock.readable:
                        out.write(chunk)
                        received += len(chunk)
                    out.flush()
                    ok = True
                finally:
                    progress.stop()
                    await finish(sock, ok)
    finally:
        if args.output:
            out.close()
    if not args.quiet:
        _summary("received", received, progress.elapsed(), f"from {sock.info.remote}")
    return 0
