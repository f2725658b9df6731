"""Unix domain sockets (issue 15 §2): streams and datagrams on a path, against socat and
redis-server, the listener's ownership of its socket file, and the errors users meet."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests import rt

import unisock
from conftest import Peers, eventually, need, redis_argv
from unisock.errors import NetworkError

pytestmark = pytest.mark.trio  # every test that takes `run` runs on trio too

Run = Callable[..., Any]


async def wait_for_file(path: Path) -> None:
    await eventually(path.exists, what=f"{path} to appear")


def test_echo_through_socat_unix_listen(run: Run, peer: Peers, tmp_path: Path) -> None:
    """A stream to socat's UNIX-LISTEN (echoing through cat): 1 MiB in, 1 MiB out."""
    path = tmp_path / "echo.sock"
    peer([need("socat"), f"UNIX-LISTEN:{path},fork", "EXEC:cat"])
    data = os.urandom(1 << 20)

    async def main() -> None:
        await wait_for_file(path)
        sock = await unisock.connect(remote=f"unix:{path}")
        assert sock.info.remote == unisock.SocketAddress(path=str(path))
        assert sock.info.local is None  # a stream client has no name
        writer = sock.writable.get_writer()

        async def send() -> None:
            for i in range(0, len(data), 65536):
                await writer.write(data[i : i + 65536])
            await writer.close()  # FIN: cat ends, socat closes

        sending = rt.spawn(send())
        got = b"".join([chunk async for chunk in sock.readable])
        await sending
        assert got == data
        await sock.closed

    run(main)


