"""The web UI's files as the agent serves them (proconsul.agent.ui) and the summaries of
its internal endpoints (proconsul.agent.http.ui_summary)."""

from __future__ import annotations

import json
import re

import pytest

from proconsul.agent.config.ui import ui_problems
from proconsul.agent.http import ui_summary
from proconsul.agent.ui import LONG_CACHE, NO_CACHE, UIAssets, load, normalize_content_path
from proconsul.structs.catalog import (
    CheckServiceNode,
    ConnectProxyConfig,
    HealthCheck,
    Node,
    NodeService,
)
from proconsul.structs.node_dump import NodeInfo


def test_shipped_assets_are_package_data_with_a_versioned_prefix():
    assets = load({}, dev=True, datacenter="dc7")
    assert assets is not None and assets.content_path == "/ui/"
    index = assets.index.decode()
    assert f'src="/ui/assets/{assets.version}/js/app.js"' in index
    config = json.loads(re.search(r'application/json">(.*?)</script>', index).group(1))
    assert config == {"Datacenter": "dc7", "ContentPath": "/ui/",
                      "AssetBase": f"/ui/assets/{assets.version}/"}
    body, content_type, cache = assets.lookup(f"assets/{assets.version}/js/views/kv.js")
    assert content_type == "text/javascript; charset=utf-8" and cache == LONG_CACHE
    assert b"export async function render" in body
    assert assets.lookup("dc1/kv/a/b/")[2] == NO_CACHE  # an app URL: the index
    assert assets.lookup(f"assets/{assets.version}/missing.js") is None


def test_ui_is_off_without_dev_or_config(tmp_path):
    assert load({}, dev=False, datacenter="dc1") is None
    assert load({"ui_config": {"enabled": False}}, dev=True, datacenter="dc1") is None
    assert load({"ui": True}, dev=False, datacenter="dc1") is not None
    (tmp_path / "index.html").write_text("<b>{{CONTENT_PATH}}</b>")
    own = load({"ui_dir": str(tmp_path), "ui_content_path": "console"}, dev=False,
               datacenter="dc1")
    assert own.content_path == "/console/" and own.index == b"<b>/console/</b>"


def test_the_version_follows_the_content(tmp_path):
    (tmp_path / "index.html").write_text("x")
    (tmp_path / "a.js").write_text("1")
    first = UIAssets(tmp_path).version
    (tmp_path / "a.js").write_text("2")
    assert UIAssets(tmp_path).version != first


@pytest.mark.parametrize(("given", "want"), [("", "/"), ("ui", "/ui/"), ("/a/b", "/a/b/"),
                                             ("/ui/", "/ui/")])
def test_content_path_is_slashed_both_ends(given, want):
    assert normalize_content_path(given) == want


def test_a_ui_dir_without_an_index_is_a_config_problem(tmp_path):
    assert ui_problems({"ui_config": {"dir": str(tmp_path)}}) == [
        f"ui_config.dir: no index.html in {tmp_path}"]
    assert ui_problems({}) == []


def instance(node: str, name: str, sid: str, statuses: list[str], **service) -> CheckServiceNode:
    checks = [HealthCheck(Node=node, CheckID=f"{sid}-{i}", Name="c", Status=s, ServiceID=sid)
              for i, s in enumerate(statuses)]
    return CheckServiceNode(Node=Node(Node=node, Datacenter="dc1"),
                            Service=NodeService(ID=sid, Service=name, **service), Checks=checks)


def test_service_listing_counts_checks_tags_nodes_and_proxies():
    rows = [instance("n1", "web", "w1", ["passing"], Tags=["b", "a"]),
            instance("n2", "web", "w2", ["critical", "warning"], Tags=["a"],
                     Meta={"external-source": "k8s"}),
            instance("n1", "web-proxy", "p1", ["critical"], Kind="connect-proxy",
                     Proxy=ConnectProxyConfig(DestinationServiceName="web"))]
    listing = {s["Name"]: s for s in ui_summary.service_listing(rows, [])}
    web = listing["web"]
    assert (web["InstanceCount"], web["ChecksPassing"], web["ChecksWarning"],
            web["ChecksCritical"]) == (2, 1, 1, 2)  # the proxy's critical check counts too
    assert web["Tags"] == ["a", "b"] and web["Nodes"] == ["n1", "n2"]
    assert web["ExternalSources"] == ["k8s"] and web["ConnectedWithProxy"] is True
    assert listing["web-proxy"]["Kind"] == "connect-proxy"
    assert not any(key.startswith("_") for key in web)


def test_catalog_overview_counts_each_node_and_instance_by_its_worst_check():
    dump = [NodeInfo(Node="n1", Services=[NodeService(ID="w1", Service="web")],
                     Checks=[HealthCheck(Name="serf", Status="passing"),
                             HealthCheck(Name="up", Status="critical", ServiceID="w1")]),
            NodeInfo(Node="n2", Checks=[HealthCheck(Name="serf", Status="warning")])]
    overview = ui_summary.catalog_overview(dump)
    assert overview["Nodes"] == [{"Name": "", "Total": 2, "Passing": 1, "Warning": 1,
                                  "Critical": 0}]
    assert overview["Services"] == [{"Name": "web", "Total": 1, "Passing": 0, "Warning": 0,
                                     "Critical": 1}]
    assert [c["Name"] for c in overview["Checks"]] == ["serf", "up"]
