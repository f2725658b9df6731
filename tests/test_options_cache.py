"""Sockets made with the same plain keyword arguments share one validated ``Options``
(``_base/options.py``): the cache must never let a value through that validation refuses,
whatever was cached before, and must not hold what belongs to one socket."""

from __future__ import annotations

from typing import Any

import pytest

from unisock._base import options as options_module
from unisock._base.options import SocketInit
from unisock.abort import AbortController

REMOTE = ("127.0.0.1", 4433)


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    options_module._parsed.clear()


def test_same_arguments_share_one_options() -> None:
    first = SocketInit.parse(None, {"type": "tls", "remote": REMOTE, "no_delay": True})
    again = SocketInit.parse(None, {"type": "tls", "remote": REMOTE, "no_delay": True})
    other = SocketInit.parse(None, {"type": "tls", "remote": REMOTE, "no_delay": False})
    assert again is first
    assert other is not first and other.no_delay is False


@pytest.mark.parametrize(
    ("good", "bad", "error"),
    [
        ({"no_delay": True}, {"no_delay": 1}, "no_delay must be True or False"),
        ({"remote": ("127.0.0.1", 80)}, {"remote": ("127.0.0.1", 80.0)}, "must be an int"),
        ({"verify": False}, {"verify": 0}, "verify must be True or False"),
    ],
)
def test_an_equal_value_of_another_type_is_still_refused(
    good: dict[str, Any], bad: dict[str, Any], error: str
) -> None:
    # 1 == True and 80 == 80.0: a key without the types would hand out the cached Options
    base = {"type": "tls", "remote": REMOTE}
    SocketInit.parse(None, {**base, **good})
    with pytest.raises(TypeError, match=error):
        SocketInit.parse(None, {**base, **bad})


def test_a_refused_init_is_not_cached() -> None:
    with pytest.raises(ValueError):
        SocketInit.parse(None, {"type": "tcp", "remote": REMOTE, "servername": "x"})
    assert not options_module._parsed


def test_what_belongs_to_one_socket_is_not_cached() -> None:
    signal = AbortController().signal
    for extra in ({"signal": signal}, {"body": b"x" * 1024}, {"alpn": ["h2"]}):
        made = SocketInit.parse(None, {"type": "tls", "remote": REMOTE, **extra})
        assert made is not SocketInit.parse(None, {"type": "tls", "remote": REMOTE, **extra})
    assert not options_module._parsed


def test_the_cache_is_bounded() -> None:
    for port in range(1, options_module._PARSED_MAX * 2):
        SocketInit.parse(None, {"remote": ("127.0.0.1", port)})
    assert len(options_module._parsed) <= options_module._PARSED_MAX
