"""/v1/acl/... over HTTP on a real agent with ACLs on and default_policy = deny."""

from __future__ import annotations

import pytest

from tests.integration.acl_route_table import JWT_CONFIG
from tests.support.agent_process import ServerSpec, start_agent, start_server, wait_until

ROOT = {"X-Consul-Token": "root"}
ACL_HCL = 'acl {\n enabled = true\n default_policy = "deny"\n tokens { initial_management = ' \
          '"root" }\n}\n'


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    path = tmp_path_factory.mktemp("acl") / "acl.hcl"
    path.write_text(ACL_HCL)
    agent = start_agent("-config-file", str(path))
    try:
        wait_until(lambda: agent.get("/v1/acl/token/self", headers=ROOT).status == 200,
                   what="initial management token")
        yield agent
    finally:
        agent.stop()


def test_token_self_and_anonymous(agent):
    me = agent.get("/v1/acl/token/self", headers=ROOT).json()
    assert me["Description"] == "Initial Management Token" and me["SecretID"] == "root"
    assert [p["Name"] for p in me["Policies"]] == ["global-management"]
    unknown = agent.get("/v1/acl/token/self", headers={"X-Consul-Token": "nope"})
    assert (unknown.status, unknown.text) == (403, "ACL not found")
    tokens = agent.get("/v1/acl/tokens", headers=ROOT).json()
    assert "00000000-0000-0000-0000-000000000002" in {t["AccessorID"] for t in tokens}


def test_agent_self_says_acls_are_enabled(agent):
    assert agent.get("/v1/agent/self", headers=ROOT).json()["Stats"]["consul"]["acl"] == "enabled"


def test_bootstrap_refused_after_initial_management(agent):
    reply = agent.put("/v1/acl/bootstrap")
    assert reply.status == 403
    assert reply.text.startswith("Permission denied: ACL bootstrap no longer allowed (reset "
                                 "index: ")


def test_policy_token_lifecycle(agent):
    rules = 'key_prefix "app/" {\n  policy = "write"\n}\n'
    policy = agent.put("/v1/acl/policy", {"Name": "app", "Rules": rules}, headers=ROOT)
    assert policy.status == 200, policy.text
    pid = policy.json()["ID"]
    assert policy.json()["Rules"] == rules  # echoed as sent
    by_name = agent.get("/v1/acl/policy/name/app", headers=ROOT)
    assert by_name.json()["ID"] == pid and by_name.index >= 1
    listed = agent.get("/v1/acl/policies", headers=ROOT).json()
    assert {"global-management", "builtin/global-read-only", "app"} <= {p["Name"]
                                                                         for p in listed}
    assert all("Rules" not in p for p in listed)
    created = agent.put("/v1/acl/token", {"Description": "app token",
                                          "Policies": [{"Name": "app"}],
                                          "ExpirationTTL": "1h"}, headers=ROOT)
    assert created.status == 200, created.text
    token = created.json()
    assert token["Policies"] == [{"ID": pid, "Name": "app"}] and "ExpirationTime" in token
    read = agent.get(f"/v1/acl/token/{token['AccessorID']}?expanded", headers=ROOT).json()
    assert [p["Name"] for p in read["ExpandedPolicies"]] == ["app"]
    assert read["AgentACLDefaultPolicy"] == "deny"
    assert [t["AccessorID"] for t in agent.get(f"/v1/acl/tokens?policy={pid}",
                                               headers=ROOT).json()] == [token["AccessorID"]]
    clone = agent.put(f"/v1/acl/token/{token['AccessorID']}/clone", {"Description": "c"},
                      headers=ROOT).json()
    assert clone["Description"] == "c" and clone["Policies"] == token["Policies"]
    # the token itself cannot manage ACLs
    mine = {"X-Consul-Token": token["SecretID"]}
    denied = agent.get("/v1/acl/policies", headers=mine)
    assert denied.status == 403
    assert denied.text == (f"Permission denied: token with AccessorID '{token['AccessorID']}'"
                           " lacks permission 'acl:read' (token from the X-Consul-Token header)")
    assert agent.get("/v1/acl/token/self", headers=mine).json()["AccessorID"] == \
        token["AccessorID"]
    deleted = agent.delete(f"/v1/acl/token/{token['AccessorID']}", headers=ROOT)
    assert (deleted.status, deleted.json()) == (200, True)
    gone = agent.get("/v1/acl/token/self", headers=mine)
    assert gone.status == 403
    again = agent.delete(f"/v1/acl/token/{token['AccessorID']}", headers=ROOT)
    assert (again.status, again.text) == (404, "Cannot find token to delete")
    missing = agent.get(f"/v1/acl/token/{token['AccessorID']}", headers=ROOT)
    assert (missing.status, missing.text) == (403, "token does not exist: ACL not found")


