"""The Connect CA through real agents: roots, leaves made on the agent, rotation with
cross-signing, the configuration API, errors, and a durable server's restart."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from pathlib import Path

import pytest
from cryptography import x509

from tests.support.agent_process import ServerSpec, start_agent, start_server, wait_until

SPIFFE_SVC = "spiffe://{td}/ns/default/dc/dc1/svc/{svc}"


def openssl_verify(tmp_path: Path, roots_pem: str, leaf_pem: str, name: str) -> str:
    """``openssl verify`` of the leaf (its first certificate, its chain untrusted)."""
    roots = tmp_path / f"{name}-roots.pem"
    leaf = tmp_path / f"{name}-leaf.pem"
    roots.write_text(roots_pem)
    certs = leaf_pem.split("-----END CERTIFICATE-----\n")
    leaf.write_text(certs[0] + "-----END CERTIFICATE-----\n")
    args = ["openssl", "verify", "-CAfile", str(roots)]
    if len([c for c in certs if c.strip()]) > 1:
        chain = tmp_path / f"{name}-chain.pem"
        chain.write_text("-----END CERTIFICATE-----\n".join(certs[1:]))
        args += ["-untrusted", str(chain)]
    done = subprocess.run([*args, str(leaf)], capture_output=True, text=True, check=False)
    return done.stdout.strip() + done.stderr.strip()


def leaf_of(agent, service: str, query: str = "", timeout: float = 30):
    reply = agent.get(f"/v1/agent/connect/ca/leaf/{service}{query}", timeout=timeout)
    assert reply.status == 200, reply.text
    return reply


@pytest.fixture(scope="module")
def ca_agent():
    process = start_agent()
    yield process
    process.stop()


def test_dev_leaf_verifies_against_the_roots_bundle(ca_agent, tmp_path):
    roots = wait_until(lambda: (r := ca_agent.get("/v1/connect/ca/roots")).status == 200
                       and r.json()["Roots"] and r, what="CA roots")
    body = roots.json()
    [root] = body["Roots"]
    assert body["ActiveRootID"] == root["ID"] and root["Active"] is True
    assert body["TrustDomain"] == f"{root['ExternalTrustDomain']}.consul"
    assert "SigningKey" not in root and "SigningCert" not in root
    assert root["PrivateKeyType"] == "ec" and root["PrivateKeyBits"] == 256
    pem = ca_agent.get("/v1/connect/ca/roots?pem=true")
    assert pem.headers["Content-Type"] == "application/pem-certificate-chain"
    assert pem.text == root["RootCert"]

    reply = leaf_of(ca_agent, "web")
    leaf = reply.json()
    assert reply.headers["X-Cache"] == "MISS" and reply.index == leaf["ModifyIndex"]
    uri = SPIFFE_SVC.format(td=body["TrustDomain"], svc="web")
    assert leaf["Service"] == "web" and leaf["ServiceURI"] == uri
    assert "PRIVATE KEY" in leaf["PrivateKeyPEM"]
    assert openssl_verify(tmp_path, pem.text, leaf["CertPEM"], "web").endswith(": OK")
    cert = x509.load_pem_x509_certificate(leaf["CertPEM"].encode())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [uri]
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment and usage.key_agreement
    assert not usage.key_cert_sign
    assert len(cert.subject) == 0
    again = leaf_of(ca_agent, "web")
    assert again.headers["X-Cache"] == "HIT" and again.json()["CertPEM"] == leaf["CertPEM"]
    other = leaf_of(ca_agent, "api").json()
    assert other["SerialNumber"] != leaf["SerialNumber"]
    cached_roots = ca_agent.get("/v1/agent/connect/ca/roots")
    assert cached_roots.status == 200 and cached_roots.json()["ActiveRootID"] == root["ID"]
    assert cached_roots.headers["X-Cache"] in ("HIT", "MISS")


def test_configuration_get_and_bad_puts(ca_agent):
    config = ca_agent.get("/v1/connect/ca/configuration").json()
    assert config["Provider"] == "consul" and config["Config"]["LeafCertTTL"] == "72h"
    assert "ClusterID" not in config and config["ModifyIndex"] > 0
    bad_type = ca_agent.put("/v1/connect/ca/configuration",
                            {"Provider": "consul", "Config": {"PrivateKeyType": "dsa"}})
    assert (bad_type.status, bad_type.text) == (
        400, "private key type must be either 'ec' or 'rsa'")
    short = ca_agent.put("/v1/connect/ca/configuration",
                         {"Provider": "consul", "Config": {"LeafCertTTL": "10m"}})
    assert short.status == 400 and short.text.startswith("leaf cert TTL must be greater")
    vault = ca_agent.put("/v1/connect/ca/configuration", {"Provider": "vault", "Config": {}})
    assert vault.status == 400 and "unknown CA provider" in vault.text
    garbage = ca_agent.put("/v1/connect/ca/configuration", "{")
    assert garbage.status == 400


def test_rotation_wakes_the_leaf_query_and_old_leaves_still_verify(tmp_path):
    agent = start_agent()
    try:
        wait_until(lambda: agent.get("/v1/connect/ca/roots").json()["Roots"], what="roots")
        old_roots = agent.get("/v1/connect/ca/roots").json()
        first = leaf_of(agent, "web")
        woken = []
        waiter = threading.Thread(target=lambda: woken.append(
            leaf_of(agent, "web", f"?index={first.index}&wait=60s", timeout=90)))
        waiter.start()
        reply = agent.put("/v1/connect/ca/configuration", {
            "Provider": "consul",
            "Config": {"PrivateKeyType": "rsa", "PrivateKeyBits": 2048}})
        assert reply.status == 200, reply.text
        waiter.join(90)
        assert woken, "the leaf query did not wake"
        second = woken[0]
        assert second.index > first.index
        roots = agent.get("/v1/connect/ca/roots").json()
        assert roots["ActiveRootID"] != old_roots["ActiveRootID"]
        assert roots["TrustDomain"] == old_roots["TrustDomain"]
        by_id = {r["ID"]: r for r in roots["Roots"]}
        assert by_id[old_roots["ActiveRootID"]]["Active"] is False
        new_root = by_id[roots["ActiveRootID"]]
        assert new_root["PrivateKeyType"] == "rsa" and len(new_root["IntermediateCerts"]) == 1
        bundle = agent.get("/v1/connect/ca/roots?pem=true").text
        assert openssl_verify(tmp_path, bundle, second.json()["CertPEM"], "new").endswith(": OK")
        assert openssl_verify(tmp_path, bundle, first.json()["CertPEM"], "old").endswith(": OK")
        # A peer that trusts only the old root accepts the new leaf through the cross-signed
        # root the leaf carries.
        old_only = old_roots["Roots"][0]["RootCert"]
        assert openssl_verify(tmp_path, old_only, second.json()["CertPEM"],
                              "cross").endswith(": OK")
        assert agent.get("/v1/connect/ca/configuration").json()["Config"]["PrivateKeyType"] \
            == "rsa"
    finally:
        agent.stop()


def roots_watch_queries(agent) -> int:
    text = agent.get("/v1/agent/metrics?format=prometheus").text
    # a gauge: named after the host too, unless telemetry.disable_hostname (as go-metrics)
    found = re.search(r"^consul_(?:\w+_)?agent_connect_ca_roots_watch_queries(?:\{[^}]*\})? "
                      r"(\S+)$", text, re.M)
    return int(float(found.group(1))) if found else -1


def test_cached_leaves_share_one_roots_watch_and_a_rotation_reissues_them_all():
    agent = start_agent()
    try:
        wait_until(lambda: agent.get("/v1/connect/ca/roots").json()["Roots"], what="roots")
        services = [f"svc{i}" for i in range(8)]
        firsts = {svc: leaf_of(agent, svc) for svc in services}
        # Every cached leaf now waits for the roots to change: through one query.
        wait_until(lambda: roots_watch_queries(agent) == 1, what="one roots watch")
        woken: dict[str, object] = {}
        waiters = [threading.Thread(target=lambda svc=svc: woken.__setitem__(svc, leaf_of(
            agent, svc, f"?index={firsts[svc].index}&wait=60s", timeout=90)))
            for svc in services]
        for waiter in waiters:
            waiter.start()
        reply = agent.put("/v1/connect/ca/configuration", {
            "Provider": "consul", "Config": {"PrivateKeyType": "ec", "PrivateKeyBits": 384}})
        assert reply.status == 200, reply.text
        for waiter in waiters:
            waiter.join(90)
        roots = agent.get("/v1/connect/ca/roots").json()
        active = next(r for r in roots["Roots"] if r["ID"] == roots["ActiveRootID"])
        assert sorted(woken) == services
        for svc in services:
            assert woken[svc].index > firsts[svc].index
            cert = x509.load_pem_x509_certificate(woken[svc].json()["CertPEM"].encode())
            aki = cert.extensions.get_extension_for_class(
                x509.AuthorityKeyIdentifier).value.key_identifier
            assert ":".join(f"{b:02x}" for b in aki) == active["SigningKeyID"]
        wait_until(lambda: roots_watch_queries(agent) == 1, what="still one roots watch")
    finally:
        agent.stop()


def test_connect_disabled_endpoints_say_so():
    agent = start_agent("-hcl", "connect { enabled = false }")
    try:
        for path in ("/v1/connect/ca/roots", "/v1/connect/ca/configuration",
                     "/v1/agent/connect/ca/roots", "/v1/agent/connect/ca/leaf/web"):
            reply = agent.get(path)
            assert (reply.status, reply.text) == (
                500, "Connect must be enabled in order to use this endpoint"), path
    finally:
        agent.stop()


def _files_containing(root: str, needle: bytes) -> list[str]:
    found = []
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, "rb") as handle:
                if needle in handle.read():
                    found.append(path)
    return found


def test_durable_server_keeps_its_ca_across_restart_and_never_holds_a_leaf_key(tmp_path):
    # A low snapshot threshold: the restart restores the CA from a snapshot, then the log.
    spec = ServerSpec(str(tmp_path / "data"), node="ca-server",
                      extra=("-bootstrap-expect", "1", "-hcl", "connect { enabled = true }",
                             "-raft-snapshot-threshold", "4", "-raft-multiplier", "1"))
    server = start_server(spec)
    try:
        roots = wait_until(lambda: (r := server.get("/v1/connect/ca/roots")).status == 200
                           and r.json()["Roots"] and r.json(), what="CA roots")
        leaf = leaf_of(server, "web").json()
        key_body = leaf["PrivateKeyPEM"].splitlines()[1].encode()
    finally:
        server.stop()
    assert _files_containing(spec.data_dir, key_body) == []
    assert key_body.decode() not in "".join(server.log)
    assert _files_containing(spec.data_dir, b"PRIVATE KEY")  # the CA's own key, replicated
    assert list(Path(spec.data_dir).rglob("snapshots/*.data")), "no raft snapshot was taken"
    server = start_server(spec)
    try:
        after = wait_until(lambda: (r := server.get("/v1/connect/ca/roots")).status == 200
                           and r.json()["Roots"] and r.json(), what="CA roots after restart")
        assert after["ActiveRootID"] == roots["ActiveRootID"]
        assert after["TrustDomain"] == roots["TrustDomain"]
        bundle = server.get("/v1/connect/ca/roots?pem=true").text
        fresh = leaf_of(server, "db").json()
        assert int(fresh["SerialNumber"].replace(":", ""), 16) > \
            int(leaf["SerialNumber"].replace(":", ""), 16)
        assert openssl_verify(tmp_path, bundle, fresh["CertPEM"], "fresh").endswith(": OK")
        assert openssl_verify(tmp_path, bundle, leaf["CertPEM"], "kept").endswith(": OK")
        assert json.loads(json.dumps(server.get("/v1/connect/ca/configuration").json()))[
            "Provider"] == "consul"
    finally:
        server.stop()


def test_a_client_agents_leaf_key_never_reaches_the_server(tmp_path):
    """The client agent makes the key and sends only a CSR: the server's raft log,
    snapshots, data files and trace-level log never hold the leaf's private key."""
    spec = ServerSpec(str(tmp_path / "server"), node="ca-server",
                      extra=("-bootstrap-expect", "1", "-hcl", "connect { enabled = true }",
                             "-raft-snapshot-threshold", "4", "-raft-multiplier", "1",
                             "-log-level", "trace"))
    server = start_server(spec)
    client = None
    try:
        wait_until(lambda: (r := server.get("/v1/connect/ca/roots")).status == 200
                   and r.json()["Roots"], what="CA roots")
        client = start_agent("-data-dir", str(tmp_path / "client"), "-node", "leaf-client",
                             "-retry-join", spec.lan_address, "-log-level", "trace",
                             dev=False)
        wait_until(lambda: (r := client.get("/v1/status/leader")).status == 200 and r.json(),
                   what="the client's leader")
        leaves = [leaf_of(client, svc).json() for svc in ("web", "api", "db", "cache")]
        bundle = server.get("/v1/connect/ca/roots?pem=true").text
        for leaf in leaves:
            assert openssl_verify(tmp_path, bundle, leaf["CertPEM"],
                                  leaf["Service"]).endswith(": OK")
        keys = [leaf["PrivateKeyPEM"].splitlines()[1].encode() for leaf in leaves]
    finally:
        if client is not None:
            client.stop()
        server.stop()
    assert list(Path(spec.data_dir).rglob("snapshots/*.data")), "no raft snapshot was taken"
    server_log = "".join(server.log)
    for key in keys:
        assert _files_containing(spec.data_dir, key) == []
        assert key.decode() not in server_log
    assert "-----BEGIN EC PRIVATE KEY" not in server_log


