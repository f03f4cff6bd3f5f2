"""Server-side ACL enforcement cores: Identity checks, result filters, write vetting."""

from __future__ import annotations

import io

import pytest

from proconsul.lib.acl.authorizer import ANONYMOUS_TOKEN_ID, new_authorizer
from proconsul.lib.acl.rules import parse_rules
from proconsul.server import acl_filter
from proconsul.server.acl.resolver import TokenResolver
from proconsul.server.acl_enforce import UNRESTRICTED, Enforcer, Identity, request_token
from proconsul.server.acl_vet import entry_readable, filter_txn_results, require_entry, vet_txn
from proconsul.state.store import Store
from proconsul.structs.acl import ACLLink, ACLPolicy, ACLToken
from proconsul.structs.catalog import HealthCheck, Node
from proconsul.structs.errors import Forbidden
from proconsul.structs.kv import DirEntry
from proconsul.structs.query import QueryMeta
from proconsul.structs.txn import TxnKVOp, TxnOp, TxnResult

ACCESSOR = "6a1253d2-1785-24fd-91c2-f8e78c745511"
POLICY_ID = "b0d8a1c2-47e3-4f4b-9d31-5f0b3c1c2a10"


def ident(rules: str, anonymous: bool = False) -> Identity:
    authz = new_authorizer([("p", parse_rules(rules))], "deny")
    return Identity(authz, ANONYMOUS_TOKEN_ID if anonymous else ACCESSOR, anonymous=anonymous)


def test_require_raises_consuls_text():
    who = ident('key_prefix "app/" { policy = "read" }')
    who.require("key_read", "app/x")
    with pytest.raises(Forbidden) as err:
        who.require("key_write", "app/x")
    assert err.value.message == (f"Permission denied: token with AccessorID '{ACCESSOR}' "
                                 "lacks permission 'key:write' on \"app/x\"")
    with pytest.raises(Forbidden) as err:
        who.require("operator_read")
    assert err.value.message.endswith("lacks permission 'operator:read'")


def test_filter_drops_and_marks_unless_anonymous():
    entries = [DirEntry(Key="app/a"), DirEntry(Key="secret/b")]
    rules = 'key_prefix "app/" { policy = "read" }'
    meta = QueryMeta()
    assert [e.Key for e in acl_filter.dir_entries(ident(rules), entries, meta)] == ["app/a"]
    assert meta.ResultsFilteredByACLs is True
    meta = QueryMeta()
    assert len(acl_filter.dir_entries(ident(rules, anonymous=True), entries, meta)) == 1
    assert meta.ResultsFilteredByACLs is False
    meta = QueryMeta()
    assert acl_filter.dir_entries(ident('key_prefix "" { policy = "read" }'), entries, meta) \
        == entries and meta.ResultsFilteredByACLs is False


def test_acls_off_filters_nothing():
    nodes = [Node(Node="a"), Node(Node="b")]
    meta = QueryMeta()
    assert acl_filter.nodes(UNRESTRICTED, nodes, meta) == nodes
    assert not meta.ResultsFilteredByACLs
    UNRESTRICTED.require("acl_write")  # even management checks pass


def test_health_checks_need_node_and_service_read():
    checks = [HealthCheck(Node="n1", CheckID="serfHealth"),
              HealthCheck(Node="n1", CheckID="web", ServiceName="web"),
              HealthCheck(Node="n2", CheckID="db", ServiceName="db")]
    who = ident('node "n1" { policy = "read" }\nservice "web" { policy = "read" }')
    kept = acl_filter.health_checks(who, checks, QueryMeta())
    assert [c.CheckID for c in kept] == ["serfHealth", "web"]


def test_txn_ops_are_vetted_one_by_one():
    who = ident('key_prefix "app/" { policy = "write" }\nkey "ro" { policy = "read" }')
    ops = [TxnOp(KV=TxnKVOp(Verb=verb, DirEnt=DirEntry(Key=key))) for verb, key in [
        ("set", "app/a"), ("set", "ro"), ("get", "secret"), ("check-index", "ro"),
        ("delete-tree", "app/"), ("delete-tree", "")]]
    errors = vet_txn(who, Store(), ops)
    assert [(e.OpIndex, e.What.split("lacks permission ")[1]) for e in errors] == [
        (1, "'key:write' on \"ro\""), (5, "'key:write'")]  # Consul names no empty key
    results = [TxnResult(KV=DirEntry(Key="app/a")), TxnResult(KV=DirEntry(Key="secret"))]
    assert filter_txn_results(who, results) == results[:1]


