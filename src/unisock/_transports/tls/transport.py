"""TLS over an already-connected asyncio transport, driven through ``ssl.SSLObject``.

Theory of operation.  The TLS endpoint is OpenSSL behind two memory BIOs: ciphertext the
lower transport receives goes into ``_incoming``, ciphertext OpenSSL produces is taken from
``_outgoing`` and written to the lower transport.  ``TLSTransport`` becomes the lower
transport's protocol (a ``BufferedProtocol``: the kernel copies into one reusable
bytearray, no allocation per read) and is itself an asyncio ``Transport`` for the upper
protocol, so the layer above cannot tell it from a plain TCP transport.

Why not asyncio's own SSL protocol: it decrypts in small reads, allocates per chunk and
cannot start on a transport that already carried plaintext without losing bytes (STARTTLS).
Here each pass decrypts until OpenSSL wants more input, filling one reusable 256 KiB buffer
per delivery, and flushes the outgoing BIO once per pass.  Bytes received after the upgrade
point but before this object existed are given as ``initial_data``.

Nothing the upper protocol writes leaves before the handshake (and so the certificate
verification) succeeded: such writes are queued and flushed right after it.

The engine's state (handshaking, open, half-closed either way, closing, failing, aborted,
closed) is one field, ``_state``, moved only by ``_move()`` through the table in
``states.py``; the per-chunk paths compare it with ``OPEN`` by identity and never look
the table up.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ssl
from typing import Any, ClassVar, cast

from ..._base.buffers import thread_buffer
from ..._base.deferred import Deferred
from ..._runtime import current
from ..._runtime.base import Handle, Runtime
from ...errors import AbortError, NetworkError, TLSError, network_error
from ..base import StreamTransport
from .config import (
    SessionCache,
    SessionKey,
    TLSOptions,
    client_context,
    server_context,
    session_cache,
    tls_info,
)
from .facts import TLSFacts
from .names import HandshakeObserver
from .states import (
    CLOSED,
    CLOSING,
    ENDING,
    HANDSHAKE_CLOSING,
    HANDSHAKES,
    HANDSHAKING,
    OPEN,
    READ_CLOSED,
    READING,
    WRITE_CLOSED,
    WRITE_ENDED,
    Input,
    State,
    step,
)

__all__ = ["TLSTransport"]

_RECV_SIZE = 256 * 1024  # ciphertext read buffer (lower transport -> incoming BIO)
_READ_SIZE = 256 * 1024  # plaintext delivered per data_received at most
_WRITE_SLICE = 256 * 1024  # big writes are encrypted and flushed in slices of this size
_SESSION_WATCH_PASSES = 32  # TLS 1.3 tickets come after the handshake: look this long
_CLOSE_NOTIFY = ssl.SSLZeroReturnError("the peer sent close_notify")


def _thread_buffers() -> tuple[memoryview, memoryview]:
    """This thread's ciphertext receive buffer and plaintext read buffer."""
    return thread_buffer("tls-ciphertext", _RECV_SIZE), thread_buffer("tls-plaintext", _READ_SIZE)


def _network_error(exc: BaseException | None, during: str) -> NetworkError:
    if isinstance(exc, NetworkError):
        return exc
    if isinstance(exc, OSError):
        return network_error(exc, during)
    return NetworkError(f"{during}: the peer closed the connection")


def _reason(exc: ssl.SSLError) -> str:
    """OpenSSL's reason code as words ("tlsv13 alert certificate required")."""
    reason = exc.reason or exc.strerror or str(exc)
    return str(reason).lower().replace("_", " ")


def _verify_error(exc: ssl.SSLCertVerificationError) -> TLSError:
    reason = exc.verify_message or exc.reason or "certificate verify failed"
    err = TLSError(f"TLS certificate verification failed: {reason}", verification_status=reason)
    err.__cause__ = exc
    return err


