"""The ACL authorizer: Consul's decisions for rules, merging, defaults and explanations."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proconsul.lib.acl.authorizer import (
    ALLOW_ALL,
    CHECKS,
    DENY_ALL,
    MANAGE_ALL,
    ChainedAuthorizer,
    Decision,
    Grant,
    RuleTree,
    compile_policies,
    new_authorizer,
    permission_denied,
    root_authorizer,
)
from proconsul.lib.acl.rules import Access, ParsedRules, Rule, parse_rules

ALLOW, DENY, DEFAULT = Decision.ALLOW, Decision.DENY, Decision.DEFAULT


def authz(*texts: str, default: str = "deny") -> ChainedAuthorizer:
    return new_authorizer([(f"p{i}", parse_rules(t)) for i, t in enumerate(texts)], default)


BASIC = """
agent_prefix "bar" { policy = "write" }
agent "foo" { policy = "read" }
event_prefix "" { policy = "read" }
event "foo" { policy = "write" }
event "bar" { policy = "deny" }
key_prefix "" { policy = "read" }
key_prefix "foo/" { policy = "write" }
key_prefix "foo/bar/" { policy = "read" }
key "foo/bar/baz" { policy = "deny" }
keyring = "deny"
node_prefix "" { policy = "read" }
node "foo" { policy = "write" }
node "bar" { policy = "deny" }
operator = "deny"
service_prefix "" { policy = "write" }
service "foo" { policy = "read" }
session "foo" { policy = "write" }
session "bar" { policy = "deny" }
session_prefix "baz" { policy = "deny" }
query_prefix "" { policy = "read" }
query "foo" { policy = "write" }
query "bar" { policy = "deny" }
"""

# (check, args, decision with default_policy=deny, decision with default_policy=allow)
BASIC_TABLE = [
    ("acl_read", (), DENY, DENY),  # allow-all still refuses ACL management
    ("acl_write", (), DENY, DENY),
    ("snapshot", (), DENY, DENY),
    ("agent_read", ("foo",), ALLOW, ALLOW),
    ("agent_write", ("foo",), DENY, DENY),
    ("agent_write", ("bar",), ALLOW, ALLOW),
    ("agent_write", ("barista",), ALLOW, ALLOW),
    ("agent_read", ("baz",), DENY, ALLOW),
    ("agent_read", ("foo2",), DENY, ALLOW),  # exact "foo" does not cover "foo2"
    ("event_read", ("anything",), ALLOW, ALLOW),
    ("event_write", ("anything",), DENY, DENY),
    ("event_write", ("foo",), ALLOW, ALLOW),
    ("event_write", ("foo2",), DENY, DENY),
    ("event_read", ("bar",), DENY, DENY),
    ("key_read", ("other",), ALLOW, ALLOW),
    ("key_write", ("other",), DENY, DENY),
    ("key_list", ("other",), DENY, DENY),  # read does not grant list
    ("key_write", ("foo/x",), ALLOW, ALLOW),
    ("key_list", ("foo/x",), ALLOW, ALLOW),  # write grants list
    ("key_write", ("foo/bar/x",), DENY, DENY),
    ("key_read", ("foo/bar/x",), ALLOW, ALLOW),
    ("key_read", ("foo/bar/baz",), DENY, DENY),
    ("key_read", ("foo/bar/baz/deeper",), ALLOW, ALLOW),  # exact rule only
    ("key_write_prefix", ("foo/",), DENY, DENY),  # foo/bar/ inside is read-only
    ("key_write_prefix", ("foo/baz",), ALLOW, ALLOW),
    ("keyring_read", (), DENY, DENY),
    ("keyring_write", (), DENY, DENY),
    ("operator_read", (), DENY, DENY),
    ("mesh_read", (), DENY, DENY),  # no mesh rule: operator decides
    ("mesh_write", (), DENY, DENY),
    ("operator_write", (), DENY, DENY),
    ("peering_read", (), DENY, DENY),
    ("peering_write", (), DENY, DENY),
    ("node_read", ("foo",), ALLOW, ALLOW),
    ("node_write", ("foo",), ALLOW, ALLOW),
    ("node_read", ("bar",), DENY, DENY),
    ("node_read", ("other",), ALLOW, ALLOW),
    ("node_write", ("other",), DENY, DENY),
    ("node_read_all", (), DENY, DENY),  # node "bar" is denied
    ("query_read", ("x",), ALLOW, ALLOW),
    ("query_write", ("foo",), ALLOW, ALLOW),
    ("query_write", ("x",), DENY, DENY),
    ("query_read", ("bar",), DENY, DENY),
    ("service_read", ("foo",), ALLOW, ALLOW),
    ("service_write", ("foo",), DENY, DENY),
    ("service_write", ("other",), ALLOW, ALLOW),
    ("service_write_any", (), ALLOW, ALLOW),
    ("service_read_all", (), ALLOW, ALLOW),
    ("service_read_prefix", ("fo",), ALLOW, ALLOW),
    ("intention_read", ("foo",), ALLOW, ALLOW),  # derived: service read -> intentions read
    ("intention_write", ("foo",), DENY, DENY),
    ("intention_read", ("other",), ALLOW, ALLOW),  # derived from service_prefix write
    ("intention_write", ("other",), DENY, DENY),  # ... which is intentions read only
    ("intention_read", ("*",), ALLOW, ALLOW),
    ("intention_write", ("*",), DENY, DENY),
    ("intention_default_allow", (), DENY, ALLOW),
    ("session_write", ("foo",), ALLOW, ALLOW),
    ("session_read", ("bar",), DENY, DENY),
    ("session_read", ("baz1",), DENY, DENY),
    ("session_read", ("other",), DENY, ALLOW),
]


@pytest.mark.parametrize("check, args, with_deny, with_allow", BASIC_TABLE)
def test_basic_policy(check, args, with_deny, with_allow):
    assert getattr(authz(BASIC), check)(*args) is with_deny
    assert getattr(authz(BASIC, default="allow"), check)(*args) is with_allow
    assert authz(BASIC).explain(check, *args).allowed is (with_deny is ALLOW)


def test_every_check_is_tabled():
    assert {row[0] for row in BASIC_TABLE} == set(CHECKS)


def test_manage_default_allows_acl_management_without_rules():
    a = authz("", default="manage")
    assert a.acl_write() is ALLOW and a.snapshot() is ALLOW and a.key_write("x") is ALLOW


def test_static_authorizers():
    for check, spec in CHECKS.items():
        args = ("x",) if spec.named else ()
        management = check in ("acl_read", "acl_write", "snapshot")
        assert getattr(DENY_ALL, check)(*args) is DENY
        assert getattr(MANAGE_ALL, check)(*args) is ALLOW
        assert getattr(ALLOW_ALL, check)(*args) is (DENY if management else ALLOW)
    assert root_authorizer("allow") is ALLOW_ALL
    assert root_authorizer("deny") is DENY_ALL
    assert root_authorizer("manage") is MANAGE_ALL
    assert root_authorizer("anonymous") is None


def test_no_rule_is_default_and_an_empty_chain_denies():
    p = compile_policies([("p", parse_rules('key "a" { policy = "read" }'))])
    assert p.key_read("b") is DEFAULT
    assert p.key_read("a") is ALLOW
    assert ChainedAuthorizer([p]).key_read("b") is DENY
    assert ChainedAuthorizer([]).key_read("a") is DENY


def test_levels():
    a = authz(
        'key_prefix "l/" { policy = "list" }\nkey_prefix "r/" { policy = "read" }\nkey_prefix "w/" { policy = "write" }\nkey_prefix "d/" { policy = "deny" }'
    )
    assert [a.key_read("l/x"), a.key_list("l/x"), a.key_write("l/x")] == [ALLOW, ALLOW, DENY]
    assert [a.key_read("r/x"), a.key_list("r/x"), a.key_write("r/x")] == [ALLOW, DENY, DENY]
    assert [a.key_read("w/x"), a.key_list("w/x"), a.key_write("w/x")] == [ALLOW, ALLOW, ALLOW]
    assert [a.key_read("d/x"), a.key_list("d/x"), a.key_write("d/x")] == [DENY, DENY, DENY]


def test_longest_prefix_wins_and_exact_beats_prefix():
    a = authz(
        'key_prefix "a" { policy = "write" }\n'
        'key_prefix "ab" { policy = "deny" }\n'
        'key_prefix "abc" { policy = "read" }\n'
        'key "abc" { policy = "write" }\n'
        'key "" { policy = "write" }'
    )
    assert a.key_write("ax") is ALLOW
    assert a.key_read("abx") is DENY
    assert a.key_read("abcd") is ALLOW and a.key_write("abcd") is DENY
    assert a.key_write("abc") is ALLOW  # exact
    assert a.key_write("") is ALLOW  # exact "" is only the empty name
    assert a.key_read("b") is DENY


@pytest.mark.parametrize(
    "first, second, check, name, expected",
    [
        (
            'key "foo" { policy = "read" }',
            'key "foo" { policy = "write" }',
            "key_write",
            "foo",
            ALLOW,
        ),
        (
            'key "foo" { policy = "write" }',
            'key "foo" { policy = "deny" }',
            "key_read",
            "foo",
            DENY,
        ),
        (
            'key "foo" { policy = "deny" }',
            'key "foo" { policy = "write" }',
            "key_read",
            "foo",
            DENY,
        ),
        (
            'key "foo" { policy = "list" }',
            'key "foo" { policy = "read" }',
            "key_list",
            "foo",
            ALLOW,
        ),
        (
            'key "foo" { policy = "list" }',
            'key "foo" { policy = "write" }',
            "key_write",
            "foo",
            ALLOW,
        ),
        # merging is per rule, not per decision: a longer prefix from another policy
        # still wins, even when it grants less
        (
            'key_prefix "" { policy = "write" }',
            'key_prefix "foo" { policy = "read" }',
            "key_write",
            "foo/x",
            DENY,
        ),
        # exact and prefix rules are different rules: no merging across forms
        (
            'key_prefix "foo" { policy = "deny" }',
            'key "foo" { policy = "write" }',
            "key_write",
            "foo",
            ALLOW,
        ),
        (
            'key_prefix "foo" { policy = "deny" }',
            'key "foo" { policy = "write" }',
            "key_read",
            "foo2",
            DENY,
        ),
        ('operator = "read"', 'operator = "write"', "operator_write", "", ALLOW),
        ('operator = "write"', 'operator = "deny"', "operator_read", "", DENY),
        ('acl = "read"', "", "acl_read", "", ALLOW),
        # intentions merge on their own, then default from the merged policy
        (
            'service "web" { policy = "write" }',
            'service "web" { policy = "read" intentions = "write" }',
            "intention_write",
            "web",
            ALLOW,
        ),
        (
            'service "web" { policy = "write" intentions = "deny" }',
            'service "web" { policy = "write" }',
            "intention_read",
            "web",
            DENY,
        ),
        (
            'service "web" { policy = "deny" }',
            'service "web" { policy = "write" }',
            "intention_read",
            "web",
            DENY,
        ),
        (
            'service "web" { policy = "deny" }',
            'service "web" { policy = "write" }',
            "service_read",
            "web",
            DENY,
        ),
        (
            'service_prefix "" { policy = "deny" intentions = "read" }',
            "",
            "intention_read",
            "x",
            ALLOW,
        ),
        ('service_prefix "" { policy = "deny" }', "", "intention_read", "x", DENY),
    ],
)
def test_merging_two_policies(first, second, check, name, expected):
    args = (name,) if CHECKS[check].named else ()
    assert getattr(authz(first, second), check)(*args) is expected
    assert getattr(authz(second, first), check)(*args) is expected  # order does not matter
    if CHECKS[check].named:  # repeated blocks in one policy merge too (scalars may not repeat)
        assert getattr(authz(first + "\n" + second), check)(*args) is expected


def test_mesh_and_peering_fall_back_to_operator():
    a = authz('operator = "write"')
    assert a.mesh_write() is ALLOW and a.peering_write() is ALLOW
    a = authz('operator = "write"\nmesh = "read"\npeering = "deny"')
    assert a.mesh_read() is ALLOW and a.mesh_write() is DENY and a.peering_read() is DENY


@pytest.mark.parametrize(
    "rules, prefix, default, expected",
    [
        ('key_prefix "" { policy = "write" }', "", "deny", ALLOW),
        (
            'key_prefix "" { policy = "write" }\nkey "foo/bar" { policy = "read" }',
            "foo/",
            "deny",
            DENY,
        ),
        (
            'key_prefix "" { policy = "write" }\nkey "foo/bar" { policy = "read" }',
            "baz/",
            "deny",
            ALLOW,
        ),
        ('key_prefix "" { policy = "write" }\nkey "foo/bar" { policy = "read" }', "", "deny", DENY),
        ('key_prefix "foo/" { policy = "write" }', "foo/", "deny", ALLOW),
        ('key_prefix "foo/" { policy = "write" }', "foo/x", "deny", ALLOW),
        ('key_prefix "foo/" { policy = "write" }', "", "deny", DENY),  # nothing covers ""
        (
            'key_prefix "foo/" { policy = "write" }',
            "",
            "allow",
            ALLOW,
        ),  # ... so the default decides
        ('key_prefix "foo/" { policy = "deny" }', "", "allow", DENY),
        ('key_prefix "foo/" { policy = "list" }', "foo/", "allow", DENY),
        ('key "foo/a" { policy = "write" }', "foo/", "deny", DENY),
        ('key "foo/a" { policy = "write" }', "foo/", "allow", ALLOW),
        # exact rules on the path above the prefix do not matter
        (
            'key "foo" { policy = "read" }\nkey_prefix "foo/" { policy = "write" }',
            "foo/",
            "deny",
            ALLOW,
        ),
        # a deeper prefix rule on the path overrides a shallower one
        (
            'key_prefix "" { policy = "read" }\nkey_prefix "foo" { policy = "write" }',
            "foo/",
            "deny",
            ALLOW,
        ),
        (
            'key_prefix "" { policy = "write" }\nkey_prefix "foo" { policy = "read" }',
            "foo/",
            "deny",
            DENY,
        ),
    ],
)
def test_key_write_prefix(rules, prefix, default, expected):
    assert authz(rules, default=default).key_write_prefix(prefix) is expected


@pytest.mark.parametrize(
    "rules, check, args, default, expected",
    [
        ('node_prefix "" { policy = "read" }', "node_read_all", (), "deny", ALLOW),
        (
            'node_prefix "" { policy = "read" }\nnode "secret" { policy = "deny" }',
            "node_read_all",
            (),
            "deny",
            DENY,
        ),
        ('node "a" { policy = "read" }', "node_read_all", (), "deny", DENY),
        ('node "a" { policy = "read" }', "node_read_all", (), "allow", ALLOW),
        ('service_prefix "" { policy = "read" }', "service_read_all", (), "deny", ALLOW),
        (
            'service_prefix "" { policy = "deny" }\nservice "x" { policy = "write" }',
            "service_read_all",
            (),
            "allow",
            DENY,
        ),
        (
            'service_prefix "" { policy = "read" }\nservice "x" { policy = "write" }',
            "service_write_any",
            (),
            "deny",
            ALLOW,
        ),
        ('service_prefix "" { policy = "read" }', "service_write_any", (), "deny", DENY),
        ('service_prefix "" { policy = "deny" }', "service_write_any", (), "allow", DENY),
        ('service_prefix "" { policy = "read" }', "service_read_prefix", ("web",), "deny", ALLOW),
        (
            'service_prefix "" { policy = "read" }\nservice "web-db" { policy = "deny" }',
            "service_read_prefix",
            ("web",),
            "deny",
            DENY,
        ),
        (
            'service_prefix "" { policy = "read" }\nservice "web-db" { policy = "deny" }',
            "service_read_prefix",
            ("api",),
            "deny",
            ALLOW,
        ),
        ('service "web" { policy = "read" }', "service_read_prefix", ("web",), "deny", DENY),
        ('service "a" { policy = "read" }', "intention_read", ("*",), "deny", ALLOW),
        ('service "a" { policy = "deny" }', "intention_read", ("*",), "deny", DENY),
        (
            'service_prefix "" { policy = "write" intentions = "write" }',
            "intention_write",
            ("*",),
            "deny",
            ALLOW,
        ),
        (
            'service_prefix "" { policy = "write" intentions = "write" }\nservice "x" { policy = "read" }',
            "intention_write",
            ("*",),
            "deny",
            DENY,
        ),
        # imported (peered) services and nodes: any service:write, or read on all
        ('service "y" { policy = "write" }', "service_read", ("x", "peer1"), "deny", ALLOW),
        ('service_prefix "" { policy = "read" }', "service_read", ("x", "peer1"), "deny", ALLOW),
        ('service "x" { policy = "read" }', "service_read", ("x", "peer1"), "deny", DENY),
        ('service "x" { policy = "read" }', "service_read", ("x",), "deny", ALLOW),
        ('node_prefix "" { policy = "read" }', "node_read", ("n", "peer1"), "deny", ALLOW),
        ('node "n" { policy = "read" }', "node_read", ("n", "peer1"), "deny", DENY),
    ],
)
def test_whole_tree_checks(rules, check, args, default, expected):
    assert getattr(authz(rules, default=default), check)(*args) is expected


GLOBAL_MANAGEMENT = """
acl = "write"
agent_prefix "" { policy = "write" }
event_prefix "" { policy = "write" }
key_prefix "" { policy = "write" }
keyring = "write"
node_prefix "" { policy = "write" }
operator = "write"
mesh = "write"
peering = "write"
query_prefix "" { policy = "write" }
service_prefix "" { policy = "write" intentions = "write" }
session_prefix "" { policy = "write" }
"""


def test_global_management_and_read_only_rules():
    manage = authz(GLOBAL_MANAGEMENT)
    read_only = authz(GLOBAL_MANAGEMENT.replace('"write"', '"read"'))
    for check, spec in CHECKS.items():
        if check == "intention_default_allow":
            continue
        args = ("some/name",) if spec.named else ()
        assert getattr(manage, check)(*args) is ALLOW, check
        reading = spec.access is Access.READ
        assert getattr(read_only, check)(*args) is (ALLOW if reading else DENY), check


def test_explain_names_policy_and_rule():
    a = new_authorizer(
        [
            ("readers", parse_rules('key_prefix "" { policy = "read" }')),
            (
                "app",
                parse_rules(
                    'key_prefix "app/" { policy = "write" }\nkey "app/lock" { policy = "deny" }'
                ),
            ),
        ]
    )
    e = a.explain("key_write", "app/config")
    assert e.allowed and e.grant.policy == "app" and e.source == "policy"
    assert str(e) == 'allowed by policy \'app\' rule key_prefix "app/" { policy = "write" }'
    e = a.explain("key_write", "other")
    assert not e.allowed and e.grant.policy == "readers"
    assert (
        str(a.explain("key_read", "app/lock"))
        == 'denied by policy \'app\' rule key "app/lock" { policy = "deny" }'
    )
    e = a.explain("node_read", "n1")
    assert not e.allowed and e.grant is None and str(e) == "denied by default policy deny"
    e = new_authorizer([], "allow").explain("acl_read")
    assert str(e) == "denied by default policy allow"
    e = a.explain("key_write_prefix", "app/")
    assert not e.allowed and str(e.grant.rule) == 'key "app/lock" { policy = "deny" }'
    with pytest.raises(ValueError):
        a.explain("key_delete", "x")


def test_explain_reports_the_merged_winner():
    a = authz(
        'key "k" { policy = "read" }', 'key "k" { policy = "deny" }', 'key "k" { policy = "write" }'
    )
    e = a.explain("key_read", "k")
    assert not e.allowed and e.grant.policy == "p1"


def test_intentions_explained_by_the_service_rule():
    e = authz('service "web" { policy = "write" }').explain("intention_write", "web")
    assert not e.allowed and str(e.grant.rule) == 'service "web" { policy = "write" }'


@pytest.mark.parametrize(
    "resource, access, segment, expected",
    [
        ("key", "read", "foo/x", ALLOW),
        ("key", "WRITE", "foo/x", ALLOW),
        ("key", "list", "other", DENY),
        ("key", "write-prefix", "foo/", DENY),
        ("operator", "read", "ignored", DENY),
        ("service", "write", "other", ALLOW),
        ("intention", "read", "foo", ALLOW),
        ("acl", "read", "", DENY),
        ("mesh", "read", "", DENY),
        ("peering", "write", "", DENY),
    ],
)
def test_enforce_by_resource_words(resource, access, segment, expected):
    assert authz(BASIC).enforce(resource, access, segment) is expected


def test_enforce_errors():
    with pytest.raises(ValueError, match=r'^Invalid ACL resource requested: "nope"$'):
        authz(BASIC).enforce("nope", "read", "x")
    with pytest.raises(ValueError, match="^Invalid access level for service resource: list$"):
        authz(BASIC).enforce("service", "list", "x")


def test_permission_denied_messages():
    accessor = "4f3a9c2e-5b8d-4e1f-9a7c-2d6b8e0f1a3c"
    assert permission_denied("key_write", accessor, "foo") == (
        f"Permission denied: token with AccessorID '{accessor}' lacks permission 'key:write' on \"foo\""
    )
    assert permission_denied("key_write_prefix", accessor, "foo/") == (
        f"Permission denied: token with AccessorID '{accessor}' lacks permission 'key:write' on \"foo/\""
    )
    assert permission_denied("operator_write", accessor) == (
        f"Permission denied: token with AccessorID '{accessor}' lacks permission 'operator:write'"
    )
    assert permission_denied("snapshot", accessor).endswith("lacks permission 'acl:write'")
    assert permission_denied("node_read_all", accessor).endswith("'node:read' on \"all nodes\"")
    assert permission_denied("service_write_any", accessor).endswith(
        "'service:write' on \"any service\""
    )
    assert permission_denied("intention_read", accessor, "web").endswith(
        "'intention:read' on \"web\""
    )
    assert permission_denied("key_list", accessor, "a/").endswith("'key:list' on \"a/\"")
    assert permission_denied("key_write", "00000000-0000-0000-0000-000000000002", "foo") == (
        "Permission denied: anonymous token lacks permission 'key:write' on \"foo\". "
        "The anonymous token is used implicitly when a request does not specify a token."
    )
    assert permission_denied(
        "key_read", accessor, "k", token_source="X-Consul-Token header"
    ).endswith('on "k" (token from X-Consul-Token header)')


# -- property tests: the trie against a brute-force oracle ----------------------

_ALPHABET = "ab/"
_names = st.text(alphabet=_ALPHABET, max_size=5)
_levels = st.sampled_from([Access.READ, Access.LIST, Access.WRITE, Access.DENY])
_key_rules = st.lists(st.builds(Rule, st.just("key"), _names, st.booleans(), _levels), max_size=12)
_policies = st.lists(_key_rules, min_size=1, max_size=3)


def _merged(policies: list[list[Rule]]) -> dict[tuple[bool, str], Access]:
    rank = {Access.READ: 1, Access.LIST: 2, Access.WRITE: 3, Access.DENY: 4}
    table: dict[tuple[bool, str], Access] = {}
    for rules in policies:
        for r in rules:
            key = (r.prefix, r.name)
            if key not in table or rank[r.access] >= rank[table[key]]:
                table[key] = r.access
    return table


def _oracle(table: dict[tuple[bool, str], Access], name: str) -> Access | None:
    if (False, name) in table:
        return table[(False, name)]
    covering = [p for (is_prefix, p) in table if is_prefix and name.startswith(p)]
    return table[(True, max(covering, key=len))] if covering else None


def _compile(policies: list[list[Rule]], default: str = "deny") -> ChainedAuthorizer:
    return new_authorizer(
        [(f"p{i}", ParsedRules(tuple(rules))) for i, rules in enumerate(policies)], default
    )


@settings(max_examples=300, deadline=None)  # the box is shared: no per-example deadline
@given(_policies, st.lists(_names, min_size=1, max_size=10))
def test_lookup_equals_longest_prefix_oracle(policies, names):
    table = _merged(policies)
    a = _compile(policies, "deny")
    for name in names:
        level = _oracle(table, name)
        for required, check in (
            (Access.READ, "key_read"),
            (Access.LIST, "key_list"),
            (Access.WRITE, "key_write"),
        ):
            expected = level is not None and level.grants(required)
            assert (getattr(a, check)(name) is ALLOW) is expected, (check, name, table)


@settings(max_examples=300, deadline=None)  # the box is shared: no per-example deadline
@given(st.lists(st.tuples(st.text(alphabet="ab/", max_size=12), st.booleans()), max_size=20),
       st.lists(st.text(alphabet="ab/", max_size=14), min_size=1, max_size=10))
def test_rule_tree_lookup_flat_or_walked_equals_the_oracle(rules, names):
    """Few prefix lengths answer from the flat maps, many from the trie: both agree."""
    tree, table = RuleTree(), {}
    for i, (name, prefix) in enumerate(rules):
        grant = Grant(Access.READ, f"p{i}", Rule("key", name, prefix, Access.READ))
        tree.insert(name, grant, prefix)
        table[(prefix, name)] = grant
    for name in names:
        covering = [p for (is_prefix, p) in table if is_prefix and name.startswith(p)]
        longest = table[(True, max(covering, key=len))] if covering else None
        assert tree.lookup(name) is (table.get((False, name)) or longest)
        assert tree._walk(name) is longest  # what the trie answers after the exact map


@settings(max_examples=200, deadline=None)  # the box is shared: no per-example deadline
@given(_policies, st.lists(_names, min_size=1, max_size=10),
       st.sampled_from(["allow", "deny", "manage"]))
def test_flat_key_checks_answer_as_the_chain_does(policies, names, default):
    """A token's chain (rules, then the default) answers key checks in one flat call:
    the same answers as asking the two authorizers in turn."""
    a = _compile(policies, default)
    rules, root = a.chain
    for name in names:
        for check in ("key_read", "key_list", "key_write"):
            chained = getattr(rules, check)(name)
            if chained is Decision.DEFAULT:
                chained = getattr(root, check)(name)
            assert getattr(a, check)(name) is chained, (check, name, default)


def test_rule_tree_walks_when_prefixes_have_many_lengths():
    tree = RuleTree()
    for n in range(12):
        tree.insert("a" * n, Grant(Access.READ, "p", Rule("key", "a" * n, True, Access.READ)), True)
    assert tree._lengths is None
    assert tree.lookup("aaaaab").rule.name == "aaaaa"


def test_grant_decisions_match_the_levels():
    for level in Access:
        grant = Grant(level, "p", Rule("key", "k", False, level))
        for required in Access:
            assert (grant.decisions[required] is Decision.ALLOW) is level.grants(required)


@settings(max_examples=300, deadline=None)  # the box is shared: no per-example deadline
@given(_policies, _names, st.sampled_from(["allow", "deny"]))
def test_key_write_prefix_means_every_key_below_is_writable(policies, prefix, default):
    a = _compile(policies, default)
    table = _merged(policies)
    below = {prefix + suffix for suffix in ("", "a", "b", "/", "ab", "a/b", "bb/a")}
    below |= {name for (_, name) in table if name.startswith(prefix)}
    if a.key_write_prefix(prefix) is ALLOW:
        assert all(a.key_write(k) is ALLOW for k in below)
    # and, as Consul: a rule below the prefix that is not write always refuses it
    if any(
        name.startswith(prefix) and level is not Access.WRITE for (_, name), level in table.items()
    ):
        assert a.key_write_prefix(prefix) is DENY


def test_down_policy_authorizers():
    from proconsul.lib.acl.authorizer import down_authorizer

    assert down_authorizer("allow", "deny") is ALLOW_ALL
    assert down_authorizer("deny", "allow") is DENY_ALL
    assert down_authorizer("extend-cache", "allow") is ALLOW_ALL
    assert down_authorizer("async-cache", "deny") is DENY_ALL
    with pytest.raises(ValueError, match="invalid ACL down policy 'sometimes'"):
        down_authorizer("sometimes", "deny")


def test_agent_recovery_authorizer():
    from proconsul.lib.acl.authorizer import agent_recovery_authorizer

    a = agent_recovery_authorizer("node-1")
    assert a.agent_write("node-1") is ALLOW and a.agent_read("node-1") is ALLOW
    assert a.agent_write("node-10") is DENY  # exact match only
    assert a.node_read("any") is ALLOW and a.node_write("node-1") is DENY
    assert a.key_read("k") is DENY and a.acl_read() is DENY


_svc_rules = st.lists(
    st.builds(
        Rule,
        st.just("service"),
        _names,
        st.booleans(),
        st.sampled_from([Access.READ, Access.WRITE, Access.DENY]),
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None)  # the box is shared: no per-example deadline
@given(_svc_rules, st.sampled_from(["allow", "deny"]))
def test_whole_tree_checks_equal_their_definitions(rules, default):
    a = _compile([rules], default)
    table = _merged([rules])
    root = table.get((True, ""))
    fallback = ALLOW if default == "allow" else DENY
    # service_write_any: some rule grants write, else what prefix "" says, else the default
    if any(level is Access.WRITE for level in table.values()):
        expected = ALLOW
    else:
        expected = fallback if root is None else DENY
    assert a.service_write_any() is expected
    # service_read_all: any rule refusing read denies; else prefix "" allows or the default decides
    if any(level is Access.DENY for level in table.values()):
        expected = DENY
    else:
        expected = fallback if root is None else ALLOW
    assert a.service_read_all() is expected


_any_rules = st.lists(
    st.one_of(
        st.builds(
            Rule,
            st.sampled_from(["agent", "event", "node", "query", "session", "service"]),
            _names,
            st.booleans(),
            st.sampled_from([Access.READ, Access.WRITE, Access.DENY]),
        ),
        st.builds(
            Rule,
            st.just("service"),
            _names,
            st.booleans(),
            st.sampled_from([Access.READ, Access.WRITE]),
            _levels.filter(lambda a: a is not Access.LIST),
        ),
        st.builds(Rule, st.just("key"), _names, st.booleans(), _levels),
        st.builds(
            Rule,
            st.sampled_from(["acl", "keyring", "mesh", "operator", "peering"]),
            st.just(""),
            st.just(False),
            st.sampled_from([Access.READ, Access.WRITE, Access.DENY]),
        ),
    ),
    max_size=10,
)


@settings(max_examples=200, deadline=None)
@given(_any_rules, _names, st.sampled_from(["allow", "deny", "manage"]))
def test_explain_always_agrees_with_the_check(rules, name, default):
    a = _compile([rules], default)
    for check, spec in CHECKS.items():
        args = (name,) if spec.named else ()
        explanation = a.explain(check, *args)
        assert explanation.allowed is (getattr(a, check)(*args) is ALLOW), (check, name)
        if explanation.grant is not None:
            assert explanation.grant.rule in rules
