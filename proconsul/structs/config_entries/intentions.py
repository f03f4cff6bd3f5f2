"""service-intentions: who may call one destination, at L4 (Action) or L7 (Permissions).

Precedence is computed here, on normalize, as Consul's does it: a destination
with an exact namespace and name may reach 9, one of the form ``ns/*`` 6 and
``*/*`` 3; each wildcard part of the source takes one off. Consul CE has a
single namespace (``default``), so sources and destinations differ only in
their names.
"""

from __future__ import annotations

import datetime

from proconsul.structs.base import UNSET, Int, Record, Uint64, UnsetType
from proconsul.structs.config_entries.base import (
    META_KEY_MAX,
    META_MAX_PAIRS,
    META_VALUE_MAX,
    WILDCARD,
    ConfigEntryError,
    Entry,
    collect,
    validate_meta,
)
from proconsul.structs.config_entries.chain import HTTP_METHODS

__all__ = [
    "ACTION_ALLOW",
    "ACTION_DENY",
    "IntentionHTTPHeaderPermission",
    "IntentionHTTPPermission",
    "IntentionJWTRequirement",
    "IntentionPermission",
    "ServiceIntentionsConfigEntry",
    "SourceIntention",
    "count_exact",
    "precedence",
    "wildcard_error",
]

ACTION_ALLOW = "allow"
ACTION_DENY = "deny"
SOURCE_TYPE_CONSUL = "consul"
DEFAULT_NAMESPACE = "default"


class IntentionHTTPHeaderPermission(Record):
    """A header an L7 permission matches (exactly one of the match kinds)."""

    Name: str = ""
    Present: bool | UnsetType = UNSET
    Exact: str | UnsetType = UNSET
    Prefix: str | UnsetType = UNSET
    Suffix: str | UnsetType = UNSET
    Contains: str | UnsetType = UNSET
    Regex: str | UnsetType = UNSET
    Invert: bool | UnsetType = UNSET
    IgnoreCase: bool | UnsetType = UNSET


class IntentionHTTPPermission(Record):
    """The HTTP request an L7 permission matches: one path form, headers, methods."""

    PathExact: str | UnsetType = UNSET
    PathPrefix: str | UnsetType = UNSET
    PathRegex: str | UnsetType = UNSET
    Header: list[IntentionHTTPHeaderPermission] | UnsetType = UNSET
    Methods: list[str] | UnsetType = UNSET


class IntentionJWTClaimVerification(Record):
    Path: list[str] | UnsetType = UNSET
    Value: str | UnsetType = UNSET


class IntentionJWTProvider(Record):
    Name: str | UnsetType = UNSET
    VerifyClaims: list[IntentionJWTClaimVerification] | UnsetType = UNSET


class IntentionJWTRequirement(Record):
    """JWT providers whose tokens a request must carry."""

    Providers: list[IntentionJWTProvider] | UnsetType = UNSET

    def errors(self) -> list[str]:
        return ["JWT provider name is required" for p in self.Providers or () if not p.Name]


class IntentionPermission(Record):
    """An L7 rule: allow or deny requests matching HTTP (and JWT)."""

    Action: str = ""
    HTTP: IntentionHTTPPermission | None | UnsetType = UNSET
    JWT: IntentionJWTRequirement | None | UnsetType = UNSET


class SourceIntention(Record):
    """One source of a service-intentions entry (formerly a whole Intention)."""

    Name: str = ""
    Action: str | UnsetType = UNSET
    Permissions: list[IntentionPermission] | UnsetType = UNSET
    Precedence: Int = 0
    LegacyID: str | UnsetType = UNSET
    Type: str = ""
    Description: str | UnsetType = UNSET
    LegacyMeta: dict[str, str] | UnsetType = UNSET
    LegacyCreateTime: datetime.datetime | None | UnsetType = UNSET
    LegacyUpdateTime: datetime.datetime | None | UnsetType = UNSET
    Peer: str | UnsetType = UNSET
    SamenessGroup: str | UnsetType = UNSET


def count_exact(name: str, namespace: str = DEFAULT_NAMESPACE) -> int:
    """How many of (namespace, name) are exact: 2, 1 (``ns/*``) or 0 (``*/*``)."""
    if (namespace or DEFAULT_NAMESPACE) == WILDCARD:
        return 0
    return 1 if name == WILDCARD else 2


