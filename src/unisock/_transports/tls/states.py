"""The TLS engine's states, the inputs that move it, and its legal moves, in one table.

``TLSTransport._state`` changes only through ``step()``: each pair ``(state, input)`` is
either a move in ``TRANSITIONS`` or listed in ``IGNORED`` (an input that changes nothing
there, such as ``close()`` on a connection already closing, or the lower transport's
loss reported twice).  The table is pure data, checked whole by
``tests/test_tls_states.py`` (with hypothesis).  What each move *does* (send close_notify,
close or abort the lower transport, settle the handshake) stays in the transport, next
to the I/O.

::

    HANDSHAKING        done -> OPEN        write_eof -> HANDSHAKING_EOF  close -> HANDSHAKE_CLOSING
    HANDSHAKING_EOF    done -> WRITE_CLOSED                              close -> HANDSHAKE_CLOSING
    HANDSHAKE_CLOSING  done -> CLOSING
    OPEN               write_eof -> WRITE_CLOSED  peer eof -> READ_CLOSED  close -> CLOSING
    WRITE_CLOSED       peer eof, close -> CLOSING
    READ_CLOSED        write_eof, close -> CLOSING
    any of them        error / handshake failed -> FAILING, abort -> ABORTED, lost -> CLOSED
    FAILING            abort -> ABORTED, lost -> CLOSED
    ABORTED            lost -> CLOSED

("peer eof": the peer's close_notify, or a truncation the options allow.)  Every move
goes forward (``RANK``): no state is entered twice, and the handshake states are never
re-entered.  Write rules follow the state: ``write()`` encrypts in ``OPEN`` and
``READ_CLOSED``, queues in ``HANDSHAKING``, raises once ``write_eof()`` was asked or our
close_notify is out (``WRITE_ENDED``) and drops the data once the connection fails, is
aborted or was closed during the handshake.

Not states, and so kept as booleans beside ``_state``: "reading paused" and the two
back-pressure flags.  They are the upper protocol's and the lower transport's flow
control, they flip any number of times in every state (per chunk, under load) and they
change no legal move, only when the next read pass runs; folding them in would multiply
the table by four and put a table look-up on the per-chunk path.  The error a failed
connection reports (``_fail_exc``) is data, not a state either.
"""

from __future__ import annotations

import enum

__all__ = [
    "ABORTED",
    "CLOSED",
    "CLOSING",
    "ENDING",
    "FAILING",
    "HANDSHAKES",
    "HANDSHAKE_CLOSING",
    "HANDSHAKING",
    "HANDSHAKING_EOF",
    "IGNORED",
    "LIVE",
    "OPEN",
    "RANK",
    "READING",
    "READ_CLOSED",
    "TRANSITIONS",
    "WRITE_CLOSED",
    "WRITE_ENDED",
    "Input",
    "State",
    "step",
]


class State(enum.StrEnum):
    HANDSHAKING = "handshaking"
    """The handshake runs; ``write()`` queues until it succeeds."""
    HANDSHAKING_EOF = "handshaking, eof requested"
    """``write_eof()`` came during the handshake: close_notify follows right after it."""
    HANDSHAKE_CLOSING = "handshaking, closing"
    """``close()`` came during the handshake: it finishes (so queued writes go out) within
    the close grace, then the connection closes."""
    OPEN = "open"
    """Both directions carry data."""
    WRITE_CLOSED = "write-closed"
    """Our close_notify is out; the peer's data (and close_notify) are still read."""
    READ_CLOSED = "read-closed"
    """The peer's close_notify (or an allowed truncation) arrived; we may still write."""
    CLOSING = "closing"
    """Our close_notify is out (when the lower transport still takes bytes) and the lower
    transport closes after its queued bytes, bounded by the close grace."""
    FAILING = "failing"
    """A TLS error (or a refused truncation) ends the connection: the alert goes out, the
    lower transport closes, bounded by the close grace; ``connection_lost`` reports it."""
    ABORTED = "aborted"
    """``abort()``: queued data is dropped and the lower transport aborted."""
    CLOSED = "closed"
    """The lower transport is gone and the upper protocol was told.  Final."""


class Input(enum.Enum):
    HANDSHAKE_DONE = "handshake done"
    HANDSHAKE_FAILED = "handshake failed"
    WRITE_EOF = "write_eof"
    """The upper protocol's ``write_eof()``: send close_notify, keep reading."""
    PEER_CLOSE_NOTIFY = "peer close_notify"
    TRUNCATED = "truncated"
    """The lower transport's EOF without close_notify, where truncation is allowed (a
    refused one is an ``ERROR``)."""
    CLOSE = "close"
    """The upper protocol's ``close()``."""
    ERROR = "error"
    """A TLS error after the handshake (reading, writing) or a refused truncation."""
    ABORT = "abort"
    """The upper protocol's ``abort()``."""
    LOST = "lost"
    """The lower transport's ``connection_lost``."""