def test_three_servers_share_one_ca_and_never_repeat_a_serial(tmp_path):
    from tests.integration.test_raft_cluster import Cluster

    cluster = Cluster(tmp_path, 3, "-hcl", "connect { enabled = true }")
    try:
        for i in range(3):
            cluster.start(i)
        leader = cluster.leader()
        roots = wait_until(lambda: all(
            (r := p.get("/v1/connect/ca/roots?stale")).status == 200 and r.json()["Roots"]
            for p in cluster.procs.values()) and cluster.procs[leader].get(
                "/v1/connect/ca/roots").json(), what="roots on every server")
        for proc in cluster.procs.values():
            stale = proc.get("/v1/connect/ca/roots?stale").json()
            assert stale["ActiveRootID"] == roots["ActiveRootID"]
        bundle = cluster.procs[leader].get("/v1/connect/ca/roots?pem=true").text
        serials = set()
        for i, proc in cluster.procs.items():
            leaf = leaf_of(proc, "web").json()  # signed by the leader, forwarded
            serials.add(leaf["SerialNumber"])
            assert openssl_verify(tmp_path, bundle, leaf["CertPEM"], f"s{i}").endswith(": OK")
        assert len(serials) == 3
        cluster.kill(leader)
        new_leader = cluster.leader()
        assert new_leader != leader
        survivor = cluster.procs[new_leader]
        for service in ("api", "db"):
            leaf = leaf_of(survivor, service).json()
            assert leaf["SerialNumber"] not in serials
            serials.add(leaf["SerialNumber"])
            assert openssl_verify(tmp_path, bundle, leaf["CertPEM"], service).endswith(": OK")
        after = survivor.get("/v1/connect/ca/roots").json()
        assert after["ActiveRootID"] == roots["ActiveRootID"]
        assert after["TrustDomain"] == roots["TrustDomain"]

        # Rotation under the running cluster, asked of a follower: every server takes the
        # new root, a blocked leaf query wakes with a new leaf, old and new leaves verify.
        live = list(cluster.procs)  # the killed leader is gone from it
        follower = cluster.procs[next(i for i in live if i != new_leader)]
        before = leaf_of(follower, "web")
        woken = []
        waiter = threading.Thread(target=lambda: woken.append(
            leaf_of(follower, "web", f"?index={before.index}&wait=60s", timeout=90)))
        waiter.start()
        reply = follower.put("/v1/connect/ca/configuration", {
            "Provider": "consul", "Config": {"PrivateKeyType": "rsa", "PrivateKeyBits": 2048}})
        assert reply.status == 200, reply.text
        waiter.join(90)
        assert woken and woken[0].index > before.index, "the leaf query did not wake"
        rotated = wait_until(lambda: all(
            cluster.procs[i].get("/v1/connect/ca/roots?stale").json()["ActiveRootID"]
            != roots["ActiveRootID"] for i in live) and follower.get(
                "/v1/connect/ca/roots").json(), what="the new root on every live server")
        assert rotated["TrustDomain"] == roots["TrustDomain"]
        new_bundle = follower.get("/v1/connect/ca/roots?pem=true").text
        for name, pem in (("before", before.json()["CertPEM"]),
                          ("after", woken[0].json()["CertPEM"])):
            assert openssl_verify(tmp_path, new_bundle, pem, f"rot-{name}").endswith(": OK")
    finally:
        cluster.stop()
