"""/v1/acl/... : bootstrap, tokens, policies, roles, auth methods, binding rules,
templated policies and replication status.

The ACL RPCs check ``acl:read``/``acl:write`` themselves; here the bodies are
decoded, IDs in the URL and the body are reconciled, and RPC errors become
Consul's status codes and texts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from msgspec import UNSET

from proconsul.agent.acl.tokens import SLOT_NAMES
from proconsul.agent.http.decode import decode_json
from proconsul.agent.http.params import datacenter, query_options, token
from proconsul.agent.http.reply import json_reply
from proconsul.lib import httpserver as web
from proconsul.structs.acl import (
    TEMPLATED_POLICIES,
    ACLAuthMethod,
    ACLBindingRule,
    ACLPolicy,
    ACLReplicationStatus,
    ACLRole,
    ACLTemplatedPolicy,
    ACLTemplatedPolicyVariables,
    ACLToken,
)
from proconsul.structs.acl_rpc import (
    TOKEN_ID_SECRET,
    ACLAuthMethodDeleteRequest,
    ACLAuthMethodGetRequest,
    ACLAuthMethodListRequest,
    ACLAuthMethodSetRequest,
    ACLBindingRuleDeleteRequest,
    ACLBindingRuleGetRequest,
    ACLBindingRuleListRequest,
    ACLBindingRuleSetRequest,
    ACLInitialTokenBootstrapRequest,
    ACLLoginParams,
    ACLLoginRequest,
    ACLLogoutRequest,
    ACLPolicyDeleteRequest,
    ACLPolicyGetRequest,
    ACLPolicyListRequest,
    ACLPolicySetRequest,
    ACLRoleDeleteRequest,
    ACLRoleGetRequest,
    ACLRoleListRequest,
    ACLRoleSetRequest,
    ACLTokenDeleteRequest,
    ACLTokenGetRequest,
    ACLTokenListRequest,
    ACLTokenSetRequest,
)
from proconsul.structs.errors import (
    ERR_ACL_DISABLED,
    BadRequest,
    ConsulError,
    Forbidden,
    NotFound,
    Unauthorized,
)
from proconsul.structs.query import QueryMeta


def _agent(request: web.Request):
    agent = request.app["agent"]
    if not agent.config.acl.enabled:
        raise Unauthorized(ERR_ACL_DISABLED)
    return agent


async def _rpc(request: web.Request, method: str, req: Any) -> Any:
    return await _agent(request).rpc(method, req)


def _body(raw: bytes, target: type) -> Any:
    if not raw.strip():
        return target()
    return decode_json(raw, target, "Failed to decode request body")


async def _delete(request: web.Request, method: str, req: Any, kind: str) -> web.Response:
    try:
        await _rpc(request, method, req)
    except ConsulError as err:
        if "ACL not found" in err.message:
            raise NotFound(f"Cannot find {kind} to delete") from None
        raise
    return json_reply(request, True)


def _setter(record: type, method: str, request_type: type, field: str, *, mismatch: str,
            key: str = "ID", created: str = "") -> Callable[[web.Request], Awaitable[Any]]:
    """The PUT handler that creates (``/v1/acl/<kind>``) or updates (``.../{id}``) one
    object through ``method``: a create's body may not carry its ID (when ``created``
    names the kind for the error); an update's URL names it, the body may only agree."""
    async def handler(request: web.Request) -> web.Response:
        body = _body(await request.read(), record)
        in_url, given = request.match_info.get(key.lower()), getattr(body, key)
        if in_url is None:
            if created and given:
                raise BadRequest(f"Cannot specify the ID when creating a new {created}")
        else:
            if given and given != in_url:
                raise BadRequest(f"{mismatch} in URL and payload do not match")
            setattr(body, key, in_url)
        return json_reply(request, await _rpc(request, method, request_type(
            **{field: body}, Datacenter=datacenter(request), Token=token(request))))
    return handler


def _found(request: web.Request, obj: Any, kind: str, meta: QueryMeta) -> web.Response:
    if obj is None:
        raise NotFound(f"Requested {kind} does not exist: ACL not found")
    return json_reply(request, obj, meta=meta)


# ---- bootstrap and replication ----------------------------------------------------