def test_socat_connects_to_our_listener(run: Run, tmp_path: Path) -> None:
    """socat UNIX-CONNECT as the client; our listener answers and sees an unnamed peer."""
    path = tmp_path / "server.sock"
    socat = need("socat")

    async def main() -> None:
        async with unisock.SocketListener(local=f"unix:{path}") as listener:
            assert listener.local == unisock.SocketAddress(path=str(path))
            proc = await rt.exec_process(
                socat,
                "-",
                f"UNIX-CONNECT:{path}",
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            sock = await listener.accept()
            assert sock.info.local == unisock.SocketAddress(path=str(path))
            assert sock.info.remote is None
            assert proc.stdin is not None
            proc.stdin.write(b"question\n")
            proc.stdin.close()
            reader = sock.readable.get_reader()
            got = b""
            while not got.endswith(b"\n"):
                result = await reader.read()
                assert not result.done
                got += result.value
            writer = sock.writable.get_writer()
            await writer.write(b"answer to " + got)
            await writer.close()
            out, _ = await proc.communicate()
            assert out == b"answer to question\n"
            assert proc.returncode == 0
            await sock.close()

    run(main)


def test_redis_on_a_unix_socket(run: Run, peer: Peers, tmp_path: Path) -> None:
    """RESP over the socket redis-server listens on (``unixsocket``, no TCP port)."""
    path = tmp_path / "redis.sock"
    peer(redis_argv(tmp_path, "--port", "0", "--unixsocket", str(path)))

    async def main() -> None:
        await wait_for_file(path)
        sock = await unisock.connect(remote={"path": str(path)})
        writer = sock.writable.get_writer()
        reader = sock.readable.get_reader()
        await writer.write(
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
        )
        got = b""
        while got.count(b"\r\n") < 3:
            got += (await reader.read()).value
        assert got == b"+OK\r\n$5\r\nhello\r\n"
        await sock.close()

    run(main)


@pytest.mark.trio
def test_tls_over_a_unix_socket_both_ends(run: Run, tmp_path: Path) -> None:
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert("app.internal")
    path = tmp_path / "tls.sock"

    async def main() -> None:
        async with unisock.SocketListener(
            type="tls",
            local=f"unix:{path}",
            cert=leaf.cert_chain_pems[0].bytes(),
            key=leaf.private_key_pem.bytes(),
        ) as listener:
            client = unisock.Socket(
                type="tls",
                remote=f"unix:{path}",
                servername="app.internal",
                ca=ca.cert_pem.bytes(),
                body=b"over tls",
            )
            server = await listener.accept()
            info = await client.ready
            assert info.cipher is not None and info.servername == "app.internal"
            got = b"".join([chunk async for chunk in server.readable])
            assert got == b"over tls"
            await server.close()
            await client.close()

    run(main)


@pytest.mark.trio
def test_datagrams_both_ways_and_a_bound_socket(run: Run, tmp_path: Path) -> None:
    """UDP over Unix: a listener's peer per client path, replies back; a bound socket
    reads Datagram objects naming the sender's (autobound) path."""

    async def main() -> None:
        async with unisock.SocketListener(type="udp", local=f"unix:{tmp_path}/u.sock") as lst:
            client = await unisock.connect(type="udp", remote=f"unix:{tmp_path}/u.sock")
            assert client.info.local is not None and client.info.local.path is not None
            await client.writable.get_writer().write(b"ping")
            server = await lst.accept()
            assert server.info.remote == client.info.local
            assert (await server.readable.get_reader().read()).value == b"ping"
            await server.writable.get_writer().write(b"pong")
            assert (await client.readable.get_reader().read()).value == b"pong"
            await client.close()
            await server.close()
        bound = unisock.Socket(type="udp", local=f"unix:{tmp_path}/b.sock")
        await bound.ready
        sender = await unisock.connect(type="udp", remote=f"unix:{tmp_path}/b.sock")
        await sender.writable.get_writer().write(b"x")
        datagram = (await bound.readable.get_reader().read()).value
        assert datagram.data == b"x" and datagram.remote == sender.info.local
        await bound.writable.get_writer().write(unisock.Datagram(b"y", datagram.remote))
        assert (await sender.readable.get_reader().read()).value == b"y"
        await sender.close()
        await bound.close()
        assert not (tmp_path / "b.sock").exists()

    run(main)


@pytest.mark.trio
def test_socat_datagrams(run: Run, peer: Peers, tmp_path: Path) -> None:
    """socat echoing datagrams on a Unix path (UNIX-RECVFROM, fork per datagram)."""
    path = tmp_path / "dgram.sock"
    peer([need("socat"), f"UNIX-RECVFROM:{path},fork", "EXEC:cat"])

    async def main() -> None:
        await wait_for_file(path)
        sock = await unisock.connect(type="udp", remote=f"unix:{path}")
        await sock.writable.get_writer().write(b"datagram")
        result = await rt.wait_for(sock.readable.get_reader().read(), 10)
        assert result.value == b"datagram"
        await sock.close()

    run(main)


@pytest.mark.trio
def test_listener_owns_its_file(run: Run, tmp_path: Path) -> None:
    """mode= sets the permissions; a stale file is replaced; a live one and a regular
    file are refused; closing removes the file unless someone replaced it."""
    path = tmp_path / "owned.sock"

    async def main() -> None:
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(str(path))
        stale.close()  # the file stays, nobody listens: stale
        async with unisock.SocketListener(local=f"unix:{path}", mode=0o640) as listener:
            assert stat.S_IMODE(path.stat().st_mode) == 0o640
            second = unisock.SocketListener(local=f"unix:{path}")
            with pytest.raises(NetworkError, match="another process is accepting"):
                await second.ready
            client = await unisock.connect(remote=f"unix:{path}")  # still ours
            server = await listener.accept()
            await client.close()
            await server.close()
        assert not path.exists()
        path.write_text("not a socket")
        third = unisock.SocketListener(local=f"unix:{path}")
        with pytest.raises(NetworkError, match="not a socket"):
            await third.ready
        assert path.read_text() == "not a socket"
        path.unlink()
        # Replaced while listening: the new file is not ours to remove.
        async with unisock.SocketListener(local=f"unix:{path}"):
            path.unlink()
            other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            other.bind(str(path))
        assert path.exists()
        other.close()

    run(main)


@pytest.mark.trio
def test_abstract_names(run: Run) -> None:
    name = f"unisock-test-{os.getpid()}"

    async def main() -> None:
        async with unisock.SocketListener(local=f"unix:@{name}") as listener:
            assert str(listener.local) == f"unix:@{name}"
            client = await unisock.connect(remote=f"unix:@{name}")
            server = await listener.accept()
            await client.close()
            await server.close()

    run(main)


@pytest.mark.trio
def test_connect_to_a_missing_path_names_it(run: Run, tmp_path: Path) -> None:
    async def main() -> None:
        with pytest.raises(NetworkError, match=r"unix:.*none\.sock"):
            await unisock.connect(remote=f"unix:{tmp_path}/none.sock")

    run(main)


@pytest.mark.parametrize(
    ("fields", "error", "match"),
    [
        ({"type": "h3", "remote": "unix:/tmp/x.sock"}, ValueError, "QUIC runs over UDP/IP"),
        ({"remote": "unix:/tmp/x.sock", "ttl": 5}, ValueError, "ttl=5 applies to IP sockets"),
        ({"remote": "unix:/tmp/x.sock", "keep_alive": 30}, ValueError, "keep_alive=30"),
        ({"type": "tls", "remote": "unix:/tmp/x.sock"}, ValueError, "servername"),
        ({"remote": "unix:/tmp/x.sock", "local": "127.0.0.1:0"}, ValueError, "one is a Unix"),
        ({"remote": "unix:" + "x" * 200}, ValueError, "at most 107"),
        ({"remote": "unix:"}, ValueError, "must not be empty"),
        ({"remote": {"path": b"/tmp/x"}}, TypeError, "must be a str"),
        ({"remote": {"path": "/tmp/x", "port": 1}}, TypeError, "Unix path"),
    ],
)
def test_bad_unix_fields_are_named(fields: dict[str, Any], error: type, match: str) -> None:
    async def main() -> None:
        with pytest.raises(error, match=match):
            unisock.Socket(**fields)

    asyncio.run(main())


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"local": "unix:/tmp/x.sock", "reuse_port": True}, "reuse_port=True applies to IP"),
        ({"local": "unix:/tmp/x.sock", "mode": "rw"}, "mode must be an int"),
        ({"local": "127.0.0.1:0", "mode": 0o600}, "local is not a path"),
        (
            {"type": "h3", "local": "unix:/tmp/x.sock", "cert": b"c", "key": b"k"},
            "QUIC runs over UDP/IP",
        ),
    ],
)
def test_bad_unix_listener_fields_are_named(fields: dict[str, Any], match: str) -> None:
    async def main() -> None:
        with pytest.raises((TypeError, ValueError), match=match):
            unisock.SocketListener(**fields)

    asyncio.run(main())


def test_cli_connects_to_a_unix_socket(peer: Peers, tmp_path: Path) -> None:
    path = tmp_path / "cli.sock"
    peer([need("socat"), f"UNIX-LISTEN:{path},fork", "EXEC:cat"])
    for _ in range(200):  # bounded polling for socat's file (no loop in this test)
        if path.exists():
            break
        time.sleep(0.025)
    done = subprocess.run(
        [sys.executable, "-m", "unisock", "connect", f"unix:{path}"],
        input=b"through the cli\n",
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"through the cli\n"
