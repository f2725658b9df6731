"""TLS settings: validated options, cached ``ssl.SSLContext``s, a session cache, and ``info``.

Why one module: the options decide the context, the context decides which cached sessions
may resume, and the TLS facts report what those options led to.  Key and certificate
material is normalised once, in memory, to PEM/DER bytes, so a context can be cached by a
fingerprint of its content (building one costs milliseconds) and never by object identity.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import ssl
import sys
import tempfile
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from ..._base.records import CipherInfo, EphemeralKeyInfo
from .facts import TLSFacts
from .names import CIPHER_IANA, HandshakeObserver

__all__ = [
    "CipherInfo",
    "EphemeralKeyInfo",
    "SNISelector",
    "SessionCache",
    "TLSOptions",
    "client_context",
    "server_context",
    "session_cache",
    "tls_info",
]

_KEY_TYPES = tuple(t for t in PrivateKeyTypes.__args__)  # type: ignore[attr-defined]


# -- option validation ---------------------------------------------------------------------

_PathLike = (str, os.PathLike)


def _is_pem(data: bytes) -> bool:
    return b"-----BEGIN" in data


def _read_path(fieldname: str, value: str | os.PathLike[str]) -> bytes:
    if "\x00" in os.fspath(value):
        raise ValueError(f"{fieldname}: a path cannot contain NUL characters, got {value!r}")
    try:
        with open(value, "rb") as f:
            return f.read()
    except OSError as exc:
        raise ValueError(f"{fieldname}: cannot read {os.fspath(value)!r}: {exc.strerror}") from exc


def _looks_like_path(value: object) -> bool:
    return isinstance(value, os.PathLike) or (isinstance(value, str) and "-----BEGIN" not in value)


def _normalise_key(value: object) -> bytes:
    """Any accepted key form -> unencrypted PKCS#8 PEM bytes."""
    if isinstance(value, _KEY_TYPES):
        key: Any = value
    else:
        if _looks_like_path(value):
            data = _read_path("key", value)  # type: ignore[arg-type]
        elif isinstance(value, str):
            data = value.encode("ascii", "replace")
        elif isinstance(value, bytes | bytearray | memoryview):
            data = bytes(value)
        else:
            raise TypeError(
                "key must be a cryptography private key, PEM text or bytes, DER bytes or a "
                f"path, not {type(value).__name__}"
            )
        try:
            if _is_pem(data):
                key = serialization.load_pem_private_key(data, password=None)
            else:
                key = serialization.load_der_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"key: not a usable private key ({exc})") from exc
    try:
        return bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    except (ValueError, TypeError) as exc:  # pragma: no cover - exotic key types
        raise ValueError(f"key: cannot be used for TLS ({exc})") from exc


def _certs_from(fieldname: str, value: object) -> list[bytes]:
    """One accepted certificate form (not a list) -> DER certificates."""
    if isinstance(value, x509.Certificate):
        return [value.public_bytes(serialization.Encoding.DER)]
    if _looks_like_path(value):
        data = _read_path(fieldname, value)  # type: ignore[arg-type]
    elif isinstance(value, str):
        data = value.encode("ascii", "replace")
    elif isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
    else:
        raise TypeError(
            f"{fieldname} must be a cryptography x509.Certificate, PEM text or bytes, DER "
            f"bytes, a path, or a list of these, not {type(value).__name__}"
        )
    try:
        if _is_pem(data):
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError:
        shown = value if _looks_like_path(value) else data[:24]
        kind = "PEM" if _is_pem(data) else "DER"
        raise ValueError(
            f"{fieldname}: not a certificate: {shown!r} (read as {kind}: expected "
            "'-----BEGIN CERTIFICATE-----' blocks or one DER certificate)"
        ) from None
    return [c.public_bytes(serialization.Encoding.DER) for c in certs]


def _normalise_certs(fieldname: str, value: object) -> tuple[bytes, ...]:
    items: Iterable[object] = value if isinstance(value, list | tuple) else [value]
    out: list[bytes] = []
    for item in items:
        if isinstance(item, list | tuple):
            raise TypeError(f"{fieldname}: nested lists are not accepted")
        out.extend(_certs_from(fieldname, item))
    if not out:
        raise ValueError(f"{fieldname}: no certificate given")
    return tuple(out)


