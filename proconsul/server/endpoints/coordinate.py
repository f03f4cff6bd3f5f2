"""Coordinate.*: agents report coordinates; reads list them per node and per datacenter."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from proconsul.server import acl_filter
from proconsul.structs.coordinate import (
    CoordinateBatchRequest,
    CoordinateEntry,
    CoordinateNodeRequest,
    CoordinateUpdateRequest,
    DatacenterMap,
    IndexedCoordinates,
)
from proconsul.structs.errors import BadRequest
from proconsul.structs.messages import MessageType

if TYPE_CHECKING:
    from proconsul.server.server import Server

MAX_BATCH = 128 * 5


class CoordinateEndpoint:
    """The Coordinate RPC service; updates are batched into one raft write per period."""

    NAME = "Coordinate"
    METHODS = ("Update", "ListNodes", "Node", "ListDatacenters")

    def __init__(self, server: Server) -> None:
        self.server = server
        self._pending: dict[tuple[str, str], CoordinateEntry] = {}
        self._flush_scheduled = False

    async def Update(self, req: CoordinateUpdateRequest) -> bool:
        coord = req.Coord
        if coord is None or len(coord.Vec) != 8 or not all(
                _finite(v) for v in (*coord.Vec, coord.Error, coord.Adjustment, coord.Height)):
            raise BadRequest("invalid coordinate")
        self.server.authz.resolve(req.Token).require("node_write", req.Node)
        if len(self._pending) >= MAX_BATCH:
            raise BadRequest("Coordinate update rate limit exceeded, increase SyncCoordinateRateTarget")
        self._pending[(req.Node.lower(), req.Segment)] = CoordinateEntry(
            Node=req.Node, Segment=req.Segment, Coord=coord)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_later(
                self.server.config.coordinate_update_period,
                lambda: self.server.routines.start("coordinate-flush", self._flush))
        return True

    async def _flush(self) -> None:
        updates = list(self._pending.values())
        self._pending.clear()
        self._flush_scheduled = False
        if updates:
            await self.server.raft_apply(MessageType.COORDINATE_BATCH_UPDATE,
                                         CoordinateBatchRequest(Updates=updates))

    async def ListNodes(self, req: CoordinateNodeRequest) -> IndexedCoordinates:
        ident = self.server.authz.resolve(req.Token)
        return await self.server.read_into(
            req, IndexedCoordinates(), "Coordinates", self.server.store.list_coordinates,
            acl=lambda rows, reply: acl_filter.coordinates(ident, rows, reply))

    async def Node(self, req: CoordinateNodeRequest) -> IndexedCoordinates:
        ident = self.server.authz.resolve(req.Token)
        return await self.server.read_into(
            req, IndexedCoordinates(), "Coordinates",
            lambda ws: self.server.store.node_coordinates(ws, req.Node),
            acl=lambda rows, reply: acl_filter.coordinates(ident, rows, reply))

    async def ListDatacenters(self, req: Any) -> list[DatacenterMap]:
        by_dc: dict[str, list[CoordinateEntry]] = {}
        for dc, entry in self.server.wan_coordinates():
            # Consul strips the ".<dc>" of WAN member names here.
            node = entry.Node.removesuffix(f".{dc}")
            by_dc.setdefault(dc, []).append(CoordinateEntry(Node=node, Coord=entry.Coord))
        # Nearest first, as /v1/catalog/datacenters (Consul leaves the order open).
        rank = {dc: i for i, dc in enumerate(self.server.datacenters_by_distance())}
        return [DatacenterMap(Datacenter=dc, Coordinates=entries) for dc, entries in
                sorted(by_dc.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0]))]


def _finite(value: float) -> bool:
    return value == value and abs(value) != float("inf")
