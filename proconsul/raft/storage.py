"""Durable Raft storage: a segmented write-ahead log, the term/vote store and snapshots.

Log segments are append-only files named after their first index, allocated
at their full size when created (as etcd's WAL does) so that an fdatasync
after an append flushes data, not a file size; zeros after the last record
mark its end. Each record is ``[u32 length][u32 crc32][msgpack entry]``. Appends are written at once but
made durable only by :meth:`SegmentedLog.sync` (``os.fdatasync``), so a driver
that persists a whole :class:`~proconsul.raft.core.Ready` -- every step since
the previous one -- pays one fsync for all of it (group commit). Opening a log
reads each segment a chunk at a time (memory bounded by the chunk, not the
segment) and drops a torn or corrupt record at the tail of the last segment,
which is what a crash during a write leaves behind.

These calls block; the asyncio driver runs them in a worker thread.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import msgspec

from proconsul.raft.config import Configuration
from proconsul.raft.core import Ready
from proconsul.raft.messages import Entry, EntryType, HardState, SnapshotMeta

_HEADER = struct.Struct("<II")
_SUFFIX = ".seg"
_entry_encoder = msgspec.msgpack.Encoder()
_entry_decoder = msgspec.msgpack.Decoder(Entry)
_END = object()  # what _SegmentReader.read finds after a segment's last record
_CHUNK = 256 << 10  # recovery reads segments this much at a time


class CorruptLogError(Exception):
    """A log segment is damaged somewhere other than at its tail."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    _fsync_dir(path.parent)


@dataclass
class _Segment:
    path: Path
    first_index: int
    offsets: list[int] = field(default_factory=list)  # byte offset of each record
    size: int = 0

    @property
    def last_index(self) -> int:
        return self.first_index + len(self.offsets) - 1


