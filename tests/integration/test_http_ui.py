"""The web UI as the agent serves it: ``/`` redirecting to ``/ui/``, Consul's UI URLs all
answering the app (so bookmarks work), versioned assets cached for a year and the index
never, ``ui_config`` (enabled, dir, content_path) and ``-ui``; and the
``/v1/internal/ui/*`` reads with Consul's shapes, blocking like the rest of the API."""

from __future__ import annotations

import re
import threading

import pytest

from tests.support.agent_process import start_agent, wait_until

UI_URLS = ("/ui/", "/ui/dc1/services", "/ui/dc1/services/web/instances", "/ui/dc1/nodes",
           "/ui/dc1/nodes/n1", "/ui/dc1/kv/a/b/", "/ui/dc1/intentions", "/ui/dc1/acls/tokens")


@pytest.fixture(scope="module")
def agent():
    agent = start_agent()
    try:
        wait_until(lambda: agent.get("/v1/status/leader").json(), what="a leader")
        yield agent
    finally:
        agent.stop()


def asset_urls(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/ui/assets/[^"]+)"', html)


def test_root_redirects_to_the_ui_and_every_ui_url_serves_the_app(agent):
    root = agent.get("/")
    assert root.status == 301 and root.headers["Location"] == "/ui/"
    assert agent.get("/ui").headers["Location"] == "/ui/"
    for url in UI_URLS:
        reply = agent.get(url)
        assert reply.status == 200, url
        assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
        assert reply.headers["Cache-Control"] == "no-cache"
        assert '<main id="main"' in reply.text


def test_assets_are_versioned_typed_and_cached_long(agent):
    html = agent.get("/ui/").text
    urls = asset_urls(html)
    assert any(u.endswith("/app.css") for u in urls) and any(u.endswith("/js/app.js") for u in urls)
    for url in urls:
        reply = agent.get(url)
        assert reply.status == 200, url
        assert reply.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        want = "text/css" if url.endswith(".css") else "text/javascript"
        assert reply.headers["Content-Type"].startswith(want)
    version = urls[0].split("/")[3]
    module = agent.get(f"/ui/assets/{version}/js/views/kv.js")
    assert module.status == 200 and "export async function render" in module.text
    assert agent.get(f"/ui/assets/{version}/nope.js").status == 404
    # an old version's URL still serves the file, but not as immutable
    assert agent.get("/ui/assets/0000/app.css").headers["Cache-Control"] == "no-cache"
    config = re.search(r'<script id="ui-config" type="application/json">(.*?)</script>', html)
    assert '"ContentPath": "/ui/"' in config.group(1) and '"Datacenter": "dc1"' in config.group(1)


def test_ui_off_unless_asked_and_ui_config_dir_and_content_path(tmp_path):
    off = start_agent("-data-dir", str(tmp_path / "d1"), "-server", "-bootstrap", dev=False)
    try:
        reply = off.get("/")
        assert reply.status == 200 and "UI disabled" in reply.text
        assert off.get("/ui/").status == 404
    finally:
        off.stop()
    flag = start_agent("-data-dir", str(tmp_path / "d2"), "-server", "-bootstrap", "-ui",
                       dev=False)
    try:
        assert flag.get("/ui/dc1/nodes").status == 200
    finally:
        flag.stop()
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "index.html").write_text("<p>mine at {{CONTENT_PATH}}</p>")
    (custom / "x.css").write_text("p{}")
    other = start_agent("-hcl", f'ui_config {{ dir = "{custom}" content_path = "/console" }}')
    try:
        assert other.get("/").headers["Location"] == "/console/"
        page = other.get("/console/dc1/services")
        assert page.text == "<p>mine at /console/</p>"
        assert other.get("/ui/").status == 404
        assert other.get("/console/assets/x/x.css").text == "p{}"
    finally:
        other.stop()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RuntimeError, match="ui_config.dir: no index.html in"):
        start_agent("-ui-dir", str(empty))


def register(agent, node, service, status, tags=(), check="chk"):
    body = {"Node": node, "Address": "10.0.0.1", "NodeMeta": {"rack": "r1"},
            "Service": {"ID": f"{service}-{node}", "Service": service, "Tags": list(tags),
                        "Port": 80},
            "Check": {"CheckID": f"{check}-{service}", "Name": check, "Status": status,
                      "ServiceID": f"{service}-{node}", "Output": "out"}}
    assert agent.put("/v1/catalog/register", body).status == 200