async def bootstrap(request: web.Request) -> web.Response:
    """PUT /v1/acl/bootstrap (optional ``{"BootstrapSecret": "<uuid>"}``)."""
    agent = _agent(request)

    class Body(msgspec.Struct):
        BootstrapSecret: str = ""

    body = _body(await request.read(), Body)
    try:
        created = await agent.rpc("ACL.BootstrapTokens", ACLInitialTokenBootstrapRequest(
            BootstrapSecret=body.BootstrapSecret, Datacenter=datacenter(request)))
    except ConsulError as err:
        if "ACL bootstrap no longer allowed" in err.message or \
                "Invalid bootstrap reset index" in err.message:
            raise Forbidden(f"Permission denied: {err.message}") from None
        raise
    reply = msgspec.to_builtins(created)
    reply["ID"] = created.SecretID  # the legacy field clients still read
    return json_reply(request, reply)


async def replication(request: web.Request) -> web.Response:
    """GET /v1/acl/replication: replication is only for secondary datacenters."""
    agent = _agent(request)
    config = agent.config
    primary = config.primary_datacenter or config.datacenter
    enabled = primary != config.datacenter
    status = ACLReplicationStatus(
        Enabled=enabled, SourceDatacenter=primary,
        ReplicationType=("tokens" if config.acl.enable_token_replication else "policies")
        if enabled else "")
    if agent.server is not None and enabled:
        _fill_replication(status, {r.kind.name: r.state for r in agent.server.replicators})
    return json_reply(request, status)


def _fill_replication(status: ACLReplicationStatus, states: dict) -> None:
    """This server's ACL replicators (running while it leads) in Consul's status shape:
    the oldest success and the newest error of the replicated types."""
    acl = [states[name] for name in ("policies", "roles", "tokens") if name in states]
    if not acl:
        return
    status.Running = all(s.running for s in acl)
    status.ReplicatedIndex = states["policies"].replicated_index
    status.ReplicatedRoleIndex = states["roles"].replicated_index
    if "tokens" in states:
        status.ReplicatedTokenIndex = states["tokens"].replicated_index
    if all(s.last_success for s in acl):
        status.LastSuccess = datetime.fromtimestamp(min(s.last_success for s in acl), UTC)
    failed = max(acl, key=lambda s: s.last_error)
    if failed.last_error:
        status.LastError = datetime.fromtimestamp(failed.last_error, UTC)
        status.LastErrorMessage = failed.last_error_message


# ---- tokens -----------------------------------------------------------------------


async def token_create(request: web.Request) -> web.Response:
    body = _body(await request.read(), ACLToken)
    created = await _rpc(request, "ACL.TokenSet", ACLTokenSetRequest(
        ACLToken=body, Create=True, Datacenter=datacenter(request), Token=token(request)))
    return json_reply(request, created)


async def token_update(request: web.Request) -> web.Response:
    accessor = request.match_info["id"]
    body = _body(await request.read(), ACLToken)
    if body.AccessorID and body.AccessorID != accessor:
        raise BadRequest("Token Accessor ID in URL and payload do not match")
    body.AccessorID = accessor
    updated = await _rpc(request, "ACL.TokenSet", ACLTokenSetRequest(
        ACLToken=body, Datacenter=datacenter(request), Token=token(request)))
    return json_reply(request, updated)


async def token_read(request: web.Request) -> web.Response:
    """GET /v1/acl/token/:id (``?expanded``: with the policies and roles it resolves to)."""
    agent = _agent(request)
    expanded = "expanded" in request.query
    req = query_options(request, ACLTokenGetRequest(
        TokenID=request.match_info["id"], Expanded=expanded, Datacenter=datacenter(request)))
    reply = await agent.rpc("ACL.TokenRead", req)
    if reply.Token is None:
        raise NotFound("token does not exist: ACL not found")
    if not expanded:
        return json_reply(request, reply.Token, meta=reply)
    out = msgspec.to_builtins(reply.Token)
    out.update(
        ExpandedPolicies=msgspec.to_builtins(reply.ExpandedPolicies or []),
        ExpandedRoles=msgspec.to_builtins(reply.ExpandedRoles or []),
        NamespaceDefaultPolicyIDs=None, NamespaceDefaultRoleIDs=None,
        AgentACLDefaultPolicy=agent.config.acl.default_policy,
        AgentACLDownPolicy=agent.config.acl.down_policy,
        ResolvedByAgent=agent.config.node_name)
    return json_reply(request, out, meta=reply)


