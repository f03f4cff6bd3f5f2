"""Request and reply shapes of the ACL endpoints and the ACL raft commands (Consul's names).

The batch requests are the raft commands (message types 11 and 17-28); the
others are what ``ACL.*`` RPCs take and answer.
"""

from __future__ import annotations

from proconsul.structs.acl import (
    ACLAuthMethod,
    ACLBindingRule,
    ACLPolicy,
    ACLPolicyListStub,
    ACLRole,
    ACLToken,
    ACLTokenListStub,
)
from proconsul.structs.base import Record, Uint64
from proconsul.structs.query import QueryMeta, QueryOptions

TOKEN_ID_ACCESSOR = "accessor"
TOKEN_ID_SECRET = "secret"

# -- raft commands -----------------------------------------------------------------


class ACLTokenBootstrapRequest(Record):
    """Type 11: the bootstrap token, with the reset index when bootstrapping again."""

    Token: ACLToken
    ResetIndex: Uint64 = 0


class ACLTokenBatchSetRequest(Record):
    """Type 17."""

    Tokens: list[ACLToken] = []
    CAS: bool = False
    AllowMissingLinks: bool = False
    ProhibitUnprivileged: bool = False
    FromReplication: bool = False


class ACLTokenBatchDeleteRequest(Record):
    """Type 18."""

    TokenIDs: list[str] = []


class ACLPolicyBatchSetRequest(Record):
    """Type 19."""

    Policies: list[ACLPolicy] = []


class ACLPolicyBatchDeleteRequest(Record):
    """Type 20."""

    PolicyIDs: list[str] = []


class ACLRoleBatchSetRequest(Record):
    """Type 23."""

    Roles: list[ACLRole] = []
    AllowMissingLinks: bool = False


class ACLRoleBatchDeleteRequest(Record):
    """Type 24."""

    RoleIDs: list[str] = []


class ACLBindingRuleBatchSetRequest(Record):
    """Type 25."""

    BindingRules: list[ACLBindingRule] = []


class ACLBindingRuleBatchDeleteRequest(Record):
    """Type 26."""

    BindingRuleIDs: list[str] = []


class ACLAuthMethodBatchSetRequest(Record):
    """Type 27."""

    AuthMethods: list[ACLAuthMethod] = []


class ACLAuthMethodBatchDeleteRequest(Record):
    """Type 28."""

    AuthMethodNames: list[str] = []


# -- endpoint requests -------------------------------------------------------------------


class ACLInitialTokenBootstrapRequest(Record):
    """ACL.BootstrapTokens (``ResetIndex``: the index read from acl-bootstrap-reset)."""

    BootstrapSecret: str = ""
    ResetIndex: Uint64 = 0
    Datacenter: str = ""


class ACLTokenSetRequest(Record):
    ACLToken: ACLToken
    Create: bool = False
    Datacenter: str = ""
    Token: str = ""


class ACLTokenGetRequest(QueryOptions):
    TokenID: str = ""
    TokenIDType: str = TOKEN_ID_ACCESSOR
    Expanded: bool = False
    Datacenter: str = ""


class ACLTokenDeleteRequest(Record):
    TokenID: str = ""
    Datacenter: str = ""
    Token: str = ""


class ACLTokenListRequest(QueryOptions):
    IncludeLocal: bool = True
    IncludeGlobal: bool = True
    Policy: str = ""
    Role: str = ""
    AuthMethod: str = ""
    ServiceName: str = ""
    Datacenter: str = ""


class ACLTokenBatchGetRequest(QueryOptions):
    AccessorIDs: list[str] = []
    Datacenter: str = ""


class ACLPolicySetRequest(Record):
    Policy: ACLPolicy
    Datacenter: str = ""
    Token: str = ""


class ACLPolicyGetRequest(QueryOptions):
    PolicyID: str = ""
    PolicyName: str = ""
    Datacenter: str = ""


class ACLPolicyDeleteRequest(Record):
    PolicyID: str = ""
    Datacenter: str = ""
    Token: str = ""


