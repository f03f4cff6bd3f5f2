"""``proconsul acl ...`` against a real agent with ACLs on and default_policy = deny."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.integration.acl_route_table import JWT_CONFIG
from tests.support.agent_process import start_agent, wait_until
from tests.support.certs import write_test_pki
from tests.support.cli_process import run_cli
from tests.unit.server.test_acl_login import REVIEWER_JWT

ACL_HCL = ('acl {\n enabled = true\n default_policy = "deny"\n'
           ' tokens { initial_management = "root" }\n}\n')
RULES = 'key_prefix "app/" {\n  policy = "write"\n}\n'


def out(result) -> str:
    return result.stdout.decode()


def err(result) -> str:
    return result.stderr.decode()


def start_acl_agent(config: Path, hcl: str):
    config.write_text(hcl)
    return start_agent("-config-file", str(config))


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    agent = start_acl_agent(tmp_path_factory.mktemp("acl") / "acl.hcl", ACL_HCL)
    try:
        wait_until(lambda: agent.get("/v1/acl/token/self",
                                     headers={"X-Consul-Token": "root"}).status == 200,
                   what="initial management token")
        yield agent
    finally:
        agent.stop()


def acl(agent, *args: str, token: str = "root", **env: str):
    return run_cli(agent, "acl", *args, CONSUL_HTTP_TOKEN=token, **env)


def test_policy_and_token_lifecycle(agent, unique: str, tmp_path: Path):
    rules = tmp_path / "rules.hcl"
    rules.write_text(RULES)
    created = acl(agent, "policy", "create", "-name", unique, "-description", "app policy",
                  "-rules", f"@{rules}")
    assert created.returncode == 0, err(created)
    lines = out(created).splitlines()
    assert lines[0].startswith("ID:           ") and lines[1] == f"Name:         {unique}"
    assert lines[2:5] == ["Description:  app policy", "Datacenters:  ", "Rules:"]
    assert out(created).endswith("\nRules:\n" + RULES + "\n")  # echoed as written
    policy_id = lines[0].split()[1]
    as_json = json.loads(out(acl(agent, "policy", "read", "-name", unique, "-format",
                                 "json")))
    assert (as_json["ID"], as_json["Rules"]) == (policy_id, RULES)
    listed = out(acl(agent, "policy", "list"))
    assert f"{unique}:\n   ID:           {policy_id}\n   Description:  app policy\n" in listed

    chosen = json.loads(out(acl(agent, "token", "create", "-policy-name", unique,
                                "-accessor", "0e9a4a5e-5b1c-4c7e-8e0f-3a2b1c0d9e8f",
                                "-secret", "6f1d2c3b-4a59-4e87-b6c5-d4e3f2a1b0c9",
                                "-local", "-format", "json")))
    assert (chosen["AccessorID"], chosen["SecretID"], chosen["Local"]) == (
        "0e9a4a5e-5b1c-4c7e-8e0f-3a2b1c0d9e8f", "6f1d2c3b-4a59-4e87-b6c5-d4e3f2a1b0c9", True)
    assert acl(agent, "token", "delete", "-accessor-id", chosen["AccessorID"]).returncode == 0
    token = json.loads(out(acl(agent, "token", "create", "-description", "app token",
                               "-policy-name", unique, "-service-identity", "web:dc1",
                               "-expires-ttl", "1h", "-format", "json")))
    assert token["Policies"] == [{"ID": policy_id, "Name": unique}]
    assert token["ServiceIdentities"] == [{"ServiceName": "web", "Datacenters": ["dc1"]}]
    accessor = token["AccessorID"]
    read = acl(agent, "token", "read", "-accessor-id", accessor[:8])  # a unique prefix
    assert read.returncode == 0, err(read)
    text = out(read)
    assert text.startswith(f"AccessorID:       {accessor}\nSecretID:         "
                           f"{token['SecretID']}\nDescription:      app token\n"
                           "Local:            false\nCreate Time:      ")
    assert "\nExpiration Time:  " in text
    assert f"\nPolicies:\n   {policy_id} - {unique}\nService Identities:\n" \
           "   web (Datacenters: dc1)\n" in text
    expanded = out(acl(agent, "token", "read", "-accessor-id", accessor, "-expanded"))
    assert f"\tPolicy Name: {unique}\n\t\tID: {policy_id}\n" in expanded
    assert "Default Policy: deny\n" in expanded
    listed = json.loads(out(acl(agent, "token", "list", "-format", "json")))
    assert accessor in {t["AccessorID"] for t in listed}

    updated = acl(agent, "token", "update", "-accessor-id", accessor, "-description", "new",
                  "-append-policy-name", "global-management", "-format", "json")
    assert updated.returncode == 0, err(updated)
    assert [p["Name"] for p in json.loads(out(updated))["Policies"]] == [
        unique, "global-management"]
    clone = acl(agent, "token", "clone", "-accessor-id", accessor, "-description", "copy")
    assert clone.returncode == 0 and "Description:      copy\n" in out(clone)
    clone_id = out(clone).split()[1]
    for victim in (accessor, clone_id):
        deleted = acl(agent, "token", "delete", "-accessor-id", victim)
        assert (deleted.returncode, out(deleted)) == (
            0, f'Token "{victim}" deleted successfully\n')
    gone = acl(agent, "token", "read", "-accessor-id", accessor)
    assert gone.returncode == 1 and err(gone).startswith(f'Error reading token "{accessor}": ')

    renamed = acl(agent, "policy", "update", "-id", policy_id[:8], "-name", f"{unique}-2")
    assert renamed.returncode == 0 and f"Name:         {unique}-2\n" in out(renamed)
    assert "Rules:\n" + RULES in out(renamed)  # merged: the rules stay
    deleted = acl(agent, "policy", "delete", "-name", f"{unique}-2")
    assert (deleted.returncode, out(deleted)) == (
        0, f'Policy "{policy_id}" deleted successfully\n')


def test_errors_print_consul_texts_and_exit_1(agent, unique: str):
    cases = [
        (("policy", "create", "-rules", RULES), "Missing require '-name' flag\n"),
        (("policy", "read", "-name", unique), f"Error policy not found: {unique}\n"),
        (("policy", "delete", "-name", unique),
         f"Error determining policy ID: No such policy with name {unique}\n"),
        (("role", "read", "-name", unique), f'Role not found with name "{unique}"\n'),
        (("role", "delete", "-name", unique),
         f"Error determining role ID: No such role with name {unique}\n"),
        (("role", "delete"), "Must specify the -id or -name parameters\n"),
        (("role", "read", "-id", "ffff"),
         "Error determining role ID: No such role ID with prefix: ffff\n"),
        (("auth-method", "read", "-name", unique),
         f'Auth method not found with name "{unique}"\n'),
        (("binding-rule", "read"), "Must specify the -id parameter.\n"),
        (("binding-rule", "delete"), "Must specify the -id parameter\n"),
        (("binding-rule", "read", "-id", "ffff"), "Error determining binding rule ID: no "
         "such rule ID with prefix: ffff: ACL not found\n"),
        (("token", "read", "-self", "-expanded"), "Cannot use both -expanded and -self. "
         "Instead, use -expanded and -accessor-id=<accessor id>.\n"),
        (("policy", "read"), "Must specify either the -id or -name parameters\n"),
        (("token", "read"), "Must specify the -accessor-id parameter\n"),
        (("token", "update", "-description", "x"),
         "Cannot update a token without specifying the -accessor-id parameter\n"),
        (("token", "create", "-description", "x"),
         "Cannot create a token without specifying -policy-name, -policy-id, -role-name, "
         "-role-id, -service-identity, -node-identity, or -templated-policy at least once\n"),
        (("token", "create", "-policy-name", unique),
         "Failed to create new token: Unexpected response code: 400 (No such ACL policy "
         f'with name "{unique}")\n'),
        (("token", "create", "-policy-id", "ffff"),
         "Error resolving policy ID ffff: No such policy ID with prefix: ffff\n"),
        (("role", "update", "-id", "ffff"),
         "Error determining role ID: No such role ID with prefix: ffff\n"),
        (("policy", "update", "-id", "global-management", "-rules", "@/nope"),
         "Error loading data source: Failed to read file: open /nope: no such file or "
         "directory\n"),
        (("policy", "create", "-name", unique, "-rules", "@/"),
         "Error loading rules: Failed to read file: read /: is a directory\n"),
        (("role", "update", "-id", "11111111-2222-4333-8444-555555555555"),
         'Role not found with ID "11111111-2222-4333-8444-555555555555"\n'),
        (("auth-method", "create", "-type", "jwt", "-name", unique, "-config", "{}",
          "-kubernetes-host", "https://h"),
         "Cannot use command line arguments with '-config' flags\n"),
        (("auth-method", "create", "-type", "kubernetes", "-name", unique, "-config", "{}"),
         "Missing required '-kubernetes-host' flag\n"),
        (("auth-method", "create", "-type", "jwt", "-name", unique, "-max-token-ttl", "soon"),
         'invalid value "soon" for flag -max-token-ttl: parse error\n'),
        (("auth-method", "update", "-name", unique),
         f'Auth method not found with name "{unique}"\n'),
        (("token", "create", "-policy-name", "p", "-expires-ttl", "soon"),
         'invalid value "soon" for flag -expires-ttl: parse error\n'),
        (("token", "read", "-accessor-id", "ffff"),
         "Error determining token ID: No such token ID with prefix: ffff\n"),
        (("policy", "list", "-format", "yaml"), "Unknown format: yaml\n"),
        (("token", "update", "-accessor-id", "anonymous", "-policy-name", "a",
          "-append-policy-name", "b"),
         "Cannot combine the use of policy-id/policy-name flags with append- variants. To set "
         "or overwrite existing policies, use -policy-id or -policy-name. To append to "
         "existing policies, use -append-policy-id or -append-policy-name.\n"),
        (("set-agent-token", "dns"), "Missing TYPE and TOKEN arguments\n"),
        (("set-agent-token", "bogus", "x"),
         'Failed setting token: Unexpected response code: 404 (Token "bogus" is unknown)\n'),
    ]
    for args, message in cases:
        result = acl(agent, *args)
        assert (result.returncode, err(result), out(result)) == (1, message, ""), args
    malformed = acl(agent, "policy", "create", "-name", unique, "-rules",
                    'key_prefix "x" { policy = "wrong" }')
    assert malformed.returncode == 1
    assert err(malformed).startswith("Failed to create new policy: Unexpected response code: "
                                     "400 (")
    role_denied = acl(agent, "role", "update", "-id", "11111111-2222-4333-8444-555555555555",
                      token="anonymous")
    assert role_denied.returncode == 1
    assert err(role_denied).startswith("Error when retrieving current role: Unexpected "
                                       "response code: 403 (")
    denied = acl(agent, "policy", "list", token="not-a-token")
    assert (denied.returncode, err(denied)) == (
        1, "Failed to retrieve the policy list: Unexpected response code: 403 "
           "(ACL not found)\n")


def test_token_flags_files_and_environment(agent, tmp_path: Path):
    def me(*args: str, **env: str) -> str:
        result = run_cli(agent, "acl", "token", "read", "-self", "-format", "json", *args,
                         **env)
        assert result.returncode == 0, err(result)
        return json.loads(out(result))["SecretID"]

    root_file, bad_file, empty = tmp_path / "root", tmp_path / "bad", tmp_path / "empty"
    root_file.write_text("root\n")
    bad_file.write_text("bad\n")
    empty.write_text("")
    assert me("-token", "root") == "root"
    assert me(CONSUL_HTTP_TOKEN="root") == "root"
    assert me("-token-file", str(root_file)) == "root"
    assert me(CONSUL_HTTP_TOKEN_FILE=str(root_file)) == "root"
    # the flag wins over the environment; a token file wins over a token (api.NewClient)
    assert me("-token", "root", CONSUL_HTTP_TOKEN="bad") == "root"
    assert me("-token-file", str(root_file), CONSUL_HTTP_TOKEN_FILE=str(bad_file)) == "root"
    assert me("-token", "bad", "-token-file", str(root_file)) == "root"
    assert me("-token", "root", "-token-file", str(empty)) == "root"  # empty file: ignored
    missing = run_cli(agent, "acl", "token", "read", "-self", "-token-file",
                      str(tmp_path / "nope"))
    assert (missing.returncode, err(missing)) == (
        1, "Error connecting to Consul agent: Error loading token file: open "
           f"{tmp_path / 'nope'}: no such file or directory\n")
    # a list command: no token is anonymous and denied, the token file lets it through
    denied = run_cli(agent, "acl", "policy", "list")
    assert denied.returncode == 1 and "403 (Permission denied" in err(denied)
    allowed = run_cli(agent, "acl", "policy", "list", "-token-file", str(root_file))
    assert allowed.returncode == 0 and "global-management:\n" in out(allowed)


def test_list_entries_and_expanded_read_keep_consul_shapes(agent, unique: str):
    """Golden shapes: Consul's list entries (no Legacy line, -meta adds the hash and
    indices) and -expanded's sections with the identities' synthetic policies."""
    policy = json.loads(out(acl(agent, "policy", "create", "-name", unique, "-rules", RULES,
                                "-format", "json")))
    role = json.loads(out(acl(agent, "role", "create", "-name", unique, "-policy-id",
                              policy["ID"][:8], "-node-identity", "n1:dc1", "-format",
                              "json")))
    token = json.loads(out(acl(agent, "token", "create", "-description", unique,
                               "-role-name", unique, "-service-identity", "web",
                               "-templated-policy", "builtin/dns", "-format", "json")))
    entries = out(acl(agent, "token", "list")).split("\n\n")  # a blank line between tokens
    mine = next(e for e in entries if e.startswith(f"AccessorID:       {token['AccessorID']}"))
    assert mine.splitlines()[2:4] == [f"Description:      {unique}", "Local:            false"]
    assert "Legacy" not in mine and "Hash:" not in mine
    assert mine.endswith(f"Roles:\n   {role['ID']} - {unique}\nService Identities:\n"
                         "   web (Datacenters: all)\nTemplated Policies:\n   builtin/dns\n"
                         "      Datacenters: all")
    with_meta = out(acl(agent, "token", "list", "-meta"))
    assert f"\nHash:             {bytes(base64.b64decode(token['Hash'])).hex()}\n" in with_meta
    assert f"{unique}:\n   ID:           {role['ID']}\n   Description:  \n   Policies:\n" \
           f"      {policy['ID']} - {unique}\n   Node Identities:\n" \
           "      n1 (Datacenter: dc1)\n" in out(acl(agent, "role", "list"))

    expanded = out(acl(agent, "token", "read", "-accessor-id", token["AccessorID"][:10],
                       "-expanded"))
    body = expanded[expanded.index("Service Identities:"):]
    rules = RULES.rstrip("\n").replace("\n", "\n\t\t\t\t\t")
    assert body.startswith(
        "Service Identities:\n\tName: web (Datacenters: all)\n\t\tDescription: synthetic "
        "policy generated from templated policy: builtin/service\n\t\tRules:\n\t\t\t"
        'service "web" {\n')
    assert "\nTemplated Policies:\n\tbuiltin/dns\n\t\tDatacenters: all\n\t\tDescription: " \
           "synthetic policy generated from templated policy: builtin/dns\n" in body
    assert f"\nRoles:\n\tRole Name: {unique}\n\t\tID: {role['ID']}\n\t\tDescription: \n" \
           f"\t\tPolicies:\n\t\t\tPolicy Name: {unique}\n\t\t\t\tID: {policy['ID']}\n" \
           f"\t\t\t\tDescription: \n\t\t\t\tRules:\n\t\t\t\t\t{rules}" in body
    assert "\t\tNode Identities:\n\t\t\tName: n1 (Datacenter: dc1)\n\t\t\t\tDescription: " \
           "synthetic policy generated from templated policy: builtin/node\n" in body
    assert body.index("Templated Policies:") < body.index("\nRoles:") < \
        body.index("=== End of Authorizer Layer 0: Token ===\n")
    assert expanded.endswith("(refer to down_policy option in agent configuration)\n\n\n")
    for kind, flag, ident in (("token", "-accessor-id", token["AccessorID"]),
                              ("role", "-id", role["ID"]), ("policy", "-id", policy["ID"])):
        assert acl(agent, kind, "delete", flag, ident).returncode == 0


def test_token_update_merge_flags_warn_and_link_each_policy_once(agent, unique: str):
    policy = json.loads(out(acl(agent, "policy", "create", "-name", unique, "-format",
                                "json")))
    token = json.loads(out(acl(agent, "token", "create", "-policy-name", unique,
                               "-node-identity", "n1:dc1", "-format", "json")))
    merged = acl(agent, "token", "update", "-accessor-id", token["AccessorID"],
                 "-merge-policies", "-policy-name", unique, "-policy-name",
                 "global-management", "-merge-node-identities", "-node-identity", "n1:dc1",
                 "-format", "json")
    assert merged.returncode == 0, err(merged)
    assert err(merged) == ("merge-policies is deprecated and will be removed in a future "
                           "Consul version. Use `append-policy-name` or `append-policy-id` "
                           "instead.\n")
    body = json.loads(out(merged))
    assert [p["Name"] for p in body["Policies"]] == [unique, "global-management"]
    assert body["NodeIdentities"] == [{"NodeName": "n1", "Datacenter": "dc1"}]
    assert acl(agent, "token", "delete", "-accessor-id", token["AccessorID"]).returncode == 0
    assert acl(agent, "policy", "delete", "-id", policy["ID"]).returncode == 0


def test_set_agent_token(agent):
    result = acl(agent, "set-agent-token", "agent", "root")
    assert (result.returncode, out(result)) == (0, 'ACL token "agent" set successfully\n')
    denied = acl(agent, "set-agent-token", "agent", "root", token="anonymous")
    assert denied.returncode == 1
    assert err(denied).startswith("Failed setting token: Unexpected response code: 403 (")


def test_roles_auth_methods_binding_rules_templates(agent, unique: str, tmp_path: Path):
    role = acl(agent, "role", "create", "-name", unique, "-policy-name", "global-management",
               "-templated-policy", "builtin/service", "-var", "name:api")
    assert role.returncode == 0, err(role)
    assert out(role).splitlines()[1:] == [
        f"Name:         {unique}", "Description:  ", "Policies:",
        "   00000000-0000-0000-0000-000000000001 - global-management",
        "Templated Policies:", "   builtin/service", "      Name: api",
        "      Datacenters: all", ""]
    role_id = out(role).split()[1]
    updated = acl(agent, "role", "update", "-id", role_id[:8], "-description", "d",
                  "-service-identity", "web", "-format", "json")
    assert updated.returncode == 0, err(updated)
    body = json.loads(out(updated))
    assert body["Description"] == "d" and body["ServiceIdentities"] == [{"ServiceName": "web"}]
    assert len(body["Policies"]) == 1  # merged, not replaced
    token = json.loads(out(acl(agent, "token", "create", "-role-name", unique, "-format",
                               "json")))
    assert token["Roles"] == [{"ID": role_id, "Name": unique}]
    assert f"{unique}:\n   ID:           {role_id}\n" in out(acl(agent, "role", "list"))
    assert acl(agent, "token", "delete", "-accessor-id", token["AccessorID"]).returncode == 0
    assert out(acl(agent, "role", "delete", "-name", unique)) == \
        f'Role "{role_id}" deleted successfully\n'

    config = tmp_path / "jwt.json"
    config.write_text(json.dumps({**JWT_CONFIG, "BoundIssuer": "me"}))
    method = acl(agent, "auth-method", "create", "-type", "jwt", "-name", unique,
                 "-config", f"@{config}", "-format", "json")
    assert method.returncode == 0, err(method)
    assert json.loads(out(method))["Config"]["BoundIssuer"] == "me"
    shown = out(acl(agent, "auth-method", "read", "-name", unique))
    assert shown.startswith(f"Name:          {unique}\nType:          jwt\n")
    rule = acl(agent, "binding-rule", "create", "-method", unique, "-bind-type", "service",
               "-bind-name", "svc-${value.name}", "-selector", "value.team==a")
    assert rule.returncode == 0, err(rule)
    rule_id = out(rule).split()[1]
    assert out(rule).splitlines()[1:6] == [
        f"AuthMethod:   {unique}", "Description:  ", "BindType:     service",
        "BindName:     svc-${value.name}", "Selector:     value.team==a"]
    renamed = acl(agent, "binding-rule", "update", "-id", rule_id[:8], "-bind-name", "other",
                  "-selector", "", "-format", "json")
    assert renamed.returncode == 0, err(renamed)
    assert {k: json.loads(out(renamed))[k] for k in ("BindType", "BindName", "Selector")} == \
        {"BindType": "service", "BindName": "other", "Selector": ""}
    bare = acl(agent, "binding-rule", "update", "-id", rule_id, "-no-merge", "-bind-name", "x")
    assert (bare.returncode, err(bare)) == (1, "Missing required '-bind-type' flag\n")
    rules = json.loads(out(acl(agent, "binding-rule", "list", "-method", unique, "-format",
                               "json")))
    assert [r["ID"] for r in rules] == [rule_id]
    assert out(acl(agent, "binding-rule", "delete", "-id", rule_id[:8])) == \
        f'Binding rule "{rule_id}" deleted successfully\n'
    assert out(acl(agent, "auth-method", "delete", "-name", unique)) == \
        f'Auth method "{unique}" deleted successfully\n'

    ca = write_test_pki(tmp_path, "localhost") / "ca.pem"
    k8s = acl(agent, "auth-method", "create", "-type", "kubernetes", "-name", f"{unique}-k8s",
              "-kubernetes-host", "https://127.0.0.1:6443", "-kubernetes-ca-cert", f"@{ca}",
              "-kubernetes-service-account-jwt", REVIEWER_JWT, "-format", "json")
    assert k8s.returncode == 0, err(k8s)
    assert json.loads(out(k8s))["Config"] == {"Host": "https://127.0.0.1:6443",
                                              "CACert": ca.read_text(),
                                              "ServiceAccountJWT": REVIEWER_JWT}
    moved = acl(agent, "auth-method", "update", "-name", f"{unique}-k8s", "-kubernetes-host",
                "https://127.0.0.2:6443", "-description", "moved", "-format", "json")
    assert moved.returncode == 0, err(moved)
    assert json.loads(out(moved))["Config"] == {"Host": "https://127.0.0.2:6443",
                                                "CACert": ca.read_text(),
                                                "ServiceAccountJWT": REVIEWER_JWT}
    assert json.loads(out(moved))["Description"] == "moved"
    empty_ca = tmp_path / "empty.pem"
    empty_ca.write_text("")
    no_ca = acl(agent, "auth-method", "update", "-name", f"{unique}-k8s",
                "-kubernetes-ca-cert", f"@{empty_ca}")
    assert (no_ca.returncode, err(no_ca)) == (1, "Kubernetes CA Cert is empty\n")
    no_host = acl(agent, "auth-method", "create", "-type", "kubernetes", "-name", "x")
    assert (no_host.returncode, err(no_host)) == (1, "Missing required '-kubernetes-host' "
                                                     "flag\n")
    assert acl(agent, "auth-method", "delete", "-name", f"{unique}-k8s").returncode == 0

    assert "builtin/service" in out(acl(agent, "templated-policy", "list")).splitlines()
    service = out(acl(agent, "templated-policy", "read", "-name", "builtin/service"))
    assert service.startswith("Name:            builtin/service\nDescription:     ")
    assert service.endswith(
        "\nInput variables:\n\tName: String - Required - The name of the service.\n"
        "Example usage:\n\tproconsul acl token create -templated-policy builtin/service "
        "-var name:api\n\n")
    raw = out(acl(agent, "templated-policy", "read", "-name", "builtin/dns", "-meta"))
    assert "Input variables: None\nExample usage:\n" in raw and "\nRaw Template:\n" in raw
    missing = acl(agent, "templated-policy", "read", "-name", "builtin/nope")
    assert (missing.returncode, err(missing)) == (  # the agent answers 400 as Consul's does
        1, 'Error reading templated policy "builtin/nope": Unexpected response code: 400 '
           '(Invalid templated policy Name: builtin/nope)\n')
    preview = json.loads(out(acl(agent, "templated-policy", "preview", "-name",
                                 "builtin/service", "-var", "name:api", "-format", "json")))
    assert 'service "api"' in preview["Rules"]


def test_bootstrap_once_on_a_fresh_agent(tmp_path: Path):
    fresh = start_acl_agent(tmp_path / "acl.hcl",
                            'acl {\n enabled = true\n default_policy = "deny"\n}\n')
    try:
        secret = tmp_path / "secret"
        secret.write_text("4a5c0a8e-2c4e-4b8a-9a57-0d3c6f1e2b7d\n")
        tries = []

        def bootstrapped() -> bool:  # a dev agent may still be electing itself
            tries.append(run_cli(fresh, "acl", "bootstrap", "-format", "json", str(secret)))
            return "leader" not in err(tries[-1])
        wait_until(bootstrapped, what="a leader to bootstrap")
        first = tries[-1]
        assert first.returncode == 0, err(first)
        token = json.loads(out(first))
        assert token["SecretID"] == "4a5c0a8e-2c4e-4b8a-9a57-0d3c6f1e2b7d"
        assert token["Policies"] == [{"ID": "00000000-0000-0000-0000-000000000001",
                                      "Name": "global-management"}]
        me = run_cli(fresh, "acl", "token", "read", "-self",
                     CONSUL_HTTP_TOKEN=token["SecretID"])
        assert out(me).startswith(f"AccessorID:       {token['AccessorID']}\n")
        again = run_cli(fresh, "acl", "bootstrap")
        assert again.returncode == 1
        assert err(again).startswith("Failed ACL bootstrapping: Unexpected response code: 403 "
                                     "(Permission denied: ACL bootstrap no longer allowed "
                                     "(reset index: ")
    finally:
        fresh.stop()


def test_jwt_login_writes_the_sink_and_logout_destroys_it(agent, unique: str, tmp_path: Path):
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.unit.server.test_acl_login import claims, pem, sign_es256

    key = ec.generate_private_key(ec.SECP256R1())
    config = tmp_path / "jwt.json"
    config.write_text(json.dumps({"JWTValidationPubKeys": [pem(key)], "BoundIssuer": "test",
                                  "ClaimMappings": {"service": "service"}}))
    assert acl(agent, "auth-method", "create", "-type", "jwt", "-name", unique, "-config",
               f"@{config}").returncode == 0
    assert acl(agent, "binding-rule", "create", "-method", unique, "-bind-type", "service",
               "-bind-name", "${value.service}").returncode == 0
    bearer, sink = tmp_path / "bearer.jwt", tmp_path / "sink"
    bearer.write_text(sign_es256(key, claims()) + "\n")

    login = run_cli(agent, "login", "-method", unique, "-bearer-token-file", str(bearer),
                    "-token-sink-file", str(sink), "-meta", "pod=p1")
    assert (login.returncode, out(login), err(login)) == (0, "", "")
    assert sink.stat().st_mode & 0o777 == 0o600
    me = json.loads(out(run_cli(agent, "acl", "token", "read", "-self", "-format", "json",
                                "-token-file", str(sink))))
    assert me["SecretID"] == sink.read_text() and me["AuthMethod"] == unique
    assert me["ServiceIdentities"] == [{"ServiceName": "web"}]
    shown = out(run_cli(agent, "acl", "token", "read", "-self", "-token-file", str(sink)))
    assert f"\nAuth Method:      {unique} (Namespace: )\n" in shown

    logout = run_cli(agent, "logout", "-token-file", str(sink))
    assert (logout.returncode, out(logout), err(logout)) == (0, "", "")
    gone = run_cli(agent, "acl", "token", "read", "-self", "-token-file", str(sink))
    assert (gone.returncode, err(gone)) == (
        1, "Error reading token: Unexpected response code: 403 (ACL not found)\n")
    refused = run_cli(agent, "logout", "-token", "root")
    assert (refused.returncode, err(refused)) == (
        1, "Error destroying token: Unexpected response code: 403 (Permission denied: token "
           "wasn't created via login)\n")

    missing = run_cli(agent, "login", "-bearer-token-file", str(bearer), "-token-sink-file",
                      str(sink))
    assert (missing.returncode, err(missing)) == (1, "Missing required '-method' flag\n")
    bearer.write_text("garbage")
    bad = run_cli(agent, "login", "-method", unique, "-bearer-token-file", str(bearer),
                  "-token-sink-file", str(tmp_path / "other"))
    assert bad.returncode == 1
    assert err(bad).startswith("Error logging in: Unexpected response code: 403 (")
    assert not (tmp_path / "other").exists()


def test_api_client_filters_replication_and_agent_token(agent, unique: str):
    from proconsul.api import APIError, Client, Config

    acl_api = Client(Config(address=f"{agent.host}:{agent.port}", token="root")).acl()
    policy, _ = acl_api.policy_create({"Name": unique, "Rules": 'node "" { policy = "read" }'})
    role, _ = acl_api.role_create({"Name": unique, "Policies": [{"ID": policy["ID"]}]})
    by_policy, _ = acl_api.token_create({"Policies": [{"ID": policy["ID"]}]})
    by_role, _ = acl_api.token_create({"Roles": [{"Name": unique}]})
    by_service, _ = acl_api.token_create({"ServiceIdentities": [{"ServiceName": unique}]})
    assert [t["AccessorID"] for t in acl_api.token_list(policy=policy["ID"])[0]] == [
        by_policy["AccessorID"]]
    assert [t["AccessorID"] for t in acl_api.token_list(role=role["ID"])[0]] == [
        by_role["AccessorID"]]
    assert [t["AccessorID"] for t in acl_api.token_list(service_name=unique)[0]] == [
        by_service["AccessorID"]]
    assert [r["ID"] for r in acl_api.role_list(policy=policy["ID"])[0]] == [role["ID"]]
    assert acl_api.role_read_by_name(unique)[0]["ID"] == role["ID"]
    assert acl_api.policy_read_by_name(unique)[0]["ID"] == policy["ID"]
    replication, _ = acl_api.replication()
    assert replication["Enabled"] is False
    acl_api.set_agent_token("agent", "root")
    for token in (by_policy, by_role, by_service):
        acl_api.token_delete(token["AccessorID"])
    acl_api.role_delete(role["ID"])
    acl_api.policy_delete(policy["ID"])
    with pytest.raises(APIError) as missing:
        acl_api.policy_read_by_name(unique)
    assert missing.value.status == 404
