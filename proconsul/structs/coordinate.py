"""Network coordinates (Vivaldi) as Consul's API shows them."""

from __future__ import annotations

from msgspec import field

from proconsul.structs.base import Record
from proconsul.structs.query import QueryMeta, QueryOptions

DIMENSIONALITY = 8


class Coordinate(Record):
    """A Vivaldi coordinate; distances are in seconds."""

    Vec: list[float] = field(default_factory=lambda: [0.0] * DIMENSIONALITY)
    Error: float = 1.5
    Adjustment: float = 0.0
    Height: float = 1e-5


class CoordinateEntry(Record):
    """One node's coordinate in one network segment."""

    Node: str
    Segment: str = ""
    Coord: Coordinate | None = None


class CoordinateUpdateRequest(Record):
    """Coordinate.Update: an agent reports its own coordinate."""

    Node: str
    Segment: str = ""
    Coord: Coordinate | None = None
    Datacenter: str = ""
    Token: str = ""


class CoordinateBatchRequest(Record):
    """The raft command (message type 6) that stores a batch of coordinates."""

    Updates: list[CoordinateEntry] = []


class DatacenterMap(Record):
    """WAN coordinates of the servers of one datacenter."""

    Datacenter: str
    AreaID: str = "wan"
    Coordinates: list[CoordinateEntry] = []


class IndexedCoordinates(QueryMeta):
    Coordinates: list[CoordinateEntry] = []


class CoordinateNodeRequest(QueryOptions):
    """Coordinate.Node / ListNodes."""

    Datacenter: str = ""
    Node: str = ""
