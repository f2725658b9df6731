"""What the TLS, UDP and QUIC plug-ins share: certificates, C builds, kind-aware peers.

* ``certificates()`` makes one CA and one server certificate (for ``127.0.0.1`` and
  ``localhost``) per suite run, in a temp dir removed at exit, and names that dir in
  ``UNISOCK_BENCH_CERTS`` so every peer process finds ``ca.pem``, ``chain.pem`` and
  ``key.pem`` there (peers/_tls.py reads them).
* ``KindPeer`` is a peer whose C program is not tcp_peer.c (its own source and libraries)
  and which needs those certificates.
* ``same_kind_comparisons`` keeps a unisock variant's ratio rows to peers of its own kind
  (a TLS figure divided by a TCP peer's is meaningless); it wraps ``peers.comparisons``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import peers as _peers
from . import report as _report
from .peers import BUILD_DIR, Peer, PeerError

BENCH = _peers.BENCH
CERTS_ENV = "UNISOCK_BENCH_CERTS"
HOST = "127.0.0.1"

_certs: Path | None = None


def certificates() -> Path:
    """The run's certificate dir (made on first use); children inherit its name."""
    global _certs
    if _certs is None:
        try:
            import trustme
        except ImportError:
            raise PeerError("trustme is not installed (pip install trustme)") from None
        ca = trustme.CA()
        leaf = ca.issue_cert(HOST, "localhost")
        path = Path(tempfile.mkdtemp(prefix="unisock-bench-certs-"))
        atexit.register(shutil.rmtree, path, True)
        (path / "ca.pem").write_bytes(ca.cert_pem.bytes())
        (path / "chain.pem").write_bytes(b"".join(p.bytes() for p in leaf.cert_chain_pems))
        (path / "key.pem").write_bytes(leaf.private_key_pem.bytes())
        os.environ[CERTS_ENV] = str(path)
        _certs = path
    return _certs


def build(name: str, libs: tuple[str, ...] = ()) -> Path:
    """Compile benchmarks/c/<name>.c with gcc -O2 unless the binary is up to date."""
    source = BENCH / "c" / f"{name}.c"
    binary = BUILD_DIR / name
    if binary.exists() and binary.stat().st_mtime >= source.stat().st_mtime:
        return binary
    gcc = shutil.which("gcc")
    if gcc is None:
        raise PeerError("gcc is not installed")
    BUILD_DIR.mkdir(exist_ok=True)
    done = subprocess.run(
        [gcc, "-O2", "-o", str(binary), str(source), *libs],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise PeerError("gcc failed: " + (done.stderr.strip().splitlines() or ["?"])[-1])
    return binary


@dataclass(frozen=True)
class KindPeer(Peer):
    """A TLS, UDP or QUIC peer: certificates made first; a C program of its own."""

    c_program: str = ""
    """With ``program="c"``: the source in benchmarks/c/ (without ``.c``)."""
    libs: tuple[str, ...] = ()
    """Linker flags for that source (``-lssl -lcrypto``)."""

    def prepare(self) -> tuple[str, ...]:
        certificates()
        if self.program == "c":
            return (str(build(self.c_program, self.libs)),)
        return super().prepare()


def same_kind_comparisons(subject: Peer, peers: list[Peer]) -> list[Peer]:
    """``peers.comparisons`` restricted to the subject's own workload kind."""
    return [p for p in _tcp_comparisons(subject, peers) if p.kind == subject.kind]


_tcp_comparisons = _peers.comparisons
if getattr(getattr(_report, "comparisons", None), "__name__", "") != "same_kind_comparisons":
    # report.py imported the function by name: rebind it there too.
    _peers.comparisons = same_kind_comparisons
    setattr(_report, "comparisons", same_kind_comparisons)  # noqa: B010 (not re-exported)