class SegmentedLog:
    """Append-only segment files holding a contiguous run of log entries."""

    def __init__(self, directory: str | os.PathLike[str], segment_bytes: int = 64 << 20) -> None:
        self._dir = Path(directory)
        self._dir.mkdir(parents=True, exist_ok=True)
        self._segment_bytes = segment_bytes
        self._segments: list[_Segment] = []
        self._entries: list[Entry] = []  # cache of every stored entry, for loading and reads
        self._file: BinaryIO | None = None
        self._fd = -1  # the file's descriptor
        self._dirty = False
        self._recover()

    # ------------------------------------------------------------------ queries

    @property
    def first_index(self) -> int:
        return self._entries[0].index if self._entries else 0

    @property
    def last_index(self) -> int:
        return self._entries[-1].index if self._entries else 0

    def entries(self) -> list[Entry]:
        return list(self._entries)

    def term(self, index: int) -> int | None:
        if self._entries and self.first_index <= index <= self.last_index:
            return self._entries[index - self.first_index].term
        return None

    def segment_count(self) -> int:
        return len(self._segments)

    # ------------------------------------------------------------------ writes

    def append(self, entries: list[Entry], sync: bool = False) -> None:
        """Write ``entries``, first removing any stored entries at or after the first of them;
        with ``sync``, then make every append so far durable (:meth:`sync`)."""
        if not entries:
            return
        start, stored = entries[0].index, self._entries
        if stored and start != stored[-1].index + 1:
            if start <= stored[-1].index:
                self._truncate_from(start)
            if stored and start != stored[-1].index + 1:
                raise ValueError(f"entry {start} does not follow {self.last_index}")
        encode, pack, crc32 = _entry_encoder.encode, _HEADER.pack, zlib.crc32
        records = []
        for entry in entries:
            payload = encode(entry)
            records.append(pack(len(payload), crc32(payload)) + payload)
        # One write per segment touched: as many records as fit go together.
        position, count, limit = 0, len(records), self._segment_bytes
        segment = self._segments[-1] if self._segments and self._file is not None else None
        while position < count:
            size = len(records[position])
            if segment is None or (segment.size and segment.size + size > limit):
                segment = self._writable_segment(entries[position].index, size)
            offsets, size, end = segment.offsets, segment.size, position
            while end < count and (end == position or size + len(records[end]) <= limit):
                offsets.append(size)
                size += len(records[end])
                end += 1
            assert self._file is not None
            data = records[position] if end == position + 1 else b"".join(records[position:end])
            written = self._file.write(data)  # unbuffered: a short write is possible
            while written < len(data):
                written += self._file.write(memoryview(data)[written:])
            segment.size = size
            position = end
            segment = None if position < count else segment
        stored.extend(entries)
        if sync:
            os.fdatasync(self._fd)
        self._dirty = not sync

    def sync(self) -> None:
        """Make every append so far durable."""
        if self._file is not None and self._dirty:
            os.fdatasync(self._fd)
        self._dirty = False

    def compact(self, through: int) -> None:
        """Delete whole segments whose entries are all at or before ``through``."""
        while len(self._segments) > 1 and self._segments[0].last_index <= through:
            segment = self._segments.pop(0)
            del self._entries[: len(segment.offsets)]
            segment.path.unlink()

    def reset(self) -> None:
        """Delete every entry (a snapshot replaced the whole log)."""
        self._close_file()
        for segment in self._segments:
            segment.path.unlink()
        self._segments = []
        self._entries = []
        _fsync_dir(self._dir)

    def close(self) -> None:
        self.sync()
        self._close_file()

    # ------------------------------------------------------------------ internals

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _writable_segment(self, index: int, record_size: int) -> _Segment:
        segment = self._segments[-1] if self._segments else None
        if segment is None or (segment.size and segment.size + record_size > self._segment_bytes):
            if self._file is not None:
                self.sync()
                self._close_file()
            segment = _Segment(self._dir / f"{index:020d}{_SUFFIX}", index)
            self._segments.append(segment)
            self._open(segment.path, "w+b")
            assert self._file is not None
            self._preallocate(self._file)
            _fsync_dir(self._dir)
        elif self._file is None:
            self._open(segment.path, "r+b")
            assert self._file is not None
            self._file.seek(segment.size)
        return segment

    def _open(self, path: Path, mode: str) -> None:
        """The segment appends go to: unbuffered, as each batch is one write anyway."""
        self._file = open(path, mode, buffering=0)  # noqa: SIM115 - kept open for appends
        self._fd = self._file.fileno()

    def _truncate_from(self, index: int) -> None:
        self.sync()
        self._close_file()
        while self._segments and self._segments[-1].first_index >= index:
            self._segments.pop().path.unlink()
        if self._segments:
            segment = self._segments[-1]
            keep = index - segment.first_index
            segment.size = segment.offsets[keep]
            del segment.offsets[keep:]
            with open(segment.path, "r+b") as file:
                file.truncate(segment.size)
                self._preallocate(file)
        del self._entries[index - self.first_index :]
        _fsync_dir(self._dir)

    def _recover(self) -> None:
        paths = sorted(self._dir.glob(f"*{_SUFFIX}"))
        for position, path in enumerate(paths):
            is_last = position == len(paths) - 1
            segment = _Segment(path, int(path.stem))
            if self._entries and segment.first_index != self.last_index + 1:
                raise CorruptLogError(f"{path.name} does not follow entry {self.last_index}")
            with open(path, "rb", buffering=0) as file:
                reader = _SegmentReader(file)
                stop = reader.read(segment.first_index, self._entries, segment.offsets)
                clean = stop is _END and (not is_last or reader.rest_is_zero())
                if not clean and not is_last:
                    raise CorruptLogError(f"damaged record at {path.name}:{reader.offset}")
                if not clean:
                    # A torn write at the tail (perhaps pages of it, after zeros): zero it.
                    with open(path, "r+b") as writable:
                        writable.truncate(reader.offset)
                        self._preallocate(writable)
            segment.size = reader.offset
            if segment.offsets:
                self._segments.append(segment)
            else:
                path.unlink()

    def _preallocate(self, file: BinaryIO) -> None:
        """Allocate the segment's full size (zeros after what is written), durably."""
        os.posix_fallocate(file.fileno(), 0, self._segment_bytes)
        os.fsync(file.fileno())


