"""Prepared queries through the FSM: integrity checks, resolution, sessions, snapshots."""

from __future__ import annotations

import io

import pytest

from proconsul.fsm.fsm import FSM, CommandError
from proconsul.state.store import Store
from proconsul.structs.catalog import DeregisterRequest, RegisterRequest
from proconsul.structs.messages import MessageType, encode_command
from proconsul.structs.prepared_query import (
    PreparedQuery,
    PreparedQueryRequest,
    QuerySource,
    QueryTemplateOptions,
    ServiceQuery,
)
from proconsul.structs.session import Session, SessionRequest

Q1 = "11111111-1111-1111-1111-111111111111"
Q2 = "22222222-2222-2222-2222-222222222222"
S1 = "33333333-3333-3333-3333-333333333333"


class Cluster:
    """An FSM fed commands at increasing indexes."""

    def __init__(self) -> None:
        self.fsm = FSM(Store())
        self.index = 0

    @property
    def store(self) -> Store:
        return self.fsm.store

    def apply(self, kind: MessageType, request) -> object:
        self.index += 1
        return self.fsm.apply(self.index, encode_command(kind, request))

    def set(self, op: str = "create", **fields) -> object:
        fields.setdefault("Service", ServiceQuery(Service="db"))
        return self.apply(MessageType.PREPARED_QUERY,
                          PreparedQueryRequest(Op=op, Query=PreparedQuery(**fields)))


@pytest.fixture
def cluster() -> Cluster:
    c = Cluster()
    c.apply(MessageType.REGISTER, RegisterRequest(Node="n1", Address="10.0.0.1"))
    return c


def test_create_update_keep_create_index_and_delete(cluster):
    assert cluster.set(ID=Q1, Name="db") is None
    created = cluster.store.prepared_queries.get(Q1)
    cluster.set("update", ID=Q1, Name="db", Service=ServiceQuery(Service="web"))
    updated = cluster.store.prepared_queries.get(Q1)
    assert updated.CreateIndex == created.CreateIndex < updated.ModifyIndex
    assert cluster.store.prepared_query_list(None)[0] == updated.ModifyIndex
    cluster.set("delete", ID=Q1)
    assert cluster.store.prepared_query_get(None, Q1) == (cluster.index, None)


@pytest.mark.parametrize("second,error", [
    ({"ID": Q2, "Name": "DB"}, "name 'DB' aliases an existing query name"),
    ({"ID": Q2, "Name": Q1}, f"name '{Q1}' aliases an existing query ID"),
    ({"ID": Q2, "Name": "x", "Session": S1}, f'invalid session "{S1}"'),
    ({"ID": Q2, "Name": "x", "Template": QueryTemplateOptions(Type="other")},
     "failed compiling template: Bad Template.Type 'other'"),
])
def test_integrity_refusals_change_nothing(cluster, second, error):
    cluster.set(ID=Q1, Name="db")
    before = dict(cluster.store.indexes)
    result = cluster.set(**second)
    assert isinstance(result, CommandError) and str(result) == error
    assert cluster.store.prepared_queries.get(Q2) is None and cluster.store.indexes == before


def test_only_one_empty_named_template(cluster):
    cluster.set(ID=Q1, Template=QueryTemplateOptions(Type="name_prefix_match"))
    result = cluster.set(ID=Q2, Template=QueryTemplateOptions(Type="name_prefix_match"))
    assert str(result) == "a query template with an empty name already exists"
    assert cluster.set("update", ID=Q1, Template=QueryTemplateOptions(
        Type="name_prefix_match", RemoveEmptyTags=True)) is None


