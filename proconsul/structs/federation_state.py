"""Federation states: each datacenter's mesh gateways as the primary keeps them
(Consul's FederationState, raft message type 30), the objects WAN federation
through mesh gateways is built on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from msgspec import field
from msgspec.structs import replace

from proconsul.structs.base import Record, Uint64
from proconsul.structs.catalog import CheckServiceNode
from proconsul.structs.query import QueryMeta, QueryOptions

FEDERATION_STATE_UPSERT = "upsert"
FEDERATION_STATE_DELETE = "delete"
ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


class FederationState(Record):
    """One datacenter's mesh gateways; ``PrimaryModifyIndex`` is the primary's
    ModifyIndex of the copy a secondary replicated (its own raft index in the primary)."""

    Datacenter: str = ""
    MeshGateways: list[CheckServiceNode] = field(default_factory=list)
    UpdatedAt: datetime = ZERO_TIME
    PrimaryModifyIndex: Uint64 = 0
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    def is_same(self, other: FederationState) -> bool:
        """Same datacenter and gateways (node, service and checks, in order);
        timestamps and indexes do not count."""
        if self.Datacenter != other.Datacenter or len(self.MeshGateways) != len(
                other.MeshGateways):
            return False
        return all(_gateway_key(a) == _gateway_key(b)
                   for a, b in zip(self.MeshGateways, other.MeshGateways, strict=True))


def _gateway_key(row: CheckServiceNode) -> tuple:
    """A gateway row without the raft indexes the catalog stamps on its parts."""
    return (_plain(row.Node), _plain(row.Service), [_plain(c) for c in row.Checks])


def _plain(record: Any) -> Any:
    return replace(record, CreateIndex=0, ModifyIndex=0)


class FederationStateRequest(Record):
    """``FederationState.Apply``, and the raft command it commits."""

    Datacenter: str = ""
    Op: str = ""
    State: FederationState | None = None
    Token: str = ""


class FederationStateQuery(QueryOptions):
    """``FederationState.Get``: the state of ``Datacenter``, asked in ``TargetDatacenter``."""

    Datacenter: str = ""
    TargetDatacenter: str = ""


class FederationStateResponse(QueryMeta):
    State: FederationState | None = None


class IndexedFederationStates(QueryMeta):
    States: list[FederationState] = field(default_factory=list)


class DatacenterIndexedCheckServiceNodes(QueryMeta):
    DatacenterNodes: dict[str, list[CheckServiceNode]] = field(default_factory=dict)
