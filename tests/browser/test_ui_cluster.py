"""The web UI in headless Chromium against a real cluster: three servers and a client
agent serving the UI (``-ui``), every request of the page going through the client.

A user opens ``/ui/``, sees services and their health; a check turning critical shows on
the open page without a reload (the page's blocking query wakes); a nested KV key is
created, edited, found by search, a conflicting edit from the API is detected (CAS) and
shown, and the key is deleted. Every view is screenshot at 1280x800 and 375x800 into
``tmp/artifacts/`` for review.
"""

from __future__ import annotations

import base64
import time

import pytest

from tests.integration.test_cluster import Cluster, put_acked
from tests.support.agent_process import AgentProcess, start_agent, wait_until
from tests.support.browser import SIZES, chromium, screenshot

# Issue #21's target is 2 s from the API call to the page showing it: bench/ui_bench.py
# measures it; the test waits long enough for a loaded box and checks there was no reload.
LIVE_UPDATE_WAIT = 30.0


class UICluster(Cluster):
    def _start_client(self, i: int) -> AgentProcess:
        return start_agent("-data-dir", str(self.root / f"c{i}"), "-node", f"c{i}", "-ui",
                           "-retry-interval", "1s", *self.joins, dev=False)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    cluster = UICluster(tmp_path_factory.mktemp("ui-cluster"), servers=3, clients=1)
    try:
        client = cluster.clients[0]
        wait_until(lambda: put_acked(client, "ready", "1"), 30, "a client write")
        for i in (1, 2):
            service = {"ID": f"web-{i}", "Name": "web", "Port": 8080 + i, "Tags": ["v1", f"z{i}"],
                       "Meta": {"team": "payments"},
                       "Check": {"CheckID": f"web-{i}-ttl", "Name": "web alive", "TTL": "10m",
                                 "Status": "passing"}}
            assert client.put("/v1/agent/service/register", service).status == 200
        assert client.put("/v1/agent/service/register", {
            "Name": "db", "Port": 5432, "Check": {"CheckID": "db-ttl", "TTL": "10m",
                                                  "Status": "warning", "Name": "db alive"}}).status == 200
        wait_until(lambda: len(client.get("/v1/health/service/web").json()) == 2, 20,
                   "the client's services in the catalog")
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def browser():
    with chromium() as found:
        yield found
    assert found.problems == []


def ui(cluster: Cluster, path: str = "") -> str:
    client = cluster.clients[0]
    return f"http://{client.host}:{client.port}/ui/{path}"


def row(page, name: str):
    return page.locator("#service-rows tr", has=page.get_by_role("link", name=name, exact=True))


def test_services_and_their_health_live_without_reload(cluster, browser):
    page = browser.page
    page.goto(ui(cluster))
    page.wait_for_url("**/ui/dc1/services")
    web = row(page, "web")
    web.locator(".status.passing").wait_for()
    assert "2 instances" in web.inner_text()
    row(page, "db").locator(".status.warning").wait_for()
    assert page.get_by_role("link", name="consul", exact=True).count() == 1
    page.evaluate("window.__sameDocument = true")
    client = cluster.clients[0]
    started = time.monotonic()
    assert client.put("/v1/agent/check/fail/web-2-ttl?note=disk%20full").status == 200
    web.locator(".status.critical").wait_for(timeout=LIVE_UPDATE_WAIT * 1000)
    print(f"the page showed the failed check {time.monotonic() - started:.2f}s after the call")
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    assert "1 critical" in web.inner_text()
    # filter by health, then by tag, with the keyboard
    page.get_by_label("Health").select_option("critical")
    assert page.locator("#service-rows tr").count() == 1
    page.get_by_label("Health").select_option("")
    page.get_by_label("Search").fill("z2")
    assert page.locator("#service-rows tr").count() == 1
    # an instance's checks with their output
    page.get_by_label("Search").fill("")
    web.get_by_role("link", name="web").click()
    page.get_by_role("link", name="web-2").click()
    page.get_by_text("disk full").wait_for()
    assert "payments" in page.inner_text("main")
    client.put("/v1/agent/check/pass/web-2-ttl")


