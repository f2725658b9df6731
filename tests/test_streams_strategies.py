"""Queuing strategies: WPT streams/queuing-strategies, and validation of high-water marks."""

from __future__ import annotations

from typing import Any

import pytest

from unisock.streams import (
    ByteLengthQueuingStrategy,
    CountQueuingStrategy,
    ReadableStream,
    WritableStream,
)


@pytest.mark.parametrize("cls", [CountQueuingStrategy, ByteLengthQueuingStrategy])
def test_high_water_mark_is_kept_as_a_float(cls: Any) -> None:
    assert cls(4).high_water_mark == 4.0
    assert cls(0).high_water_mark == 0.0
    assert cls(float("inf")).high_water_mark == float("inf")


@pytest.mark.parametrize("cls", [CountQueuingStrategy, ByteLengthQueuingStrategy])
@pytest.mark.parametrize("bad", [-1, -0.5, float("nan")])
def test_negative_or_nan_mark_is_a_value_error_naming_it(cls: Any, bad: float) -> None:
    with pytest.raises(ValueError, match="high_water_mark"):
        cls(bad)


@pytest.mark.parametrize("cls", [CountQueuingStrategy, ByteLengthQueuingStrategy])
@pytest.mark.parametrize("bad", ["4", None, True, [1]])
def test_non_number_mark_is_a_type_error_naming_it(cls: Any, bad: Any) -> None:
    with pytest.raises(TypeError, match="high_water_mark"):
        cls(bad)


def test_sizes() -> None:
    assert CountQueuingStrategy(1).size("anything") == 1
    assert ByteLengthQueuingStrategy(1).size(b"abcd") == 4
    assert ByteLengthQueuingStrategy(1).size(bytearray(7)) == 7


@pytest.mark.parametrize("make", [ReadableStream, WritableStream])
def test_streams_validate_dict_strategies(make: Any) -> None:
    with pytest.raises(ValueError, match="high_water_mark"):
        make(None, {"high_water_mark": -1})
    with pytest.raises(TypeError, match="high_water_mark"):
        make(None, {"high_water_mark": "high"})
    with pytest.raises(TypeError, match="size"):
        make(None, {"size": "not callable"})


def test_default_marks() -> None:
    rs: ReadableStream[Any] = ReadableStream()
    assert rs._controller.desired_size == 1
    bs: ReadableStream[Any] = ReadableStream({"type": "bytes"})
    assert bs._controller.desired_size == 0
    ws: WritableStream[Any] = WritableStream()
    assert ws.get_writer().desired_size == 1


def test_strategy_objects_plug_into_streams() -> None:
    controllers: list[Any] = []
    ReadableStream({"start": controllers.append}, ByteLengthQueuingStrategy(10))
    controllers[0].enqueue(b"abc")
    assert controllers[0].desired_size == 7
    ws: WritableStream[Any] = WritableStream(None, CountQueuingStrategy(5))
    assert ws.get_writer().desired_size == 5


def test_any_object_with_the_members_is_a_strategy() -> None:
    class Halves:
        high_water_mark = 2

        @staticmethod
        def size(chunk: Any) -> float:
            return 0.5

    controllers: list[Any] = []
    ReadableStream({"start": controllers.append}, Halves())
    controllers[0].enqueue("x")
    assert controllers[0].desired_size == 1.5
