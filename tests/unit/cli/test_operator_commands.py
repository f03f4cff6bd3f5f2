"""operator raft/autopilot commands against a fake agent (the endpoints are not served yet)."""

import json

import pytest

from proconsul.cli.main import main
from tests.support.fake_http import FakeHTTP, Reply

SERVERS = {"Servers": [
    {"ID": "id-1", "Node": "s1", "Address": "10.0.0.1:8300", "Leader": True, "Voter": True,
     "ProtocolVersion": "3"},
    {"ID": "id-2", "Node": "server-two", "Address": "10.0.0.2:8300", "Leader": False,
     "Voter": False, "ProtocolVersion": "3"},
    {"ID": "id-3", "Node": "s3", "Address": "10.0.0.3:8300", "Leader": False,
     "Voter": True, "ProtocolVersion": "3"},
    {"ID": "id-4", "Node": "s4", "Address": "10.0.0.4:8300", "Leader": False,
     "Voter": True, "ProtocolVersion": "3"},
], "Index": 5}
# Commit indexes come from autopilot health (s4 is not in it yet).
HEALTH = {"Healthy": True, "FailureTolerance": 0, "Servers": [
    {"ID": "id-1", "LastIndex": 108}, {"ID": "id-2", "LastIndex": 107},
    {"ID": "id-3", "LastIndex": 100},
]}
AUTOPILOT = {"CleanupDeadServers": True, "LastContactThreshold": "200ms",
             "MaxTrailingLogs": 250, "MinQuorum": 0, "ServerStabilizationTime": "10s",
             "RedundancyZoneTag": "", "DisableUpgradeMigration": False,
             "UpgradeVersionTag": "", "CreateIndex": 4, "ModifyIndex": 9}


@pytest.fixture
def fake(monkeypatch):
    with FakeHTTP() as server:
        monkeypatch.setenv("CONSUL_HTTP_ADDR", server.address)
        yield server


def test_list_peers_table(fake, capsys):
    fake.routes["GET", "/v1/operator/raft/configuration"] = \
        lambda r: Reply(200, json.dumps(SERVERS).encode())
    fake.routes["GET", "/v1/operator/autopilot/health"] = \
        lambda r: Reply(200, json.dumps(HEALTH).encode())
    assert main(["operator", "raft", "list-peers", "-stale"]) == 0
    assert fake.requests[-1].query == {"stale": ""}
    assert capsys.readouterr().out.splitlines() == [
        "Node        ID    Address        State     Voter  RaftProtocol  Commit Index  "
        "Trails Leader By",
        "s1          id-1  10.0.0.1:8300  leader    true   3             108           _",
        "server-two  id-2  10.0.0.2:8300  follower  false  3             107           "
        "1 Commit",
        "s3          id-3  10.0.0.3:8300  follower  true   3             100           "
        "8 Commits",
        "s4          id-4  10.0.0.4:8300  follower  true   3             _",
    ]


def test_remove_peer(fake, capsys):
    fake.routes["DELETE", "/v1/operator/raft/peer"] = lambda r: Reply(200)
    assert main(["operator", "raft", "remove-peer", "-address=10.0.0.2:8300"]) == 0
    assert fake.requests[-1].query == {"address": "10.0.0.2:8300"}
    assert capsys.readouterr().out == 'Removed peer with address "10.0.0.2:8300"\n'
    assert main(["operator", "raft", "remove-peer"]) == 1
    assert "Missing peer address/id" in capsys.readouterr().err


def test_transfer_leader(fake, capsys):
    fake.routes["POST", "/v1/operator/raft/transfer-leader"] = \
        lambda r: Reply(200, b'{"Success":true}')
    assert main(["operator", "raft", "transfer-leader", "-id", "id-2"]) == 0
    assert fake.requests[-1].query == {"id": "id-2"}


def test_autopilot_get_config(fake, capsys):
    fake.routes["GET", "/v1/operator/autopilot/configuration"] = \
        lambda r: Reply(200, json.dumps(AUTOPILOT).encode())
    assert main(["operator", "autopilot", "get-config"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "CleanupDeadServers = true", "LastContactThreshold = 200ms", "MaxTrailingLogs = 250",
        "MinQuorum = 0", "ServerStabilizationTime = 10s", 'RedundancyZoneTag = ""',
        "DisableUpgradeMigration = false", 'UpgradeVersionTag = ""']


@pytest.mark.parametrize("cas_result,code,message", [
    (b"true", 0, "Configuration updated!"),
    (b"false", 1, "Configuration could not be atomically updated, please try again"),
])
def test_autopilot_set_config_uses_cas(fake, capsys, cas_result, code, message):
    fake.routes["GET", "/v1/operator/autopilot/configuration"] = \
        lambda r: Reply(200, json.dumps(AUTOPILOT).encode())
    fake.routes["PUT", "/v1/operator/autopilot/configuration"] = lambda r: Reply(200, cas_result)
    assert main(["operator", "autopilot", "set-config", "-max-trailing-logs=10",
                 "-cleanup-dead-servers=false"]) == code
    put = fake.requests[-1]
    assert put.query == {"cas": "9"}
    sent = json.loads(put.body)
    assert (sent["MaxTrailingLogs"], sent["CleanupDeadServers"], sent["MinQuorum"]) == \
        (10, False, 0)
    assert capsys.readouterr().out.strip() == message


def test_autopilot_state_json(fake, capsys):
    state = {"Healthy": True, "FailureTolerance": 0, "Leader": "id-1", "Voters": ["id-1"],
             "Servers": {}}
    fake.routes["GET", "/v1/operator/autopilot/state"] = \
        lambda r: Reply(200, json.dumps(state).encode())
    assert main(["operator", "autopilot", "state", "-format=json"]) == 0
    assert json.loads(capsys.readouterr().out) == state
    assert main(["operator", "autopilot", "state"]) == 0
    assert "Leader:                       id-1" in capsys.readouterr().out


def test_missing_endpoint_is_an_error(fake, capsys):
    assert main(["operator", "raft", "list-peers"]) == 1
    assert "Unexpected response code: 404" in capsys.readouterr().err
