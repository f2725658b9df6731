"""The TLS engine's state table (``unisock._transports.tls.states``), whole, and real TLS
connections (ours against ours, ours against openssl s_server) driven through random
operations on every runtime (asyncio, uvloop, trio), only ever making the moves the table
allows."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests import rt
from tests.conftest import LOOPS, TRIO, free_port, run_on
from tests.rt_transports import connect, serve
from tests.tls_util import Pki, make_pki, need, stop

import unisock
from unisock._transports.tls.config import TLSOptions
from unisock._transports.tls.states import (
    ENDING,
    HANDSHAKES,
    IGNORED,
    LIVE,
    RANK,
    READING,
    TRANSITIONS,
    WRITE_ENDED,
    Input,
    State,
    step,
)
from unisock._transports.tls.transport import TLSTransport

pytestmark = pytest.mark.timeout(120)
LOOP_KINDS = [*LOOPS, *TRIO]

# -- the table, whole --------------------------------------------------------------------------


def test_every_pair_is_a_move_or_ignored_never_both() -> None:
    pairs = set(itertools.product(State, Input))
    assert set(TRANSITIONS) | IGNORED == pairs
    assert not set(TRANSITIONS) & IGNORED


def test_closed_is_final_and_every_live_state_can_be_lost_or_aborted() -> None:
    assert all(state is not State.CLOSED for state, _ in TRANSITIONS)
    assert set(LIVE) == set(State) - {State.CLOSED}
    for state in LIVE:
        assert step(state, Input.LOST) is State.CLOSED
        assert step(state, Input.ABORT) in (State.ABORTED, None)
    assert step(State.ABORTED, Input.ABORT) is None  # abort counts once


def test_no_way_back_into_the_handshake() -> None:
    for (state, _), after in TRANSITIONS.items():
        if after in HANDSHAKES:
            assert state in HANDSHAKES
    # Only the handshake's end leaves it for a state that carries data.
    for state in HANDSHAKES:
        assert step(state, Input.HANDSHAKE_DONE) not in HANDSHAKES
    for (state, event), after in TRANSITIONS.items():
        if state in HANDSHAKES and after in (State.OPEN, State.WRITE_CLOSED, State.CLOSING):
            assert event is Input.HANDSHAKE_DONE
    # The handshake's results mean nothing once it is over.
    assert all((s, Input.HANDSHAKE_DONE) in IGNORED for s in State if s not in HANDSHAKES)


def test_every_move_goes_forward() -> None:
    for (state, event), after in TRANSITIONS.items():
        assert RANK[after] > RANK[state], (state, event, after)


def test_the_groups_the_transport_asks_about() -> None:
    # is_reading() and is_closing() split the states between them.
    assert set(READING) | set(ENDING) == set(State)
    assert not set(READING) & set(ENDING)
    # write() raises exactly where write_eof() was asked or our close_notify is out.
    wrote_eof = {after for (_, event), after in TRANSITIONS.items() if event is Input.WRITE_EOF}
    assert wrote_eof <= set(WRITE_ENDED) | {State.CLOSING}
    assert State.OPEN not in WRITE_ENDED and State.READ_CLOSED not in WRITE_ENDED


@given(st.lists(st.sampled_from(list(Input)), max_size=14))
def test_any_input_sequence_only_moves_forward(inputs: list[Input]) -> None:
    state = State.HANDSHAKING
    left_handshake = False
    for event in inputs:
        after = step(state, event)
        if after is None:
            assert (state, event) in IGNORED
            continue
        assert RANK[after] > RANK[state]
        left_handshake = left_handshake or after not in HANDSHAKES
        assert not (left_handshake and after in HANDSHAKES)
        state = after
    assert step(state, Input.LOST) in (State.CLOSED, None)


def _reachable() -> dict[State, set[State]]:
    """Each state and every state a chain of moves leads to from it (itself included)."""
    reach = {state: {state} for state in State}
    for _ in State:
        for (state, _event), after in TRANSITIONS.items():
            reach[state] |= reach[after]
    return reach


REACHABLE = _reachable()

# -- real connections ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


class Recorder(asyncio.Protocol):
    """Keeps half-open on the peer's close_notify; notes the engine's state at each event."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.data = bytearray()
        self.events: list[tuple[str, State]] = []
        self.lost: Any = rt.future()  # settles with connection_lost's argument

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.data += data

    def eof_received(self) -> bool:
        self.events.append(("eof", self.transport._state))
        return True

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append(("lost", self.transport._state))
        assert not self.lost.done(), "connection_lost twice"
        self.lost.set_result(exc)


