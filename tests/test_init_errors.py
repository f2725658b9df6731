"""Every bad value of every field fails at construction with an error a newcomer can act
on: a ``TypeError``/``ValueError`` that names the field and shows the value given (issue
11 item 6; issue 16 items 10 and 11).  Table-driven over all fields."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from typing import Any

import pytest

import unisock
from unisock import SocketInit, SocketListenerInit

BAD_VALUES: list[Any] = [
    None,
    -1,
    math.nan,
    math.inf,
    2**64,
    b"bytes",
    "text",
    "\x00host",
    0,
    65536,
    1.5,
    [],
    True,
    object(),
]
TLS_FIELDS = {
    "servername",
    "key",
    "cert",
    "ca",
    "session",
    "ssl_context",
    "verify",
    "alpn",
    "require_close_notify",
}
# Errors about how fields combine, where the value itself is not the point.
COMBINATION = ("needs type", "must be given together", "is required", "no certificate given")


def _fields(cls: type[Any]) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.init]


def _shows(value: Any, message: str) -> bool:
    return any(
        text in message for text in (repr(value)[:12], str(value)[:12], type(value).__name__)
    )


def _check(field: str, value: Any, make: Any) -> None:
    try:
        made = make()
    except (TypeError, ValueError) as exc:
        message = str(exc)
        assert field in message, f"{field}={value!r}: {message!r} does not name the field"
        if not any(c in message for c in COMBINATION):
            assert _shows(value, message), f"{field}={value!r}: {message!r} hides the value"
        return
    if asyncio.iscoroutine(made):  # pragma: no cover - constructors are sync
        made.close()


@pytest.mark.parametrize("field", _fields(SocketInit))
def test_every_socket_field_refuses_bad_values_clearly(field: str) -> None:
    async def main() -> None:
        for value in BAD_VALUES:
            init: dict[str, Any] = {"remote": ("127.0.0.1", 9)}
            if field in TLS_FIELDS:
                init["type"] = "tls"
            init[field] = value

            def make(init: dict[str, Any] = init) -> unisock.Socket:
                return unisock.Socket(**init)

            try:
                sock = make()
            except (TypeError, ValueError):
                _check(field, value, make)
                continue
            await sock.abort()  # a value it takes: nothing to check
            await asyncio.sleep(0)

    with asyncio.Runner() as runner:
        runner.run(main())


@pytest.mark.parametrize("field", _fields(SocketListenerInit))
def test_every_listener_field_refuses_bad_values_clearly(field: str) -> None:
    for value in BAD_VALUES:
        _check(field, value, lambda v=value: SocketListenerInit.parse(None, {field: v}))


@pytest.mark.parametrize(
    "remote",
    [
        ("127.0.0.1\x00.allowed.example", 80),
        "localhost:0",
        "localhost:65536",
        "localhost:-1",
        (b"127.0.0.1", 80),
        ("127.0.0.1", "eighty"),
        ("127.0.0.1", 2**64),
    ],
)
def test_bad_remotes_are_refused_naming_the_field(remote: Any) -> None:
    with pytest.raises((TypeError, ValueError), match="remote"):
        SocketInit.parse(None, {"remote": remote})
