"""Adopting an open socket (``sock=``): connected TCP/TLS/UDP sockets for ``Socket``,
listening ones for ``SocketListener`` (systemd socket activation, a parent's hand-off)."""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tests import rt
from tests.conftest import Peer, free_port, need
from tests.tls_util import Pki, make_pki

import unisock
from unisock import testing as conformance
from unisock._base.options import SocketInit, SocketListenerInit

pytestmark = pytest.mark.trio  # every test that takes `run` runs on trio too

SRC = str(Path(unisock.__file__).resolve().parent.parent)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


def server_material(pki: Pki) -> dict[str, Any]:
    return {
        "cert": pki.server.cert_chain_pems[0].bytes(),
        "key": pki.server.private_key_pem.bytes(),
    }


async def echo_once(sock: unisock.Socket, prefix: bytes = b"") -> None:
    """Read one chunk and send it back (with ``prefix``), then close."""
    reader = sock.readable.get_reader()
    chunk = (await rt.wait_for(reader.read(), 5)).value
    reader.release_lock()
    await sock.writable.get_writer().write(prefix + chunk)
    await sock.close()


async def round_trip(sock: unisock.Socket, data: bytes) -> bytes:
    writer = sock.writable.get_writer()
    await writer.write(data)
    await writer.close()
    writer.release_lock()
    return await conformance.read_all(sock)