@contextlib.contextmanager
def recording() -> Iterator[None]:
    """Every TLSTransport records its inputs in ``TLSTransport.moves`` meanwhile."""
    TLSTransport.moves = []
    try:
        yield
    finally:
        TLSTransport.moves = None


def check_moves(
    t: TLSTransport, moves: list[tuple[int, State, Input, State | None]], sampled: list[State]
) -> list[tuple[State, Input, State | None]]:
    """``t``'s recorded inputs form one chain through the table from HANDSHAKING to
    CLOSED, and every state sampled from outside lies on it in order."""
    mine = [(before, event, after) for tid, before, event, after in moves if tid == id(t)]
    state = State.HANDSHAKING
    chain = [state]
    for before, event, after in mine:
        assert before is state, (mine, "the state changed outside the table")
        assert after is step(before, event)
        assert after is not None or (before, event) in IGNORED
        if after is not None:
            state = after
            chain.append(state)
    assert state is State.CLOSED and t._state is State.CLOSED, mine
    for a, b in itertools.pairwise(sampled):
        assert b in REACHABLE[a], (sampled, mine)
    positions = [chain.index(s) for s in sampled]
    assert positions == sorted(positions), (sampled, chain)
    return mine


def check_protocol(
    t: TLSTransport, p: Recorder, mine: list[tuple[State, Input, State | None]]
) -> None:
    """What the upper protocol saw agrees with the moves: eof_received once per peer end,
    in a state past it; connection_lost once, in CLOSED; the handshake settled."""
    peer_ends = [m for m in mine if m[1] in (Input.PEER_CLOSE_NOTIFY, Input.TRUNCATED)]
    moved_peer_ends = [m for m in peer_ends if m[2] is not None]
    eofs = [state for kind, state in p.events if kind == "eof"]
    assert len(eofs) == len(moved_peer_ends) <= 1
    for state in eofs:
        assert state in (State.READ_CLOSED, State.CLOSING, State.ABORTED, State.FAILING)
    assert [kind for kind, _ in p.events][-1:] == ["lost"]
    assert p.events[-1][1] is State.CLOSED
    assert t.handshake.done()
    done = any(event is Input.HANDSHAKE_DONE and after is not None for _, event, after in mine)
    assert (t.handshake.exception() is None) == done


def sent_close_notify(mine: list[tuple[State, Input, State | None]]) -> bool:
    """Whether a move sent our close_notify (into WRITE_CLOSED, or into CLOSING from a
    state that had not sent it)."""
    for before, _event, after in mine:
        if after is State.WRITE_CLOSED:
            return True
        if after is State.CLOSING and before is not State.WRITE_CLOSED:
            return True
    return False


def server_opts(pki: Pki) -> TLSOptions:
    return TLSOptions.from_init(cert=str(pki.server_pem), key=str(pki.server_pem), server_side=True)


def client_opts(pki: Pki) -> TLSOptions:
    return TLSOptions.from_init(ca=str(pki.ca_pem))


def do_write(t: TLSTransport, data: bytes) -> None:
    """``write()`` raises exactly in the states the table's WRITE_ENDED names."""
    state = t._state
    try:
        t.write(data)
    except RuntimeError:
        assert state in WRITE_ENDED, state
    else:
        assert state not in WRITE_ENDED, state