def _check_alpn(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise TypeError(f"alpn must be a str or a list of str, not {type(value).__name__}")
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"alpn: each protocol id must be a str, not {item!r}")
        if not 0 < len(item.encode()) < 256:
            raise ValueError(f"alpn: protocol id {item!r} must be 1 to 255 bytes")
    return tuple(items)


@dataclass(frozen=True, slots=True)
class TLSOptions:
    """Validated, normalised TLS settings of one endpoint.

    ``key`` is unencrypted PKCS#8 PEM, ``cert`` the DER chain (leaf first), ``ca`` the DER
    trust anchors replacing the system store; build it with :meth:`from_init`.
    """

    servername: str | None = None
    key: bytes | None = field(default=None, repr=False)
    cert: tuple[bytes, ...] | None = field(default=None, repr=False)
    ca: tuple[bytes, ...] | None = field(default=None, repr=False)
    verify: bool = True
    alpn: tuple[str, ...] = ()
    session: ssl.SSLSession | None = field(default=None, compare=False)
    server_side: bool = False
    context: ssl.SSLContext | None = field(default=None, compare=False, repr=False)
    """A caller's client context (``ssl_context``), used as it is: its trust store,
    verification, ALPN, versions and ciphers; ``key``/``cert``/``ca``/``alpn`` are then
    refused and ``verify`` reports its ``verify_mode``."""
    sni: SNISelector | None = field(default=None, compare=False, repr=False)
    """A server's certificates by the name the client sent (``cert``/``key``: the rest)."""
    _fingerprint: bytes | None = field(default=None, init=False, compare=False, repr=False)
    """``fingerprint``, once computed: each connection looks its context up by it."""

    @classmethod
    def from_init(
        cls,
        *,
        servername: object = None,
        key: object = None,
        cert: object = None,
        ca: object = None,
        verify: object = True,
        alpn: object = None,
        session: object = None,
        server_side: object = False,
        ssl_context: object = None,
        sni: object = None,
    ) -> TLSOptions:
        """Check each field, raising ``TypeError``/``ValueError`` that name it."""
        if sni is not None:
            if server_side is not True:
                raise ValueError("sni: only a TLS server picks its certificate by server name")
            plain = cls.from_init(
                key=key, cert=cert, ca=ca, verify=verify, alpn=alpn, server_side=True
            )
            selector = SNISelector(sni, plain)
            return cls(
                key=plain.key,
                cert=plain.cert,
                ca=plain.ca,
                verify=plain.verify,
                alpn=plain.alpn,
                server_side=True,
                sni=selector,
            )
        if ssl_context is not None:
            return cls._from_context(
                ssl_context,
                servername=servername,
                key=key,
                cert=cert,
                ca=ca,
                verify=verify,
                alpn=alpn,
                session=session,
                server_side=server_side,
            )
        if servername is not None:
            if not isinstance(servername, str):
                raise TypeError(f"servername must be a str, not {type(servername).__name__}")
            if not servername or len(servername) > 253:
                raise ValueError(f"servername {servername!r} must be 1 to 253 characters")
        if not isinstance(verify, bool):
            raise TypeError(f"verify must be True or False, not {verify!r}")
        if not isinstance(server_side, bool):
            raise TypeError(f"server_side must be True or False, not {server_side!r}")
        if session is not None and not isinstance(session, ssl.SSLSession):
            raise TypeError(
                "session must be an info.session value (ssl.SSLSession), "
                f"not {type(session).__name__}"
            )
        key_pem = None if key is None else _normalise_key(key)
        chain = None if cert is None else _normalise_certs("cert", cert)
        anchors = None if ca is None else _normalise_certs("ca", ca)
        if (key_pem is None) != (chain is None):
            missing = "key" if key_pem is None else "cert"
            raise ValueError(f"{missing}: cert and key must be given together")
        if server_side and chain is None:
            raise ValueError("cert: a TLS server needs cert and key")
        if key_pem is not None and chain is not None:
            _check_pair(key_pem, chain[0])
        return cls(
            servername=servername,
            key=key_pem,
            cert=chain,
            ca=anchors,
            verify=verify,
            alpn=_check_alpn(alpn),
            session=session,
            server_side=server_side,
        )

    @classmethod
    def _from_context(
        cls,
        context: object,
        *,
        servername: object,
        verify: object,
        alpn: object,
        session: object,
        server_side: object,
        **material: object,
    ) -> TLSOptions:
        if not isinstance(context, ssl.SSLContext):
            raise TypeError(f"ssl_context must be an ssl.SSLContext, not {type(context).__name__}")
        if server_side or context.protocol == ssl.PROTOCOL_TLS_SERVER:
            raise ValueError("ssl_context: only a TLS client takes an ssl.SSLContext")
        given = sorted(name for name, value in material.items() if value is not None)
        if alpn:
            given.append("alpn")
        if verify is not True:
            given.append("verify")
        if given:
            raise ValueError(
                f"{', '.join(given)}: not with ssl_context, which is used as it is (set "
                "certificates, trust, verification and ALPN on the context itself)"
            )
        plain = cls.from_init(servername=servername, session=session)
        return cls(
            servername=plain.servername,
            verify=context.verify_mode != ssl.CERT_NONE,
            session=plain.session,
            context=context,
        )

    @property
    def fingerprint(self) -> bytes:
        """A digest of everything that shapes the context (not servername nor session).

        Computed on first use and kept: the options are frozen, and hashing the key and
        the chains again on every connection cost more than the lookup it serves."""
        found = self._fingerprint
        if found is None:
            found = self._digest()
            object.__setattr__(self, "_fingerprint", found)
        return found

    def _digest(self) -> bytes:
        h = hashlib.sha256()
        for part in (
            b"S" if self.server_side else b"C",
            b"V" if self.verify else b"N",
            self.key or b"-",
            *(self.cert or (b"-",)),
            b"|",
            *(self.ca or (b"-",)),
            b"|",
            *(a.encode() + b"\0" for a in self.alpn),
            b"|" + (id(self.context).to_bytes(8, "little") if self.context else b"-"),
        ):
            h.update(len(part).to_bytes(4, "big"))
            h.update(part)
        return h.digest()


