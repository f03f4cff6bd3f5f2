"""Request and response shapes of the server endpoints (Consul's RPC structs).

Go embeds QueryOptions/QueryMeta in these; here they inherit, which flattens
the fields the same way.
"""

from __future__ import annotations

from proconsul.structs.base import Record
from proconsul.structs.catalog import (
    CheckServiceNode,
    HealthCheck,
    Node,
    NodeServiceList,
    NodeServices,
    ServiceNode,
)
from proconsul.structs.kv import DirEntry
from proconsul.structs.query import QueryMeta, QueryOptions
from proconsul.structs.session import Session
from proconsul.structs.txn import TxnError, TxnOp, TxnResult


class QuerySource(Record):
    """Where a read comes from, for ``?near`` sorting by network distance."""

    Datacenter: str = ""
    Node: str = ""


class DCSpecificRequest(QueryOptions):
    """A read scoped to a datacenter, optionally filtered by node meta."""

    Datacenter: str = ""
    NodeMetaFilters: dict[str, str] | None = None
    Source: QuerySource | None = None
    PeerName: str = ""


class NodeSpecificRequest(QueryOptions):
    """A read about one node."""

    Datacenter: str = ""
    Node: str = ""
    PeerName: str = ""


class ServiceSpecificRequest(QueryOptions):
    """A read about one service name."""

    Datacenter: str = ""
    ServiceName: str = ""
    ServiceTags: list[str] | None = None
    TagFilter: bool = False
    NodeMetaFilters: dict[str, str] | None = None
    ServiceKind: str | None = None
    ServiceAddress: str = ""
    Connect: bool = False
    Ingress: bool = False
    Source: QuerySource | None = None
    PeerName: str = ""


class ChecksInStateRequest(QueryOptions):
    """Health.ChecksInState."""

    Datacenter: str = ""
    State: str = ""
    NodeMetaFilters: dict[str, str] | None = None
    Source: QuerySource | None = None
    PeerName: str = ""


class KeyRequest(QueryOptions):
    """KVS.Get and KVS.List."""

    Datacenter: str = ""
    Key: str = ""


class KeyListRequest(QueryOptions):
    """KVS.ListKeys (Consul spells the separator field "Seperator")."""

    Datacenter: str = ""
    Prefix: str = ""
    Seperator: str = ""


class SessionSpecificRequest(QueryOptions):
    """Session.Get and Session.Renew."""

    Datacenter: str = ""
    SessionID: str = ""


class TxnReadRequest(QueryOptions):
    """Txn.Read: a transaction whose operations only read."""

    Datacenter: str = ""
    Ops: list[TxnOp] = []


class IndexedNodes(QueryMeta):
    Nodes: list[Node] = []


class IndexedServices(QueryMeta):
    Services: dict[str, list[str]] = {}


class IndexedServiceNodes(QueryMeta):
    ServiceNodes: list[ServiceNode] = []


class IndexedNodeServices(QueryMeta):
    NodeServices: NodeServices | None = None


class IndexedNodeServiceList(QueryMeta):
    NodeServices: NodeServiceList | None = None


class IndexedHealthChecks(QueryMeta):
    HealthChecks: list[HealthCheck] = []


class IndexedCheckServiceNodes(QueryMeta):
    Nodes: list[CheckServiceNode] = []


class IndexedDirEntries(QueryMeta):
    Entries: list[DirEntry] = []


class IndexedKeyList(QueryMeta):
    Keys: list[str] = []


class IndexedSessions(QueryMeta):
    Sessions: list[Session] = []


class TxnReadResponse(QueryMeta):
    Results: list[TxnResult] | None = None
    Errors: list[TxnError] | None = None
