"""Legacy intentions (Consul's agent/structs/intention.go): one source → one destination.

Since Consul 1.9 intentions are stored as ``service-intentions`` config
entries; an :class:`Intention` is the view the ``/v1/connect/intentions`` API
shows of one source of such an entry (:func:`from_source`), and a legacy
write is turned back into an entry with :meth:`Intention.to_config_entry`.
"""

from __future__ import annotations

import datetime
import hashlib
import struct

import msgspec

from proconsul.structs.base import UNSET, Int, Record, Uint64, UnsetType
from proconsul.structs.config_entries.base import (
    META_KEY_MAX,
    META_MAX_PAIRS,
    META_VALUE_MAX,
    WILDCARD,
    ConfigEntryError,
)
from proconsul.structs.config_entries.intentions import (
    ACTION_ALLOW,
    ACTION_DENY,
    DEFAULT_NAMESPACE,
    SOURCE_TYPE_CONSUL,
    IntentionJWTRequirement,
    IntentionPermission,
    ServiceIntentionsConfigEntry,
    SourceIntention,
    precedence,
)
from proconsul.structs.query import QueryMeta

__all__ = [
    "IndexedIntentionMatches",
    "IndexedIntentions",
    "Intention",
    "IntentionDecisionSummary",
    "IntentionMatchEntry",
    "IntentionQueryCheck",
    "IntentionQueryExact",
    "from_source",
    "sort_key",
]

MATCH_SOURCE = "source"
MATCH_DESTINATION = "destination"


class Intention(Record, kw_only=True):
    """One source → destination rule as the legacy intentions API shows it."""

    CreatedAt: datetime.datetime | UnsetType = UNSET
    UpdatedAt: datetime.datetime | UnsetType = UNSET
    ID: str | UnsetType = UNSET
    Description: str | UnsetType = UNSET
    SourceNS: str = ""
    SourceName: str = ""
    DestinationNS: str = ""
    DestinationName: str = ""
    SourcePartition: str | UnsetType = UNSET
    DestinationPartition: str | UnsetType = UNSET
    SourcePeer: str | UnsetType = UNSET
    SourceSamenessGroup: str | UnsetType = UNSET
    SourceType: str = ""
    Action: str | UnsetType = UNSET
    Permissions: list[IntentionPermission] | UnsetType = UNSET
    JWT: IntentionJWTRequirement | None | UnsetType = UNSET
    DefaultAddr: str | UnsetType = UNSET
    DefaultPort: Int | UnsetType = UNSET
    Meta: dict[str, str] | UnsetType = UNSET
    Precedence: Int = 0
    Hash: bytes | UnsetType = UNSET
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    def update_precedence(self) -> None:
        """Consul's UpdatePrecedence: 9..1 from the exactness of both ends."""
        self.Precedence = precedence(self.DestinationName, self.SourceName,
                                     self.DestinationNS, self.SourceNS)

    def set_hash(self) -> None:
        """The legacy content hash (BLAKE2b-256 over the user-set fields, as Consul)."""
        h = hashlib.blake2b(digest_size=32)
        for part in (self.ID, self.Description, self.SourceNS, self.SourceName,
                     self.DestinationNS, self.DestinationName, self.SourceType, self.Action):
            h.update((part or "").encode())
        h.update(struct.pack("<Q", self.Precedence & 0xFFFF_FFFF_FFFF_FFFF))
        for key in sorted(self.Meta or {}):
            h.update(key.encode())
            h.update(self.Meta[key].encode())  # type: ignore[index]
        self.Hash = h.digest()

    def validate(self) -> None:
        """Consul's Intention.Validate for the legacy API; all problems in one error."""
        errors = [f"{f} must be set" for f in ("SourceNS", "SourceName", "DestinationNS",
                                               "DestinationName") if not getattr(self, f)]
        for side in ("Source", "Destination"):
            ns, name = getattr(self, side + "NS"), getattr(self, side + "Name")
            if ns != WILDCARD and WILDCARD in ns:
                errors.append(f"{side}NS: wildcard character '*' cannot be used with partial values")
            if name != WILDCARD:
                if WILDCARD in name:
                    errors.append(
                        f"{side}Name: wildcard character '*' cannot be used with partial values")
                if ns == WILDCARD:
                    errors.append(f"{side}Name: exact value cannot follow wildcard namespace")
        if len(self.Description or "") > META_VALUE_MAX:
            errors.append(f"Description exceeds maximum length {META_VALUE_MAX}")
        meta = self.Meta or {}
        if len(meta) > META_MAX_PAIRS:
            errors.append(f"Meta exceeds maximum element count {META_MAX_PAIRS}")
        for k, v in meta.items():
            if len(k) > META_KEY_MAX:
                errors.append(f'Meta key "{k}" exceeds maximum length {META_KEY_MAX}')
            if len(v) > META_VALUE_MAX:
                errors.append(f'Meta value for key "{k}" exceeds maximum length {META_VALUE_MAX}')
        if self.Action not in (ACTION_ALLOW, ACTION_DENY):
            errors.append("Action must be set to 'allow' or 'deny'")
        if self.Permissions:
            errors.append("Permissions must not be set when using the legacy APIs")
        if self.SourceType != SOURCE_TYPE_CONSUL:
            errors.append("SourceType must be set to 'consul'")
        if len(errors) == 1:
            raise ConfigEntryError(errors[0])
        if errors:
            raise ConfigEntryError(f"{len(errors)} errors occurred: " + "; ".join(errors))

    def to_source(self, legacy: bool) -> SourceIntention:
        """This intention as a source of its destination's service-intentions entry.

        A legacy write keeps the ID, Meta and times and drops Permissions."""
        return SourceIntention(
            Name=self.SourceName,
            Action=self.Action,
            Permissions=UNSET if legacy else self.Permissions,
            LegacyID=self.ID,
            Type=self.SourceType,
            Description=self.Description,
            LegacyMeta=self.Meta,
            LegacyCreateTime=self.CreatedAt,
            LegacyUpdateTime=self.UpdatedAt,
            Peer=self.SourcePeer,
            SamenessGroup=self.SourceSamenessGroup,
        )

    def to_config_entry(self, legacy: bool) -> ServiceIntentionsConfigEntry:
        """A service-intentions entry for the destination holding just this source."""
        return ServiceIntentionsConfigEntry(Kind=ServiceIntentionsConfigEntry.KIND,
                                            Name=self.DestinationName,
                                            Sources=[self.to_source(legacy)])

    def describe(self) -> str:
        """Consul's Intention.String(), used in authorize reasons."""
        id_part = f"ID: {self.ID}, " if self.ID else ""
        src_cluster = ""
        if self.SourcePartition:
            src_cluster = f"{self.SourcePartition}/"
        if self.SourcePeer:
            src_cluster = f"peer({self.SourcePeer})/"
        if self.SourceSamenessGroup:
            src_cluster = f"sameness-group({self.SourceSamenessGroup})/"
        dst_partition = f"{self.DestinationPartition}/" if self.DestinationPartition else ""
        if self.Permissions:
            detail = f"Permissions: {len(self.Permissions)}"
        else:
            detail = "Action: " + (self.Action or "").upper()
        return (f"{src_cluster}{self.SourceNS}/{self.SourceName} => "
                f"{dst_partition}{self.DestinationNS}/{self.DestinationName} "
                f"({id_part}Precedence: {self.Precedence}, {detail})")