def _check_pair(key_pem: bytes, leaf_der: bytes) -> None:
    key = serialization.load_pem_private_key(key_pem, password=None)
    pub = x509.load_der_x509_certificate(leaf_der).public_key()
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(*fmt) != pub.public_bytes(*fmt):
        raise ValueError("key: does not match the public key of the first cert")


# -- contexts ------------------------------------------------------------------------------

_contexts: dict[bytes, ssl.SSLContext] = {}
_contexts_lock = threading.Lock()
_MAX_CONTEXTS = 64


_environ_data: Any = getattr(os.environ, "_data", None)
_encodekey: Any = getattr(os.environ, "encodekey", None)


def _getenv(name: str) -> str | None:
    """``os.environ.get(name)``, without its cost when the variable is unset (the usual
    case, looked up on every connection): ``os.environ`` raises and catches a
    ``KeyError`` twice per miss.  Its own mapping of encoded names is asked first."""
    if (
        _environ_data is not None
        and _encodekey is not None
        and _encodekey(name) not in _environ_data
    ):
        return None
    return os.environ.get(name)


def trust_locations() -> tuple[str | None, str | None]:
    """``(cafile, capath)`` of the trust store TLS and QUIC verify servers against.

    One policy for both: the system store as OpenSSL finds it (so ``SSL_CERT_FILE`` and
    ``SSL_CERT_DIR`` are honoured, as by ``ssl.create_default_context()``), and certifi's
    bundle only where the system has none.  Looked up once per value of those two
    variables, so a changed environment takes effect for the next connection.
    """
    env = (_getenv("SSL_CERT_FILE"), _getenv("SSL_CERT_DIR"))
    found = _trust_found.get(env)
    if found is None:
        if len(_trust_found) >= 16:
            _trust_found.clear()
        found = _trust_found[env] = _find_trust()
    return found


_trust_found: dict[tuple[str | None, str | None], tuple[str | None, str | None]] = {}
"""``trust_locations()`` by environment: looking costs ~0.15 ms (a directory read)."""


def _find_trust() -> tuple[str | None, str | None]:
    paths = ssl.get_default_verify_paths()
    cafile = paths.cafile if paths.cafile and os.path.isfile(paths.cafile) else None
    capath = None
    if paths.capath and os.path.isdir(paths.capath):
        with contextlib.suppress(OSError), os.scandir(paths.capath) as entries:
            if next(entries, None) is not None:
                capath = paths.capath
    if cafile is None and capath is None:
        import certifi

        return certifi.where(), None
    return cafile, capath


