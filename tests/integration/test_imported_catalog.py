"""Imported rows in a real agent: ?peer reads over HTTP, peer lookups with dig, local reads
unchanged, and what the cluster exports.

The imported rows reach the agent without a second cluster (test_peering_stream.py has
the stream): :func:`start_with_imported_rows` takes the agent's own snapshot, applies the
stream's raft commands (REGISTER with PeerName) to that state with the FSM in this
process -- the very apply path the servers run -- and restores the result with
PUT /v1/snapshot.
"""

from __future__ import annotations

import io
import json
import subprocess

import pytest

from proconsul.fsm.fsm import FSM
from proconsul.lib.snapshot_archive import read_archive, write_archive
from proconsul.state.store import Store
from proconsul.structs.catalog import HealthCheck, NodeService, RegisterRequest
from proconsul.structs.messages import MessageType, encode_command
from tests.support.agent_process import AgentProcess, start_agent
from tests.support.cli_process import run_cli


def imported(node: str, address: str, service: str, status: str) -> RegisterRequest:
    return RegisterRequest(
        Node=node, Address=address, PeerName="p1", NodeMeta={"side": "p1"},
        Service=NodeService(ID=service, Service=service, Tags=["v2"], Port=8080),
        Checks=[HealthCheck(Node=node, CheckID=f"{service}-alive", Name="alive",
                            ServiceID=service, Status=status)])


def with_imported_rows(archive: bytes, *requests: RegisterRequest) -> bytes:
    """The snapshot ``archive`` with ``requests`` applied by the FSM on top of it."""
    state = io.BytesIO()
    meta = read_archive(io.BytesIO(archive), state)
    fsm = FSM(Store())
    fsm.restore(io.BytesIO(state.getvalue()))
    for request in requests:
        fsm.apply(fsm.last_applied + 1, encode_command(MessageType.REGISTER, request))
    body = b"".join(fsm.snapshot().chunks())
    out = io.BytesIO()
    write_archive(out, meta, io.BytesIO(body), len(body))
    return out.getvalue()


def dig(agent: AgentProcess, name: str, rdtype: str = "A") -> tuple[str, list[str]]:
    out = subprocess.run(["dig", "+time=5", "+tries=1", "-p", str(agent.dns_port),
                          f"@{agent.host}", name, rdtype], capture_output=True, text=True,
                         timeout=30).stdout
    status = out.split("status: ", 1)[1].split(",", 1)[0]
    answers = []
    if ";; ANSWER SECTION:" in out:
        section = out.split(";; ANSWER SECTION:\n", 1)[1].split("\n\n", 1)[0]
        answers = [line.split(None, 4)[4] for line in section.splitlines() if line]
    return status, answers


def start_with_imported_rows(local_node_meta: dict[str, str] | None = None) -> AgentProcess:
    """An agent with a local ``web`` on n1 and peer p1's ``web`` (n1) and ``api`` (n2)."""
    agent = start_agent()
    try:
        assert agent.put("/v1/catalog/register", {
            "Node": "n1", "Address": "10.0.0.1", "NodeMeta": local_node_meta,
            "Service": {"ID": "web", "Service": "web", "Port": 80}}).status == 200
        saved = agent.get("/v1/snapshot", timeout=60)
        assert saved.status == 200, saved.text
        archive = with_imported_rows(saved.body,
                                     imported("n1", "10.1.0.1", "web", "passing"),
                                     imported("n2", "10.1.0.2", "api", "critical"))
        restored = agent.put("/v1/snapshot", archive, timeout=60)
        assert restored.status == 200, restored.text
    except BaseException:
        agent.stop()
        raise
    return agent


@pytest.fixture(scope="module")
def peered() -> AgentProcess:
    agent = start_with_imported_rows({"side": "local"})
    try:
        yield agent
    finally:
        agent.stop()


def test_peer_reads_see_only_that_peers_rows(peered):
    nodes = peered.get("/v1/catalog/nodes?peer=p1").json()
    assert [(n["Node"], n["Address"], n["PeerName"]) for n in nodes] == [
        ("n1", "10.1.0.1", "p1"), ("n2", "10.1.0.2", "p1")]
    assert peered.get("/v1/catalog/nodes?peer=p2").json() == []
    assert peered.get("/v1/catalog/services?peer=p1").json() == {"api": ["v2"], "web": ["v2"]}
    [row] = peered.get("/v1/catalog/service/web?peer=p1").json()
    assert (row["Address"], row["ServicePort"], row["PeerName"]) == ("10.1.0.1", 8080, "p1")
    found = peered.get("/v1/catalog/node/n2?peer=p1").json()
    assert (found["Node"]["PeerName"], list(found["Services"])) == ("p1", ["api"])
    listed = peered.get("/v1/catalog/node-services/n1?peer=p1").json()
    assert [s["Service"] for s in listed["Services"]] == ["web"]
    [entry] = peered.get("/v1/health/service/web?peer=p1").json()
    assert (entry["Node"]["PeerName"], entry["Service"]["PeerName"],
            [(c["CheckID"], c["Status"], c["PeerName"]) for c in entry["Checks"]]) == (
        "p1", "p1", [("web-alive", "passing", "p1")])
    assert peered.get("/v1/health/service/api?peer=p1&passing").json() == []
    assert [c["Node"] for c in peered.get("/v1/health/state/critical?peer=p1").json()] == ["n2"]
    assert [c["CheckID"] for c in peered.get("/v1/health/node/n1?peer=p1").json()] == [
        "web-alive"]
    assert [c["Node"] for c in peered.get("/v1/health/checks/api?peer=p1").json()] == ["n2"]


