"""Applying the ACL raft commands (Consul's types 11 and 17-28) to the state store.

A batch is one write: if any item is refused, none is stored. Token sets with
``CAS`` answer whether every check-and-set held.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from proconsul.state.store import Store
from proconsul.structs.acl_rpc import (
    ACLAuthMethodBatchDeleteRequest,
    ACLAuthMethodBatchSetRequest,
    ACLBindingRuleBatchDeleteRequest,
    ACLBindingRuleBatchSetRequest,
    ACLPolicyBatchDeleteRequest,
    ACLPolicyBatchSetRequest,
    ACLRoleBatchDeleteRequest,
    ACLRoleBatchSetRequest,
    ACLTokenBatchDeleteRequest,
    ACLTokenBatchSetRequest,
    ACLTokenBootstrapRequest,
)
from proconsul.structs.messages import MessageType

Handler = Callable[[int, Any], Any]


class _CASFailed(Exception):
    """One token of a CAS batch changed meanwhile: undo the whole batch."""


def acl_handlers(store: Store) -> dict[MessageType, Handler]:
    """The FSM handlers of the ACL message types, bound to ``store``."""

    def bootstrap(index: int, req: ACLTokenBootstrapRequest) -> bool:
        with store.write(index) as tx:
            store.acl_bootstrap(tx, req.ResetIndex, req.Token)
        return True

    def token_set(index: int, req: ACLTokenBatchSetRequest) -> bool:
        try:
            with store.write(index) as tx:
                for token in req.Tokens:
                    if not store.acl_token_set(tx, token, cas=req.CAS,
                                               allow_missing_links=req.AllowMissingLinks):
                        raise _CASFailed()
        except _CASFailed:
            return False
        return True

    def token_delete(index: int, req: ACLTokenBatchDeleteRequest) -> bool:
        with store.write(index) as tx:
            store.acl_token_delete(tx, req.TokenIDs)
        return True

    def policy_set(index: int, req: ACLPolicyBatchSetRequest) -> bool:
        with store.write(index) as tx:
            for policy in req.Policies:
                store.acl_policy_set(tx, policy)
        return True

    def policy_delete(index: int, req: ACLPolicyBatchDeleteRequest) -> bool:
        with store.write(index) as tx:
            store.acl_policy_delete(tx, req.PolicyIDs)
        return True

    def role_set(index: int, req: ACLRoleBatchSetRequest) -> bool:
        with store.write(index) as tx:
            for role in req.Roles:
                store.acl_role_set(tx, role, allow_missing_links=req.AllowMissingLinks)
        return True

    def role_delete(index: int, req: ACLRoleBatchDeleteRequest) -> bool:
        with store.write(index) as tx:
            store.acl_role_delete(tx, req.RoleIDs)
        return True

    def binding_rule_set(index: int, req: ACLBindingRuleBatchSetRequest) -> bool:
        with store.write(index) as tx:
            for rule in req.BindingRules:
                store.acl_binding_rule_set(tx, rule)
        return True

    def binding_rule_delete(index: int, req: ACLBindingRuleBatchDeleteRequest) -> bool:
        with store.write(index) as tx:
            store.acl_binding_rule_delete(tx, req.BindingRuleIDs)
        return True

    def auth_method_set(index: int, req: ACLAuthMethodBatchSetRequest) -> bool:
        with store.write(index) as tx:
            for method in req.AuthMethods:
                store.acl_auth_method_set(tx, method)
        return True

    def auth_method_delete(index: int, req: ACLAuthMethodBatchDeleteRequest) -> bool:
        with store.write(index) as tx:
            store.acl_auth_method_delete(tx, req.AuthMethodNames)
        return True

    return {
        MessageType.ACL_BOOTSTRAP: bootstrap,
        MessageType.ACL_TOKEN_SET: token_set,
        MessageType.ACL_TOKEN_DELETE: token_delete,
        MessageType.ACL_POLICY_SET: policy_set,
        MessageType.ACL_POLICY_DELETE: policy_delete,
        MessageType.ACL_ROLE_SET: role_set,
        MessageType.ACL_ROLE_DELETE: role_delete,
        MessageType.ACL_BINDING_RULE_SET: binding_rule_set,
        MessageType.ACL_BINDING_RULE_DELETE: binding_rule_delete,
        MessageType.ACL_AUTH_METHOD_SET: auth_method_set,
        MessageType.ACL_AUTH_METHOD_DELETE: auth_method_delete,
    }
