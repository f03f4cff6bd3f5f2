"""Checking and completing ACL objects before a write is proposed (Consul's texts).

Each function takes what a client sent and the current state, and returns the
object to store (IDs generated, links resolved to IDs and names, hash set) or
raises BadRequest. Uniqueness and link existence are checked again inside the
FSM write, so concurrent writers cannot slip past.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from msgspec import UNSET
from msgspec.structs import replace

from proconsul.lib import bexpr
from proconsul.lib.acl.rules import RulesError, parse_rules
from proconsul.lib.duration import format_duration
from proconsul.state.store import Store
from proconsul.structs.acl import (
    BIND_TYPES,
    GLOBAL_MANAGEMENT_POLICY_ID,
    GLOBAL_READ_ONLY_POLICY_ID,
    RESERVED_ID_PREFIX,
    ROOT_TOKEN_NAMES,
    TEMPLATED_POLICIES,
    ACLAuthMethod,
    ACLBindingRule,
    ACLLink,
    ACLPolicy,
    ACLRole,
    ACLToken,
    acl_id_reserved,
    builtin_policies,
    is_valid_auth_method_name,
    is_valid_identity_name,
    is_valid_role_name,
    policy_name_error,
)
from proconsul.structs.errors import BadRequest, Forbidden

MIN_EXPIRATION_TTL = timedelta(minutes=1)
MAX_EXPIRATION_TTL_NS = (1 << 63) - 1  # Consul's default acl token max expiration TTL
MIN_AUTH_METHOD_TTL_NS = 60 * 10**9
MAX_AUTH_METHOD_TTL_NS = 290 * 365 * 24 * 3600 * 10**9
AUTH_METHOD_TYPES = ("jwt", "kubernetes", "aws-iam")


def is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower() and len(value) == 36
    except ValueError:
        return False


def new_id(taken: Callable[[str], bool]) -> str:
    """A random UUID outside the reserved space and not ``taken``."""
    while True:
        value = str(uuid.uuid4())
        if not acl_id_reserved(value) and not taken(value):
            return value


def _token_id(store: Store, value: str, field: str) -> None:
    """A client-chosen AccessorID or SecretID: a UUID outside the reserved space, used
    by no token as either ID (Consul's TokenWriter texts)."""
    if acl_id_reserved(value):
        raise BadRequest(f'Invalid Token: {field} - UUIDs with the prefix '
                         f'"{RESERVED_ID_PREFIX}" are reserved')
    if not is_uuid(value):
        raise BadRequest(f"Invalid Token: {field} - not a valid UUID")
    if store.acl_tokens.get(value) is not None or store.acl_tokens.has("secret", value):
        raise BadRequest(f"Invalid Token: {field} is already in use")


def _links(store: Store, links, kind: str) -> list[ACLLink] | None:
    """Links by ID or name turned into (ID, Name) of existing objects, duplicates dropped."""
    if not links:
        return None
    table = store.acl_policies if kind == "policy" else store.acl_roles
    out: dict[str, ACLLink] = {}
    for link in links:
        if link.ID:
            found = table.get(link.ID)
            if found is None:
                raise BadRequest(f'No such ACL {kind} with ID "{link.ID}"')
        else:
            named = table.by("name", link.Name)
            if not named:
                raise BadRequest(f'No such ACL {kind} with name "{link.Name}"')
            found = named[0]
        out.setdefault(found.ID, ACLLink(ID=found.ID, Name=found.Name))
    return list(out.values())


def _identities(obj: ACLToken | ACLRole, where: str) -> None:
    for sid in obj.ServiceIdentities or ():
        if not sid.ServiceName:
            raise BadRequest(f"Service identity is missing the service name field on this "
                             f"{where}")
        if where == "token" and obj.Local and sid.Datacenters:
            raise BadRequest(f'Service identity "{sid.ServiceName}" cannot specify a list of '
                             "datacenters on a local token")
        if not is_valid_identity_name(sid.ServiceName):
            raise BadRequest(f'Service identity "{sid.ServiceName}" has an invalid name. Only '
                             "lowercase alphanumeric characters, '-' and '_' are allowed")
    for nid in obj.NodeIdentities or ():
        if not nid.NodeName:
            raise BadRequest(f"Node identity is missing the node name field on this {where}")
        if not nid.Datacenter:
            raise BadRequest(f"Node identity is missing the datacenter field on this {where}")
        if not is_valid_identity_name(nid.NodeName):
            raise BadRequest("Node identity has an invalid name. Only lowercase alphanumeric "
                             "characters, '-' and '_' are allowed")
    for tp in obj.TemplatedPolicies or ():
        problem = tp.variables_error()
        if problem is not None:
            raise BadRequest(f'validation error for templated policy "{tp.TemplateName}": '
                             f"{problem}")
        base = TEMPLATED_POLICIES[tp.TemplateName]
        tp.TemplateID = base.TemplateID


def token_for_create(store: Store, token: ACLToken, now: datetime) -> ACLToken:
    """A new token from a create request: IDs, CreateTime and expiry filled in."""
    if token.AccessorID:
        _token_id(store, token.AccessorID, "AccessorID")
    else:
        token.AccessorID = new_id(lambda v: store.acl_tokens.get(v) is not None)
    if token.SecretID:
        _token_id(store, token.SecretID, "SecretID")
    else:
        token.SecretID = new_id(lambda v: store.acl_tokens.has("secret", v))
    token.CreateTime = now
    if token.ExpirationTTL is not UNSET:
        if token.ExpirationTTL < 0:
            raise BadRequest(f"Token Expiration TTL '{format_duration(token.ExpirationTTL)}' "
                             "should be > 0")
        if token.ExpirationTime is not UNSET:
            raise BadRequest("Token Expiration TTL and Expiration Time cannot both be set")
        token.ExpirationTime = now + timedelta(microseconds=token.ExpirationTTL // 1000)
        token.ExpirationTTL = UNSET
    if token.ExpirationTime is not UNSET:
        expires = token.ExpirationTime
        if expires.tzinfo is None:
            raise BadRequest("ExpirationTime must carry a time zone")
        if expires < now:
            raise BadRequest("ExpirationTime cannot be before CreateTime")
        expires_in = (expires - now) // timedelta(microseconds=1) * 1000
        if expires_in > MAX_EXPIRATION_TTL_NS:
            raise BadRequest(f"ExpirationTime cannot be more than "
                             f"{format_duration(MAX_EXPIRATION_TTL_NS)} in the future "
                             f"(was {format_duration(expires_in)})")
        if expires - now < MIN_EXPIRATION_TTL:
            raise BadRequest(f"ExpirationTime cannot be less than "
                             f"{format_duration(int(MIN_EXPIRATION_TTL.total_seconds() * 1e9))}"
                             f" in the future (was {format_duration(expires_in)})")
    if token.AuthMethod is not UNSET:
        raise BadRequest("AuthMethod field is disallowed outside of login")
    return _finish_token(store, token)


def token_for_update(store: Store, token: ACLToken) -> ACLToken:
    """An updated token: what may not change is checked against the stored one."""
    if not is_uuid(token.AccessorID):
        raise BadRequest("AccessorID is not a valid UUID")
    if token.SecretID in ROOT_TOKEN_NAMES:
        raise Forbidden("Permission denied: Cannot modify root ACL")
    existing = store.acl_tokens.get(token.AccessorID)
    if existing is None:
        raise BadRequest(f'Cannot find token "{token.AccessorID}"')
    if not token.SecretID:
        token.SecretID = existing.SecretID
    elif token.SecretID != existing.SecretID:
        raise BadRequest("Changing a token's SecretID is not permitted")
    if token.Local != existing.Local:
        raise BadRequest(f"Cannot toggle local mode of {token.AccessorID}")
    if token.AuthMethod is UNSET:
        token.AuthMethod = existing.AuthMethod
    elif token.AuthMethod != existing.AuthMethod:
        raise BadRequest(f"Cannot change AuthMethod of {token.AccessorID}")
    if token.ExpirationTTL is not UNSET or (
            token.ExpirationTime is not UNSET and token.ExpirationTime != existing.ExpirationTime):
        raise BadRequest(f"Cannot change expiration time of {token.AccessorID}")
    token.ExpirationTime = existing.ExpirationTime
    token.CreateTime = existing.CreateTime
    return _finish_token(store, token)


def _finish_token(store: Store, token: ACLToken) -> ACLToken:
    token.Policies = _links(store, token.Policies, "policy") or UNSET
    token.Roles = _links(store, token.Roles, "role") or UNSET
    _identities(token, "token")
    token.Namespace = token.Partition = token.AuthMethodNamespace = UNSET
    token.set_hash()
    return token


def policy_for_set(store: Store, policy: ACLPolicy) -> ACLPolicy:
    """A policy to store: new ID or the existing one's, a valid name and parsable rules;
    the built-ins keep their rules and datacenters."""
    if not policy.ID:
        policy.ID = new_id(lambda v: store.acl_policies.get(v) is not None)
    else:
        if not is_uuid(policy.ID):
            raise BadRequest("Policy ID invalid UUID")
        existing = store.acl_policies.get(policy.ID)
        if existing is None:
            raise BadRequest(f"cannot find policy {policy.ID}")
        builtin = builtin_policies().get(policy.ID)
        if builtin is not None:
            if policy.Rules != existing.Rules:
                raise BadRequest(f"Changing the Rules for the builtin {builtin.Name} policy is "
                                 "not permitted")
            if policy.Datacenters:
                raise BadRequest(f"Changing the Datacenters of the builtin {builtin.Name} "
                                 "policy is not permitted")
    builtin_name = policy.ID in (GLOBAL_MANAGEMENT_POLICY_ID, GLOBAL_READ_ONLY_POLICY_ID)
    problem = None if builtin_name and policy.Name else policy_name_error(policy.Name)
    if problem is not None:
        raise BadRequest(problem)
    named = store.acl_policies.by("name", policy.Name)
    if named and named[0].ID != policy.ID:
        raise BadRequest(f'Invalid Policy: A Policy with Name "{policy.Name}" already exists')
    try:
        parse_rules(policy.Rules)
    except RulesError as err:
        raise BadRequest(str(err)) from None
    policy.Namespace = policy.Partition = UNSET
    policy.set_hash()
    return policy


def role_for_set(store: Store, role: ACLRole) -> ACLRole:
    if not role.ID:
        role.ID = new_id(lambda v: store.acl_roles.get(v) is not None)
    elif not is_uuid(role.ID):
        raise BadRequest("Role ID invalid UUID")
    elif store.acl_roles.get(role.ID) is None:
        raise BadRequest(f"cannot find role {role.ID}")
    if not role.Name:
        raise BadRequest("Invalid Role: no Name is set")
    if not is_valid_role_name(role.Name):
        raise BadRequest("Invalid Role: invalid Name. Only alphanumeric characters, '-' and "
                         "'_' are allowed")
    named = store.acl_roles.by("name", role.Name)
    if named and named[0].ID != role.ID:
        raise BadRequest(f'Invalid Role: A Role with Name "{role.Name}" already exists')
    role.Policies = _links(store, role.Policies, "policy") or UNSET
    _identities(role, "role")
    role.Namespace = role.Partition = UNSET
    role.set_hash()
    return role


def auth_method_for_set(store: Store, method: ACLAuthMethod, primary: bool) -> ACLAuthMethod:
    if not method.Name:
        raise BadRequest("Invalid Auth Method: no Name is set")
    if not is_valid_auth_method_name(method.Name):
        raise BadRequest("Invalid Auth Method: invalid Name. Only alphanumeric characters, "
                         "'-' and '_' are allowed")
    existing = store.acl_auth_methods.get(method.Name)
    if existing is not None and method.Type and method.Type != existing.Type:
        raise BadRequest("the Type field is immutable")
    if existing is not None and not method.Type:
        method.Type = existing.Type
    if method.Type not in AUTH_METHOD_TYPES:
        raise BadRequest(f'Invalid Auth Method: Type should be one of: {list(AUTH_METHOD_TYPES)}'
                         .replace("'", "").replace(",", ""))
    ttl = method.max_token_ttl_ns
    if ttl and ttl < MIN_AUTH_METHOD_TTL_NS:
        raise BadRequest(f"MaxTokenTTL {format_duration(ttl)} cannot be less than "
                         f"{format_duration(MIN_AUTH_METHOD_TTL_NS)}")
    if ttl > MAX_AUTH_METHOD_TTL_NS:
        raise BadRequest(f"MaxTokenTTL {format_duration(ttl)} cannot be more than "
                         f"{format_duration(MAX_AUTH_METHOD_TTL_NS)}")
    if method.TokenLocality not in (UNSET, "local", "global"):
        raise BadRequest("Invalid Auth Method: TokenLocality should be one of 'local' or "
                         "'global'")
    if method.TokenLocality == "global" and not primary:
        raise BadRequest("Invalid Auth Method: TokenLocality 'global' can only be used in "
                         "the primary datacenter")
    method.Namespace = method.Partition = method.NamespaceRules = UNSET
    return method


def binding_rule_for_set(store: Store, rule: ACLBindingRule) -> ACLBindingRule:
    if not rule.ID:
        rule.ID = new_id(lambda v: store.acl_binding_rules.get(v) is not None)
    elif not is_uuid(rule.ID):
        raise BadRequest("Binding Rule ID invalid UUID")
    else:
        existing = store.acl_binding_rules.get(rule.ID)
        if existing is None:
            raise BadRequest(f"cannot find binding rule {rule.ID}")
        if not rule.AuthMethod:
            rule.AuthMethod = existing.AuthMethod
        elif rule.AuthMethod != existing.AuthMethod:
            raise BadRequest("the AuthMethod field is immutable")
    if not rule.AuthMethod:
        raise BadRequest("Invalid Binding Rule: no AuthMethod is set")
    if store.acl_auth_methods.get(rule.AuthMethod) is None:
        raise BadRequest(f'Invalid Binding Rule: unknown AuthMethod "{rule.AuthMethod}"')
    if rule.BindType not in BIND_TYPES:
        raise BadRequest(f"Invalid Binding Rule: unknown BindType {rule.BindType!r}"
                         .replace("'", '"'))
    if not rule.BindName:
        raise BadRequest("Invalid Binding Rule: no BindName is set")
    if rule.Selector:
        try:
            bexpr.parse(rule.Selector)
        except bexpr.FilterError as err:
            raise BadRequest(f"invalid Binding Rule: Selector is invalid: {err}") from None
    return replace(rule, Namespace=UNSET, Partition=UNSET)
