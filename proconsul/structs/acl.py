"""ACL objects (tokens, policies, roles, auth methods, binding rules) and the built-ins.

Field names and JSON shapes are Consul's (``agent/structs/acl.go``). Go's
``omitempty`` slices and pointers are UNSET when empty, and a ``null`` sent by
a client is read as empty, as Go reads a nil slice. Enterprise-only fields
(``Namespace``, ``Partition``, ...) are accepted and dropped, as Consul CE does.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from proconsul.lib.duration import DurationError, format_duration, parse_duration
from proconsul.structs.base import UNSET, Int, Record, Uint64, UnsetType

# -- reserved IDs and names ----------------------------------------------------------

ANONYMOUS_TOKEN_ID = "00000000-0000-0000-0000-000000000002"
ANONYMOUS_TOKEN_SECRET = "anonymous"
ANONYMOUS_TOKEN_DESCRIPTION = "Anonymous Token"

GLOBAL_MANAGEMENT_POLICY_ID = "00000000-0000-0000-0000-000000000001"
GLOBAL_MANAGEMENT_POLICY_NAME = "global-management"
GLOBAL_MANAGEMENT_POLICY_DESCRIPTION = (
    "A built-in policy that grants read and write access to all Consul features"
)
GLOBAL_READ_ONLY_POLICY_ID = "00000000-0000-0000-0000-000000000002"
GLOBAL_READ_ONLY_POLICY_NAME = "builtin/global-read-only"
GLOBAL_READ_ONLY_POLICY_DESCRIPTION = (
    "A built-in policy that grants read-only access to all Consul features"
)

#: user-supplied AccessorIDs/SecretIDs/policy IDs may not start with this
RESERVED_ID_PREFIX = "00000000-0000-0000-0000-0000000000"
#: token secrets that name root authorizers and can never be used as tokens
ROOT_TOKEN_NAMES = frozenset({"allow", "deny", "manage"})
BUILTIN_NAME_PREFIX = "builtin/"

BIND_TYPES = ("service", "node", "role", "policy", "templated-policy")


def acl_id_reserved(value: str) -> bool:
    """Whether an ID falls in the space Consul keeps for built-in objects."""
    return value.startswith(RESERVED_ID_PREFIX)


def global_policy_rules(level: str) -> str:
    """The rules of global-management (``write``) or builtin/global-read-only (``read``)."""
    return _GLOBAL_RULES.replace("%s", level)


# Consul's exact text (its policies echo it and replication compares it).
_GLOBAL_RULES = """
acl = "%s"
agent_prefix "" {
\tpolicy = "%s"
}
event_prefix "" {
\tpolicy = "%s"
}
key_prefix "" {
\tpolicy = "%s"
}
keyring = "%s"
node_prefix "" {
\tpolicy = "%s"
}
operator = "%s"
mesh = "%s"
peering = "%s"
query_prefix "" {
\tpolicy = "%s"
}
service_prefix "" {
\tpolicy = "%s"
\tintentions = "%s"
}
session_prefix "" {
\tpolicy = "%s"
}"""


# -- name validation (acl/validation.go) ----------------------------------------

_IDENTITY_NAME = re.compile(r"[a-z0-9]([a-z0-9\-_]*[a-z0-9])?")
_POLICY_NAME = re.compile(r"[A-Za-z0-9\-_]+/?[A-Za-z0-9\-_]*")
_ROLE_NAME = re.compile(r"[A-Za-z0-9\-_]{1,256}")
_AUTH_METHOD_NAME = re.compile(r"[A-Za-z0-9\-_]{1,128}")


def is_valid_identity_name(name: str) -> bool:
    """Service and node identity names: lower-case alphanumerics, ``-`` and ``_``, ≤256."""
    return 0 < len(name) <= 256 and _IDENTITY_NAME.fullmatch(name) is not None


def policy_name_error(name: str) -> str | None:
    """Why ``name`` cannot name a user policy (Consul's message), or None."""
    if not 0 < len(name) <= 128:
        return "Invalid Policy: invalid Name. Length must be greater than 0 and less than 128"
    if name.startswith("/") or name.startswith(BUILTIN_NAME_PREFIX):
        return (
            "Invalid Policy: invalid Name. Names cannot be prefixed with '/' or "
            f"'{BUILTIN_NAME_PREFIX}'"
        )
    if _POLICY_NAME.fullmatch(name) is None:
        return (
            "Invalid Policy: invalid Name. Only alphanumeric characters, a single '/', "
            "'-' and '_' are allowed"
        )
    return None


def is_valid_role_name(name: str) -> bool:
    return _ROLE_NAME.fullmatch(name) is not None


def is_valid_auth_method_name(name: str) -> bool:
    return _AUTH_METHOD_NAME.fullmatch(name) is not None


# -- helpers for Go's nil-slice and duration conventions -------------------------------

ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


def _duration_ns(value: int | float | str | None | UnsetType, field: str) -> int:
    """A Go duration given as a string (``"1h"``) or integer nanoseconds."""
    if value is UNSET or value is None:
        return 0
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except DurationError as err:
            raise ValueError(f"invalid {field}: {err}") from None
    return int(value)


def _blake2b(parts: list[str]) -> bytes:
    """Consul's object hash: BLAKE2b-256 over the fields' bytes, in order."""
    digest = hashlib.blake2b(digest_size=32)
    for part in parts:
        digest.update(part.encode())
    return digest.digest()


def _identity_parts(obj: ACLToken | ACLRole) -> list[str]:
    parts: list[str] = []
    for sid in obj.ServiceIdentities or ():
        parts += [sid.ServiceName, *(sid.Datacenters or ())]
    for nid in obj.NodeIdentities or ():
        parts += [nid.NodeName, nid.Datacenter]
    for tp in obj.TemplatedPolicies or ():
        parts += [tp.TemplateID or "", tp.TemplateName or ""]
        if tp.TemplateVariables:
            parts.append(tp.TemplateVariables.name or "")
        parts += tp.Datacenters or ()
    return parts


_Stub = TypeVar("_Stub", bound=Record)


class _ACLRecord(Record):
    """Shared behaviour: drop Enterprise fields, read ``null`` slices as empty."""

    def __post_init__(self) -> None:
        for field in self.__struct_fields__:
            value = getattr(self, field)
            dropped = field in _ENTERPRISE_FIELDS
            if dropped or (field in self._omitempty and (value is None or value == [])):
                setattr(self, field, UNSET)

    _omitempty: ClassVar[frozenset[str]] = frozenset()

    def _project(self, stub_type: type[_Stub]) -> _Stub:
        """This record as ``stub_type`` (a list form holding a subset of its fields)."""
        return stub_type(**{name: getattr(self, name) for name in stub_type.__struct_fields__})


_ENTERPRISE_FIELDS = frozenset({"Namespace", "Partition", "AuthMethodNamespace", "NamespaceRules"})


# -- links and identities ---------------------------------------------------------------


class ACLLink(Record):
    """A reference to a policy or role by ``ID`` or ``Name`` (the server fills both)."""

    ID: str = ""
    Name: str = ""


ACLTokenPolicyLink = ACLLink
ACLTokenRoleLink = ACLLink
ACLRolePolicyLink = ACLLink


class ACLServiceIdentity(_ACLRecord):
    """A service identity: write on the service and its sidecar, read on the catalog."""

    ServiceName: str = ""
    Datacenters: list[str] | UnsetType = UNSET

    _omitempty = frozenset({"Datacenters"})

    def synthetic_policy(self) -> ACLPolicy:
        return ACLTemplatedPolicy(
            TemplateName=TEMPLATED_POLICY_SERVICE,
            TemplateVariables=ACLTemplatedPolicyVariables(name=self.ServiceName),
            Datacenters=self.Datacenters,
        ).synthetic_policy()


class ACLNodeIdentity(Record):
    """A node identity: write on the node (in one datacenter), read on services."""

    NodeName: str = ""
    Datacenter: str = ""

    def synthetic_policy(self) -> ACLPolicy:
        return ACLTemplatedPolicy(
            TemplateName=TEMPLATED_POLICY_NODE,
            TemplateVariables=ACLTemplatedPolicyVariables(name=self.NodeName),
            Datacenters=[self.Datacenter],
        ).synthetic_policy()


class ACLTemplatedPolicyVariables(_ACLRecord):
    """A templated policy's variables; JSON key ``name`` (Go clients send ``Name``)."""

    name: str | UnsetType = UNSET
    Name: str | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.name is UNSET and self.Name is not UNSET:
            self.name = self.Name
        self.Name = UNSET
        if self.name == "":  # Go's omitempty: an empty name is no name
            self.name = UNSET


class ACLTemplatedPolicy(_ACLRecord):
    """A templated policy attached to a token or role (``builtin/service`` + ``{name}``)."""

    TemplateID: str | UnsetType = UNSET
    TemplateName: str | UnsetType = UNSET
    TemplateVariables: ACLTemplatedPolicyVariables | UnsetType = UNSET
    Datacenters: list[str] | UnsetType = UNSET

    _omitempty = frozenset({"TemplateVariables", "Datacenters"})

    def variables_error(self) -> str | None:
        """Why the variables do not fit the template (Consul's texts), or None."""
        base = TEMPLATED_POLICIES.get(self.TemplateName or "")
        if base is None:
            return f"acl templated policy does not exist: {self.TemplateName or ''}"
        if not base.Schema:
            return None
        name = self.TemplateVariables.name if self.TemplateVariables else UNSET
        if name is UNSET:
            return "name is required"
        identity = {TEMPLATED_POLICY_SERVICE: "service", TEMPLATED_POLICY_NODE: "node"}
        kind = identity.get(self.TemplateName or "")
        if kind and not is_valid_identity_name(name):
            return (
                f'{kind} identity "{name}" has an invalid name. Only lowercase '
                "alphanumeric characters, '-' and '_' are allowed"
            )
        return None

    def rules(self) -> str:
        """The template rendered with this policy's variables."""
        base = TEMPLATED_POLICIES.get(self.TemplateName or "")
        if base is None:
            raise ValueError(f"acl templated policy does not exist: {self.TemplateName or ''}")
        name = self.TemplateVariables.name if self.TemplateVariables else UNSET
        return base.Template.replace("{{.Name}}", "" if name is UNSET else name)

    def synthetic_policy(self) -> ACLPolicy:
        """The policy Consul generates for this template (ID derived from the rules)."""
        rules = self.rules()
        # Consul's ID: the hex of the rules followed by the FNV-128a sum of no input
        # (its code appends the rules to the sum of an empty hasher).
        policy_id = rules.encode().hex() + _FNV128A_EMPTY
        policy = ACLPolicy(
            ID=policy_id,
            Name=f"synthetic-policy-{policy_id}",
            Description=f"synthetic policy generated from templated policy: {self.TemplateName}",
            Rules=rules,
            Datacenters=self.Datacenters,
        )
        policy.set_hash()
        return policy


_FNV128A_EMPTY = "6c62272e07bb014262b821756295c58d"


# -- tokens ---------------------------------------------------------------------------------


class ACLToken(_ACLRecord):
    """An ACL token as the HTTP API and the state store see it."""

    AccessorID: str = ""
    SecretID: str = ""
    Description: str = ""
    Policies: list[ACLLink] | UnsetType = UNSET
    Roles: list[ACLLink] | UnsetType = UNSET
    ServiceIdentities: list[ACLServiceIdentity] | UnsetType = UNSET
    NodeIdentities: list[ACLNodeIdentity] | UnsetType = UNSET
    TemplatedPolicies: list[ACLTemplatedPolicy] | UnsetType = UNSET
    Local: bool = False
    AuthMethod: str | UnsetType = UNSET
    ExpirationTime: datetime | UnsetType = UNSET
    #: create-only: a Go duration string or integer nanoseconds; stored as int ns
    ExpirationTTL: Int | float | str | UnsetType = UNSET
    CreateTime: datetime = ZERO_TIME
    Hash: bytes | None = None
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0
    Namespace: str | UnsetType = UNSET
    Partition: str | UnsetType = UNSET
    AuthMethodNamespace: str | UnsetType = UNSET

    _omitempty = frozenset(
        {
            "Policies",
            "Roles",
            "ServiceIdentities",
            "NodeIdentities",
            "TemplatedPolicies",
            "ExpirationTime",
        }
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        ttl = _duration_ns(self.ExpirationTTL, "ExpirationTTL")
        self.ExpirationTTL = ttl if ttl else UNSET
        if self.CreateTime is None:
            self.CreateTime = ZERO_TIME
        if self.AuthMethod == "":
            self.AuthMethod = UNSET

    def set_hash(self) -> bytes:
        """Compute, store and return the hash Consul keeps to detect changes."""
        parts = [self.Description, "local" if self.Local else "global"]
        parts += [link.ID for link in self.Policies or ()]
        parts += [link.ID for link in self.Roles or ()]
        self.Hash = _blake2b(parts + _identity_parts(self))
        return self.Hash

    def is_expired(self, now: datetime) -> bool:
        return self.ExpirationTime is not UNSET and self.ExpirationTime <= now

    def stub(self) -> ACLTokenListStub:
        """The list form (``GET /v1/acl/tokens``)."""
        return self._project(ACLTokenListStub)


class ACLTokenListStub(_ACLRecord):
    """A token in a list: the token's fields without ExpirationTTL."""

    AccessorID: str = ""
    SecretID: str = ""
    Description: str = ""
    Policies: list[ACLLink] | UnsetType = UNSET
    Roles: list[ACLLink] | UnsetType = UNSET
    ServiceIdentities: list[ACLServiceIdentity] | UnsetType = UNSET
    NodeIdentities: list[ACLNodeIdentity] | UnsetType = UNSET
    TemplatedPolicies: list[ACLTemplatedPolicy] | UnsetType = UNSET
    Local: bool = False
    AuthMethod: str | UnsetType = UNSET
    ExpirationTime: datetime | UnsetType = UNSET
    CreateTime: datetime = ZERO_TIME
    Hash: bytes | None = None
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    _omitempty = ACLToken._omitempty


# -- policies and roles ---------------------------------------------------------------------


class ACLPolicy(_ACLRecord):
    """A named set of rules (``Rules`` is kept exactly as sent, HCL or JSON)."""

    ID: str = ""
    Name: str = ""
    Description: str = ""
    Rules: str = ""
    Datacenters: list[str] | UnsetType = UNSET
    Hash: bytes | None = None
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0
    Namespace: str | UnsetType = UNSET
    Partition: str | UnsetType = UNSET

    _omitempty = frozenset({"Datacenters"})

    def set_hash(self) -> bytes:
        """Compute, store and return the hash Consul keeps to detect changes."""
        self.Hash = _blake2b([self.Name, self.Description, self.Rules, *(self.Datacenters or ())])
        return self.Hash

    def applies_in(self, datacenter: str) -> bool:
        """Whether the policy is in force in ``datacenter`` (no Datacenters = everywhere)."""
        return not self.Datacenters or datacenter in self.Datacenters

    def stub(self) -> ACLPolicyListStub:
        """The list form (``GET /v1/acl/policies``)."""
        return self._project(ACLPolicyListStub)


class ACLPolicyListStub(_ACLRecord):
    """A policy in a list: everything but the Rules."""

    ID: str = ""
    Name: str = ""
    Description: str = ""
    Datacenters: list[str] | UnsetType = UNSET
    Hash: bytes | None = None
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    _omitempty = frozenset({"Datacenters"})


class ACLRole(_ACLRecord):
    """A named bundle of policies, identities and templated policies."""

    ID: str = ""
    Name: str = ""
    Description: str = ""
    Policies: list[ACLLink] | UnsetType = UNSET
    ServiceIdentities: list[ACLServiceIdentity] | UnsetType = UNSET
    NodeIdentities: list[ACLNodeIdentity] | UnsetType = UNSET
    TemplatedPolicies: list[ACLTemplatedPolicy] | UnsetType = UNSET
    Hash: bytes | None = None
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0
    Namespace: str | UnsetType = UNSET
    Partition: str | UnsetType = UNSET

    _omitempty = frozenset({"Policies", "ServiceIdentities", "NodeIdentities", "TemplatedPolicies"})

    def set_hash(self) -> bytes:
        """Compute, store and return the hash Consul keeps to detect changes."""
        parts = [self.Name, self.Description, *(link.ID for link in self.Policies or ())]
        self.Hash = _blake2b(parts + _identity_parts(self))
        return self.Hash


# -- auth methods and binding rules -----------------------------------------------------


class ACLAuthMethod(_ACLRecord):
    """A login method (jwt, kubernetes, ...); ``MaxTokenTTL`` reads as a duration
    string or nanoseconds and is written back as Go formats it (``"10m0s"``)."""

    Name: str = ""
    Type: str = ""
    DisplayName: str | UnsetType = UNSET
    Description: str | UnsetType = UNSET
    MaxTokenTTL: Int | float | str | UnsetType = UNSET
    TokenLocality: str | UnsetType = UNSET
    Config: dict[str, Any] | None = None
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0
    NamespaceRules: list[Any] | UnsetType = UNSET
    Namespace: str | UnsetType = UNSET
    Partition: str | UnsetType = UNSET

    def __post_init__(self) -> None:
        super().__post_init__()
        ttl = _duration_ns(self.MaxTokenTTL, "MaxTokenTTL")
        self.MaxTokenTTL = format_duration(ttl) if ttl else UNSET
        for field in ("DisplayName", "Description", "TokenLocality"):
            if getattr(self, field) == "":
                setattr(self, field, UNSET)

    @property
    def max_token_ttl_ns(self) -> int:
        return _duration_ns(self.MaxTokenTTL, "MaxTokenTTL")


class ACLBindingRule(_ACLRecord):
    """Maps a verified login identity (selected by ``Selector``) to what its token gets."""

    ID: str = ""
    Description: str = ""
    AuthMethod: str = ""
    Selector: str = ""
    BindType: str = ""
    BindName: str = ""
    BindVars: ACLTemplatedPolicyVariables | UnsetType = UNSET
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0
    Namespace: str | UnsetType = UNSET
    Partition: str | UnsetType = UNSET

    _omitempty = frozenset({"BindVars"})


class ACLReplicationStatus(Record):
    """``GET /v1/acl/replication``."""

    Enabled: bool = False
    Running: bool = False
    SourceDatacenter: str = ""
    ReplicationType: str = ""
    ReplicatedIndex: Uint64 = 0
    ReplicatedRoleIndex: Uint64 = 0
    ReplicatedTokenIndex: Uint64 = 0
    LastSuccess: datetime = ZERO_TIME
    LastError: datetime = ZERO_TIME
    LastErrorMessage: str = ""


# -- built-in policies ---------------------------------------------------------------


def builtin_policies() -> dict[str, ACLPolicy]:
    """The policies every cluster has (by ID), before indexes and hashes are set."""
    return {
        GLOBAL_MANAGEMENT_POLICY_ID: ACLPolicy(
            ID=GLOBAL_MANAGEMENT_POLICY_ID,
            Name=GLOBAL_MANAGEMENT_POLICY_NAME,
            Description=GLOBAL_MANAGEMENT_POLICY_DESCRIPTION,
            Rules=global_policy_rules("write"),
        ),
        GLOBAL_READ_ONLY_POLICY_ID: ACLPolicy(
            ID=GLOBAL_READ_ONLY_POLICY_ID,
            Name=GLOBAL_READ_ONLY_POLICY_NAME,
            Description=GLOBAL_READ_ONLY_POLICY_DESCRIPTION,
            Rules=global_policy_rules("read"),
        ),
    }


# -- templated policies (agent/structs/acltemplatedpolicy, CE set) ----------------------------

TEMPLATED_POLICY_SERVICE = "builtin/service"
TEMPLATED_POLICY_NODE = "builtin/node"
TEMPLATED_POLICY_DNS = "builtin/dns"
TEMPLATED_POLICY_NOMAD_SERVER = "builtin/nomad-server"
TEMPLATED_POLICY_API_GATEWAY = "builtin/api-gateway"
TEMPLATED_POLICY_NOMAD_CLIENT = "builtin/nomad-client"


class ACLTemplatedPolicyBase(Record):
    """A template as ``GET /v1/acl/templated-policies`` lists it (plus its fixed ID)."""

    TemplateName: str
    Schema: str
    Template: str
    Description: str
    TemplateID: str | UnsetType = UNSET

    def response(self) -> ACLTemplatedPolicyBase:
        """The API form (no TemplateID)."""
        return ACLTemplatedPolicyBase(
            TemplateName=self.TemplateName,
            Schema=self.Schema,
            Template=self.Template,
            Description=self.Description,
        )


_NAME_SCHEMA = """{
\t"type": "object",
\t"properties": {
\t\t"name": { "type": "string", "$ref": "#/definitions/min-length-one" }
\t},
\t"required": ["name"],
\t"definitions": {
\t\t"min-length-one": {
\t\t\t\t"type": "string",
\t\t\t\t"minLength": 1
\t\t}
\t}
}"""

_SERVICE_TEMPLATE = """
service "{{.Name}}" {
\tpolicy = "write"
}
service "{{.Name}}-sidecar-proxy" {
\tpolicy = "write"
}
service_prefix "" {
\tpolicy = "read"
}
node_prefix "" {
\tpolicy = "read"
}"""

_NODE_TEMPLATE = """
node "{{.Name}}" {
\tpolicy = "write"
}
service_prefix "" {
\tpolicy = "read"
}"""

_DNS_TEMPLATE = """
node_prefix "" {
\tpolicy = "read"
}
service_prefix "" {
\tpolicy = "read"
}
query_prefix "" {
\tpolicy = "read"
}"""

_NOMAD_SERVER_TEMPLATE = """
acl = "write"
agent_prefix "" {
  policy = "read"
}
node_prefix "" {
  policy = "read"
}
service_prefix "" {
  policy = "write"
}"""

_API_GATEWAY_TEMPLATE = """mesh = "read"
node_prefix "" {
\tpolicy = "read"
}
service_prefix "" {
\tpolicy = "read"
}
service "{{.Name}}" {
\tpolicy = "write"
}"""

_NOMAD_CLIENT_TEMPLATE = """agent_prefix "" {
  policy = "read"
}
node_prefix "" {
  policy = "read"
}
service_prefix "" {
  policy = "write"
}
key_prefix "" {
  policy = "read"
}"""

TEMPLATED_POLICIES: dict[str, ACLTemplatedPolicyBase] = {
    base.TemplateName: base
    for base in (
        ACLTemplatedPolicyBase(
            TemplateID="00000000-0000-0000-0000-000000000003",
            TemplateName=TEMPLATED_POLICY_SERVICE,
            Schema=_NAME_SCHEMA,
            Template=_SERVICE_TEMPLATE,
            Description=(
                "Gives the token or role permissions to register a service and discover "
                "services in the Consul catalog. It also gives the specified service's sidecar "
                "proxy the permission to discover and route traffic to other services."
            ),
        ),
        ACLTemplatedPolicyBase(
            TemplateID="00000000-0000-0000-0000-000000000004",
            TemplateName=TEMPLATED_POLICY_NODE,
            Schema=_NAME_SCHEMA,
            Template=_NODE_TEMPLATE,
            Description=(
                "Gives the token or role permissions for a register an agent/node into the "
                "catalog. A node is typically a consul agent but can also be a physical server, "
                "cloud instance or a container."
            ),
        ),
        ACLTemplatedPolicyBase(
            TemplateID="00000000-0000-0000-0000-000000000005",
            TemplateName=TEMPLATED_POLICY_DNS,
            Schema="",
            Template=_DNS_TEMPLATE,
            Description=(
                "Gives the token or role permissions for the Consul DNS to query services in "
                "the network."
            ),
        ),
        ACLTemplatedPolicyBase(
            TemplateID="00000000-0000-0000-0000-000000000006",
            TemplateName=TEMPLATED_POLICY_NOMAD_SERVER,
            Schema="",
            Template=_NOMAD_SERVER_TEMPLATE,
            Description=(
                "Gives the token or role permissions required for integration with a nomad server."
            ),
        ),
        ACLTemplatedPolicyBase(
            TemplateID="00000000-0000-0000-0000-000000000008",
            TemplateName=TEMPLATED_POLICY_API_GATEWAY,
            Schema=_NAME_SCHEMA,
            Template=_API_GATEWAY_TEMPLATE,
            Description="Gives the token or role permissions for a Consul api gateway",
        ),
        ACLTemplatedPolicyBase(
            TemplateID="00000000-0000-0000-0000-000000000009",
            TemplateName=TEMPLATED_POLICY_NOMAD_CLIENT,
            Schema="",
            Template=_NOMAD_CLIENT_TEMPLATE,
            Description=(
                "Gives the token or role permissions required for integration with a nomad client."
            ),
        ),
    )
}