def from_source(entry: ServiceIntentionsConfigEntry, src: SourceIntention) -> Intention:
    """The legacy view of one source of an entry (Consul's ToIntention)."""
    legacy = bool(src.LegacyID)
    ixn = Intention(
        ID=src.LegacyID or UNSET,
        Description=src.Description or UNSET,
        SourcePeer=src.Peer or UNSET,
        SourceSamenessGroup=src.SamenessGroup or UNSET,
        SourceNS=DEFAULT_NAMESPACE,
        SourceName=src.Name,
        SourceType=src.Type,
        JWT=entry.JWT or UNSET,
        Action=src.Action or UNSET,
        Permissions=src.Permissions or UNSET,
        Meta=(src.LegacyMeta if legacy else entry.Meta) or UNSET,
        Precedence=src.Precedence,
        DestinationNS=DEFAULT_NAMESPACE,
        DestinationName=entry.Name,
        CreatedAt=src.LegacyCreateTime or UNSET,
        UpdatedAt=src.LegacyUpdateTime or UNSET,
        CreateIndex=entry.CreateIndex,
        ModifyIndex=entry.ModifyIndex,
    )
    if legacy:
        ixn.set_hash()
    return ixn


def sort_key(ixn: Intention) -> tuple:
    """Consul's precedence order: higher precedence first, then the canonical tuple."""
    return (-ixn.Precedence, ixn.SourceSamenessGroup or "", ixn.SourcePeer or "",
            ixn.SourcePartition or "", ixn.SourceNS, ixn.SourceName,
            ixn.DestinationPartition or "", ixn.DestinationNS, ixn.DestinationName)


class IntentionMatchEntry(Record):
    """One name to match (``/match?by=...&name=``)."""

    Partition: str | UnsetType = UNSET
    Namespace: str = ""
    Name: str = ""


class IntentionQueryExact(Record):
    """The four names of ``/v1/connect/intentions/exact``."""

    SourceNS: str = ""
    SourceName: str = ""
    DestinationNS: str = ""
    DestinationName: str = ""
    SourcePartition: str | UnsetType = UNSET
    DestinationPartition: str | UnsetType = UNSET
    SourcePeer: str | UnsetType = UNSET
    SourceSamenessGroup: str | UnsetType = UNSET

    def validate(self) -> None:
        missing = [f"{f} is missing" for f in ("SourceNS", "SourceName", "DestinationNS",
                                               "DestinationName") if not getattr(self, f)]
        if len(missing) == 1:
            raise ConfigEntryError(missing[0])
        if missing:
            raise ConfigEntryError(f"{len(missing)} errors occurred: " + "; ".join(missing))


class IntentionQueryCheck(Record):
    """``/v1/connect/intentions/check``: may this exact source reach this destination?"""

    SourceNS: str = ""
    SourceName: str = ""
    DestinationNS: str = ""
    DestinationName: str = ""
    SourcePartition: str | UnsetType = UNSET
    DestinationPartition: str | UnsetType = UNSET
    SourceType: str = ""


class IntentionDecisionSummary(Record):
    """What the intentions say about one source → destination pair."""

    Allowed: bool = False
    HasPermissions: bool = False
    ExternalSource: str = ""
    HasExact: bool = False
    DefaultAllow: bool = False


class IndexedIntentions(QueryMeta, kw_only=True):
    Intentions: list[Intention] = msgspec.field(default_factory=list)


class IndexedIntentionMatches(QueryMeta, kw_only=True):
    Matches: list[list[Intention]] = msgspec.field(default_factory=list)
