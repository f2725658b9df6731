"""Dispatch: parse the command line and run the chosen subcommand."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine
from typing import Any

from .args import build_parser
from .run import run

__all__ = ["dispatch"]

Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


def _handler(command: str) -> Handler:
    if command == "connect":
        from .connect import connect_main

        return connect_main
    if command == "listen":
        from .listen import listen_main

        return listen_main
    if command == "send":
        from .transfer import send_main

        return send_main
    if command == "recv":
        from .transfer import recv_main

        return recv_main
    if command == "info":
        from .info import info_main

        return info_main
    from .demo import demo_main

    return demo_main


def dispatch(argv: list[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "bench":
        from .bench import bench_main

        return bench_main(args)
    handler = _handler(args.command)
    return run(lambda: handler(args), loop=args.loop, debug=args.debug)