def keylog_path() -> str | None:
    """Where to log TLS secrets (NSS key log format): ``SSLKEYLOGFILE``, as ``ssl``, curl
    and browsers do; ``None`` when unset or when Python ignores the environment (-E)."""
    if sys.flags.ignore_environment:
        return None
    return _getenv("SSLKEYLOGFILE") or None


def _load_trust(ctx: ssl.SSLContext, opts: TLSOptions) -> None:
    if opts.ca is not None:
        ctx.load_verify_locations(cadata=b"".join(opts.ca))
        return
    if sys.platform == "win32":  # pragma: no cover - the Windows store has no paths
        ctx.load_default_certs(
            ssl.Purpose.CLIENT_AUTH if opts.server_side else ssl.Purpose.SERVER_AUTH
        )
    cafile, capath = trust_locations()
    ctx.load_verify_locations(cafile=cafile, capath=capath)


def _load_chain(ctx: ssl.SSLContext, opts: TLSOptions) -> None:
    """``load_cert_chain`` only reads files: use a private temp file, removed at once."""
    assert opts.key is not None and opts.cert is not None
    pem = b"".join(ssl.DER_cert_to_PEM_cert(der).encode("ascii") for der in opts.cert) + opts.key
    shm = "/dev/shm"
    directory = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
    fd, path = tempfile.mkstemp(prefix="unisock-", suffix=".pem", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        ctx.load_cert_chain(path)
    finally:
        os.unlink(path)


def _base(purpose: int, opts: TLSOptions) -> ssl.SSLContext:
    ctx = ssl.SSLContext(purpose)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    keylog = keylog_path()
    if keylog is not None:
        ctx.keylog_filename = keylog  # OpenSSL appends each connection's secrets
    if opts.alpn:
        ctx.set_alpn_protocols(list(opts.alpn))
    if opts.cert is not None:
        _load_chain(ctx, opts)
    return ctx


def _environment_key(opts: TLSOptions) -> bytes:
    """What of the environment shapes a context: the key log file, and the trust store
    when no ``ca`` replaces it."""
    parts: tuple[object, ...] = (keylog_path(),)
    if opts.ca is None and opts.verify and not opts.server_side:
        parts += trust_locations()
    return repr(parts).encode()


def _cached(opts: TLSOptions, build: Any) -> ssl.SSLContext:
    fp = opts.fingerprint + _environment_key(opts)
    ctx = _contexts.get(fp)
    if ctx is None:
        ctx = build(opts)
        with _contexts_lock:
            if len(_contexts) >= _MAX_CONTEXTS:
                _contexts.pop(next(iter(_contexts)))
            ctx = _contexts.setdefault(fp, ctx)
    return ctx


def _build_client(opts: TLSOptions) -> ssl.SSLContext:
    ctx = _base(ssl.PROTOCOL_TLS_CLIENT, opts)
    if opts.verify:
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
        _load_trust(ctx, opts)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _build_server(opts: TLSOptions) -> ssl.SSLContext:
    if opts.cert is None:
        raise ValueError("cert: a TLS server needs cert and key")
    ctx = _base(ssl.PROTOCOL_TLS_SERVER, opts)
    if opts.ca is not None and opts.verify:
        ctx.verify_mode = ssl.CERT_REQUIRED  # mutual TLS
        _load_trust(ctx, opts)
    return ctx


def client_context(opts: TLSOptions) -> ssl.SSLContext:
    """A cached client context: TLS 1.2+, verification on unless ``verify=False``."""
    if opts.server_side:
        raise ValueError("server_side: client_context() needs client options")
    if opts.context is not None:
        return opts.context
    return _cached(opts, _build_client)


def server_context(opts: TLSOptions) -> ssl.SSLContext:
    """A cached server context: TLS 1.2+, client certificates required when ``ca`` is set.

    With ``sni``, the context of those options (not shared: it carries their callback)."""
    if not opts.server_side:
        raise ValueError("server_side: server_context() needs server options")
    if opts.sni is not None:
        return opts.sni.base_context(opts)
    return _cached(opts, _build_server)


# -- certificates by server name (SNI) -----------------------------------------------------

logger = logging.getLogger("unisock")

_MAX_NAME = 253


def _sni_name(name: object) -> str:
    """A server name key: lower case; ``"*.example.com"`` matches one more label."""
    if not isinstance(name, str):
        raise TypeError(f"sni: each server name must be a str, got {name!r}")
    if not name or len(name) > _MAX_NAME or "\x00" in name or name != name.strip():
        raise ValueError(f"sni: {name!r} is not a server name (1 to 253 characters)")
    if "*" in name and (not name.startswith("*.") or "*" in name[2:] or len(name) < 3):
        raise ValueError(
            f"sni: {name!r}: a wildcard stands for the whole first label only ('*.example.com')"
        )
    if not name.isascii():  # clients send A-labels ("xn--bcher-kva.example")
        try:
            name = ".".join(
                label if label.isascii() else label.encode("idna").decode("ascii")
                for label in name.split(".")
            )
        except UnicodeError:
            raise ValueError(f"sni: {name!r} is not a valid internationalised name") from None
    return name.lower().rstrip(".")


def _entry(where: str, value: object, plain: TLSOptions) -> TLSOptions:
    """One ``{"cert": ..., "key": ...}`` or ``(cert, key)`` -> server options."""
    if isinstance(value, Mapping):
        unknown = sorted(str(k) for k in value if k not in ("cert", "key"))
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)} (cert and key only)")
        if "cert" not in value or "key" not in value:
            raise ValueError(f"{where}: needs both 'cert' and 'key'")
        cert, key = value["cert"], value["key"]
    elif isinstance(value, tuple) and len(value) == 2:
        cert, key = value
    else:
        raise TypeError(
            f"{where} must be {{'cert': ..., 'key': ...}} or a (cert, key) pair, got {value!r:.80}"
        )
    try:
        return TLSOptions.from_init(
            key=key, cert=cert, ca=plain.ca, verify=plain.verify, alpn=plain.alpn, server_side=True
        )
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{where}: {exc}") from None


