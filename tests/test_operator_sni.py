"""TLS listeners: certificates chosen by SNI (a mapping or a function) and swapped by
``listener.update()`` without a restart, connections in flight keeping theirs."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
from tests import rt
from tests.tls_util import Pki, make_pki, run_peer

import unisock
from unisock import errors
from unisock import testing as conformance
from unisock._base.options import SocketListenerInit

pytestmark = pytest.mark.trio  # every test that takes `run` runs on trio too


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


def material(leaf: trustme.LeafCert) -> dict[str, bytes]:
    return {"cert": leaf.cert_chain_pems[0].bytes(), "key": leaf.private_key_pem.bytes()}


def der(leaf: trustme.LeafCert) -> bytes:
    return ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())


async def served(
    listener: unisock.SocketListener, pki: Pki, name: str | None, verify: bool = True
) -> bytes:
    """The leaf certificate a client asking for ``name`` is given (verified for ``name``)."""
    assert listener.local is not None
    if name is None:  # no SNI: connect by IP, which ssl never sends as a server name
        client = unisock.Socket(type="tls", remote=listener.local, verify=False)
    else:
        client = unisock.Socket(
            type="tls", remote=listener.local, ca=pki.ca_pem, servername=name, verify=verify
        )
    info = await client.ready
    server = await listener.accept()
    async with conformance.settled(client, server):
        assert server.info.certificate == info.peer_certificate  # the server's own account
        assert server.info.servername == name
        assert info.peer_certificate is not None
        return info.peer_certificate


def test_mapping_picks_by_name(run: Any, pki: Pki) -> None:
    a = pki.ca.issue_cert("a.example")
    b = pki.ca.issue_cert("b.example")
    wild = pki.ca.issue_cert("*.wild.example")
    idn = pki.ca.issue_cert("xn--bcher-kva.example")

    async def main() -> None:
        sni = {
            "a.example": material(a),
            "B.Example": (b.cert_chain_pems[0].bytes(), b.private_key_pem.bytes()),
            "*.wild.example": material(wild),
            "bücher.example": material(idn),  # as the client sends it: an A-label
        }
        async with unisock.SocketListener(type="tls", **material(pki.server), sni=sni) as listener:
            assert await served(listener, pki, "a.example") == der(a)
            assert await served(listener, pki, "b.example") == der(b)  # keys ignore case
            assert await served(listener, pki, "x.wild.example") == der(wild)
            assert await served(listener, pki, "xn--bcher-kva.example") == der(idn)
            assert await served(listener, pki, "localhost") == der(pki.server)  # unknown: default
            assert await served(listener, pki, None) == der(pki.server)  # no SNI: default

    run(main)


def test_function_picks_by_name(run: Any, pki: Pki, caplog: pytest.LogCaptureFixture) -> None:
    a = pki.ca.issue_cert("a.example")
    asked: list[str] = []

    def pick(name: str) -> dict[str, bytes] | None:
        asked.append(name)
        if name == "broken.example":
            raise RuntimeError("the certificate store is down")
        if name == "garbage.example":
            return {"cert": b"not a certificate", "key": b"nor a key"}  # type: ignore[return-value]
        return material(a) if name == "a.example" else None

    async def main() -> None:
        async with unisock.SocketListener(type="tls", **material(pki.server), sni=pick) as listener:
            assert listener.local is not None
            assert await served(listener, pki, "a.example") == der(a)
            assert await served(listener, pki, "localhost") == der(pki.server)
            for name in ("broken.example", "garbage.example"):
                client = unisock.Socket(
                    type="tls", remote=listener.local, ca=pki.ca_pem, servername=name
                )
                with pytest.raises(errors.TLSError, match="internal error"):
                    await client.ready
            # the listener goes on
            assert await served(listener, pki, "a.example") == der(a)
        assert asked == ["a.example", "localhost", "broken.example", "garbage.example", "a.example"]

    with caplog.at_level(logging.WARNING, logger="unisock"):
        run(main)
    messages = [r.getMessage() for r in caplog.records]
    assert any("broken.example" in m and "certificate store is down" in m for m in messages)
    assert any("garbage.example" in m and "not a usable private key" in m for m in messages)


def test_openssl_s_client_sees_the_certificate_of_each_name(run: Any, pki: Pki) -> None:
    a = pki.ca.issue_cert("a.example")
    b = pki.ca.issue_cert("b.example")
    sni = {"a.example": material(a), "b.example": material(b)}

    async def main() -> None:
        async with unisock.SocketListener(type="tls", **material(pki.server), sni=sni) as listener:
            assert listener.local is not None
            accepting = rt.spawn(_serve_forever(listener))
            try:
                for name, leaf in (("a.example", a), ("b.example", b)):
                    rc, out, err = await run_peer(
                        [
                            "openssl",
                            "s_client",
                            "-connect",
                            f"127.0.0.1:{listener.local.port}",
                            "-servername",
                            name,
                            "-verify_hostname",
                            name,
                            "-CAfile",
                            str(pki.ca_pem),
                            "-verify_return_error",
                        ],
                        stdin=b"",
                    )
                    assert rc == 0, err.decode(errors="replace")
                    assert b"Verify return code: 0 (ok)" in out
                    assert leaf.cert_chain_pems[0].bytes().strip() in out
                    other = b if leaf is a else a
                    assert other.cert_chain_pems[0].bytes().strip() not in out
            finally:
                accepting.cancel()
                with contextlib.suppress(BaseException):
                    await accepting

    run(main)


async def _serve_forever(listener: unisock.SocketListener) -> None:
    async for event in listener:
        await event.socket.close()


def test_update_swaps_the_certificate_for_new_connections_only(run: Any, pki: Pki) -> None:
    renewed = pki.ca.issue_cert("localhost", "127.0.0.1")

    async def main() -> None:
        async with unisock.SocketListener(type="tls", **material(pki.server)) as listener:
            assert listener.local is not None
            before = unisock.Socket(
                type="tls", remote=listener.local, ca=pki.ca_pem, servername="localhost"
            )
            assert (await before.ready).peer_certificate == der(pki.server)
            before_server = await listener.accept()
            # In flight: accepted by the listener, handshake not started yet.
            raw = socket.create_connection((listener.local.address, listener.local.port))
            await rt.sleep(0.2)  # the listener accepts it (and sets up its TLS)
            await listener.update(**material(renewed))
            in_flight = unisock.Socket(type="tls", sock=raw, ca=pki.ca_pem, servername="localhost")
            after = unisock.Socket(
                type="tls", remote=listener.local, ca=pki.ca_pem, servername="localhost"
            )
            assert (await in_flight.ready).peer_certificate == der(pki.server)
            assert (await after.ready).peer_certificate == der(renewed)
            servers = [await listener.accept(), await listener.accept()]
            async with conformance.settled(before, before_server, in_flight, after, *servers):
                # the connection made before the update still works, on its old certificate
                await before.writable.get_writer().write(b"still here")
                got = await before_server.readable.get_reader().read()
                assert got.value == b"still here"
                assert before_server.info.certificate == der(pki.server)

    run(main)


def test_update_of_sni_and_refusals(run: Any, pki: Pki, tmp_path: Path) -> None:
    a = pki.ca.issue_cert("a.example")
    a2 = pki.ca.issue_cert("a.example")
    other_ca = trustme.CA().issue_cert("localhost")

    async def main() -> None:
        async with unisock.SocketListener(
            type="tls", **material(pki.server), sni={"a.example": material(a)}
        ) as listener:
            await listener.update(sni={"a.example": material(a2)})
            assert await served(listener, pki, "a.example") == der(a2)
            await listener.update(sni=None)
            assert await served(listener, pki, "a.example", verify=False) == der(pki.server)
            # a refused update changes nothing
            with pytest.raises(ValueError, match="key: does not match"):
                await listener.update(cert=other_ca.cert_chain_pems[0].bytes())
            with pytest.raises(
                ValueError, match=r"sni\['b.example'\]: needs both 'cert' and 'key'"
            ):
                await listener.update(sni={"b.example": {"cert": b"x"}})
            with pytest.raises(ValueError, match="cannot read"):
                await listener.update(cert=tmp_path / "missing.pem", key=tmp_path / "missing.pem")
            with pytest.raises(TypeError, match="cannot change backlog"):
                await listener.update(backlog=3)  # type: ignore[call-arg]
            assert await served(listener, pki, "localhost") == der(pki.server)
            # a path is read at update time: a renewed file on disk is taken by update()
            path = tmp_path / "renewed.pem"
            renewed = pki.ca.issue_cert("localhost", "127.0.0.1")
            renewed.private_key_and_cert_chain_pem.write_to_path(str(path))
            await listener.update(cert=path, key=path)
            assert await served(listener, pki, "localhost") == der(renewed)
        with pytest.raises(errors.InvalidStateError):
            await listener.update(**material(a))

    run(main)


def test_update_refused_on_other_listeners(run: Any, pki: Pki) -> None:
    async def main() -> None:
        async with unisock.SocketListener() as tcp:
            with pytest.raises(ValueError, match="cert needs a 'tls' listener, not 'tcp'"):
                await tcp.update(**material(pki.server))
            with pytest.raises(ValueError, match="multicast_ttl needs a 'udp' listener, not 'tcp'"):
                await tcp.update(multicast_ttl=2)
        async with unisock.SocketListener(type="quic", alpn="h3", **material(pki.server)) as quic:
            with pytest.raises(ValueError, match="a QUIC listener keeps its certificate"):
                await quic.update(**material(pki.server))

    run(main)


def test_bad_sni_values_name_the_field(pki: Pki) -> None:
    base = {"type": "tls", **material(pki.server)}

    def refuses(kind: type[Exception], match: str, sni: Any, **extra: Any) -> None:
        with pytest.raises(kind, match=match):
            opts = SocketListenerInit.parse(None, {**base, "sni": sni, **extra})
            from unisock._api.tls import server_options

            server_options(opts.socket_options)

    refuses(TypeError, r"sni must be a mapping .* got \['a'\]", ["a"])
    refuses(
        ValueError, "sni needs a 'tls' listener, not 'tcp'", {}, type="tcp", cert=None, key=None
    )
    refuses(TypeError, "sni: each server name must be a str, got 5", {5: material(pki.server)})
    refuses(ValueError, r"sni: 'a\.\*\.example': a wildcard", {"a.*.example": material(pki.server)})
    refuses(
        ValueError,
        r"sni\['a.example'\]: unknown key\(s\) ca",
        {"a.example": {**material(pki.server), "ca": b""}},
    )
    refuses(TypeError, r"sni\['a.example'\] must be", {"a.example": "cert.pem"})
    refuses(
        ValueError,
        r"sni\['a.example'\]: key: not a usable private key",
        {"a.example": {"cert": material(pki.server)["cert"], "key": b"junk"}},
    )
