"""The argument parser: every subcommand, its options and its ``--help`` text.

Usage errors are one line (``unisock connect: error: ...``) and exit code 2, like every
other error of the command, so scripts can rely on a single line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from .. import __version__
from .transports import check_type, type_help

__all__ = ["build_parser"]


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    p.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop", "trio"),
        default="auto",
        help="event loop: uvloop when installed (auto, the default), the stock asyncio loop, "
        "or trio (TCP and TLS)",
    )


def _transport(p: argparse.ArgumentParser, *, server: bool, default: str = "tcp") -> None:
    g = p.add_argument_group("transport")
    g.add_argument(
        "--type", "-t", default=default, type=check_type, metavar="T", help=type_help(default)
    )
    g.add_argument(
        "--alpn",
        action="append",
        metavar="A",
        help="an ALPN id to offer (repeat for several, in preference order); QUIC needs one",
    )
    t = p.add_argument_group("TLS and QUIC")
    if server:
        t.add_argument("--cert", metavar="FILE", help="certificate chain (PEM), leaf first")
        t.add_argument("--key", metavar="FILE", help="private key (PEM) of --cert")
        t.add_argument(
            "--self-signed",
            action="store_true",
            help="serve a throwaway certificate for localhost, 127.0.0.1 and ::1 made at start; "
            "its CA is written to a temporary file named on stderr (clients: --ca FILE)",
        )
        t.add_argument(
            "--ca", metavar="FILE", help="require client certificates issued by this CA (mTLS)"
        )
    else:
        t.add_argument(
            "--servername", metavar="N", help="SNI and the name to verify (default: HOST)"
        )
        t.add_argument(
            "--ca", metavar="FILE", help="trust this CA (PEM) instead of the system store"
        )
        t.add_argument("--cert", metavar="FILE", help="client certificate chain (PEM)")
        t.add_argument("--key", metavar="FILE", help="private key (PEM) of --cert")
        t.add_argument(
            "--insecure",
            "-k",
            action="store_true",
            help="do not verify the server's certificate (its name or its issuer)",
        )


def build_parser() -> argparse.ArgumentParser:
    """The ``unisock`` parser with its subcommands."""
    top = Parser(
        prog="unisock",
        description="unisock: a netcat for TCP, UDP, TLS and QUIC, built on the unisock library.",
        epilog="Run 'unisock demo' to see every transport work on loopback.",
    )
    top.add_argument("--version", action="version", version=f"unisock {__version__}")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser(
        "connect",
        help="connect and copy stdin to the socket, the socket to stdout",
        description="Connect to HOST:PORT; copy stdin to the socket and the socket to stdout "
        "(binary-safe). At stdin EOF the sending side is half-closed (TCP FIN, TLS "
        "close_notify, QUIC FIN); the command ends once the peer has closed its side too "
        "(or, on a terminal, as soon as the peer closes). UDP: each stdin read is one datagram, "
        "each datagram received is written to stdout; after stdin EOF the command waits "
        "--wait seconds of silence for replies, and an ICMP error the OS reports (a closed "
        "port: connection refused) ends it with status 1. Ctrl-C closes the connection "
        "gracefully (FIN, TLS close_notify) and exits with status 130.",
    )
    p.add_argument(
        "target",
        metavar="HOST:PORT",
        help="where to connect ([::1]:PORT for IPv6, unix:/PATH for a Unix socket)",
    )
    _transport(p, server=False)
    p.add_argument(
        "--no-half-close",
        action="store_true",
        help="keep sending side open at stdin EOF; end when the peer closes",
    )
    p.add_argument(
        "--wait",
        type=float,
        default=1.0,
        metavar="S",
        help="UDP: seconds of silence after stdin EOF before ending (default 1)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="give up connecting after S seconds (default 10; 0 = never)",
    )
    p.add_argument("--verbose", "-v", action="store_true", help="print info and stats to stderr")
    _common(p)

    p = sub.add_parser(
        "listen",
        help="listen and serve connections (stdin/stdout, or --echo)",
        description="Listen on [HOST:]PORT (HOST defaults to 127.0.0.1; use 0.0.0.0 or [::] "
        "for every interface, PORT 0 for any free port). Prints the bound address and each "
        "connection's peer on stderr. With --echo every connection is echoed back until "
        "Ctrl-C; otherwise the first connection is joined to stdin/stdout (like 'nc -l') and "
        "the command ends with it.",
    )
    p.add_argument(
        "target", metavar="[HOST:]PORT", help="where to listen (unix:/PATH for a Unix socket)"
    )
    _transport(p, server=True)
    p.add_argument("--echo", "-e", action="store_true", help="echo every connection back")
    p.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="print each connection's info and, when it ends, its stats",
    )
    p.add_argument(
        "--wait",
        type=float,
        default=1.0,
        metavar="S",
        help="UDP without --echo: seconds of silence after stdin EOF before ending (default 1)",
    )
    _common(p)

    p = sub.add_parser(
        "send",
        help="send a file, with a progress bar",
        description="Send FILE to HOST:PORT (a stream transport: tcp, tls, quic), then "
        "half-close and wait for the receiver to close. A progress bar (bytes, rate, ETA) is "
        "drawn on stderr when it is a terminal.",
    )
    p.add_argument("file", metavar="FILE", help="the file to send")
    p.add_argument("target", metavar="HOST:PORT", help="the receiver ('unisock recv PORT')")
    _transport(p, server=False)
    p.add_argument("--quiet", "-q", action="store_true", help="no summary line at the end")
    p.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="give up connecting after S seconds (default 10; 0 = never)",
    )
    _common(p)

    p = sub.add_parser(
        "recv",
        help="receive one file on stdout, with a progress bar",
        description="Listen on [HOST:]PORT, write what the first connection sends to stdout "
        "(or --output FILE) until it ends, then exit. A progress bar (bytes, rate) is drawn "
        "on stderr when it is a terminal.",
    )
    p.add_argument(
        "target", metavar="[HOST:]PORT", help="where to listen (unix:/PATH for a Unix socket)"
    )
    _transport(p, server=True)
    p.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument("--quiet", "-q", action="store_true", help="no summary line at the end")
    _common(p)

    p = sub.add_parser(
        "info",
        help="connect, print the TLS/QUIC details, and exit",
        description="Connect to HOST:PORT (over TLS unless --type says otherwise) and print "
        "what the connection is: addresses, TLS version, cipher, key exchange, ALPN, "
        "certificate (subject, issuer, names, validity), verification status, whether the "
        "server sent a session ticket, and whether a second connection resumes the session.",
    )
    p.add_argument("target", metavar="HOST:PORT", help="the server")
    _transport(p, server=False, default="tls")
    p.add_argument(
        "--no-resume", action="store_true", help="skip the second connection (session reuse)"
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="give up connecting after S seconds (default 10; 0 = never)",
    )
    _common(p)

    p = sub.add_parser(
        "demo",
        help="run every transport on loopback and print a table",
        description="Start a TCP, TLS (with a certificate made in memory), UDP and QUIC "
        "listener on loopback, run a client against each (round-trips and an echoed bulk "
        "transfer) and print a table: bytes, round-trips, time, info, stats. Needs no "
        "network. Exit status 0 when every transport worked, 1 otherwise.",
    )
    p.add_argument(
        "--size",
        type=int,
        default=1 << 20,
        metavar="BYTES",
        help="bytes echoed over each stream transport (default 1 MiB)",
    )
    p.add_argument(
        "--rounds", type=int, default=10, metavar="N", help="round-trips per transport (10)"
    )
    _common(p)

    p = sub.add_parser(
        "bench",
        help="run the benchmark suite (source checkout only)",
        description="Run benchmarks/run.py of a source checkout (a quick run by default) and "
        "print the figures and unisock's ratio to each peer; --plot draws the ratios "
        "(needs matplotlib).",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick",
        dest="mode",
        action="store_const",
        const="quick",
        help="one run of each workload (the default)",
    )
    mode.add_argument(
        "--full",
        dest="mode",
        action="store_const",
        const="full",
        help="the median of three runs of each",
    )
    mode.add_argument(
        "--smoke",
        dest="mode",
        action="store_const",
        const="smoke",
        help="a few seconds: checks that the suite runs",
    )
    p.set_defaults(mode="quick")
    p.add_argument("--only", metavar="W,...", help="only these workloads")
    p.add_argument("--peers", metavar="P,...", help="only these peers")
    p.add_argument("--plot", metavar="FILE.png", help="draw unisock's ratios to FILE.png")
    p.add_argument("--json", metavar="FILE", help="write every measurement as JSON")
    _common(p)
    return top
