"""Event, EventTarget, AbortController/AbortSignal and Deferred."""

from __future__ import annotations

import gc
import logging
from typing import Any

import pytest
from tests import rt

from test_streams_support import LOOPS, run, settle
from unisock import Deferred
from unisock.abort import AbortController, AbortSignal
from unisock.errors import AbortError, InvalidStateError
from unisock.errors import TimeoutError as UniTimeoutError
from unisock.events import Event, EventTarget

# -- events --------------------------------------------------------------------------------------


def test_listeners_run_in_order_and_get_the_event() -> None:
    target = EventTarget()
    seen: list[tuple[str, Any]] = []
    target.add_event_listener("ping", lambda e: seen.append(("a", e.target)))
    target.add_event_listener("ping", lambda e: seen.append(("b", e.current_target)))
    event = Event("ping")
    assert target.dispatch_event(event) is True
    assert seen == [("a", target), ("b", target)]
    assert event.current_target is None


def test_the_same_listener_is_added_once() -> None:
    target = EventTarget()
    calls: list[int] = []

    def listener(e: Event) -> None:
        calls.append(1)

    target.add_event_listener("x", listener)
    target.add_event_listener("x", listener)
    target.dispatch_event(Event("x"))
    assert calls == [1]


def test_once_listener_runs_once() -> None:
    target = EventTarget()
    calls: list[int] = []
    target.add_event_listener("x", lambda e: calls.append(1), once=True)
    target.dispatch_event(Event("x"))
    target.dispatch_event(Event("x"))
    assert calls == [1]


def test_remove_event_listener() -> None:
    target = EventTarget()
    calls: list[str] = []

    def a(e: Event) -> None:
        calls.append("a")

    target.add_event_listener("x", a)
    target.remove_event_listener("x", a)
    target.remove_event_listener("x", a)  # removing twice is fine
    target.remove_event_listener("other", a)
    target.dispatch_event(Event("x"))
    assert calls == []


def test_a_listener_removed_during_dispatch_is_not_called() -> None:
    target = EventTarget()
    calls: list[str] = []

    def b(e: Event) -> None:
        calls.append("b")

    target.add_event_listener("x", lambda e: target.remove_event_listener("x", b))
    target.add_event_listener("x", b)
    target.dispatch_event(Event("x"))
    assert calls == []


def test_a_listener_added_during_dispatch_waits_for_the_next() -> None:
    target = EventTarget()
    calls: list[str] = []

    def late(e: Event) -> None:
        calls.append("late")

    target.add_event_listener("x", lambda e: target.add_event_listener("x", late))
    target.dispatch_event(Event("x"))
    assert calls == []
    target.dispatch_event(Event("x"))
    assert calls == ["late"]


def test_signal_removes_the_listener() -> None:
    target = EventTarget()
    controller = AbortController()
    calls: list[int] = []
    target.add_event_listener("x", lambda e: calls.append(1), signal=controller.signal)
    target.dispatch_event(Event("x"))
    controller.abort()
    target.dispatch_event(Event("x"))
    assert calls == [1]
    target.add_event_listener("x", lambda e: calls.append(2), signal=controller.signal)
    target.dispatch_event(Event("x"))  # an aborted signal adds nothing
    assert calls == [1]


def test_handle_event_objects_and_stop_immediate_propagation() -> None:
    target = EventTarget()
    calls: list[str] = []

    class Handler:
        def handle_event(self, event: Event) -> None:
            calls.append("handler")
            event.stop_immediate_propagation()

    target.add_event_listener("x", Handler())
    target.add_event_listener("x", lambda e: calls.append("never"))
    target.dispatch_event(Event("x"))
    assert calls == ["handler"]


def test_prevent_default_only_when_cancelable() -> None:
    target = EventTarget()
    target.add_event_listener("x", lambda e: e.prevent_default())
    assert target.dispatch_event(Event("x")) is True
    assert target.dispatch_event(Event("x", cancelable=True)) is False


