"""Intentions: Consul's precedence, ordering, match, authorize (L4 and L7, wildcards,
default allow/deny), the L7 request verdict and the legacy view of service-intentions."""

from __future__ import annotations

import datetime

import msgspec
import pytest

from proconsul.server.connect import intentions as ixns
from proconsul.structs.config_entries import ConfigEntryError, decode, load
from proconsul.structs.config_entries.intentions import precedence
from proconsul.structs.intention import Intention, IntentionQueryExact, from_source


@pytest.mark.parametrize(("dest_ns", "dest", "src_ns", "src", "want"), [
    ("default", "web", "default", "api", 9),
    ("default", "web", "default", "*", 8),
    ("default", "web", "*", "*", 7),
    ("default", "*", "default", "api", 6),
    ("default", "*", "default", "*", 5),
    ("default", "*", "*", "*", 4),
    ("*", "*", "default", "api", 3),
    ("*", "*", "default", "*", 2),
    ("*", "*", "*", "*", 1),
])
def test_precedence_table(dest_ns, dest, src_ns, src, want):
    assert precedence(dest, src, dest_ns, src_ns) == want
    ixn = Intention(SourceNS=src_ns, SourceName=src, DestinationNS=dest_ns, DestinationName=dest)
    ixn.update_precedence()
    assert ixn.Precedence == want


def entry(name, *sources, **extra):
    e = decode({"Kind": "service-intentions", "Name": name, "Sources": list(sources), **extra})
    e.normalize()
    e.validate()
    return e


def allow(name):
    return {"Name": name, "Action": "allow"}


def deny(name):
    return {"Name": name, "Action": "deny"}


def l7(name, *perms):
    return {"Name": name, "Permissions": list(perms)}


ENTRIES = [
    entry("db", allow("web"), deny("*")),
    entry("*", deny("*"), allow("metrics")),
    entry("api", l7("web", {"Action": "allow", "HTTP": {"PathPrefix": "/v1", "Methods": ["GET"]}}),
          allow("*")),
]
ALL = ixns.all_intentions(ENTRIES)


def test_all_intentions_in_precedence_then_name_order():
    assert [(i.SourceName, i.DestinationName, i.Precedence) for i in ALL] == [
        ("web", "api", 9), ("web", "db", 9), ("*", "api", 8), ("*", "db", 8),
        ("metrics", "*", 6), ("*", "*", 5)]


def test_match_by_destination_includes_wildcards_in_order():
    [db] = ixns.match(ALL, "destination", [("default", "db")])
    assert [(i.SourceName, i.DestinationName) for i in db] == [
        ("web", "db"), ("*", "db"), ("metrics", "*"), ("*", "*")]


def test_match_by_source_one_list_per_name():
    web, other = ixns.match(ALL, "source", [("default", "web"), ("default", "other")])
    assert [(i.SourceName, i.DestinationName) for i in web] == [
        ("web", "api"), ("web", "db"), ("*", "api"), ("*", "db"), ("*", "*")]
    assert [(i.SourceName, i.DestinationName) for i in other] == [
        ("*", "api"), ("*", "db"), ("*", "*")]
    with pytest.raises(ConfigEntryError, match="Unknown match type: sideways"):
        ixns.match(ALL, "sideways", [("default", "web")])


@pytest.mark.parametrize(("source", "dest", "default_allow", "allowed", "reason"), [
    ("web", "db", False, True, "Matched L4 intention: default/web => default/db (Precedence: 9, Action: ALLOW)"),
    ("web", "db", True, True, "Matched L4 intention: default/web => default/db (Precedence: 9, Action: ALLOW)"),
    ("other", "db", True, False, "Matched L4 intention: default/* => default/db (Precedence: 8, Action: DENY)"),
    ("metrics", "cache", False, True, "Matched L4 intention: default/metrics => default/* (Precedence: 6, Action: ALLOW)"),
    ("other", "cache", True, False, "Matched L4 intention: default/* => default/* (Precedence: 5, Action: DENY)"),
    ("web", "api", True, False, "Matched L7 intention: default/web => default/api (Precedence: 9, Permissions: 1)"),
    ("other", "api", False, True, "Matched L4 intention: default/* => default/api (Precedence: 8, Action: ALLOW)"),
])
def test_authorize_table(source, dest, default_allow, allowed, reason):
    assert ixns.authorize(ALL, source, dest, default_allow) == (allowed, reason)


@pytest.mark.parametrize("default_allow", [True, False])
def test_no_intention_falls_back_to_the_default(default_allow):
    only_db = ixns.all_intentions([entry("db", allow("web"))])
    assert ixns.authorize(only_db, "api", "db", default_allow) == (
        default_allow, "Default behavior configured by ACLs")
    _, summary = ixns.decide(only_db, "api", "db", default_allow)
    assert summary.DefaultAllow is default_allow and summary.Allowed is default_allow


def test_agent_default_intention_policy_overrides_the_acl_default():
    assert ixns.authorize(ALL, "web", "unknown-dest", True, default_intention_policy="deny") == (
        False, "Matched L4 intention: default/* => default/* (Precedence: 5, Action: DENY)")
    only_db = ixns.all_intentions([entry("db", allow("web"))])
    assert ixns.authorize(only_db, "api", "db", True, default_intention_policy="deny") == (
        False, "Default intention policy")
    assert ixns.authorize(only_db, "api", "db", False, default_intention_policy="allow") == (
        True, "Default intention policy")


def test_match_by_source_ignores_peered_sources():
    peered = ixns.all_intentions([entry("db", {"Name": "web", "Peer": "east", "Action": "allow"})])
    assert ixns.match(peered, "source", [("default", "web")]) == [[]]
    assert len(ixns.match(peered, "destination", [("default", "db")])[0]) == 1