async def connected_pair() -> tuple[socket.socket, socket.socket]:
    """A real TCP connection on loopback: (connecting end, accepted end), non-blocking."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        listening.setblocking(False)
        client = socket.socket()
        client.setblocking(False)
        connecting = rt.spawn(rt.sock_connect(client, listening.getsockname()))
        accepted, _ = await rt.sock_accept(listening)
        await connecting
    return client, accepted


# -- Socket(sock=...) ----------------------------------------------------------------------


def test_tcp_client_end(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener() as listener:
            assert listener.local is not None
            raw = socket.create_connection((listener.local.address, listener.local.port))
            local = raw.getsockname()
            sock = unisock.Socket(sock=raw, no_delay=True)
            info = await sock.ready
            assert info.remote == listener.local
            assert info.local == unisock.SocketAddress(*local)
            server = await listener.accept()
            serving = rt.spawn(echo_once(server, b"echo:"))
            assert await round_trip(sock, b"adopted") == b"echo:adopted"
            await serving
            await sock.closed
            assert raw.fileno() == -1  # closed with the Socket

    run(main)


def test_tcp_accepted_end(run: Any) -> None:
    async def main() -> None:
        client_raw, accepted = await connected_pair()
        client = unisock.Socket(sock=client_raw)
        server = unisock.Socket(sock=accepted, server_side=True, keep_alive=9)
        info = await server.ready
        assert info.remote == (await client.ready).local
        raw = server._transport.get_extra_info("socket")  # type: ignore[union-attr]
        assert raw.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        serving = rt.spawn(echo_once(server))
        assert await round_trip(client, b"both ends adopted") == b"both ends adopted"
        await serving

    run(main)


def test_tls_client_on_an_adopted_connection(run: Any, pki: Pki) -> None:
    async def main() -> None:
        async with unisock.SocketListener(type="tls", **server_material(pki)) as listener:
            assert listener.local is not None
            raw = socket.create_connection((listener.local.address, listener.local.port))
            sock = unisock.Socket(type="tls", sock=raw, ca=pki.ca_pem, servername="localhost")
            info = await sock.ready
            assert info.servername == "localhost" and info.verification_status == "ok"
            server = await listener.accept()
            serving = rt.spawn(echo_once(server, b"tls:"))
            assert await round_trip(sock, b"hello") == b"tls:hello"
            await serving

    run(main)


def test_tls_server_side_on_an_adopted_connection(run: Any, pki: Pki) -> None:
    async def main() -> None:
        client_raw, accepted = await connected_pair()
        server = unisock.Socket(type="tls", sock=accepted, server_side=True, **server_material(pki))
        client = unisock.Socket(type="tls", sock=client_raw, ca=pki.ca_pem, servername="localhost")
        info, client_info = await rt.gather(server.ready, client.ready)
        assert info.certificate == client_info.peer_certificate
        assert info.servername == "localhost"  # the SNI the client sent
        serving = rt.spawn(echo_once(server, b"s:"))
        assert await round_trip(client, b"x") == b"s:x"
        await serving

    run(main)


def test_tls_server_side_with_openssl_client(run: Any, pki: Pki) -> None:
    need("openssl")

    async def main() -> None:
        with socket.socket() as listening:
            listening.bind(("127.0.0.1", 0))
            listening.listen()
            listening.setblocking(False)
            port = listening.getsockname()[1]
            proc = await rt.exec_process(
                "openssl",
                "s_client",
                "-connect",
                f"127.0.0.1:{port}",
                "-servername",
                "localhost",
                "-CAfile",
                str(pki.ca_pem),
                "-verify_return_error",
                "-quiet",
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            accepted, _ = await rt.sock_accept(listening)
        server = unisock.Socket(type="tls", sock=accepted, server_side=True, **server_material(pki))
        try:
            await server.ready
            assert proc.stdin is not None
            proc.stdin.write(b"from openssl\n")
            await proc.stdin.drain()
            serving = rt.spawn(echo_once(server, b"back:"))
            out, _ = await rt.wait_for(proc.communicate(), 10)
            await serving
            assert out == b"back:from openssl\n"
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await server.abort()

    run(main)


def test_starttls_on_an_adopted_accepted_connection(run: Any, pki: Pki) -> None:
    async def main() -> None:
        client_raw, accepted = await connected_pair()
        server = unisock.Socket(sock=accepted, server_side=True)
        client = unisock.Socket(sock=client_raw)
        await rt.gather(server.ready, client.ready)
        await rt.gather(
            server.update(type="tls", **server_material(pki)),
            client.update(type="tls", ca=pki.ca_pem, servername="localhost"),
        )
        assert server.info.cipher is not None
        serving = rt.spawn(echo_once(server))
        assert await round_trip(client, b"upgraded") == b"upgraded"
        await serving

    run(main)


def test_udp_bound_and_connected(run: Any) -> None:
    async def main() -> None:
        bound_raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        bound_raw.bind(("127.0.0.1", 0))
        bound = unisock.Socket(type="udp", sock=bound_raw)
        bound_info = await bound.ready
        assert bound_info.remote is None and bound_info.local is not None
        connected_raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        connected_raw.connect((bound_info.local.address, bound_info.local.port))
        connected = unisock.Socket(type="udp", sock=connected_raw)
        info = await connected.ready
        assert info.remote == bound_info.local
        async with conformance.settled(bound, connected):
            await connected.writable.get_writer().write(b"ping")
            reader = bound.readable.get_reader()
            datagram = (await rt.wait_for(reader.read(), 5)).value
            assert datagram.data == b"ping" and datagram.remote == info.local
            await bound.writable.get_writer().write(unisock.Datagram(b"pong", datagram.remote))
            got = (await rt.wait_for(connected.readable.get_reader().read(), 5)).value
            assert got == b"pong"

    run(main)


# -- SocketListener(sock=...) -----------------------------------------------------------------


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_tcp_listener(run: Any, family: str) -> None:
    async def main() -> None:
        host = "127.0.0.1" if family == "ipv4" else "::1"
        raw = socket.socket(socket.AF_INET if family == "ipv4" else socket.AF_INET6)
        raw.bind((host, 0))
        raw.listen(8)
        port = raw.getsockname()[1]
        async with unisock.SocketListener(sock=raw, no_delay=True) as listener:
            assert listener.local == unisock.SocketAddress(host, port)
            client = unisock.Socket(remote=listener.local, body=b"to the adopted listener")
            server = await listener.accept()
            assert await conformance.read_all(server) == b"to the adopted listener"
            await server.close()
            await client.closed
        assert raw.fileno() == -1  # the listener closed it

    run(main)


def test_tls_listener(run: Any, pki: Pki) -> None:
    async def main() -> None:
        raw = socket.create_server(("127.0.0.1", 0))
        async with unisock.SocketListener(type="tls", sock=raw, **server_material(pki)) as listener:
            client = unisock.Socket(
                type="tls", remote=listener.local, ca=pki.ca_pem, servername="localhost"
            )
            server = await listener.accept()
            serving = rt.spawn(echo_once(server))
            assert await round_trip(client, b"tls adopted") == b"tls adopted"
            await serving

    run(main)


def test_udp_listener(run: Any) -> None:
    async def main() -> None:
        raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        raw.bind(("127.0.0.1", 0))
        async with unisock.SocketListener(type="udp", sock=raw) as listener:
            client = unisock.Socket(type="udp", remote=listener.local)
            await client.writable.get_writer().write(b"peer")
            peer = await rt.wait_for(listener.accept(), 5)
            async with conformance.settled(client, peer):
                assert (await peer.readable.get_reader().read()).value == b"peer"

    run(main)


# -- ownership ------------------------------------------------------------------------------


def test_an_already_aborted_signal_closes_the_adopted_socket(run: Any) -> None:
    async def main() -> None:
        raw = socket.create_server(("127.0.0.1", 0))
        listener = unisock.SocketListener(sock=raw, signal=unisock.AbortSignal.abort("no"))
        with pytest.raises(Exception, match="no"):
            await listener.ready
        assert raw.fileno() == -1
        client_raw, accepted = await connected_pair()
        accepted.close()
        sock = unisock.Socket(sock=client_raw, signal=unisock.AbortSignal.abort("stop"))
        with pytest.raises(Exception, match="stop"):
            await sock.ready
        assert client_raw.fileno() == -1

    run(main)


def test_aborted_before_the_loop_ran_closes_it(run: Any) -> None:
    async def main() -> None:
        client_raw, accepted = await connected_pair()
        sock = unisock.Socket(sock=client_raw)
        await sock.abort()
        with pytest.raises(unisock.errors.AbortError):
            await sock.closed
        assert client_raw.fileno() == -1
        accepted.close()
        raw = socket.create_server(("127.0.0.1", 0))
        listener = unisock.SocketListener(sock=raw)
        await listener.close()
        assert raw.fileno() == -1

    run(main)


def test_the_callers_socket_object_never_closes_a_reused_number(run: Any) -> None:
    """The loop closes the descriptor; the caller's socket object, collected later, must
    not close whichever file got the number next (uvloop owns the fd it wraps)."""

    async def main() -> None:
        client_raw, accepted = await connected_pair()
        sock = unisock.Socket(sock=client_raw)
        await sock.ready
        await sock.abort()
        accepted.close()
        for _ in range(5):
            await rt.sleep(0)
        reader, writer = os.pipe()
        try:
            del client_raw
            gc.collect()
            os.fstat(reader)
            os.fstat(writer)
        finally:
            os.close(reader)
            os.close(writer)

    run(main)


# -- bad sockets ----------------------------------------------------------------------------


def test_bad_sockets_are_refused_naming_sock() -> None:
    def refuses(kind: type[Exception], match: str, **fields: Any) -> None:
        with pytest.raises(kind, match=match):
            SocketInit.parse(None, fields)

    def listener_refuses(kind: type[Exception], match: str, **fields: Any) -> None:
        with pytest.raises(kind, match=match):
            SocketListenerInit.parse(None, fields)

    refuses(TypeError, r"sock must be a socket.socket .*got int: 3", sock=3)
    a, b = socket.socketpair()
    with a, b:
        refuses(ValueError, "sock must be an IPv4 or IPv6 socket, got an AF_UNIX", sock=a)
    with socket.socket() as fresh:
        refuses(ValueError, "sock is not connected", sock=fresh)
        refuses(
            ValueError,
            r"sock: type 'udp' needs a datagram \(SOCK_DGRAM\) socket",
            type="udp",
            sock=fresh,
        )
        refuses(
            ValueError, "sock: a 'quic' socket cannot adopt", type="quic", alpn="h3", sock=fresh
        )
        listener_refuses(ValueError, "sock is not listening: call listen", sock=fresh)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as datagram:
        refuses(
            ValueError,
            "sock: a UDP socket to adopt must be bound or connected",
            type="udp",
            sock=datagram,
        )
        listener_refuses(
            ValueError, "sock: a UDP socket for a listener must be bound", type="udp", sock=datagram
        )
        datagram.bind(("127.0.0.1", 0))
        datagram.connect(("127.0.0.1", 9))
        listener_refuses(ValueError, "needs an unconnected socket", type="udp", sock=datagram)
    listening = socket.create_server(("127.0.0.1", 0))
    with listening:
        refuses(ValueError, "sock is a listening socket", sock=listening)
        listener_refuses(ValueError, "local=.*not with sock", sock=listening, local="127.0.0.1:0")
        listener_refuses(ValueError, "backlog=5: not with sock", sock=listening, backlog=5)
        listener_refuses(
            ValueError,
            r"sock: a 'quic' socket cannot adopt",
            type="quic",
            alpn="h3",
            sock=listening,
        )
    closed = socket.socket()
    closed.close()
    refuses(ValueError, "sock is closed", sock=closed)
    refuses(ValueError, "server_side=True needs sock=", remote="127.0.0.1:9", server_side=True)


def test_bad_combinations_leave_the_socket_to_the_caller(run: Any) -> None:
    async def main() -> None:
        client_raw, accepted = await connected_pair()
        with client_raw, accepted:
            with pytest.raises(ValueError, match=r"remote=.*not with sock"):
                unisock.Socket(sock=client_raw, remote="127.0.0.1:9")
            with pytest.raises(ValueError, match="server_side with type 'tls' needs cert and key"):
                unisock.Socket(type="tls", sock=accepted, server_side=True)
            with pytest.raises(ValueError, match="servername: a TLS server takes no servername"):
                unisock.Socket(
                    type="tls", sock=accepted, server_side=True, servername="x", cert="c", key="k"
                )
            with pytest.raises(ValueError, match="server_side needs type 'tcp' or 'tls'"):
                SocketInit.parse(None, {"type": "udp", "sock": _udp_bound(), "server_side": True})
            assert client_raw.fileno() >= 0 and accepted.fileno() >= 0  # still the caller's

    run(main)


def _udp_bound() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    _keep.append(sock)
    return sock


_keep: list[socket.socket] = []


@pytest.fixture(autouse=True)
def _close_kept() -> Any:
    yield
    while _keep:
        _keep.pop().close()


# -- systemd socket activation -----------------------------------------------------------------

CHILD = r"""
import asyncio, os, socket, sys
import unisock

