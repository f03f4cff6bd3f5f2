"""The Connect CA across datacenters, each in its own network namespace: dc2's leader has
its intermediate signed by dc1 (ConnectCA.SignIntermediate over the WAN), shows dc1's
roots and trust domain, issues leaves that verify against dc1's roots, and after a root
rotation in dc1 (asked for in dc2, forwarded to the primary) gets an intermediate from
the new root while leaves issued before stay trusted."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature

from tests.integration.test_multidc import ok
from tests.support.agent_process import AgentProcess, wait_until
from tests.support.datacenters import network, start_datacenters

CONNECT = ("-hcl", "connect { enabled = true }")


@pytest.fixture
def lab():
    with network(["dc1", "dc2"]) as lab:
        yield lab


def roots(agent: AgentProcess) -> dict:
    return ok(agent.get("/v1/connect/ca/roots")).json()


def certs(pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode())


def root_cert(body: dict, root_id: str) -> x509.Certificate:
    return certs(next(r["RootCert"] for r in body["Roots"] if r["ID"] == root_id))[0]


def leaf(agent: AgentProcess, service: str, index: int = 0) -> tuple[int, str]:
    reply = ok(agent.get(f"/v1/agent/connect/ca/leaf/{service}?index={index}&wait=10s",
                         timeout=30))
    return reply.index, reply.json()["CertPEM"]


def test_dc2_leaves_verify_against_dc1_roots_through_a_rotation(lab):
    servers = start_datacenters(lab, {"dc1": 1, "dc2": 1}, extra=CONNECT).servers
    dc1, dc2 = servers["dc1"][0], servers["dc2"][0]
    wait_until(lambda: roots(dc1)["ActiveRootID"], 30, "dc1's CA")
    wait_until(lambda: roots(dc2)["ActiveRootID"] == roots(dc1)["ActiveRootID"], 30,
               "dc2 following dc1's roots")
    first1, first2 = roots(dc1), roots(dc2)
    assert first2["TrustDomain"] == first1["TrustDomain"]
    assert [r["RootCert"] for r in first2["Roots"]] == [r["RootCert"] for r in first1["Roots"]]

    # A leaf issued in dc2: leaf -> dc2's intermediate -> dc1's root.
    dc1_root = root_cert(first1, first1["ActiveRootID"])
    index, pem = leaf(dc2, "web")
    old_chain = certs(pem)
    old_chain[0].verify_directly_issued_by(old_chain[-1])
    old_chain[-1].verify_directly_issued_by(dc1_root)
    with pytest.raises((ValueError, InvalidSignature)):
        old_chain[0].verify_directly_issued_by(dc1_root)  # dc1 did not sign it itself
    uri = old_chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert uri.get_values_for_type(x509.UniformResourceIdentifier) == [
        f"spiffe://{first1['TrustDomain']}/ns/default/dc/dc2/svc/web"]

    # Rotate dc1's root, asking dc2 (CA configuration is written in the primary).
    ok(dc2.put("/v1/connect/ca/configuration", {
        "Provider": "consul", "Config": {"PrivateKeyType": "ec", "PrivateKeyBits": 384}}))
    rotated = roots(dc1)
    assert rotated["ActiveRootID"] != first1["ActiveRootID"]
    wait_until(lambda: roots(dc2)["ActiveRootID"] == rotated["ActiveRootID"], 30,
               "dc2 taking dc1's new root")
    assert sorted(r["ID"] for r in roots(dc2)["Roots"]) == \
        sorted(r["ID"] for r in rotated["Roots"])
    new_root = root_cert(rotated, rotated["ActiveRootID"])

    # The agent's leaf is re-issued for the new roots; it chains to dc1's new root
    # through dc2's new intermediate, with dc1's cross-signed root for old-root peers.
    _, pem = leaf(dc2, "web", index)
    chain = certs(pem)
    assert chain[0].serial_number != old_chain[0].serial_number
    chain[0].verify_directly_issued_by(chain[-1])
    chain[-1].verify_directly_issued_by(new_root)
    assert len(chain) == 3
    chain[1].verify_directly_issued_by(dc1_root)
    # The leaf issued before the rotation still chains to a root dc2 trusts.
    trusted = {r["ID"] for r in roots(dc2)["Roots"]}
    assert first1["ActiveRootID"] in trusted
    old_chain[-1].verify_directly_issued_by(root_cert(roots(dc2), first1["ActiveRootID"]))

    status = ok(dc2.get("/v1/operator/federation")).json()
    local = next(d for d in status["Datacenters"] if d["Local"])
    following = local["Replication"]["connect-ca-roots"]
    assert following["Running"] and following["LastIndex"] > 0 and not following["LastError"]
