"""``FrameReader``: lines, separators and exact lengths over a byte stream.

Against real servers we did not write (redis's RESP, an SMTP dialogue with aiosmtpd,
HTTP/1.1 from nginx), over loopback sockets, and over in-memory streams where chunk
boundaries and cancellation must be exact.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import pickle
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from tests import rt
from tests.conftest import need, redis_argv

import unisock
from nginx_util import nginx_argv, nginx_program, write_nginx_conf
from unisock import errors
from unisock.streams import (
    FrameReader,
    ReadableStream,
    ReadableStreamBYOBReader,
    ReadableStreamDefaultReader,
    WritableStream,
)
from unisock.streams.framing import IncompleteReadError, LimitOverrunError

pytestmark = pytest.mark.trio  # every test that takes `run` runs on trio too

Run = Callable[..., Any]


# -- helpers -------------------------------------------------------------------------------


def chunked(chunks: Sequence[bytes], *, end: BaseException | None = None) -> ReadableStream[Any]:
    """A byte stream giving one chunk per pull, then closing (or erroring with ``end``)."""
    pending = list(chunks)

    def pull(controller: Any) -> None:
        if pending:
            controller.enqueue(pending.pop(0))
        elif end is not None:
            controller.error(end)
        else:
            controller.close()
            request = controller.byob_request
            if request is not None:
                request.respond(0)

    return ReadableStream({"type": "bytes", "pull": pull})


class Gate:
    """A byte stream fed by hand: ``feed(b)``, ``close()``; reads wait in between."""

    def __init__(self) -> None:
        self.controller: Any = None
        self.stream: ReadableStream[Any] = ReadableStream({"type": "bytes", "start": self._start})
        self.cancelled: list[Any] = []

    def _start(self, controller: Any) -> None:
        self.controller = controller

    def feed(self, data: bytes) -> None:
        self.controller.enqueue(data)

    def close(self) -> None:
        self.controller.close()
        request = self.controller.byob_request
        if request is not None:
            request.respond(0)


class Collect:
    """A WritableStream sink that keeps every chunk."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.closed = False

    def write(self, chunk: Any, controller: Any) -> None:
        self.parts.append(bytes(chunk))

    def close(self) -> None:
        self.closed = True

    @property
    def data(self) -> bytes:
        return b"".join(self.parts)


async def settle() -> None:
    for _ in range(5):
        await rt.sleep(0)


@asynccontextmanager
async def loopback() -> AsyncIterator[tuple[unisock.Socket, unisock.Socket]]:
    """A connected (client, server) pair of unisock sockets; aborted on the way out."""
    async with unisock.SocketListener(local="127.0.0.1:0") as listener:
        client = unisock.Socket(remote=listener.local, no_delay=True)
        server = (await listener.__anext__()).socket
        await client.ready
        try:
            yield client, server
        finally:
            for s in (client, server):
                await s.abort()
                with suppress(errors.AbortError, errors.NetworkError):  # or closed cleanly
                    await s.closed


# -- frames over in-memory streams ---------------------------------------------------------


def test_separator_spanning_chunk_boundaries(run: Run) -> None:
    async def main() -> None:
        data = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody!"
        for size in (1, 2, 3, 5, 7, len(data)):
            stream = chunked([data[i : i + size] for i in range(0, len(data), size)])
            frames = FrameReader(stream)
            assert await frames.read_until(b"\r\n") == b"GET / HTTP/1.1\r\n"
            assert await frames.read_until(b"\r\n\r\n") == b"Host: x\r\n\r\n"
            assert await frames.read_exactly(5) == b"body!"
            assert await frames.at_eof()

    run(main)


def test_multi_byte_separator_with_near_misses(run: Run) -> None:
    async def main() -> None:
        # "--XY" partially matches at "-", "--", "--X" before the real one.
        data = b"a--X-b---XX--X--XY" + b"tail--XY"
        for size in (1, 2, 4):
            frames = FrameReader(chunked([data[i : i + size] for i in range(0, len(data), size)]))
            assert await frames.read_until(b"--XY") == b"a--X-b---XX--X--XY"
            assert await frames.read_until(bytearray(b"--XY")) == b"tail--XY"
            with pytest.raises(IncompleteReadError) as info:
                await frames.read_until(memoryview(b"--XY"))
            assert info.value.partial == b"" and info.value.expected is None

    run(main)


