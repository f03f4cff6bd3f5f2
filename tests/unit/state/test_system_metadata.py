"""System metadata entries through the FSM (raft message 31) and a snapshot round trip."""

from __future__ import annotations

import io

import pytest

from proconsul.fsm.fsm import FSM
from proconsul.state.store import Store
from proconsul.structs.messages import MessageType, encode_command
from proconsul.structs.system_metadata import SystemMetadataEntry, SystemMetadataRequest


def apply(fsm: FSM, index: int, op: str, key: str, value: str = ""):
    return fsm.apply(index, encode_command(MessageType.SYSTEM_METADATA, SystemMetadataRequest(
        Op=op, Entry=SystemMetadataEntry(Key=key, Value=value))))


def test_upsert_keeps_create_index_and_delete_removes():
    store = Store()
    fsm = FSM(store)
    assert apply(fsm, 5, "upsert", "replication-index/policies", "10") is True
    assert apply(fsm, 7, "upsert", "replication-index/policies", "12") is True
    entry = store.system_metadata_get("replication-index/policies")
    assert (entry.Value, entry.CreateIndex, entry.ModifyIndex) == ("12", 5, 7)
    apply(fsm, 8, "delete", "replication-index/policies")
    assert store.system_metadata_get("replication-index/policies") is None


def test_a_bad_op_is_refused_and_changes_nothing():
    store = Store()
    reply = apply(FSM(store), 3, "bogus", "k", "v")
    assert "Invalid system metadata operation 'bogus'" in str(reply)
    assert store.system_metadata_get("k") is None


@pytest.mark.parametrize("count", [0, 3])
def test_entries_survive_a_snapshot(count):
    store = Store()
    fsm = FSM(store)
    for i in range(count):
        apply(fsm, i + 1, "upsert", f"replication-index/t{i}", str(100 + i))
    buffer = io.BytesIO()
    store.snapshot().write(buffer)
    restored = Store()
    restored.restore(io.BytesIO(buffer.getvalue()))
    rows = {e.Key: e for e in restored.system_metadata.rows()}
    assert rows == {e.Key: e for e in store.system_metadata.rows()} and len(rows) == count
