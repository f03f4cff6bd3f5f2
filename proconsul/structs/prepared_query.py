"""Prepared queries: the stored query, its raft command and the execute/explain shapes.

Field names are Consul's (``structs.PreparedQuery`` and friends); the JSON of a
stored query shows every field, as Consul's does.
"""

from __future__ import annotations

import re

from msgspec import field

from proconsul.structs.base import UNSET, Int, Record, Uint64, UnsetType
from proconsul.structs.catalog import CheckServiceNode
from proconsul.structs.query import QueryMeta, QueryOptions

QUERY_OP_CREATE = "create"
QUERY_OP_UPDATE = "update"
QUERY_OP_DELETE = "delete"

TEMPLATE_NAME_PREFIX_MATCH = "name_prefix_match"

ERR_QUERY_NOT_FOUND = "Query not found"
ERR_MISSING_QUERY_ID = "Missing query ID"
REDACTED_TOKEN = "<hidden>"

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_uuid(text: str) -> bool:
    """Whether ``text`` looks like a query ID (names that do are looked up as IDs first)."""
    return bool(_UUID.match(text))


class QueryTarget(Record):
    """One failover target: a datacenter or a cluster peer."""

    Peer: str = ""
    Datacenter: str = ""
    Partition: str | UnsetType = UNSET
    Namespace: str | UnsetType = UNSET


class QueryFailoverOptions(Record):
    """Where to look when the local datacenter has no healthy instance."""

    NearestN: Int = 0
    Datacenters: list[str] | None = None
    Targets: list[QueryTarget] | None = None


class ServiceQuery(Record):
    """What a query selects: a service and the filters on its instances."""

    Service: str = ""
    SamenessGroup: str = ""
    Failover: QueryFailoverOptions = field(default_factory=QueryFailoverOptions)
    OnlyPassing: bool = False
    IgnoreCheckIDs: list[str] | None = None
    Near: str = ""
    Tags: list[str] | None = None
    NodeMeta: dict[str, str] | None = None
    ServiceMeta: dict[str, str] | None = None
    Peer: str = ""
    Connect: bool = False
    Namespace: str | UnsetType = UNSET  # Enterprise; accepted, not shown unless set
    Partition: str | UnsetType = UNSET


class QueryTemplateOptions(Record):
    """Makes a query a template matching every name it prefixes."""

    Type: str = ""
    Regexp: str = ""
    RemoveEmptyTags: bool = False


class QueryDNSOptions(Record):
    """DNS settings of a query; TTL is a Go duration string."""

    TTL: str = ""


class PreparedQuery(Record):
    """A stored prepared query (or template)."""

    ID: str = ""
    Name: str = ""
    Session: str = ""
    Token: str = ""
    Template: QueryTemplateOptions = field(default_factory=QueryTemplateOptions)
    Service: ServiceQuery = field(default_factory=ServiceQuery)
    DNS: QueryDNSOptions = field(default_factory=QueryDNSOptions)
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    def is_template(self) -> bool:
        return self.Template.Type != ""

    def acl_prefix(self) -> str | None:
        """The name ACL rules on ``query`` apply to; None for an unnamed, non-template
        query (protected only by its unguessable ID)."""
        return self.Name if self.Name or self.is_template() else None


class PreparedQueryRequest(Record):
    """PreparedQuery.Apply, and the raft command (type 7)."""

    Op: str = ""
    Query: PreparedQuery | None = None
    Datacenter: str = ""
    Token: str = ""


class PreparedQuerySpecificRequest(QueryOptions):
    """PreparedQuery.Get."""

    Datacenter: str = ""
    QueryID: str = ""


class IndexedPreparedQueries(QueryMeta):
    """PreparedQuery.Get and PreparedQuery.List replies."""

    Queries: list[PreparedQuery] = []


class QuerySource(Record):
    """Who runs a query: the agent asking, or the node results are sorted near."""

    Datacenter: str = ""
    Segment: str = ""
    Node: str = ""
    NodePartition: str = ""
    Ip: str = ""


class PreparedQueryExecuteRequest(QueryOptions):
    """PreparedQuery.Execute and PreparedQuery.Explain."""

    Datacenter: str = ""
    QueryIDOrName: str = ""
    Limit: Int = 0
    Connect: bool = False
    Source: QuerySource = field(default_factory=QuerySource)
    Agent: QuerySource = field(default_factory=QuerySource)


class PreparedQueryExecuteRemoteRequest(QueryOptions):
    """PreparedQuery.ExecuteRemote: a failover run of ``Query`` in another datacenter."""

    Datacenter: str = ""
    Query: PreparedQuery = field(default_factory=PreparedQuery)
    Limit: Int = 0
    Connect: bool = False


class PreparedQueryExecuteResponse(QueryMeta):
    """The instances a query found, where, and after how many failovers."""

    Service: str = ""
    Nodes: list[CheckServiceNode] = []
    DNS: QueryDNSOptions = field(default_factory=QueryDNSOptions)
    Datacenter: str = ""
    PeerName: str = ""  # the cluster peer the instances were imported from ("" if none)
    Failovers: Int = 0


class PreparedQueryExplainResponse(QueryMeta):
    """The query a name resolves to, a template rendered for that name."""

    Query: PreparedQuery = field(default_factory=PreparedQuery)
