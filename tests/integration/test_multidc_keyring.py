"""Gossip keyring operations across datacenters, each in its own network namespace: asked
of dc2's client, a list covers the WAN pool and both datacenters' LAN pools, an install
and a use reach every pool (dc1's LAN included), and -local-only stays in dc2's LAN."""

from __future__ import annotations

import base64

import pytest

from tests.integration.test_multidc import ok
from tests.support.agent_process import wait_until
from tests.support.cli_process import run_cli
from tests.support.datacenters import network, start_datacenters

FIRST = base64.b64encode(b"1" * 32).decode()
SECOND = base64.b64encode(b"2" * 32).decode()


@pytest.fixture
def lab():
    with network(["dc1", "dc2"]) as lab:
        yield lab


def pools(reply: list[dict]) -> dict[str, dict]:
    return {"WAN" if r["WAN"] else r["Datacenter"]: r for r in reply}


def test_keyring_operations_cover_the_wan_and_every_datacenters_lan(lab):
    fed = start_datacenters(lab, {"dc1": 1, "dc2": 1}, ("dc2",), extra=("-encrypt", FIRST))
    dc1, dc2, client = fed.servers["dc1"][0], fed.servers["dc2"][0], fed.clients["dc2"]
    wait_until(lambda: len(ok(dc2.get("/v1/agent/members")).json()) == 2, 30,
               "dc2's client in dc2's LAN pool")

    listed = pools(ok(client.get("/v1/operator/keyring")).json())
    assert sorted(listed) == ["WAN", "dc1", "dc2"]
    assert {name: (p["NumNodes"], p["NumResp"], p["Keys"]) for name, p in listed.items()} == {
        "WAN": (2, 2, {FIRST: 2}), "dc1": (1, 1, {FIRST: 1}), "dc2": (2, 2, {FIRST: 2})}

    # Installed and made primary from dc2's client: dc1's LAN pool has it too.
    ok(client.call("POST", "/v1/operator/keyring", {"Key": SECOND}))
    ok(client.put("/v1/operator/keyring", {"Key": SECOND}))
    listed = pools(ok(dc1.get("/v1/operator/keyring")).json())
    assert {name: p["PrimaryKeys"] for name, p in listed.items()} == {
        "WAN": {SECOND: 2}, "dc1": {SECOND: 1}, "dc2": {SECOND: 2}}
    ok(client.call("DELETE", "/v1/operator/keyring", {"Key": FIRST}))
    assert all(p["Keys"] == {SECOND: p["NumNodes"]}
               for p in ok(dc2.get("/v1/operator/keyring")).json())

    # -local-only: this datacenter's LAN pool alone; only for listing.
    local = ok(client.get("/v1/operator/keyring?local-only=1")).json()
    assert [(p["WAN"], p["Datacenter"]) for p in local] == [(False, "dc2")]
    refused = client.call("POST", "/v1/operator/keyring?local-only=1", {"Key": FIRST})
    assert (refused.status, refused.text) == (
        400, "Invalid use of local-only: local-only can only be set for list requests")
    cli = run_cli(client, "keyring", "-list", "-local-only")
    assert cli.returncode == 0 and b"dc2 (LAN)" in cli.stdout and b"WAN" not in cli.stdout
    cli = run_cli(client, "keyring", "-list")
    assert cli.returncode == 0 and b"dc1 (LAN)" in cli.stdout and b"WAN:" in cli.stdout
