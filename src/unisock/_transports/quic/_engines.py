"""Which QUIC core runs a connection: qh3 by default, aioquic where qh3 cannot serve.

- qh3 (Rust transport core) is the default: several times faster than aioquic.
- aioquic runs listeners that require client certificates (qh3 servers cannot ask for
  them), and everything when qh3 is not installed or its internals differ from what
  :mod:`._qh3` was written against.
- ``UNISOCK_QUIC_CORE=aioquic`` (or ``qh3``) forces one, for tests and diagnosis.

Each core is imported on first use, so ``import unisock`` loads neither.
"""

from __future__ import annotations

import logging
import os
from types import ModuleType

__all__ = ["ENV", "core"]

ENV = "UNISOCK_QUIC_CORE"

_checked: dict[str, ModuleType | None] = {}


def _load(name: str) -> ModuleType | None:
    if name not in _checked:
        module: ModuleType | None
        try:
            if name == "qh3":
                from . import _qh3 as module
            else:
                from . import _aioquic as module
        except ImportError:
            module = None
        if module is not None and module.missing_internals():
            logging.getLogger("unisock").warning(
                "QUIC core %s not used: its internals differ (%s)",
                name,
                ", ".join(module.missing_internals()),
            )
            module = None
        _checked[name] = module
    return _checked[name]


def core(*, client_certificates: bool = False) -> ModuleType:
    """The core module for a connection (``client_certificates``: a listener requiring
    them); ``ImportError`` if none is usable."""
    forced = os.environ.get(ENV, "").strip().lower()
    order = ["aioquic"] if client_certificates else ["qh3", "aioquic"]
    if forced in ("qh3", "aioquic") and forced in order:
        order = [forced]
    for name in order:
        module = _load(name)
        if module is not None:
            return module
    need = "aioquic (client certificates)" if client_certificates else "qh3 or aioquic"
    raise ImportError(f"QUIC needs {need} (a dependency of unisock): reinstall unisock")