async def token_self(request: web.Request) -> web.Response:
    """GET /v1/acl/token/self: the token the request carries (403 if unknown)."""
    agent = _agent(request)
    secret = token(request) or agent.tokens.default
    req = ACLTokenGetRequest(TokenID=secret, TokenIDType=TOKEN_ID_SECRET,
                             Datacenter=datacenter(request))
    try:
        reply = await agent.rpc("ACL.TokenRead", req)
    except ConsulError as err:
        if "ACL not found" in err.message:
            raise Forbidden("ACL not found") from None
        raise
    return json_reply(request, reply.Token, meta=reply)


async def token_clone(request: web.Request) -> web.Response:
    body = _body(await request.read(), ACLToken)
    clone = await _rpc(request, "ACL.TokenClone", ACLTokenSetRequest(
        ACLToken=ACLToken(AccessorID=request.match_info["id"], Description=body.Description),
        Datacenter=datacenter(request), Token=token(request)))
    return json_reply(request, clone)


async def token_delete(request: web.Request) -> web.Response:
    return await _delete(request, "ACL.TokenDelete", ACLTokenDeleteRequest(
        TokenID=request.match_info["id"], Datacenter=datacenter(request), Token=token(request)),
        "token")


async def token_list(request: web.Request) -> web.Response:
    query = request.query
    req = query_options(request, ACLTokenListRequest(
        Policy=query.get("policy", ""), Role=query.get("role", ""),
        AuthMethod=query.get("authmethod", ""), ServiceName=query.get("servicename", ""),
        Datacenter=datacenter(request)))
    reply = await _rpc(request, "ACL.TokenList", req)
    return json_reply(request, reply.Tokens, meta=reply)


# ---- policies ---------------------------------------------------------------------


policy_set = _setter(ACLPolicy, "ACL.PolicySet", ACLPolicySetRequest, "Policy",
                     created="policy", mismatch="Policy ID")


async def policy_read(request: web.Request) -> web.Response:
    req = query_options(request, ACLPolicyGetRequest(
        PolicyID=request.match_info.get("id", ""), PolicyName=request.match_info.get("name", ""),
        Datacenter=datacenter(request)))
    reply = await _rpc(request, "ACL.PolicyRead", req)
    return _found(request, reply.Policy, "policy", reply)


async def policy_delete(request: web.Request) -> web.Response:
    return await _delete(request, "ACL.PolicyDelete", ACLPolicyDeleteRequest(
        PolicyID=request.match_info["id"], Datacenter=datacenter(request),
        Token=token(request)), "policy")


async def policy_list(request: web.Request) -> web.Response:
    reply = await _rpc(request, "ACL.PolicyList", query_options(
        request, ACLPolicyListRequest(Datacenter=datacenter(request))))
    return json_reply(request, reply.Policies, meta=reply)


# ---- roles ------------------------------------------------------------------------


role_set = _setter(ACLRole, "ACL.RoleSet", ACLRoleSetRequest, "Role", created="role",
                   mismatch="Role ID")


async def role_read(request: web.Request) -> web.Response:
    req = query_options(request, ACLRoleGetRequest(
        RoleID=request.match_info.get("id", ""), RoleName=request.match_info.get("name", ""),
        Datacenter=datacenter(request)))
    reply = await _rpc(request, "ACL.RoleRead", req)
    return _found(request, reply.Role, "role", reply)


async def role_delete(request: web.Request) -> web.Response:
    return await _delete(request, "ACL.RoleDelete", ACLRoleDeleteRequest(
        RoleID=request.match_info["id"], Datacenter=datacenter(request), Token=token(request)),
        "role")


async def role_list(request: web.Request) -> web.Response:
    reply = await _rpc(request, "ACL.RoleList", query_options(request, ACLRoleListRequest(
        Policy=request.query.get("policy", ""), Datacenter=datacenter(request))))
    return json_reply(request, reply.Roles, meta=reply)


# ---- auth methods -------------------------------------------------------------------


