"""Prepared queries under ACLs: the filter core, and the PreparedQuery RPCs on an
in-process server with ACLs on and default_policy=deny."""

from __future__ import annotations

import pytest

from proconsul.lib.acl.authorizer import ANONYMOUS_TOKEN_ID, new_authorizer
from proconsul.lib.acl.rules import parse_rules
from proconsul.server import acl_filter
from proconsul.server.acl_enforce import UNRESTRICTED, Identity
from proconsul.server.server import Server
from proconsul.structs.catalog import NodeService, RegisterRequest
from proconsul.structs.errors import Forbidden
from proconsul.structs.prepared_query import (
    REDACTED_TOKEN,
    PreparedQuery,
    PreparedQueryExecuteRequest,
    PreparedQueryRequest,
    PreparedQuerySpecificRequest,
    QueryTemplateOptions,
    ServiceQuery,
)
from proconsul.structs.query import QueryMeta
from proconsul.structs.requests import DCSpecificRequest
from proconsul.structs.session import Session, SessionRequest
from tests.support.in_process_server import ROOT, acl_server, make_token

ACCESSOR = "6a1253d2-1785-24fd-91c2-f8e78c745511"


def ident(rules: str, anonymous: bool = False) -> Identity:
    authz = new_authorizer([("p", parse_rules(rules))], "deny")
    return Identity(authz, ANONYMOUS_TOKEN_ID if anonymous else ACCESSOR, anonymous=anonymous)


QUERIES = [PreparedQuery(ID="1", Name="app-a", Token="secret-a"),
           PreparedQuery(ID="2", Name="other", Token="secret-b"),
           PreparedQuery(ID="3", Session="s", Token="secret-c"),  # unnamed
           PreparedQuery(ID="4", Name="app-", Template=QueryTemplateOptions(Type="name_prefix_match")),
           ]


def test_named_queries_need_query_read_and_their_tokens_are_hidden():
    meta = QueryMeta()
    kept = acl_filter.prepared_queries(ident('query_prefix "app-" { policy = "read" }'),
                                       QUERIES, meta)
    assert [(q.ID, q.Token) for q in kept] == [("1", REDACTED_TOKEN), ("4", "")]
    assert meta.ResultsFilteredByACLs is True  # "other" was dropped
    assert QUERIES[0].Token == "secret-a"  # the stored query is not touched


def test_unnamed_queries_are_dropped_without_marking_the_reply():
    meta = QueryMeta()
    kept = acl_filter.prepared_queries(ident('query_prefix "" { policy = "write" }'),
                                       QUERIES, meta)
    assert [q.ID for q in kept] == ["1", "2", "4"] and not meta.ResultsFilteredByACLs


def test_management_and_acls_off_see_every_query_as_stored():
    for who in (ident('acl = "write"'), UNRESTRICTED):
        meta = QueryMeta()
        assert acl_filter.prepared_queries(who, QUERIES, meta) == QUERIES
        assert not meta.ResultsFilteredByACLs
    assert acl_filter.prepared_query_token(ident('acl = "read"'), QUERIES[2]).Token \
        == REDACTED_TOKEN


@pytest.fixture
async def server():
    async with acl_server() as srv:
        await srv.rpc("Catalog.Register", RegisterRequest(
            Node="n1", Address="10.0.0.1", Service=NodeService(Service="web"), Token=ROOT))
        yield srv


async def apply(server: Server, secret: str, op: str = "create", **fields) -> str:
    return await server.rpc("PreparedQuery.Apply", PreparedQueryRequest(
        Op=op, Query=PreparedQuery(**fields), Token=secret))


