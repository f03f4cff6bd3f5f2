"""ACL structs: Consul's JSON shapes, Go's null/omitempty conventions and the built-ins."""

from __future__ import annotations

import msgspec
import pytest

from proconsul.agent.http.decode import decode_json
from proconsul.lib.acl.authorizer import CHECKS, Decision, new_authorizer
from proconsul.lib.acl.rules import parse_rules
from proconsul.structs.acl import (
    GLOBAL_MANAGEMENT_POLICY_ID,
    GLOBAL_READ_ONLY_POLICY_ID,
    TEMPLATED_POLICIES,
    ACLAuthMethod,
    ACLBindingRule,
    ACLLink,
    ACLNodeIdentity,
    ACLPolicy,
    ACLRole,
    ACLServiceIdentity,
    ACLTemplatedPolicy,
    ACLTemplatedPolicyVariables,
    ACLToken,
    acl_id_reserved,
    builtin_policies,
    is_valid_auth_method_name,
    is_valid_identity_name,
    is_valid_role_name,
    policy_name_error,
)
from proconsul.structs.errors import BadRequest

ALLOW, DENY = Decision.ALLOW, Decision.DENY


def decode(body: bytes, cls):
    """As the HTTP edge decodes a body (Go's null reading: the zero value)."""
    return decode_json(body, cls)


def test_token_body_as_the_go_client_sends_it():
    body = (
        b'{"CreateIndex":0,"ModifyIndex":0,"AccessorID":"","SecretID":"","Description":"web",'
        b'"Policies":[{"ID":"","Name":"readers"}],"Local":false,'
        b'"CreateTime":"0001-01-01T00:00:00Z"}'
    )
    token = decode(body, ACLToken)
    assert token.Policies == [ACLLink(ID="", Name="readers")]
    assert token.Description == "web" and token.Local is False


def test_null_and_empty_slices_are_omitted_on_output():
    token = decode(
        b'{"AccessorID":"a","Policies":null,"Roles":[],"ServiceIdentities":null,'
        b'"NodeIdentities":[],"TemplatedPolicies":null,"ExpirationTime":null,"CreateTime":null}',
        ACLToken,
    )
    out = msgspec.json.decode(msgspec.json.encode(token))
    assert out == {
        "AccessorID": "a",
        "SecretID": "",
        "Description": "",
        "Local": False,
        "CreateTime": "0001-01-01T00:00:00Z",
        "Hash": None,
        "CreateIndex": 0,
        "ModifyIndex": 0,
    }


@pytest.mark.parametrize(
    "ttl, nanos",
    [('"1h"', 3_600_000_000_000), ("600000000000", 600_000_000_000), ('"90s"', 90_000_000_000)],
)
def test_expiration_ttl_is_a_duration_string_or_nanoseconds(ttl, nanos):
    token = decode(b'{"ExpirationTTL":' + ttl.encode() + b"}", ACLToken)
    assert token.ExpirationTTL == nanos
    assert "ExpirationTTL" not in msgspec.json.decode(msgspec.json.encode(token.stub()))


def test_bad_input_is_a_400():
    with pytest.raises(BadRequest, match="invalid ExpirationTTL"):
        decode(b'{"ExpirationTTL":"soon"}', ACLToken)
    with pytest.raises(BadRequest, match="Bogus"):
        decode(b'{"Bogus":1}', ACLToken)
    with pytest.raises(BadRequest):
        decode(b'{"Policies":"readers"}', ACLToken)


def test_enterprise_fields_are_accepted_and_dropped():
    token = decode(
        b'{"Namespace":"default","Partition":"default","AuthMethodNamespace":"x"}', ACLToken
    )
    out = msgspec.json.decode(msgspec.json.encode(token))
    assert not {"Namespace", "Partition", "AuthMethodNamespace"} & set(out)
    method = decode(b'{"Name":"m","Type":"jwt","NamespaceRules":[{"Selector":""}]}', ACLAuthMethod)
    assert "NamespaceRules" not in msgspec.json.decode(msgspec.json.encode(method))


def test_template_variables_read_name_in_either_case():
    for body in (b'{"name":"web"}', b'{"Name":"web"}'):
        variables = decode(body, ACLTemplatedPolicyVariables)
        assert variables.name == "web"
        assert msgspec.json.encode(variables) == b'{"name":"web"}'


def test_auth_method_max_token_ttl_is_written_as_go_formats_it():
    for ttl in (b'"10m"', b"600000000000"):
        method = decode(b'{"Name":"m","Type":"jwt","MaxTokenTTL":' + ttl + b"}", ACLAuthMethod)
        assert method.max_token_ttl_ns == 600_000_000_000
        out = msgspec.json.decode(msgspec.json.encode(method))
        assert out == {
            "Name": "m",
            "Type": "jwt",
            "MaxTokenTTL": "10m0s",
            "Config": None,
            "CreateIndex": 0,
            "ModifyIndex": 0,
        }


