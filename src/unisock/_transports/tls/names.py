"""IANA names for what the TLS wire carries, and a reader of the handshake's plaintext part.

Why: Python's ``ssl`` tells the negotiated cipher only by its OpenSSL name, and nothing of the
key exchange group, the offered signature algorithms, the SNI a server received or a TLS 1.2
ticket.  The transport owns both memory BIOs, so it sees every record; the messages that are
sent in the clear (ClientHello, ServerHello, and in TLS 1.2 also ServerKeyExchange,
CertificateRequest, Certificate and NewSessionTicket) tell those facts without any private
hook into OpenSSL.  Observation stops at each direction's first encrypted record, so bulk data
never passes through here.
"""

from __future__ import annotations

import struct

__all__ = ["CIPHER_IANA", "GROUPS", "SIGALGS", "HandshakeObserver", "sigalg_name"]

# TLS cipher suite code point -> IANA name (every suite OpenSSL 3 can negotiate with a
# certificate; the PSK, SRP, anonymous and NULL suites are left out).
CIPHER_IANA: dict[int, str] = {
    0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
    0x0032: "TLS_DHE_DSS_WITH_AES_128_CBC_SHA",
    0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
    0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x0038: "TLS_DHE_DSS_WITH_AES_256_CBC_SHA",
    0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
    0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256",
    0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256",
    0x0040: "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256",
    0x0041: "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA",
    0x0044: "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA",
    0x0045: "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA",
    0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
    0x006A: "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256",
    0x006B: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
    0x0084: "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA",
    0x0087: "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA",
    0x0088: "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA",
    0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
    0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
    0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    0x00A2: "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256",
    0x00A3: "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384",
    0x00BA: "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA256",
    0x00BD: "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA256",
    0x00BE: "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA256",
    0x00C0: "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA256",
    0x00C3: "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA256",
    0x00C4: "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256",
    0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xC050: "TLS_RSA_WITH_ARIA_128_GCM_SHA256",
    0xC051: "TLS_RSA_WITH_ARIA_256_GCM_SHA384",
    0xC052: "TLS_DHE_RSA_WITH_ARIA_128_GCM_SHA256",
    0xC053: "TLS_DHE_RSA_WITH_ARIA_256_GCM_SHA384",
    0xC056: "TLS_DHE_DSS_WITH_ARIA_128_GCM_SHA256",
    0xC057: "TLS_DHE_DSS_WITH_ARIA_256_GCM_SHA384",
    0xC05C: "TLS_ECDHE_ECDSA_WITH_ARIA_128_GCM_SHA256",
    0xC05D: "TLS_ECDHE_ECDSA_WITH_ARIA_256_GCM_SHA384",
    0xC060: "TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256",
    0xC061: "TLS_ECDHE_RSA_WITH_ARIA_256_GCM_SHA384",
    0xC072: "TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_CBC_SHA256",
    0xC073: "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_CBC_SHA384",
    0xC076: "TLS_ECDHE_RSA_WITH_CAMELLIA_128_CBC_SHA256",
    0xC077: "TLS_ECDHE_RSA_WITH_CAMELLIA_256_CBC_SHA384",
    0xC09C: "TLS_RSA_WITH_AES_128_CCM",
    0xC09D: "TLS_RSA_WITH_AES_256_CCM",
    0xC09E: "TLS_DHE_RSA_WITH_AES_128_CCM",
    0xC09F: "TLS_DHE_RSA_WITH_AES_256_CCM",
    0xC0A0: "TLS_RSA_WITH_AES_128_CCM_8",
    0xC0A1: "TLS_RSA_WITH_AES_256_CCM_8",
    0xC0A2: "TLS_DHE_RSA_WITH_AES_128_CCM_8",
    0xC0A3: "TLS_DHE_RSA_WITH_AES_256_CCM_8",
    0xC0AC: "TLS_ECDHE_ECDSA_WITH_AES_128_CCM",
    0xC0AD: "TLS_ECDHE_ECDSA_WITH_AES_256_CCM",
    0xC0AE: "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8",
    0xC0AF: "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCAA: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
}

# SignatureScheme code point -> IANA name (RFC 8446 section 4.2.3 and its registry).
SIGALGS: dict[int, str] = {
    0x0201: "rsa_pkcs1_sha1",
    0x0203: "ecdsa_sha1",
    0x0401: "rsa_pkcs1_sha256",
    0x0501: "rsa_pkcs1_sha384",
    0x0601: "rsa_pkcs1_sha512",
    0x0403: "ecdsa_secp256r1_sha256",
    0x0503: "ecdsa_secp384r1_sha384",
    0x0603: "ecdsa_secp521r1_sha512",
    0x0804: "rsa_pss_rsae_sha256",
    0x0805: "rsa_pss_rsae_sha384",
    0x0806: "rsa_pss_rsae_sha512",
    0x0807: "ed25519",
    0x0808: "ed448",
    0x0809: "rsa_pss_pss_sha256",
    0x080A: "rsa_pss_pss_sha384",
    0x080B: "rsa_pss_pss_sha512",
    0x081A: "ecdsa_brainpoolP256r1tls13_sha256",
    0x081B: "ecdsa_brainpoolP384r1tls13_sha384",
    0x081C: "ecdsa_brainpoolP512r1tls13_sha512",
}

