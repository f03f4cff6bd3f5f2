"""FSM snapshots stream straight to the snapshot store's file and back: memory stays bounded."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from proconsul.fsm.fsm import FSM
from proconsul.raft.config import Configuration, Server
from proconsul.raft.messages import SnapshotMeta
from proconsul.raft.storage import SnapshotStore
from proconsul.state.store import Store
from proconsul.structs.kv import DirEntry, KVSRequest
from proconsul.structs.messages import MessageType, encode_command

KEYS = 20_000
VALUE = b"v" * 400


def _filled_fsm() -> FSM:
    fsm = FSM(Store())
    for i in range(KEYS):
        request = KVSRequest(Op="set", DirEnt=DirEntry(Key=f"key/{i:06d}", Value=VALUE))
        fsm.apply(i + 1, encode_command(MessageType.KVS, request))
    return fsm


def test_snapshot_writes_and_restores_through_the_file_with_bounded_memory(
    tmp_path: Path,
) -> None:
    fsm = _filled_fsm()
    store = SnapshotStore(tmp_path)
    tracemalloc.start()
    try:
        snapshot = fsm.snapshot()
        try:
            size = store.write_local(snapshot.write)
        finally:
            snapshot.release()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size > KEYS * len(VALUE)
    assert peak < size / 20, f"snapshot of {size} bytes used {peak} bytes at peak"

    store.commit_local(SnapshotMeta(KEYS, 1, Configuration((Server("a", "a:1"),)), 1, size))
    restored = FSM(Store())
    with SnapshotStore(tmp_path).open_latest() as source:
        restored.restore(source)
    assert restored.last_applied == KEYS
    assert len(restored.store.kvs) == KEYS
    _, entry = restored.store.kv_get(None, f"key/{KEYS - 1:06d}")
    assert entry is not None and entry.Value == VALUE and entry.ModifyIndex == KEYS
