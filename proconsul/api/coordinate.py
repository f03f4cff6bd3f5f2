"""``/v1/coordinate``: Consul's ``api.Coordinate`` and serf's distance estimate."""

from __future__ import annotations

import math

from proconsul.api.options import QueryMeta, QueryOptions, WriteMeta, WriteOptions


class Coordinate:
    def __init__(self, client) -> None:
        self.c = client

    def datacenters(self) -> list[dict]:
        return self.c.query("/v1/coordinate/datacenters")[0]

    def nodes(self, q: QueryOptions | None = None) -> tuple[list[dict], QueryMeta]:
        return self.c.query("/v1/coordinate/nodes", q)

    def node(self, node: str, q: QueryOptions | None = None) -> tuple[list[dict], QueryMeta]:
        return self.c.query(f"/v1/coordinate/node/{node}", q)

    def update(self, entry: dict, w: WriteOptions | None = None) -> WriteMeta:
        return self.c.write("PUT", "/v1/coordinate/update", entry, w)[1]


def distance(a: dict, b: dict) -> float:
    """Estimated RTT in seconds between two serf coordinates (``Coordinate.DistanceTo``)."""
    raw = math.dist(a["Vec"], b["Vec"]) + a["Height"] + b["Height"]
    adjusted = raw + a["Adjustment"] + b["Adjustment"]
    return adjusted if adjusted > 0 else raw
