"""Faults found by using unisock against real peers (issue 10): each test failed before
its fix.  Real sockets on loopback, both loops."""

from __future__ import annotations

import contextlib
import gc
import os
import socket
import struct
import time
from typing import Any

import pytest
import trustme
from tests import rt
from tests.conftest import eventually, refusing_port

import unisock
import unisock.streams
from unisock import SocketInit, errors

pytestmark = pytest.mark.trio  # every test that takes `run` runs on trio too


class _Pki:
    """A CA and a server certificate for localhost, as PEM bytes."""

    def __init__(self) -> None:
        ca = trustme.CA()
        leaf = ca.issue_cert("localhost", "127.0.0.1")
        self.ca = ca.cert_pem.bytes()
        self.cert = b"".join(p.bytes() for p in leaf.cert_chain_pems)
        self.key = leaf.private_key_pem.bytes()


def make_pki() -> _Pki:
    return _Pki()


async def _accept_one(listener: unisock.SocketListener) -> unisock.Socket:
    return await rt.wait_for(listener.accept(), 5)


async def _echo_once(sock: unisock.Socket, data: bytes) -> bytes:
    writer = sock.writable.get_writer()
    await writer.write(data)
    writer.release_lock()
    reader = sock.readable.get_reader()
    got = b""
    while len(got) < len(data):
        result = await rt.wait_for(reader.read(), 5)
        assert not result.done, got
        got += result.value
    reader.release_lock()
    return got


# -- 1. every accepted socket owns its options -------------------------------------------


