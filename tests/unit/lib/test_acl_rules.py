"""Consul's ACL rules language: HCL and JSON forms, validation and error messages."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proconsul.lib.acl.rules import Access, ParsedRules, Rule, RulesError, parse_rules

BASIC_HCL = """
agent_prefix "bar" {
    policy = "write"
}
agent "foo" {
    policy = "read"
}
event_prefix "" {
    policy = "read"
}
event "foo" {
    policy = "write"
}
event "bar" {
    policy = "deny"
}
key_prefix "" {
    policy = "read"
}
key_prefix "foo/" {
    policy = "write"
}
key_prefix "foo/bar/" {
    policy = "read"
}
key "foo/bar/baz" {
    policy = "deny"
}
keyring = "deny"
node_prefix "" {
    policy = "read"
}
node "foo" {
    policy = "write"
}
node "bar" {
    policy = "deny"
}
operator = "deny"
mesh = "deny"
peering = "deny"
service_prefix "" {
    policy = "write"
}
service "foo" {
    policy = "read"
}
session "foo" {
    policy = "write"
}
session "bar" {
    policy = "deny"
}
session_prefix "baz" {
    policy = "deny"
}
query_prefix "" {
    policy = "read"
}
query "foo" {
    policy = "write"
}
query "bar" {
    policy = "deny"
}
acl = "read"
"""

BASIC_JSON = """
{
  "agent_prefix": {"bar": {"policy": "write"}},
  "agent": {"foo": {"policy": "read"}},
  "event_prefix": {"": {"policy": "read"}},
  "event": {"foo": {"policy": "write"}, "bar": {"policy": "deny"}},
  "key_prefix": {"": {"policy": "read"}, "foo/": {"policy": "write"},
                 "foo/bar/": {"policy": "read"}},
  "key": {"foo/bar/baz": {"policy": "deny"}},
  "keyring": "deny",
  "node_prefix": {"": {"policy": "read"}},
  "node": {"foo": {"policy": "write"}, "bar": {"policy": "deny"}},
  "operator": "deny",
  "mesh": "deny",
  "peering": "deny",
  "service_prefix": {"": {"policy": "write"}},
  "service": {"foo": {"policy": "read"}},
  "session": {"foo": {"policy": "write"}, "bar": {"policy": "deny"}},
  "session_prefix": {"baz": {"policy": "deny"}},
  "query_prefix": {"": {"policy": "read"}},
  "query": {"foo": {"policy": "write"}, "bar": {"policy": "deny"}},
  "acl": "read"
}
"""

R, W, L, D = Access.READ, Access.WRITE, Access.LIST, Access.DENY

BASIC_RULES = {
    Rule("agent", "bar", True, W),
    Rule("agent", "foo", False, R),
    Rule("event", "", True, R),
    Rule("event", "foo", False, W),
    Rule("event", "bar", False, D),
    Rule("key", "", True, R),
    Rule("key", "foo/", True, W),
    Rule("key", "foo/bar/", True, R),
    Rule("key", "foo/bar/baz", False, D),
    Rule("keyring", "", False, D),
    Rule("node", "", True, R),
    Rule("node", "foo", False, W),
    Rule("node", "bar", False, D),
    Rule("operator", "", False, D),
    Rule("mesh", "", False, D),
    Rule("peering", "", False, D),
    Rule("service", "", True, W),
    Rule("service", "foo", False, R),
    Rule("session", "foo", False, W),
    Rule("session", "bar", False, D),
    Rule("session", "baz", True, D),
    Rule("query", "", True, R),
    Rule("query", "foo", False, W),
    Rule("query", "bar", False, D),
    Rule("acl", "", False, R),
}


def test_every_resource_parses_from_hcl():
    assert set(parse_rules(BASIC_HCL).rules) == BASIC_RULES


def test_json_gives_the_same_rules_as_hcl():
    assert set(parse_rules(BASIC_JSON).rules) == BASIC_RULES


@pytest.mark.parametrize(
    "text",
    [
        'key_prefix "" { policy = "read" }',
        '{"key_prefix": {"": {"policy": "read"}}}',
        '{"key_prefix": [{"": {"policy": "read"}}]}',
        '{"key_prefix": {"": [{"policy": "read"}]}}',
        'key_prefix = { "" = { policy = "read" } }',
        '  \n{"key_prefix": {"": {"policy": "READ"}}}',
    ],
)
def test_spellings_of_the_empty_key_prefix(text):
    assert parse_rules(text).rules == (Rule("key", "", True, R),)


def test_repeated_blocks_are_all_kept_in_order():
    text = 'key "a" { policy = "read" }\nkey "b" { policy = "write" }\nkey "a" { policy = "deny" }'
    assert parse_rules(text).rules == (
        Rule("key", "a", False, R),
        Rule("key", "b", False, W),
        Rule("key", "a", False, D),
    )


def test_json_list_of_blocks():
    text = '{"key": [{"foo": {"policy": "read"}}, {"bar": {"policy": "write"}}]}'
    assert parse_rules(text).rules == (Rule("key", "foo", False, R), Rule("key", "bar", False, W))


def test_service_intentions():
    parsed = parse_rules('service "foo" { policy = "write" intentions = "read" }')
    assert parsed.rules == (Rule("service", "foo", False, W, intentions=R),)
    parsed = parse_rules('{"service_prefix": {"": {"policy": "read", "intentions": "write"}}}')
    assert parsed.rules == (Rule("service", "", True, R, intentions=W),)
    # an empty intentions value means "not set", as in Consul
    parsed = parse_rules('service "foo" { policy = "write" intentions = "" }')
    assert parsed.rules == (Rule("service", "foo", False, W),)


@pytest.mark.parametrize("key", ["key", "key_prefix"])
def test_list_is_a_level_for_keys(key):
    assert parse_rules(f'{key} "a/" {{ policy = "list" }}').rules[0].access is L


@pytest.mark.parametrize(
    "key",
    [
        "agent",
        "agent_prefix",
        "event",
        "event_prefix",
        "node",
        "node_prefix",
        "query",
        "query_prefix",
        "service",
        "service_prefix",
        "session",
        "session_prefix",
    ],
)
def test_list_is_refused_outside_keys(key):
    with pytest.raises(RulesError, match=f"^Invalid {key} policy: "):
        parse_rules(f'{key} "a" {{ policy = "list" }}')


@pytest.mark.parametrize("scalar", ["acl", "keyring", "mesh", "operator", "peering"])
def test_scalar_levels(scalar):
    for level in ("read", "write", "deny"):
        assert parse_rules(f'{scalar} = "{level}"').rules == (
            Rule(scalar, "", False, Access[level.upper()]),
        )
    assert parse_rules(f'{scalar} = ""').rules == ()  # empty means unset
    with pytest.raises(RulesError) as err:
        parse_rules(f'{scalar} = "list"')
    assert str(err.value) == f'Invalid {scalar} policy: "list"'
    with pytest.raises(RulesError) as err:
        parse_rules(f'{{"{scalar}": "nope"}}')
    assert str(err.value) == f'Invalid {scalar} policy: "nope"'


@pytest.mark.parametrize(
    "text, message",
    [
        ('key "foo" { policy = "nope" }', 'Invalid key policy: key "foo" { policy = "nope" }'),
        (
            '{"key_prefix": {"a/": {"policy": "nope"}}}',
            'Invalid key_prefix policy: key_prefix "a/"',
        ),
        ('agent "foo" { policy = "nope" }', "Invalid agent policy: "),
        ('node_prefix "" { }', 'Invalid node_prefix policy: node_prefix "" {  }'),
        (
            'service "foo" { policy = "write" intentions = "foo" }',
            "Invalid service intentions policy: ",
        ),
        (
            'service_prefix "" { policy = "read" intentions = "list" }',
            "Invalid service_prefix intentions policy: ",
        ),
        ('session "x" { policy = 3 }', 'Invalid session policy: session "x" { policy = 3 }'),
        (
            'acl = "read"\nacl = "write"',
            'Failed to parse ACL rules: The argument "acl" was already set',
        ),
        (
            'key "a" { policy = "read" policy = "write" }',
            'Failed to parse ACL rules: The argument "policy" in key "a"',
        ),
        ('key = "read"', 'Failed to parse ACL rules: key: expected blocks like key "<name>"'),
        ('key { policy = "read" }', 'Failed to parse ACL rules: key "policy": expected a block'),
        ('{"key": {"a": "read"}}', 'Failed to parse ACL rules: key "a": expected a block'),
        ("[1, 2]", "Failed to parse ACL rules: Line 1"),
        ('{"key": ', "Failed to parse ACL rules: At 1:9: "),
        ('{\n  "key": {\n    "a": {"policy": "read",}\n  }\n}', "Failed to parse ACL rules: At 3:"),
        ('key "a" {\n  policy = "read"\n', "Failed to parse ACL rules: "),
        ('key "a" {\n  policy = \n}\n', "Failed to parse ACL rules: Line 3"),
    ],
)
def test_errors_name_the_key_or_line(text, message):
    with pytest.raises(RulesError) as err:
        parse_rules(text)
    assert str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value)


def test_empty_rules():
    assert parse_rules("") == ParsedRules()
    assert parse_rules("  \n\t") == ParsedRules()
    assert parse_rules("# nothing but a comment\n") == ParsedRules()
    assert parse_rules("{}") == ParsedRules()


def test_unknown_keys_are_ignored_and_reported():
    text = 'namespace_prefix "team" { key_prefix "" { policy = "write" } }\nkey "a" { policy = "read" }'
    parsed = parse_rules(text)
    assert parsed.rules == (Rule("key", "a", False, R),)
    assert parsed.ignored == ("namespace_prefix",)


def test_rule_text_form():
    assert str(Rule("key", "foo/", True, W)) == 'key_prefix "foo/" { policy = "write" }'
    assert (
        str(Rule("service", "web", False, R, D))
        == 'service "web" { policy = "read" intentions = "deny" }'
    )
    assert str(Rule("operator", "", False, R)) == 'operator = "read"'


# pyhcl cannot lex a string ending in an escaped backslash, so none are generated
_names = st.text(alphabet='ab/-"é .', max_size=8)
_rules = st.one_of(
    st.builds(
        Rule,
        st.sampled_from(["agent", "event", "node", "query", "session"]),
        _names,
        st.booleans(),
        st.sampled_from([R, W, D]),
    ),
    st.builds(Rule, st.just("key"), _names, st.booleans(), st.sampled_from([R, W, L, D])),
    st.builds(
        Rule,
        st.just("service"),
        _names,
        st.booleans(),
        st.sampled_from([R, W, D]),
        st.sampled_from([None, R, W, D]),
    ),
    st.builds(
        Rule,
        st.sampled_from(["acl", "keyring", "mesh", "operator", "peering"]),
        st.just(""),
        st.just(False),
        st.sampled_from([R, W, D]),
    ),
)


@settings(deadline=None)
@given(st.lists(_rules, max_size=6, unique_by=lambda r: r.resource if r.scalar else id(r)))
def test_text_form_parses_back(rules):
    # blocks come back grouped by their key word, each group in source order
    def group(rule):
        return (rule.resource, rule.prefix)

    parsed = parse_rules("\n".join(map(str, rules))).rules
    assert sorted(parsed, key=group) == sorted(rules, key=group)