@pytest.mark.parametrize(("path", "body", "message"), [
    ("/v1/acl/policy", {"Name": "bad", "Rules": 'key "a" { policy = '},
     "Failed to parse ACL rules"),
    ("/v1/acl/policy", {"Name": "bad", "Rules": '{"key": {"a": {"policy": "sing"}}}'},
     "Invalid key policy"),
    ("/v1/acl/policy", {"Name": "global-management"},
     'A Policy with Name "global-management" already exists'),
    ("/v1/acl/token", {"Policies": [{"ID": "8c4ee1d0-0000-4000-8000-000000000001"}]},
     'No such ACL policy with ID "8c4ee1d0-0000-4000-8000-000000000001"'),
    ("/v1/acl/token", {"AccessorID": "not-a-uuid"}, "Invalid Token: AccessorID - not a valid UUID"),
    ("/v1/acl/token", {"Bogus": 1}, "Bogus"),
    ("/v1/acl/role", {"Name": "bad name"}, "Invalid Role: invalid Name"),
    ("/v1/acl/policy", {"ID": "x", "Name": "p"}, "Cannot specify the ID when creating a new "
                                                 "policy"),
    ("/v1/acl/role", {"ID": "x", "Name": "r"}, "Cannot specify the ID when creating a new role"),
    ("/v1/acl/binding-rule", {"ID": "x"}, "Cannot specify the ID when creating a new binding "
                                          "rule"),
])
def test_bad_input_is_400(agent, path, body, message):
    reply = agent.put(path, body, headers=ROOT)
    assert reply.status == 400 and message in reply.text, reply.text
    assert "Traceback" not in reply.text


def test_roles_auth_methods_binding_rules(agent):
    role = agent.put("/v1/acl/role", {"Name": "web-role",
                                      "ServiceIdentities": [{"ServiceName": "web"}]},
                     headers=ROOT)
    assert role.status == 200, role.text
    rid = role.json()["ID"]
    assert agent.get("/v1/acl/role/name/web-role", headers=ROOT).json()["ID"] == rid
    missing = agent.get("/v1/acl/role/11111111-2222-4333-8444-555555555555", headers=ROOT)
    assert missing.status == 404
    method = agent.put("/v1/acl/auth-method", {"Name": "jwt1", "Type": "jwt",
                                               "MaxTokenTTL": "10m",
                                               "Config": {**JWT_CONFIG, "BoundIssuer": "me"}},
                       headers=ROOT)
    assert method.status == 200, method.text
    assert method.json()["MaxTokenTTL"] == "10m0s"
    rule = agent.put("/v1/acl/binding-rule", {"AuthMethod": "jwt1", "BindType": "service",
                                              "BindName": "web",
                                              "Selector": "value.team == ops"},
                     headers=ROOT)
    assert rule.status == 200, rule.text
    assert [r["ID"] for r in agent.get("/v1/acl/binding-rules?authmethod=jwt1",
                                       headers=ROOT).json()] == [rule.json()["ID"]]
    assert [m["Name"] for m in agent.get("/v1/acl/auth-methods", headers=ROOT).json()] == \
        ["jwt1"]
    assert agent.delete("/v1/acl/auth-method/jwt1", headers=ROOT).json() is True
    assert agent.get("/v1/acl/binding-rules", headers=ROOT).json() == []
    assert agent.delete(f"/v1/acl/role/{rid}", headers=ROOT).json() is True


