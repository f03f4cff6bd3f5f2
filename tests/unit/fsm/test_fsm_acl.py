"""ACL raft commands (Consul's types 11, 17-28): tables, links, bootstrap, blocking reads;
everything survives a snapshot and restore."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from proconsul.fsm.fsm import FSM, CommandError
from proconsul.state.acl import TOKENS
from proconsul.state.store import Store
from proconsul.state.watch import WatchSet
from proconsul.structs.acl import (
    ACLAuthMethod,
    ACLBindingRule,
    ACLLink,
    ACLPolicy,
    ACLRole,
    ACLServiceIdentity,
    ACLToken,
)
from proconsul.structs.acl_rpc import (
    ACLAuthMethodBatchDeleteRequest,
    ACLAuthMethodBatchSetRequest,
    ACLBindingRuleBatchSetRequest,
    ACLPolicyBatchDeleteRequest,
    ACLPolicyBatchSetRequest,
    ACLRoleBatchSetRequest,
    ACLTokenBatchDeleteRequest,
    ACLTokenBatchSetRequest,
    ACLTokenBootstrapRequest,
)
from proconsul.structs.messages import MessageType, encode_command

P1 = "11111111-1111-1111-1111-111111111111"
P2 = "22222222-2222-2222-2222-222222222222"
R1 = "33333333-3333-3333-3333-333333333333"
A1 = "44444444-4444-4444-4444-444444444444"
A2 = "55555555-5555-5555-5555-555555555555"
S1 = "66666666-6666-6666-6666-666666666666"
S2 = "77777777-7777-7777-7777-777777777777"


@pytest.fixture
def fsm() -> FSM:
    return FSM(Store())


def apply(fsm: FSM, index: int, message_type: MessageType, request):
    return fsm.apply(index, encode_command(message_type, request))


def policy(pid=P1, name="web", rules='service "web" { policy = "write" }') -> ACLPolicy:
    return ACLPolicy(ID=pid, Name=name, Rules=rules)


def token(accessor=A1, secret=S1, **fields) -> ACLToken:
    return ACLToken(AccessorID=accessor, SecretID=secret, **fields)


def test_message_types_are_consuls():
    assert [int(t) for t in (MessageType.ACL_BOOTSTRAP, MessageType.ACL_TOKEN_SET,
                             MessageType.ACL_TOKEN_DELETE, MessageType.ACL_POLICY_SET,
                             MessageType.ACL_POLICY_DELETE, MessageType.ACL_ROLE_SET,
                             MessageType.ACL_ROLE_DELETE, MessageType.ACL_BINDING_RULE_SET,
                             MessageType.ACL_BINDING_RULE_DELETE,
                             MessageType.ACL_AUTH_METHOD_SET,
                             MessageType.ACL_AUTH_METHOD_DELETE)] == [
        11, 17, 18, 19, 20, 23, 24, 25, 26, 27, 28]


def test_token_links_resolve_to_current_names_and_drop_deleted_policies(fsm):
    apply(fsm, 1, MessageType.ACL_POLICY_SET, ACLPolicyBatchSetRequest(
        Policies=[policy(), policy(P2, "db")]))
    assert apply(fsm, 2, MessageType.ACL_TOKEN_SET, ACLTokenBatchSetRequest(
        Tokens=[token(Policies=[ACLLink(ID=P1), ACLLink(ID=P2)])])) is True
    index, stored = fsm.store.acl_token_get(None, A1)
    assert index == 2 and [(p.ID, p.Name) for p in stored.Policies] == [(P1, "web"), (P2, "db")]
    assert stored.CreateIndex == stored.ModifyIndex == 2
    apply(fsm, 3, MessageType.ACL_POLICY_SET, ACLPolicyBatchSetRequest(
        Policies=[policy(name="web-renamed")]))
    apply(fsm, 4, MessageType.ACL_POLICY_DELETE, ACLPolicyBatchDeleteRequest(PolicyIDs=[P2]))
    _, stored = fsm.store.acl_token_by_secret(None, S1)
    assert [(p.ID, p.Name) for p in stored.Policies] == [(P1, "web-renamed")]


def test_unknown_links_and_duplicate_names_are_refused_and_nothing_is_stored(fsm):
    result = apply(fsm, 1, MessageType.ACL_TOKEN_SET, ACLTokenBatchSetRequest(
        Tokens=[token(Policies=[ACLLink(ID=P1)])]))
    assert isinstance(result, CommandError) and str(result) == f"No such policy with ID: {P1}"
    assert fsm.store.acl_token_get(None, A1)[1] is None
    apply(fsm, 2, MessageType.ACL_POLICY_SET, ACLPolicyBatchSetRequest(Policies=[policy()]))
    dup = apply(fsm, 3, MessageType.ACL_POLICY_SET, ACLPolicyBatchSetRequest(
        Policies=[policy(P2, "web")]))
    assert str(dup) == 'Invalid Policy: A Policy with Name "web" already exists'
    role = apply(fsm, 4, MessageType.ACL_ROLE_SET, ACLRoleBatchSetRequest(
        Roles=[ACLRole(ID=R1, Name="r", Policies=[ACLLink(ID=P2)])]))
    assert str(role) == f"No such policy with ID: {P2}"
    # a batch is all or nothing
    batch = apply(fsm, 5, MessageType.ACL_TOKEN_SET, ACLTokenBatchSetRequest(
        Tokens=[token(), token(A2, S2, Roles=[ACLLink(ID=R1)])]))
    assert isinstance(batch, CommandError)
    assert fsm.store.acl_token_list(None)[1] == []


def test_secret_id_is_unique_and_immutable(fsm):
    apply(fsm, 1, MessageType.ACL_TOKEN_SET, ACLTokenBatchSetRequest(Tokens=[token()]))
    taken = apply(fsm, 2, MessageType.ACL_TOKEN_SET, ACLTokenBatchSetRequest(
        Tokens=[token(A2, S1)]))
    assert str(taken) == "Invalid Token: SecretID is already in use"
    changed = apply(fsm, 3, MessageType.ACL_TOKEN_SET, ACLTokenBatchSetRequest(
        Tokens=[token(A1, S2)]))
    assert str(changed) == "Changing a token's SecretID is not permitted"


def test_token_cas(fsm):
    apply(fsm, 1, MessageType.ACL_TOKEN_SET, ACLTokenBatchSetRequest(Tokens=[token()]))
    stale = token(Description="x", ModifyIndex=0)
    assert apply(fsm, 2, MessageType.ACL_TOKEN_SET,
                 ACLTokenBatchSetRequest(Tokens=[stale], CAS=True)) is False
    fresh = token(Description="y", ModifyIndex=1)
    assert apply(fsm, 3, MessageType.ACL_TOKEN_SET,
                 ACLTokenBatchSetRequest(Tokens=[fresh], CAS=True)) is True
    assert fsm.store.acl_token_get(None, A1)[1].Description == "y"


def test_token_list_filters(fsm):
    apply(fsm, 1, MessageType.ACL_POLICY_SET, ACLPolicyBatchSetRequest(Policies=[policy()]))
    apply(fsm, 2, MessageType.ACL_ROLE_SET, ACLRoleBatchSetRequest(
        Roles=[ACLRole(ID=R1, Name="r")]))
    apply(fsm, 3, MessageType.ACL_TOKEN_SET, ACLTokenBatchSetRequest(Tokens=[
        token(Policies=[ACLLink(ID=P1)], Local=True),
        token(A2, S2, Roles=[ACLLink(ID=R1)],
              ServiceIdentities=[ACLServiceIdentity(ServiceName="api")])]))
    store = fsm.store
    ids = lambda tokens: [t.AccessorID for t in tokens]  # noqa: E731
    assert ids(store.acl_token_list(None)[1]) == [A1, A2]
    assert ids(store.acl_token_list(None, policy=P1)[1]) == [A1]
    assert ids(store.acl_token_list(None, role=R1)[1]) == [A2]
    assert ids(store.acl_token_list(None, service_name="api")[1]) == [A2]
    assert ids(store.acl_token_list(None, local=False)[1]) == [A2]
    assert ids(store.acl_token_list(None, glob=False)[1]) == [A1]


def test_bootstrap_once_then_only_with_the_reset_index(fsm):
    assert fsm.store.acl_can_bootstrap() == (True, 0)
    assert apply(fsm, 7, MessageType.ACL_BOOTSTRAP,
                 ACLTokenBootstrapRequest(Token=token())) is True
    assert fsm.store.acl_can_bootstrap() == (False, 7)
    again = apply(fsm, 8, MessageType.ACL_BOOTSTRAP, ACLTokenBootstrapRequest(
        Token=token(A2, S2)))
    assert str(again) == "ACL bootstrap no longer allowed (reset index: 7)"
    wrong = apply(fsm, 9, MessageType.ACL_BOOTSTRAP, ACLTokenBootstrapRequest(
        Token=token(A2, S2), ResetIndex=3))
    assert str(wrong) == "Invalid bootstrap reset index (specified 3, reset index: 7)"
    assert apply(fsm, 10, MessageType.ACL_BOOTSTRAP, ACLTokenBootstrapRequest(
        Token=token(A2, S2), ResetIndex=7)) is True
    assert fsm.store.acl_can_bootstrap() == (False, 10)


def test_auth_method_delete_takes_its_rules_and_tokens(fsm):
    apply(fsm, 1, MessageType.ACL_AUTH_METHOD_SET, ACLAuthMethodBatchSetRequest(
        AuthMethods=[ACLAuthMethod(Name="k8s", Type="kubernetes", MaxTokenTTL="10m")]))
    apply(fsm, 2, MessageType.ACL_BINDING_RULE_SET, ACLBindingRuleBatchSetRequest(
        BindingRules=[ACLBindingRule(ID=R1, AuthMethod="k8s", BindType="service",
                                     BindName="x")]))
    apply(fsm, 3, MessageType.ACL_TOKEN_SET, ACLTokenBatchSetRequest(
        Tokens=[token(AuthMethod="k8s"), token(A2, S2)]))
    assert fsm.store.acl_auth_method_get(None, "k8s")[1].MaxTokenTTL == "10m0s"
    apply(fsm, 4, MessageType.ACL_AUTH_METHOD_DELETE,
          ACLAuthMethodBatchDeleteRequest(AuthMethodNames=["k8s"]))
    assert fsm.store.acl_binding_rule_list(None)[1] == []
    assert [t.AccessorID for t in fsm.store.acl_token_list(None)[1]] == [A2]
    orphan = apply(fsm, 5, MessageType.ACL_BINDING_RULE_SET, ACLBindingRuleBatchSetRequest(
        BindingRules=[ACLBindingRule(ID=R1, AuthMethod="k8s")]))
    assert "auth method not found: k8s" in str(orphan)


def test_blocking_reads_wake_on_their_table_only(fsm):
    ws = WatchSet()
    fsm.store.acl_token_list(ws)
    assert ws.topics == {("index", TOKENS)}
    woken = []
    fsm.store.watches.register(ws.topics, lambda: woken.append(1))
    apply(fsm, 1, MessageType.ACL_POLICY_SET, ACLPolicyBatchSetRequest(Policies=[policy()]))
    assert woken == []
    apply(fsm, 2, MessageType.ACL_TOKEN_SET, ACLTokenBatchSetRequest(Tokens=[token()]))
    assert woken == [1]
    assert fsm.store.acl_index() == 2


def test_expired_tokens_are_listed_for_reaping(fsm):
    now = datetime.now(UTC)
    apply(fsm, 1, MessageType.ACL_TOKEN_SET, ACLTokenBatchSetRequest(Tokens=[
        token(ExpirationTime=now - timedelta(seconds=1)),
        token(A2, S2, ExpirationTime=now + timedelta(hours=1))]))
    assert fsm.store.acl_tokens_expired(now, local=False, limit=10) == [A1]
    assert fsm.store.acl_tokens_expired(now, local=True, limit=10) == []
    apply(fsm, 2, MessageType.ACL_TOKEN_DELETE, ACLTokenBatchDeleteRequest(TokenIDs=[A1]))
    assert fsm.store.acl_tokens_expired(now, local=False, limit=10) == []


def test_everything_survives_snapshot_and_restore(fsm):
    apply(fsm, 1, MessageType.ACL_POLICY_SET, ACLPolicyBatchSetRequest(Policies=[policy()]))
    apply(fsm, 2, MessageType.ACL_ROLE_SET, ACLRoleBatchSetRequest(
        Roles=[ACLRole(ID=R1, Name="r", Policies=[ACLLink(ID=P1)])]))
    apply(fsm, 3, MessageType.ACL_AUTH_METHOD_SET, ACLAuthMethodBatchSetRequest(
        AuthMethods=[ACLAuthMethod(Name="jwt", Type="jwt", Config={"BoundIssuer": "me"})]))
    apply(fsm, 4, MessageType.ACL_BINDING_RULE_SET, ACLBindingRuleBatchSetRequest(
        BindingRules=[ACLBindingRule(ID=P2, AuthMethod="jwt", BindType="role",
                                     BindName="r")]))
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    tok = token(Policies=[ACLLink(ID=P1)], Roles=[ACLLink(ID=R1)], ExpirationTime=expires,
                CreateTime=datetime(2026, 1, 1, tzinfo=UTC))
    tok.set_hash()
    apply(fsm, 5, MessageType.ACL_BOOTSTRAP, ACLTokenBootstrapRequest(Token=tok))
    sink = io.BytesIO()
    fsm.snapshot().write(sink)
    restored = FSM(Store())
    restored.restore(io.BytesIO(sink.getvalue()))
    store, new = fsm.store, restored.store
    assert new.acl_token_get(None, A1) == store.acl_token_get(None, A1)
    assert new.acl_token_by_secret(None, S1)[1].ExpirationTime == expires
    assert new.acl_policy_get(None, name="web") == store.acl_policy_get(None, P1)
    assert new.acl_role_get(None, name="r") == store.acl_role_get(None, R1)
    assert new.acl_auth_method_list(None) == store.acl_auth_method_list(None)
    assert new.acl_binding_rule_list(None, "jwt") == store.acl_binding_rule_list(None)
    assert new.acl_can_bootstrap() == (False, 5)
    assert new.acl_index() == 5
