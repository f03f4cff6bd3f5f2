"""The FSM applies commands by message type and refuses unknown ones."""

from __future__ import annotations

import io

import pytest

from proconsul.fsm.fsm import FSM, CommandError
from proconsul.lib.metrics import registry
from proconsul.raft.messages import Entry, EntryType
from proconsul.state.store import Store
from proconsul.structs.catalog import DeregisterRequest, NodeService, RegisterRequest
from proconsul.structs.kv import DirEntry, KVSRequest
from proconsul.structs.messages import (
    IGNORE_UNKNOWN_TYPE_FLAG,
    MessageType,
    UnknownMessageType,
    decode_command,
    encode_command,
)
from proconsul.structs.txn import TxnKVOp, TxnOp, TxnRequest


@pytest.fixture
def fsm() -> FSM:
    return FSM(Store())


def test_command_round_trip():
    request = KVSRequest(Op="set", DirEnt=DirEntry(Key="k", Value=b"v"))
    data = encode_command(MessageType.KVS, request)
    assert data[0] == 2
    assert decode_command(data) == (MessageType.KVS, request)


def test_register_then_deregister_service(fsm):
    fsm.apply(1, encode_command(MessageType.REGISTER, RegisterRequest(
        Node="n", Address="1.2.3.4", Service=NodeService(ID="s", Service="s"))))
    assert len(fsm.store.services) == 1
    fsm.apply(2, encode_command(MessageType.DEREGISTER, DeregisterRequest(Node="n",
                                                                          ServiceID="s")))
    assert len(fsm.store.services) == 0 and len(fsm.store.nodes) == 1


def test_kvs_cas_answers_false_without_writing(fsm):
    assert fsm.apply(1, encode_command(MessageType.KVS, KVSRequest(
        Op="cas", DirEnt=DirEntry(Key="k", ModifyIndex=5)))) is False
    assert fsm.store.kv_get(None, "k")[1] is None


def test_state_error_comes_back_as_command_error(fsm):
    result = fsm.apply(1, encode_command(MessageType.KVS, KVSRequest(
        Op="lock", DirEnt=DirEntry(Key="k", Session="nope"))))
    assert isinstance(result, CommandError) and "invalid session" in str(result)


def test_failed_txn_returns_errors_and_leaves_no_trace(fsm):
    ops = [TxnOp(KV=TxnKVOp(Verb="set", DirEnt=DirEntry(Key="a"))),
           TxnOp(KV=TxnKVOp(Verb="get", DirEnt=DirEntry(Key="missing")))]
    result = fsm.apply(1, encode_command(MessageType.TXN, TxnRequest(Ops=ops)))
    assert result.Results is None and result.Errors[0].OpIndex == 1
    assert fsm.store.kv_get(None, "a")[1] is None


def test_unknown_type_with_ignore_flag_is_skipped(fsm):
    assert fsm.apply(7, bytes([IGNORE_UNKNOWN_TYPE_FLAG | 99]) + b"\x80") is None
    assert fsm.last_applied == 7


def test_unknown_type_without_flag_is_an_error(fsm):
    with pytest.raises(UnknownMessageType):
        fsm.apply(1, bytes([99]) + b"\x80")
    assert fsm.last_applied == 0  # never applied


def test_unknown_type_without_flag_stops_a_batch(fsm):
    with pytest.raises(UnknownMessageType):
        fsm.apply_batch([Entry(1, 1, data=encode_command(MessageType.KVS, KVSRequest(
            Op="set", DirEnt=DirEntry(Key="k", Value=b"v")))), Entry(2, 1, data=bytes([99]))])
    assert fsm.last_applied == 1


def _samples(name: str) -> int:
    """A timer's running count of samples, whatever the interval."""
    return sum(int(float(line.split()[-1])) for line in registry.prometheus().splitlines()
               if line.startswith(f"{name}_count"))


def test_a_batch_answers_each_entry_and_times_each_command(fsm):
    kvs, fsm_apply = _samples("consul_fsm_kvs"), _samples("consul_raft_fsm_apply")
    results = fsm.apply_batch([
        Entry(1, 1, EntryType.NOOP),
        Entry(2, 1, data=encode_command(MessageType.KVS, KVSRequest(
            Op="set", DirEnt=DirEntry(Key="k", Value=b"v")))),
        Entry(3, 1, data=bytes([IGNORE_UNKNOWN_TYPE_FLAG | 99]) + b"\x80"),
        Entry(4, 1, data=encode_command(MessageType.KVS, KVSRequest(
            Op="lock", DirEnt=DirEntry(Key="k", Session="nope")))),
        Entry(5, 1, data=encode_command(MessageType.KVS, KVSRequest(
            Op="cas", DirEnt=DirEntry(Key="k", Value=b"w", ModifyIndex=2)))),
    ])
    assert results[:4] == [None, True, None, results[3]] and results[4] is True
    assert isinstance(results[3], CommandError) and "invalid session" in str(results[3])
    assert fsm.last_applied == 5
    entry = fsm.store.kv_get(None, "k")[1]
    assert (entry.Value, entry.CreateIndex, entry.ModifyIndex) == (b"w", 2, 5)
    assert _samples("consul_fsm_kvs") == kvs + 3
    assert _samples("consul_raft_fsm_apply") == fsm_apply + 3
    fsm.apply(6, encode_command(MessageType.KVS, KVSRequest(
        Op="set", DirEnt=DirEntry(Key="k", Value=b"x"))))
    assert _samples("consul_fsm_kvs") == kvs + 4  # Raft's timer is the driver's then
    assert _samples("consul_raft_fsm_apply") == fsm_apply + 3


def test_snapshot_restore_keeps_last_index(fsm):
    fsm.apply(41, encode_command(MessageType.KVS, KVSRequest(
        Op="set", DirEnt=DirEntry(Key="k", Value=b"v"))))
    buffer = io.BytesIO()
    fsm.snapshot().write(buffer)
    buffer.seek(0)
    other = FSM(Store())
    other.restore(buffer)
    assert other.last_applied == 41
    assert other.store.kv_get(None, "k")[1].Value == b"v"


def test_agent_service_json_shape():
    import msgspec

    from proconsul.structs.agent import AgentService

    service = AgentService.from_node_service(
        NodeService(ID="web1", Service="web", Port=80), "dc1")
    assert msgspec.json.decode(msgspec.json.encode(service)) == {
        "ID": "web1", "Service": "web", "Tags": [], "Meta": {}, "Port": 80, "Address": "",
        "Weights": {"Passing": 1, "Warning": 1}, "EnableTagOverride": False,
        "Datacenter": "dc1"}