def test_read_line_read_and_lines_in_one_chunk(run: Run) -> None:
    async def main() -> None:
        frames = FrameReader(chunked([b"one\ntwo\r\nthree\nfour"]))
        assert await frames.read_line() == b"one\n"
        assert await frames.read_line() == b"two\r\n"
        assert await frames.read(3) == b"thr"
        assert await frames.read(100) == b"ee\nfour"  # what is buffered, no more
        assert await frames.read(0) == b""
        assert await frames.read(10) == b""
        assert await frames.at_eof()

    run(main)


def test_limits(run: Run) -> None:
    async def main() -> None:
        frames = FrameReader(chunked([b"0123456789\n", b"abc\n"]), limit=11)
        assert await frames.read_line() == b"0123456789\n"  # exactly the limit: fine
        frames = FrameReader(chunked([b"0123456789A\nnext\n"]), limit=11)
        with pytest.raises(LimitOverrunError) as info:
            await frames.read_line()
        exc = info.value
        assert isinstance(exc, ValueError) and isinstance(exc, asyncio.LimitOverrunError)
        assert "limit of 11 bytes" in str(exc) and exc.limit == 11 and exc.consumed == 12
        # Nothing was consumed: a larger limit reads the same frame, then the next.
        assert await frames.read_line(limit=12) == b"0123456789A\n"
        assert await frames.read_line() == b"next\n"

        # No separator yet, and already `limit` bytes: an error at once, not at EOF.
        gate = Gate()
        frames = FrameReader(gate.stream)
        gate.feed(b"x" * 40)
        with pytest.raises(ValueError, match="limit of 32 bytes"):
            await frames.read_until(b"\r\n", limit=32)
        with pytest.raises(ValueError, match="no b'\\\\r\\\\n' in the first 40 bytes"):
            await frames.read_until(b"\r\n", limit=32)
        gate.feed(b"\r\n")
        assert await frames.read_until(b"\r\n", limit=42) == b"x" * 40 + b"\r\n"
        await frames.cancel()

        # A separator split over the limit: "ab\r" is in, "\n" would be the 4th byte.
        frames = FrameReader(chunked([b"ab\r", b"\n"]))
        with pytest.raises(LimitOverrunError):
            await frames.read_until(b"\r\n", limit=3)
        assert await frames.read_until(b"\r\n", limit=4) == b"ab\r\n"

        with pytest.raises(ValueError, match="shorter than the 4-byte separator"):
            await frames.read_until(b"\r\n\r\n", limit=3)
        with pytest.raises(ValueError, match="limit must be at least 1"):
            FrameReader(chunked([]), limit=0)
        with pytest.raises(TypeError, match="limit must be an int"):
            await frames.read_line(limit=1.5)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="separator must be bytes-like, got str"):
            await frames.read_until("\n")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="separator must not be empty"):
            await frames.read_until(b"")
        with pytest.raises(ValueError, match="n must be at least 0"):
            await frames.read_exactly(-1)
        with pytest.raises(TypeError, match="n must be an int"):
            await frames.read_exactly(True)
        assert await frames.read_exactly(0) == b""

    run(main)


def test_a_huge_length_allocates_only_what_arrives(run: Run) -> None:
    async def main() -> None:
        gate = Gate()
        frames = FrameReader(gate.stream)
        task = rt.spawn(frames.read_exactly(1 << 40))  # a hostile length
        gate.feed(b"tiny")
        await settle()
        assert len(frames._buf) <= 2 << 20
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gate.close()
        with pytest.raises(IncompleteReadError) as info:
            await frames.read_exactly(1 << 40)
        assert info.value.partial == b"tiny"

    run(main)