def test_resolve_by_id_exact_name_then_longest_template_prefix(cluster):
    cluster.set(ID=Q1, Template=QueryTemplateOptions(Type="name_prefix_match"),
                Service=ServiceQuery(Service="${name.full}"))
    cluster.set(ID=Q2, Name="web-", Template=QueryTemplateOptions(Type="name_prefix_match"),
                Service=ServiceQuery(Service="web", Tags=["${name.suffix}"]))
    cluster.set(ID="44444444-4444-4444-4444-444444444444", Name="web-exact")
    store, source = cluster.store, QuerySource()
    assert store.prepared_query_resolve("web-exact", source)[1].Service.Service == "db"
    rendered = store.prepared_query_resolve("Web-Canary", source)[1]
    assert (rendered.ID, rendered.Service.Service, rendered.Service.Tags) == (
        Q2, "web", ["Canary"])
    assert store.prepared_query_resolve("api", source)[1].Service.Service == "api"
    assert store.prepared_query_resolve("44444444-4444-4444-4444-444444444444", source)[1]
    with pytest.raises(Exception, match="can only be resolved up by name"):
        store.prepared_query_resolve(Q1, source)


def test_queries_bound_to_a_session_are_deleted_with_it(cluster):
    cluster.apply(MessageType.SESSION, SessionRequest(Op="create", Session=Session(
        ID=S1, Node="n1")))
    cluster.set(ID=Q1, Session=S1)
    cluster.set(ID=Q2, Name="free")
    cluster.apply(MessageType.SESSION, SessionRequest(Op="destroy", Session=Session(ID=S1)))
    assert cluster.store.prepared_queries.get(Q1) is None
    assert cluster.store.prepared_queries.get(Q2) is not None
    assert cluster.store.prepared_query_list(None)[0] == cluster.index


def test_deleting_the_node_invalidates_the_session_and_its_queries(cluster):
    cluster.apply(MessageType.SESSION, SessionRequest(Op="create", Session=Session(
        ID=S1, Node="n1")))
    cluster.set(ID=Q1, Session=S1)
    cluster.apply(MessageType.DEREGISTER, DeregisterRequest(Node="n1"))
    assert cluster.store.prepared_queries.get(Q1) is None


def test_snapshot_round_trip_keeps_queries_and_indexes(cluster):
    cluster.apply(MessageType.SESSION, SessionRequest(Op="create", Session=Session(
        ID=S1, Node="n1")))
    cluster.set(ID=Q1, Name="bound", Session=S1)
    cluster.set(ID=Q2, Name="geo-", Template=QueryTemplateOptions(
        Type="name_prefix_match", Regexp="^geo-(.*)$"), Service=ServiceQuery(
        Service="${match(1)}", NodeMeta={"k": "v"}))
    buffer = io.BytesIO()
    snapshot = cluster.fsm.snapshot()
    snapshot.write(buffer)
    restored = FSM(Store())
    restored.restore(io.BytesIO(buffer.getvalue()))
    assert sorted(restored.store.prepared_queries.rows(), key=lambda q: q.ID) == sorted(
        cluster.store.prepared_queries.rows(), key=lambda q: q.ID)
    assert restored.store.prepared_query_list(None)[0] == cluster.store.prepared_query_list(
        None)[0]
    assert restored.store.prepared_query_resolve("geo-db", QuerySource())[1].Service.Service \
        == "db"
    # The session index came back too: destroying the session deletes its query.
    restored.apply(cluster.index + 1, encode_command(MessageType.SESSION, SessionRequest(
        Op="destroy", Session=Session(ID=S1))))
    assert restored.store.prepared_queries.get(Q1) is None


def test_an_earlier_snapshot_does_not_see_later_writes(cluster):
    cluster.set(ID=Q1, Name="a")
    snapshot = cluster.fsm.snapshot()
    cluster.set(ID=Q2, Name="b")
    buffer = io.BytesIO()
    snapshot.write(buffer)
    restored = FSM(Store())
    restored.restore(io.BytesIO(buffer.getvalue()))
    assert [q.ID for q in restored.store.prepared_queries.rows()] == [Q1]


def test_unknown_op_is_refused(cluster):
    result = cluster.apply(MessageType.PREPARED_QUERY, PreparedQueryRequest(
        Op="explode", Query=PreparedQuery(ID=Q1)))
    assert str(result) == "Invalid prepared query operation 'explode'"