def test_bad_arguments_are_type_errors() -> None:
    target = EventTarget()
    with pytest.raises(TypeError, match="type"):
        target.add_event_listener(1, lambda e: None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="listener"):
        target.add_event_listener("x", 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        target.dispatch_event("x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Event(3)  # type: ignore[arg-type]
    target.add_event_listener("x", None)  # ignored, as on the web


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_raising_listener_is_reported_and_the_others_still_run(loop_name: str) -> None:
    reported: list[dict[str, Any]] = []
    calls: list[str] = []

    async def main() -> None:
        target = EventTarget()

        def bad(e: Event) -> None:
            raise ValueError("listener broke")

        target.add_event_listener("x", bad)
        target.add_event_listener("x", lambda e: calls.append("after"))
        assert target.dispatch_event(Event("x")) is True

    run(main(), loop_name, reported=reported)
    assert calls == ["after"]
    assert len(reported) == 1 and isinstance(reported[0]["exception"], ValueError)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_async_listeners_run_and_their_failures_are_reported(loop_name: str) -> None:
    reported: list[dict[str, Any]] = []
    calls: list[str] = []

    async def main() -> None:
        target = EventTarget()

        async def good(e: Event) -> None:
            await rt.sleep(0)
            calls.append("good")

        async def bad(e: Event) -> None:
            await rt.sleep(0)
            raise KeyError("async broke")

        target.add_event_listener("x", good)
        target.add_event_listener("x", bad)
        target.dispatch_event(Event("x"))
        await settle()

    run(main(), loop_name, reported=reported)
    assert calls == ["good"]
    assert len(reported) == 1 and isinstance(reported[0]["exception"], KeyError)


# -- abort ------------------------------------------------------------------------------------


def test_controller_abort_sets_reason_and_fires_once() -> None:
    controller = AbortController()
    signal = controller.signal
    fired: list[Any] = []
    signal.add_event_listener("abort", lambda e: fired.append(e.type))
    assert not signal.aborted and signal.reason is None
    signal.throw_if_aborted()
    controller.abort("why")
    controller.abort("again")
    assert signal.aborted and signal.reason == "why" and fired == ["abort"]
    with pytest.raises(AbortError) as info:
        signal.throw_if_aborted()
    assert info.value.reason == "why"


def test_abort_without_reason_gives_an_abort_error() -> None:
    controller = AbortController()
    controller.abort()
    assert isinstance(controller.signal.reason, AbortError)
    with pytest.raises(AbortError):
        controller.signal.throw_if_aborted()


def test_abort_with_an_exception_reason_raises_it() -> None:
    reason = OSError("x")
    signal = AbortSignal.abort(reason)
    assert signal.aborted and signal.reason is reason
    with pytest.raises(OSError) as info:
        signal.throw_if_aborted()
    assert info.value is reason


@pytest.mark.parametrize("loop_name", LOOPS)
def test_timeout_aborts_with_timeout_error(loop_name: str) -> None:
    async def main() -> None:
        signal = AbortSignal.timeout(0.01)
        assert not signal.aborted
        fired = rt.Event()
        signal.add_event_listener("abort", lambda e: fired.set())
        await rt.wait_for(fired.wait(), 2)
        assert isinstance(signal.reason, UniTimeoutError)
        assert isinstance(signal.reason, TimeoutError)

    run(main(), loop_name)


@pytest.mark.parametrize("bad", [-1, float("nan"), "1", True])
def test_timeout_validates_seconds(bad: Any) -> None:
    async def main() -> None:
        with pytest.raises((TypeError, ValueError), match="seconds"):
            AbortSignal.timeout(bad)

    run(main())


def test_any_follows_the_first_to_abort() -> None:
    a, b = AbortController(), AbortController()
    combined = AbortSignal.any([a.signal, b.signal])
    assert not combined.aborted
    b.abort("b first")
    a.abort("a later")
    assert combined.aborted and combined.reason == "b first"


def test_any_of_an_aborted_signal_is_aborted_at_once() -> None:
    combined = AbortSignal.any([AbortController().signal, AbortSignal.abort("done")])
    assert combined.aborted and combined.reason == "done"
    assert not AbortSignal.any([]).aborted


def test_any_rejects_non_signals() -> None:
    with pytest.raises(TypeError):
        AbortSignal.any([object()])  # type: ignore[list-item]


def test_a_raising_abort_listener_does_not_stop_the_abort() -> None:
    controller = AbortController()
    calls: list[str] = []

    def bad(e: Event) -> None:
        raise RuntimeError("x")

    controller.signal.add_event_listener("abort", bad)
    controller.signal.add_event_listener("abort", lambda e: calls.append("ok"))
    controller.abort()  # no loop: reported on stderr
    assert calls == ["ok"] and controller.signal.aborted


# -- Deferred ------------------------------------------------------------------------------------


@pytest.mark.parametrize("loop_name", LOOPS)
def test_deferred_is_awaited_by_many_tasks_many_times(loop_name: str) -> None:
    async def main() -> None:
        d: Deferred[int] = Deferred()

        async def wait() -> int:
            return await d + await d

        tasks = [rt.spawn(wait()) for _ in range(5)]
        await settle()
        d.resolve(21)
        d.resolve(99)  # settle-once
        assert await rt.gather(*tasks) == [42] * 5
        assert await d == 21 and d.result() == 21

    run(main(), loop_name)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_cancelled_waiter_does_not_affect_the_others(loop_name: str) -> None:
    async def main() -> None:
        d: Deferred[str] = Deferred()

        async def wait() -> str:
            return await d

        t1 = rt.spawn(wait())
        t2 = rt.spawn(wait())
        await settle()
        t1.cancel()
        await settle()
        assert t1.cancelled() and not d.done()
        d.resolve("ok")
        assert await t2 == "ok"

    run(main(), loop_name)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_rejections_reach_every_waiter(loop_name: str) -> None:
    async def main() -> None:
        d: Deferred[None] = Deferred()

        async def wait() -> None:
            await d

        tasks = [rt.spawn(wait()) for _ in range(3)]
        await settle()
        d.reject(ValueError("no"))
        results = []
        for task in tasks:
            with pytest.raises(ValueError) as caught:
                await task
            results.append(caught.value)
        assert len(results) == 3
        assert isinstance(d.exception(), ValueError)

    run(main(), loop_name)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_an_unobserved_rejection_is_never_logged(
    loop_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        for _ in range(10):
            Deferred[None]().reject(ValueError("nobody looks"))
            Deferred.rejected(ValueError("nor here"))
        d: Deferred[None] = Deferred()
        task = rt.spawn(_await(d))
        await settle()
        task.cancel()
        await settle()
        d.reject(KeyError("waiter gone"))
        gc.collect()
        await settle()

    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        run(main(), loop_name)  # run() fails on anything the loop's handler saw
    assert "never retrieved" not in caplog.text


async def _await(d: Deferred[Any]) -> Any:
    return await d


def test_deferred_inspection_and_callbacks() -> None:
    d: Deferred[int] = Deferred()
    assert not d.done()
    with pytest.raises(InvalidStateError):
        d.result()
    assert d.exception() is None
    seen: list[int] = []
    d.add_done_callback(lambda x: seen.append(x.result()))
    d.resolve(3)
    d.add_done_callback(lambda x: seen.append(x.result() * 10))  # already settled: at once
    assert seen == [3, 30]
    assert d.is_fulfilled() and not d.is_rejected()
    assert "fulfilled" in repr(d)
    r: Deferred[int] = Deferred.rejected(KeyError("k"))
    assert r.is_rejected() and isinstance(r.exception(), KeyError)
    with pytest.raises(KeyError):
        r.result()