class _SegmentReader:
    """Reads one segment's records front to back, holding about one chunk of it in memory.

    Recovery streams each segment instead of reading it whole: a segment is
    allocated at its full size (64 MiB by default), mostly zeros after the last
    record, and reading it at once would cost that much memory even for an
    empty log.
    """

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._size = os.fstat(file.fileno()).st_size
        self._buffer = b""
        self._position = 0  # of the record at ``offset`` in the buffer
        self.offset = 0  # file offset of the next record to read

    def read(self, index: int, entries: list[Entry], offsets: list[int]) -> object | None:
        """Append each valid record from :attr:`offset` on (the first must be entry
        ``index``) to ``entries`` and its offset to ``offsets``; stop at the first that is
        not one. Returns ``_END`` if zeros stand where a header should (after the last
        record), None if the record there is torn or corrupt or not the next index."""
        unpack, crc32, decode, header = _HEADER.unpack_from, zlib.crc32, _entry_decoder.decode, \
            _HEADER.size
        # The loop runs once per stored entry: locals, and self's state synced only around
        # a refill (which moves the record to the start of a new buffer).
        buffer, position, offset, size_limit = self._buffer, 0, self.offset, self._size
        view = memoryview(buffer)
        try:
            while True:
                if len(buffer) - position < header:
                    self._position, self.offset = position, offset
                    filled = self._fill(header)
                    buffer, position = self._buffer, self._position
                    view.release()
                    view = memoryview(buffer)
                    if not filled:
                        return _END if self.rest_is_zero() else None
                length, crc = unpack(buffer, position)
                if length == 0 and crc == 0:
                    return _END
                size = header + length
                if len(buffer) - position < size:
                    if offset + size > size_limit:
                        return None
                    self._position, self.offset = position, offset
                    filled = self._fill(size)
                    buffer, position = self._buffer, self._position
                    view.release()
                    view = memoryview(buffer)
                    if not filled:
                        return None
                payload = view[position + header : position + size]
                if crc32(payload) != crc:
                    return None
                try:
                    entry = decode(payload)
                except msgspec.DecodeError:
                    return None
                if entry.index != index:
                    return None
                entries.append(entry)
                offsets.append(offset)
                index += 1
                position += size
                offset += size
        finally:
            view.release()
            self._position, self.offset = position, offset

    def rest_is_zero(self) -> bool:
        """Whether everything from :attr:`offset` to the end of the file is zeros."""
        if self._buffer.count(0, self._position) != len(self._buffer) - self._position:
            return False
        self._file.seek(self.offset + len(self._buffer) - self._position)
        while chunk := self._file.read(_CHUNK):
            if chunk.count(0) != len(chunk):
                return False
        return True

    def _fill(self, need: int) -> bool:
        """Have ``need`` bytes from the current record on in the buffer; False at end of file."""
        have = len(self._buffer) - self._position
        if have >= need:
            return True
        parts = [self._buffer[self._position :]]
        while have < need:
            more = self._file.read(max(_CHUNK, need - have))
            if not more:
                break
            parts.append(more)
            have += len(more)
        self._buffer = b"".join(parts)
        self._position = 0
        return have >= need