def check_flags(t: TLSTransport, sampled: list[State]) -> None:
    state = t._state
    sampled.append(state)
    if state in ENDING:
        assert t.is_closing()
    if t.is_reading():
        assert state in READING


OURS = ["write", "write_eof", "close", "abort", "pause", "resume", "wait"]
PEERS = ["peer_write", "peer_write_eof", "peer_close", "peer_abort"]


async def drive(
    ours: TLSTransport,
    peer: Callable[[], TLSTransport | None],
    ops: list[str],
    sampled: list[State],
) -> None:
    """Each operation, then a short wait for callbacks (none before the first: operations
    also land during the handshake)."""
    for i, op in enumerate(ops):
        other = peer()
        if op == "write":
            do_write(ours, b"x" * 999 + b"\n")
        elif op == "write_eof":
            ours.write_eof()
        elif op == "close":
            ours.close()
        elif op == "abort":
            ours.abort()
        elif op == "pause":
            ours.pause_reading()
        elif op == "resume":
            ours.resume_reading()
        elif other is not None and op == "peer_write":
            do_write(other, b"y" * 999 + b"\n")
        elif other is not None and op == "peer_write_eof":
            other.write_eof()
        elif other is not None and op == "peer_close":
            other.close()
        elif other is not None and op == "peer_abort":
            other.abort()
        check_flags(ours, sampled)
        if i or op == "wait":
            await rt.sleep(0.005)
            check_flags(ours, sampled)


@pytest.mark.parametrize("loop_kind", LOOP_KINDS)
@settings(max_examples=30, deadline=None)
@given(ops=st.lists(st.sampled_from(OURS + PEERS), min_size=1, max_size=8))
def test_our_pair_moves_only_as_the_table_allows(loop_kind: str, ops: list[str], pki: Pki) -> None:
    async def main() -> None:
        servers: list[tuple[TLSTransport, Recorder]] = []

        class Upgrade(asyncio.Protocol):
            def connection_made(self, transport: Any) -> None:
                p = Recorder()
                servers.append((TLSTransport(transport, p, server_opts(pki)), p))

        async with serve(Upgrade) as port:
            lower, _ = await connect(asyncio.Protocol, port)
            client_p = Recorder()
            client = TLSTransport(
                lower, client_p, client_opts(pki), host="localhost", pooling=False
            )
            sampled = [client._state]
            try:
                await drive(client, lambda: servers[0][0] if servers else None, ops, sampled)
                await rt.sleep(0.02)
            finally:
                client.abort()
                for t, _ in servers:
                    t.abort()
                await rt.wait_for(client_p.lost, 5)
                # TCP was connected, so the server side comes, late if our ops were quick
                for _ in range(500):
                    if servers:
                        break
                    await rt.sleep(0.01)
                assert len(servers) == 1
                for t, p in servers:
                    t.abort()
                    await rt.wait_for(p.lost, 5)
        sampled.append(client._state)
        moves = TLSTransport.moves
        assert moves is not None
        mine = check_moves(client, moves, sampled)
        check_protocol(client, client_p, mine)
        for t, p in servers:
            theirs = check_moves(t, moves, [])
            check_protocol(t, p, theirs)
            # close_notify arrives only from a side that sent it, and never out of nothing
            if any(e is Input.PEER_CLOSE_NOTIFY for _, e, _ in theirs):
                assert sent_close_notify(mine), (mine, theirs)
            if any(e is Input.PEER_CLOSE_NOTIFY for _, e, _ in mine):
                assert sent_close_notify(theirs), (mine, theirs)
            # each side only ever reads what the other wrote
            assert set(p.data) <= set(b"x\n") and set(client_p.data) <= set(b"y\n")

    with recording():
        run_on(loop_kind, main)