def test_updates_take_the_id_from_the_url_and_refuse_another_in_the_body(agent):
    policy = agent.put("/v1/acl/policy", {"Name": "urlid"}, headers=ROOT).json()
    role = agent.put("/v1/acl/role", {"Name": "urlid"}, headers=ROOT).json()
    agent.put("/v1/acl/auth-method", {"Name": "urlid", "Type": "jwt", "Config": JWT_CONFIG},
              headers=ROOT)
    rule = agent.put("/v1/acl/binding-rule", {"AuthMethod": "urlid", "BindType": "service",
                                              "BindName": "web"}, headers=ROOT).json()
    for path, key, ident, label, body in (
            ("policy", "ID", policy["ID"], "Policy ID", {"Name": "urlid"}),
            ("role", "ID", role["ID"], "Role ID", {"Name": "urlid"}),
            ("auth-method", "Name", "urlid", "Auth Method Name",
             {"Type": "jwt", "Config": JWT_CONFIG}),
            ("binding-rule", "ID", rule["ID"], "BindingRule ID",
             {"AuthMethod": "urlid", "BindType": "service", "BindName": "web"})):
        other = agent.put(f"/v1/acl/{path}/{ident}", {**body, key: "other"}, headers=ROOT)
        assert (other.status, other.text) == (400, f"{label} in URL and payload do not match")
        updated = agent.put(f"/v1/acl/{path}/{ident}", {**body, "Description": "via url"},
                            headers=ROOT)
        assert updated.status == 200, updated.text
        assert (updated.json()[key], updated.json()["Description"]) == (ident, "via url")
    for path, ident in (("auth-method", "urlid"), ("role", role["ID"]),
                        ("policy", policy["ID"])):
        assert agent.delete(f"/v1/acl/{path}/{ident}", headers=ROOT).json() is True


def test_templated_policies(agent):
    listed = agent.get("/v1/acl/templated-policies", headers=ROOT).json()
    assert {"builtin/service", "builtin/node", "builtin/dns", "builtin/nomad-server",
            "builtin/api-gateway", "builtin/nomad-client"} <= set(listed)
    one = agent.get("/v1/acl/templated-policy/name/builtin/service", headers=ROOT).json()
    assert one["TemplateName"] == "builtin/service" and "{{.Name}}" in one["Template"]
    preview = agent.call("POST", "/v1/acl/templated-policy/preview/builtin/service",
                         {"name": "api"}, headers=ROOT).json()
    assert preview["ID"].startswith("0a73657276696365") and 'service "api"' in preview["Rules"]
    bad = agent.get("/v1/acl/templated-policy/name/nope", headers=ROOT)
    assert (bad.status, bad.text) == (400, "Invalid templated policy Name: nope")
    assert agent.get("/v1/acl/templated-policies").status == 403


def test_replication_status_in_the_primary(agent):
    status = agent.get("/v1/acl/replication", headers=ROOT).json()
    assert status["Enabled"] is False and status["SourceDatacenter"] == "dc1"


def test_agent_token_slots(agent):
    assert agent.put("/v1/agent/token/default", {"Token": "x"}).status == 403
    assert agent.put("/v1/agent/token/agent", {"Token": "root"}, headers=ROOT).status == 200
    assert agent.put("/v1/agent/token/acl_agent_token", {"Token": "root"},
                     headers=ROOT).status == 200
    unknown = agent.put("/v1/agent/token/nope", {"Token": "x"}, headers=ROOT)
    assert (unknown.status, unknown.text) == (404, 'Token "nope" is unknown')


def test_acls_disabled_is_401():
    agent = start_agent()
    try:
        for path in ("/v1/acl/tokens", "/v1/acl/policies", "/v1/acl/token/self"):
            reply = agent.get(path)
            assert (reply.status, reply.text) == (401, "ACL support disabled")
    finally:
        agent.stop()