def test_eof_mid_frame_carries_the_partial_bytes(run: Run) -> None:
    async def main() -> None:
        frames = FrameReader(chunked([b"$10\r\n", b"abcd"]))
        assert await frames.read_line() == b"$10\r\n"
        with pytest.raises(IncompleteReadError) as info:
            await frames.read_exactly(12)
        exc = info.value
        assert exc.partial == b"abcd" and exc.expected == 12
        assert isinstance(exc, asyncio.IncompleteReadError) and isinstance(exc, EOFError)
        assert str(exc) == "the stream ended after 4 of 12 bytes"
        copy = pickle.loads(pickle.dumps(exc))
        assert (copy.partial, copy.expected, str(copy)) == (b"abcd", 12, str(exc))
        assert await frames.at_eof()  # the partial bytes went with the error

        frames = FrameReader(chunked([b"no newline", b" at all"]))
        with pytest.raises(IncompleteReadError) as info:
            await frames.read_line()
        assert info.value.partial == b"no newline at all" and info.value.expected is None
        assert "17 bytes into a frame" in str(info.value)

        frames = FrameReader(chunked([]))
        with pytest.raises(IncompleteReadError) as info:  # a clean end: partial is b""
            await frames.read_line()
        assert info.value.partial == b""
        with pytest.raises(IncompleteReadError):
            await frames.read_exactly(1)

    run(main)


def test_stream_error_after_buffered_bytes(run: Run) -> None:
    async def main() -> None:
        boom = errors.NetworkError("connection reset by peer", 104)
        frames = FrameReader(chunked([b"line\npart", b"ial"], end=boom))
        assert await frames.read_line() == b"line\n"
        with pytest.raises(errors.NetworkError):
            await frames.read_line()
        assert await frames.read_exactly(7) == b"partial"  # buffered bytes stay readable
        with pytest.raises(errors.NetworkError):
            await frames.read(1)
        with pytest.raises(errors.NetworkError):
            await frames.rest().values().__anext__()

    run(main)


def test_cancelled_reads_keep_their_bytes(run: Run) -> None:
    async def main() -> None:
        for byob in (True, False):
            gate = Gate()
            if byob:
                frames = FrameReader(gate.stream)
            else:  # a default (non-byte) stream: through a default reader
                source = gate.stream.pipe_through(_identity())
                frames = FrameReader(source)

            # Cancelled with nothing read yet, the stream's read still in flight.
            task = rt.spawn(frames.read_exactly(6))
            await settle()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            gate.feed(b"abc")
            await settle()

            # Cancelled with half a frame read: those bytes stay buffered.
            task = rt.spawn(frames.read_line())
            await settle()
            gate.feed(b"def")
            await settle()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            with pytest.raises(TimeoutError):  # and through wait_for
                await rt.wait_for(frames.read_until(b"!"), 0.01)
            gate.feed(b"gh\nij")
            assert await frames.read_line() == b"abcdefgh\n"
            gate.feed(b"k")
            gate.close()
            assert await frames.read_exactly(3) == b"ijk"
            assert await frames.at_eof()

    run(main)


def _identity() -> Any:
    from unisock.streams import TransformStream

    return TransformStream()


def test_one_call_at_a_time_and_after_rest(run: Run) -> None:
    async def main() -> None:
        gate = Gate()
        frames = FrameReader(gate.stream)
        task = rt.spawn(frames.read_line())
        await settle()
        with pytest.raises(errors.InvalidStateError, match="one call at a time"):
            await frames.read_exactly(1)
        with pytest.raises(errors.InvalidStateError):
            frames.rest()
        gate.feed(b"ok\n")
        assert await task == b"ok\n"
        with pytest.raises(TypeError, match="locked"):
            FrameReader(gate.stream)
        assert frames.rest() is gate.stream  # nothing buffered: the stream itself
        assert not gate.stream.locked
        with pytest.raises(errors.InvalidStateError, match=r"rest\(\)"):
            await frames.read_line()
        with pytest.raises(TypeError, match="must be a ReadableStream"):
            FrameReader(b"bytes")  # type: ignore[arg-type]
        await gate.stream.cancel()

    run(main)


