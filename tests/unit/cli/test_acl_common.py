"""The ACL commands' pure parts: Go time text, identity flags, formatters, token files."""

from __future__ import annotations

import base64

import pytest

from proconsul.api import ClientError, Config
from proconsul.cli.acl.common import (
    Failure,
    dump,
    format_auth_method,
    format_binding_rule,
    format_policy,
    format_role,
    format_templated_policy,
    format_token,
    go_time,
    node_identities,
    service_identities,
    templated_policies,
)


@pytest.mark.parametrize("text, shown", [
    ("2024-01-02T15:04:05.123456789Z", "2024-01-02 15:04:05.123456789 +0000 UTC"),
    ("2024-01-02T15:04:05.120Z", "2024-01-02 15:04:05.12 +0000 UTC"),
    ("2024-01-02T15:04:05Z", "2024-01-02 15:04:05 +0000 UTC"),
    ("2024-01-02T15:04:05.5+02:00", "2024-01-02 15:04:05.5 +0200 +0200"),
    ("not a time", "not a time"),
])
def test_go_time(text, shown):
    assert go_time(text) == shown


def test_identity_flags():
    assert service_identities(["web", "db:east,west"]) == [
        {"ServiceName": "web"}, {"ServiceName": "db", "Datacenters": ["east", "west"]}]
    assert node_identities(["n1:dc1"]) == [{"NodeName": "n1", "Datacenter": "dc1"}]
    assert templated_policies(["builtin/service"], ["name:api"]) == [
        {"TemplateName": "builtin/service", "TemplateVariables": {"Name": "api"}}]
    assert templated_policies([], ["name:api"]) == []
    for bad, call in (("n1", node_identities), (":dc1", node_identities),
                      (":dc1", service_identities)):
        with pytest.raises(Failure):
            call([bad])
    with pytest.raises(Failure, match='Malformed -service-identity argument: "a:b:c"'):
        service_identities(["a:b:c"])
    with pytest.raises(Failure, match='Malformed -var argument: "name"'):
        templated_policies(["builtin/service"], ["name"])


TOKEN = {"AccessorID": "a-1", "SecretID": "s-1", "Description": "d", "Local": True,
         "CreateTime": "2024-01-02T15:04:05Z", "Hash": base64.b64encode(b"\x01\xff").decode(),
         "CreateIndex": 5, "ModifyIndex": 7, "AuthMethod": "jwt",
         "Policies": [{"ID": "p-1", "Name": "app"}],
         "NodeIdentities": [{"NodeName": "n1", "Datacenter": "dc1"}]}


def test_format_token_as_consul_prints_it():
    assert format_token(TOKEN, meta=True) == (
        "AccessorID:       a-1\nSecretID:         s-1\nDescription:      d\n"
        "Local:            true\nAuth Method:      jwt (Namespace: )\n"
        "Create Time:      2024-01-02 15:04:05 +0000 UTC\nHash:             01ff\n"
        "Create Index:     5\nModify Index:     7\nPolicies:\n   p-1 - app\n"
        "Node Identities:\n   n1 (Datacenter: dc1)\n")
    # a list entry is the same shape (Consul dropped the Legacy line with legacy tokens)
    assert format_token({**TOKEN, "Namespace": "ns", "Partition": "pt"}, meta=False) == (
        "AccessorID:       a-1\nSecretID:         s-1\nPartition:        pt\n"
        "Namespace:        ns\nDescription:      d\nLocal:            true\n"
        "Auth Method:      jwt (Namespace: )\nCreate Time:      2024-01-02 15:04:05 +0000 UTC\n"
        "Policies:\n   p-1 - app\nNode Identities:\n   n1 (Datacenter: dc1)\n")