class TLSTransport(asyncio.Transport, asyncio.BufferedProtocol):
    """A TLS client or server endpoint layered on a connected transport (see module doc)."""

    moves: ClassVar[list[tuple[int, State, Input, State | None]] | None] = None
    """For tests: set to a list and every transport appends ``(id, state, input, after)``
    for each input it is given (``after`` is ``None`` when the input changed nothing).
    Inputs come a few times per connection, never per chunk."""

    def __init__(
        self,
        lower: StreamTransport,
        protocol: asyncio.BaseProtocol,
        options: TLSOptions,
        *,
        loop: Runtime | None = None,
        host: str | None = None,
        initial_data: bytes = b"",
        allow_truncation: bool = False,
        pooling: bool = True,
        cache: SessionCache | None = None,
        close_timeout: float = 5.0,
        call_connection_made: bool = True,
        session_in_info: bool = True,
    ) -> None:
        super().__init__()
        self._loop = loop if loop is not None else current()
        self._lower = lower
        self._protocol = cast(asyncio.Protocol, protocol)
        self._options = options
        self._allow_truncation = allow_truncation
        self._close_timeout = close_timeout
        self._session_in_info = session_in_info
        server_side = options.server_side
        ctx = server_context(options) if server_side else client_context(options)
        servername = options.servername or (None if server_side else host)
        if not server_side and servername is None and options.verify:
            raise ValueError("servername: a TLS client needs a name to verify (or verify=False)")

        self._cache = cache if cache is not None else session_cache
        self._cache_key: SessionKey | None = None
        session = options.session
        if not server_side and pooling:
            peer = lower.get_extra_info("peername")
            if isinstance(peer, tuple):
                self._cache_key = SessionCache.key(host or str(peer[0]), int(peer[1]), options)
            elif peer:  # a Unix socket's path: the same server is the same path
                self._cache_key = SessionCache.key(f"unix:{peer!s}", 0, options)
            if session is None and self._cache_key is not None:
                session = self._cache.get(self._cache_key)

        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        try:
            self._sslobj = ctx.wrap_bio(
                self._incoming,
                self._outgoing,
                server_side=server_side,
                server_hostname=servername,
                session=session,
            )
        except ValueError:  # a session of another context: start a fresh one
            self._sslobj = ctx.wrap_bio(
                self._incoming,
                self._outgoing,
                server_side=server_side,
                server_hostname=servername,
            )
        self._observer: HandshakeObserver | None = HandshakeObserver(server_side)

        # Both buffers are emptied before control leaves the call that filled them, so
        # one pair per thread serves every transport (no 512 KiB per connection).
        self._rxview, self._plainview = _thread_buffers()

        self._state = HANDSHAKING
        self.handshake: Deferred[TLSFacts] = Deferred()
        self.info: TLSFacts | None = None
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._fail_exc: BaseException | None = None
        self._reading_paused = False
        self._lower_paused = False
        self._upper_paused = False
        self._process_handle: Handle | None = None
        self._grace_handle: Handle | None = None
        self._session_watch = 0
        self._high, self._low = 64 * 1024, 16 * 1024
        self._extra: dict[str, Any] = {}

        lower.set_protocol(self)
        if call_connection_made:
            protocol.connection_made(self)
        if not lower.is_reading():
            lower.resume_reading()
        if initial_data:
            self._incoming.write(initial_data)
            self._observer.feed(initial_data, outgoing=False)
            self._process()
        elif not server_side:
            self._process()  # the ClientHello goes out; a server waits for it

    # -- towards the lower transport (BufferedProtocol) ----------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        pass  # the lower transport is connected before we take it over

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._rxview

    def buffer_updated(self, nbytes: int) -> None:
        chunk = self._rxview[:nbytes]
        self._incoming.write(chunk)
        if self._observer is not None:
            self._observer.feed(chunk, outgoing=False)
        self._process()

    def eof_received(self) -> bool:
        self._incoming.write_eof()
        self._process()
        return True  # we decide when to close, after close_notify or the error

    def connection_lost(self, exc: BaseException | None) -> None:
        before = self._state
        if self._move(Input.LOST) is None:
            return
        self._cancel_timers()
        if before in HANDSHAKES:
            err = self._fail_exc or _network_error(exc, "TLS handshake")
            self._fail_exc = err
            self.handshake.reject(err)
        if self._fail_exc is not None:
            up: Exception | None = cast(Exception, self._fail_exc)
        elif exc is not None:
            up = _network_error(exc, "TLS connection")
        else:
            up = None
        self._pending.clear()
        try:
            self._protocol.connection_lost(up)
        finally:
            self._observer = None

    def pause_writing(self) -> None:
        self._lower_paused = True
        self._check_pressure()

    def resume_writing(self) -> None:
        self._lower_paused = False
        self._check_pressure()

    # -- the engine ----------------------------------------------------------------------

    def _move(self, event: Input) -> State | None:
        """Give ``event`` to the state table (``states.py``): the new state, or ``None``
        when ``event`` changes nothing in the current one."""
        before = self._state
        after = step(before, event)
        if after is not None:
            self._state = after
        if self.moves is not None:
            self.moves.append((id(self), before, event, after))
        return after

    def _process(self) -> None:
        """One pass: advance the handshake, decrypt what arrived, flush what OpenSSL made."""
        self._process_handle = None
        state = self._state
        if state is not OPEN:
            if state in HANDSHAKES:
                self._do_handshake()
                state = self._state
                if state in HANDSHAKES:
                    return
                incoming = self._incoming
                if not (incoming.pending or incoming.eof or self._sslobj.pending()):
                    # The handshake took every byte: a read would only raise
                    # SSLWantReadError (an exception per handshake, on each end).
                    if self._outgoing.pending:
                        self._flush()
                    return
            if state is CLOSED:
                return
        # Decrypt while the peer's end has not come and we have not begun to close.
        if (state is OPEN or state is WRITE_CLOSED) and not self._reading_paused:
            self._read_pass()
        if self._outgoing.pending:
            self._flush()

    def _read_pass(self) -> None:
        sslobj = self._sslobj
        read = sslobj.read
        view = self._plainview
        protocol = self._protocol
        while True:
            end: BaseException | None = None
            pos = 0
            try:
                while pos < _READ_SIZE:
                    n = cast(int, read(_READ_SIZE - pos, view[pos:]))
                    if not n:  # _ssl answers 0, not SSLZeroReturnError, to close_notify
                        end = _CLOSE_NOTIFY
                        break
                    pos += n
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError, ssl.SSLError) as exc:
                end = exc
            if pos:
                protocol.data_received(bytes(view[:pos]))
            if self._session_watch:
                self._watch_session()
            if end is not None:
                self._read_ended(end)
                return
            if pos < _READ_SIZE or self._reading_paused:
                return
            state = self._state  # the upper protocol may have closed in data_received
            if state is not OPEN and state is not WRITE_CLOSED:
                return

    def _read_ended(self, exc: BaseException) -> None:
        if isinstance(exc, ssl.SSLZeroReturnError):
            self._peer_eof(Input.PEER_CLOSE_NOTIFY)
        elif isinstance(exc, ssl.SSLEOFError):
            if self._allow_truncation:
                self._peer_eof(Input.TRUNCATED)
            else:
                self._fatal(
                    TLSError(
                        "TLS stream truncated: the peer closed without close_notify",
                        verification_status=None,
                    )
                )
        else:
            reason = _reason(exc) if isinstance(exc, ssl.SSLError) else str(exc)
            self._fatal(TLSError(f"TLS connection failed: {reason}"))

    def _peer_eof(self, event: Input) -> None:
        before = self._state
        if self._move(event) is None:
            return  # the upper protocol closed or aborted in this pass's data_received
        if self._outgoing.pending:
            self._flush()
        keep_open = self._protocol.eof_received()
        if before is WRITE_CLOSED:
            # Both directions are done (CLOSING): our close_notify is out already.
            if self._state is CLOSING:
                self._close_lower()
        elif not keep_open:
            self.close()

    def _do_handshake(self) -> None:
        try:
            self._sslobj.do_handshake()
        except ssl.SSLWantReadError:
            if self._outgoing.pending:
                self._flush()
            return
        except ssl.SSLCertVerificationError as exc:
            self._handshake_failed(_verify_error(exc))
            return
        except ssl.SSLEOFError:
            self._handshake_failed(_network_error(None, "TLS handshake"))
            return
        except ssl.SSLError as exc:
            err = TLSError(f"TLS handshake failed: {_reason(exc)}")
            err.__cause__ = exc
            self._handshake_failed(err)
            return
        except OSError as exc:  # pragma: no cover - memory BIOs raise no OS errors
            self._handshake_failed(_network_error(exc, "TLS handshake"))
            return
        self._handshake_done()

    def _handshake_failed(self, exc: BaseException) -> None:
        # The alert OpenSSL wrote (protocol_version, bad_certificate, ...) goes out first:
        # whoever awaits the handshake may abort the transport at once, and an abort
        # drops what is still queued (the peer saw a bare EOF instead of the alert).
        self._fatal(exc, Input.HANDSHAKE_FAILED)
        self.handshake.reject(exc)

    def _handshake_done(self) -> None:
        after = self._move(Input.HANDSHAKE_DONE)  # OPEN, WRITE_CLOSED or CLOSING
        if self._reading_paused:
            self._lower.pause_reading()
        info = tls_info(
            self._sslobj, self._options, self._observer, with_session=self._session_in_info
        )
        self._observer = None
        self.info = info
        if self._cache_key is not None and not (
            self._sslobj.session_reused and self._cache.get(self._cache_key) is not None
        ):
            # Only when the cache lacks a session that still resumes: each read of
            # SSLObject.session leaks a copy on CPython 3.11-3.13 (CPython #116810), so
            # pooled connections that resumed read none.
            self._session_watch = _SESSION_WATCH_PASSES
            self._watch_session()
        pending, self._pending, self._pending_size = self._pending, [], 0
        for data in pending:
            self._encrypt(data)
        self._flush()
        self._check_pressure()
        # What came during the handshake happens before it resolves, so that whoever
        # awaits it finds the state the table says.
        if after is WRITE_CLOSED:  # write_eof() came during the handshake
            self._send_close_notify()
        elif after is CLOSING:  # close() came during the handshake
            self._finish_close(notify=True)
        self.handshake.resolve(info)

    def _watch_session(self) -> None:
        """Cache the session once it can resume (TLS 1.3 tickets follow the handshake)."""
        self._session_watch -= 1
        session = self._sslobj.session
        if session is None or self._cache_key is None:
            return
        if session.has_ticket or self._sslobj.version() != "TLSv1.3":
            self._cache.put(self._cache_key, session)
            self._session_watch = 0

    def tls_info(self) -> TLSFacts:
        """The TLS facts now (``session`` may have gained a ticket since the handshake)."""
        if self.info is None:
            raise ssl.SSLError("the TLS handshake has not finished")
        if self._sslobj.server_side:
            return self.info
        return dataclasses.replace(self.info, session=self._sslobj.session)

    def _encrypt(self, data: bytes | bytearray | memoryview) -> None:
        write = self._sslobj.write
        if len(data) <= _WRITE_SLICE:
            write(data)
            return
        view = memoryview(data).cast("B")
        for start in range(0, len(view), _WRITE_SLICE):
            write(view[start : start + _WRITE_SLICE])
            self._flush()

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data and self._state is not CLOSED:
            if self._observer is not None:
                self._observer.feed(data, outgoing=True)
            self._lower.write(data)

    def _fatal(self, exc: BaseException, event: Input = Input.ERROR) -> None:
        """Fail the connection with ``exc``: flush any alert, close, abort after the grace."""
        if self._move(event) is None:
            return  # failing already (the first error is the one reported), aborted, lost
        self._fail_exc = exc
        self._pending.clear()
        self._pending_size = 0
        if self._outgoing.pending:
            self._flush()
        self._close_lower()

    def _close_lower(self) -> None:
        lower = self._lower
        queued = lower.get_write_buffer_size()
        lower.close()
        # The grace bounds the flush of what the lower transport still holds; with
        # nothing queued it ends on its next pass (connection_lost), so no timer is made.
        if queued and self._grace_handle is None and self._state is not CLOSED:
            self._grace_handle = self._loop.call_later(self._close_timeout, self._grace_over)

    def _grace_over(self) -> None:
        self._grace_handle = None
        if self._state is not CLOSED:
            self._lower.abort()

    def _cancel_timers(self) -> None:
        if self._grace_handle is not None:
            self._grace_handle.cancel()
            self._grace_handle = None
        if self._process_handle is not None:
            self._process_handle.cancel()
            self._process_handle = None

    def _check_pressure(self) -> None:
        over = self._lower_paused or self._pending_size > self._high
        if over and not self._upper_paused:
            self._upper_paused = True
            self._protocol.pause_writing()
        elif not over and self._upper_paused and self._pending_size <= self._low:
            self._upper_paused = False
            self._protocol.resume_writing()

    # -- towards the upper protocol (Transport) ------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"data must be bytes-like, not {type(data).__name__}")
        state = self._state
        if state is OPEN or state is READ_CLOSED:
            if not data:
                return
            try:
                self._encrypt(data)
            except ssl.SSLError as exc:
                self._fatal(TLSError(f"TLS connection failed while writing: {_reason(exc)}"))
                return
            self._flush()
        elif state in WRITE_ENDED:
            raise RuntimeError("cannot write() after write_eof()")
        elif state is HANDSHAKING and data:
            self._pending.append(bytes(data))
            self._pending_size += len(data)
            if self._pending_size > self._high:
                self._check_pressure()
        # else: the connection is ending, the data is dropped

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        """Send close_notify (TLS half-close) and keep reading until the peer's."""
        after = self._move(Input.WRITE_EOF)
        if after is WRITE_CLOSED:
            self._send_close_notify()
        elif after is CLOSING:  # the peer's close_notify came already: both are done
            self._finish_close(notify=True)
        # HANDSHAKING_EOF: close_notify follows the handshake

    def _send_close_notify(self) -> None:
        """Called once, on the move that leaves OPEN or READ_CLOSED for a state past ours
        (a second ``unwrap()`` would read, and drop, the peer's records)."""
        # close_notify lands in the outgoing BIO; the peer's comes later or never.
        with contextlib.suppress(ssl.SSLWantReadError, ssl.SSLError):
            self._sslobj.unwrap()
        self._flush()

    def close(self) -> None:
        """Flush queued data, send close_notify, close the lower transport (bounded)."""
        before = self._state
        after = self._move(Input.CLOSE)
        if after is HANDSHAKE_CLOSING:
            # Finish the handshake so queued writes go out, but never past the grace period.
            self._grace_handle = self._loop.call_later(self._close_timeout, self._grace_over)
        elif after is CLOSING:
            self._finish_close(notify=before is not WRITE_CLOSED)

    def _finish_close(self, notify: bool) -> None:
        if notify:
            self._send_close_notify()
        self._close_lower()

    def abort(self) -> None:
        before = self._state
        if self._move(Input.ABORT) is None:
            return  # aborted already, or lost
        if before in HANDSHAKES:
            self.handshake.reject(AbortError("the TLS connection was aborted"))
        self._pending.clear()
        self._pending_size = 0
        self._lower.abort()

    def is_closing(self) -> bool:
        return self._state in ENDING or self._lower.is_closing()

    def pause_reading(self) -> None:
        if not self._reading_paused:
            self._reading_paused = True
            state = self._state
            # the handshake must go on reading
            if state is not CLOSED and state not in HANDSHAKES:
                self._lower.pause_reading()

    def resume_reading(self) -> None:
        if self._reading_paused:
            self._reading_paused = False
            if self._state is not CLOSED:
                if not self._lower.is_reading():
                    self._lower.resume_reading()
                if self._process_handle is None:
                    self._process_handle = self._loop.call_soon(self._process)

    def is_reading(self) -> bool:
        return not self._reading_paused and self._state in READING

    def get_write_buffer_size(self) -> int:
        return self._lower.get_write_buffer_size() + self._pending_size + self._outgoing.pending

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._lower.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._lower.set_write_buffer_limits(high, low)
        self._low, self._high = self._lower.get_write_buffer_limits()
        self._check_pressure()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = cast(asyncio.Protocol, protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        sslobj = self._sslobj
        if name == "ssl_object":
            return sslobj
        if name == "sslcontext":
            return sslobj.context
        if name in ("peercert", "cipher", "compression", "tls_info"):
            if self.info is None:  # handshaking, or it failed
                return default
            if name == "peercert":
                return sslobj.getpeercert()
            if name == "cipher":
                return sslobj.cipher()
            if name == "compression":
                return sslobj.compression()
            return self.tls_info()
        if name in self._extra:
            return self._extra[name]
        return self._lower.get_extra_info(name, default)