# The members as plain module constants: ``self._state is OPEN`` costs one global look-up,
# where ``State.OPEN`` goes through the enum class's attribute machinery.
HANDSHAKING = State.HANDSHAKING
HANDSHAKING_EOF = State.HANDSHAKING_EOF
HANDSHAKE_CLOSING = State.HANDSHAKE_CLOSING
OPEN = State.OPEN
WRITE_CLOSED = State.WRITE_CLOSED
READ_CLOSED = State.READ_CLOSED
CLOSING = State.CLOSING
FAILING = State.FAILING
ABORTED = State.ABORTED
CLOSED = State.CLOSED

# Groups the transport asks about, as tuples: ``in`` on a tuple compares by identity first,
# where a set would hash the member through Enum's Python-level ``__hash__``.
HANDSHAKES = (HANDSHAKING, HANDSHAKING_EOF, HANDSHAKE_CLOSING)
"""The handshake is still running (``info`` is ``None``, reads go to the handshake)."""
READING = (HANDSHAKING, HANDSHAKING_EOF, OPEN, WRITE_CLOSED, READ_CLOSED)
"""Not ending: ``is_reading()`` is true unless reading is paused."""
ENDING = (HANDSHAKE_CLOSING, CLOSING, FAILING, ABORTED, CLOSED)
"""``is_closing()`` is true."""
WRITE_ENDED = (HANDSHAKING_EOF, WRITE_CLOSED, CLOSING)
"""``write()`` raises: ``write_eof()`` was asked, or our close_notify is out."""
LIVE = tuple(state for state in State if state is not CLOSED)

_PEER_EOF = (Input.PEER_CLOSE_NOTIFY, Input.TRUNCATED)

TRANSITIONS: dict[tuple[State, Input], State] = {
    (HANDSHAKING, Input.HANDSHAKE_DONE): OPEN,
    (HANDSHAKING_EOF, Input.HANDSHAKE_DONE): WRITE_CLOSED,
    (HANDSHAKE_CLOSING, Input.HANDSHAKE_DONE): CLOSING,
    **{(state, Input.HANDSHAKE_FAILED): FAILING for state in HANDSHAKES},
    (HANDSHAKING, Input.WRITE_EOF): HANDSHAKING_EOF,
    (OPEN, Input.WRITE_EOF): WRITE_CLOSED,
    (READ_CLOSED, Input.WRITE_EOF): CLOSING,  # both directions done: close
    **{(OPEN, event): READ_CLOSED for event in _PEER_EOF},
    **{(WRITE_CLOSED, event): CLOSING for event in _PEER_EOF},  # both directions done
    (HANDSHAKING, Input.CLOSE): HANDSHAKE_CLOSING,
    (HANDSHAKING_EOF, Input.CLOSE): HANDSHAKE_CLOSING,
    **{(state, Input.CLOSE): CLOSING for state in (OPEN, WRITE_CLOSED, READ_CLOSED)},
    **{(state, Input.ERROR): FAILING for state in (OPEN, WRITE_CLOSED, READ_CLOSED, CLOSING)},
    **{(state, Input.ABORT): ABORTED for state in LIVE if state is not ABORTED},
    **{(state, Input.LOST): CLOSED for state in LIVE},
}

_AFTER_HANDSHAKE = (OPEN, WRITE_CLOSED, READ_CLOSED, CLOSING, FAILING, ABORTED, CLOSED)
_ENDED = (FAILING, ABORTED, CLOSED)

IGNORED: frozenset[tuple[State, Input]] = frozenset(
    {
        # The handshake settles once: a late result (after an abort, say) is dropped.
        *((state, Input.HANDSHAKE_DONE) for state in _AFTER_HANDSHAKE),
        *((state, Input.HANDSHAKE_FAILED) for state in _AFTER_HANDSHAKE),
        # write_eof() counts once, and not once the connection is ending.
        *(
            (state, Input.WRITE_EOF)
            for state in (HANDSHAKING_EOF, HANDSHAKE_CLOSING, WRITE_CLOSED, CLOSING, *_ENDED)
        ),
        # The peer's end is only read after the handshake, and only while we still read.
        *(
            (state, event)
            for state in (*HANDSHAKES, READ_CLOSED, CLOSING, *_ENDED)
            for event in _PEER_EOF
        ),
        # close() counts once.
        *((state, Input.CLOSE) for state in (HANDSHAKE_CLOSING, CLOSING, *_ENDED)),
        # Handshake errors are HANDSHAKE_FAILED; the first error is the one reported; an
        # aborted connection reports no later error.
        *((state, Input.ERROR) for state in (*HANDSHAKES, *_ENDED)),
        # abort() counts once; closed is final.
        (ABORTED, Input.ABORT),
        (CLOSED, Input.ABORT),
        (CLOSED, Input.LOST),
    }
)

RANK: dict[State, int] = {state: rank for rank, state in enumerate(State)}
"""Declaration order; every move goes to a higher rank (WRITE_CLOSED and READ_CLOSED are
never connected, so their relative order does not matter)."""


def step(state: State, event: Input) -> State | None:
    """The state after ``event``, or ``None`` when ``event`` changes nothing in ``state``."""
    return TRANSITIONS.get((state, event))
