"""RBAC rules from intentions: default action, precedence exclusions, L7 permissions."""

from __future__ import annotations

from proconsul.agent.xds import rbac

TD = "11111111-2222-3333-4444-555555555555.consul"


def entry(dest: str, *sources: dict) -> dict:
    return {"Kind": "service-intentions", "Name": dest, "Sources": list(sources)}


def regex(principal: dict) -> str:
    return principal["authenticated"]["principal_name"]["safe_regex"]["regex"]


def test_default_allow_denies_the_deny_intentions_only():
    hits = rbac.intentions_for([entry("api", {"Name": "web", "Action": "deny"},
                                      {"Name": "db", "Action": "allow"})], "api")
    rules = rbac.network_rules(hits, TD, default_allow=True)
    assert rules["action"] == "DENY"
    [who] = rules["policies"]["consul-intentions-layer4"]["principals"]
    assert regex(who) == (r"^spiffe://11111111\-2222\-3333\-4444\-555555555555\.consul"
                          r"/ns/default/dc/[^/]+/svc/web$")


def test_default_deny_allows_and_excludes_higher_precedence_denies():
    hits = rbac.intentions_for([entry("api", {"Name": "web", "Action": "deny"}),
                                entry("*", {"Name": "*", "Action": "allow"})], "api")
    rules = rbac.network_rules(hits, TD, default_allow=False)
    assert "action" not in rules  # ALLOW is Envoy's default
    [who] = rules["policies"]["consul-intentions-layer4"]["principals"]
    first, excluded = who["and_ids"]["ids"]
    assert regex(first).endswith("/svc/[^/]+$")
    assert regex(excluded["not_id"]).endswith("/svc/web$")


def test_no_intentions_with_default_deny_is_deny_all():
    assert rbac.network_rules([], TD, default_allow=False) == {}
    assert rbac.network_rules([], TD, default_allow=True) == {"action": "DENY"}


def test_l7_permissions_become_http_policies_and_deny_at_l4():
    src = {"Name": "web", "Permissions": [
        {"Action": "deny", "HTTP": {"PathPrefix": "/admin", "Methods": ["POST"]}},
        {"Action": "allow", "HTTP": {"PathExact": "/ok"}}]}
    hits = rbac.intentions_for([entry("api", src)], "api")
    http = rbac.http_rules(hits, TD, default_allow=True)
    [(name, policy)] = http["policies"].items()
    assert name == "consul-intentions-layer7-0"
    [perm] = policy["permissions"]
    path, methods = perm["and_rules"]["rules"]
    assert path == {"url_path": {"path": {"prefix": "/admin"}}}
    assert methods["or_rules"]["rules"][0]["header"] == {
        "name": ":method", "string_match": {"exact": "POST"}}
    allow_mode = rbac.http_rules(hits, TD, default_allow=False)
    [allowed] = allow_mode["policies"]["consul-intentions-layer7-0"]["permissions"]
    assert allowed["and_rules"]["rules"][0] == {"url_path": {"path": {"exact": "/ok"}}}
    assert "not_rule" in allowed["and_rules"]["rules"][1]
    l4 = rbac.network_rules(hits, TD, default_allow=True)
    assert regex(l4["policies"]["consul-intentions-layer4"]["principals"][0]).endswith("/web$")
