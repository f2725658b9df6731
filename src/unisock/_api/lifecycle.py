"""A socket's life cycle: its states, the inputs that move it, and its deadlines.

Everything that changes ``Socket._state`` is an ``Input`` looked up in ``TRANSITIONS``;
every pair not in the table is listed in ``IGNORED`` (a late input, such as a transport
reporting its loss after an abort, changes nothing).  The table is pure data, checked
whole by ``tests/test_lifecycle.py`` (with hypothesis), so the legal moves are in one
place.  Deadlines are computed from an explicit ``now`` (the loop's clock), never read
from a clock here, so they can be tested without waiting.

::

    CONNECTING --connected--> OPEN --finished--> CLOSING --lost--> CLOSED
         |                      |                   |
         +---- aborted / failed / lost (error) -----+-----------> CLOSED

``finished``: both directions are done (the peer's EOF or a cancelled readable, and our
FIN); ``lost``: the transport is gone.  A clean loss closes the socket, any other ends it
with an error.
"""

from __future__ import annotations

import enum

__all__ = [
    "CLOSED",
    "CLOSING",
    "CONNECTING",
    "OPEN",
    "IGNORED",
    "TRANSITIONS",
    "Input",
    "State",
    "grace_deadline",
    "idle_check_due",
    "ready_deadline",
    "step",
]


class State(enum.StrEnum):
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class Input(enum.Enum):
    CONNECTED = "connected"
    """Connected, and handshaken where there is a handshake: ``ready`` resolves."""
    FINISHED = "finished"
    """Both directions are done: the transport closes (FIN after the queued bytes)."""
    LOST_CLEAN = "lost clean"
    """The transport is gone after our FIN, with no error: ``closed`` resolves."""
    ABORTED = "aborted"
    """``abort()``, a timeout, a bad chunk, a signal: queued data is dropped."""
    FAILED = "failed"
    """A connect, handshake or transport error: ``ready``/``closed`` reject with it."""


# The members as plain module constants: ``sock._state is CLOSED`` costs one global
# look-up, where ``State.CLOSED`` goes through the enum class's attribute machinery.
CONNECTING = State.CONNECTING
OPEN = State.OPEN
CLOSING = State.CLOSING
CLOSED = State.CLOSED

_LIVE = (State.CONNECTING, State.OPEN, State.CLOSING)

TRANSITIONS: dict[tuple[State, Input], State] = {
    (State.CONNECTING, Input.CONNECTED): State.OPEN,
    (State.OPEN, Input.FINISHED): State.CLOSING,
    (State.OPEN, Input.LOST_CLEAN): State.CLOSED,
    (State.CLOSING, Input.LOST_CLEAN): State.CLOSED,
    **{(state, Input.ABORTED): State.CLOSED for state in _LIVE},
    **{(state, Input.FAILED): State.CLOSED for state in _LIVE},
}

IGNORED: frozenset[tuple[State, Input]] = frozenset(
    {
        # Only a connecting socket becomes ready (a late handshake result is dropped).
        *((state, Input.CONNECTED) for state in (State.OPEN, State.CLOSING, State.CLOSED)),
        # Finishing counts once, and only once open (a connecting socket finishes later).
        *((state, Input.FINISHED) for state in (State.CONNECTING, State.CLOSING, State.CLOSED)),
        # A clean loss while connecting is a failure, reported as FAILED by the socket.
        (State.CONNECTING, Input.LOST_CLEAN),
        (State.CLOSED, Input.LOST_CLEAN),
        # Closed is final.
        (State.CLOSED, Input.ABORTED),
        (State.CLOSED, Input.FAILED),
    }
)


def step(state: State, event: Input) -> State | None:
    """The state after ``event``, or ``None`` when ``event`` changes nothing in ``state``."""
    return TRANSITIONS.get((state, event))


def ready_deadline(
    now: float, ready_timeout: float, handshake_bounded: bool, handshake_timeout: float
) -> float | None:
    """When a connecting socket gives up: ``ready_timeout`` if set, else the handshake
    bound for transports with a handshake, else never."""
    if ready_timeout:
        return now + ready_timeout
    if handshake_bounded and handshake_timeout > 0:
        return now + handshake_timeout
    return None


def grace_deadline(now: float, close_grace: float) -> float | None:
    """When ``close()`` stops waiting for queued data to drain and aborts."""
    return now + close_grace if close_grace > 0 else None


IDLE_STEPS = 4
"""The idle clock checks every quarter of ``idle_timeout`` whether bytes moved, so that
the per-chunk path only counts bytes and never touches a timer."""


def idle_check_due(now: float, idle_timeout: float) -> float:
    """When the idle clock looks again: a quarter of ``idle_timeout`` from ``now``."""
    return now + idle_timeout / IDLE_STEPS