def test_a_nested_kv_key_created_edited_searched_conflicting_and_deleted(cluster, browser):
    page = browser.page
    client = cluster.clients[0]
    page.goto(ui(cluster, "dc1/kv/"))
    page.get_by_role("link", name="Create key or folder").click()
    page.get_by_label("Key name").fill("ui-test/nested/deep/settings")
    page.locator("#kv-value").fill('{"pool": 5}')
    assert page.inner_text("#kv-validity") == "Valid JSON"
    page.locator("#kv-value").fill('{"pool": ')
    assert page.inner_text("#kv-validity").startswith("Invalid JSON")
    page.locator("#kv-value").fill('{"pool": 5, "needle": "haystack-42"}')
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/kv/ui-test/nested/deep/settings/edit")
    assert stored(client, "ui-test/nested/deep/settings") == '{"pool": 5, "needle": "haystack-42"}'
    # edit it
    page.locator("#kv-value").fill("pool: 6\nneedle: haystack-42\n")
    page.get_by_label("Format").select_option("yaml")
    assert page.inner_text("#kv-validity") == "Valid YAML"
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Saved at index").wait_for()
    assert stored(client, "ui-test/nested/deep/settings") == "pool: 6\nneedle: haystack-42\n"
    # find it by a word of its value, from the top folder
    page.goto(ui(cluster, "dc1/kv/ui-test/"))
    page.get_by_label("Search keys and values").fill("haystack-42")
    page.get_by_label("Search keys and values").press("Enter")
    page.locator("#kv-results a", has_text="ui-test/nested/deep/settings").click()
    page.wait_for_url("**/settings/edit")
    # the editor has read the key (the URL changes before its GET returns)
    loaded = client.get("/v1/kv/ui-test/nested/deep/settings").json()[0]["ModifyIndex"]
    page.get_by_text(f"ModifyIndex {loaded} ").wait_for()
    # somebody else writes it meanwhile: the save is refused and the conflict shown
    assert client.put("/v1/kv/ui-test/nested/deep/settings", "theirs: 1\n").text.strip() == "true"
    page.locator("#kv-value").fill("mine: 2\n")
    page.get_by_role("button", name="Save").click()
    conflict = page.locator("#kv-conflict")
    conflict.wait_for()
    assert "changed by someone else" in conflict.inner_text()
    assert "theirs: 1" in conflict.inner_text()
    assert stored(client, "ui-test/nested/deep/settings") == "theirs: 1\n"
    page.get_by_role("button", name="Discard mine, load current value").click()
    assert page.locator("#kv-value").input_value() == "theirs: 1\n"
    # the recursive flat view lists it, then delete it (CAS on the index just loaded)
    page.goto(ui(cluster, "dc1/kv/ui-test/?view=flat"))
    page.get_by_role("link", name="ui-test/nested/deep/settings").click()
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url("**/kv/ui-test/nested/deep/")
    assert client.get("/v1/kv/ui-test/nested/deep/settings").status == 404


def stored(client: AgentProcess, key: str) -> str:
    return base64.b64decode(client.get(f"/v1/kv/{key}").json()[0]["Value"]).decode()


VIEWS = [
    ("services", "dc1/services", "#service-rows tr"),
    ("service-instances", "dc1/services/web/instances", "text=Instances (2)"),
    ("instance", "dc1/services/web/instances/c0/web-1", "text=Health checks"),
    ("nodes", "dc1/nodes", "text=Leader"),
    ("node", "dc1/nodes/c0", "text=Lock sessions"),
    ("kv", "dc1/kv/", "text=Search keys and values"),
    ("kv-create", "dc1/kv/create", "#kv-value"),
    ("intentions", "dc1/intentions", "text=Check source → destination"),
    ("intention-create", "dc1/intentions/create", "#ixn-source"),
    ("acls", "dc1/acls/tokens", "text=Your token"),
]


@pytest.mark.parametrize("size", sorted(SIZES))
def test_every_view_renders_at_desktop_and_phone_width(cluster, size):
    width, height = SIZES[size]
    client = cluster.clients[0]
    client.put("/v1/kv/ui-shots/app/config", '{"replicas": 3}')
    with chromium(width, height) as found:
        page = found.page
        for name, path, ready in VIEWS:
            page.goto(ui(cluster, path))
            page.locator(ready).first.wait_for()
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{name} at {width}px scrolls sideways by {overflow}px"
            screenshot(page, f"{name}-{width}x{height}")
        assert found.problems == []
    with chromium(width, height, color_scheme="dark") as found:
        found.page.goto(ui(cluster, "dc1/services"))
        found.page.locator("#service-rows tr").first.wait_for()
        background = found.page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(13, 17, 23)"  # the dark theme, from prefers-color-scheme
        screenshot(found.page, f"services-dark-{width}x{height}")


def test_keyboard_only_and_landmarks(cluster, browser):
    page = browser.page
    page.goto(ui(cluster, "dc1/services"))
    page.locator("#service-rows tr").first.wait_for()
    for role in ("banner", "main", "navigation", "search"):
        assert page.get_by_role(role).count() >= 1, role
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    # tab to the Nodes link and follow it with Enter
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Nodes":
            break
    page.keyboard.press("Enter")
    page.wait_for_url("**/ui/dc1/nodes")
    page.get_by_role("link", name="c0").wait_for()
    # every form control of the KV editor has a label
    page.goto(ui(cluster, "dc1/kv/create"))
    for control in page.locator("main input, main select, main textarea").all():
        assert control.evaluate("el => el.labels.length") > 0, control.evaluate("el => el.id")
