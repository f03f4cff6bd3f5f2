"""ACL.* : bootstrap, and CRUD of tokens, policies, roles, auth methods and binding rules.

Reads need ``acl:read`` (secrets shown as ``<hidden>`` without ``acl:write``),
writes ``acl:write``; a token read by its own secret needs nothing more (that is
how client agents resolve tokens). With ACLs off every call fails
"ACL support disabled".
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from msgspec import UNSET
from msgspec.structs import replace

from proconsul.server.acl.jwt_keys import check_config, login_keys
from proconsul.server.acl.jwt_login import LoginError, bind, verify_jwt
from proconsul.server.acl.kubernetes_login import validate_config as validate_kubernetes_config
from proconsul.server.acl.kubernetes_login import verify_kubernetes
from proconsul.server.acl.resolver import ERR_NOT_FOUND, ACLNotFound, ResolvedToken, expand
from proconsul.server.acl.validate import (
    auth_method_for_set,
    binding_rule_for_set,
    is_uuid,
    new_id,
    policy_for_set,
    role_for_set,
    token_for_create,
    token_for_update,
)
from proconsul.state.acl import ERR_BOOTSTRAP_NOT_ALLOWED
from proconsul.structs.acl import (
    ANONYMOUS_TOKEN_ID,
    GLOBAL_MANAGEMENT_POLICY_ID,
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
    builtin_policies,
)
from proconsul.structs.acl_rpc import (
    TOKEN_ID_SECRET,
    ACLAuthMethodBatchDeleteRequest,
    ACLAuthMethodBatchSetRequest,
    ACLAuthMethodDeleteRequest,
    ACLAuthMethodGetRequest,
    ACLAuthMethodListRequest,
    ACLAuthMethodListResponse,
    ACLAuthMethodResponse,
    ACLAuthMethodSetRequest,
    ACLBindingRuleBatchDeleteRequest,
    ACLBindingRuleBatchSetRequest,
    ACLBindingRuleDeleteRequest,
    ACLBindingRuleGetRequest,
    ACLBindingRuleListRequest,
    ACLBindingRuleListResponse,
    ACLBindingRuleResponse,
    ACLBindingRuleSetRequest,
    ACLInitialTokenBootstrapRequest,
    ACLLoginRequest,
    ACLLogoutRequest,
    ACLPolicyBatchDeleteRequest,
    ACLPolicyBatchGetRequest,
    ACLPolicyBatchResponse,
    ACLPolicyBatchSetRequest,
    ACLPolicyDeleteRequest,
    ACLPolicyGetRequest,
    ACLPolicyListRequest,
    ACLPolicyListResponse,
    ACLPolicyResponse,
    ACLPolicySetRequest,
    ACLRoleBatchDeleteRequest,
    ACLRoleBatchGetRequest,
    ACLRoleBatchResponse,
    ACLRoleBatchSetRequest,
    ACLRoleDeleteRequest,
    ACLRoleGetRequest,
    ACLRoleListRequest,
    ACLRoleListResponse,
    ACLRoleResponse,
    ACLRoleSetRequest,
    ACLTokenBatchDeleteRequest,
    ACLTokenBatchGetRequest,
    ACLTokenBatchResponse,
    ACLTokenBatchSetRequest,
    ACLTokenBootstrapRequest,
    ACLTokenDeleteRequest,
    ACLTokenGetRequest,
    ACLTokenListRequest,
    ACLTokenListResponse,
    ACLTokenResponse,
    ACLTokenSetRequest,
)
from proconsul.structs.errors import (
    ERR_ACL_DISABLED,
    BadRequest,
    ConsulError,
    Forbidden,
    Unauthorized,
)
from proconsul.structs.messages import MessageType

if TYPE_CHECKING:
    from proconsul.server.server import Server

log = logging.getLogger(__name__)

REDACTED = "<hidden>"
BOOTSTRAP_RESET_FILE = "acl-bootstrap-reset"
BOOTSTRAP_DESCRIPTION = "Bootstrap Token (Global Management)"



def _now() -> datetime:
    return datetime.now(UTC)


class ACLEndpoint:
    """The ACL RPC service."""

    NAME = "ACL"
    METHODS = ("BootstrapTokens", "TokenSet", "TokenRead", "TokenClone", "TokenDelete",
               "TokenList", "TokenBatchRead", "PolicySet", "PolicyRead", "PolicyDelete",
               "PolicyList", "PolicyBatchRead", "RoleSet", "RoleRead", "RoleDelete", "RoleList",
               "RoleBatchRead", "AuthMethodSet", "AuthMethodRead", "AuthMethodDelete",
               "AuthMethodList", "BindingRuleSet", "BindingRuleRead", "BindingRuleDelete",
               "BindingRuleList", "Login", "Logout")

    def __init__(self, server: Server) -> None:
        self.server = server

    # ---- helpers -------------------------------------------------------------------

    @property
    def _store(self):
        return self.server.store

    def _caller(self, secret: str, check: str) -> ResolvedToken:
        """The caller's identity, after checking ACLs are on and ``check`` allows."""
        if not self.server.config.acl_enabled:
            raise Unauthorized(ERR_ACL_DISABLED)
        caller = self.server.acl.resolve(secret)
        caller.require(check)
        return caller

    def _redact(self, caller: ResolvedToken, token: ACLToken) -> ACLToken:
        if caller.allowed("acl_write"):
            return token
        return replace(token, SecretID=REDACTED)

    def _bootstrap_reset_index(self) -> int:
        data_dir = self.server.config.data_dir
        if not data_dir:
            return 0
        path = Path(data_dir, BOOTSTRAP_RESET_FILE)
        try:
            text = path.read_text().strip()
        except OSError:
            return 0
        try:
            return int(text)
        except ValueError:
            log.error("acl: bootstrap reset file %s does not hold an index: %r", path, text)
            return 0

    # ---- bootstrap -----------------------------------------------------------------

    async def BootstrapTokens(self, req: ACLInitialTokenBootstrapRequest) -> ACLToken:
        config = self.server.config
        if not config.acl_enabled or not self.server.is_primary:
            raise Unauthorized(ERR_ACL_DISABLED)
        store = self._store
        if store.acl_policies.get(GLOBAL_MANAGEMENT_POLICY_ID) is None:
            await self.server.acl_leader.ensure_builtin_policies()
        allowed, reset_index = store.acl_can_bootstrap()
        specified = 0
        if not allowed:
            specified = self._bootstrap_reset_index()
            if specified == 0:
                raise ConsulError(f"{ERR_BOOTSTRAP_NOT_ALLOWED} (reset index: {reset_index})")
            if specified != reset_index:
                raise ConsulError(f"Invalid bootstrap reset index (specified {specified}, "
                                  f"reset index: {reset_index})")
        secret = req.BootstrapSecret
        if secret:
            if not is_uuid(secret):
                raise BadRequest("BootstrapSecret must be a valid UUID")
            if store.acl_tokens.has("secret", secret):
                raise BadRequest("Invalid Token: SecretID is already in use")
        else:
            secret = new_id(lambda v: store.acl_tokens.has("secret", v))
        token = ACLToken(
            AccessorID=new_id(lambda v: store.acl_tokens.get(v) is not None), SecretID=secret,
            Description=BOOTSTRAP_DESCRIPTION,
            Policies=[ACLLink(ID=GLOBAL_MANAGEMENT_POLICY_ID)], CreateTime=_now())
        token.set_hash()
        await self.server.raft_apply(MessageType.ACL_BOOTSTRAP,
                                     ACLTokenBootstrapRequest(Token=token, ResetIndex=specified))
        if specified:
            try:
                os.remove(Path(config.data_dir, BOOTSTRAP_RESET_FILE))
            except OSError as err:
                log.error("acl: could not remove the bootstrap reset file: %s", err)
        stored = store.acl_token_get(None, token.AccessorID)[1]
        return stored if stored is not None else token

    # ---- tokens --------------------------------------------------------------------

    async def TokenSet(self, req: ACLTokenSetRequest) -> ACLToken:
        self._caller(req.Token, "acl_write")
        token = replace(req.ACLToken)
        if req.Create:
            token = token_for_create(self._store, token, _now())
        else:
            token = token_for_update(self._store, token)
        await self.server.raft_apply(MessageType.ACL_TOKEN_SET,
                                     ACLTokenBatchSetRequest(Tokens=[token]))
        return self._store.acl_token_get(None, token.AccessorID)[1] or token

    async def TokenClone(self, req: ACLTokenSetRequest) -> ACLToken:
        self._caller(req.Token, "acl_write")
        source_id = req.ACLToken.AccessorID
        source = self._store.acl_token_get(None, source_id)[1] if is_uuid(source_id) else None
        if source is None or source.is_expired(_now()):
            raise ACLNotFound("token does not exist: " + ERR_NOT_FOUND)
        if source.AuthMethod is not UNSET:
            raise BadRequest("Cannot clone a token created from an auth method")
        clone = ACLToken(
            Description=req.ACLToken.Description or source.Description,
            Policies=source.Policies, Roles=source.Roles,
            ServiceIdentities=source.ServiceIdentities, NodeIdentities=source.NodeIdentities,
            TemplatedPolicies=source.TemplatedPolicies, Local=source.Local)
        clone = token_for_create(self._store, clone, _now())
        clone.ExpirationTime = source.ExpirationTime
        await self.server.raft_apply(MessageType.ACL_TOKEN_SET,
                                     ACLTokenBatchSetRequest(Tokens=[clone]))
        return self._store.acl_token_get(None, clone.AccessorID)[1] or clone

    async def TokenRead(self, req: ACLTokenGetRequest) -> ACLTokenResponse:
        by_secret = req.TokenIDType == TOKEN_ID_SECRET
        caller: ResolvedToken | None = None
        if by_secret:
            if not self.server.config.acl_enabled:
                raise Unauthorized(ERR_ACL_DISABLED)
        else:
            caller = self._caller(req.Token, "acl_read")
        reply = ACLTokenResponse(SourceDatacenter=self.server.config.primary_datacenter)
        store = self._store

        def read(ws):
            if by_secret:
                index, token = store.acl_token_by_secret(ws, req.TokenID)
            else:
                index, token = store.acl_token_get(ws, req.TokenID)
            reply.ExpandedPolicies = reply.ExpandedRoles = None
            if token is not None and token.is_expired(_now()):
                raise ACLNotFound("token has expired: " + ERR_NOT_FOUND)
            if token is None:
                raise ACLNotFound("token does not exist: " + ERR_NOT_FOUND)
            if req.Expanded or by_secret:
                policies, roles = expand(store, token, self.server.config.datacenter)
                reply.ExpandedPolicies, reply.ExpandedRoles = policies, roles
            if caller is not None:
                reply.Redacted = not caller.allowed("acl_write")
                token = self._redact(caller, token)
            reply.Token = token
            return index

        await self.server.blocking_query(req, reply, read)
        return reply

    async def TokenDelete(self, req: ACLTokenDeleteRequest) -> str:
        caller = self._caller(req.Token, "acl_write")
        if not is_uuid(req.TokenID):
            raise BadRequest("Accessor ID is missing or an invalid UUID")
        if req.TokenID == ANONYMOUS_TOKEN_ID:
            raise BadRequest("Delete operation not permitted on the anonymous token")
        if caller.accessor_id == req.TokenID:
            raise BadRequest("Deletion of the request's authorization token is not permitted")
        token = self._store.acl_token_get(None, req.TokenID)[1]
        if token is None:
            raise ACLNotFound()
        await self.server.raft_apply(MessageType.ACL_TOKEN_DELETE,
                                     ACLTokenBatchDeleteRequest(TokenIDs=[req.TokenID]))
        return req.TokenID

    async def TokenList(self, req: ACLTokenListRequest) -> ACLTokenListResponse:
        caller = self._caller(req.Token, "acl_read")
        store = self._store
        now = _now()

        def read(ws):
            index, tokens = store.acl_token_list(
                ws, local=req.IncludeLocal, glob=req.IncludeGlobal, policy=req.Policy,
                role=req.Role, auth_method=req.AuthMethod, service_name=req.ServiceName)
            return index, [self._redact(caller, t).stub() for t in tokens
                           if not t.is_expired(now)]

        return await self.server.read_into(req, ACLTokenListResponse(), "Tokens", read)

    async def TokenBatchRead(self, req: ACLTokenBatchGetRequest) -> ACLTokenBatchResponse:
        caller = self._caller(req.Token, "acl_read")
        store = self._store
        reply = ACLTokenBatchResponse(Redacted=not caller.allowed("acl_write"))
        now = _now()

        def read(ws):
            tokens = [store.acl_token_get(ws, accessor)[1] for accessor in req.AccessorIDs]
            live = [self._redact(caller, t) for t in tokens
                    if t is not None and not t.is_expired(now)]
            reply.Removed = len(live) != len([t for t in tokens if t is not None])
            return store.max_index("acl-tokens"), live

        return await self.server.read_into(req, reply, "Tokens", read)

    # ---- policies ------------------------------------------------------------------

    async def PolicySet(self, req: ACLPolicySetRequest) -> ACLPolicy:
        self._caller(req.Token, "acl_write")
        policy = policy_for_set(self._store, replace(req.Policy))
        await self.server.raft_apply(MessageType.ACL_POLICY_SET,
                                     ACLPolicyBatchSetRequest(Policies=[policy]))
        return self._store.acl_policy_get(None, policy.ID)[1] or policy

    async def PolicyRead(self, req: ACLPolicyGetRequest) -> ACLPolicyResponse:
        self._caller(req.Token, "acl_read")
        return await self.server.read_into(
            req, ACLPolicyResponse(), "Policy",
            lambda ws: self._store.acl_policy_get(ws, req.PolicyID, req.PolicyName))

    async def PolicyDelete(self, req: ACLPolicyDeleteRequest) -> str:
        self._caller(req.Token, "acl_write")
        builtin = builtin_policies().get(req.PolicyID)
        if builtin is not None:
            raise BadRequest(f"Delete operation not permitted on the builtin {builtin.Name} "
                             "policy")
        if self._store.acl_policy_get(None, req.PolicyID)[1] is None:
            raise ACLNotFound()
        await self.server.raft_apply(MessageType.ACL_POLICY_DELETE,
                                     ACLPolicyBatchDeleteRequest(PolicyIDs=[req.PolicyID]))
        return req.PolicyID

    async def PolicyList(self, req: ACLPolicyListRequest) -> ACLPolicyListResponse:
        self._caller(req.Token, "acl_read")
        return await self.server.read_into(
            req, ACLPolicyListResponse(), "Policies",
            lambda ws: self._store.acl_policy_list(ws),
            lambda policies: [p.stub() for p in policies])

    async def PolicyBatchRead(self, req: ACLPolicyBatchGetRequest) -> ACLPolicyBatchResponse:
        self._caller(req.Token, "acl_read")
        store = self._store

        def read(ws):
            found = [store.acl_policy_get(ws, pid)[1] for pid in req.PolicyIDs]
            return store.max_index("acl-policies"), [p for p in found if p is not None]

        return await self.server.read_into(req, ACLPolicyBatchResponse(), "Policies", read)

    # ---- roles ---------------------------------------------------------------------

    async def RoleSet(self, req: ACLRoleSetRequest) -> ACLRole:
        self._caller(req.Token, "acl_write")
        role = role_for_set(self._store, replace(req.Role))
        await self.server.raft_apply(MessageType.ACL_ROLE_SET,
                                     ACLRoleBatchSetRequest(Roles=[role]))
        return self._store.acl_role_get(None, role.ID)[1] or role

    async def RoleRead(self, req: ACLRoleGetRequest) -> ACLRoleResponse:
        self._caller(req.Token, "acl_read")
        return await self.server.read_into(
            req, ACLRoleResponse(), "Role",
            lambda ws: self._store.acl_role_get(ws, req.RoleID, req.RoleName))

    async def RoleDelete(self, req: ACLRoleDeleteRequest) -> str:
        self._caller(req.Token, "acl_write")
        if self._store.acl_role_get(None, req.RoleID)[1] is None:
            raise ACLNotFound()
        await self.server.raft_apply(MessageType.ACL_ROLE_DELETE,
                                     ACLRoleBatchDeleteRequest(RoleIDs=[req.RoleID]))
        return req.RoleID

    async def RoleList(self, req: ACLRoleListRequest) -> ACLRoleListResponse:
        self._caller(req.Token, "acl_read")
        return await self.server.read_into(
            req, ACLRoleListResponse(), "Roles",
            lambda ws: self._store.acl_role_list(ws, req.Policy))

    async def RoleBatchRead(self, req: ACLRoleBatchGetRequest) -> ACLRoleBatchResponse:
        self._caller(req.Token, "acl_read")
        store = self._store

        def read(ws):
            found = [store.acl_role_get(ws, rid)[1] for rid in req.RoleIDs]
            return store.max_index("acl-roles"), [r for r in found if r is not None]

        return await self.server.read_into(req, ACLRoleBatchResponse(), "Roles", read)

    # ---- auth methods --------------------------------------------------------------

    async def AuthMethodSet(self, req: ACLAuthMethodSetRequest) -> ACLAuthMethod:
        self._caller(req.Token, "acl_write")
        method = auth_method_for_set(self._store, replace(req.AuthMethod),
                                     self.server.is_primary)
        try:
            if method.Type == "jwt":
                await check_config(method.Config or {})
            elif method.Type == "kubernetes":
                validate_kubernetes_config(method.Config or {})
        except LoginError as err:
            raise BadRequest(f"Invalid Auth Method: {err}") from None
        await self.server.raft_apply(MessageType.ACL_AUTH_METHOD_SET,
                                     ACLAuthMethodBatchSetRequest(AuthMethods=[method]))
        return self._store.acl_auth_method_get(None, method.Name)[1] or method

    async def AuthMethodRead(self, req: ACLAuthMethodGetRequest) -> ACLAuthMethodResponse:
        self._caller(req.Token, "acl_read")
        return await self.server.read_into(
            req, ACLAuthMethodResponse(), "AuthMethod",
            lambda ws: self._store.acl_auth_method_get(ws, req.AuthMethodName))

    async def AuthMethodDelete(self, req: ACLAuthMethodDeleteRequest) -> str:
        self._caller(req.Token, "acl_write")
        if self._store.acl_auth_method_get(None, req.AuthMethodName)[1] is None:
            raise ACLNotFound()
        await self.server.raft_apply(
            MessageType.ACL_AUTH_METHOD_DELETE,
            ACLAuthMethodBatchDeleteRequest(AuthMethodNames=[req.AuthMethodName]))
        return req.AuthMethodName

    async def AuthMethodList(self, req: ACLAuthMethodListRequest) -> ACLAuthMethodListResponse:
        self._caller(req.Token, "acl_read")
        return await self.server.read_into(
            req, ACLAuthMethodListResponse(), "AuthMethods",
            lambda ws: self._store.acl_auth_method_list(ws))

    # ---- binding rules -------------------------------------------------------------

    async def BindingRuleSet(self, req: ACLBindingRuleSetRequest) -> ACLBindingRule:
        self._caller(req.Token, "acl_write")
        rule = binding_rule_for_set(self._store, replace(req.BindingRule))
        await self.server.raft_apply(MessageType.ACL_BINDING_RULE_SET,
                                     ACLBindingRuleBatchSetRequest(BindingRules=[rule]))
        return self._store.acl_binding_rule_get(None, rule.ID)[1] or rule

    async def BindingRuleRead(self, req: ACLBindingRuleGetRequest) -> ACLBindingRuleResponse:
        self._caller(req.Token, "acl_read")
        return await self.server.read_into(
            req, ACLBindingRuleResponse(), "BindingRule",
            lambda ws: self._store.acl_binding_rule_get(ws, req.BindingRuleID))

    async def BindingRuleDelete(self, req: ACLBindingRuleDeleteRequest) -> str:
        self._caller(req.Token, "acl_write")
        if self._store.acl_binding_rule_get(None, req.BindingRuleID)[1] is None:
            raise ACLNotFound()
        await self.server.raft_apply(
            MessageType.ACL_BINDING_RULE_DELETE,
            ACLBindingRuleBatchDeleteRequest(BindingRuleIDs=[req.BindingRuleID]))
        return req.BindingRuleID

    async def BindingRuleList(self, req: ACLBindingRuleListRequest
                              ) -> ACLBindingRuleListResponse:
        self._caller(req.Token, "acl_read")
        return await self.server.read_into(
            req, ACLBindingRuleListResponse(), "BindingRules",
            lambda ws: self._store.acl_binding_rule_list(ws, req.AuthMethod))

    # ---- login / logout --------------------------------------------------------------

    async def Login(self, req: ACLLoginRequest) -> ACLToken:
        """Exchange a bearer token verified by an auth method for an ACL token."""
        if not self.server.config.acl_enabled:
            raise Unauthorized(ERR_ACL_DISABLED)
        auth = req.Auth
        if auth is None or not auth.AuthMethod:
            raise BadRequest("Invalid Login request: Missing auth method name")
        store = self._store
        method = store.acl_auth_methods.get(auth.AuthMethod)
        if method is None:
            raise ACLNotFound(f"{ERR_NOT_FOUND}: auth method {json.dumps(auth.AuthMethod)} "
                              "not found")
        if method.Type not in ("jwt", "kubernetes"):
            raise BadRequest(f'auth method type "{method.Type}" is not supported for login yet')
        try:
            if method.Type == "kubernetes":
                fields = await verify_kubernetes(method, auth.BearerToken)
            else:
                source = await login_keys(method.Config or {})
                fields = verify_jwt(method, auth.BearerToken, _now(), source.keys,
                                    source.issuer)
            bindings = bind(store.acl_binding_rule_list(None, method.Name)[1], fields)
        except LoginError as err:
            raise Forbidden(f"Permission denied: {err}") from None
        policies = [ACLLink(ID=p.ID, Name=p.Name) for p in
                    (store.acl_policy_get(None, name=name)[1] for name in bindings.policies)
                    if p is not None]
        roles = [ACLLink(ID=r.ID, Name=r.Name) for r in
                 (store.acl_role_get(None, name=name)[1] for name in bindings.roles)
                 if r is not None]
        token = ACLToken(
            Description="token created via login",
            Policies=policies, Roles=roles,
            ServiceIdentities=[ACLServiceIdentity(ServiceName=n)
                               for n in bindings.service_identities],
            NodeIdentities=[ACLNodeIdentity(NodeName=n, Datacenter=self.server.config.datacenter)
                            for n in bindings.node_identities],
            TemplatedPolicies=[ACLTemplatedPolicy(
                TemplateName=name, TemplateVariables=ACLTemplatedPolicyVariables(name=var or UNSET))
                for name, var in bindings.templated],
            Local=method.TokenLocality != "global")
        if not (policies or roles or token.ServiceIdentities or token.NodeIdentities
                or token.TemplatedPolicies):
            raise Forbidden("Permission denied")
        if auth.Meta:
            token.Description += ": " + json.dumps(auth.Meta, separators=(",", ":"))
        ttl = method.max_token_ttl_ns
        if ttl:
            token.ExpirationTTL = ttl
        token = token_for_create(store, token, _now())
        token.AuthMethod = method.Name
        token.set_hash()
        await self.server.raft_apply(MessageType.ACL_TOKEN_SET,
                                     ACLTokenBatchSetRequest(Tokens=[token]))
        return store.acl_token_get(None, token.AccessorID)[1] or token

    async def Logout(self, req: ACLLogoutRequest) -> bool:
        """Delete the login token the request carries."""
        if not self.server.config.acl_enabled:
            raise Unauthorized(ERR_ACL_DISABLED)
        if not req.Token:
            raise ACLNotFound()
        token = self.server.acl.live_token(req.Token)
        if token is None:
            raise ACLNotFound()
        if token.AuthMethod is UNSET:
            raise Forbidden("Permission denied: token wasn't created via login")
        await self.server.raft_apply(MessageType.ACL_TOKEN_DELETE,
                                     ACLTokenBatchDeleteRequest(TokenIDs=[token.AccessorID]))
        return True