def test_rest_gives_the_buffer_then_the_source(run: Run) -> None:
    async def main() -> None:
        # Default reads (async for / pipe_to) and BYOB reads of the rest.
        for mode in ("iterate", "pipe", "byob"):
            gate = Gate()
            frames = FrameReader(gate.stream)
            gate.feed(b"HEADER\r\nbody-1|")
            assert await frames.read_until(b"\r\n") == b"HEADER\r\n"
            rest = frames.rest()
            assert rest is not gate.stream and gate.stream.locked

            async def feed(gate: Gate = gate) -> None:
                for part in (b"body-2|", b"body-3|" * 5000):
                    await settle()
                    gate.feed(part)
                await settle()
                gate.close()

            feeding = rt.spawn(feed())
            if mode == "iterate":
                got = b"".join([bytes(c) async for c in rest])
            elif mode == "pipe":
                sink = Collect()
                await rest.pipe_to(WritableStream(sink))
                assert sink.closed
                got = sink.data
            else:
                reader = rest.get_reader("byob")
                assert isinstance(reader, ReadableStreamBYOBReader)
                buf = bytearray(1000)
                parts = []
                while True:
                    result = await reader.read(memoryview(buf))
                    if result.done:
                        break
                    parts.append(bytes(result.value))
                got = b"".join(parts)
            await feeding
            assert got == b"body-1|body-2|" + b"body-3|" * 5000, mode
            assert not gate.stream.locked  # handed back once the source ended

        # Cancelling the rest cancels the source.
        cancelled: list[Any] = []
        source: ReadableStream[Any] = ReadableStream(
            {"type": "bytes", "pull": lambda c: c.enqueue(b"x\ny"), "cancel": cancelled.append}
        )
        frames = FrameReader(source)
        assert await frames.read_line() == b"x\n"
        rest = frames.rest()
        await rest.cancel("enough")
        assert cancelled == ["enough"]

    run(main)


def test_rest_after_a_cancelled_read_waits_for_its_bytes(run: Run) -> None:
    async def main() -> None:
        gate = Gate()
        frames = FrameReader(gate.stream)
        task = rt.spawn(frames.read_line())
        await settle()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        rest = frames.rest()  # a read of the source is still in flight into the buffer
        gate.feed(b"first")
        gate.feed(b"second")
        await settle()
        reader = rest.get_reader()
        assert isinstance(reader, ReadableStreamDefaultReader)
        got = b""
        while len(got) < 11:
            got += (await reader.read()).value
        assert got == b"firstsecond"
        # A cancelled read of the rest loses nothing either.
        with pytest.raises(TimeoutError):
            await rt.wait_for(reader.read(), 0.01)
        gate.feed(b"third")
        gate.close()
        assert (await reader.read()).value == b"third"
        assert (await reader.read()).done

    run(main)


def test_default_stream_and_bad_chunks(run: Run) -> None:
    async def main() -> None:
        frames = FrameReader(ReadableStream.from_([b"ab", bytearray(b"c\nd"), memoryview(b"e\n")]))
        assert await frames.read_line() == b"abc\n"
        assert await frames.read_line() == b"de\n"
        assert await frames.at_eof()

        frames = FrameReader(ReadableStream.from_(["text\n"]))
        with pytest.raises(TypeError, match="bytes-like chunks, the stream gave str"):
            await frames.read_line()

    run(main)


def test_long_line_in_small_chunks_and_big_frames(run: Run) -> None:
    async def main() -> None:
        line = os.urandom(1 << 20).replace(b"\n", b" ") + b"\n"
        chunks = [line[i : i + 1000] for i in range(0, len(line), 1000)]
        frames = FrameReader(chunked([*chunks, b"after\n"]))
        assert await frames.read_line(limit=len(line)) == line
        assert await frames.read_line() == b"after\n"

        big = os.urandom(3 << 20)
        frames = FrameReader(chunked([big[i : i + 65536] for i in range(0, len(big), 65536)]))
        assert await frames.read_exactly(5) == big[:5]
        assert await frames.read_exactly(len(big) - 10) == big[5:-5]
        assert await frames.read_exactly(5) == big[-5:]
        assert await frames.at_eof()

    run(main)


# -- over loopback sockets -----------------------------------------------------------------


