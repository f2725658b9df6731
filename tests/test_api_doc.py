"""docs/api.md stays complete: every option field, public name, error and member is in it,
and every Python example in it compiles."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

import unisock
import unisock.streams
from unisock import errors

API_MD = Path(__file__).resolve().parent.parent / "docs" / "api.md"
TEXT = API_MD.read_text(encoding="utf-8")
PROSE = re.sub(r"^```.*?^```", "", TEXT, flags=re.S | re.M)  # fenced blocks left out
CODE_SPANS = re.findall(r"`([^`]+)`", PROSE)  # inline code, which may span lines
PYTHON_BLOCKS = re.findall(r"^```python\n(.*?)^```", TEXT, re.S | re.M)


def _fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.init]


def _error_classes() -> list[str]:
    """The exceptions ``unisock.errors`` exports or defines."""
    names = set(getattr(errors, "__all__", ()))
    names |= {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and value.__module__ == errors.__name__
    }
    return sorted(
        name
        for name in names
        if isinstance(getattr(errors, name, None), type)
        and issubclass(getattr(errors, name), BaseException)
    )


def _in_backticks(name: str) -> bool:
    return f"`{name}`" in TEXT


def _in_some_code_span(name: str) -> bool:
    word = re.compile(rf"(?<!\w){re.escape(name)}\b")
    return any(word.search(span) for span in CODE_SPANS)


@pytest.mark.parametrize("name", _fields(unisock.SocketInit))
def test_every_socket_init_field_is_documented(name: str) -> None:
    assert _in_backticks(name), f"SocketInit.{name} is missing from docs/api.md"


@pytest.mark.parametrize("name", _fields(unisock.SocketListenerInit))
def test_every_listener_init_field_is_documented(name: str) -> None:
    assert _in_backticks(name), f"SocketListenerInit.{name} is missing from docs/api.md"


@pytest.mark.parametrize("name", unisock.__all__)
def test_every_public_name_is_documented(name: str) -> None:
    assert _in_backticks(name), f"unisock.{name} is missing from docs/api.md"


@pytest.mark.parametrize("name", _error_classes())
def test_every_error_is_documented(name: str) -> None:
    assert _in_backticks(name), f"unisock.errors.{name} is missing from docs/api.md"


@pytest.mark.parametrize("name", unisock.streams.__all__)
def test_every_stream_name_is_documented(name: str) -> None:
    assert _in_some_code_span(name), f"unisock.streams.{name} is missing from docs/api.md"


def _public_members() -> list[tuple[str, str]]:
    classes = [
        unisock.Socket,
        unisock.SocketListener,
        unisock.SocketInfo,
        unisock.SocketStats,
        unisock.CipherInfo,
        unisock.EphemeralKeyInfo,
        unisock.SocketAddress,
        unisock.Datagram,
        unisock.AbortController,
        unisock.AbortSignal,
        unisock.Event,
        unisock.EventTarget,
        unisock.SocketEvent,
        unisock.SocketDataEvent,
        unisock.ErrorEvent,
        unisock.Deferred,
        *(getattr(unisock.streams, name) for name in unisock.streams.__all__),
    ]
    members = []
    for cls in classes:
        names = set(getattr(cls, "__slots__", ())) | set(vars(cls))
        if dataclasses.is_dataclass(cls):
            names |= {f.name for f in dataclasses.fields(cls)}
        for name in sorted(names):
            if not name.startswith("_"):
                members.append((cls.__name__, name))
    return members


@pytest.mark.parametrize(("owner", "name"), _public_members())
def test_every_public_member_is_documented(owner: str, name: str) -> None:
    assert _in_some_code_span(name), f"{owner}.{name} is missing from docs/api.md"


def test_the_doc_has_python_examples() -> None:
    assert PYTHON_BLOCKS


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_every_python_block_compiles(index: int) -> None:
    compile(PYTHON_BLOCKS[index], f"docs/api.md, python block {index + 1}", "exec")
