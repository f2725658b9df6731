"""Keys and certificates in any accepted form, as PEM bytes (what QUIC's TLS stack loads).

The forms and their validation are ``_tls_config``'s; this only re-encodes its result.
"""

from __future__ import annotations

import ssl

from .config import _normalise_certs, _normalise_key


def to_pem(value: object, field: str) -> bytes:
    """``key`` -> PKCS#8 PEM; ``cert``/``ca`` (one or a list) -> concatenated PEM certificates."""
    if field == "key":
        return _normalise_key(value)
    ders = _normalise_certs(field, value)
    return "".join(ssl.DER_cert_to_PEM_cert(der) for der in ders).encode("ascii")
