"""Request and reply shapes of the ConfigEntry, DiscoveryChain and Intention endpoints.

Entries cross the wire (and the raft log) as their own plain encoding -- a
dict with Consul's field names -- and are typed again with
:func:`proconsul.structs.config_entries.load` where they are used.
"""

from __future__ import annotations

import datetime
from typing import Any

import msgspec

from proconsul.structs.base import Int, Record
from proconsul.structs.config_entries import Entry
from proconsul.structs.config_entries.intentions import ServiceIntentionsConfigEntry
from proconsul.structs.discovery_chain import CompiledDiscoveryChain
from proconsul.structs.intention import Intention
from proconsul.structs.query import QueryMeta, QueryOptions

OP_UPSERT = "upsert"
OP_UPSERT_CAS = "upsert-cas"
OP_DELETE = "delete"
OP_DELETE_CAS = "delete-cas"
UPSERT_OPS = (OP_UPSERT, OP_UPSERT_CAS)
DELETE_OPS = (OP_DELETE, OP_DELETE_CAS)

INTENTION_OP_CREATE = "create"
INTENTION_OP_UPDATE = "update"
INTENTION_OP_UPSERT = "upsert"
INTENTION_OP_DELETE = "delete"


def entry_payload(entry: msgspec.Struct) -> dict[str, Any]:
    """An entry as the plain dict requests and replies carry (times and bytes kept typed)."""
    return msgspec.to_builtins(entry, builtin_types=(datetime.datetime, bytes))


def prepare(entry: Entry, legacy: bool = False) -> Entry:
    """Normalize and validate ``entry`` as a user write (``legacy``: an intentions-API write)."""
    if isinstance(entry, ServiceIntentionsConfigEntry):
        entry.normalize(legacy=legacy)
        entry.validate(legacy=legacy)
    else:
        entry.normalize()
        entry.validate()
    return entry


class ConfigEntryRequest(Record):
    """ConfigEntry.Apply / ConfigEntry.Delete, and the raft command (type 22).

    ``Legacy`` marks a service-intentions entry written through the legacy
    intentions API, whose legacy fields normalization keeps."""

    Op: str = OP_UPSERT
    Datacenter: str = ""
    Entry: dict[str, Any] = {}
    Token: str = ""
    Legacy: bool = False


class ConfigEntryQuery(QueryOptions):
    """ConfigEntry.Get (Kind and Name) and ConfigEntry.List (Kind, or all kinds)."""

    Kind: str = ""
    Name: str = ""
    Datacenter: str = ""


class ConfigEntryListAllRequest(QueryOptions):
    """ConfigEntry.ListAll: every entry of the given kinds (Consul's 1.8 kinds when empty)."""

    Kinds: list[str] = []
    Datacenter: str = ""


class ConfigEntryResponse(QueryMeta):
    Entry: dict[str, Any] | None = None


class IndexedConfigEntries(QueryMeta):
    Kind: str = ""
    Entries: list[dict[str, Any]] = []


class ConfigEntryDeleteResponse(Record):
    Deleted: bool = False


class MeshGatewayOverride(Record):
    Mode: str = ""


class DiscoveryChainRequest(QueryOptions):
    """DiscoveryChain.Get: compile a service's chain, with the POST overrides."""

    Name: str = ""
    EvaluateInDatacenter: str = ""
    Datacenter: str = ""
    OverrideProtocol: str = ""
    OverrideConnectTimeout: Int = 0
    OverrideMeshGateway: MeshGatewayOverride = msgspec.field(default_factory=MeshGatewayOverride)


class DiscoveryChainResponse(QueryMeta):
    Chain: CompiledDiscoveryChain | None = None


class IntentionRequest(Record):
    """Intention.Apply: a legacy (by ID) or exact write of one intention."""

    Op: str = ""
    Datacenter: str = ""
    Intention: Intention | None = None
    Token: str = ""

