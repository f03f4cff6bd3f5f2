"""Real Envoy sidecars configured by the agent's xDS server carry web → api over mTLS."""

from __future__ import annotations

import json
import re
import threading
import time

import pytest

from tests.support.agent_process import wait_until
from tests.support.envoy import plain_connection_refused
from tests.support.mesh import start_mesh


@pytest.fixture(scope="module")
def mesh():
    mesh = start_mesh("tcp")
    yield mesh
    mesh.stop()


def test_web_reaches_api_through_two_envoys(mesh):
    assert mesh.get("/hello") == (200, "api /hello")
    dump = mesh.proxies["web"].config_dump()
    clusters = [c["cluster"]["name"] for cfg in dump["configs"]
                for c in cfg.get("dynamic_active_clusters", ())]
    roots = mesh.agent.get("/v1/connect/ca/roots").json()
    assert sorted(clusters) == sorted(["local_app",
                                       f"api.default.dc1.internal.{roots['TrustDomain']}"])
    listeners = [entry["name"] for cfg in dump["configs"]
                 for entry in cfg.get("dynamic_listeners", ())]
    port = mesh.sidecar_ports["web"]
    assert sorted(listeners) == sorted([f"public_listener:{mesh.host}:{port}",
                                        f"api:{mesh.host}:{mesh.web_upstream}"])
    text = mesh.agent.get("/v1/agent/metrics?format=prometheus").text
    streams = re.search(r"^consul_(?:\w+_)?xds_server_streams(?:\{[^}]*\})? (\S+)$", text, re.M)
    assert streams and float(streams.group(1)) == 2  # one ADS stream per Envoy


def test_api_public_listener_refuses_plaintext(mesh):
    assert plain_connection_refused(mesh.host, mesh.sidecar_ports["api"])
    # ...and its upstream cluster presents web's leaf and checks api's SPIFFE ID
    stats = mesh.proxies["api"].stats("ssl.handshake")
    assert any(int(v) > 0 for k, v in stats.items() if k.endswith("ssl.handshake"))


def test_deny_intention_cuts_within_2s_and_allow_restores(mesh):
    assert mesh.get()[0] == 200
    started = time.monotonic()
    mesh.intention("web", "api", {"Action": "deny"})
    try:
        wait_until(lambda: mesh.get()[0] == 0, 2, what="the deny to take effect")
        assert time.monotonic() - started < 2
        denied = mesh.proxies["api"].stats("connect_authz")
        assert int(denied.get("connect_authz.rbac.denied", "0")) >= 1
        mesh.intention("web", "api", {"Action": "allow"})
        wait_until(lambda: mesh.get()[0] == 200, 2, what="the allow to take effect")
    finally:
        mesh.agent.delete("/v1/connect/intentions/exact?source=web&destination=api")
    wait_until(lambda: mesh.get()[0] == 200, 5, what="traffic after the intention is gone")


def test_ca_root_rotation_keeps_traffic_flowing(mesh):
    old = mesh.agent.get("/v1/connect/ca/roots").json()
    failures, ok, done = [], [], threading.Event()

    def traffic() -> None:
        while not done.is_set():
            status, _ = mesh.get()
            (ok if status == 200 else failures).append(time.monotonic())

    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        reply = mesh.agent.put("/v1/connect/ca/configuration", {
            "Provider": "consul", "Config": {"PrivateKeyType": "rsa", "PrivateKeyBits": 2048}})
        assert reply.status == 200, reply.text
        roots = wait_until(lambda: (r := mesh.agent.get("/v1/connect/ca/roots").json())
                           ["ActiveRootID"] != old["ActiveRootID"] and r, what="a new root")
        new_pem = next(r["RootCert"] for r in roots["Roots"] if r["Active"]).strip()
        for service in ("web", "api"):
            wait_until(lambda s=service: new_pem in json.dumps(
                mesh.proxies[s].config_dump()).replace("\\n", "\n"), 20,
                what=f"{service}'s Envoy to trust the new root")
        # both sides now present leaves signed by the new root, and traffic still flows
        sent = len(ok)
        wait_until(lambda: len(ok) >= sent + 20, 10, what="traffic after the rotation")
    finally:
        done.set()
        sender.join(10)
    assert mesh.get() == (200, "api /")
    assert failures == [], f"{len(failures)} requests failed during the rotation"
