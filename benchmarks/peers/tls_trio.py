"""Peer: trio's ``SSLStream`` over TCP (``serve_ssl_over_tcp`` / ``open_ssl_over_tcp_stream``).

server tls-source | tls-hs        client tls-download | tls-handshakes PORT
"""

from __future__ import annotations

from functools import partial

import _common as c
import _tls
import trio

ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


async def handle(args: c.Args, stream: trio.SSLStream[trio.SocketStream]) -> None:
    try:
        if args.mode == "tls-source":
            chunk = c.CHUNK
            while True:
                await stream.send_all(chunk)
        else:
            await stream.do_handshake()
            await stream.receive_some()
    except ERRORS:
        pass
    finally:
        with trio.move_on_after(1):
            await trio.aclose_forcefully(stream)


async def serve(args: c.Args) -> None:
    ctx = _tls.server_context()
    listeners = await trio.open_ssl_over_tcp_listeners(0, ctx, host=_tls.HOST)
    tcp = listeners[0].transport_listener
    assert isinstance(tcp, trio.SocketListener)
    c.announce_port(tcp.socket.getsockname()[1])
    await trio.serve_listeners(partial(handle, args), listeners)


async def download(args: c.Args, meter: c.Meter) -> None:
    ctx = _tls.client_context()
    stream = await trio.open_ssl_over_tcp_stream(_tls.HOST, args.port, ssl_context=ctx)
    size = c.READ_SIZE
    while data := await stream.receive_some(size):
        meter.count += len(data)
    c.fail("trio: the server closed the connection")


async def handshakes(args: c.Args, meter: c.Meter) -> None:
    ctx = _tls.client_context()
    while True:
        stream = await trio.open_ssl_over_tcp_stream(_tls.HOST, args.port, ssl_context=ctx)
        await stream.do_handshake()
        await stream.aclose()
        meter.count += 1


async def client(args: c.Args) -> None:
    meter = c.Meter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(download if args.mode == "tls-download" else handshakes, args, meter)
        window = c.Window(meter)
        await trio.sleep(args.warmup)
        window.open()
        await trio.sleep(args.duration)
        window.close()


def main() -> None:
    args = c.parse()
    if args.role == "check":
        _tls.cert_dir()
        return
    trio.run(client if args.role == "client" else serve, args)


if __name__ == "__main__":
    main()