auth_method_set = _setter(ACLAuthMethod, "ACL.AuthMethodSet", ACLAuthMethodSetRequest,
                          "AuthMethod", key="Name", mismatch="Auth Method Name")


async def auth_method_read(request: web.Request) -> web.Response:
    req = query_options(request, ACLAuthMethodGetRequest(
        AuthMethodName=request.match_info["name"], Datacenter=datacenter(request)))
    reply = await _rpc(request, "ACL.AuthMethodRead", req)
    return _found(request, reply.AuthMethod, "auth-method", reply)


async def auth_method_delete(request: web.Request) -> web.Response:
    return await _delete(request, "ACL.AuthMethodDelete", ACLAuthMethodDeleteRequest(
        AuthMethodName=request.match_info["name"], Datacenter=datacenter(request),
        Token=token(request)), "auth-method")


async def auth_method_list(request: web.Request) -> web.Response:
    reply = await _rpc(request, "ACL.AuthMethodList", query_options(
        request, ACLAuthMethodListRequest(Datacenter=datacenter(request))))
    stubs = [{k: v for k, v in msgspec.to_builtins(m).items() if k != "Config"}
             for m in reply.AuthMethods]
    return json_reply(request, stubs, meta=reply)


# ---- binding rules ------------------------------------------------------------------


binding_rule_set = _setter(ACLBindingRule, "ACL.BindingRuleSet", ACLBindingRuleSetRequest,
                           "BindingRule", created="binding rule", mismatch="BindingRule ID")


async def binding_rule_read(request: web.Request) -> web.Response:
    req = query_options(request, ACLBindingRuleGetRequest(
        BindingRuleID=request.match_info["id"], Datacenter=datacenter(request)))
    reply = await _rpc(request, "ACL.BindingRuleRead", req)
    return _found(request, reply.BindingRule, "binding rule", reply)


async def binding_rule_delete(request: web.Request) -> web.Response:
    return await _delete(request, "ACL.BindingRuleDelete", ACLBindingRuleDeleteRequest(
        BindingRuleID=request.match_info["id"], Datacenter=datacenter(request),
        Token=token(request)), "binding rule")


async def binding_rule_list(request: web.Request) -> web.Response:
    reply = await _rpc(request, "ACL.BindingRuleList", query_options(
        request, ACLBindingRuleListRequest(AuthMethod=request.query.get("authmethod", ""),
                                           Datacenter=datacenter(request))))
    return json_reply(request, reply.BindingRules, meta=reply)


# ---- templated policies -------------------------------------------------------------


async def _require_acl_read(request: web.Request) -> None:
    agent = _agent(request)
    (await agent.acl.resolve(token(request))).require("acl_read")


async def templated_policy_list(request: web.Request) -> web.Response:
    await _require_acl_read(request)
    return json_reply(request, {name: base.response()
                                for name, base in TEMPLATED_POLICIES.items()})


def _template(name: str):
    base = TEMPLATED_POLICIES.get(name)
    if base is None:
        raise BadRequest(f"Invalid templated policy Name: {name}")
    return base


async def templated_policy_read(request: web.Request) -> web.Response:
    await _require_acl_read(request)
    return json_reply(request, _template(request.match_info["name"]).response())


async def templated_policy_preview(request: web.Request) -> web.Response:
    """POST /v1/acl/templated-policy/preview/:name body ``{"name": "web"}``: the rendered
    policy a token with this templated policy would get."""
    await _require_acl_read(request)
    name = request.match_info["name"]
    _template(name)
    variables = _body(await request.read(), ACLTemplatedPolicyVariables)
    templated = ACLTemplatedPolicy(TemplateName=name, TemplateVariables=variables)
    problem = templated.variables_error()
    if problem is not None:
        raise BadRequest(f'validation error for templated policy: "{name}": {problem}')
    policy = templated.synthetic_policy()
    policy.CreateIndex = policy.ModifyIndex = UNSET  # type: ignore[assignment]
    out = {k: v for k, v in msgspec.to_builtins(policy).items()
           if k not in ("CreateIndex", "ModifyIndex")}
    return json_reply(request, out)


# ---- login / logout -------------------------------------------------------------------


