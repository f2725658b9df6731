"""A QUIC stream's two halves: their states, the inputs that move them, in two tables.

Modelled on RFC 9000 section 3, reduced to what ``QuicStreamTransport`` tells apart.
Each half has its own table; the transport keeps one state per half and changes it only
by looking the pair up in its table (``send_step`` / ``recv_step``).  Every pair not in a
table is listed as ignored (a late input, such as the peer's STOP_SENDING after our
RESET_STREAM, changes nothing).
The tables are pure data, checked whole by ``tests/test_quic_stream_states.py``.

Sending part (``Send``)::

    OPEN --fin--> DATA_SENT --all acked--> DATA_RECVD
      |               |
      +--reset / peer stop--+-----------> RESET_SENT
      |                                       ^
      +--ended--> ENDED --reset / peer stop---+

Receiving part (``Recv``)::

    RECV --peer fin--> DATA_RECVD --eof read--> DATA_READ
      |                   |                        |
      +--peer reset-------+------------------------+--> RESET_RECVD

    NONE, RECV, DATA_RECVD, DATA_READ, RESET_RECVD --close--> CLOSED
    every state but LOST --lost--> LOST

A unidirectional stream starts with its absent half in ``NONE``.  ``Send.NONE`` takes no
input; ``Recv.NONE`` (nothing to read) still records the transport's close and loss, so
"the transport is closing" is one receive-side fact for every stream: ``Recv.CLOSED``
or later.  ``RESET_SENT`` stands for RFC 9000's Reset Sent and Reset Recvd (we do not
track the acknowledgement of a reset), ``RESET_RECVD`` for Reset Recvd (a peer's reset
always ends the transport, so Reset Read is ``CLOSED``).  ``ENDED`` (the connection
ended, or the transport was lost, before our FIN), ``CLOSED`` (we stopped reading:
arriving data is discarded) and ``LOST`` (``connection_lost()`` was reported) are the
transport's own.

Both enums are ``IntEnum``\\ s, ordered so every move goes forward and "is the transport
closing?" is one integer comparison (``state >= Recv.CLOSED``).  The per-chunk paths
never look a table up: they compare the state they hold (one identity test while open).
"""

from __future__ import annotations

import enum
from collections.abc import Callable

__all__ = [
    "RECV_IGNORED",
    "RECV_TRANSITIONS",
    "SEND_IGNORED",
    "SEND_TRANSITIONS",
    "Observer",
    "Recv",
    "RecvInput",
    "Send",
    "SendInput",
    "recv_step",
    "send_step",
]


class Send(enum.IntEnum):
    NONE = 0
    """No sending part: the peer's unidirectional stream."""
    OPEN = 1
    """RFC 9000 Ready/Send: ``write()`` queues data."""
    DATA_SENT = 2
    """Our FIN is queued (``write_eof()`` or ``close()``); writing is over."""
    ENDED = 3
    """The connection ended, or the transport was lost, before our FIN: nothing more goes
    out, though the QUIC core may still reset the stream."""
    DATA_RECVD = 4
    """The peer acknowledged everything up to our FIN."""
    RESET_SENT = 5
    """RESET_STREAM sent: by ``abort()``, or by the QUIC core answering STOP_SENDING."""


class SendInput(enum.Enum):
    FIN = "fin"
    """``write_eof()``, or ``close()`` while writing was open."""
    ALL_ACKED = "all acked"
    """The QUIC core reports every byte and the FIN acknowledged."""
    RESET = "reset"
    """``abort(code)``: RESET_STREAM."""
    PEER_STOP = "peer stop"
    """STOP_SENDING received (the QUIC core has already reset our sending part)."""
    ENDED = "ended"
    """The connection ended, the transport was lost, or the peer killed the stream."""


class Recv(enum.IntEnum):
    NONE = 0
    """No receiving part: our own unidirectional stream (nothing to read)."""
    RECV = 1
    """RFC 9000 Recv/Size Known: data goes to the protocol, or waits for a paused one."""
    DATA_RECVD = 2
    """The peer's FIN arrived and waits to be handed to the protocol."""
    DATA_READ = 3
    """The FIN was handed to the protocol (``eof_received()``)."""
    RESET_RECVD = 4
    """The peer sent RESET_STREAM."""
    CLOSED = 5
    """We stopped reading (``close()``, ``abort()``, a peer's reset or stop): data that
    still arrives is discarded and credited."""
    LOST = 6
    """``connection_lost()`` was reported: final."""


