"""serf's snapshot file format (text, append-only, one record per line).

Records: ``alive: <name> <ip:port>``, ``not-alive: <name>``, ``clock: <n>``,
``event-clock: <n>``, ``query-clock: <n>``, ``leave``, ``coordinate: ...``
(legacy, ignored) and ``# comment``.  Parsing and compaction are pure; the
driver appends lines and rewrites the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SnapshotState", "compaction_threshold"]

SNAPSHOT_BYTES_PER_NODE = 128
SNAPSHOT_COMPACTION_THRESHOLD = 2
MIN_COMPACT_SIZE = 128 * 1024


def compaction_threshold(num_alive: int) -> int:
    """File size above which serf rewrites the snapshot."""
    return max(MIN_COMPACT_SIZE,
               SNAPSHOT_COMPACTION_THRESHOLD * SNAPSHOT_BYTES_PER_NODE * num_alive)


def _parse_host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


@dataclass(slots=True)
class SnapshotState:
    """What a snapshot says: who was alive and the three Lamport clocks.

    A ``leave`` record forgets everything before it (no rejoin after a graceful
    leave) unless ``rejoin_after_leave``."""

    alive: dict[str, tuple[str, int]] = field(default_factory=dict)
    clock: int = 0
    event_clock: int = 0
    query_clock: int = 0

    @classmethod
    def parse(cls, text: str, rejoin_after_leave: bool = False) -> SnapshotState:
        state = cls()
        for raw in text.splitlines():
            state.apply(raw.strip(), rejoin_after_leave)
        return state

    def apply(self, line: str, rejoin_after_leave: bool = False) -> None:
        """Replay one record; malformed records are skipped."""
        try:
            if line.startswith("alive: "):
                name, _, addr = line[len("alive: "):].rpartition(" ")
                self.alive[name] = _parse_host_port(addr)
            elif line.startswith("not-alive: "):
                self.alive.pop(line[len("not-alive: "):], None)
            elif line.startswith("clock: "):
                self.clock = int(line[len("clock: "):])
            elif line.startswith("event-clock: "):
                self.event_clock = int(line[len("event-clock: "):])
            elif line.startswith("query-clock: "):
                self.query_clock = int(line[len("query-clock: "):])
            elif line == "leave" and not rejoin_after_leave:
                self.alive.clear()
                self.clock = self.event_clock = self.query_clock = 0
        except ValueError:
            return

    def compacted_lines(self) -> list[str]:
        """The records of a compacted snapshot with the same meaning."""
        lines = []
        for name, (host, port) in self.alive.items():
            addr = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            lines.append(f"alive: {name} {addr}")
        lines += [f"clock: {self.clock}", f"event-clock: {self.event_clock}",
                  f"query-clock: {self.query_clock}"]
        return lines
