"""The QUIC stream's two tables (``unisock._transports.quic._stream_states``), whole, and
real QUIC streams (our client and our listener over loopback, on both QUIC cores, on
asyncio, uvloop and trio) driven through random operations, only ever making the moves
the tables allow."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
from hypothesis import example, given, settings
from hypothesis import strategies as st
from tests import rt
from tests.conftest import run_on

from unisock._transports.quic import (
    QuicConnectionCore,
    QuicStreamTransport,
    QuicTLSOptions,
    _engines,
    _stream_states,
    connect_quic,
    serve_quic,
)
from unisock._transports.quic._stream_states import (
    RECV_IGNORED,
    RECV_TRANSITIONS,
    SEND_IGNORED,
    SEND_TRANSITIONS,
    Recv,
    RecvInput,
    Send,
    SendInput,
    recv_step,
    send_step,
)

ALPN = "unisock-states"
pytestmark = pytest.mark.timeout(300)


# -- the tables ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("states", "inputs", "moves", "ignored"),
    [
        (Send, SendInput, SEND_TRANSITIONS, SEND_IGNORED),
        (Recv, RecvInput, RECV_TRANSITIONS, RECV_IGNORED),
    ],
    ids=["send", "recv"],
)
def test_every_pair_is_a_move_or_ignored_never_both(
    states: Any, inputs: Any, moves: dict[Any, Any], ignored: frozenset[Any]
) -> None:
    pairs = set(itertools.product(states, inputs))
    assert set(moves) | ignored == pairs
    assert not set(moves) & ignored
    assert all(before != after for (before, _), after in moves.items())


def _finals(states: Any, moves: dict[Any, Any]) -> set[Any]:
    return {state for state in states if not any(s is state for s, _ in moves)}


def test_final_states_are_final_and_the_absent_half_moves_only_to_close() -> None:
    assert _finals(Send, SEND_TRANSITIONS) == {Send.NONE, Send.DATA_RECVD, Send.RESET_SENT}
    assert _finals(Recv, RECV_TRANSITIONS) == {Recv.LOST}
    # A stream with no sending part never grows one; a missing receiving part only
    # records the transport's close and loss.
    assert Send.NONE not in SEND_TRANSITIONS.values()
    assert Recv.NONE not in RECV_TRANSITIONS.values()
    assert {after for (s, _), after in RECV_TRANSITIONS.items() if s is Recv.NONE} == {
        Recv.CLOSED,
        Recv.LOST,
    }
    # The open states are entered only at the start.
    assert Send.OPEN not in SEND_TRANSITIONS.values()
    assert Recv.RECV not in RECV_TRANSITIONS.values()
    # Only our FIN's acknowledgement finishes sending; only a reset (ours or the core's
    # answer to STOP_SENDING) resets it.
    assert [k for k, v in SEND_TRANSITIONS.items() if v is Send.DATA_RECVD] == [
        (Send.DATA_SENT, SendInput.ALL_ACKED)
    ]
    assert {e for (_, e), v in SEND_TRANSITIONS.items() if v is Send.RESET_SENT} == {
        SendInput.RESET,
        SendInput.PEER_STOP,
    }
    # The FIN is handed over only after it arrived.
    assert [k for k, v in RECV_TRANSITIONS.items() if v is Recv.DATA_READ] == [
        (Recv.DATA_RECVD, RecvInput.EOF_READ)
    ]


@given(
    st.sampled_from([Send.NONE, Send.OPEN]),
    st.lists(st.sampled_from(list(SendInput)), max_size=12),
)
def test_send_sequences_only_move_forward(start: Send, inputs: list[SendInput]) -> None:
    state = start
    for event in inputs:
        after = send_step(state, event)
        if after is None:
            assert (state, event) in SEND_IGNORED
            continue
        assert after > state
        state = after
    assert state is Send.NONE or start is Send.OPEN


@given(
    st.sampled_from([Recv.NONE, Recv.RECV]),
    st.lists(st.sampled_from(list(RecvInput)), max_size=12),
)
def test_recv_sequences_only_move_forward(start: Recv, inputs: list[RecvInput]) -> None:
    state = start
    for event in inputs:
        after = recv_step(state, event)
        if after is None:
            assert (state, event) in RECV_IGNORED
            continue
        assert after > state
        state = after
    # Closing (or losing) the transport is reachable from anywhere but the end.
    if state is not Recv.LOST:
        assert recv_step(state, RecvInput.LOST) is Recv.LOST


# -- real streams -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pki() -> dict[str, bytes]:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    return {
        "ca": ca.cert_pem.bytes(),
        "cert": b"".join(p.bytes() for p in cert.cert_chain_pems),
        "key": cert.private_key_pem.bytes(),
    }


class Moves:
    """Every move of every stream transport, through the test-only observer."""

    def __init__(self) -> None:
        self.by_transport: dict[int, list[tuple[Any, Any, Any]]] = {}
        self.transports: dict[int, QuicStreamTransport] = {}

    def __call__(self, transport: object, before: Any, event: Any, after: Any) -> None:
        assert isinstance(transport, QuicStreamTransport)
        self.transports[id(transport)] = transport
        self.by_transport.setdefault(id(transport), []).append((before, event, after))

    def check(self, transport: QuicStreamTransport) -> None:
        """Each move is in its table, and the moves chain from the stream's first states
        to its present ones: nothing changed a state behind the tables' back."""
        send = Send.NONE if transport.direction == "receive" else Send.OPEN
        recv = Recv.NONE if transport.direction == "send" else Recv.RECV
        for before, event, after in self.by_transport.get(id(transport), []):
            if isinstance(event, SendInput):
                assert SEND_TRANSITIONS[(before, event)] is after
                assert before is send, (transport, before, send)
                send = after
            else:
                assert RECV_TRANSITIONS[(before, event)] is after
                assert before is recv, (transport, before, recv)
                recv = after
        assert transport.states == (send, recv)

    def entered(self, transport: QuicStreamTransport, state: Any) -> int:
        return sum(after is state for _, _, after in self.by_transport.get(id(transport), []))


