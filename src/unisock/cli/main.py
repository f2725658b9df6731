"""Dispatch: parse the command line and run the chosen subcommand."""

from __future__ import annotations

import argparse
import logging
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


def quiet_aioquic() -> None:
    """Keep aioquic's own log lines off stderr: one error, one line.

    aioquic logs each connection error it sees (``[<cid>] Error: 298, reason: ...`` on
    the ``"quic"`` logger, at WARNING) and, with logging unconfigured, Python prints it
    through its last-resort handler: the CLI then printed two lines for one failure
    (``unisock: error: ...`` says the same), and a listener printed a line per
    misbehaving client.  ``--debug`` keeps them.
    """
    for name in ("quic", "http3"):
        log = logging.getLogger(name)
        log.addHandler(logging.NullHandler())
        log.propagate = False


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
    if not args.debug:
        quiet_aioquic()
    handler = _handler(args.command)
    return run(lambda: handler(args), loop=args.loop, debug=args.debug)