def test_every_object_survives_msgpack():
    objects = [
        decode(
            b'{"AccessorID":"a","SecretID":"s","Policies":[{"ID":"p"}],"ExpirationTime":"2030-01-02T03:04:05Z",'
            b'"TemplatedPolicies":[{"TemplateName":"builtin/dns"}],"Hash":"aGFzaA=="}',
            ACLToken,
        ),
        ACLPolicy(ID="p", Name="n", Rules='key "" { policy = "read" }', Datacenters=["dc1"]),
        ACLRole(ID="r", Name="r", ServiceIdentities=[ACLServiceIdentity(ServiceName="web")]),
        decode(
            b'{"Name":"m","Type":"jwt","MaxTokenTTL":"1h","Config":{"BoundIssuer":"x"}}',
            ACLAuthMethod,
        ),
        decode(
            b'{"ID":"b","AuthMethod":"m","BindType":"service","BindName":"${value.x}","BindVars":{"Name":"y"}}',
            ACLBindingRule,
        ),
    ]
    for obj in objects:
        assert msgspec.msgpack.decode(msgspec.msgpack.encode(obj), type=type(obj)) == obj
        assert msgspec.json.decode(msgspec.json.encode(obj), type=type(obj)) == obj


def test_policy_stub_and_datacenters():
    policy = ACLPolicy(ID="p", Name="n", Rules="x", Datacenters=["dc2"])
    assert "Rules" not in msgspec.json.decode(msgspec.json.encode(policy.stub()))
    assert policy.applies_in("dc2") and not policy.applies_in("dc1")
    assert ACLPolicy(ID="q").applies_in("dc1")


def test_service_identity_synthetic_policy_matches_consuls_ids():
    policy = ACLServiceIdentity(ServiceName="web", Datacenters=["dc1"]).synthetic_policy()
    # Consul's documented IDs start with the hex of "\nservice" ...
    assert policy.ID.startswith("0a7365727669")
    # ... and end with the FNV-128a sum of no input
    assert policy.ID.endswith("6c62272e07bb014262b821756295c58d")
    assert bytes.fromhex(policy.ID[:-32]).decode() == policy.Rules
    assert policy.Name == f"synthetic-policy-{policy.ID}"
    assert policy.Description == "synthetic policy generated from templated policy: builtin/service"
    assert policy.Datacenters == ["dc1"]
    node = ACLNodeIdentity(NodeName="n1", Datacenter="dc2").synthetic_policy()
    assert node.Datacenters == ["dc2"] and 'node "n1"' in node.Rules


def _grants(rules: str):
    return new_authorizer([("p", parse_rules(rules))], "deny")


@pytest.mark.parametrize(
    "template, name, allowed, denied",
    [
        (
            "builtin/service",
            "web",
            [
                ("service_write", "web"),
                ("service_write", "web-sidecar-proxy"),
                ("service_read", "db"),
                ("node_read", "n"),
            ],
            [("service_write", "db"), ("node_write", "n"), ("key_read", "k")],
        ),
        (
            "builtin/node",
            "n1",
            [("node_write", "n1"), ("service_read", "db")],
            [("node_write", "n2"), ("node_read", "n2")],
        ),
        (
            "builtin/dns",
            None,
            [("node_read", "n"), ("service_read", "s"), ("query_read", "q")],
            [("service_write", "s")],
        ),
        (
            "builtin/api-gateway",
            "gw",
            [("mesh_read",), ("service_write", "gw"), ("service_read", "s"), ("node_read", "n")],
            [("mesh_write",), ("service_write", "s")],
        ),
        (
            "builtin/nomad-server",
            None,
            [("acl_write",), ("agent_read", "a"), ("node_read", "n"), ("service_write", "s")],
            [("agent_write", "a"), ("key_read", "k")],
        ),
        (
            "builtin/nomad-client",
            None,
            [("agent_read", "a"), ("node_read", "n"), ("service_write", "s"), ("key_read", "k")],
            [("acl_read",), ("key_write", "k"), ("node_write", "n")],
        ),
    ],
)
def test_templated_policies_grant_what_consul_documents(template, name, allowed, denied):
    variables = ACLTemplatedPolicyVariables(name=name) if name else msgspec.UNSET
    templated = ACLTemplatedPolicy(TemplateName=template, TemplateVariables=variables)
    assert templated.variables_error() is None
    authz = _grants(templated.synthetic_policy().Rules)
    for check, *args in allowed:
        assert getattr(authz, check)(*args) is ALLOW, (check, args)
    for check, *args in denied:
        assert getattr(authz, check)(*args) is DENY, (check, args)