@contextlib.contextmanager
def watching() -> Iterator[Moves]:
    watcher = Moves()
    _stream_states.observer = watcher
    try:
        yield watcher
    finally:
        _stream_states.observer = None


class Recorder(asyncio.Protocol):
    """Keeps what it reads (EOF keeps the stream open) and counts its callbacks (the
    stream transport's protocol interface is asyncio's: no loop is involved)."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.data = bytearray()
        self.eofs = 0
        self.lost: list[Exception | None] = []

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.data += data

    def eof_received(self) -> bool:
        self.eofs += 1
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.append(exc)


OPERATIONS = [
    "open",
    "open_uni",
    "server_open",
    "server_open_uni",
    "write",
    "write_eof",
    "close",
    "abort",
    "peer_write",
    "peer_write_eof",
    "peer_close",
    "peer_abort",
    "pause",
    "resume",
]


@pytest.mark.parametrize("loop_name", ["asyncio", "uvloop", "trio"])
@pytest.mark.parametrize("core", ["qh3", "aioquic"])
@settings(max_examples=15, deadline=None)
# The rare paths, always: a paused reader drains after a clean connection end (with and
# without the peer's FIN waiting), a waiting FIN dropped by close(), a FIN then a reset.
@example(ops=[("open", 0), ("pause", 0), ("peer_write", 0)], tidy=False)
@example(ops=[("open", 0), ("pause", 0), ("peer_write_eof", 0)], tidy=False)
@example(ops=[("server_open", 0), ("pause", 0), ("peer_write_eof", 0), ("close", 0)], tidy=True)
@example(ops=[("open_uni", 0), ("write_eof", 0), ("write", 0), ("abort", 0)], tidy=True)
@given(
    ops=st.lists(
        st.tuples(st.sampled_from(OPERATIONS), st.integers(min_value=0, max_value=7)),
        min_size=1,
        max_size=14,
    ),
    tidy=st.booleans(),
)
def test_real_streams_move_only_as_the_tables_allow(
    loop_name: str, core: str, pki: dict[str, bytes], ops: list[tuple[str, int]], tidy: bool
) -> None:
    with pytest.MonkeyPatch.context() as mp, watching() as moves:
        mp.setenv(_engines.ENV, core)
        run_on(loop_name, lambda: _drive(pki, moves, ops, tidy))


async def _drive(
    pki: dict[str, bytes], moves: Moves, ops: list[tuple[str, int]], tidy: bool = True
) -> None:
    """Run ``ops``; then, ``tidy``, close every stream before the connection, else close
    the connection under the streams (a paused reader still drains what arrived)."""
    servers: list[QuicConnectionCore] = []
    # (our transport, its protocol); the peer's side of each is found by stream id.
    protocols: dict[int, Recorder] = {}
    peer_side: dict[int, QuicStreamTransport] = {}

    def on_server_stream(transport: QuicStreamTransport, bidirectional: bool) -> Recorder:
        proto = Recorder()
        protocols[id(transport)] = proto
        peer_side[transport.stream_id] = transport
        return proto

    def on_connection(core: QuicConnectionCore) -> None:
        servers.append(core)
        core.on_stream = on_server_stream

    server = await serve_quic(
        ("127.0.0.1", 0),
        QuicTLSOptions(cert=pki["cert"], key=pki["key"], alpn=(ALPN,)),
        on_connection,
    )
    client = await connect_quic(
        ("127.0.0.1", server.local[1]),
        QuicTLSOptions(ca=pki["ca"], alpn=(ALPN,), servername="localhost"),
        pooling=False,
    )
    ours: list[QuicStreamTransport] = []
    client_side: dict[int, QuicStreamTransport] = {}

    def on_client_stream(transport: QuicStreamTransport, bidirectional: bool) -> Recorder:
        proto = Recorder()
        protocols[id(transport)] = proto
        client_side[transport.stream_id] = transport
        ours.append(transport)
        return proto

    client.on_stream = on_client_stream
    try:
        await client.handshake
        while not servers:
            await rt.sleep(0.005)
        for op, pick in ops:
            if op in ("open", "open_uni"):
                proto = Recorder()
                transport = await client.open_stream(op == "open", protocol=proto)
                protocols[id(transport)] = proto
                client_side[transport.stream_id] = transport
                ours.append(transport)
                transport.write(b"hello")  # the peer learns of a stream from its first frame
            elif op in ("server_open", "server_open_uni"):
                proto = Recorder()
                transport = await servers[0].open_stream(op == "server_open", protocol=proto)
                protocols[id(transport)] = proto
                peer_side[transport.stream_id] = transport
                transport.write(b"hello")
            elif ours:
                mine = ours[pick % len(ours)]
                theirs = peer_side.get(mine.stream_id)
                _apply(op, mine, theirs)
            await rt.sleep(0.01)  # let frames cross and callbacks run
            for transport in [*client_side.values(), *peer_side.values()]:
                moves.check(transport)
        if tidy:  # both ends close every stream they still hold
            for transport in [*client_side.values(), *peer_side.values()]:
                transport.close()
            await rt.sleep(0.05)
    finally:
        client.close()
        await rt.wait_for(client.closed, 10)
        for core in servers:
            with contextlib.suppress(Exception):  # the server side may end with an error
                await rt.wait_for(_settled(core), 10)
        server.close()
        for transport in [*client_side.values(), *peer_side.values()]:
            transport.resume_reading()  # a paused reader drains, then is lost
        await rt.sleep(0.01)
    for transport in [*client_side.values(), *peer_side.values()]:
        moves.check(transport)
        proto = protocols[id(transport)]
        send, recv = transport.states
        # Every transport ends lost, having told its protocol exactly once.
        assert recv is Recv.LOST, transport
        assert len(proto.lost) == 1 and moves.entered(transport, Recv.LOST) == 1
        # The protocol saw the peer's EOF exactly when the table handed it over.
        assert proto.eofs == moves.entered(transport, Recv.DATA_READ) <= 1
        # A missing half stays missing.
        if transport.direction == "receive":
            assert send is Send.NONE
        if transport.direction == "send":
            assert {
                r for _, e, r in moves.by_transport[id(transport)] if isinstance(e, RecvInput)
            } <= {
                Recv.CLOSED,
                Recv.LOST,
            }


async def _settled(core: QuicConnectionCore) -> None:
    await core.closed


def _apply(op: str, mine: QuicStreamTransport, theirs: QuicStreamTransport | None) -> None:
    """One operation on our end (``mine``) or the peer's end (``theirs``) of a stream."""
    if op in ("write", "write_eof", "close", "abort", "pause", "resume"):
        target: QuicStreamTransport | None = mine
    else:
        target = theirs
        op = op.removeprefix("peer_")
    if target is None:
        return
    sending = target.direction != "receive"
    if op == "write" and sending:
        send, recv = target.states
        if send is Send.DATA_SENT and recv < Recv.CLOSED:
            with pytest.raises(RuntimeError):
                target.write(b"data")
        else:
            target.write(b"data")
    elif op == "write_eof" and sending:
        target.write_eof()
    elif op == "close":
        target.close()
    elif op == "abort":
        target.abort(7)
    elif op == "pause":
        target.pause_reading()
    elif op == "resume":
        target.resume_reading()