SD_LISTEN_FDS_START = 3

async def main():
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        sys.exit("LISTEN_PID is not this process")
    count = int(os.environ["LISTEN_FDS"])
    listening = socket.socket(fileno=SD_LISTEN_FDS_START)  # family and type read from the fd
    async with unisock.SocketListener(sock=listening) as listener:
        print("ready", count, listener.local, flush=True)
        sock = await listener.accept()
        reader = sock.readable.get_reader()
        data = (await reader.read()).value
        reader.release_lock()
        await sock.writable.get_writer().write(b"child " + str(os.getpid()).encode() + b": " + data)
        await sock.close()

if sys.argv[1] == "uvloop":
    import uvloop
    uvloop.run(main())
else:
    asyncio.run(main())
"""


def _talk(port: int, data: bytes, timeout: float = 20) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = socket.create_connection(("127.0.0.1", port), timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    with conn:
        conn.settimeout(timeout)
        conn.sendall(data)
        got = b""
        while chunk := conn.recv(4096):
            got += chunk
        return got


def test_systemd_socket_activate(peer: Any, loop_kind: str) -> None:
    """systemd's own tool listens, then execs the service with LISTEN_FDS/LISTEN_PID on
    the first connection: the service adopts fd 3 and answers that very connection."""
    tool = need("systemd-socket-activate")
    port = free_port()
    proc: Peer = peer(
        [
            tool,
            "-l",
            f"127.0.0.1:{port}",
            "-E",
            f"PYTHONPATH={SRC}",
            sys.executable,
            "-c",
            CHILD,
            loop_kind,
        ],
        stdout=subprocess.PIPE,
    )
    got = _talk(port, b"hello")
    assert got.startswith(b"child ") and got.endswith(b": hello")
    assert proc.proc.wait(20) == 0


LAUNCHER = r"""
import os, sys
fd = int(sys.argv[1])
if fd != 3:
    os.dup2(fd, 3)  # SD_LISTEN_FDS_START
    os.close(fd)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())  # exec keeps the pid
os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
"""


def test_listen_fds_handed_to_a_child(peer: Any, loop_kind: str, tmp_path: Path) -> None:
    """The same without systemd, as systemd does it after fork: the listening socket moved
    to fd 3, LISTEN_FDS=1, LISTEN_PID the pid of the program that then runs."""
    listening = socket.create_server(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    fd = listening.fileno()
    errors = tmp_path / "stderr"
    try:
        with errors.open("wb") as stderr:
            proc: Peer = peer(
                [sys.executable, "-c", LAUNCHER, str(fd), "-c", CHILD, loop_kind],
                pass_fds=(fd,),
                env={**os.environ, "PYTHONPATH": SRC},
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
    finally:
        listening.close()  # the child has its own copy
    assert proc.proc.stdout is not None
    line = proc.proc.stdout.readline()
    assert line.startswith(b"ready 1 127.0.0.1:"), errors.read_text()
    got = _talk(port, b"hand-off")
    assert got == b"child " + str(proc.proc.pid).encode() + b": hand-off"
    assert proc.proc.wait(20) == 0
