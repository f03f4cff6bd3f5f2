"""Agent, catalog, services, event and keyring commands against a real agent."""

import base64
import json
import socket

from tests.support.agent_process import wait_until
from tests.support.cli_process import run_cli


def out(result) -> str:
    return result.stdout.decode()


def err(result) -> str:
    return result.stderr.decode()


def node_name(agent) -> str:
    return agent.get("/v1/agent/self").json()["Config"]["NodeName"]


def test_members_table_and_filters(agent):
    result = run_cli(agent, "members")
    header, row = out(result).splitlines()
    assert header.split() == ["Node", "Address", "Status", "Type", "Build", "Protocol", "DC",
                              "Partition", "Segment"]
    assert row.split() == [node_name(agent), agent.lan_address, "alive", "server", "1.22.0",
                           "2", "dc1", "default", "<all>"]
    assert header.index("Address") == row.index(agent.lan_address)
    detailed = out(run_cli(agent, "members", "-detailed")).splitlines()
    assert detailed[0].split() == ["Node", "Address", "Status", "Tags"]
    assert "role=consul" in detailed[1] and "dc=dc1" in detailed[1]
    assert run_cli(agent, "members", "-status=failed").returncode == 2


def test_catalog_nodes_services_datacenters(agent, unique):
    node = agent.get("/v1/catalog/nodes").json()[0]
    rows = out(run_cli(agent, "catalog", "nodes")).splitlines()
    assert rows[0].split() == ["Node", "ID", "Address", "DC"]
    assert rows[1].split() == [node["Node"], node["ID"].split("-")[0], node["Address"], "dc1"]
    detailed = out(run_cli(agent, "catalog", "nodes", "-detailed")).splitlines()
    assert detailed[0].split() == ["Node", "ID", "Address", "DC", "TaggedAddresses", "Meta"]
    assert node["ID"] in detailed[1]
    assert out(run_cli(agent, "catalog", "datacenters")) == "dc1\n"
    none = run_cli(agent, "catalog", "nodes", "-service", f"{unique}-none")
    assert none.returncode == 0
    assert err(none) == "No nodes match the given query - try expanding your search.\n"


def test_services_register_deregister(agent, unique, tmp_path):
    added = run_cli(agent, "services", "register", f"-name={unique}", "-port=8080",
                    "-tag=v1", "-tag=blue", "-meta=team=core")
    assert added.returncode == 0 and out(added) == f"Registered service: {unique}\n"
    registered = agent.get(f"/v1/agent/service/{unique}").json()
    assert (registered["Port"], registered["Tags"], registered["Meta"]) == \
        (8080, ["v1", "blue"], {"team": "core"})
    listing = out(run_cli(agent, "catalog", "services", "-tags")).splitlines()
    assert [line.split() for line in listing if line.startswith(unique)] == \
        [[unique, "blue,v1"]]
    hcl = tmp_path / "web.hcl"
    hcl.write_text(f'service {{\n  name = "{unique}-hcl"\n  id = "{unique}-h1"\n'
                   f'  port = 81\n  meta = {{ version = "2" }}\n}}\n')
    assert out(run_cli(agent, "services", "register", str(hcl))) == \
        f"Registered service: {unique}-hcl\n"
    assert agent.get(f"/v1/agent/service/{unique}-h1").json()["Meta"] == {"version": "2"}
    removed = run_cli(agent, "services", "deregister", str(hcl))
    assert out(removed) == f"Deregistered service: {unique}-h1\n"
    assert out(run_cli(agent, "services", "deregister", f"-id={unique}")) == \
        f"Deregistered service: {unique}\n"
    assert agent.get(f"/v1/agent/service/{unique}").status == 404
    assert run_cli(agent, "services", "register").returncode == 1


def test_event_fire(agent, unique):
    fired = run_cli(agent, "event", f"-name={unique}", "payload-1")
    assert fired.returncode == 0 and out(fired).startswith("Event ID: ")
    event_id = out(fired).split()[-1]
    events = agent.get(f"/v1/event/list?name={unique}").json()
    assert [(e["ID"], base64.b64decode(e["Payload"])) for e in events] == \
        [(event_id, b"payload-1")]
    assert err(run_cli(agent, "event")) == "Event name must be specified\n"
    tag_only = run_cli(agent, "event", "-name=x", "-tag=a")
    assert tag_only.returncode == 1
    assert err(tag_only) == "Cannot provide tag filter without service filter.\n"


def test_maint_reload_info(agent):
    enabled = run_cli(agent, "maint", "-enable", "-reason=upgrading")
    assert out(enabled) == "Node maintenance is now enabled\n"
    assert out(run_cli(agent, "maint")) == \
        f"Node:\n  Name:   {node_name(agent)}\n  Reason: upgrading\n\n"
    assert out(run_cli(agent, "maint", "-disable")) == "Node maintenance is now disabled\n"
    assert out(run_cli(agent, "maint")) == ""
    assert err(run_cli(agent, "maint", "-enable", "-disable")) == \
        "Only one of -enable or -disable may be provided\n"
    assert out(run_cli(agent, "reload")) == "Configuration reload triggered\n"
    info = out(run_cli(agent, "info")).splitlines()
    assert "consul:" in info and "\tleader = true" in info


def test_keygen_and_keyring(agent):
    key = out(run_cli(None, "keygen")).strip()
    assert len(base64.b64decode(key)) == 32
    listed = run_cli(agent, "keyring", "-list")
    assert out(listed).splitlines()[:3] == ["==> Gathering installed encryption keys...", "",
                                           "WAN:"]
    assert "dc1 (LAN):" in out(listed)
    assert err(run_cli(agent, "keyring", "-list", f"-install={key}")) == \
        "Only a single action is allowed\n"


def test_rtt_to_self(agent):
    name = node_name(agent)
    wait_until(lambda: agent.get("/v1/coordinate/nodes").json(), what="a coordinate")
    result = run_cli(agent, "rtt", name)
    assert result.returncode == 0
    assert out(result).startswith(f"Estimated {name} <-> {name} rtt: ")
    assert out(result).endswith(" ms (using LAN coordinates)\n")
    assert err(run_cli(agent, "rtt", "no-such-node")) == \
        'Could not find a coordinate for node "no-such-node"\n'


def test_version_help_and_unreachable_agent(tmp_path):
    assert json.loads(out(run_cli(None, "version", "-format=json")))["Version"]
    assert run_cli(None, "members", "-help").returncode == 0
    assert run_cli(None, "no-such-command").returncode == 1
    config = tmp_path / "ok.json"
    config.write_text(json.dumps({"datacenter": "dc1", "data_dir": str(tmp_path)}))
    assert out(run_cli(None, "validate", str(config))) == "Configuration is valid!\n"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = run_cli(None, "members", f"-http-addr=127.0.0.1:{port}")
    assert down.returncode == 1
    assert err(down).startswith("Error retrieving members: ")
    assert "connection refused" in err(down)