class RecvInput(enum.Enum):
    PEER_FIN = "peer fin"
    """The peer's FIN arrived (with the last data, or alone)."""
    EOF_READ = "eof read"
    """The FIN is handed to the protocol."""
    PEER_RESET = "peer reset"
    """RESET_STREAM received."""
    CLOSE = "close"
    """The transport stops reading: STOP_SENDING goes out if the peer was still sending."""
    LOST = "lost"
    """The transport reports ``connection_lost()``."""


SEND_TRANSITIONS: dict[tuple[Send, SendInput], Send] = {
    (Send.OPEN, SendInput.FIN): Send.DATA_SENT,
    (Send.OPEN, SendInput.ENDED): Send.ENDED,
    (Send.DATA_SENT, SendInput.ALL_ACKED): Send.DATA_RECVD,
    **{
        (state, event): Send.RESET_SENT
        for state in (Send.OPEN, Send.DATA_SENT, Send.ENDED)
        for event in (SendInput.RESET, SendInput.PEER_STOP)
    },
}

SEND_IGNORED: frozenset[tuple[Send, SendInput]] = frozenset(
    {
        # No sending part: nothing to finish, acknowledge, reset or end.
        *((Send.NONE, event) for event in SendInput),
        # Only open writing acquires a FIN (a second write_eof() or close() is a no-op).
        *((state, SendInput.FIN) for state in Send if state is not Send.OPEN),
        # Only a queued FIN is waited for (an open side's acks do not finish it).
        *((state, SendInput.ALL_ACKED) for state in Send if state is not Send.DATA_SENT),
        # A queued FIN stays written when the connection ends (write() still refuses).
        (Send.DATA_SENT, SendInput.ENDED),
        (Send.ENDED, SendInput.ENDED),
        # Finished or reset is final.
        *(
            (state, event)
            for state in (Send.DATA_RECVD, Send.RESET_SENT)
            for event in (SendInput.RESET, SendInput.PEER_STOP, SendInput.ENDED)
        ),
    }
)

_RECV_LIVE = (Recv.NONE, Recv.RECV, Recv.DATA_RECVD, Recv.DATA_READ, Recv.RESET_RECVD)

RECV_TRANSITIONS: dict[tuple[Recv, RecvInput], Recv] = {
    (Recv.RECV, RecvInput.PEER_FIN): Recv.DATA_RECVD,
    (Recv.DATA_RECVD, RecvInput.EOF_READ): Recv.DATA_READ,
    **{
        (state, RecvInput.PEER_RESET): Recv.RESET_RECVD
        for state in (Recv.RECV, Recv.DATA_RECVD, Recv.DATA_READ)
    },
    **{(state, RecvInput.CLOSE): Recv.CLOSED for state in _RECV_LIVE},
    **{(state, RecvInput.LOST): Recv.LOST for state in (*_RECV_LIVE, Recv.CLOSED)},
}

RECV_IGNORED: frozenset[tuple[Recv, RecvInput]] = frozenset(
    {
        # One FIN per stream, and none once reset or closed (or with nothing to read).
        *((state, RecvInput.PEER_FIN) for state in Recv if state is not Recv.RECV),
        # Only an arrived FIN is handed over.
        *((state, RecvInput.EOF_READ) for state in Recv if state is not Recv.DATA_RECVD),
        # A reset counts once, and not when nothing is read or reading stopped.
        *(
            (state, RecvInput.PEER_RESET)
            for state in (Recv.NONE, Recv.RESET_RECVD, Recv.CLOSED, Recv.LOST)
        ),
        # Closing counts once; lost is final.
        (Recv.CLOSED, RecvInput.CLOSE),
        (Recv.LOST, RecvInput.CLOSE),
        (Recv.LOST, RecvInput.LOST),
    }
)


def send_step(state: Send, event: SendInput) -> Send | None:
    """The sending part's state after ``event``, or ``None`` when it changes nothing."""
    return SEND_TRANSITIONS.get((state, event))


def recv_step(state: Recv, event: RecvInput) -> Recv | None:
    """The receiving part's state after ``event``, or ``None`` when it changes nothing."""
    return RECV_TRANSITIONS.get((state, event))


Observer = Callable[[object, "Send | Recv", "SendInput | RecvInput", "Send | Recv"], object]
"""``observer(transport, before, event, after)``, called on every move (tests only)."""

observer: Observer | None = None
"""Set by tests to watch every move of every stream; a move is rare (a few per stream)."""
