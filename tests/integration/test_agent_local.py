"""/v1/agent services and checks against real agents: registration to catalog, sidecars,
TTL and maintenance, health endpoints, hash blocking, persistence, anti-entropy."""

from __future__ import annotations

import json
import threading

from tests.support.agent_process import start_agent, wait_until


def catalog_ids(agent, service: str) -> list[str]:
    return [s["ServiceID"] for s in agent.get(f"/v1/catalog/service/{service}").json()]


def check_status(agent, check_id: str) -> str | None:
    check = agent.get("/v1/agent/checks").json().get(check_id)
    return check["Status"] if check else None


def test_register_shows_in_agent_catalog_and_health(agent, unique):
    body = {"Name": unique, "ID": f"{unique}-1", "Tags": ["v1"], "Port": 8080,
            "Meta": {"team": "a"}, "Check": {"TTL": "30s", "Status": "passing"}}
    assert agent.put("/v1/agent/service/register", body).status == 200
    service = agent.get("/v1/agent/services").json()[f"{unique}-1"]
    assert (service["Service"], service["Port"], service["Tags"]) == (unique, 8080, ["v1"])
    assert service["Weights"] == {"Passing": 1, "Warning": 1}
    wait_until(lambda: catalog_ids(agent, unique) == [f"{unique}-1"], what="anti-entropy")
    [entry] = agent.get(f"/v1/health/service/{unique}?passing").json()
    assert [c["CheckID"] for c in entry["Checks"]] == ["serfHealth", f"service:{unique}-1"]
    assert agent.put(f"/v1/agent/service/deregister/{unique}-1").status == 200
    wait_until(lambda: catalog_ids(agent, unique) == [], what="deregistration synced")


def test_snake_case_body_and_filter(agent, unique):
    agent.put("/v1/agent/service/register", {"name": unique, "port": 1,
                                             "enable_tag_override": True, "tags": ["x"]})
    services = agent.get(f"/v1/agent/services?filter=Service%20==%20{unique}").json()
    assert list(services) == [unique] and services[unique]["EnableTagOverride"] is True
    assert agent.get("/v1/agent/services?filter=Nope%20==%201").status == 400


def test_bad_registrations(agent):
    assert agent.put("/v1/agent/service/register", {"Port": 1}).status == 400
    assert agent.put("/v1/agent/service/register", {"Name": "x", "Bogus": 1}).status == 400
    reply = agent.put("/v1/agent/service/register",
                      {"Name": "x", "Check": {"Args": ["/bin/true"], "Interval": "10s"}})
    assert reply.status == 400 and "Scripts are disabled" in reply.text
    reply = agent.put("/v1/agent/service/register", {"Name": "x", "Check": {"Interval": "1s"}})
    assert reply.status == 400
    assert agent.put("/v1/agent/service/deregister/nope").status == 404
    assert agent.get("/v1/agent/service/nope").status == 404


def test_sidecar_service_defaults(agent, unique):
    body = {"Name": unique, "Port": 9090, "Tags": ["prod"], "Meta": {"v": "2"},
            "Connect": {"SidecarService": {}}}
    assert agent.put("/v1/agent/service/register", body).status == 200
    sidecar = agent.get(f"/v1/agent/service/{unique}-sidecar-proxy").json()
    assert sidecar["Kind"] == "connect-proxy"
    assert sidecar["Service"] == f"{unique}-sidecar-proxy"
    assert 21000 <= sidecar["Port"] <= 21255
    assert (sidecar["Tags"], sidecar["Meta"]) == (["prod"], {"v": "2"})
    proxy = sidecar["Proxy"]
    assert (proxy["DestinationServiceName"], proxy["DestinationServiceID"],
            proxy["LocalServicePort"]) == (unique, unique, 9090)
    checks = {c["Name"]: c for c in agent.get("/v1/agent/checks").json().values()
              if c["ServiceID"] == f"{unique}-sidecar-proxy"}
    assert checks["Connect Sidecar Listening"]["Type"] == "tcp"
    assert checks[f"Connect Sidecar Aliasing {unique}"]["Type"] == "alias"
    agent.put(f"/v1/agent/service/deregister/{unique}")
    assert agent.get(f"/v1/agent/service/{unique}-sidecar-proxy").status == 404


