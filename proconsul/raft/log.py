"""The in-memory view of a server's Raft log.

Holds the entries after the compaction point and the metadata of the latest
snapshot. Entries up to ``trailing_logs`` before the snapshot may still be
kept, so slow followers can catch up without a snapshot.
"""

from __future__ import annotations

from proconsul.raft.messages import Entry, SnapshotMeta


class RaftLog:
    """Entries ``offset+1 .. last_index`` plus the latest snapshot's metadata.

    ``last_index`` and ``snapshot_index`` are plain attributes, kept by every change:
    they are read several times per proposal and per message, where a property costs a
    call each time.
    """

    def __init__(
        self, snapshot: SnapshotMeta | None = None, entries: list[Entry] | None = None
    ) -> None:
        self.snapshot = snapshot  # sets snapshot_index too
        self._entries: list[Entry] = list(entries or [])
        if self._entries:
            self._offset = self._entries[0].index - 1
        else:
            self._offset = snapshot.index if snapshot else 0
        if snapshot is not None and self._offset > snapshot.index:
            raise ValueError("log entries do not reach the snapshot")
        self.last_index = self._offset + len(self._entries)

    @property
    def first_index(self) -> int:
        return self._offset + 1

    @property
    def last_term(self) -> int:
        term = self.term(self.last_index)
        assert term is not None
        return term

    @property
    def snapshot(self) -> SnapshotMeta | None:
        """The latest snapshot's metadata."""
        return self._snapshot

    @snapshot.setter
    def snapshot(self, snapshot: SnapshotMeta | None) -> None:
        self._snapshot = snapshot
        self.snapshot_index = snapshot.index if snapshot else 0

    def term(self, index: int) -> int | None:
        """Term of the entry at ``index``, or None if it is unknown here."""
        position = index - self._offset - 1
        if 0 <= position < len(self._entries):
            return self._entries[position].term
        if self._snapshot is not None and index == self._snapshot.index:
            return self._snapshot.term
        if index == 0 == self._offset:
            return 0
        return None

    def entry(self, index: int) -> Entry:
        return self._entries[index - self._offset - 1]

    def slice(self, low: int, high: int) -> list[Entry]:
        """Entries ``low .. high`` inclusive (both must be held)."""
        return self._entries[low - self._offset - 1 : high - self._offset]

    def append(self, entry: Entry) -> None:
        assert entry.index == self.last_index + 1
        self._entries.append(entry)
        self.last_index = entry.index

    def extend(self, entries: list[Entry]) -> None:
        """Append ``entries``, whose indexes follow on from :attr:`last_index`."""
        self._entries.extend(entries)
        self.last_index = self._offset + len(self._entries)

    def replace_from(self, entries: list[Entry]) -> None:
        """Drop every entry at or after ``entries[0].index`` and append ``entries``."""
        start = entries[0].index
        assert self.first_index <= start <= self.last_index + 1
        del self._entries[start - self._offset - 1 :]
        self._entries.extend(entries)
        self.last_index = self._offset + len(self._entries)

    def compact(self, through: int) -> None:
        """Forget entries up to and including ``through``."""
        if through <= self._offset:
            return
        through = min(through, self.last_index)
        del self._entries[: through - self._offset]
        self._offset = through
        self.last_index = self._offset + len(self._entries)

    def restore(self, snapshot: SnapshotMeta) -> None:
        """Replace the whole log by ``snapshot``."""
        self.snapshot = snapshot
        self._entries = []
        self._offset = self.last_index = snapshot.index