def precedence(dest_name: str, source_name: str, dest_ns: str = DEFAULT_NAMESPACE,
               source_ns: str = DEFAULT_NAMESPACE) -> int:
    """Consul's intention precedence: 9..1, exact destinations first, then exact sources."""
    top = {2: 9, 1: 6, 0: 3}[count_exact(dest_name, dest_ns)]
    return top - (2 - count_exact(source_name, source_ns))


def wildcard_error(name: str, namespace: str = DEFAULT_NAMESPACE, peer: str = "",
                   sameness_group: str = "") -> str | None:
    """Consul's check that wildcards are whole values and never ``*`` ns with an exact name."""
    ns = namespace or DEFAULT_NAMESPACE
    if ns != WILDCARD and WILDCARD in ns:
        return "Namespace: wildcard character '*' cannot be used with partial values"
    if name != WILDCARD:
        if WILDCARD in name:
            return "Name: wildcard character '*' cannot be used with partial values"
        if ns == WILDCARD:
            return "Name: exact value cannot follow wildcard namespace"
    if WILDCARD in peer:
        return "Peer: cannot use wildcard '*' in peer"
    if WILDCARD in sameness_group:
        return "SamenessGroup: cannot use wildcard '*' in sameness group"
    return None


class ServiceIntentionsConfigEntry(Entry, kw_only=True):
    """``service-intentions``: the sources allowed or denied for one destination."""

    KIND = "service-intentions"

    Name: str = ""
    Sources: list[SourceIntention] | None = None
    JWT: IntentionJWTRequirement | None | UnsetType = UNSET
    Meta: dict[str, str] | UnsetType = UNSET
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    def normalize(self, legacy: bool = False) -> None:
        """Default source types, compute precedences and sort sources by them.

        ``legacy`` is the legacy-ID API's write: legacy fields are kept (and
        LegacyMeta made non-nil); otherwise they are cleared, except LegacyMeta
        which validate() then refuses."""
        super().normalize()
        for src in self.Sources or ():
            if not src.Type:
                src.Type = SOURCE_TYPE_CONSUL
            src.Precedence = precedence(self.Name, src.Name)
            if legacy:
                if not src.LegacyMeta:
                    src.LegacyMeta = {}
            else:
                src.LegacyID = UNSET
                src.LegacyCreateTime = UNSET
                src.LegacyUpdateTime = UNSET
            for perm in src.Permissions or ():
                http = perm.HTTP or None
                if http and http.Methods:
                    http.Methods = [m.upper() for m in http.Methods]
        if self.Sources:
            self.Sources.sort(key=lambda s: -s.Precedence)

    def has_wildcard_destination(self) -> bool:
        return self.Name == WILDCARD

    def validate(self, legacy: bool = False) -> None:
        if not self.Name:
            raise ConfigEntryError("Name is required")
        problem = wildcard_error(self.Name)
        if problem:
            raise ConfigEntryError(problem)
        jwt = self.JWT or None
        if jwt:
            collect(jwt.errors())
        if legacy:
            if self.Meta:
                raise ConfigEntryError("Meta must be omitted for legacy intention writes")
        else:
            collect(validate_meta(self.Meta or None))
        if not self.Sources:
            raise ConfigEntryError("At least one source is required")
        seen: set[tuple[str, str, str]] = set()
        for i, src in enumerate(self.Sources):
            _validate_source(i, src, legacy, self.has_wildcard_destination())
            key = (src.Peer or "", src.SamenessGroup or "", src.Name)
            if key in seen:
                if src.Peer:
                    raise ConfigEntryError(
                        f'Sources[{i}] defines peer("{src.Peer}") "{src.Name}" more than once')
                if src.SamenessGroup:
                    raise ConfigEntryError(f'Sources[{i}] defines sameness-group('
                                           f'"{src.SamenessGroup}") "{src.Name}" more than once')
                raise ConfigEntryError(f'Sources[{i}] defines "{src.Name}" more than once')
            seen.add(key)


