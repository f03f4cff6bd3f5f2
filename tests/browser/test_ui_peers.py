"""The Peers view in headless Chromium over two real clusters: dc1's UI generates a token,
dc2's UI establishes the peering with it, dc2's UI shows the peering ACTIVE with the
service dc1 exports and that service's instance from the peer, and deletes the peering."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.agent_process import wait_until
from tests.support.browser import chromium
from tests.support.peering_lab import PeeringCluster, two_clusters


@pytest.fixture
def clusters(tmp_path: Path):
    with two_clusters(tmp_path, extra_config={"ui_config": {"enabled": True}}) as both:
        yield both


@pytest.fixture
def page():
    with chromium() as found:
        yield found.page
    assert found.problems == []


def ui(cluster: PeeringCluster, path: str) -> str:
    return f"http://{cluster.agent.host}:{cluster.agent.port}/ui/{cluster.dc}/{path}"


def test_peering_made_watched_and_deleted_in_the_ui(clusters, page):
    dc1, dc2 = clusters
    reply = dc1.agent.put("/v1/catalog/register", {
        "Node": "web-node", "Address": "10.1.0.1",
        "Service": {"ID": "web-1", "Service": "web", "Port": 8080}})
    assert reply.status == 200, reply.text
    reply = dc1.agent.put("/v1/config", {"Kind": "exported-services", "Name": "default",
                                         "Services": [{"Name": "web",
                                                       "Consumers": [{"Peer": "dc2"}]}]})
    assert reply.status == 200, reply.text

    page.goto(ui(dc1, "peers"))
    page.get_by_text("No peers yet").wait_for()
    page.get_by_label("Name of the peer").first.fill("dc2")
    page.get_by_role("button", name="Generate token").click()
    token_box = page.locator("#peer-token")
    token_box.wait_for()
    wait_until(lambda: token_box.input_value(), what="the token in dc1's UI")
    token = token_box.input_value()
    page.get_by_role("link", name="dc2").wait_for()  # dc1 lists the pending peering

    page.goto(ui(dc2, "peers"))
    page.locator("#peer-est-name").fill("dc1")
    page.locator("#peer-est-token").fill(token)
    page.get_by_role("button", name="Establish peering").click()
    page.get_by_role("heading", name="Peer dc1").wait_for()
    page.locator("#peer-state", has_text="ACTIVE").wait_for(timeout=30_000)
    page.locator("#peer-imported").get_by_role("link", name="web").click()
    page.get_by_role("heading", name="web (from peer dc1)").wait_for()
    page.get_by_role("cell", name="web-1").wait_for()
    page.get_by_role("cell", name="10.1.0.1:8080").wait_for()

    page.get_by_role("link", name="← Peer dc1").click()
    page.get_by_role("button", name="Delete peering").click()
    page.get_by_role("heading", name="Peers").wait_for()
    wait_until(lambda: dc2.agent.get("/v1/peering/dc1").status == 404, 30,
               "the peering gone from dc2")
    page.get_by_text("No peers yet").wait_for(timeout=30_000)