def test_sidecar_own_tags_win_and_ports_do_not_clash(agent, unique):
    for name in (f"{unique}a", f"{unique}b"):
        agent.put("/v1/agent/service/register", {
            "Name": name, "Port": 1, "Tags": ["parent"],
            "Connect": {"SidecarService": {"Tags": ["own"]}}})
    a = agent.get(f"/v1/agent/service/{unique}a-sidecar-proxy").json()
    b = agent.get(f"/v1/agent/service/{unique}b-sidecar-proxy").json()
    assert a["Tags"] == ["own"] and a["Port"] != b["Port"]


def test_ttl_check_pass_warn_fail_update(agent, unique):
    assert agent.put("/v1/agent/check/register",
                     {"Name": unique, "TTL": "60s", "Notes": "n"}).status == 200
    assert check_status(agent, unique) == "critical"
    for verb, status in (("pass", "passing"), ("warn", "warning"), ("fail", "critical")):
        assert agent.put(f"/v1/agent/check/{verb}/{unique}?note=hi").status == 200
        assert check_status(agent, unique) == status
    assert agent.put(f"/v1/agent/check/update/{unique}",
                     {"Status": "passing", "Output": "all good"}).status == 200
    check = agent.get("/v1/agent/checks").json()[unique]
    assert (check["Status"], check["Output"]) == ("passing", "all good")
    assert agent.put(f"/v1/agent/check/update/{unique}", {"Status": "bad"}).status == 400
    assert agent.put("/v1/agent/check/pass/nope").status == 404
    assert agent.put(f"/v1/agent/check/deregister/{unique}").status == 200
    assert check_status(agent, unique) is None


def test_ttl_expiry_turns_critical(agent, unique):
    agent.put("/v1/agent/check/register", {"Name": unique, "TTL": "1s"})
    agent.put(f"/v1/agent/check/pass/{unique}")
    wait_until(lambda: check_status(agent, unique) == "critical", what="TTL expiry")
    assert "TTL expired" in agent.get("/v1/agent/checks").json()[unique]["Output"]
    agent.put(f"/v1/agent/check/deregister/{unique}")


def test_health_endpoints_and_maintenance(agent, unique):
    agent.put("/v1/agent/service/register",
              {"Name": unique, "Check": {"TTL": "60s", "Status": "passing"}})
    reply = agent.get(f"/v1/agent/health/service/id/{unique}")
    assert reply.status == 200 and reply.json()["AggregatedStatus"] == "passing"
    agent.put(f"/v1/agent/check/warn/service:{unique}")
    assert agent.get(f"/v1/agent/health/service/name/{unique}").status == 429
    text = agent.get(f"/v1/agent/health/service/id/{unique}?format=text")
    assert (text.status, text.text) == (429, "warning")
    assert agent.put(f"/v1/agent/service/maintenance/{unique}?enable=true&reason=deploy"
                     ).status == 200
    maint = agent.get("/v1/agent/checks").json()[f"_service_maintenance:{unique}"]
    assert (maint["Status"], maint["Notes"]) == ("critical", "deploy")
    assert agent.get(f"/v1/agent/health/service/id/{unique}").status == 503
    agent.put(f"/v1/agent/service/maintenance/{unique}?enable=false")
    assert f"_service_maintenance:{unique}" not in agent.get("/v1/agent/checks").json()
    assert agent.put(f"/v1/agent/service/maintenance/{unique}").status == 400
    assert agent.get("/v1/agent/health/service/id/nope").status == 404
    assert agent.put("/v1/agent/maintenance?enable=true").status == 200
    assert "_node_maintenance" in agent.get("/v1/agent/checks").json()
    agent.put("/v1/agent/maintenance?enable=false")


def test_hash_blocking_on_a_service(agent, unique):
    agent.put("/v1/agent/service/register", {"Name": unique, "Port": 1})
    first = agent.get(f"/v1/agent/service/{unique}")
    digest = first.headers["X-Consul-ContentHash"]
    assert first.json()["ContentHash"] == digest
    result = {}
    waiter = threading.Thread(target=lambda: result.update(
        reply=agent.get(f"/v1/agent/service/{unique}?hash={digest}&wait=20s")))
    waiter.start()
    agent.put("/v1/agent/service/register", {"Name": unique, "Port": 2})
    waiter.join(10)
    assert not waiter.is_alive()
    assert result["reply"].json()["Port"] == 2
    assert result["reply"].headers["X-Consul-ContentHash"] != digest
    same = agent.get(f"/v1/agent/service/{unique}?hash="
                     f"{result['reply'].headers['X-Consul-ContentHash']}&wait=200ms")
    assert same.json()["Port"] == 2


