"""The socket life cycle table (``unisock._api.lifecycle``), whole, and real sockets
driven through random operations only ever making the moves the table allows."""

from __future__ import annotations

import contextlib
import itertools
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from tests import rt
from tests.conftest import LOOPS, TRIO, run_on

import unisock
from unisock._api.lifecycle import (
    IGNORED,
    TRANSITIONS,
    Input,
    State,
    grace_deadline,
    idle_check_due,
    ready_deadline,
    step,
)

ORDER = [State.CONNECTING, State.OPEN, State.CLOSING, State.CLOSED]


def test_every_pair_is_a_move_or_ignored_never_both() -> None:
    pairs = set(itertools.product(State, Input))
    assert set(TRANSITIONS) | IGNORED == pairs
    assert not set(TRANSITIONS) & IGNORED


def test_closed_is_final_and_connecting_is_never_reentered() -> None:
    assert all(state is not State.CLOSED for state, _ in TRANSITIONS)
    assert State.CONNECTING not in TRANSITIONS.values()
    # Only a connecting socket becomes open, and only by connecting.
    assert [k for k, v in TRANSITIONS.items() if v is State.OPEN] == [
        (State.CONNECTING, Input.CONNECTED)
    ]


@given(st.lists(st.sampled_from(list(Input)), max_size=12))
def test_any_input_sequence_only_moves_forward(inputs: list[Input]) -> None:
    state = State.CONNECTING
    for event in inputs:
        after = step(state, event)
        if after is None:
            assert (state, event) in IGNORED
            continue
        assert ORDER.index(after) > ORDER.index(state)
        state = after


@given(
    now=st.floats(min_value=0, max_value=1e9),
    timeout=st.floats(min_value=0, max_value=1e6),
    bounded=st.booleans(),
    handshake=st.floats(min_value=0, max_value=1e6),
)
def test_deadlines_come_from_the_given_now(
    now: float, timeout: float, bounded: bool, handshake: float
) -> None:
    deadline = ready_deadline(now, timeout, bounded, handshake)
    if timeout:
        assert deadline == now + timeout
    elif bounded and handshake > 0:
        assert deadline == now + handshake
    else:
        assert deadline is None
    assert grace_deadline(now, timeout) == (now + timeout if timeout > 0 else None)
    if timeout:
        assert idle_check_due(now, timeout) == pytest.approx(now + timeout / 4)


def _state(sock: unisock.Socket) -> State:
    return State(repr(sock).split()[2])


OPERATIONS = ["write", "close", "abort", "peer_close", "peer_abort", "read", "wait"]


@pytest.mark.parametrize("loop_name", [*LOOPS, *TRIO])
@settings(max_examples=25, deadline=None)
@given(ops=st.lists(st.sampled_from(OPERATIONS), min_size=1, max_size=6))
# Found by this test: the half-close after reading the end failed with ENOTCONN (the peer
# gone) and the error escaped from ``reader.read()`` instead of rejecting the close.
@example(ops=["peer_close", "write", "read"])
def test_real_sockets_move_only_as_the_table_allows(loop_name: str, ops: list[str]) -> None:
    async def main() -> None:
        async with unisock.SocketListener(local="127.0.0.1:0") as listener:
            sock = unisock.Socket(remote=f"127.0.0.1:{listener.local.port}")
            seen = [_state(sock)]
            await sock.ready
            peer = await listener.accept()
            seen.append(_state(sock))
            writer = sock.writable.get_writer()
            reader = sock.readable.get_reader()
            pending: list[Any] = []
            for op in ops:
                if op == "write" and _state(sock) is State.OPEN:
                    pending.append(rt.spawn(writer.write(b"x")))
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
                seen.append(_state(sock))
            await sock.abort("done")
            await peer.abort("done")
            for settling in [*pending, sock.closed, peer.closed]:
                with contextlib.suppress(Exception):  # gather(return_exceptions=True)
                    await settling
            seen.append(_state(sock))
            legal = {(a, b) for (a, _), b in TRANSITIONS.items()}
            for before, after in itertools.pairwise(seen):
                assert before == after or (before, after) in legal, seen
            assert seen[-1] is State.CLOSED

    run_on(loop_name, main)
