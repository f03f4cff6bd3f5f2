"""Views of the web UI on one ``-dev`` agent in headless Chromium: intentions (create L4,
edit to L7, check source -> destination, delete), a node's sessions (invalidate), and the
KV editor's JSON/YAML validation, and the datacenter switcher over a WAN-joined second datacenter."""

from __future__ import annotations

import re

import pytest

from tests.support.agent_process import start_agent, wait_until
from tests.support.browser import chromium


@pytest.fixture(scope="module")
def agent():
    agent = start_agent()
    try:
        wait_until(lambda: agent.get("/v1/status/leader").json(), what="a leader")
        yield agent
    finally:
        agent.stop()


@pytest.fixture
def page(agent):
    with chromium() as found:
        yield found.page
    assert found.problems == []


def url(agent, path: str) -> str:
    return f"http://{agent.host}:{agent.port}/ui/dc1/{path}"


def test_intentions_create_edit_l7_check_and_delete(agent, page):
    page.goto(url(agent, "intentions"))
    page.get_by_role("link", name="Create intention").click()
    page.get_by_label("Source service").fill("web")
    page.get_by_label("Destination service").fill("db")
    page.get_by_label("Action").select_option("deny")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("cell", name="deny").wait_for()
    ixn = agent.get("/v1/connect/intentions/exact?source=web&destination=db").json()
    assert ixn["Action"] == "deny"
    # check: denied
    page.get_by_label("Source", exact=True).fill("web")
    page.get_by_label("Destination", exact=True).fill("db")
    page.get_by_role("button", name="Check").click()
    page.locator("#check-result", has_text="web → db: denied").wait_for()
    # edit into an L7 intention: GET /api/ allowed
    page.get_by_role("link", name="web").click()
    page.get_by_label("Type").select_option("l7")
    page.get_by_role("button", name="Add permission").click()
    page.get_by_role("textbox", name="Path").fill("/api/")
    page.get_by_label("Methods (comma-separated)").fill("get, head")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("cell", name="L7 (1 rules)").wait_for()
    ixn = agent.get("/v1/connect/intentions/exact?source=web&destination=db").json()
    assert ixn["Permissions"] == [{"Action": "allow", "HTTP": {"PathPrefix": "/api/",
                                                                "Methods": ["GET", "HEAD"]}}]
    page.get_by_role("link", name="web").click()
    page.get_by_role("button", name="Delete").click()
    page.get_by_text("No intentions").wait_for()
    assert agent.get("/v1/connect/intentions/exact?source=web&destination=db").status == 404


def test_a_nodes_session_is_invalidated(agent, page):
    node = agent.get("/v1/agent/self").json()["Config"]["NodeName"]
    session = agent.put("/v1/session/create", {"Name": "ui-lock"}).json()["ID"]
    page.goto(url(agent, f"nodes/{node}"))
    page.get_by_role("cell", name="ui-lock").wait_for()
    page.get_by_role("button", name=f"Invalidate session {session}").click()
    page.get_by_text("No sessions").wait_for()  # the blocking list saw it go
    assert agent.get(f"/v1/session/info/{session}").json() in (None, [])
    assert page.locator("#dc-switch option").all_inner_texts() == ["dc1"]


VALIDATION = [
    ("json", '{"a": [1, 2]}', "Valid JSON"),
    ("json", '{"a": [1, 2}', "Invalid JSON"),
    ("yaml", "a: 1\nb:\n  - x\n  - y: 2\n    z: 3\n", "Valid YAML"),
    ("yaml", "a: 1\n  b: 2\n", "Invalid YAML: line 2: unexpected indentation"),
    ("yaml", "a:\n\tb: 1\n", "Invalid YAML: line 2: tabs are not allowed in indentation"),
    ("yaml", "a: [1, 2\n", "Invalid YAML: line 1: unclosed bracket"),
    ("auto", "k: v\n", "Valid YAML"),
    ("auto", "just words", "Plain text"),
]


def test_the_kv_editor_validates_json_and_yaml(agent, page):
    page.goto(url(agent, "kv/create"))
    for fmt, text, verdict in VALIDATION:
        page.get_by_label("Format").select_option(fmt)
        page.locator("#kv-value").fill(text)
        assert page.inner_text("#kv-validity").startswith(verdict), (fmt, text)


def test_the_datacenter_switcher_reads_another_datacenter(agent):
    other = start_agent("-datacenter", "dc2", "-join-wan", f"{agent.host}:{agent.wan_port}")
    try:
        wait_until(lambda: agent.get("/v1/catalog/datacenters").json() == ["dc1", "dc2"], 30,
                   "dc2 in dc1's WAN pool")
        assert other.put("/v1/agent/service/register", {"Name": "only-in-dc2"}).status == 200
        with chromium() as found:
            page = found.page
            page.goto(url(agent, "services"))
            page.locator("#dc-switch option", has_text="dc2").wait_for(state="attached")
            page.get_by_label("Datacenter").select_option("dc2")
            page.wait_for_url("**/ui/dc2/services")
            page.get_by_role("link", name="only-in-dc2").wait_for()  # asked of dc2 via ?dc=
            assert found.problems == []
    finally:
        other.stop()


def test_a_long_service_list_is_painted_a_page_at_a_time(agent, page):
    for i in range(240):
        body = {"Node": f"many-{i % 7}", "Address": "10.0.0.7",
                "Service": {"Service": f"many-{i:03d}", "Port": 80}}
        assert agent.put("/v1/catalog/register", body).status == 200
    page.goto(url(agent, "services"))
    page.get_by_text(re.compile(r"^2\d\d of 2\d\d services$")).wait_for()
    rows = page.locator("#service-rows tr")
    assert rows.count() == 100
    more = page.get_by_role("button", name=re.compile("^Show more"))
    more.focus()
    page.keyboard.press("Enter")
    assert rows.count() >= 200
    page.get_by_label("Search").fill("many-23")  # filtering looks at every service
    assert rows.count() == 10 and more.is_hidden()
    page.get_by_label("Search").fill("")
    more.scroll_into_view_if_needed()  # scrolling to the end paints the next page
    page.wait_for_function("document.querySelectorAll('#service-rows tr').length > 100")