@pytest.fixture(scope="module")
def rev_server(pki: Pki) -> Iterator[int]:
    """openssl s_server echoing each line reversed, one connection after another (quiet:
    nothing fills a pipe nobody reads)."""
    need("openssl")
    port = free_port()
    argv = ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(pki.server_pem)]
    proc = subprocess.Popen(
        [*argv, "-rev", "-quiet"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline and proc.poll() is None, "s_server did not start"
            time.sleep(0.02)
        yield port
    finally:
        stop(proc)


@pytest.mark.parametrize("loop_kind", LOOP_KINDS)
@settings(max_examples=15, deadline=None)
@given(ops=st.lists(st.sampled_from(OURS), min_size=1, max_size=6))
def test_against_openssl_moves_only_as_the_table_allows(
    loop_kind: str, ops: list[str], pki: Pki, rev_server: int
) -> None:
    async def main() -> None:
        lower, _ = await connect(asyncio.Protocol, rev_server)
        p = Recorder()
        t = TLSTransport(lower, p, client_opts(pki), host="localhost", pooling=False)
        sampled = [t._state]
        try:
            await drive(t, lambda: None, ops, sampled)
            await rt.sleep(0.02)
        finally:
            t.abort()
            await rt.wait_for(p.lost, 5)
        sampled.append(t._state)
        assert TLSTransport.moves is not None
        check_protocol(t, p, check_moves(t, TLSTransport.moves, sampled))
        # s_server -rev answers each whole line reversed: only our bytes come back
        assert set(p.data) <= set(b"x\n")

    with recording():
        run_on(loop_kind, main)


async def settled(*awaitables: Any) -> None:
    """Wait for each to settle, whichever way (``gather(..., return_exceptions=True)``)."""
    for awaitable in awaitables:
        with contextlib.suppress(Exception):
            await awaitable


SOCKET_OPS = ["write", "close_writer", "close", "abort", "peer_close", "peer_abort", "read"]


@pytest.mark.parametrize("loop_kind", LOOP_KINDS)
@settings(max_examples=15, deadline=None)
@given(ops=st.lists(st.sampled_from([*SOCKET_OPS, "wait"]), min_size=1, max_size=6))
def test_tls_sockets_move_only_as_the_table_allows(
    loop_kind: str, ops: list[str], pki: Pki
) -> None:
    """The same through unisock's own upper protocol: ``type="tls"`` sockets, whose
    streams call write_eof() when the writable closes and close() once both ends are done."""

    async def main() -> None:
        async with unisock.SocketListener(
            type="tls", local="127.0.0.1:0", cert=pki.server_pem, key=pki.server_pem
        ) as listener:
            sock = unisock.Socket(
                type="tls", remote=listener.local, ca=pki.ca_pem, servername="localhost"
            )
            await sock.ready
            peer = await listener.accept()
            writer = sock.writable.get_writer()
            reader = sock.readable.get_reader()
            pending: list[Any] = []
            for op in ops:
                if op == "write":
                    pending.append(rt.spawn(writer.write(b"x" * 1000)))
                elif op == "close_writer":
                    pending.append(rt.spawn(writer.close()))
                elif op == "close":
                    pending.append(rt.spawn(sock.close()))
                elif op == "abort":
                    await sock.abort("test")
                elif op == "peer_close":
                    pending.append(rt.spawn(peer.close()))
                elif op == "peer_abort":
                    await peer.abort("test")
                elif op == "read":
                    pending.append(rt.spawn(reader.read()))
                await rt.sleep(0.01)  # let the transports' callbacks run
            await sock.abort("done")
            await peer.abort("done")
            await settled(*pending, sock.closed, peer.closed)
            await rt.sleep(0.01)  # the lower transports' connection_lost
        moves = TLSTransport.moves
        assert moves is not None
        for s in (sock, peer):
            tls = s._tls
            assert isinstance(tls, TLSTransport)
            check_moves(tls, moves, [])

    with recording():
        run_on(loop_kind, main)