def _validate_source(i: int, src: SourceIntention, legacy: bool, dest_wild: bool) -> None:
    def fail(message: str) -> None:
        raise ConfigEntryError(f"Sources[{i}].{message}")

    if not src.Name:
        fail("Name is required")
    problem = wildcard_error(src.Name, peer=src.Peer or "", sameness_group=src.SamenessGroup or "")
    if problem:
        fail(problem)
    if src.SamenessGroup and src.Peer:
        fail("SamenessGroup: cannot set SamenessGroup and Peer at the same time")
    if len(src.Description or "") > META_VALUE_MAX:
        fail(f"Description exceeds maximum length {META_VALUE_MAX}")
    if legacy:
        if src.Peer:
            fail("Peer cannot be set by legacy intentions")
        if src.SamenessGroup:
            fail("SamenessGroup cannot be set by legacy intentions")
        meta = src.LegacyMeta or {}
        if len(meta) > META_MAX_PAIRS:
            fail(f"Meta exceeds maximum element count {META_MAX_PAIRS}")
        for k, v in meta.items():
            if len(k) > META_KEY_MAX:
                fail(f'Meta key "{k}" exceeds maximum length {META_KEY_MAX}')
            if len(v) > META_VALUE_MAX:
                fail(f'Meta value for key "{k}" exceeds maximum length {META_VALUE_MAX}')
        if not src.LegacyCreateTime:
            fail("LegacyCreateTime must be set")
        if not src.LegacyUpdateTime:
            fail("LegacyUpdateTime must be set")
        if not src.LegacyID:
            fail("LegacyID must be set")
    else:
        if src.LegacyMeta:
            fail("LegacyMeta must be omitted")
        src.LegacyMeta = UNSET
        if src.LegacyCreateTime:
            fail("LegacyCreateTime must be omitted")
        if src.LegacyUpdateTime:
            fail("LegacyUpdateTime must be omitted")
        if src.LegacyID:
            fail("LegacyID must be omitted")
    if (legacy or not src.Permissions) and src.Action not in (ACTION_ALLOW, ACTION_DENY):
        fail("Action must be set to 'allow' or 'deny'")
    if src.Permissions and src.Action:
        fail("Action must be omitted if Permissions are specified")
    if dest_wild and src.Permissions:
        fail("Permissions cannot be specified on intentions with wildcarded destinations")
    if src.Type != SOURCE_TYPE_CONSUL:
        fail("Type must be set to 'consul'")
    for j, perm in enumerate(src.Permissions or ()):
        _validate_permission(i, j, perm)


def _validate_permission(i: int, j: int, perm: IntentionPermission) -> None:
    prefix = f"Sources[{i}].Permissions[{j}]"
    if perm.Action not in (ACTION_ALLOW, ACTION_DENY):
        raise ConfigEntryError(f"{prefix}.Action must be set to 'allow' or 'deny'")
    http = perm.HTTP or None
    if http is None:
        raise ConfigEntryError(f"{prefix}.HTTP is required")
    prefix += ".HTTP"
    path_parts = 0
    for field in ("PathExact", "PathPrefix"):
        value = getattr(http, field) or ""
        if value:
            path_parts += 1
            if not value.startswith("/"):
                raise ConfigEntryError(f"{prefix}.{field} doesn't start with '/': \"{value}\"")
    if http.PathRegex:
        path_parts += 1
    if path_parts > 1:
        raise ConfigEntryError(
            f"{prefix} should only contain at most one of PathExact, PathPrefix, or PathRegex")
    parts = path_parts
    for k, hdr in enumerate(http.Header or ()):
        if not hdr.Name:
            raise ConfigEntryError(f"{prefix}.Header[{k}] missing required Name field")
        kinds = sum(1 for f in ("Present", "Exact", "Regex", "Prefix", "Suffix", "Contains")
                    if getattr(hdr, f))
        if kinds != 1:
            raise ConfigEntryError(f"{prefix}.Header[{k}] should only contain one of Present, "
                                   "Exact, Prefix, Suffix, Contains, or Regex")
        if hdr.IgnoreCase and (hdr.Present or hdr.Regex):
            raise ConfigEntryError(f"{prefix}.Header[{k}] should set one of Exact, Prefix, "
                                   "Suffix, or Contains when using IgnoreCase")
        parts += 1
    if http.Methods:
        seen: set[str] = set()
        for method in http.Methods:
            if method not in HTTP_METHODS:
                raise ConfigEntryError(f'{prefix}.Methods contains an invalid method "{method}"')
            if method in seen:
                raise ConfigEntryError(f'{prefix}.Methods contains "{method}" more than once')
            seen.add(method)
        parts += 1
    if parts == 0:
        raise ConfigEntryError(f"{prefix} should not be empty")
    jwt = perm.JWT or None
    if jwt:
        collect(jwt.errors())
