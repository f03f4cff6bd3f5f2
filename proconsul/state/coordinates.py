"""Network coordinates of catalog nodes."""

from __future__ import annotations

from proconsul.state.base import StoreBase, WriteTxn, lower
from proconsul.state.watch import WatchSet
from proconsul.structs.coordinate import CoordinateEntry


class CoordinateMixin(StoreBase):
    """Coordinate batches from agents; only registered nodes keep coordinates."""

    def coordinate_batch_update(self, tx: WriteTxn, updates: list[CoordinateEntry]) -> None:
        changed = False
        for entry in updates:
            if self.nodes.get(lower(entry.Node)) is None:
                continue  # the node left between the update and its commit; Consul skips it
            if self.coordinates.get((lower(entry.Node), entry.Segment)) != entry:
                self.coordinates.put(entry, tx.undo)
                tx.touch(("node_coordinates", lower(entry.Node)))
                changed = True
        if changed:
            tx.bump("coordinates")

    def delete_node_coordinates(self, tx: WriteTxn, node: str) -> None:
        doomed = self.coordinates.by("node", lower(node))
        for entry in doomed:
            self.coordinates.delete((lower(entry.Node), entry.Segment), tx.undo)
        if doomed:
            tx.bump("coordinates")
            tx.touch(("node_coordinates", lower(node)))

    def list_coordinates(self, ws: WatchSet | None) -> tuple[int, list[CoordinateEntry]]:
        if ws is not None:
            ws.add(("index", "coordinates"))
        return self.max_index("coordinates"), list(self.coordinates.rows())

    def node_coordinates(self, ws: WatchSet | None, node: str
                         ) -> tuple[int, list[CoordinateEntry]]:
        if ws is not None:
            ws.add(("node_coordinates", lower(node)))
        return self.max_index("coordinates"), self.coordinates.by("node", lower(node))