# TLS 1.2 (hash, signature) pairs outside the registry above, named as "hash+signature".
_HASHES = {1: "md5", 2: "sha1", 3: "sha224", 4: "sha256", 5: "sha384", 6: "sha512"}
_SIGS = {1: "rsa", 2: "dsa", 3: "ecdsa"}

# NamedGroup code point -> (type, name, size in bits), spelled as OpenSSL and Node.js do;
# the IANA TLS Supported Groups registry as of 2025.  ``type`` is "ECDH", "DH", or "KEM"
# for ML-KEM alone or hybrid with an elliptic curve.
GROUPS: dict[int, tuple[str, str, int]] = {
    0x0017: ("ECDH", "prime256v1", 256),
    0x0018: ("ECDH", "secp384r1", 384),
    0x0019: ("ECDH", "secp521r1", 521),
    0x001A: ("ECDH", "brainpoolP256r1", 256),
    0x001B: ("ECDH", "brainpoolP384r1", 384),
    0x001C: ("ECDH", "brainpoolP512r1", 512),
    0x001D: ("ECDH", "X25519", 253),
    0x001E: ("ECDH", "X448", 448),
    0x0100: ("DH", "ffdhe2048", 2048),
    0x0101: ("DH", "ffdhe3072", 3072),
    0x0102: ("DH", "ffdhe4096", 4096),
    0x0103: ("DH", "ffdhe6144", 6144),
    0x0104: ("DH", "ffdhe8192", 8192),
    # RFC 8734 brainpool curves for TLS 1.3
    0x001F: ("ECDH", "brainpoolP256r1tls13", 256),
    0x0020: ("ECDH", "brainpoolP384r1tls13", 384),
    0x0021: ("ECDH", "brainpoolP512r1tls13", 512),
    # RFC 9189 GOST curves
    0x0022: ("ECDH", "GC256A", 256),
    0x0023: ("ECDH", "GC256B", 256),
    0x0024: ("ECDH", "GC256C", 256),
    0x0025: ("ECDH", "GC256D", 256),
    0x0026: ("ECDH", "GC512A", 512),
    0x0027: ("ECDH", "GC512B", 512),
    0x0028: ("ECDH", "GC512C", 512),
    # RFC 8998 SM2
    0x0029: ("ECDH", "curveSM2", 256),
    # ML-KEM (FIPS 203), alone and in the hybrids OpenSSL 3.5+ offers by default
    # (X25519MLKEM768 first).  The size is the ML-KEM parameter set.
    0x0200: ("KEM", "MLKEM512", 512),
    0x0201: ("KEM", "MLKEM768", 768),
    0x0202: ("KEM", "MLKEM1024", 1024),
    0x11EB: ("KEM", "SecP256r1MLKEM768", 768),
    0x11EC: ("KEM", "X25519MLKEM768", 768),
    0x11ED: ("KEM", "SecP384r1MLKEM1024", 1024),
    # The pre-standard hybrid that browsers offered in 2024
    0x6399: ("KEM", "X25519Kyber768Draft00", 768),
}


def sigalg_name(code: int) -> str:
    """The IANA name of a SignatureScheme, else "hash+signature", else its hex code point."""
    name = SIGALGS.get(code)
    if name is not None:
        return name
    h, s = _HASHES.get(code >> 8), _SIGS.get(code & 0xFF)
    return f"{h}+{s}" if h and s else f"0x{code:04x}"


_HANDSHAKE = 22
_CHANGE_CIPHER_SPEC = 20
_ALERT = 21
# Handshake bytes held per direction while a message is incomplete.  A message header may
# claim up to 16 MiB; OpenSSL refuses a certificate list over 100 KiB, so a real handshake
# message fits well below this, and a peer that lies about a length costs at most this
# (plus one 64 KiB record in ``raw``) before the observer stops watching.
_MAX_BUFFERED = 256 * 1024