class SNISelector:
    """Picks a server's certificate by the name its client sent, in OpenSSL's servername
    callback (``ssl.SSLContext.sni_callback``): exact names first, then ``*.`` wildcards,
    then the listener's own ``cert``/``key``.

    A mapping is read and checked when the listener is made (errors name the entry); a
    function is called on each handshake that sends a name, from inside the handshake, so
    it must not block.  A function that raises or returns something unusable fails that
    handshake only (``internal_error`` alert) and is logged to the ``"unisock"`` logger.
    """

    __slots__ = ("_base", "_certificates", "_contexts", "_function", "_lock", "_plain")

    def __init__(self, value: object, plain: TLSOptions) -> None:
        self._plain = plain  # the listener's ca, verify and alpn apply to every name
        self._function: Callable[[str], object] | None = None
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._certificates: weakref.WeakKeyDictionary[ssl.SSLContext, bytes] = (
            weakref.WeakKeyDictionary()
        )
        self._base: ssl.SSLContext | None = None
        self._lock = threading.Lock()
        if callable(value):
            self._function = value
            return
        if not isinstance(value, Mapping):
            raise TypeError(
                "sni must be a mapping {server name: {'cert': ..., 'key': ...}} or a "
                f"callable taking the server name, got {value!r:.80}"
            )
        for name, entry in value.items():
            key = _sni_name(name)
            options = _entry(f"sni[{name!r}]", entry, plain)
            context = _build_server(options)
            self._contexts[key] = context
            self._remember(context, options)

    def _remember(self, context: ssl.SSLContext, options: TLSOptions) -> None:
        assert options.cert is not None
        with self._lock:
            self._certificates[context] = options.cert[0]

    def base_context(self, opts: TLSOptions) -> ssl.SSLContext:
        """The context every handshake starts on (the default certificate), built once."""
        with self._lock:
            if self._base is None:
                base = _build_server(opts)
                base.sni_callback = self._callback
                self._base = base
            return self._base

    def certificate(self, context: ssl.SSLContext) -> bytes | None:
        """The leaf certificate (DER) of a context this selector switched to."""
        return self._certificates.get(context)

    def _lookup(self, name: str) -> ssl.SSLContext | None:
        name = name.lower().rstrip(".")
        if self._function is None:
            found = self._contexts.get(name)
            if found is None and "." in name:
                found = self._contexts.get("*." + name.split(".", 1)[1])
            return found
        chosen = self._function(name)
        if chosen is None:
            return None
        options = _entry(f"sni({name!r}) result", chosen, self._plain)
        context = _cached(options, _build_server)
        self._remember(context, options)
        return context

    def _callback(
        self, sslobj: ssl.SSLObject | ssl.SSLSocket, name: str | None, _ctx: ssl.SSLContext
    ) -> int | None:
        if name is None:
            return None  # no SNI: the default certificate
        try:
            context = self._lookup(name)
        except Exception as exc:
            logger.warning("TLS listener: the sni function failed for %r: %r", name, exc)
            return ssl.ALERT_DESCRIPTION_INTERNAL_ERROR
        if context is not None:
            sslobj.context = context
        return None