class ACLPolicyListRequest(QueryOptions):
    Datacenter: str = ""


class ACLPolicyBatchGetRequest(QueryOptions):
    PolicyIDs: list[str] = []
    Datacenter: str = ""


class ACLRoleSetRequest(Record):
    Role: ACLRole
    Datacenter: str = ""
    Token: str = ""


class ACLRoleGetRequest(QueryOptions):
    RoleID: str = ""
    RoleName: str = ""
    Datacenter: str = ""


class ACLRoleDeleteRequest(Record):
    RoleID: str = ""
    Datacenter: str = ""
    Token: str = ""


class ACLRoleListRequest(QueryOptions):
    Policy: str = ""
    Datacenter: str = ""


class ACLRoleBatchGetRequest(QueryOptions):
    RoleIDs: list[str] = []
    Datacenter: str = ""


class ACLAuthMethodSetRequest(Record):
    AuthMethod: ACLAuthMethod
    Datacenter: str = ""
    Token: str = ""


class ACLAuthMethodGetRequest(QueryOptions):
    AuthMethodName: str = ""
    Datacenter: str = ""


class ACLAuthMethodDeleteRequest(Record):
    AuthMethodName: str = ""
    Datacenter: str = ""
    Token: str = ""


class ACLAuthMethodListRequest(QueryOptions):
    Datacenter: str = ""


class ACLBindingRuleSetRequest(Record):
    BindingRule: ACLBindingRule
    Datacenter: str = ""
    Token: str = ""


class ACLBindingRuleGetRequest(QueryOptions):
    BindingRuleID: str = ""
    Datacenter: str = ""


class ACLBindingRuleDeleteRequest(Record):
    BindingRuleID: str = ""
    Datacenter: str = ""
    Token: str = ""


class ACLBindingRuleListRequest(QueryOptions):
    AuthMethod: str = ""
    Datacenter: str = ""


# -- replies -----------------------------------------------------------------------------


class ACLTokenResponse(QueryMeta):
    """A token read; ``ExpandedPolicies``/``ExpandedRoles`` with ``Expanded`` or by secret."""

    Token: ACLToken | None = None
    Redacted: bool = False
    SourceDatacenter: str = ""
    ExpandedPolicies: list[ACLPolicy] | None = None
    ExpandedRoles: list[ACLRole] | None = None


class ACLTokenListResponse(QueryMeta):
    Tokens: list[ACLTokenListStub] = []


class ACLTokenBatchResponse(QueryMeta):
    Tokens: list[ACLToken] = []
    Redacted: bool = False
    Removed: bool = False


class ACLPolicyResponse(QueryMeta):
    Policy: ACLPolicy | None = None


class ACLPolicyListResponse(QueryMeta):
    Policies: list[ACLPolicyListStub] = []


class ACLPolicyBatchResponse(QueryMeta):
    Policies: list[ACLPolicy] = []


class ACLRoleResponse(QueryMeta):
    Role: ACLRole | None = None


class ACLRoleListResponse(QueryMeta):
    Roles: list[ACLRole] = []


class ACLRoleBatchResponse(QueryMeta):
    Roles: list[ACLRole] = []


class ACLAuthMethodResponse(QueryMeta):
    AuthMethod: ACLAuthMethod | None = None


class ACLAuthMethodListResponse(QueryMeta):
    AuthMethods: list[ACLAuthMethod] = []


class ACLBindingRuleResponse(QueryMeta):
    BindingRule: ACLBindingRule | None = None


class ACLBindingRuleListResponse(QueryMeta):
    BindingRules: list[ACLBindingRule] = []


# -- login / logout ------------------------------------------------------------------------


class ACLLoginParams(Record):
    """``POST /v1/acl/login`` body."""

    AuthMethod: str = ""
    BearerToken: str = ""
    Meta: dict[str, str] | None = None


class ACLLoginRequest(Record):
    Auth: ACLLoginParams | None = None
    Datacenter: str = ""


class ACLLogoutRequest(Record):
    Datacenter: str = ""
    Token: str = ""