def test_replace_existing_checks(agent, unique):
    agent.put("/v1/agent/service/register", {"Name": unique, "Checks": [
        {"TTL": "60s"}, {"TTL": "60s"}]})
    assert {f"service:{unique}:1", f"service:{unique}:2"} <= set(
        agent.get("/v1/agent/checks").json())
    agent.put("/v1/agent/service/register?replace-existing-checks",
              {"Name": unique, "Check": {"CheckID": "only", "TTL": "60s"}})
    ids = {cid for cid, c in agent.get("/v1/agent/checks").json().items()
           if c["ServiceID"] == unique}
    assert ids == {"only"}


def test_catalog_write_behind_the_agents_back_is_warned_and_reverted(agent, unique):
    node = agent.get("/v1/agent/self").json()["Config"]["NodeName"]
    agent.put("/v1/agent/service/register", {"Name": unique, "Port": 5})
    wait_until(lambda: catalog_ids(agent, unique) == [unique], what="synced")
    reply = agent.put("/v1/catalog/deregister", {"Node": node, "ServiceID": unique})
    assert reply.status == 200 and "anti-entropy will revert" in reply.headers["Warning"]
    wait_until(lambda: catalog_ids(agent, unique) == [unique], what="reverted")
    other = agent.put("/v1/catalog/register", {"Node": f"{unique}-ext", "Address": "10.0.0.9"})
    assert "Warning" not in other.headers


def test_config_file_services_and_persistence(tmp_path):
    (tmp_path / "web.hcl").write_text('''
service {
  name = "web"
  port = 80
  enable_tag_override = true
  check { id = "web-ttl" ttl = "30s" }
  connect { sidecar_service {} }
}
''')
    (tmp_path / "db.json").write_text(json.dumps({"services": [
        {"Name": "db", "Port": 5432, "Checks": [{"Name": "db-ttl", "TTL": "30s"}]}]}))
    data = tmp_path / "data"
    args = ("-server", "-bootstrap", "-data-dir", str(data), "-config-dir", str(tmp_path))
    agent = start_agent(*args, dev=False)
    try:
        services = agent.get("/v1/agent/services").json()
        assert {"web", "web-sidecar-proxy", "db"} <= set(services)
        assert "web-ttl" in agent.get("/v1/agent/checks").json()
        agent.put("/v1/agent/service/register", {"Name": "api", "Port": 7})
        agent.put("/v1/agent/check/register", {"Name": "api-ttl", "TTL": "30s",
                                               "ServiceID": "api"})
    finally:
        agent.stop()
    agent = start_agent(*args, dev=False, host=agent.host)
    try:
        assert "api" in agent.get("/v1/agent/services").json()
        assert "api-ttl" in agent.get("/v1/agent/checks").json()
    finally:
        agent.stop()


def test_invalid_config_file_stops_the_agent_with_file_and_key(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"servise": {}}))
    try:
        start_agent("-config-file", str(bad))
    except RuntimeError as err:
        assert f'{bad}: invalid config key "servise"' in str(err)
    else:
        raise AssertionError("agent started with an invalid config file")


def test_enable_tag_override_adopts_catalog_tags(agent, unique):
    node = agent.get("/v1/agent/self").json()["Config"]["NodeName"]
    agent.put("/v1/agent/service/register",
              {"Name": unique, "Tags": ["agent"], "EnableTagOverride": True})
    wait_until(lambda: catalog_ids(agent, unique) == [unique], what="synced")
    reply = agent.put("/v1/catalog/register", {
        "Node": node, "Address": "127.0.0.1", "SkipNodeUpdate": True,
        "Service": {"ID": unique, "Service": unique, "Tags": ["catalog"],
                    "EnableTagOverride": True}})
    assert "Warning" in reply.headers  # a full sync runs now; tag override keeps these tags
    wait_until(lambda: agent.get(f"/v1/agent/service/{unique}").json()["Tags"] == ["catalog"],
               what="the agent to adopt the catalog's tags")
    assert agent.get(f"/v1/catalog/service/{unique}").json()[0]["ServiceTags"] == ["catalog"]


def test_http_port_minus_one_disables_the_http_api(tmp_path):
    agent = start_agent("-http-port", "-1")  # given after the fixture's own port: it wins
    try:
        try:
            agent.get("/v1/status/leader", timeout=2)
        except OSError:
            pass
        else:
            raise AssertionError("the HTTP API answered although ports.http = -1")
    finally:
        agent.stop()
