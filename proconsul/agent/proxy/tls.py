"""TLS for the mesh: contexts from the agent's leaf and roots, and peer identities.

Both sides present the leaf of the proxied service and verify the peer's chain
against the CA roots (any of them, so a rotation never splits the mesh); the
identity is the certificate's SPIFFE URI SAN, compared as Consul does: the
path must match, the trust domain comes from the verified chain.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
from dataclasses import dataclass
from typing import Any

from proconsul.structs.connect_ids import (
    InvalidCertURI,
    SpiffeIDService,
    parse_cert_uri,
)


class PeerIdentityError(Exception):
    """The peer's certificate does not name the identity expected of it."""


@dataclass(frozen=True)
class Leaf:
    """A service's certificate (with any intermediates) and key, as the agent serves them."""

    service: str
    cert_pem: str
    key_pem: str
    serial: str
    valid_before: str = ""

    @classmethod
    def from_agent(cls, body: dict[str, Any]) -> Leaf:
        return cls(service=body["Service"], cert_pem=body["CertPEM"],
                   key_pem=body["PrivateKeyPEM"], serial=body.get("SerialNumber", ""),
                   valid_before=body.get("ValidBefore", ""))


def roots_pems(body: dict[str, Any]) -> tuple[str, ...]:
    """Every root of ``/v1/agent/connect/ca/roots`` (active and rotated out)."""
    return tuple(root["RootCert"] for root in body.get("Roots") or () if root.get("RootCert"))


@dataclass(frozen=True)
class Contexts:
    """A server and a client context for one leaf and one set of roots."""

    server: ssl.SSLContext
    client: ssl.SSLContext


def build_contexts(leaf: Leaf, roots: tuple[str, ...]) -> Contexts:
    """SSL contexts presenting ``leaf`` and trusting ``roots``; client certs are required."""
    if not roots:
        raise ssl.SSLError("no CA roots to verify peers against")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.verify_mode = ssl.CERT_REQUIRED
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False  # the peer is checked by its SPIFFE ID, not a host name
    client.verify_mode = ssl.CERT_REQUIRED
    bundle = "".join(pem if pem.endswith("\n") else pem + "\n" for pem in roots)
    for context in (server, client):
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_verify_locations(cadata=bundle)
        _load_leaf(context, leaf)
    return Contexts(server, client)


def _load_leaf(context: ssl.SSLContext, leaf: Leaf) -> None:
    """``load_cert_chain`` reads only files: hand it an anonymous in-memory file (Linux),
    else a private temporary file removed at once, so the key never rests on disk."""
    data = (leaf.cert_pem.rstrip("\n") + "\n" + leaf.key_pem).encode()
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("proxy-leaf", os.MFD_CLOEXEC)
        try:
            os.write(fd, data)
            context.load_cert_chain(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        return
    fd, path = tempfile.mkstemp(prefix="proxy-leaf-")
    try:
        os.write(fd, data)
        os.close(fd)
        context.load_cert_chain(path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def peer_identity(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> tuple[SpiffeIDService, str, str]:
    """The verified peer's service identity, its URI and its certificate serial (hex)."""
    cert = ssl_object.getpeercert()
    if not cert:
        raise PeerIdentityError("peer presented no certificate")
    uris = [value for kind, value in cert.get("subjectAltName", ()) if kind == "URI"]
    if not uris:
        raise PeerIdentityError("peer certificate has no URI SAN")
    try:
        identity = parse_cert_uri(uris[0])
    except InvalidCertURI as err:
        raise PeerIdentityError(f"peer certificate URI {uris[0]!r}: {err}") from None
    if not isinstance(identity, SpiffeIDService):
        raise PeerIdentityError(f"peer certificate URI {uris[0]!r} is not a service identity")
    return identity, uris[0], _colon_hex(cert.get("serialNumber", ""))


def _colon_hex(serial: str) -> str:
    """The serial as Consul writes it (``0a:1b``), from OpenSSL's plain hex."""
    text = serial.lower().lstrip("0") or "0"
    if len(text) % 2:
        text = "0" + text
    return ":".join(text[i:i + 2] for i in range(0, len(text), 2))


def check_server_identity(got: SpiffeIDService, service: str, datacenter: str,
                          namespace: str = "default") -> None:
    """The upstream's certificate must name the destination service (any trust domain,
    as Consul ignores the host: the chain was verified against our roots)."""
    expected = SpiffeIDService(host=got.host, datacenter=datacenter or got.datacenter,
                               service=service, namespace=namespace)
    if got.uri().lower() != expected.uri().lower():
        raise PeerIdentityError(f"peer certificate is for {got.uri()}, "
                                f"expected {expected.uri()}")
