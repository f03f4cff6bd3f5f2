"""A server's peering certificate on the gRPC TLS port: its Connect leaf for
``server.<dc>.peering.<trust-domain>`` to peering dialers, the configured certificate to
everyone else, a new leaf after a CA root rotation."""

from __future__ import annotations

import json
import socket
import ssl
import tempfile
from pathlib import Path

import pytest
from cryptography import x509

from tests.support.agent_process import free_port, next_loopback, start_agent, wait_until
from tests.support.certs import write_test_pki


def served_certificate(host: str, port: int, server_name: str, roots: str) -> x509.Certificate:
    """The certificate a TLS handshake with SNI ``server_name`` verifies against ``roots``."""
    context = ssl.create_default_context(cadata=roots)
    context.set_alpn_protocols(["h2"])
    with socket.create_connection((host, port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=server_name) as tls:
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def peering_certificate(agent, port: int, roots: dict) -> x509.Certificate | None:
    """The peering leaf, once the server serves one signed under the active root."""
    pems = "".join(r["RootCert"] for r in roots["Roots"])
    name = f"server.dc1.peering.{roots['TrustDomain']}"
    try:
        cert = served_certificate(agent.host, port, name, pems)
    except ssl.SSLError:  # the placeholder or a leaf of the old root, not verified yet
        return None
    active = next(r for r in roots["Roots"] if r["ID"] == roots["ActiveRootID"])
    issuer = x509.load_pem_x509_certificate(
        (active.get("IntermediateCerts") or [active["RootCert"]])[-1].encode())
    return cert if cert.issuer == issuer.subject else None


def sans(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (san.get_values_for_type(x509.UniformResourceIdentifier),
            san.get_values_for_type(x509.DNSName))


@pytest.mark.parametrize("configured", [True, False], ids=["with-tls-grpc", "auto-only"])
def test_peering_certificate_on_the_grpc_tls_port(tmp_path: Path, configured: bool):
    host = next_loopback()
    port = free_port(host)
    config: dict = {"ports": {"grpc_tls": port}}
    if configured:
        pki = write_test_pki(tmp_path, "server.dc1.consul", (host,))
        config["tls"] = {"grpc": {"cert_file": str(pki / "server.pem"),
                                  "key_file": str(pki / "server.pem")}}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(config, file)
    agent = start_agent("-config-file", file.name, host=host)
    try:
        roots = wait_until(lambda: agent.get("/v1/connect/ca/roots").json()["Roots"] and
                           agent.get("/v1/connect/ca/roots").json(), what="CA roots")
        cert = wait_until(lambda: peering_certificate(agent, port, roots),
                          what="the peering certificate")
        uris, names = sans(cert)
        assert uris == [f"spiffe://{roots['TrustDomain']}/agent/server/dc/dc1"]
        assert names == [f"server.dc1.peering.{roots['TrustDomain']}"]
        if configured:  # other names still get the configured certificate
            other = served_certificate(host, port, "server.dc1.consul",
                                       (pki / "ca.pem").read_text())
            assert sans(other)[1] == ["server.dc1.consul"]
        reply = agent.put("/v1/connect/ca/configuration", {
            "Provider": "consul", "Config": {"PrivateKeyType": "ec", "PrivateKeyBits": 384}})
        assert reply.status == 200, reply.text
        rotated = agent.get("/v1/connect/ca/roots").json()
        assert rotated["ActiveRootID"] != roots["ActiveRootID"]
        renewed = wait_until(lambda: peering_certificate(agent, port, rotated),
                             what="a peering certificate of the new root")
        assert renewed.serial_number != cert.serial_number
        assert sans(renewed) == (uris, names)
    finally:
        agent.stop()
