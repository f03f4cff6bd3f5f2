"""Cluster peering's control plane between two real single-server clusters: a token
generated in dc1, established in dc2 (the secret exchange over gRPC TLS, checked against
the token's CA and server name), both sides' records, the one-time secret, Consul's
refusals, deletion, persistence across kill -9, and ACLs."""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.agent_process import blocking_count, wait_until
from tests.support.cli_process import run_cli
from tests.support.peering_lab import PeeringCluster, two_clusters

ROOT = "8f3c0e4a-1b2c-4d5e-9f60-7a8b9c0d1e2f"


@pytest.fixture
def clusters(tmp_path: Path):
    with two_clusters(tmp_path) as both:
        yield both


def generate(cluster: PeeringCluster, peer: str, **body) -> str:
    reply = cluster.agent.call("POST", "/v1/peering/token", {"PeerName": peer, **body})
    assert reply.status == 200, reply.text
    return reply.json()["PeeringToken"]


def establish(cluster: PeeringCluster, peer: str, token: str):
    return cluster.agent.call("POST", "/v1/peering/establish",
                              {"PeerName": peer, "PeeringToken": token})


def read(cluster: PeeringCluster, name: str):
    return cluster.agent.get(f"/v1/peering/{name}")


def test_a_token_from_dc1_establishes_in_dc2_and_both_sides_list_it(clusters):
    dc1, dc2 = clusters
    token = generate(dc1, "dc2", Meta={"env": "test"})
    decoded = json.loads(base64.b64decode(token))
    assert decoded["ServerAddresses"] == [dc1.grpc_tls_address]
    assert decoded["ServerName"] == dc1.server_name
    assert decoded["CA"] == [dc1.root_pem]
    assert decoded["Remote"] == {"Partition": "default", "Datacenter": "dc1"}
    pending = read(dc1, "dc2").json()
    assert (pending["Name"], pending["State"], pending["Meta"]) == ("dc2", "PENDING",
                                                                     {"env": "test"})
    assert pending["ID"] == decoded["PeerID"] and "PeerID" not in pending

    reply = establish(dc2, "dc1", token)
    assert (reply.status, reply.text) == (200, "{}")
    dialer = read(dc2, "dc1").json()
    assert dialer["State"] in ("ESTABLISHING", "ACTIVE")  # ACTIVE once the stream is up
    assert dialer["PeerID"] == decoded["PeerID"] and dialer["ID"] != decoded["PeerID"]
    assert dialer["PeerServerName"] == dc1.server_name
    assert dialer["PeerServerAddresses"] == [dc1.grpc_tls_address]
    assert dialer["PeerCAPems"] == [dc1.root_pem]
    assert dialer["Remote"] == {"Partition": "default", "Datacenter": "dc1"}
    assert dialer["StreamStatus"]["ImportedServices"] is None
    listed = dc1.agent.get("/v1/peerings")
    assert [(p["Name"], p["State"] in ("PENDING", "ACTIVE")) for p in listed.json()] == [
        ("dc2", True)]
    assert int(listed.headers["X-Consul-Index"]) >= pending["ModifyIndex"]
    assert [p["Name"] for p in dc2.agent.get("/v1/peerings").json()] == ["dc1"]

    # the establishment secret was consumed: the same token cannot be used again
    again = establish(dc2, "dc1-again", token)
    assert (again.status, again.text) == (
        403, "a new peering token must be generated: invalid peering establishment secret")
    # a new token for the same peering replaces the secret and keeps the peering's ID
    assert json.loads(base64.b64decode(generate(dc1, "dc2")))["PeerID"] == decoded["PeerID"]


def test_consuls_refusals(clusters):
    dc1, dc2 = clusters
    token = generate(dc1, "dc2")
    same = establish(dc1, "self", token)
    assert same.status == 400
    assert same.text.startswith(
        f'cannot create a peering within the same cluster "{dc1.server_name}"')
    # the dialer trusts only the token's CA for the token's server name
    forged = json.loads(base64.b64decode(token))
    forged["CA"] = [dc2.root_pem]
    untrusted = establish(dc2, "forged", base64.b64encode(json.dumps(forged).encode()).decode())
    assert untrusted.status == 500
    assert untrusted.text.startswith(
        f'failed to exchange peering secret through address "{dc1.grpc_tls_address}": '
        "rpc error: code = Unavailable desc = ")
    bad = establish(dc2, "dc1", "not a token")
    assert (bad.status, bad.text) == (400, "failed to decode peering token: illegal base64 data")
    empty = base64.b64encode(b'{"PeerID": "x"}').decode()
    assert (establish(dc2, "dc1", empty).status, establish(dc2, "dc1", empty).text) == (
        400, "peering token server addresses value is empty")
    name = dc1.agent.call("POST", "/v1/peering/token", {"PeerName": "not_a_label"})
    assert name.status == 400 and name.text.startswith("not_a_label is not a valid peer name: ")
    missing = dc1.agent.call("POST", "/v1/peering/token", {})
    assert (missing.status, missing.text) == (
        400, "PeerName is required in the payload when generating a new peering token.")
    no_body = dc1.agent.call("POST", "/v1/peering/establish", "")
    assert (no_body.status, no_body.text) == (
        400, "The peering arguments must be provided in the body")
    assert (read(dc1, "nope").status, read(dc1, "nope").text) == (
        404, 'Peering not found for "nope"')
    # an accepting peering's name cannot be used to dial, nor a dialing one's to accept
    dc2_token = generate(dc2, "dc1")
    assert establish(dc2, "dc1", token).status == 400
    assert establish(dc1, "dc2", dc2_token).text == (
        'cannot create peering with name: "dc2"; there is an existing peering expecting to '
        "be dialed")