class _Direction:
    """Reassembles records, then handshake messages, of one direction until it is encrypted."""

    __slots__ = ("done", "handshake", "raw")

    def __init__(self) -> None:
        self.raw = bytearray()
        self.handshake = bytearray()
        self.done = False

    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[int, bytes]]:
        """Return the complete plaintext handshake messages (type, body) that ``data`` ends."""
        raw = self.raw
        raw += data
        size = len(raw)
        handshake = self.handshake
        pos = 0
        while size - pos >= 5:
            end = pos + 5 + ((raw[pos + 3] << 8) | raw[pos + 4])
            if end > size:
                break
            ctype = raw[pos]
            if ctype == _HANDSHAKE:
                handshake += raw[pos + 5 : end]
                if len(handshake) > _MAX_BUFFERED:
                    # Not a handshake OpenSSL would finish: stop watching, drop it all.
                    self.done = True
                    self.raw = bytearray()
                    self.handshake = bytearray()
                    return []
            elif ctype != _ALERT:
                # ChangeCipherSpec or application data: the rest of this direction is
                # encrypted (TLS 1.3 sends its handshake as application-data records).
                self.done = True
                self.raw = bytearray()
                return self.messages()
            pos = end
        del raw[:pos]
        return self.messages() if handshake else []

    def feed_messages(self, data: bytes | bytearray | memoryview) -> list[tuple[int, bytes]]:
        """Like ``feed``, for handshake messages without the record layer (QUIC CRYPTO)."""
        self.handshake += data
        messages = self.messages()
        if len(self.handshake) > _MAX_BUFFERED:
            self.done = True
            self.handshake = bytearray()
        return messages

    def messages(self) -> list[tuple[int, bytes]]:
        messages: list[tuple[int, bytes]] = []
        hs = self.handshake
        hpos = 0
        while len(hs) - hpos >= 4:
            mlen = (hs[hpos + 1] << 16) | (hs[hpos + 2] << 8) | hs[hpos + 3]
            if len(hs) - hpos < 4 + mlen:
                break
            messages.append((hs[hpos], bytes(hs[hpos + 4 : hpos + 4 + mlen])))
            hpos += 4 + mlen
        del hs[:hpos]
        return messages