async def test_apply_needs_query_write_on_the_new_and_the_stored_name(server):
    writer = await make_token(server, "w", 'query_prefix "app-" { policy = "write" }')
    reader = await make_token(server, "r", 'query_prefix "" { policy = "read" }')
    with pytest.raises(Forbidden, match="lacks permission 'query:write' on \"app-a\""):
        await apply(server, reader, Name="app-a", Service=ServiceQuery(Service="web"))
    query_id = await apply(server, writer, Name="app-a", Service=ServiceQuery(Service="web"))
    root_id = await apply(server, ROOT, Name="root-q", Service=ServiceQuery(Service="web"))
    with pytest.raises(Forbidden, match='on "root-q"'):  # renaming a query it may not write
        await apply(server, writer, "update", ID=root_id, Name="app-b",
                    Service=ServiceQuery(Service="web"))
    with pytest.raises(Forbidden, match='on "root-q"'):
        await apply(server, writer, "delete", ID=root_id)
    await apply(server, writer, "delete", ID=query_id)


async def test_get_list_and_explain_follow_query_read(server):
    reader = await make_token(server, "r", 'query "app-a" { policy = "read" }')
    named = await apply(server, ROOT, Name="app-a", Token="stored-secret",
                        Service=ServiceQuery(Service="web"))
    unnamed = await apply(server, reader, Session=await _session(server),
                          Service=ServiceQuery(Service="web"))
    await apply(server, ROOT, Name="other", Service=ServiceQuery(Service="web"))
    got = await server.rpc("PreparedQuery.Get", PreparedQuerySpecificRequest(
        QueryID=named, Token=reader))
    assert [(q.Name, q.Token) for q in got.Queries] == [("app-a", REDACTED_TOKEN)]
    got = await server.rpc("PreparedQuery.Get", PreparedQuerySpecificRequest(
        QueryID=named, Token=ROOT))
    assert got.Queries[0].Token == "stored-secret"
    got = await server.rpc("PreparedQuery.Get", PreparedQuerySpecificRequest(
        QueryID=unnamed, Token="anonymous"))  # its ID is enough
    assert [q.ID for q in got.Queries] == [unnamed]
    with pytest.raises(Forbidden, match="anonymous token lacks permission 'query:read'"):
        await server.rpc("PreparedQuery.Get", PreparedQuerySpecificRequest(
            QueryID=named, Token="anonymous"))
    listed = await server.rpc("PreparedQuery.List", DCSpecificRequest(Token=reader))
    assert [q.Name for q in listed.Queries] == ["app-a"] and listed.ResultsFilteredByACLs
    listed = await server.rpc("PreparedQuery.List", DCSpecificRequest(Token=ROOT))
    assert len(listed.Queries) == 3
    explained = await server.rpc("PreparedQuery.Explain", PreparedQueryExecuteRequest(
        QueryIDOrName="app-a", Token=reader))
    assert explained.Query.Token == REDACTED_TOKEN
    with pytest.raises(Forbidden, match='on "other"'):
        await server.rpc("PreparedQuery.Explain", PreparedQueryExecuteRequest(
            QueryIDOrName="other", Token=reader))
    with pytest.raises(Forbidden, match="'acl:write'"):  # unnamed: management only
        await server.rpc("PreparedQuery.Explain", PreparedQueryExecuteRequest(
            QueryIDOrName=unnamed, Token=reader))


async def test_execute_filters_with_the_stored_token_else_the_callers(server):
    sees_web = await make_token(server, "web", 'service "web" { policy = "read" }\n'
                                          'node "n1" { policy = "read" }')
    await apply(server, ROOT, Name="plain", Service=ServiceQuery(Service="web"))
    await apply(server, ROOT, Name="carried", Token=sees_web, Service=ServiceQuery(Service="web"))

    async def nodes(name: str, secret: str) -> list[str]:
        reply = await server.rpc("PreparedQuery.Execute", PreparedQueryExecuteRequest(
            QueryIDOrName=name, Token=secret))
        return [n.Node.Node for n in reply.Nodes]

    assert await nodes("plain", "anonymous") == []
    assert await nodes("plain", sees_web) == ["n1"]
    assert await nodes("carried", "anonymous") == ["n1"]


async def _session(server: Server) -> str:
    return await server.rpc("Session.Apply", SessionRequest(
        Op="create", Session=Session(Node="n1"), Token=ROOT))