def test_update_on_one_accepted_socket_leaves_the_next_alone(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener() as listener:
            c1 = await unisock.connect(remote=listener.local)
            s1 = await _accept_one(listener)
            await s1.update(idle_timeout=0.3)
            c2 = await unisock.connect(remote=listener.local)
            s2 = await _accept_one(listener)
            accepted = time.monotonic()
            with pytest.raises(errors.TimeoutError, match=r"idle_timeout=0\.3"):
                await rt.wait_for(s1.closed, 5)
            # time is what is tested: s2 stays idle past the 0.3 s it must not have taken
            await rt.sleep(max(0.0, accepted + 0.5 - time.monotonic()))
            assert not s2.signal.aborted
            s2.readable.pipe_to(s2.writable)
            assert await _echo_once(c2, b"still here") == b"still here"
            assert listener._opts.socket_options.idle_timeout == 0
            for s in (c1, c2, s2):
                await s.close()

    run(main)


def test_starttls_on_one_accepted_socket_leaves_the_next_plaintext(run: Any) -> None:
    pki = make_pki()

    async def main() -> None:
        async with unisock.SocketListener() as listener:
            for _ in range(3):
                client = await unisock.connect(remote=listener.local)
                server = await _accept_one(listener)
                assert server.info.type == "tcp"
                upgraded = rt.spawn(server.update(type="tls", cert=pki.cert, key=pki.key))
                await client.update(type="tls", ca=pki.ca, servername="localhost")
                await upgraded
                assert server.info.type == client.info.type == "tls"
                await client.close()
                await server.close()

    run(main)


# -- 2. pipe_to after the peer reset -----------------------------------------------------


def test_echo_pipe_after_the_peer_reset_rejects_with_network_error(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener() as listener:
            client = await unisock.connect(remote=listener.local)
            server = await _accept_one(listener)
            await client.abort()  # RST
            with pytest.raises(errors.NetworkError):
                await rt.wait_for(server.closed, 5)
            with pytest.raises(errors.NetworkError):
                await server.readable.pipe_to(server.writable)

    run(main)


# -- 4. UDP update(ttl=...) applies to the next datagram ---------------------------------


def _ttl_of_next_datagram(receiver: socket.socket) -> int:
    _, ancdata, _, _ = receiver.recvmsg(2048, socket.CMSG_SPACE(4))
    for level, kind, data in ancdata:
        if level == socket.IPPROTO_IP and kind == socket.IP_TTL:
            return int(struct.unpack("i", data[:4])[0])
    raise AssertionError("no TTL in the ancillary data")


def test_udp_update_ttl_applies(run: Any) -> None:
    async def main() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
            receiver.bind(("127.0.0.1", 0))
            receiver.setsockopt(socket.IPPROTO_IP, getattr(socket, "IP_RECVTTL", 12), 1)
            receiver.settimeout(5)
            port = receiver.getsockname()[1]
            sock = await unisock.connect(type="udp", remote=("127.0.0.1", port), ttl=30)
            writer = sock.writable.get_writer()
            await writer.write(b"one")
            assert await rt.to_thread(_ttl_of_next_datagram, receiver) == 30
            await sock.update(ttl=9)
            await writer.write(b"two")
            assert await rt.to_thread(_ttl_of_next_datagram, receiver) == 9
            await sock.close()

    run(main)


# -- 5 and 16. every abrupt end aborts signal with the error that rejects closed ---------


async def _silent_tcp_server() -> tuple[socket.socket, int]:
    """A listening socket nobody accepts from: TCP connects, TLS never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    return server, server.getsockname()[1]


async def _closed_error(sock: unisock.Socket) -> BaseException:
    """The error ``closed`` rejects with (within 10 s)."""
    try:
        outcome = await rt.wait_for(_settle(sock), 10)
    except TimeoutError:
        raise AssertionError("closed did not settle in 10 s") from None
    assert outcome is not None, "closed resolved"
    return outcome


async def settled(closed: Any) -> BaseException | None:
    """What ``closed`` ended with: ``None``, or the error it rejected with."""
    try:
        await closed
    except (errors.NetworkError, errors.AbortError, errors.TimeoutError) as exc:
        return exc
    return None


async def _settle(sock: unisock.Socket) -> BaseException | None:
    try:
        await sock.closed
    except Exception as exc:
        return exc
    return None


def test_ready_timeout_aborts_signal(run: Any) -> None:
    async def main() -> None:
        server, port = await _silent_tcp_server()
        with server:
            sock = unisock.Socket(type="tls", remote=("127.0.0.1", port), ready_timeout=0.2)
            exc = await _closed_error(sock)
            assert isinstance(exc, errors.TimeoutError)
            assert sock.signal.aborted
            assert sock.signal.reason is exc

    run(main)


def test_failed_connect_and_peer_reset_abort_signal(run: Any) -> None:
    async def main() -> None:
        with refusing_port() as closed_port:
            refused = unisock.Socket(remote=("127.0.0.1", closed_port))
            exc = await _closed_error(refused)
        assert isinstance(exc, errors.NetworkError)
        assert refused.signal.aborted and refused.signal.reason is exc

        async with unisock.SocketListener() as listener:
            client = await unisock.connect(remote=listener.local)
            server = await _accept_one(listener)
            await client.abort()
            exc = await _closed_error(server)
            assert isinstance(exc, errors.NetworkError)
            assert server.signal.aborted and server.signal.reason is exc

    run(main)


def test_idle_timeout_aborts_signal(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener() as listener:
            client = await unisock.connect(remote=listener.local, idle_timeout=0.2)
            server = await _accept_one(listener)
            exc = await _closed_error(client)
            assert isinstance(exc, errors.TimeoutError)
            assert client.signal.reason is exc
            await server.close()

    run(main)


# -- 6. dual-stack listening --------------------------------------------------------------


def test_listener_on_any_v6_accepts_ipv4_clients(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener(local="[::]:0") as listener:
            assert listener.local is not None
            port = listener.local.port
            for host in ("127.0.0.1", "::1"):
                client = await unisock.connect(remote=(host, port))
                server = await _accept_one(listener)
                server.readable.pipe_to(server.writable)
                assert await _echo_once(client, host.encode()) == host.encode()
                await client.close()
        async with unisock.SocketListener(local="[::]:0", ipv6_only=True) as listener:
            assert listener.local is not None
            with pytest.raises(errors.NetworkError):
                await unisock.connect(remote=("127.0.0.1", listener.local.port))

    run(main)


def test_ipv6_only_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="ipv6_only"):
        unisock.SocketListenerInit.parse(None, {"ipv6_only": "yes"})


# -- 8. a typo in type is refused ---------------------------------------------------------


@pytest.mark.parametrize("value", ["tsl", "TLS", "http", ["h2", "tsl"]])
def test_type_typo_is_a_value_error(value: Any) -> None:
    with pytest.raises(ValueError, match=r"type must be .*alpn=\["):
        SocketInit.parse(None, {"type": value, "remote": ("127.0.0.1", 1)})


@pytest.mark.parametrize("value", ["h2", "http/1.1", "h3", "h3-29", "hq-interop", "doq", "imap"])
def test_registered_alpn_ids_are_types(value: str) -> None:
    SocketInit.parse(None, {"type": value, "remote": ("127.0.0.1", 1)})


def test_any_alpn_id_goes_in_alpn() -> None:
    opts = SocketInit.parse(None, {"type": "tls", "alpn": ["my-proto"], "remote": ("h", 1)})
    assert opts.alpn == ("my-proto",)


# -- 9. a TLS handshake is bounded by default ---------------------------------------------


def test_tls_handshake_bounded_without_ready_timeout(
    run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(unisock.Socket, "HANDSHAKE_TIMEOUT", 0.3)

    async def main() -> None:
        server, port = await _silent_tcp_server()
        with server:
            sock = unisock.Socket(type="tls", remote=("127.0.0.1", port))
            exc = await _closed_error(sock)
            assert isinstance(exc, errors.TimeoutError)
            assert "handshake" in str(exc)

    run(main)


def test_default_handshake_bound_is_60_seconds() -> None:
    assert unisock.Socket.HANDSHAKE_TIMEOUT == 60


# -- 12. uvloop: an abort before ready never closes another connection's fd -------------


def test_abort_before_ready_leaves_later_connections_alone(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener() as listener:
            listener.add_event_listener(
                "socket", lambda e: e.socket.readable.pipe_to(e.socket.writable)
            )
            healthy: list[unisock.Socket] = []
            for i in range(10):
                doomed = unisock.Socket(remote=listener.local)
                await doomed.abort()
                controller = unisock.AbortController()
                doomed2 = unisock.Socket(remote=listener.local, signal=controller.signal)
                controller.abort()
                with pytest.raises(unisock.errors.AbortError):
                    await doomed.closed
                with pytest.raises(unisock.errors.AbortError):
                    await doomed2.closed
                healthy.append(await unisock.connect(remote=listener.local))
                # time is part of the test: the doomed connects' late callbacks (uvloop
                # closing their fds) get to run before the healthy socket is used
                await rt.sleep(0.01)
                gc.collect()
                data = f"healthy {i}".encode()
                assert await _echo_once(healthy[-1], data) == data
            for i, sock in enumerate(healthy):
                gc.collect()
                data = f"again {i}".encode()
                assert await _echo_once(sock, data) == data
                await sock.close()

    run(main)


# -- 13. close() never raises, and a failed write aborts ---------------------------------


def test_close_after_the_peer_reset_does_not_raise(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener() as listener:
            client = await unisock.connect(remote=listener.local)
            server = await _accept_one(listener)
            await client.abort()
            await eventually(lambda: server.signal.aborted, what="the reset arrived")
            await server.close()  # must not raise
            with pytest.raises(errors.NetworkError):
                await server.closed

    run(main)


def test_a_failed_write_aborts_the_socket(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener() as listener:
            client = await unisock.connect(remote=listener.local)
            server = await _accept_one(listener)
            writer = client.writable.get_writer()
            with pytest.raises(TypeError, match="str"):
                await writer.write("text")  # type: ignore[arg-type]
            exc = await _closed_error(client)
            assert isinstance(exc, TypeError)
            assert client.signal.aborted
            await rt.wait_for(client.close(), 1)  # no 5 s grace wait
            await server.close()

    run(main)


# -- 14. update() that says yes does something ---------------------------------------------


def test_update_tls_on_a_tls_socket_is_refused(run: Any) -> None:
    pki = make_pki()

    async def main() -> None:
        async with unisock.SocketListener(type="tls", cert=pki.cert, key=pki.key) as listener:
            client = await unisock.connect(
                type="tls", remote=listener.local, ca=pki.ca, servername="localhost"
            )
            with pytest.raises(ValueError, match="renegotiat"):
                await client.update(type="tls")
            await client.close()

    run(main)


def test_update_with_a_socket_init_counts_the_fields_set_on_it(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener() as listener:
            client = await unisock.connect(remote=listener.local, idle_timeout=0.2)
            server = await _accept_one(listener)
            await client.update(SocketInit(idle_timeout=0))
            assert client._opts.idle_timeout == 0
            await rt.sleep(0.5)  # time is what is tested: idle past the old 0.2 s
            assert not client.signal.aborted
            with pytest.raises(TypeError, match="remote"):
                await client.update(SocketInit(remote=("127.0.0.1", 1)))
            await client.close()
            await server.close()

    run(main)


def test_refused_update_changes_nothing(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener() as listener:
            client = await unisock.connect(remote=listener.local, ttl=20)
            server = await _accept_one(listener)
            for bad in ({"send_buffer_size": 2**64}, {"ttl": 64, "remote": "x:1"}):
                with pytest.raises((TypeError, ValueError)):
                    await client.update(**bad)
                assert client._opts.ttl == 20
                assert client._opts.send_buffer_size is None
            await client.update(ttl=64)
            assert client._opts.ttl == 64
            await client.close()
            await server.close()

    run(main)


def test_starttls_handshake_is_bounded_by_ready_timeout(run: Any) -> None:
    async def main() -> None:
        server, port = await _silent_tcp_server()
        with server:
            sock = await unisock.connect(remote=("127.0.0.1", port), ready_timeout=0.3)
            with pytest.raises(errors.TimeoutError):
                await rt.wait_for(sock.update(type="tls", verify=False), 5)
            assert sock.signal.aborted

    run(main)


def test_update_before_ready_waits_for_ready(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener() as listener:
            client = unisock.Socket(remote=listener.local)
            await client.update(no_delay=True)  # queued until ready, like a write
            assert client._opts.no_delay
            raw = client._transport.get_extra_info("socket")  # type: ignore[union-attr]
            assert raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            server = await _accept_one(listener)
            await client.close()
            await server.close()

    run(main)


def test_update_on_a_closed_socket_is_invalid_state(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener() as listener:
            client = await unisock.connect(remote=listener.local)
            server = await _accept_one(listener)
            await client.close()
            with pytest.raises(errors.InvalidStateError):
                await client.update(no_delay=True)
            await server.close()

    run(main)


# -- hostile values are refused at once (issue 16, 10 and 11) ------------------------------


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("remote", ("127.0.0.1\x00.allowed.example", 80), ValueError),
        ("remote", "localhost:-1", ValueError),
        ("remote", "localhost:65536", ValueError),
        ("remote", "localhost:http", ValueError),
        ("remote", (b"127.0.0.1", 80), TypeError),
        ("send_buffer_size", 2**31, ValueError),
        ("receive_buffer_size", 2**64, ValueError),
        ("send_buffer_size", -1, ValueError),
        ("idle_timeout", float("nan"), ValueError),
        ("idle_timeout", 10**400, ValueError),
        ("ready_timeout", "5", TypeError),
        ("ttl", 256, ValueError),
        ("ttl", None, None),
        ("no_delay", 1, TypeError),
    ],
)
def test_bad_socket_values_name_the_field(field: str, value: Any, error: Any) -> None:
    kwargs: dict[str, Any] = {"remote": ("127.0.0.1", 80), field: value}
    if error is None:
        SocketInit.parse(None, kwargs)
        return
    with pytest.raises(error, match=field.split("_")[0]):
        SocketInit.parse(None, kwargs)


@pytest.mark.parametrize(
    ("field", "value"), [("backlog", 2**31), ("backlog", 0), ("max_peers", -1)]
)
def test_bad_listener_values_name_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        unisock.SocketListenerInit.parse(None, {field: value})


def test_nul_in_listener_local_is_refused() -> None:
    with pytest.raises(ValueError, match="local"):
        unisock.SocketListenerInit.parse(None, {"local": ("127.0.0.1\x00x", 0)})


# -- issue 16 item 9: the README's echo server and abrupt clients --------------------------


def test_echo_listener_reports_nothing_when_clients_reset(run: Any) -> None:
    """``run`` fails the test if anything reaches the loop's exception handler."""

    async def main() -> None:
        async with unisock.SocketListener() as listener:
            accepted: list[unisock.Socket] = []

            def echo(event: unisock.SocketEvent) -> None:
                accepted.append(event.socket)
                event.socket.readable.pipe_to(event.socket.writable)

            listener.add_event_listener("socket", echo)
            for _ in range(20):
                client = await unisock.connect(remote=listener.local)
                writer = client.writable.get_writer()
                await writer.write(b"x" * 1000)
                await client.abort()
            client = await unisock.connect(remote=listener.local, body=b"bye")
            assert b"".join([c async for c in client.readable]) == b"bye"
            # every server side has ended (the reset ones with an error) before run() looks
            assert len(accepted) == 21
            ends = await rt.wait_for(rt.gather(*(settled(s.closed) for s in accepted)), 5)
            assert sum(isinstance(e, errors.NetworkError) for e in ends) >= 1

    run(main)


def test_async_listener_errors_that_are_bugs_still_reach_the_loop() -> None:
    from conftest import run_on

    async def main() -> None:
        async with unisock.SocketListener() as listener:
            handled = rt.Event()

            async def buggy(event: Any) -> None:
                await event.socket.abort()
                handled.set()
                raise KeyError("a bug in the handler")

            listener.add_event_listener("socket", buggy)
            client = await unisock.connect(remote=listener.local)
            await rt.wait_for(handled.wait(), 5)
            await client.abort()

    with pytest.raises(AssertionError, match="KeyError"):
        run_on("asyncio", main)


def test_udp_listener_peer_refuses_a_ttl_of_its_own(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener(type="udp") as listener:
            client = await unisock.connect(type="udp", remote=listener.local)
            writer = client.writable.get_writer()
            await writer.write(b"hi")
            peer = await _accept_one(listener)
            with pytest.raises(ValueError, match="ttl"):
                await peer.update(ttl=9)
            await peer.update(idle_timeout=5)  # its own: allowed
            await client.close()
            await peer.close()

    run(main)


def _open_fds() -> dict[str, str]:
    found = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            found[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
    return found


def test_cancelled_connect_leaves_nothing(run: Any) -> None:
    """200 ``wait_for(connect(...))`` timeouts against a server that never answers TLS."""

    async def main() -> None:
        server, port = await _silent_tcp_server()
        with server:
            before = len(os.listdir("/proc/self/fd"))
            fds = _open_fds()
            for _ in range(50):
                with pytest.raises(TimeoutError):
                    await rt.wait_for(unisock.connect(type="tls", remote=("127.0.0.1", port)), 0.02)
            # the aborted transports finish closing
            with contextlib.suppress(AssertionError):  # the assertion below tells which fds
                await eventually(lambda: len(os.listdir("/proc/self/fd")) <= before)
            now = _open_fds()
            assert len(now) <= before, {f: t for f, t in now.items() if fds.get(f) != t}

    run(main)


def test_cancelling_the_task_awaiting_pipe_to_stops_the_pipe(run: Any) -> None:
    async def main() -> None:
        async with unisock.SocketListener() as listener:
            client = await unisock.connect(remote=listener.local)
            server = await _accept_one(listener)
            received = bytearray()

            async def sink_write(chunk: bytes) -> None:
                received.extend(chunk)

            sink: unisock.streams.WritableStream[bytes] = unisock.streams.WritableStream(
                {"write": sink_write}
            )
            with pytest.raises(TimeoutError):
                await rt.wait_for(server.readable.pipe_to(sink), 0.1)
            writer = client.writable.get_writer()
            await writer.write(b"after the pipe stopped")
            await eventually(lambda: server.stats.bytes_received == 22, what="the bytes arrived")
            for _ in range(3):  # loop turns in which a live pipe would hand them on
                await rt.sleep(0)
            assert bytes(received) == b""
            assert not sink.locked and not server.readable.locked  # released, still open
            await client.close()
            await server.close()

    run(main)


def test_listener_and_starttls_take_require_close_notify() -> None:
    lopts = unisock.SocketListenerInit.parse(None, {"require_close_notify": True})
    assert lopts.socket_options.require_close_notify
    with pytest.raises(TypeError, match="require_close_notify"):
        unisock.SocketListenerInit.parse(None, {"require_close_notify": "yes"})


def test_quic_listener_checks_its_material_at_construction(run: Any) -> None:
    async def main() -> None:
        with pytest.raises((TypeError, ValueError), match=r"cert|key"):
            unisock.SocketListener(type="quic", alpn=["x"], cert=b"not a cert", key=b"nope")

    run(main)


def test_empty_servername_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="servername"):
        SocketInit.parse(None, {"type": "tls", "remote": ("h", 1), "servername": ""})


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_tls_info_reads_keep_memory_flat(run: Any) -> None:
    """Each read of SSLObject.session leaks a copy on CPython 3.11 (#116810): 5,000
    ``info`` reads used to cost ~30 MiB."""
    pki = make_pki()

    async def main() -> None:
        async with unisock.SocketListener(type="tls", cert=pki.cert, key=pki.key) as listener:
            listener.add_event_listener(
                "socket", lambda e: e.socket.readable.pipe_to(e.socket.writable)
            )
            client = await unisock.connect(
                type="tls", remote=listener.local, ca=pki.ca, servername="localhost"
            )
            assert await _echo_once(client, b"ticket, please") == b"ticket, please"
            for _ in range(100):
                client.info  # noqa: B018 - warm up
            before = _rss_kib()
            for _ in range(5000):
                assert client.info.cipher is not None
            assert _rss_kib() - before < 4096
            await client.close()

    run(main)


def test_pooled_tls_connections_keep_memory_flat(run: Any) -> None:
    """Pooled TLS clients that resume read no SSLObject.session (each read leaks a copy on
    CPython 3.11, #116810): 600 pooled connections grew RSS by ~4 MiB before."""
    pki = make_pki()

    async def main() -> None:
        async with unisock.SocketListener(type="tls", cert=pki.cert, key=pki.key) as listener:
            listener.add_event_listener(
                "socket", lambda e: e.socket.readable.pipe_to(e.socket.writable)
            )

            async def one() -> None:
                sock = await unisock.connect(
                    type="tls",
                    remote=listener.local,
                    ca=pki.ca,
                    servername="localhost",
                    body=b"x",
                )
                assert b"".join([c async for c in sock.readable]) == b"x"

            for _ in range(100):  # warm up: the cache holds a resumable session
                await one()
            before = _rss_kib()
            for _ in range(600):
                await one()
            assert _rss_kib() - before < 2048

    run(main, timeout=120)