class _Reader:
    """Bounds-checked big-endian reads over one handshake message body."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("short handshake message")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def vector(self, len_bytes: int) -> bytes:
        return self.take(self.uint(len_bytes))


_EXT_HEADER = struct.Struct(">HH").unpack_from


def _past_session_id(body: bytes) -> int:
    """Where a hello's fields after legacy_version, random and the session id start (at
    least two bytes of them must be there)."""
    if len(body) < 35:
        raise ValueError("short handshake message")
    pos = 35 + body[34]
    if pos + 2 > len(body):
        raise ValueError("short handshake message")
    return pos


def _extensions(data: bytes, pos: int, wanted: frozenset[int]) -> dict[int, bytes]:
    """The ``wanted`` extensions of the block that ends a hello, by type.

    Index arithmetic rather than ``_Reader`` calls: a ClientHello carries a dozen or more
    extensions and is read on every handshake, by both ends.  The others are walked over,
    never copied, and the walk stops once every wanted type was found (a hello that
    repeats a type, or is malformed past that point, is refused by OpenSSL anyway).
    """
    out: dict[int, bytes] = {}
    size = len(data)
    if pos >= size:
        return out
    if pos + 2 > size:
        raise ValueError("short handshake message")
    end = pos + 2 + ((data[pos] << 8) | data[pos + 1])
    if end > size:
        raise ValueError("short handshake message")
    pos += 2
    header = _EXT_HEADER
    left = len(wanted)
    while pos < end:
        if pos + 4 > end:
            raise ValueError("short handshake message")
        etype, length = header(data, pos)
        pos += 4 + length
        if etype in wanted:
            if pos > end:
                break
            out[etype] = data[pos - length : pos]
            left -= 1
            if not left:
                return out
    if pos > end:
        raise ValueError("short handshake message")
    return out


_CLIENT_HELLO_EXTENSIONS = frozenset((0, 13))  # server_name, signature_algorithms
_SERVER_HELLO_EXTENSIONS = frozenset((51,))  # key_share


_SIGALG_LISTS: dict[bytes, tuple[str, ...]] = {}
"""Names of the ``signature_algorithms`` extensions seen lately, by their bytes: a client
sends the same list on every connection, so each handshake's is named once, not per
entry (about 40 lookups on each end).  Bounded in entries and in the size of each."""
_SIGALG_LISTS_MAX = 64
_SIGALG_LIST_BYTES = 512


def _sigalgs(ext: bytes) -> tuple[str, ...]:
    """The schemes a ``signature_algorithms`` extension offers, named, in its order."""
    found = _SIGALG_LISTS.get(ext)
    if found is None:
        algs = _Reader(ext).vector(2)
        found = tuple(
            sigalg_name((algs[i] << 8) | algs[i + 1]) for i in range(0, len(algs) - 1, 2)
        )
        if len(ext) <= _SIGALG_LIST_BYTES:
            if len(_SIGALG_LISTS) >= _SIGALG_LISTS_MAX:
                _SIGALG_LISTS.clear()
            _SIGALG_LISTS[ext] = found
    return found


class HandshakeObserver:
    """Collects the facts the plaintext handshake reveals, from both directions of one side.

    ``feed(data, outgoing=...)`` is called with the raw TLS bytes the transport reads from the
    network or writes to it, during the handshake only.  Malformed input is ignored: OpenSSL
    is the judge of validity, this is only a witness.
    """

    __slots__ = (
        "_client",
        "_server",
        "_server_side",
        "cipher_code",
        "client_cert_requested",
        "client_sent_certificate",
        "group",
        "servername",
        "sigalgs",
        "ticket",
    )

    def __init__(self, server_side: bool) -> None:
        self._server_side = server_side
        self._client = _Direction()  # what the client sends
        self._server = _Direction()  # what the server sends
        self.servername: str | None = None
        self.sigalgs: tuple[str, ...] | None = None
        self.cipher_code: int | None = None
        self.group: tuple[str, str | None, int] | None = None
        self.ticket: bytes | None = None
        self.client_cert_requested = False
        self.client_sent_certificate: bool | None = None

    def feed(self, data: bytes | bytearray | memoryview, outgoing: bool) -> None:
        from_client = outgoing != self._server_side
        direction = self._client if from_client else self._server
        if direction.done:
            return
        try:
            for mtype, body in direction.feed(data):
                self._message(mtype, body, from_client)
        except (ValueError, IndexError):
            direction.done = True

    def feed_messages(self, data: bytes | bytearray | memoryview, outgoing: bool) -> None:
        """Handshake messages with no record layer around them, as QUIC carries them.

        Only the hellos are read: a direction is done once its hello has been seen.
        """
        from_client = outgoing != self._server_side
        direction = self._client if from_client else self._server
        if direction.done or not data:
            return
        try:
            for mtype, body in direction.feed_messages(data):
                self._message(mtype, body, from_client)
                if mtype in (1, 2):
                    direction.done = True
                    direction.handshake = bytearray()
                    break
        except (ValueError, IndexError):
            direction.done = True

    @property
    def hellos_seen(self) -> bool:
        """Both directions are done (no more facts to read)."""
        return self._client.done and self._server.done

    def _message(self, mtype: int, body: bytes, from_client: bool) -> None:
        if from_client and mtype == 1:  # ClientHello
            # then two more vectors: suites, compression
            size = len(body)
            pos = _past_session_id(body)
            pos += 2 + ((body[pos] << 8) | body[pos + 1])
            if pos >= size:
                raise ValueError("short handshake message")
            pos += 1 + body[pos]
            if pos > size:
                raise ValueError("short handshake message")
            ext = _extensions(body, pos, _CLIENT_HELLO_EXTENSIONS)
            if 0 in ext:
                names = _Reader(ext[0])
                names = _Reader(names.vector(2))
                if names.uint(1) == 0:
                    self.servername = names.vector(2).decode("ascii", "replace")
            if 13 in ext:
                self.sigalgs = _sigalgs(ext[13])
            return
        if not from_client and mtype == 2:  # ServerHello (or HelloRetryRequest)
            # then the suite and the compression
            size = len(body)
            pos = _past_session_id(body)
            self.cipher_code = (body[pos] << 8) | body[pos + 1]
            if pos + 3 > size:
                raise ValueError("short handshake message")
            ext = _extensions(body, pos + 3, _SERVER_HELLO_EXTENSIONS)
            if 51 in ext:  # key_share: the group the key exchange really used
                self._set_group(_Reader(ext[51]).uint(2))
            return
        r = _Reader(body)
        if not from_client and mtype == 12:  # TLS 1.2 ServerKeyExchange
            name = CIPHER_IANA.get(self.cipher_code or 0, "")
            if "_ECDHE_" in name and r.uint(1) == 3:
                self._set_group(r.uint(2))
            elif "_DHE_" in name:
                prime = r.vector(2).lstrip(b"\0")
                self.group = ("DH", None, len(prime) * 8 - (8 - prime[0].bit_length()))
        elif not from_client and mtype == 13:  # TLS 1.2 CertificateRequest
            self.client_cert_requested = True
        elif from_client and mtype == 11:  # TLS 1.2 client Certificate
            self.client_sent_certificate = len(body) > 3
        elif not from_client and mtype == 4:  # TLS 1.2 NewSessionTicket
            r.take(4)
            self.ticket = r.vector(2) or None

    def _set_group(self, code: int) -> None:
        known = GROUPS.get(code)
        self.group = known if known is not None else ("unknown", f"0x{code:04x}", 0)