class StableStore:
    """The current term and vote, replaced atomically (write, fsync, rename, fsync dir)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)

    def load(self) -> HardState:
        try:
            return msgspec.msgpack.decode(self._path.read_bytes(), type=HardState)
        except FileNotFoundError:
            return HardState()

    def save(self, state: HardState) -> None:
        _atomic_write(self._path, msgspec.msgpack.encode(state))


class SnapshotStore:
    """The latest snapshot and the one being received.

    Snapshot ``i`` is ``<i>.data`` plus ``<i>.meta``; the meta file is written
    last, atomically, so a snapshot exists exactly when its meta file does.
    Older snapshots are deleted once a newer one is complete.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self._dir = Path(directory)
        self._dir.mkdir(parents=True, exist_ok=True)
        self._incoming = self._dir / "incoming.part"
        self._local = self._dir / "local.part"
        self._user = self._dir / "user.part"
        self.latest: SnapshotMeta | None = None
        metas = sorted(self._dir.glob("*.meta"))
        if metas:
            self.latest = msgspec.msgpack.decode(metas[-1].read_bytes(), type=SnapshotMeta)
        self._remove_older()

    def _data_path(self, index: int) -> Path:
        return self._dir / f"{index:020d}.data"

    def _commit(self, meta: SnapshotMeta) -> None:
        _atomic_write(self._dir / f"{meta.index:020d}.meta", msgspec.msgpack.encode(meta))
        self.latest = meta
        self._remove_older()

    def _remove_older(self) -> None:
        keep = self.latest.index if self.latest else None
        for path in list(self._dir.iterdir()):
            if path.suffix in (".data", ".meta") and int(path.stem) != keep:
                path.unlink()

    def write_local(self, write: Callable[[BinaryIO], None]) -> int:
        """Stream a snapshot taken here into a new file via ``write(file)``; returns its size.

        The file becomes a snapshot only through :meth:`commit_local`.
        """
        with open(self._local, "wb") as file:
            write(file)
            file.flush()
            os.fdatasync(file.fileno())
            return file.tell()

    def commit_local(self, meta: SnapshotMeta) -> None:
        """Make the file written by :meth:`write_local` the latest snapshot, described by ``meta``."""
        os.replace(self._local, self._data_path(meta.index))
        _fsync_dir(self._dir)
        self._commit(meta)

    def write_user(self, write: Callable[[BinaryIO], None]) -> int:
        """Stream an operator's snapshot into a file of its own via ``write(file)`` (which
        may read it back to check it); returns its size. It becomes a snapshot only
        through :meth:`commit_user`, and no other call touches the file, so this may run
        in any thread."""
        try:
            with open(self._user, "w+b") as file:
                write(file)
                file.flush()
                os.fdatasync(file.fileno())
                return os.fstat(file.fileno()).st_size
        except BaseException:
            self._user.unlink(missing_ok=True)
            raise

    def commit_user(self, meta: SnapshotMeta) -> None:
        """Make the file written by :meth:`write_user` the latest snapshot."""
        os.replace(self._user, self._data_path(meta.index))
        _fsync_dir(self._dir)
        self._commit(meta)

    def write_chunk(self, offset: int, data: bytes) -> None:
        """Add a received chunk; offset 0 starts a new incoming snapshot."""
        with open(self._incoming, "wb" if offset == 0 else "r+b") as file:
            file.seek(offset)
            file.write(data)
            file.truncate()
            file.flush()
            os.fdatasync(file.fileno())

    def install_incoming(self, meta: SnapshotMeta) -> None:
        """Make the fully received snapshot the latest one."""
        if not self._incoming.exists():
            self._incoming.write_bytes(b"")
        os.replace(self._incoming, self._data_path(meta.index))
        _fsync_dir(self._dir)
        self._commit(meta)

    def read(self, meta: SnapshotMeta, offset: int, size: int) -> bytes:
        with open(self._data_path(meta.index), "rb") as file:
            file.seek(offset)
            return file.read(size)

    def open_latest(self) -> BinaryIO:
        """The latest snapshot's data, for streaming into the state machine."""
        assert self.latest is not None
        return open(self._data_path(self.latest.index), "rb", buffering=1 << 16)  # noqa: SIM115


class RaftStorage:
    """Everything one server keeps on disk, under one directory."""

    def __init__(self, directory: str | os.PathLike[str], segment_bytes: int = 64 << 20) -> None:
        root = Path(directory)
        self.log = SegmentedLog(root / "log", segment_bytes)
        self.stable = StableStore(root / "stable.bin")
        self.snapshots = SnapshotStore(root / "snapshots")
        latest = self.snapshots.latest
        if latest is not None and self.log.last_index and self.log.last_index < latest.index:
            # A crash came between installing a snapshot and emptying the log: finish it.
            self.log.reset()

    def bootstrap(self, configuration: Configuration) -> bool:
        """Write the first configuration entry to a fresh server; False if it has state already."""
        if self.log.last_index or self.snapshots.latest or self.stable.load().term:
            return False
        self.stable.save(HardState(1, None))
        self.log.append([Entry(1, 1, EntryType.CONFIGURATION, configuration.encode())])
        self.log.sync()
        return True

    def persist(self, ready: Ready) -> None:
        """Durably store what ``ready`` asks for (steps 1 and 2 of the Ready contract)."""
        if not (ready.snapshot_chunks or ready.snapshot is not None
                or ready.hard_state is not None):  # the usual Ready: entries alone
            self.log.append(ready.entries, sync=True)
            return
        for chunk in ready.snapshot_chunks:
            self.snapshots.write_chunk(chunk.offset, chunk.data)
        if ready.snapshot is not None:
            meta = ready.snapshot
            self.snapshots.install_incoming(meta)
            if self.log.term(meta.index) == meta.term:
                self.log.compact(meta.index)
            else:
                self.log.reset()
        if ready.hard_state is not None:
            self.stable.save(ready.hard_state)
        if ready.entries:
            self.log.append(ready.entries)
        self.log.sync()

    def install_user_snapshot(self, meta: SnapshotMeta) -> None:
        """Make the operator's snapshot written by ``snapshots.write_user`` the latest one,
        then delete every log entry (they all lie before it)."""
        self.snapshots.commit_user(meta)
        self.log.reset()

    def close(self) -> None:
        self.log.close()
