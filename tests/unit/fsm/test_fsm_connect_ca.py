"""ConnectCA raft commands (type 13): roots with CAS, config, provider state, serials;
all of it survives a snapshot and restore."""

from __future__ import annotations

import io

import pytest

from proconsul.fsm.fsm import FSM, CommandError
from proconsul.state.store import Store
from proconsul.state.watch import WatchSet
from proconsul.structs.connect import (
    CA_OP_DELETE_PROVIDER_STATE,
    CA_OP_INCREMENT_PROVIDER_SERIAL,
    CA_OP_SET_CONFIG,
    CA_OP_SET_PROVIDER_STATE,
    CA_OP_SET_ROOTS,
    CA_OP_SET_ROOTS_AND_CONFIG,
    CAConfiguration,
    CAConsulProviderState,
    CARequest,
    CARoot,
)
from proconsul.structs.messages import MessageType, encode_command


@pytest.fixture
def fsm() -> FSM:
    return FSM(Store())


def apply(fsm: FSM, index: int, **fields):
    return fsm.apply(index, encode_command(MessageType.CONNECT_CA, CARequest(**fields)))


def test_message_type_is_consuls_connect_ca_request_type():
    data = encode_command(MessageType.CONNECT_CA, CARequest(Op=CA_OP_SET_ROOTS))
    assert data[0] == 13


def test_set_roots_is_check_and_set_on_the_roots_index(fsm):
    roots = [CARoot(ID="a", Active=True)]
    assert apply(fsm, 5, Op=CA_OP_SET_ROOTS, Index=0, Roots=roots) is True
    index, stored = fsm.store.ca_roots_read(None)
    assert index == 5 and stored[0].CreateIndex == stored[0].ModifyIndex == 5
    assert apply(fsm, 6, Op=CA_OP_SET_ROOTS, Index=4, Roots=roots) is False
    two = [CARoot(ID="a", Active=False), CARoot(ID="b", Active=True)]
    assert apply(fsm, 7, Op=CA_OP_SET_ROOTS, Index=5, Roots=two) is True
    _, stored = fsm.store.ca_roots_read(None)
    assert [(r.ID, r.Active, r.CreateIndex, r.ModifyIndex) for r in stored] == [
        ("a", False, 5, 7), ("b", True, 7, 7)]


def test_roots_need_exactly_one_active(fsm):
    result = apply(fsm, 1, Op=CA_OP_SET_ROOTS, Roots=[CARoot(ID="a"), CARoot(ID="b")])
    assert isinstance(result, CommandError) and "exactly one active CA" in str(result)
    assert fsm.store.ca_roots == []


def test_roots_write_wakes_a_blocked_reader(fsm):
    ws = WatchSet()
    fsm.store.ca_roots_read(ws)
    fired = []
    fsm.store.watches.register(ws.topics, lambda: fired.append(True))
    apply(fsm, 3, Op=CA_OP_SET_ROOTS, Roots=[CARoot(ID="a", Active=True)])
    assert fired


def test_set_roots_and_config_changes_both_or_neither(fsm):
    apply(fsm, 1, Op=CA_OP_SET_CONFIG, Config=CAConfiguration(Provider="consul", ClusterID="c"))
    apply(fsm, 2, Op=CA_OP_SET_ROOTS, Roots=[CARoot(ID="a", Active=True)])
    new_roots = [CARoot(ID="a"), CARoot(ID="b", Active=True)]
    stale = CAConfiguration(Provider="consul", ClusterID="c", ModifyIndex=0)
    assert apply(fsm, 3, Op=CA_OP_SET_ROOTS_AND_CONFIG, Index=2, Roots=new_roots,
                 Config=stale) is False
    good = CAConfiguration(Provider="consul", ClusterID="c", ModifyIndex=1,
                           Config={"LeafCertTTL": "1h"})
    # The config's CAS holds but the roots' does not: nothing changes.
    assert apply(fsm, 4, Op=CA_OP_SET_ROOTS_AND_CONFIG, Index=1, Roots=new_roots,
                 Config=good) is False
    assert fsm.store.ca_config.ModifyIndex == 1 and len(fsm.store.ca_roots) == 1
    assert apply(fsm, 5, Op=CA_OP_SET_ROOTS_AND_CONFIG, Index=2, Roots=new_roots,
                 Config=good) is True
    assert fsm.store.ca_config.ModifyIndex == 5 and fsm.store.ca_config.CreateIndex == 1
    assert fsm.store.ca_active_root().ID == "b"


def test_provider_state_set_and_delete(fsm):
    state = CAConsulProviderState(ID="p1", PrivateKey="KEY", RootCert="CERT")
    apply(fsm, 1, Op=CA_OP_SET_PROVIDER_STATE, ProviderState=state)
    assert fsm.store.ca_provider_state("p1").PrivateKey == "KEY"
    apply(fsm, 2, Op=CA_OP_DELETE_PROVIDER_STATE, ProviderState=CAConsulProviderState(ID="p1"))
    assert fsm.store.ca_provider_state("p1") is None


def test_serials_are_reserved_in_disjoint_blocks(fsm):
    assert apply(fsm, 1, Op=CA_OP_INCREMENT_PROVIDER_SERIAL) == 1
    assert apply(fsm, 2, Op=CA_OP_INCREMENT_PROVIDER_SERIAL, SerialCount=10) == 2
    assert apply(fsm, 3, Op=CA_OP_INCREMENT_PROVIDER_SERIAL, SerialCount=10) == 12
    assert fsm.store.ca_serial() == 21


def test_unknown_op_is_refused(fsm):
    result = apply(fsm, 1, Op="bogus")
    assert isinstance(result, CommandError) and "Invalid CA operation 'bogus'" in str(result)


def test_ca_state_survives_snapshot_and_restore(fsm):
    apply(fsm, 1, Op=CA_OP_SET_CONFIG, Config=CAConfiguration(Provider="consul", ClusterID="c"))
    apply(fsm, 2, Op=CA_OP_SET_ROOTS, Roots=[CARoot(ID="a", Active=True, RootCert="PEM")])
    apply(fsm, 3, Op=CA_OP_SET_PROVIDER_STATE,
          ProviderState=CAConsulProviderState(ID="p1", PrivateKey="KEY"))
    apply(fsm, 4, Op=CA_OP_INCREMENT_PROVIDER_SERIAL, SerialCount=7)
    sink = io.BytesIO()
    fsm.snapshot().write(sink)
    other = FSM(Store())
    apply(other, 1, Op=CA_OP_SET_PROVIDER_STATE,
          ProviderState=CAConsulProviderState(ID="stale"))
    other.restore(io.BytesIO(sink.getvalue()))
    store = other.store
    assert store.ca_config.ClusterID == "c"
    assert store.ca_roots_read(None) == (2, fsm.store.ca_roots)
    assert set(store.ca_provider_states) == {"p1"}
    assert store.ca_serial() == 7