def test_config_entries_by_kind():
    who = ident('service "web" { policy = "read" }')
    assert entry_readable(who, "service-defaults", "web")
    assert not entry_readable(who, "service-defaults", "db")
    assert entry_readable(who, "proxy-defaults", "global")  # needs nothing to read
    assert not entry_readable(who, "exported-services", "default")
    with pytest.raises(Forbidden, match="'service:write' on \"web\""):
        require_entry(who, "service-defaults", "web", write=True)
    with pytest.raises(Forbidden, match="'mesh:write'$"):
        require_entry(who, "mesh", "mesh", write=True)


def test_enforcer_over_the_state_resolver():
    enforcer = Enforcer(TokenResolver(Store(), "dc1", "deny", enabled=True, primary=False))
    assert enforcer.resolve("").anonymous and enforcer.resolve("anonymous").anonymous
    assert enforcer.resolve("") is enforcer.resolve("")  # kept while the resolution holds
    assert not enforcer.resolve("").allowed("key_read", "x")
    with pytest.raises(Forbidden, match="^ACL not found$"):
        enforcer.resolve("nope")
    assert Enforcer(TokenResolver(Store(), "dc1", enabled=False)).resolve("x") is UNRESTRICTED


def test_request_token_from_struct_map_or_none():
    assert request_token({"Token": "t"}) == "t"
    assert request_token(None) == ""
    assert request_token(QueryMeta()) == ""


def test_a_compiling_resolution_is_timed_as_consuls_acl_resolve_token():
    from proconsul.lib.metrics import registry

    def resolve_token_samples() -> int:  # the running total, whatever the interval
        return sum(int(float(line.split()[-1])) for line in registry.prometheus().splitlines()
                   if line.startswith("consul_acl_ResolveToken_count"))

    resolver = TokenResolver(Store(), "dc1", "deny", enabled=True, primary=False)
    before = resolve_token_samples()
    resolver.resolve("")
    resolver.resolve("")  # cached: not timed again
    assert resolve_token_samples() == before + 1


def _store_with_token(secret: str) -> Store:
    store = Store()
    with store.write(1) as tx:
        store.acl_policy_set(tx, ACLPolicy(ID=POLICY_ID, Name="kv",
                                           Rules='key_prefix "" { policy = "read" }'))
    with store.write(2) as tx:
        store.acl_token_set(tx, ACLToken(AccessorID=ACCESSOR, SecretID=secret,
                                         Policies=[ACLLink(ID=POLICY_ID)]))
    return store


def test_every_acl_write_and_restore_moves_the_change_count():
    store = _store_with_token("s1")
    before = store.acl_changes
    with store.write(3) as tx:
        store.acl_policy_delete(tx, [POLICY_ID])
    assert store.acl_changes == before + 1
    with store.write(4) as tx:  # deleting nothing changes nothing
        store.acl_role_delete(tx, ["nope"])
    assert store.acl_changes == before + 1
    store.reset()
    assert store.acl_changes == before + 2


def test_a_cached_identity_dies_with_a_restore_at_the_same_index():
    """A snapshot from another history can hold other tokens at the same raft
    indexes: the restore itself must invalidate what the resolver compiled."""
    store = _store_with_token("s1")
    enforcer = Enforcer(TokenResolver(store, "dc1", "deny", primary=False))
    enforcer.resolve("s1").require("key_read", "k")
    other = io.BytesIO()
    _store_with_token("s2").snapshot().write(other)
    store.restore(io.BytesIO(other.getvalue()))
    with pytest.raises(Forbidden, match="^ACL not found$"):
        enforcer.resolve("s1")
    enforcer.resolve("s2").require("key_read", "k")


def test_the_identity_is_cached_with_the_resolution():
    resolver = TokenResolver(_store_with_token("s1"), "dc1", "deny", primary=False)
    enforcer = Enforcer(resolver)
    assert enforcer.resolve("s1") is enforcer.resolve("s1")
    assert enforcer.resolve("s1").authorizer is resolver.resolve("s1").authorizer
    assert not enforcer.resolve("s1").anonymous
