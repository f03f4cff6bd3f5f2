"""Config entries through the FSM: upsert, CAS, delete, chain checks, snapshots, watches."""

from __future__ import annotations

import io

import pytest

from proconsul.fsm.fsm import FSM, CommandError
from proconsul.server.connect.discovery_chain import validate_proposed
from proconsul.state.store import Store
from proconsul.state.watch import WatchSet
from proconsul.structs.config_entries import decode
from proconsul.structs.config_entry_rpc import ConfigEntryRequest, entry_payload
from proconsul.structs.messages import MessageType, encode_command


def entry(raw: dict):
    e = decode(raw)
    e.normalize()
    e.validate()
    return e


def apply(fsm: FSM, index: int, op: str, raw: dict, cas: int | None = None):
    e = entry(raw)
    if cas is not None:
        e.ModifyIndex = cas
    return fsm.apply(index, encode_command(MessageType.CONFIG_ENTRY,
                                           ConfigEntryRequest(Op=op, Entry=entry_payload(e))))


WEB = {"Kind": "service-defaults", "Name": "web", "Protocol": "http"}
PROXY = {"Kind": "proxy-defaults", "Name": "global", "Config": {"protocol": "http"}}


@pytest.fixture
def fsm() -> FSM:
    f = FSM(Store())
    f.store.chain_validator = validate_proposed
    return f


def test_upsert_keeps_create_index_and_moves_modify_index(fsm):
    assert apply(fsm, 3, "upsert", WEB) is True
    assert apply(fsm, 7, "upsert", {**WEB, "Protocol": "grpc"}) is True
    index, got = fsm.store.config_entry_get(None, "service-defaults", "web")
    assert (index, got.CreateIndex, got.ModifyIndex, got.Protocol) == (7, 3, 7, "grpc")


def test_cas_upsert_wins_and_loses(fsm):
    assert apply(fsm, 3, "upsert-cas", WEB, cas=0) is True
    assert apply(fsm, 4, "upsert-cas", WEB, cas=0) is False      # exists already
    assert apply(fsm, 5, "upsert-cas", WEB, cas=99) is False     # stale index
    assert apply(fsm, 6, "upsert-cas", {**WEB, "Protocol": "tcp"}, cas=3) is True
    assert fsm.store.config_entry_get(None, "service-defaults", "web")[1].ModifyIndex == 6
    assert apply(fsm, 7, "upsert-cas", {**PROXY}, cas=5) is False  # absent, nonzero cas


def test_delete_and_cas_delete(fsm):
    apply(fsm, 3, "upsert", WEB)
    assert apply(fsm, 4, "delete-cas", WEB, cas=2) is False
    assert apply(fsm, 5, "delete-cas", WEB, cas=3) is True
    assert fsm.store.config_entry_get(None, "service-defaults", "web") == (5, None)
    assert apply(fsm, 6, "delete-cas", WEB, cas=5) is False      # nothing to delete
    assert apply(fsm, 7, "delete", WEB) is True
    assert fsm.store.max_index("config-entries") == 5            # deleting nothing moves nothing


def test_chain_breaking_write_is_refused_by_every_server(fsm):
    apply(fsm, 3, "upsert", PROXY)
    router = {"Kind": "service-router", "Name": "web",
              "Routes": [{"Match": {"HTTP": {"PathPrefix": "/a"}},
                          "Destination": {"Service": "api"}}]}
    assert apply(fsm, 4, "upsert", router) is True
    result = apply(fsm, 5, "upsert", {"Kind": "service-defaults", "Name": "api",
                                      "Protocol": "tcp"})
    assert isinstance(result, CommandError)
    assert "api" in str(result)
    assert fsm.store.config_entry_get(None, "service-defaults", "api")[1] is None
    # removing the proxy-defaults that make the router valid is refused too
    assert isinstance(apply(fsm, 6, "delete", PROXY), CommandError)


def test_lists_by_kind_and_all_sorted(fsm):
    apply(fsm, 3, "upsert", {**WEB, "Name": "b"})
    apply(fsm, 4, "upsert", {**WEB, "Name": "a"})
    apply(fsm, 5, "upsert", PROXY)
    index, entries = fsm.store.config_entries_list(None, "service-defaults")
    assert index == 5 and [e.Name for e in entries] == ["a", "b"]
    assert [(e.Kind, e.Name) for e in fsm.store.config_entries_list(None)[1]] == [
        ("proxy-defaults", "global"), ("service-defaults", "a"), ("service-defaults", "b")]


def test_entry_watch_fires_only_for_that_entry(fsm):
    apply(fsm, 3, "upsert", WEB)
    ws = WatchSet()
    fsm.store.config_entry_get(ws, "service-defaults", "web")
    fired = []
    fsm.store.watches.register(ws.topics, lambda: fired.append(1))
    apply(fsm, 4, "upsert", PROXY)
    apply(fsm, 5, "upsert", {**WEB, "Name": "other"})
    assert fired == []
    apply(fsm, 6, "upsert", {**WEB, "Protocol": "grpc"})
    assert fired == [1]


def test_snapshot_restore_keeps_entries_and_indexes(fsm):
    apply(fsm, 3, "upsert", WEB)
    apply(fsm, 4, "upsert", PROXY)
    intention = {"Kind": "service-intentions", "Name": "db",
                 "Sources": [{"Name": "web", "Action": "allow"}]}
    apply(fsm, 5, "upsert", intention)
    sink = io.BytesIO()
    fsm.snapshot().write(sink)
    sink.seek(0)
    other = FSM(Store())
    other.restore(sink)
    assert other.store.config_entries_list(None) == fsm.store.config_entries_list(None)
    assert other.store.config_entry_get(None, "service-intentions", "db")[1].CreateIndex == 5