def test_filters_work_on_peer_reads(peered):
    assert [n["Node"] for n in peered.get(
        "/v1/catalog/nodes?peer=p1&node-meta=side:p1").json()] == ["n1", "n2"]
    assert peered.get("/v1/catalog/nodes?peer=p1&node-meta=side:local").json() == []
    assert [r["Node"] for r in peered.get(
        "/v1/catalog/service/web?peer=p1&tag=v2").json()] == ["n1"]
    assert peered.get("/v1/catalog/service/web?peer=p1&tag=v1").json() == []
    assert [e["Node"]["Node"] for e in peered.get(
        '/v1/health/service/web?peer=p1&filter=Node.Address%20%3D%3D%20%2210.1.0.1%22'
    ).json()] == ["n1"]


def test_local_reads_are_unchanged(peered):
    nodes = {n["Node"]: n for n in peered.get("/v1/catalog/nodes").json()}
    assert nodes["n1"]["Address"] == "10.0.0.1" and "PeerName" not in nodes["n1"]
    assert "n2" not in nodes
    assert "api" not in peered.get("/v1/catalog/services").json()
    [entry] = peered.get("/v1/health/service/web").json()
    assert entry["Node"]["Address"] == "10.0.0.1" and entry["Checks"] == []
    assert peered.get("/v1/health/state/critical").json() == []


def test_dns_peer_lookups(peered):
    assert dig(peered, "web.service.p1.peer.consul") == ("NOERROR", ["10.1.0.1"])
    assert dig(peered, "v2.web.service.p1.peer.consul") == ("NOERROR", ["10.1.0.1"])
    assert dig(peered, "web.service.consul") == ("NOERROR", ["10.0.0.1"])
    assert dig(peered, "api.service.p1.peer.consul")[0] == "NXDOMAIN"  # critical
    assert dig(peered, "web.service.p2.peer.consul")[0] == "NXDOMAIN"
    assert dig(peered, "web.service.p1.peer.consul", "SRV") == (
        "NOERROR", ["1 1 8080 n1.node.p1.peer.consul."])
    assert dig(peered, "n2.node.p1.peer.consul") == ("NOERROR", ["10.1.0.2"])
    assert dig(peered, "n1.node.consul") == ("NOERROR", ["10.0.0.1"])
    assert dig(peered, "n2.node.consul")[0] == "NXDOMAIN"


def test_clients_may_not_register_with_a_peer_name(peered):
    for body in ({"Node": "n3", "Address": "10.1.0.3", "PeerName": "p1"},
                 {"Node": "n3", "Address": "10.1.0.3",
                  "Service": {"Service": "x", "PeerName": "p1"}}):
        reply = peered.put("/v1/catalog/register", body)
        assert (reply.status, reply.text) == (500, "cannot register requests with PeerName in them")
    assert [n["Node"] for n in peered.get("/v1/catalog/nodes?peer=p1").json()] == ["n1", "n2"]


def test_exported_services_over_http_and_the_cli(peered):
    assert peered.get("/v1/exported-services").json() == []
    assert run_cli(peered, "services", "exported-services").stdout.decode().strip() == \
        "No exported services found"
    exported = run_cli(peered, "services", "export", "-name", "web", "-consumer-peers",
                       "east,west")
    assert exported.stdout.decode().strip() == \
        'Successfully exported service "web" to cluster peers "east,west"'
    assert run_cli(peered, "services", "export", "-name", "web", "-consumer-peers",
                   "west,north").returncode == 0
    missing = run_cli(peered, "services", "export", "-name", "web")
    assert (missing.returncode, missing.stderr.decode().strip()) == (
        1, "Missing the required -consumer-peers flag")
    assert peered.get("/v1/exported-services").json() == [
        {"Service": "web", "Consumers": {"Peers": ["east", "north", "west"]}}]
    table = run_cli(peered, "services", "exported-services", "-consumerPeer", "east")
    assert table.stdout.decode().split("\n")[:2] == ["Service  Consumer", "web      Peer: east"]
    as_json = run_cli(peered, "services", "exported-services", "-format", "json")
    assert json.loads(as_json.stdout) == [
        {"Service": "web", "Consumers": {"Peers": ["east", "north", "west"]}}]
    assert peered.put("/v1/config", {"Kind": "exported-services", "Name": "default", "Services": [
        {"Name": "web", "Consumers": [{"Peer": "east"}]},
        {"Name": "*", "Consumers": [{"Peer": "south"}]}]}).status == 200
    listed = peered.get("/v1/exported-services").json()
    assert {"Service": "web", "Consumers": {"Peers": ["east", "south"]}} in listed
    assert "consul" not in [s["Service"] for s in listed]


def test_imported_rows_are_in_the_agents_snapshot(peered, tmp_path):
    saved = peered.get("/v1/snapshot", timeout=60)
    assert saved.status == 200, saved.text
    (tmp_path / "s.snap").write_bytes(saved.body)
    decoded = run_cli(None, "snapshot", "decode", str(tmp_path / "s.snap"))
    assert decoded.returncode == 0, decoded.stderr
    lines = [json.loads(line) for line in decoded.stdout.decode().splitlines()]
    registers = [(d["Data"]["Node"], d["Data"]["Address"], d["Data"]["PeerName"],
                  (d["Data"]["Service"] or {}).get("PeerName"))
                 for d in lines if d["Type"] == "Register" and d["Data"]["Service"]]
    assert ("n1", "10.1.0.1", "p1", "p1") in registers
    assert ("n1", "10.0.0.1", "", None) in registers
    indexes = {d["Data"]["Key"] for d in lines if d["Type"] == "Index"}
    assert {"peer.p1:nodes", "peer.p1:services", "peer.p1:checks"} <= indexes