def test_internal_ui_services_nodes_and_overview(agent):
    register(agent, "n1", "web", "passing", ["v1"])
    register(agent, "n2", "web", "critical", ["v2"])
    register(agent, "n1", "db", "warning")
    services = {s["Name"]: s for s in agent.get("/v1/internal/ui/services").json()}
    web = services["web"]
    assert web["Nodes"] == ["n1", "n2"] and web["Tags"] == ["v1", "v2"]
    assert (web["InstanceCount"], web["ChecksPassing"], web["ChecksCritical"]) == (2, 1, 1)
    assert services["db"]["ChecksWarning"] == 1
    assert set(web) >= {"Datacenter", "ExternalSources", "GatewayConfig", "TransparentProxy",
                        "ConnectNative", "ConnectedWithProxy", "ConnectedWithGateway"}
    nodes = {n["Node"]: n for n in agent.get("/v1/internal/ui/nodes").json()}
    assert sorted(s["Service"] for s in nodes["n1"]["Services"]) == ["db", "web"]
    assert {c["Name"] for c in nodes["n1"]["Checks"]} == {"chk"}
    assert nodes["n1"]["Meta"] == {"rack": "r1"}
    one = agent.get("/v1/internal/ui/node/n2")
    assert one.status == 200 and one.json()["Node"] == "n2" and one.index > 0
    assert agent.get("/v1/internal/ui/node/nope").status == 404
    overview = agent.get("/v1/internal/ui/catalog-overview").json()
    by_name = {s["Name"]: s for s in overview["Services"]}
    assert by_name["web"] == {"Name": "web", "Total": 2, "Passing": 1, "Warning": 0,
                              "Critical": 1}
    assert overview["Nodes"][0]["Total"] >= 3
    assert agent.get("/v1/internal/ui/service-topology/web").text.startswith(
        "Missing service kind")
    assert agent.get("/v1/internal/ui/service-topology/web?kind=connect-proxy").status == 400


def test_internal_ui_services_blocks_until_a_check_changes(agent):
    register(agent, "n3", "api", "passing")
    first = agent.get("/v1/internal/ui/services")
    result = {}

    def block():
        result["reply"] = agent.get(f"/v1/internal/ui/services?index={first.index}&wait=30s")

    waiter = threading.Thread(target=block)
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive(), "the blocking read returned before any change"
    register(agent, "n3", "api", "critical")
    waiter.join(10)
    api = next(s for s in result["reply"].json() if s["Name"] == "api")
    assert api["ChecksCritical"] == 1 and result["reply"].index > first.index


def test_service_topology_from_proxy_upstreams(agent):
    proxy = {"Node": "n4", "Address": "10.0.0.4",
             "Service": {"Kind": "connect-proxy", "Service": "front-sidecar-proxy", "Port": 21000,
                         "Proxy": {"DestinationServiceName": "front",
                                   "Upstreams": [{"DestinationName": "back",
                                                  "LocalBindPort": 9000}]}}}
    assert agent.put("/v1/catalog/register", proxy).status == 200
    register(agent, "n4", "front", "passing")
    register(agent, "n4", "back", "passing")
    deny = {"SourceName": "front", "DestinationName": "back", "Action": "deny"}
    assert agent.put("/v1/connect/intentions/exact?source=front&destination=back", deny).status == 200
    assert agent.put("/v1/config", {"Kind": "service-defaults", "Name": "front",
                                    "Protocol": "http"}).status == 200
    front = agent.get("/v1/internal/ui/service-topology/front?kind=").json()
    assert front["Protocol"] == "http" and front["TransparentProxy"] is False
    assert [u["Name"] for u in front["Upstreams"]] == ["back"]
    assert front["Upstreams"][0]["Intention"]["Allowed"] is False
    back = agent.get("/v1/internal/ui/service-topology/back?kind=").json()
    assert [d["Name"] for d in back["Downstreams"]] == ["front"]
    services = {s["Name"]: s for s in agent.get("/v1/internal/ui/services").json()}
    assert services["front"]["ConnectedWithProxy"] is True
    proxy["Service"]["Proxy"]["Mode"] = "transparent"
    assert agent.put("/v1/catalog/register", proxy).status == 200
    front = agent.get("/v1/internal/ui/service-topology/front?kind=").json()
    assert front["TransparentProxy"] is True