# -- session cache -------------------------------------------------------------------------

SessionKey = tuple[str, int, str | None, bytes]


class SessionCache:
    """A bounded LRU of client sessions by (host, port, servername, options fingerprint)."""

    def __init__(self, maxsize: int = 256) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[SessionKey, ssl.SSLSession] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(host: str, port: int, opts: TLSOptions) -> SessionKey:
        return (host, port, opts.servername, opts.fingerprint)

    def get(self, key: SessionKey) -> ssl.SSLSession | None:
        with self._lock:
            session = self._items.get(key)
            if session is not None:
                self._items.move_to_end(key)
            return session

    def put(self, key: SessionKey, session: ssl.SSLSession) -> None:
        with self._lock:
            self._items[key] = session
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def discard(self, key: SessionKey) -> None:
        with self._lock:
            self._items.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


session_cache = SessionCache()
"""The per-process cache that ``allow_pooling`` TLS clients resume from."""


# -- info ----------------------------------------------------------------------------------

_cipher_codes: dict[str, int] = {}


def _cipher_code(ctx: ssl.SSLContext, name: str) -> int | None:
    code = _cipher_codes.get(name)
    if code is None:
        for c in ctx.get_ciphers():
            _cipher_codes[c["name"]] = c["id"] & 0xFFFF
        code = _cipher_codes.get(name)
    return code


def tls_info(
    sslobj: ssl.SSLObject,
    opts: TLSOptions,
    observer: HandshakeObserver | None = None,
    *,
    with_session: bool = True,
) -> TLSFacts:
    """The TLS facts (API.md's TLSSocketInfo fields) of a finished handshake."""
    server = sslobj.server_side
    reused = sslobj.session_reused
    cipher = None
    raw = sslobj.cipher()
    if raw is not None:
        name, version, _bits = raw
        code = observer.cipher_code if observer is not None else None
        if code is None:
            code = _cipher_code(sslobj.context, name)
        standard = CIPHER_IANA.get(code) if code is not None else None
        if standard is None and name.startswith("TLS_"):
            standard = name
        cipher = CipherInfo(name, standard, sslobj.version() or version)
    peer = sslobj.getpeercert(binary_form=True)
    if server:
        servername = observer.servername if observer is not None else None
        verified = sslobj.context.verify_mode == ssl.CERT_REQUIRED
    else:
        servername = sslobj.server_hostname
        verified = opts.verify
    status = "ok" if verified and peer is not None else None
    own = None
    if opts.cert is not None:
        if server:
            served = opts.sni.certificate(sslobj.context) if opts.sni is not None else None
            own = served or opts.cert[0]
        elif observer is not None and observer.client_sent_certificate is not None:
            own = opts.cert[0] if observer.client_sent_certificate else None
        elif sslobj.version() == "TLSv1.3" and not reused:
            own = opts.cert[0]  # TLS 1.3 encrypts the CertificateRequest: configured leaf
    ephemeral = None
    ticket = None
    sigalgs = None
    if observer is not None:
        if observer.group is not None:
            ephemeral = EphemeralKeyInfo(*observer.group)
        ticket = observer.ticket
        sigalgs = observer.sigalgs
    return TLSFacts(
        alpn=sslobj.selected_alpn_protocol(),
        servername=servername,
        certificate=own,
        peer_certificate=peer,
        verification_status=status,
        cipher=cipher,
        ephemeral_key=ephemeral,
        signature_algorithms=sigalgs,
        session_reused=reused,
        # Fetching the session costs ~0.1 ms (OpenSSL copies it): callers that can look
        # it up later (the Socket's info does, on access) skip it here.
        session=None if server or not with_session else sslobj.session,
        ticket=ticket,
    )