async def login(request: web.Request) -> web.Response:
    """POST /v1/acl/login ``{"AuthMethod", "BearerToken", "Meta"}``: a new token."""
    body = _body(await request.read(), ACLLoginParams)
    created = await _rpc(request, "ACL.Login", ACLLoginRequest(
        Auth=body, Datacenter=datacenter(request)))
    return json_reply(request, created)


async def logout(request: web.Request) -> web.Response:
    """POST /v1/acl/logout with the login token in the usual places."""
    await _rpc(request, "ACL.Logout", ACLLogoutRequest(Datacenter=datacenter(request),
                                                       Token=token(request)))
    return json_reply(request, True)


# ---- the agent's token slots --------------------------------------------------------


class _AgentTokenBody(msgspec.Struct):
    Token: str = ""


async def agent_token(request: web.Request) -> web.Response:
    """PUT /v1/agent/token/:slot ``{"Token": "..."}`` (needs ``agent:write`` on this agent)."""
    agent = _agent(request)
    caller = await agent.acl.resolve(token(request))
    caller.require("agent_write", agent.config.node_name)
    name = request.match_info["slot"]
    slot = SLOT_NAMES.get(name)
    if slot is None:
        raise NotFound(f'Token "{name}" is unknown')
    body = _body(await request.read(), _AgentTokenBody)
    try:
        agent.tokens.set(slot, body.Token)
    except OSError as err:
        raise ConsulError(f"Failed to persist tokens - {err}") from None
    return web.Response(status=200)


def add_routes(router: web.Router) -> None:
    router.add_put("/v1/agent/token/{slot:.*}", agent_token)
    router.add_put("/v1/acl/bootstrap", bootstrap)
    router.add_post("/v1/acl/login", login)
    router.add_post("/v1/acl/logout", logout)
    router.add_get("/v1/acl/replication", replication, allow_head=False)
    router.add_put("/v1/acl/token", token_create)
    router.add_get("/v1/acl/token/self", token_self, allow_head=False)
    router.add_get("/v1/acl/tokens", token_list, allow_head=False)
    router.add_put("/v1/acl/token/{id}/clone", token_clone)
    router.add_get("/v1/acl/token/{id}", token_read, allow_head=False)
    router.add_put("/v1/acl/token/{id}", token_update)
    router.add_delete("/v1/acl/token/{id}", token_delete)
    router.add_put("/v1/acl/policy", policy_set)
    router.add_get("/v1/acl/policies", policy_list, allow_head=False)
    router.add_get("/v1/acl/policy/name/{name}", policy_read, allow_head=False)
    router.add_get("/v1/acl/policy/{id}", policy_read, allow_head=False)
    router.add_put("/v1/acl/policy/{id}", policy_set)
    router.add_delete("/v1/acl/policy/{id}", policy_delete)
    router.add_put("/v1/acl/role", role_set)
    router.add_get("/v1/acl/roles", role_list, allow_head=False)
    router.add_get("/v1/acl/role/name/{name}", role_read, allow_head=False)
    router.add_get("/v1/acl/role/{id}", role_read, allow_head=False)
    router.add_put("/v1/acl/role/{id}", role_set)
    router.add_delete("/v1/acl/role/{id}", role_delete)
    router.add_put("/v1/acl/auth-method", auth_method_set)
    router.add_get("/v1/acl/auth-methods", auth_method_list, allow_head=False)
    router.add_get("/v1/acl/auth-method/{name}", auth_method_read, allow_head=False)
    router.add_put("/v1/acl/auth-method/{name}", auth_method_set)
    router.add_delete("/v1/acl/auth-method/{name}", auth_method_delete)
    router.add_put("/v1/acl/binding-rule", binding_rule_set)
    router.add_get("/v1/acl/binding-rules", binding_rule_list, allow_head=False)
    router.add_get("/v1/acl/binding-rule/{id}", binding_rule_read, allow_head=False)
    router.add_put("/v1/acl/binding-rule/{id}", binding_rule_set)
    router.add_delete("/v1/acl/binding-rule/{id}", binding_rule_delete)
    router.add_get("/v1/acl/templated-policies", templated_policy_list, allow_head=False)
    router.add_get("/v1/acl/templated-policy/name/{name:.+}", templated_policy_read,
                   allow_head=False)
    router.add_post("/v1/acl/templated-policy/preview/{name:.+}", templated_policy_preview)