def test_auth_method_and_binding_rule_shapes():
    method = {"Name": "jwt", "Type": "jwt", "DisplayName": "J", "Description": "d",
              "MaxTokenTTL": "1h0m0s", "TokenLocality": "global", "CreateIndex": 3,
              "ModifyIndex": 4, "Config": {"b": [1], "a": {"y": 1, "x": "<&>"}}}
    assert format_auth_method(method, meta=True) == (
        "Name:          jwt\nType:          jwt\nDisplayName:   J\nDescription:   d\n"
        "MaxTokenTTL:   1h0m0s\nTokenLocality: global\nCreate Index:  3\n"
        "Modify Index:  4\nConfig:\n{\n  \"a\": {\n    \"x\": \"\\u003c\\u0026\\u003e\",\n"
        "    \"y\": 1\n  },\n  \"b\": [\n    1\n  ]\n}")
    assert format_auth_method(method, meta=True, listing=True) == (
        "jwt:\n   Type:         jwt\n   DisplayName:  J\n   Description:  d\n"
        "   Create Index: 3\n   Modify Index: 4\n")
    rule = {"ID": "b-1", "AuthMethod": "jwt", "Description": "", "BindType": "service",
            "BindName": "x", "Selector": "", "CreateIndex": 5, "ModifyIndex": 6}
    assert format_binding_rule(rule, meta=True, listing=True) == (
        "b-1:\n   AuthMethod:   jwt\n   Description:  \n   BindType:     service\n"
        "   BindName:     x\n   Selector:     \n   Create Index: 5\n   Modify Index: 6\n")
    assert format_binding_rule(rule, meta=False).startswith("ID:           b-1\nAuthMethod: ")


def test_templated_policy_shape():
    node = {"TemplateName": "builtin/node", "Description": "d", "Schema": "{s}",
            "Template": "t"}
    assert format_templated_policy(node, meta=True) == (
        "Name:            builtin/node\nDescription:     d\nInput variables:\n"
        "\tName: String - Required - The node name.\nExample usage:\n"
        "\tproconsul acl token create -templated-policy builtin/node -var name:node-1\n"
        "Schema:\n{s}\n\nRaw Template:\nt\n")
    assert format_templated_policy({"TemplateName": "custom"}, meta=False) == (
        "Name:            custom\nDescription:     \nInput variables:   None\n")


def test_json_is_go_marshal_indent():
    assert dump({"Description": "café <b> & ü", "L": []}) == (
        '{\n    "Description": "café \\u003cb\\u003e \\u0026 ü",\n    "L": []\n}')


def test_format_policy_and_role():
    policy = {"ID": "p-1", "Name": "app", "Description": "", "Datacenters": ["a", "b"],
              "Rules": 'key "x" { policy = "read" }'}
    assert format_policy(policy, meta=False) == (
        "ID:           p-1\nName:         app\nDescription:  \nDatacenters:  a, b\nRules:\n"
        'key "x" { policy = "read" }')
    role = {"ID": "r-1", "Name": "r", "ServiceIdentities": [{"ServiceName": "web"}],
            "TemplatedPolicies": [{"TemplateName": "builtin/dns"}]}
    assert format_policy(policy, meta=False, listing=True) == (
        "app:\n   ID:           p-1\n   Description:  \n   Datacenters:  a, b\n")
    assert format_role(role, meta=False, listing=True) == (
        "r:\n   ID:           r-1\n   Description:  \n   Service Identities:\n"
        "      web (Datacenters: all)\n   Templated Policies:\n      builtin/dns\n"
        "         Datacenters: all\n")


def test_token_file_wins_unless_empty_and_a_missing_one_is_a_client_error(tmp_path):
    file = tmp_path / "t"
    file.write_text(" from-file \n")
    assert Config(token="flag", token_file=str(file)).effective_token() == "from-file"
    file.write_text("\n")
    assert Config(token="flag", token_file=str(file)).effective_token() == "flag"
    with pytest.raises(ClientError, match="Error loading token file: open .*/nope: no such "
                                          "file or directory"):
        Config(token_file=str(tmp_path / "nope")).effective_token()
