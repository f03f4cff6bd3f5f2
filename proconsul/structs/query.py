"""Read options and response metadata shared by every read endpoint."""

from __future__ import annotations

from proconsul.structs.base import Int, Record, Uint64

DEFAULT_QUERY_TIME_NS = 300_000_000_000
MAX_QUERY_TIME_NS = 600_000_000_000
JITTER_FRACTION = 16


class QueryOptions(Record):
    """How a read is served: blocking, consistency, filtering."""

    Token: str = ""
    MinQueryIndex: Uint64 = 0
    MaxQueryTime: Int = 0
    AllowStale: bool = False
    RequireConsistent: bool = False
    UseCache: bool = False
    MaxStaleDuration: Int = 0
    Filter: str = ""


class QueryMeta(Record):
    """What a read reports back: index, leader contact, consistency used."""

    Index: Uint64 = 0
    LastContact: Int = 0
    KnownLeader: bool = False
    ConsistencyLevel: str = ""
    ResultsFilteredByACLs: bool = False
