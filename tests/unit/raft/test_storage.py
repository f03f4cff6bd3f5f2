"""Durable Raft storage on real files: appends, truncation, compaction, torn tails."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from proconsul.raft import storage
from proconsul.raft.config import Configuration, Server
from proconsul.raft.messages import Entry, EntryType, HardState, SnapshotMeta
from proconsul.raft.storage import (
    CorruptLogError,
    RaftStorage,
    SegmentedLog,
    SnapshotStore,
    StableStore,
)


def _entries(first: int, last: int, term: int = 1) -> list[Entry]:
    return [
        Entry(i, term, EntryType.COMMAND, b"data-%d-%d" % (i, term)) for i in range(first, last + 1)
    ]


def _segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.seg"))


def test_appended_entries_survive_reopen(tmp_path: Path) -> None:
    log = SegmentedLog(tmp_path)
    log.append(_entries(1, 10))
    log.append(_entries(11, 12))
    log.close()
    reopened = SegmentedLog(tmp_path)
    assert reopened.entries() == _entries(1, 12)
    assert (reopened.first_index, reopened.last_index) == (1, 12)


def test_appends_roll_over_into_new_segments(tmp_path: Path) -> None:
    log = SegmentedLog(tmp_path, segment_bytes=200)
    log.append(_entries(1, 40))
    log.close()
    assert len(_segments(tmp_path)) > 3
    assert SegmentedLog(tmp_path, segment_bytes=200).entries() == _entries(1, 40)


def test_a_conflicting_append_replaces_the_suffix(tmp_path: Path) -> None:
    log = SegmentedLog(tmp_path, segment_bytes=200)
    log.append(_entries(1, 40))
    log.append(_entries(15, 17, term=2))
    log.close()
    expected = _entries(1, 14) + _entries(15, 17, term=2)
    assert SegmentedLog(tmp_path, segment_bytes=200).entries() == expected


def test_an_append_must_not_leave_a_gap(tmp_path: Path) -> None:
    log = SegmentedLog(tmp_path)
    log.append(_entries(1, 3))
    with pytest.raises(ValueError):
        log.append(_entries(5, 6))


def test_compaction_deletes_whole_old_segments(tmp_path: Path) -> None:
    log = SegmentedLog(tmp_path, segment_bytes=200)
    log.append(_entries(1, 40))
    before = len(_segments(tmp_path))
    log.compact(25)
    assert len(_segments(tmp_path)) < before
    assert 1 < log.first_index <= 26
    assert log.entries() == _entries(log.first_index, 40)
    log.close()
    assert SegmentedLog(tmp_path, segment_bytes=200).entries() == _entries(log.first_index, 40)


def test_reset_then_append_after_a_snapshot(tmp_path: Path) -> None:
    log = SegmentedLog(tmp_path)
    log.append(_entries(1, 10))
    log.reset()
    log.append(_entries(101, 102, term=3))
    log.close()
    assert SegmentedLog(tmp_path).entries() == _entries(101, 102, term=3)


@pytest.mark.parametrize("cut", [1, 4, 7, 9])
def test_a_torn_tail_record_is_dropped_on_open(tmp_path: Path, cut: int) -> None:
    log = SegmentedLog(tmp_path)
    log.append(_entries(1, 5))
    log.close()
    path = _segments(tmp_path)[-1]
    data = path.read_bytes()
    end_of_entry_4 = data.index(b"data-4-1") + len(b"data-4-1")  # data is a record's last field
    path.write_bytes(data[: end_of_entry_4 + cut])
    reopened = SegmentedLog(tmp_path)
    assert reopened.entries() == _entries(1, 4)
    reopened.append(_entries(5, 6, term=2))
    reopened.close()
    assert SegmentedLog(tmp_path).entries() == _entries(1, 4) + _entries(5, 6, term=2)


def test_a_corrupt_tail_record_is_dropped_on_open(tmp_path: Path) -> None:
    log = SegmentedLog(tmp_path)
    log.append(_entries(1, 5))
    log.close()
    path = _segments(tmp_path)[-1]
    data = bytearray(path.read_bytes())
    data[data.index(b"data-5-1")] ^= 0xFF  # flip a byte inside entry 5's payload
    path.write_bytes(bytes(data))
    assert SegmentedLog(tmp_path).entries() == _entries(1, 4)


def test_segments_are_allocated_whole_and_zeros_end_them(tmp_path: Path) -> None:
    log = SegmentedLog(tmp_path, segment_bytes=1 << 16)
    log.append(_entries(1, 3))
    log.close()
    assert _segments(tmp_path)[0].stat().st_size == 1 << 16
    assert SegmentedLog(tmp_path, segment_bytes=1 << 16).entries() == _entries(1, 3)


def test_a_torn_write_that_left_later_bytes_is_zeroed(tmp_path: Path) -> None:
    """A crash can persist a later page of a write but not the page before it:
    zeros, then garbage. Opening zeroes the garbage, so appends that end
    sooner cannot leave it behind in a segment that is later not the last."""
    log = SegmentedLog(tmp_path, segment_bytes=400)
    log.append(_entries(1, 3))
    log.close()
    path = _segments(tmp_path)[-1]
    data = bytearray(path.read_bytes())
    data[-20:] = b"\xff" * 20
    path.write_bytes(bytes(data))
    reopened = SegmentedLog(tmp_path, segment_bytes=400)
    assert reopened.entries() == _entries(1, 3)
    reopened.append(_entries(4, 30))
    reopened.close()
    assert len(_segments(tmp_path)) > 1
    assert SegmentedLog(tmp_path, segment_bytes=400).entries() == _entries(1, 30)


def test_damage_before_the_last_segment_is_an_error(tmp_path: Path) -> None:
    log = SegmentedLog(tmp_path, segment_bytes=200)
    log.append(_entries(1, 40))
    log.close()
    first = _segments(tmp_path)[0]
    data = bytearray(first.read_bytes())
    data[data.index(b"data-2-1")] ^= 0xFF
    first.write_bytes(bytes(data))
    with pytest.raises(CorruptLogError):
        SegmentedLog(tmp_path, segment_bytes=200)


@pytest.mark.parametrize("padded", [True, False], ids=["zero-padded", "cut-short"])
@pytest.mark.parametrize("chunk", [5, 37, 1 << 20])
def test_a_multi_segment_log_with_a_torn_tail_recovers_every_whole_entry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int, padded: bool) -> None:
    """Recovery reads segments a chunk at a time; records straddle chunk boundaries
    (small chunks make every record do so), and a cut anywhere in the last segment
    loses exactly the entries from the torn one on."""
    monkeypatch.setattr(storage, "_CHUNK", chunk)
    entries = [Entry(i, 1, EntryType.COMMAND, bytes([i]) * (i * 7)) for i in range(1, 61)]
    log = SegmentedLog(tmp_path / "src", segment_bytes=2048)
    log.append(entries)
    log.close()
    segments = _segments(tmp_path / "src")
    assert len(segments) >= 3
    last = segments[-1]
    first_in_last = int(last.stem)
    data = last.read_bytes()
    used = len(data.rstrip(b"\0"))
    for cut in sorted({0, 3, 8, 9, used // 3, used // 2, used - 1, used - 9, used}):
        directory = tmp_path / f"cut-{cut}"
        directory.mkdir()
        for segment in segments[:-1]:
            (directory / segment.name).write_bytes(segment.read_bytes())
        (directory / last.name).write_bytes(data[:cut] + bytes(len(data) - cut if padded else 0))
        reopened = SegmentedLog(directory, segment_bytes=2048)
        kept = reopened.entries()
        assert kept == entries[: len(kept)]
        assert len(kept) >= first_in_last - 1
        if cut == used:
            assert kept == entries
        elif cut < used:
            assert len(kept) < len(entries)
        # The log goes on from there, and that survives another recovery.
        reopened.append([Entry(len(kept) + 1, 2, EntryType.COMMAND, b"after")])
        reopened.close()
        again = SegmentedLog(directory, segment_bytes=2048).entries()
        assert again == [*kept, Entry(len(kept) + 1, 2, EntryType.COMMAND, b"after")]


def test_recovery_streams_a_segment_instead_of_reading_it_whole(tmp_path: Path) -> None:
    """A segment is allocated at its full size (64 MiB by default) however little it
    holds; opening it must not cost that much memory."""
    log = SegmentedLog(tmp_path)
    log.append(_entries(1, 3))
    log.close()
    assert _segments(tmp_path)[0].stat().st_size == 64 << 20
    tracemalloc.start()
    try:
        reopened = SegmentedLog(tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reopened.entries() == _entries(1, 3)
    assert peak < 4 << 20, f"opening the log allocated {peak >> 20} MiB at its peak"


def test_stable_store_keeps_term_and_vote(tmp_path: Path) -> None:
    store = StableStore(tmp_path / "stable")
    assert store.load() == HardState()
    store.save(HardState(7, "n2"))
    store.save(HardState(8, None))
    assert StableStore(tmp_path / "stable").load() == HardState(8, None)
    assert not list(tmp_path.glob("*.tmp"))


def _meta(index: int, size: int) -> SnapshotMeta:
    return SnapshotMeta(index, 2, Configuration((Server("a", "a"),)), 1, size)


def _save(store: SnapshotStore, meta: SnapshotMeta, data: bytes) -> None:
    assert store.write_local(lambda file: file.write(data)) == len(data)
    store.commit_local(meta)


def _read_all(store: SnapshotStore) -> bytes:
    with store.open_latest() as source:
        return source.read()


def test_snapshot_store_keeps_only_the_latest(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    _save(store, _meta(10, 5), b"hello")
    _save(store, _meta(20, 5), b"world")
    reopened = SnapshotStore(tmp_path)
    assert reopened.latest == _meta(20, 5)
    assert _read_all(reopened) == b"world"
    assert reopened.read(_meta(20, 5), 1, 3) == b"orl"
    assert len(list(tmp_path.iterdir())) == 2


def test_a_received_snapshot_counts_only_once_installed(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    _save(store, _meta(10, 5), b"hello")
    store.write_chunk(0, b"abc")
    store.write_chunk(3, b"def")
    assert SnapshotStore(tmp_path).latest == _meta(10, 5)  # a crash now keeps the old one
    store.write_chunk(0, b"new")  # the leader started over
    store.write_chunk(3, b"er")
    store.install_incoming(_meta(30, 5))
    reopened = SnapshotStore(tmp_path)
    assert reopened.latest == _meta(30, 5) and _read_all(reopened) == b"newer"


def test_a_crash_between_a_user_snapshot_and_emptying_the_log_is_finished_on_open(
        tmp_path) -> None:
    storage = RaftStorage(tmp_path)
    storage.log.append([Entry(i, 1, EntryType.COMMAND, b"x") for i in range(1, 6)])
    storage.log.sync()
    assert storage.snapshots.write_user(lambda sink: sink.write(b"state")) == 5
    meta = SnapshotMeta(6, 1, Configuration(), 0, 5)
    storage.snapshots.commit_user(meta)  # ... and the process dies before log.reset()
    storage.close()
    reopened = RaftStorage(tmp_path)
    assert reopened.snapshots.latest == meta
    assert reopened.log.last_index == 0
    reopened.log.append([Entry(7, 1, EntryType.COMMAND, b"y")])
    assert reopened.log.last_index == 7
