"""ACL.* RPCs and the token resolver on an in-process server with ACLs on."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from proconsul.lib.acl.authorizer import ALLOW, DENY
from proconsul.server.acl.resolver import ACLNotFound
from proconsul.server.server import Server, ServerConfig
from proconsul.structs.acl import (
    ANONYMOUS_TOKEN_ID,
    GLOBAL_MANAGEMENT_POLICY_ID,
    GLOBAL_READ_ONLY_POLICY_ID,
    ACLLink,
    ACLNodeIdentity,
    ACLPolicy,
    ACLRole,
    ACLServiceIdentity,
    ACLToken,
)
from proconsul.structs.acl_rpc import (
    ACLInitialTokenBootstrapRequest,
    ACLPolicyDeleteRequest,
    ACLPolicyGetRequest,
    ACLPolicySetRequest,
    ACLRoleSetRequest,
    ACLTokenDeleteRequest,
    ACLTokenGetRequest,
    ACLTokenListRequest,
    ACLTokenSetRequest,
)
from proconsul.structs.errors import BadRequest, ConsulError, Forbidden, Unauthorized
from tests.support.in_process_server import ROOT, acl_server, wait_for, write_policy


@pytest.fixture
async def server():
    async with acl_server() as srv:
        yield srv


async def create_token(server, **fields) -> ACLToken:
    return await server.rpc("ACL.TokenSet", ACLTokenSetRequest(
        ACLToken=ACLToken(**fields), Create=True, Token=ROOT))


async def test_leader_creates_builtins_anonymous_and_initial_management(server):
    store = server.store
    assert store.acl_policies.get(GLOBAL_MANAGEMENT_POLICY_ID).Name == "global-management"
    assert store.acl_policies.get(GLOBAL_READ_ONLY_POLICY_ID).Name == "builtin/global-read-only"
    assert store.acl_tokens.get(ANONYMOUS_TOKEN_ID).SecretID == "anonymous"
    root = store.acl_token_by_secret(None, ROOT)[1]
    assert root.Description == "Initial Management Token"
    assert store.acl_can_bootstrap()[0] is False  # the configured token consumed it
    resolved = server.acl.resolve(ROOT)
    assert resolved.accessor_id == root.AccessorID and resolved.allowed("acl_write")
    # a second leadership changes nothing
    index = store.acl_index()
    await server.acl_leader.initialize()
    assert store.acl_index() == index


async def test_server_management_token_resolves_until_a_new_leadership_replaces_it(server):
    old = server.server_management_token()
    assert old and server.store.acl_token_by_secret(None, old)[1] is None  # no stored token
    resolved = server.acl.resolve(old)
    assert resolved.accessor_id == "server-management-token"
    assert resolved.allowed("operator_write") and resolved.allowed("service_write", "web")
    await server.acl_leader.initialize()  # what each new leader does
    new = server.server_management_token()
    assert new != old and server.acl.resolve(new).allowed("acl_write")
    with pytest.raises(ACLNotFound):
        server.acl.resolve(old)
    with pytest.raises(ACLNotFound):
        server.acl.identity(old)


async def test_bootstrap_refused_once_consumed(server):
    with pytest.raises(ConsulError, match=r"ACL bootstrap no longer allowed \(reset index: \d+\)"):
        await server.rpc("ACL.BootstrapTokens", ACLInitialTokenBootstrapRequest())


async def test_bootstrap_once_without_initial_management(tmp_path):
    srv = Server(ServerConfig(acl_enabled=True, data_dir=str(tmp_path)))
    srv.start()
    try:
        await wait_for(lambda: srv.store.acl_tokens.get(ANONYMOUS_TOKEN_ID) is not None)
        with pytest.raises(ACLNotFound, match="must be bootstrapped"):
            srv.acl.resolve("nope")
        token = await srv.rpc("ACL.BootstrapTokens", ACLInitialTokenBootstrapRequest())
        assert token.Description == "Bootstrap Token (Global Management)"
        assert [p.Name for p in token.Policies] == ["global-management"]
        with pytest.raises(ConsulError, match="no longer allowed") as refused:
            await srv.rpc("ACL.BootstrapTokens", ACLInitialTokenBootstrapRequest())
        reset = int(refused.value.message.rsplit(" ", 1)[1].rstrip(")"))
        (tmp_path / "acl-bootstrap-reset").write_text(str(reset + 1))
        with pytest.raises(ConsulError, match=f"specified {reset + 1}, reset index: {reset}"):
            await srv.rpc("ACL.BootstrapTokens", ACLInitialTokenBootstrapRequest())
        (tmp_path / "acl-bootstrap-reset").write_text(f"{reset}\n")
        again = await srv.rpc("ACL.BootstrapTokens", ACLInitialTokenBootstrapRequest())
        assert again.AccessorID != token.AccessorID
        assert not (tmp_path / "acl-bootstrap-reset").exists()
    finally:
        await srv.stop()


async def test_acls_disabled_answer_401():
    srv = Server(ServerConfig())
    srv.start()
    try:
        with pytest.raises(Unauthorized, match="ACL support disabled"):
            await srv.rpc("ACL.TokenList", ACLTokenListRequest())
        assert srv.acl.resolve("anything").allowed("acl_write")
    finally:
        await srv.stop()


async def test_resolver_compiles_policies_roles_and_identities(server):
    kv = await write_policy(server, "kv", 'key_prefix "app/" { policy = "write" }')
    ops = await write_policy(server, "ops", 'operator = "read"')
    role = await server.rpc("ACL.RoleSet", ACLRoleSetRequest(Role=ACLRole(
        Name="ops-role", Policies=[ACLLink(Name="ops")],
        NodeIdentities=[ACLNodeIdentity(NodeName="n1", Datacenter="dc1")]), Token=ROOT))
    assert role.Policies == [ACLLink(ID=ops.ID, Name="ops")]
    token = await create_token(server, Policies=[ACLLink(ID=kv.ID)], Roles=[ACLLink(ID=role.ID)],
                               ServiceIdentities=[ACLServiceIdentity(ServiceName="web")])
    authz = server.acl.resolve(token.SecretID).authorizer
    assert authz.key_write("app/x") is ALLOW and authz.key_read("other") is DENY
    assert authz.operator_read() is ALLOW and authz.operator_write() is DENY
    assert authz.node_write("n1") is ALLOW and authz.node_write("n2") is DENY
    assert authz.service_write("web-sidecar-proxy") is ALLOW
    anonymous = server.acl.resolve("")
    assert anonymous.accessor_id == ANONYMOUS_TOKEN_ID and anonymous.authorizer.key_read("a") \
        is DENY


async def test_resolver_cache_follows_every_acl_change(server):
    policy = await write_policy(server, "kv", 'key "a" { policy = "read" }')
    token = await create_token(server, Policies=[ACLLink(ID=policy.ID)])
    first = server.acl.resolve(token.SecretID)
    assert server.acl.resolve(token.SecretID) is first  # cached
    assert first.authorizer.key_write("a") is DENY
    await server.rpc("ACL.PolicySet", ACLPolicySetRequest(Policy=ACLPolicy(
        ID=policy.ID, Name="kv", Rules='key "a" { policy = "write" }'), Token=ROOT))
    assert server.acl.resolve(token.SecretID).authorizer.key_write("a") is ALLOW
    await server.rpc("ACL.TokenDelete", ACLTokenDeleteRequest(TokenID=token.AccessorID,
                                                               Token=ROOT))
    with pytest.raises(ACLNotFound, match="^ACL not found$"):
        server.acl.resolve(token.SecretID)


async def test_expired_token_never_resolves_even_before_reaping(server):
    token = await create_token(server, ExpirationTTL="1m")
    assert token.ExpirationTime - token.CreateTime == timedelta(minutes=1)
    server.acl.resolve(token.SecretID)
    server.acl._now = lambda: datetime.now(UTC) + timedelta(minutes=2)
    with pytest.raises(ACLNotFound):
        server.acl.resolve(token.SecretID)
    server.acl_leader._now = server.acl._now
    assert server.store.acl_tokens.get(token.AccessorID) is not None
    await server.acl_leader.reap_once()
    assert server.store.acl_tokens.get(token.AccessorID) is None


async def test_permission_checks_and_redaction(server):
    reader = await write_policy(server, "reader", 'acl = "read"')
    token = await create_token(server, Policies=[ACLLink(ID=reader.ID)])
    with pytest.raises(Forbidden, match=(f"token with AccessorID '{token.AccessorID}' lacks "
                                         "permission 'acl:write'")):
        await server.rpc("ACL.PolicySet", ACLPolicySetRequest(
            Policy=ACLPolicy(Name="x"), Token=token.SecretID))
    listed = await server.rpc("ACL.TokenList", ACLTokenListRequest(Token=token.SecretID))
    assert {t.SecretID for t in listed.Tokens} == {"<hidden>"}
    read = await server.rpc("ACL.TokenRead", ACLTokenGetRequest(
        TokenID=token.AccessorID, Token=ROOT))
    assert read.Token.SecretID == token.SecretID and not read.Redacted
    with pytest.raises(Forbidden, match="anonymous token lacks permission 'acl:read'"):
        await server.rpc("ACL.PolicyRead", ACLPolicyGetRequest(PolicyID=reader.ID))
    with pytest.raises(Forbidden, match="^ACL not found$"):
        await server.rpc("ACL.PolicyRead", ACLPolicyGetRequest(PolicyID=reader.ID,
                                                               Token="no-such"))


async def test_token_read_by_secret_expands_without_acl_read(server):
    policy = await write_policy(server, "p", 'node_prefix "" { policy = "read" }')
    token = await create_token(server, Policies=[ACLLink(ID=policy.ID)])
    reply = await server.rpc("ACL.TokenRead", ACLTokenGetRequest(
        TokenID=token.SecretID, TokenIDType="secret"))
    assert reply.Token.AccessorID == token.AccessorID
    assert [p.Name for p in reply.ExpandedPolicies] == ["p"]
    with pytest.raises(Forbidden, match="token does not exist: ACL not found"):
        await server.rpc("ACL.TokenRead", ACLTokenGetRequest(
            TokenID="00000000-1111-2222-3333-444444444444", Token=ROOT))


@pytest.mark.parametrize(("fields", "message"), [
    ({"AccessorID": "nope"}, "Invalid Token: AccessorID - not a valid UUID"),
    ({"SecretID": "00000000-0000-0000-0000-000000000099"},
     'Invalid Token: SecretID - UUIDs with the prefix "00000000-0000-0000-0000-0000000000" '
     "are reserved"),
    ({"ExpirationTime": datetime(2020, 1, 1, tzinfo=UTC)},
     "ExpirationTime cannot be before CreateTime"),
    ({"Local": True, "ServiceIdentities": [ACLServiceIdentity(ServiceName="web",
                                                              Datacenters=["dc2"])]},
     'Service identity "web" cannot specify a list of datacenters on a local token'),
    ({"NodeIdentities": [ACLNodeIdentity(NodeName="Bad!")]},
     "Node identity is missing the datacenter field on this token"),
    ({"NodeIdentities": [ACLNodeIdentity(NodeName="Bad!", Datacenter="dc1")]},
     "Node identity has an invalid name. Only lowercase alphanumeric characters, '-' and '_' "
     "are allowed"),
    ({"Policies": [ACLLink(Name="ghost")]}, 'No such ACL policy with name "ghost"'),
    ({"Roles": [ACLLink(ID="9b4a1c6e-0000-4000-8000-000000000001")]},
     'No such ACL role with ID "9b4a1c6e-0000-4000-8000-000000000001"'),
    ({"ExpirationTTL": "1m", "ExpirationTime": datetime(2100, 1, 1, tzinfo=UTC)},
     "Token Expiration TTL and Expiration Time cannot both be set"),
    ({"ExpirationTTL": "10s"}, "ExpirationTime cannot be less than 1m0s in the future"),
    ({"ServiceIdentities": [ACLServiceIdentity(ServiceName="Web!")]},
     'Service identity "Web!" has an invalid name'),
    ({"AuthMethod": "x"}, "AuthMethod field is disallowed outside of login"),
])
async def test_token_create_errors(server, fields, message):
    with pytest.raises(BadRequest, match=message.replace("(", r"\(")):
        await create_token(server, **fields)


async def test_token_ids_in_use_as_either_id_are_refused(server):
    token = await create_token(server)
    with pytest.raises(BadRequest, match="^Invalid Token: AccessorID is already in use$"):
        await create_token(server, AccessorID=token.SecretID)
    with pytest.raises(BadRequest, match="^Invalid Token: SecretID is already in use$"):
        await create_token(server, SecretID=token.AccessorID)


async def test_token_update_rules(server):
    token = await create_token(server, Description="a")
    update = lambda **f: server.rpc("ACL.TokenSet", ACLTokenSetRequest(  # noqa: E731
        ACLToken=ACLToken(AccessorID=token.AccessorID, **f), Token=ROOT))
    updated = await update(Description="b")
    assert updated.SecretID == token.SecretID and updated.CreateTime == token.CreateTime
    assert updated.Description == "b" and updated.ModifyIndex > token.ModifyIndex
    with pytest.raises(BadRequest, match="Changing a token's SecretID is not permitted"):
        await update(SecretID="5d2b6a56-0000-4000-8000-000000000001")
    with pytest.raises(BadRequest, match=f"Cannot toggle local mode of {token.AccessorID}"):
        await update(Local=True)
    with pytest.raises(BadRequest, match="Cannot change expiration time"):
        await update(ExpirationTTL="1h")
    with pytest.raises(Forbidden, match="^Permission denied: Cannot modify root ACL$"):
        await update(SecretID="manage")
    with pytest.raises(BadRequest, match="^AccessorID is not a valid UUID$"):
        await server.rpc("ACL.TokenSet", ACLTokenSetRequest(
            ACLToken=ACLToken(AccessorID="nope"), Token=ROOT))


async def test_policy_rules_names_and_builtins(server):
    with pytest.raises(BadRequest, match="Failed to parse ACL rules"):
        await write_policy(server, "bad", 'key "a" { policy = ')
    await write_policy(server, "dup", "")
    with pytest.raises(BadRequest, match='A Policy with Name "dup" already exists'):
        await write_policy(server, "dup", "")
    with pytest.raises(BadRequest, match="Delete operation not permitted on the builtin "
                                         "global-management policy"):
        await server.rpc("ACL.PolicyDelete", ACLPolicyDeleteRequest(
            PolicyID=GLOBAL_MANAGEMENT_POLICY_ID, Token=ROOT))
    with pytest.raises(BadRequest, match="Changing the Rules for the builtin"):
        await server.rpc("ACL.PolicySet", ACLPolicySetRequest(Policy=ACLPolicy(
            ID=GLOBAL_MANAGEMENT_POLICY_ID, Name="global-management", Rules=""), Token=ROOT))
    renamed = await server.rpc("ACL.PolicySet", ACLPolicySetRequest(Policy=ACLPolicy(
        ID=GLOBAL_MANAGEMENT_POLICY_ID, Name="gm",
        Rules=server.store.acl_policies.get(GLOBAL_MANAGEMENT_POLICY_ID).Rules), Token=ROOT))
    assert renamed.Name == "gm"


async def test_cannot_delete_anonymous_or_own_token(server):
    with pytest.raises(BadRequest, match="Delete operation not permitted on the anonymous"):
        await server.rpc("ACL.TokenDelete", ACLTokenDeleteRequest(TokenID=ANONYMOUS_TOKEN_ID,
                                                                   Token=ROOT))
    own = server.store.acl_token_by_secret(None, ROOT)[1]
    with pytest.raises(BadRequest, match="Deletion of the request's authorization token"):
        await server.rpc("ACL.TokenDelete", ACLTokenDeleteRequest(TokenID=own.AccessorID,
                                                                   Token=ROOT))


async def test_blocking_token_list_wakes_on_create(server):
    first = await server.rpc("ACL.TokenList", ACLTokenListRequest(Token=ROOT))
    waiting = asyncio.create_task(server.rpc("ACL.TokenList", ACLTokenListRequest(
        Token=ROOT, MinQueryIndex=first.Index, MaxQueryTime=10 * 10**9)))
    await wait_for(lambda: server.blocking_queries == 1)  # parked on the token table
    assert not waiting.done()
    created = await create_token(server)
    reply = await asyncio.wait_for(waiting, 5)
    assert reply.Index >= created.CreateIndex
    assert created.AccessorID in {t.AccessorID for t in reply.Tokens}
