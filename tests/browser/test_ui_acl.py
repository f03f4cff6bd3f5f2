"""The web UI with ACLs on (default deny), in headless Chromium against three servers and a
``-ui`` client: a user logs in with a token and sees only what it allows; a denial is shown
as the API's 403 text; a management token creates a policy, a role and a token, then deletes the token."""

from __future__ import annotations

import pytest

from tests.browser.test_ui_cluster import ui
from tests.integration.test_acl_cluster import ACL_HCL, ROOT, ready
from tests.integration.test_cluster import Cluster
from tests.support.agent_process import AgentProcess, start_agent, start_server, wait_until
from tests.support.browser import chromium, screenshot

READER_RULES = ('service "web" { policy = "read" }\nnode_prefix "" { policy = "read" }\n'
                'key_prefix "public/" { policy = "read" }\n')


class ACLUICluster(Cluster):
    def _start_client(self, i: int) -> AgentProcess:
        return start_agent("-data-dir", str(self.root / f"c{i}"), "-node", f"c{i}", "-ui",
                           "-retry-interval", "1s", "-hcl", ACL_HCL, *self.joins, dev=False)

    def start(self, i: int) -> None:
        self.servers[i] = start_server(self.specs[i], "-hcl", ACL_HCL)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    cluster = ACLUICluster(tmp_path_factory.mktemp("ui-acl"), servers=3, clients=1)
    try:
        client = cluster.clients[0]
        cluster.leader()
        wait_until(lambda: ready(client), 60, "ACLs ready through the client")
        for node, service in (("n-web", "web"), ("n-secret", "secret")):
            body = {"Node": node, "Address": "10.0.0.9",
                    "Service": {"Service": service, "Port": 80},
                    "Check": {"Name": f"{service} check", "Status": "passing",
                              "ServiceID": service}}
            assert client.put("/v1/catalog/register", body, headers=ROOT).status == 200
        for key in ("public/hello", "private/hidden"):
            assert client.put(f"/v1/kv/{key}", "x", headers=ROOT).status == 200
        policy = client.put("/v1/acl/policy", {"Name": "web-reader", "Rules": READER_RULES},
                            headers=ROOT).json()
        cluster.reader = client.put("/v1/acl/token", {
            "Description": "web reader", "Policies": [{"ID": policy["ID"]}]},
            headers=ROOT).json()["SecretID"]
        yield cluster
    finally:
        cluster.stop()


def log_in(page, secret: str) -> None:
    page.get_by_label("Log in with a token (SecretID)").fill(secret)
    page.get_by_role("button", name="Log in").click()


def test_a_token_sees_only_what_it_allows(cluster):
    with chromium() as found:
        page = found.page
        page.goto(ui(cluster, "dc1/services"))
        page.get_by_text("0 of 0 services").wait_for()  # anonymous, default deny: nothing
        page.get_by_role("link", name="Access Controls").click()
        log_in(page, cluster.reader)
        page.get_by_text("Logged in as web reader").wait_for()
        page.locator("#token-status", has_text="Token: web reader").wait_for()
        page.locator("#my-permissions li", has_text="node:read ✓").wait_for()
        assert "acl:read ✗" in page.inner_text("#my-permissions")
        # the token list needs acl:read: the API's 403 text is shown
        error = page.locator("#errors .error", has_text="Permission denied")
        error.wait_for()
        assert "acl:read" in error.inner_text()
        screenshot(page, "acls-denied-1280x800")
        page.get_by_role("link", name="Services", exact=True).click()
        page.get_by_role("link", name="web", exact=True).wait_for()
        assert page.get_by_text("1 of 1 services").count() == 1
        assert page.get_by_role("link", name="secret", exact=True).count() == 0
        page.goto(ui(cluster, "dc1/kv/public/"))
        page.get_by_role("link", name="hello").wait_for()
        page.goto(ui(cluster, "dc1/kv/private/"))
        page.get_by_text("No keys here yet.").wait_for()
        # a write it may not make is refused, with the reason
        page.goto(ui(cluster, "dc1/kv/create?folder=public/"))
        page.get_by_label("Key name").fill("new")
        page.get_by_role("button", name="Save").click()
        page.locator("#errors .error", has_text="Permission denied").wait_for()
        assert "key:write" in page.inner_text("#errors") or "public/new" in page.inner_text(
            "#errors")
        assert cluster.clients[0].get("/v1/kv/public/new", headers=ROOT).status == 404
        assert found.problems == []


def test_a_management_token_manages_policies_roles_and_tokens(cluster):
    client = cluster.clients[0]
    with chromium() as found:
        page = found.page
        page.goto(ui(cluster, "dc1/acls/policies"))
        log_in(page, ROOT["X-Consul-Token"])
        page.get_by_role("link", name="web-reader").wait_for()
        page.get_by_role("link", name="Create policy").click()
        page.get_by_label("Name").fill("ui-made")
        page.get_by_label("Rules (HCL or JSON)").fill('key_prefix "ui/" { policy = "write" }')
        page.get_by_role("button", name="Save").click()
        page.get_by_role("link", name="ui-made").wait_for()
        page.get_by_role("link", name="Roles", exact=True).click()
        page.get_by_role("link", name="Create role").click()
        page.get_by_label("Name").fill("ui-role")
        page.locator("#acl-policies label", has_text="ui-made").get_by_role("checkbox").check()
        page.get_by_role("button", name="Save").click()
        page.get_by_role("cell", name="ui-made").wait_for()  # the role's policies column
        role = client.get("/v1/acl/role/name/ui-role", headers=ROOT).json()
        assert [p["Name"] for p in role["Policies"]] == ["ui-made"]
        page.get_by_role("link", name="Tokens", exact=True).click()
        page.get_by_role("link", name="Create token").click()
        page.get_by_label("Description").fill("made in the ui")
        page.locator("#acl-policies label", has_text="ui-made").get_by_role("checkbox").check()
        page.get_by_role("button", name="Save").click()
        created = page.locator("#acl-created")
        created.wait_for()
        secret = created.inner_text().split("SecretID: ")[1]
        assert client.put("/v1/kv/ui/x", "1", headers={"X-Consul-Token": secret}).status == 200
        page.get_by_role("link", name="← Tokens").click()
        page.get_by_role("cell", name="made in the ui").wait_for()
        page.locator("tr", has_text="made in the ui").get_by_role("link").click()
        page.get_by_role("button", name="Delete").click()
        page.get_by_role("cell", name="web reader").wait_for()
        assert page.get_by_role("cell", name="made in the ui").count() == 0
        assert client.get("/v1/acl/token/self", headers={"X-Consul-Token": secret}).status == 403
        assert found.problems == []