def test_delete_marks_then_removes_and_frees_the_name(clusters):
    dc1, dc2 = clusters
    assert establish(dc2, "dc1", generate(dc1, "dc2")).status == 200
    for cluster, name in ((dc1, "dc2"), (dc2, "dc1")):
        reply = cluster.agent.delete(f"/v1/peering/{name}")
        assert (reply.status, reply.text) == (200, "")
        wait_until(lambda c=cluster, n=name: read(c, n).status == 404,
                   what=f"{name} deleted in {cluster.dc}")
        assert cluster.agent.get("/v1/peerings").json() == []
        assert cluster.agent.delete(f"/v1/peering/{name}").status == 200  # absent: no-op
    # the name is free again, and the old token's secret went with the peering
    assert establish(dc2, "dc1", generate(dc1, "dc2")).status == 200


def test_peerings_survive_kill_9_and_restart(clusters):
    dc1, dc2 = clusters
    assert establish(dc2, "dc1", generate(dc1, "dc2", Meta={"k": "v"})).status == 200
    before = {c.dc: read(c, n).json() for c, n in ((dc1, "dc2"), (dc2, "dc1"))}
    for cluster in (dc1, dc2):
        cluster.agent.kill()
        cluster.start()
    after = {c.dc: read(c, n).json() for c, n in ((dc1, "dc2"), (dc2, "dc1"))}

    def stored(record: dict) -> dict:  # the replication stream changes State and status
        return {k: v for k, v in record.items() if k not in ("State", "StreamStatus")}

    assert {dc: stored(r) for dc, r in after.items()} == \
        {dc: stored(r) for dc, r in before.items()}
    assert after["dc1"]["State"] in ("PENDING", "ACTIVE")
    assert after["dc2"]["State"] in ("ESTABLISHING", "ACTIVE")
    # the restarted acceptor still serves the exchange: a new token re-establishes
    assert establish(dc2, "dc1", generate(dc1, "dc2")).status == 200
    assert read(dc2, "dc1").json()["ID"] == before["dc2"]["ID"]


def test_acl_rules_guard_the_endpoints(tmp_path: Path):
    dc1 = PeeringCluster("dc1", tmp_path / "dc1", extra_config={"acl": {
        "enabled": True, "default_policy": "deny", "tokens": {"initial_management": ROOT}}})
    try:
        agent = dc1.start(token=ROOT)

        def token_with(rules: str) -> str:
            policy = agent.call("PUT", "/v1/acl/policy", {"Name": f"p{abs(hash(rules))}",
                                                          "Rules": rules},
                                headers={"X-Consul-Token": ROOT}).json()
            return agent.call("PUT", "/v1/acl/token", {"Policies": [{"ID": policy["ID"]}]},
                              headers={"X-Consul-Token": ROOT}).json()["SecretID"]

        reader, writer = token_with('peering = "read"'), token_with('peering = "write"')

        def call(method: str, path: str, token: str, body=None):
            return agent.call(method, path, body, headers={"X-Consul-Token": token})

        body = {"PeerName": "dc2"}
        assert call("POST", "/v1/peering/token", "", body).status == 403
        denied = call("POST", "/v1/peering/token", reader, body)
        assert denied.status == 403 and denied.text.startswith("Permission denied")
        assert call("POST", "/v1/peering/token", writer, body).status == 200
        assert call("GET", "/v1/peerings", "").status == 403
        assert [p["Name"] for p in call("GET", "/v1/peerings", reader).json()] == ["dc2"]
        assert call("GET", "/v1/peering/dc2", reader).json()["State"] == "PENDING"
        assert call("DELETE", "/v1/peering/dc2", reader).status == 403
        assert call("DELETE", "/v1/peering/dc2", writer).status == 200
    finally:
        dc1.stop()