def test_templated_policy_registry():
    assert set(TEMPLATED_POLICIES) == {
        "builtin/service",
        "builtin/node",
        "builtin/dns",
        "builtin/nomad-server",
        "builtin/api-gateway",
        "builtin/nomad-client",
    }
    assert (
        TEMPLATED_POLICIES["builtin/service"].TemplateID == "00000000-0000-0000-0000-000000000003"
    )
    assert (
        TEMPLATED_POLICIES["builtin/nomad-client"].TemplateID
        == "00000000-0000-0000-0000-000000000009"
    )
    listed = msgspec.json.decode(msgspec.json.encode(TEMPLATED_POLICIES["builtin/dns"].response()))
    assert set(listed) == {"TemplateName", "Schema", "Template", "Description"}
    for base in TEMPLATED_POLICIES.values():  # every template renders to valid rules
        parse_rules(base.Template.replace("{{.Name}}", "x"))


@pytest.mark.parametrize(
    "template, variables, error",
    [
        ("builtin/service", None, "name is required"),
        ("builtin/service", "", "name is required"),  # "" is omitted, as Go's omitempty does
        ("builtin/service", "Web", 'service identity "Web" has an invalid name'),
        ("builtin/node", "n_1-", 'node identity "n_1-" has an invalid name'),
        ("builtin/api-gateway", None, "name is required"),
        ("builtin/api-gateway", "Any.Name", None),
        ("builtin/dns", None, None),
        ("builtin/nope", None, "acl templated policy does not exist: builtin/nope"),
    ],
)
def test_templated_policy_variables(template, variables, error):
    tv = ACLTemplatedPolicyVariables(name=variables) if variables is not None else msgspec.UNSET
    found = ACLTemplatedPolicy(TemplateName=template, TemplateVariables=tv).variables_error()
    assert (found is None) if error is None else found.startswith(error)


def test_builtin_policies():
    builtins = builtin_policies()
    manage = builtins[GLOBAL_MANAGEMENT_POLICY_ID]
    read_only = builtins[GLOBAL_READ_ONLY_POLICY_ID]
    assert manage.Name == "global-management" and read_only.Name == "builtin/global-read-only"
    management = _grants(manage.Rules)
    reader = _grants(read_only.Rules)
    for check, spec in CHECKS.items():
        if check == "intention_default_allow":
            continue
        args = ("any",) if spec.named else ()
        assert getattr(management, check)(*args) is ALLOW, check
        expected = ALLOW if str(spec.access) == "read" else DENY
        assert getattr(reader, check)(*args) is expected, check


def test_names_and_reserved_ids():
    assert acl_id_reserved("00000000-0000-0000-0000-000000000042")
    assert not acl_id_reserved("00000000-0000-0000-0000-000000001000")
    assert is_valid_identity_name("web-1_a") and not is_valid_identity_name("Web")
    assert not is_valid_identity_name("-web") and not is_valid_identity_name("a" * 257)
    assert policy_name_error("ops/readers") is None
    assert policy_name_error("builtin/x").endswith(
        "Names cannot be prefixed with '/' or 'builtin/'"
    )
    assert policy_name_error("a/b/c").endswith("a single '/', '-' and '_' are allowed")
    assert policy_name_error("").endswith("Length must be greater than 0 and less than 128")
    assert is_valid_role_name("ops_1") and not is_valid_role_name("ops/1")
    assert is_valid_auth_method_name("k8s-prod") and not is_valid_auth_method_name("a" * 129)


def test_hashes_cover_what_consul_hashes():
    import hashlib

    token = decode(b'{"Description":"web","Policies":[{"ID":"p1","Name":"a"}]}', ACLToken)
    assert token.set_hash() == hashlib.blake2b(b"webglobalp1", digest_size=32).digest()
    assert token.Hash == token.set_hash()
    renamed = decode(msgspec.json.encode(token).replace(b'"Name":"a"', b'"Name":"b"'), ACLToken)
    assert renamed.set_hash() == token.Hash  # link names are not hashed, IDs are
    token.Local = True
    assert token.set_hash() != renamed.Hash
    policy = ACLPolicy(Name="n", Description="d", Rules="r", Datacenters=["dc1"])
    assert policy.set_hash() == hashlib.blake2b(b"ndrdc1", digest_size=32).digest()
    role = ACLRole(
        Name="r", ServiceIdentities=[ACLServiceIdentity(ServiceName="web", Datacenters=["dc1"])]
    )
    assert role.set_hash() == hashlib.blake2b(b"rwebdc1", digest_size=32).digest()
    synthetic = ACLServiceIdentity(ServiceName="web").synthetic_policy()
    assert (
        synthetic.Hash
        == ACLPolicy(
            Name=synthetic.Name, Description=synthetic.Description, Rules=synthetic.Rules
        ).set_hash()
    )