def test_partition_and_peer_must_match_exactly():
    assert ixns.authorize(ALL, "web", "db", False, source_partition="other")[1] == \
        "Default behavior configured by ACLs"
    peered = ixns.all_intentions([entry("db", {"Name": "web", "Peer": "east", "Action": "allow"})])
    assert ixns.authorize(peered, "web", "db", False) == (False, "Default behavior configured by ACLs")


def test_decision_summary_flags():
    _, summary = ixns.decide(ALL, "web", "api", True)
    assert (summary.Allowed, summary.HasPermissions, summary.HasExact) == (False, True, True)
    _, summary = ixns.decide(ALL, "zzz", "db", True)
    assert (summary.Allowed, summary.HasPermissions, summary.HasExact) == (False, False, False)


PERMS = entry("api", l7(
    "web",
    {"Action": "deny", "HTTP": {"PathExact": "/v1/admin"}},
    {"Action": "allow", "HTTP": {"PathPrefix": "/v1/", "Methods": ["GET", "HEAD"]}},
    {"Action": "allow", "HTTP": {"PathRegex": "/v2/[a-z]+", "Header": [
        {"Name": "X-Team", "Exact": "blue", "IgnoreCase": True}]}},
    {"Action": "allow", "HTTP": {"Header": [{"Name": "X-Debug", "Present": True, "Invert": True},
                                            {"Name": "User-Agent", "Contains": "curl"}]}},
)).Sources[0].Permissions


@pytest.mark.parametrize(("method", "path", "headers", "default_allow", "want"), [
    ("GET", "/v1/admin", {}, True, False),
    ("GET", "/v1/users?x=1", {}, False, True),
    ("POST", "/v1/users", {}, False, False),
    ("POST", "/v1/users", {}, True, True),
    ("PUT", "/v2/items", {"x-team": "BLUE"}, False, True),
    ("PUT", "/v2/items", {"x-team": "red"}, False, False),
    ("PUT", "/v2/Items", {"x-team": "blue"}, False, False),
    ("GET", "/other", {"User-Agent": "curl/8"}, False, True),
    ("GET", "/other", {"User-Agent": "curl/8", "X-Debug": "1"}, False, False),
])
def test_l7_request_verdicts(method, path, headers, default_allow, want):
    request = ixns.Request(method=method, path=path, headers=headers)
    assert ixns.evaluate_request(PERMS, request, default_allow) is want


def test_legacy_view_and_back():
    created = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    legacy = Intention(ID="8e3c9ab1-0000-4000-8000-000000000001", SourceNS="default",
                       SourceName="web", DestinationNS="default", DestinationName="db",
                       SourceType="consul", Action="allow", Meta={"team": "a"},
                       CreatedAt=created, UpdatedAt=created)
    legacy.validate()
    e = legacy.to_config_entry(legacy=True)
    e.normalize(legacy=True)
    e.validate(legacy=True)
    assert load(msgspec.msgpack.decode(msgspec.msgpack.encode(e))) == e
    [view] = ixns.all_intentions([e])
    assert (view.ID, view.SourceName, view.DestinationName, view.Precedence, view.Meta) == (
        legacy.ID, "web", "db", 9, {"team": "a"})
    assert view.CreatedAt == created and len(view.Hash) == 32
    found = ixns.find_by_id([e], legacy.ID)
    assert found is not None and found[1].Name == "web"
    assert ixns.delete_by_id(e, legacy.ID) is None
    body = msgspec.json.decode(msgspec.json.encode(view))
    assert body["SourceType"] == "consul" and "Permissions" not in body


def test_legacy_validation_collects_every_problem():
    bad = Intention(SourceNS="default", SourceName="we*b", DestinationNS="*",
                    DestinationName="db", SourceType="consul", Action="maybe")
    with pytest.raises(ConfigEntryError) as info:
        bad.validate()
    assert info.value.message == (
        "3 errors occurred: SourceName: wildcard character '*' cannot be used with partial "
        "values; DestinationName: exact value cannot follow wildcard namespace; "
        "Action must be set to 'allow' or 'deny'")


def test_exact_upsert_and_delete():
    e = ENTRIES[0]
    ixn = Intention(SourceNS="default", SourceName="api", DestinationNS="default",
                    DestinationName="db", SourceType="consul", Action="deny")
    updated = ixns.upsert_exact(e, ixn)
    updated.normalize()
    updated.validate()
    query = IntentionQueryExact(SourceNS="default", SourceName="api", DestinationNS="default",
                                DestinationName="db")
    assert ixns.find_exact([updated], query).Action == "deny"
    replaced = ixns.upsert_exact(updated, msgspec.structs.replace(ixn, Action="allow"))
    assert [s.Name for s in replaced.Sources] == ["web", "api", "*"]
    assert ixns.find_exact([replaced], query).Action == "allow"
    assert [s.Name for s in ixns.delete_exact(replaced, "api").Sources] == ["web", "*"]
    fresh = ixns.upsert_exact(None, ixn)
    assert fresh.Name == "db" and ixns.delete_exact(fresh, "api") is None
    with pytest.raises(ConfigEntryError, match="2 errors occurred: SourceNS is missing"):
        IntentionQueryExact(SourceName="a", DestinationName="b").validate()


def test_from_source_uses_entry_meta_for_config_intentions():
    e = entry("db", allow("web"), Meta={"owner": "x"})
    assert from_source(e, e.Sources[0]).Meta == {"owner": "x"}