def test_the_cli_peers_two_clusters(clusters):
    dc1, dc2 = clusters

    def cli(cluster: PeeringCluster, *args: str):
        done = run_cli(cluster.agent, "peering", *args)
        return done.returncode, done.stdout.decode(), done.stderr.decode()

    assert cli(dc1, "list") == (0, "There are no peering connections.\n", "")
    assert cli(dc1, "generate-token")[::2] == (1, "Missing the required -name flag\n")
    code, token, _ = cli(dc1, "generate-token", "-name", "dc2", "-meta", "env=test",
                         "-meta", "team=a")
    assert code == 0
    assert json.loads(base64.b64decode(token.strip()))["ServerName"] == dc1.server_name
    as_json = cli(dc1, "generate-token", "-name", "dc2", "-format", "json")[1]
    assert list(json.loads(as_json)) == ["PeeringToken"]
    # the second token replaced the first one's secret: establish with the newest
    assert cli(dc2, "establish", "-name", "dc1", "-peering-token",
               json.loads(as_json)["PeeringToken"]) == (
        0, "Successfully established peering connection with dc1\n", "")
    # the replication stream makes both sides ACTIVE
    wait_until(lambda: read(dc1, "dc2").json()["State"] == "ACTIVE" and
               read(dc2, "dc1").json()["State"] == "ACTIVE", what="both sides ACTIVE")
    assert cli(dc1, "list")[1].splitlines() == [
        "Name  State   Imported Svcs  Exported Svcs  Meta",
        "dc2   ACTIVE  0              0              env=test,team=a"]
    code, out, _ = cli(dc2, "read", "-name", "dc1")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "Name:         dc1" and "State:        ACTIVE" in lines
    assert f"Peer Server Name:      {dc1.server_name}" in lines
    assert "Peer CA Pems:          1" in lines and f"    {dc1.grpc_tls_address}" in lines
    assert json.loads(cli(dc2, "read", "-name", "dc1", "-format", "json")[1])["Name"] == "dc1"
    assert cli(dc2, "read", "-name", "nope")[::2] == (1, "No peering with name nope found.\n")
    code, _, err = cli(dc2, "establish", "-name", "again", "-peering-token", token.strip())
    assert code == 1 and err.startswith("Error establishing peering for again: Unexpected "
                                        "response code: 403 (a new peering token must be ")
    assert cli(dc1, "delete", "-name", "dc2") == (
        0, "Successfully submitted peering connection, dc2, for deletion\n", "")
    wait_until(lambda: cli(dc1, "read", "-name", "dc2")[0] == 1, what="dc2 deleted")


def test_reads_block_until_the_peerings_change(clusters):
    dc1, _ = clusters
    index = int(dc1.agent.get("/v1/peerings").headers["X-Consul-Index"])
    parked = blocking_count(dc1.agent)  # the leader's own watches park there too
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(dc1.agent.get, f"/v1/peerings?index={index}&wait=20s")
        wait_until(lambda: blocking_count(dc1.agent) > parked, what="the list parked")
        assert not waiting.done()
        generate(dc1, "dc2")
        reply = waiting.result(timeout=30)
    assert [p["Name"] for p in reply.json()] == ["dc2"]
    assert int(reply.headers["X-Consul-Index"]) > index
    stale = dc1.agent.get("/v1/peering/dc2?stale")
    assert stale.status == 200 and stale.headers["X-Consul-KnownLeader"] == "true"
    # /v1/peering/token and /establish are POST-only paths, not peering names
    assert dc1.agent.get("/v1/peering/token").status == 405
    assert dc1.agent.delete("/v1/peering/establish").status == 405


def test_every_server_is_in_the_token_and_a_follower_answers_the_exchange(tmp_path: Path):
    dc1 = PeeringCluster("dc1", tmp_path / "dc1", servers=3)
    dc2 = PeeringCluster("dc2", tmp_path / "dc2")
    try:
        dc1.start()
        dc2.start()
        # the leader lists each server that joined, with its gRPC TLS port
        wait_until(lambda: len(json.loads(base64.b64decode(generate(dc1, "dc2")))[
            "ServerAddresses"]) == 3, what="dc1's three servers in the catalog")
        decoded = json.loads(base64.b64decode(generate(dc1, "dc2")))
        assert sorted(decoded["ServerAddresses"]) == sorted(dc1.grpc_tls_addresses)
        leader = dc1.agent.get("/v1/status/leader").json()
        follower = next(address for spec, address in zip(dc1.specs, dc1.grpc_tls_addresses,
                                                          strict=True)
                        if f"{spec.host}:{spec.server_port}" != leader)
        decoded["ServerAddresses"] = [follower]  # the follower forwards it to the leader
        token = base64.b64encode(json.dumps(decoded).encode()).decode()
        assert establish(dc2, "dc1", token).status == 200
        assert read(dc2, "dc1").json()["PeerServerAddresses"] == [follower]
        followers = [a for a in dc1.agents if f"{a.host}:" not in leader]
        wait_until(lambda: all(a.get("/v1/peering/dc2?stale").status == 200 for a in followers),
                   what="the peering on the followers")
    finally:
        dc1.stop()
        dc2.stop()
