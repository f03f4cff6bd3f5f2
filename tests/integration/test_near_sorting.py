"""``?near=<node>`` on every read Consul sorts by estimated round-trip time: catalog nodes,
catalog service, health service, health checks and health state, and ``catalog nodes
-near``. Nodes sit on a line at known distances from the source; nodes without a
coordinate go last."""

from __future__ import annotations

import pytest

from tests.support.agent_process import Reply, wait_until
from tests.support.cli_process import run_cli

DISTANCES = {"n1": 0.5, "n2": 0.01, "n3": 0.2}  # nearest first: n2, n3, n1, then n4
NEAREST_FIRST = ["n2", "n3", "n1", "n4"]


def _ok(reply: Reply) -> Reply:
    assert reply.status == 200, (reply.status, reply.text)
    return reply


def coordinate(x: float) -> dict:
    return {"Vec": [x] + [0.0] * 7, "Error": 0.1, "Adjustment": 0, "Height": 1e-5}


@pytest.fixture
def line(agent, unique):
    """Four nodes of a service ``<unique>-web`` (n4 without a coordinate) and a source node
    at the origin; returns the names' prefix."""
    meta = {"near-test": unique}
    for short in ("n4", "n3", "n1", "n2"):  # registered out of order
        node = f"{unique}-{short}"
        _ok(agent.put("/v1/catalog/register", {
            "Node": node, "Address": "10.0.0.1", "NodeMeta": meta,
            "Service": {"ID": "web", "Service": f"{unique}-web", "Port": 80},
            "Checks": [{"CheckID": "web", "Name": "web", "ServiceID": "web",
                        "Status": "passing"}]}))
        if short in DISTANCES:
            _ok(agent.put("/v1/coordinate/update",
                          {"Node": node, "Coord": coordinate(DISTANCES[short])}))
    _ok(agent.put("/v1/catalog/register", {"Node": f"{unique}-src", "Address": "10.0.0.2"}))
    _ok(agent.put("/v1/coordinate/update", {"Node": f"{unique}-src", "Coord": coordinate(0)}))
    wanted = {f"{unique}-{short}" for short in (*DISTANCES, "src")}
    wait_until(lambda: wanted <= {c["Node"] for c in
                                  _ok(agent.get("/v1/coordinate/nodes")).json()},
               30, "the coordinates applied")
    return unique


def shorts(unique: str, names: list[str]) -> list[str]:
    return [n.removeprefix(f"{unique}-") for n in names]


def test_every_sorting_read_puts_the_nearest_first(agent, line):
    unique = line
    web, meta, src = f"{unique}-web", f"near-test:{unique}", f"{unique}-src"
    reads = {
        f"/v1/catalog/nodes?node-meta={meta}": lambda body: [n["Node"] for n in body],
        f"/v1/catalog/service/{web}": lambda body: [n["Node"] for n in body],
        f"/v1/health/service/{web}": lambda body: [n["Node"]["Node"] for n in body],
        f"/v1/health/checks/{web}": lambda body: [c["Node"] for c in body],
        f"/v1/health/state/passing?node-meta={meta}": lambda body: [c["Node"] for c in body],
    }
    for path, nodes_of in reads.items():
        plain = shorts(unique, nodes_of(_ok(agent.get(path)).json()))
        assert plain == ["n1", "n2", "n3", "n4"], path  # by name without ?near
        sep = "&" if "?" in path else "?"
        near = shorts(unique, nodes_of(_ok(agent.get(f"{path}{sep}near={src}")).json()))
        assert near == NEAREST_FIRST, path


def test_near_a_node_without_a_coordinate_keeps_the_name_order(agent, line):
    unique = line
    for source in (f"{unique}-nowhere", f"{unique}-n4"):
        body = _ok(agent.get(f"/v1/catalog/nodes?node-meta=near-test:{unique}"
                             f"&near={source}")).json()
        assert shorts(unique, [n["Node"] for n in body]) == ["n1", "n2", "n3", "n4"], source


def test_cli_catalog_nodes_near(agent, line):
    unique = line
    result = run_cli(agent, "catalog", "nodes", "-near", f"{unique}-src",
                     "-node-meta", f"near-test={unique}")
    assert result.returncode == 0, result.stderr
    rows = result.stdout.decode().splitlines()[1:]
    assert shorts(unique, [row.split()[0] for row in rows]) == NEAREST_FIRST