def test_socket_frames_and_cancellation(run: Run) -> None:
    async def main() -> None:
        async with loopback() as (client, server):
            frames = FrameReader(client.readable)
            writer = server.writable.get_writer()
            await writer.write(b"220 hello\r\n250-one\r\n250 two\r\nhalf a li")
            assert await frames.read_line() == b"220 hello\r\n"
            assert await frames.read_until(b"250 ") == b"250-one\r\n250 "
            assert await frames.read_line() == b"two\r\n"
            with pytest.raises(TimeoutError):
                await rt.wait_for(frames.read_line(), 0.05)
            await writer.write(b"ne\r\n")
            assert await frames.read_line() == b"half a line\r\n"
            payload = os.urandom(2 << 20)
            writer.write(len(payload).to_bytes(4, "big") + payload + b"tail")
            await writer.close()
            n = int.from_bytes(await frames.read_exactly(4), "big")
            assert hashlib.sha256(await frames.read_exactly(n)).digest() == (
                hashlib.sha256(payload).digest()
            )
            with pytest.raises(IncompleteReadError) as info:
                await frames.read_exactly(10)
            assert info.value.partial == b"tail"
            assert await frames.at_eof()

    run(main)


# -- redis (RESP) --------------------------------------------------------------------------


def resp_command(*args: bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


async def resp_reply(frames: FrameReader) -> Any:
    """One RESP2 reply: simple string, error, integer, bulk string (or nil), array."""
    line = await frames.read_until(b"\r\n", limit=1024)
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body.decode()
    if kind == b"-":
        return RuntimeError(body.decode())
    if kind == b":":
        return int(body)
    if kind == b"$":
        n = int(body)
        if n < 0:
            return None
        data = await frames.read_exactly(n + 2)
        assert data[-2:] == b"\r\n"
        return data[:-2]
    if kind == b"*":
        return [await resp_reply(frames) for _ in range(int(body))]
    raise AssertionError(f"not RESP: {line!r}")


def test_redis_resp(run: Run, peer: Any, tmp_path: Path) -> None:
    need("redis-server")
    _, (port,) = peer.on_free_ports(
        lambda port: redis_argv(tmp_path, "--port", str(port), "--bind", "127.0.0.1")
    )

    async def main() -> None:
        async with unisock.Socket(remote=("127.0.0.1", port), no_delay=True) as s:
            frames = FrameReader(s.readable)
            writer = s.writable.get_writer()
            big = os.urandom(1 << 20) + b"\r\n\r\n$5\r\n"  # binary, with RESP-like bytes
            # Pipelined: every command is sent before the first reply is read.
            writer.write(resp_command(b"SET", b"greeting", b"hello"))
            writer.write(resp_command(b"GET", b"greeting"))
            writer.write(resp_command(b"GET", b"missing"))
            writer.write(resp_command(b"SET", b"big", big))
            writer.write(resp_command(b"GET", b"big"))
            writer.write(resp_command(b"RPUSH", b"list", b"a", b"", b"c\r\nd"))
            writer.write(resp_command(b"LRANGE", b"list", b"0", b"-1"))
            writer.write(resp_command(b"INCRBY", b"counter", b"41"))
            writer.write(resp_command(b"NOSUCHCOMMAND"))
            assert await resp_reply(frames) == "OK"
            assert await resp_reply(frames) == b"hello"
            assert await resp_reply(frames) is None
            assert await resp_reply(frames) == "OK"
            assert await resp_reply(frames) == big
            assert await resp_reply(frames) == 3
            assert await resp_reply(frames) == [b"a", b"", b"c\r\nd"]
            assert await resp_reply(frames) == 41
            err = await resp_reply(frames)
            assert isinstance(err, RuntimeError) and "unknown command" in str(err)
            writer.write(resp_command(b"QUIT"))
            assert await resp_reply(frames) == "OK"
            assert await frames.at_eof()  # redis closes after QUIT

    run(main)


# -- SMTP (aiosmtpd) -----------------------------------------------------------------------


async def smtp_reply(frames: FrameReader) -> tuple[int, list[bytes]]:
    """One (possibly multi-line) SMTP reply: ``250-...`` lines up to a ``250 ...`` one."""
    lines = []
    while True:
        line = await frames.read_line(limit=512)  # RFC 5321: a reply line is <= 512
        assert line.endswith(b"\r\n"), line
        lines.append(line[4:-2])
        if line[3:4] == b" ":
            return int(line[:3]), lines


def test_smtp_dialogue(run: Run, peer: Any, tmp_path: Path) -> None:
    pytest.importorskip("aiosmtpd")
    out = tmp_path / "smtpd.out"
    with out.open("wb") as stdout:
        smtpd = peer(
            [sys.executable, "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:0"],
            stdout=stdout,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    port = smtpd.port()
    body = b"Subject: framing\r\n\r\nline one\r\n.starts with a dot\r\n"
    body += (b"x" * 76 + b"\r\n") * 100

    async def main() -> None:
        async with unisock.Socket(remote=("127.0.0.1", port)) as s:
            frames = FrameReader(s.readable)
            writer = s.writable.get_writer()

            async def say(line: bytes, expect: int) -> list[bytes]:
                await writer.write(line + b"\r\n")
                code, lines = await smtp_reply(frames)
                assert code == expect, (line, code, lines)
                return lines

            code, greeting = await smtp_reply(frames)
            assert code == 220 and b"SMTP" in greeting[0]
            ehlo = await say(b"EHLO client.test", 250)
            assert len(ehlo) > 1 and b"8BITMIME" in ehlo
            await say(b"MAIL FROM:<a@client.test>", 250)
            await say(b"RCPT TO:<b@server.test>", 250)
            await say(b"DATA", 354)
            # Dot-stuffing: a line starting with "." is sent as "..".
            stuffed = body.replace(b"\r\n.", b"\r\n..")
            await say(stuffed + b".", 250)
            await say(b"QUIT", 221)
            assert await frames.at_eof()

    run(main)
    printed = out.read_bytes()
    assert b"line one" in printed and b".starts with a dot" in printed
    assert b"..starts" not in printed


# -- HTTP/1.1 from nginx -------------------------------------------------------------------


@pytest.fixture
def nginx_file(peer: Any, tmp_path: Path) -> tuple[int, bytes]:
    program = nginx_program()
    root = tmp_path / "nginx"
    (root / "www").mkdir(parents=True)
    content = os.urandom(3 << 20)
    (root / "www" / "file.bin").write_bytes(content)

    def configure(port: int) -> list[str]:
        conf = write_nginx_conf(
            root,
            f"""
    access_log off;
    default_type application/octet-stream;
    keepalive_requests 100;
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
    }}""",
            connections=64,
        )
        return nginx_argv(program, root, conf)

    _, (port,) = peer.on_free_ports(configure)
    return port, content


async def http_head(frames: FrameReader) -> tuple[bytes, dict[bytes, bytes]]:
    """The status line and the headers (lower-cased names) of one HTTP/1.1 response."""
    status = await frames.read_line(limit=8192)
    headers: dict[bytes, bytes] = {}
    while (line := await frames.read_line(limit=8192)) != b"\r\n":
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


def test_http11_from_nginx(run: Run, nginx_file: tuple[int, bytes]) -> None:
    port, content = nginx_file
    digest = hashlib.sha256(content).hexdigest()

    async def main() -> None:
        async with unisock.Socket(remote=("127.0.0.1", port)) as s:
            frames = FrameReader(s.readable)
            writer = s.writable.get_writer()
            # Keep-alive: two responses on one connection, bodies by Content-Length.
            writer.write(b"GET /file.bin HTTP/1.1\r\nHost: t\r\n\r\n")
            writer.write(b"GET /nothing-here HTTP/1.1\r\nHost: t\r\n\r\n")
            status, headers = await http_head(frames)
            assert status == b"HTTP/1.1 200 OK\r\n"
            body = await frames.read_exactly(int(headers[b"content-length"]))
            assert hashlib.sha256(body).hexdigest() == digest
            status, headers = await http_head(frames)
            assert status.startswith(b"HTTP/1.1 404 ")
            assert b"404" in await frames.read_exactly(int(headers[b"content-length"]))

            # The last one: read the head, then pipe the rest (the body) somewhere.
            writer.write(b"GET /file.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            status, headers = await http_head(frames)
            assert status == b"HTTP/1.1 200 OK\r\n" and headers[b"connection"] == b"close"
            sink = Collect()
            await frames.rest().pipe_to(WritableStream(sink))
            assert int(headers[b"content-length"]) == len(sink.data)
            assert hashlib.sha256(sink.data).hexdigest() == digest

    run(main)