def test_bootstrap_once_and_reset_file_on_a_durable_server(tmp_path):
    config = tmp_path / "acl.hcl"
    config.write_text("acl { enabled = true }\n")
    spec = ServerSpec(str(tmp_path / "data"), extra=("-bootstrap", "-config-file", str(config)))
    server = start_server(spec)
    try:
        replies = []

        def bootstrapped() -> bool:
            replies.append(server.put("/v1/acl/bootstrap"))
            return replies[-1].status == 200

        wait_until(bootstrapped, what="the first bootstrap")
        assert {r.status for r in replies[:-1]} <= {500}, [r.text for r in replies]
        refused = server.put("/v1/acl/bootstrap")
        assert refused.status == 403, refused.text
        assert refused.text.startswith("Permission denied: ACL bootstrap no longer allowed")
        reset = int(refused.text.rsplit(" ", 1)[1].rstrip(")"))
        (tmp_path / "data" / "acl-bootstrap-reset").write_text(str(reset + 5))
        wrong = server.put("/v1/acl/bootstrap")
        assert (wrong.status, wrong.text) == (403, "Permission denied: Invalid bootstrap "
                                              f"reset index (specified {reset + 5}, reset "
                                              f"index: {reset})")
        (tmp_path / "data" / "acl-bootstrap-reset").write_text(str(reset))
        again = server.put("/v1/acl/bootstrap")
        assert again.status == 200, again.text
        token = again.json()
        assert token["ID"] == token["SecretID"]
        assert token["Description"] == "Bootstrap Token (Global Management)"
        assert not (tmp_path / "data" / "acl-bootstrap-reset").exists()
    finally:
        server.stop()


def test_reload_applies_the_configured_default_token(tmp_path):
    path = tmp_path / "acl.hcl"
    path.write_text(ACL_HCL)
    agent = start_agent("-config-file", str(path))
    try:
        wait_until(lambda: agent.get("/v1/acl/token/self", headers=ROOT).status == 200,
                   what="initial management token")
        assert agent.get("/v1/acl/token/self").status == 403  # no token, no default token
        path.write_text(ACL_HCL.replace('initial_management = "root"',
                                        'initial_management = "root"\n default = "root"'))
        reload = agent.put("/v1/agent/reload", headers=ROOT)
        assert reload.status == 200, reload.text
        assert agent.get("/v1/acl/token/self").json()["SecretID"] == "root"
    finally:
        agent.stop()


def test_jwt_login_and_logout_over_http(agent):
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.unit.server.test_acl_login import claims, pem, sign_es256

    key = ec.generate_private_key(ec.SECP256R1())
    method = agent.put("/v1/acl/auth-method", {
        "Name": "jwt-http", "Type": "jwt",
        "Config": {"JWTValidationPubKeys": [pem(key)], "BoundIssuer": "test",
                   "ClaimMappings": {"service": "service"}}}, headers=ROOT)
    assert method.status == 200, method.text
    rule = agent.put("/v1/acl/binding-rule", {"AuthMethod": "jwt-http", "BindType": "service",
                                              "BindName": "${value.service}"}, headers=ROOT)
    assert rule.status == 200, rule.text
    reply = agent.call("POST", "/v1/acl/login", {"AuthMethod": "jwt-http",
                                                 "BearerToken": sign_es256(key, claims())})
    assert reply.status == 200, reply.text
    token = reply.json()
    assert token["ServiceIdentities"] == [{"ServiceName": "web"}]
    assert token["AuthMethod"] == "jwt-http"
    mine = {"X-Consul-Token": token["SecretID"]}
    assert agent.get("/v1/acl/token/self", headers=mine).status == 200
    out = agent.call("POST", "/v1/acl/logout", headers=mine)
    assert (out.status, out.json()) == (200, True)
    assert agent.get("/v1/acl/token/self", headers=mine).status == 403
    refused = agent.call("POST", "/v1/acl/logout", headers=ROOT)
    assert (refused.status, refused.text) == (403, "Permission denied: token wasn't created "
                                                   "via login")
    bad = agent.call("POST", "/v1/acl/login", {"AuthMethod": "jwt-http",
                                               "BearerToken": "garbage"})
    assert bad.status == 403 and "not a JWT" in bad.text
