"""Template rendering and the filters, RTT sort and failover choice of prepared queries."""

from __future__ import annotations

import random
import time

import pytest

from proconsul.server import query_results
from proconsul.state.query_template import CompiledTemplate, TemplateError, parse
from proconsul.structs.catalog import CheckServiceNode, HealthCheck, Node, NodeService
from proconsul.structs.coordinate import Coordinate, CoordinateEntry
from proconsul.structs.prepared_query import (
    PreparedQuery,
    QueryFailoverOptions,
    QueryTarget,
    QueryTemplateOptions,
    ServiceQuery,
)


def instance(name: str, tags=None, meta=None, node_meta=None, checks=()) -> CheckServiceNode:
    return CheckServiceNode(
        Node=Node(Node=name, Meta=node_meta), Service=NodeService(ID="s", Service="s", Tags=tags,
                                                                  Meta=meta),
        Checks=[HealthCheck(Node=name, CheckID=cid, Status=status) for cid, status in checks])


NODES = [
    instance("a", tags=["Primary", "v1"], meta={"ver": "1"}, node_meta={"az": "1"},
             checks=[("ok", "passing")]),
    instance("b", tags=["replica", "v1"], meta={"ver": "2"}, node_meta={"az": "2"},
             checks=[("slow", "warning")]),
    instance("c", tags=["replica"], meta={"ver": "2"}, node_meta={"az": "1"},
             checks=[("down", "critical"), ("ok", "passing")]),
    instance("d"),
]


@pytest.mark.parametrize("service,expected", [
    (ServiceQuery(), "abd"),
    (ServiceQuery(OnlyPassing=True), "ad"),
    (ServiceQuery(IgnoreCheckIDs=["down"]), "abcd"),
    (ServiceQuery(OnlyPassing=True, IgnoreCheckIDs=["slow", "down"]), "abcd"),
    (ServiceQuery(Tags=["primary"]), "a"),
    (ServiceQuery(Tags=["!primary"]), "bd"),
    (ServiceQuery(Tags=["v1", "!REPLICA"]), "a"),
    (ServiceQuery(Tags=["replica"], IgnoreCheckIDs=["down"]), "bc"),
    (ServiceQuery(NodeMeta={"az": "1"}), "a"),
    (ServiceQuery(NodeMeta={"az": ""}), ""),
    (ServiceQuery(ServiceMeta={"ver": "2"}, IgnoreCheckIDs=["down"]), "bc"),
    (ServiceQuery(ServiceMeta={"ver": "2"}, NodeMeta={"az": "2"}), "b"),
])
def test_select(service, expected):
    assert "".join(n.Node.Node for n in query_results.select(service, NODES)) == expected


def coord(x: float, adjustment: float = 0.0) -> Coordinate:
    return Coordinate(Vec=[x] + [0.0] * 7, Error=0.1, Adjustment=adjustment, Height=0.0)


def test_sort_by_rtt_puts_missing_coordinates_last_and_keeps_order_without_origin():
    coords = {"a": coord(0.05), "b": coord(0.01), "c": coord(0.03)}

    def of(node):
        return [CoordinateEntry(Node=node, Coord=coords[node])] if node in coords else []

    origin = [CoordinateEntry(Node="x", Coord=coord(0.0))]
    ordered = query_results.sort_by_rtt(NODES, origin, "", of)
    assert [n.Node.Node for n in ordered] == ["b", "c", "a", "d"]
    assert query_results.sort_by_rtt(NODES, [], "", of) == NODES
    assert query_results.rtt(coord(0.0), coord(0.02, adjustment=-0.005)) == pytest.approx(0.015)
    assert query_results.rtt(coord(0.0), Coordinate(Vec=[0.0])) == float("inf")


def test_near_first_looks_ten_deep():
    many = [instance(f"n{i}") for i in range(12)]
    assert query_results.near_first(many, "n5")[0].Node.Node == "n5"
    assert query_results.near_first(many, "n11")[0].Node.Node == "n0"


def test_shuffle_keeps_every_instance():
    shuffled = query_results.shuffled(NODES, random.Random(7))
    assert sorted(n.Node.Node for n in shuffled) == ["a", "b", "c", "d"]


@pytest.mark.parametrize("failover,expected", [
    (QueryFailoverOptions(), []),
    (QueryFailoverOptions(NearestN=2), ["dc2", "dc3"]),
    (QueryFailoverOptions(NearestN=1, Datacenters=["dc4", "dc2", "dc9"]), ["dc2", "dc4"]),
    (QueryFailoverOptions(NearestN=5, Datacenters=["dc2"]), ["dc2", "dc3", "dc4"]),
    (QueryFailoverOptions(NearestN=2, Targets=[QueryTarget(Datacenter="dc4"),
                                               QueryTarget(Datacenter="nope")]),
     ["dc2", "dc3", "dc4"]),
    (QueryFailoverOptions(Targets=[QueryTarget(Peer="east"), QueryTarget(Datacenter="dc3"),
                                   QueryTarget(Peer="west"), QueryTarget(Datacenter="nope")]),
     ["peer east", "dc3", "peer west"]),
    (QueryFailoverOptions(Datacenters=["dc4"], Targets=[QueryTarget(Peer="east")]), ["dc4"]),
])
def test_failover_targets(failover, expected):
    service = ServiceQuery(Failover=failover)
    targets = query_results.failover_targets(service, ["dc2", "dc3", "dc4"])
    assert [f"peer {t.Peer}" if t.Peer else t.Datacenter for t in targets] == expected


def compiled(service: ServiceQuery, name: str = "geo-", regexp: str = "",
             remove_empty: bool = False) -> CompiledTemplate:
    return CompiledTemplate(PreparedQuery(Name=name, Service=service, Template=QueryTemplateOptions(
        Type="name_prefix_match", Regexp=regexp, RemoveEmptyTags=remove_empty)))


def test_render_interpolates_every_string_of_the_service():
    template = compiled(ServiceQuery(
        Service="${name.suffix}", Near="${agent.segment}", Tags=["${match(1)}", "x-${match(2)}"],
        NodeMeta={"full": "${name.full}"}, ServiceMeta={"p": "${name.prefix}"},
        IgnoreCheckIDs=["$${literal}"],
        Failover=QueryFailoverOptions(Datacenters=["${match(2)}"],
                                      Targets=[QueryTarget(Datacenter="dc-${match(1)}")])),
        regexp=r"^geo-(\w+)-(\w+)$")
    service = template.render("geo-db-eu", segment="alpha").Service
    assert service.Service == "db-eu" and service.Near == "alpha"
    assert service.Tags == ["db", "x-eu"] and service.NodeMeta == {"full": "geo-db-eu"}
    assert service.ServiceMeta == {"p": "geo-"} and service.IgnoreCheckIDs == ["${literal}"]
    assert service.Failover.Datacenters == ["eu"]
    assert service.Failover.Targets[0].Datacenter == "dc-db"
    # No match: every ${match(N)} is empty; RemoveEmptyTags drops the empty tags.
    assert template.render("other").Service.Tags == ["", "x-"]
    trimmed = compiled(ServiceQuery(Service="s", Tags=["${match(1)}", "keep"]),
                       regexp="^geo-(x)?", remove_empty=True)
    assert trimmed.render("geo-").Service.Tags == ["keep"]
    assert trimmed.render("geo-x").Service.Tags == ["x", "keep"]


@pytest.mark.parametrize("service,regexp,error", [
    (ServiceQuery(Service="${oops"), "", "Bad format '${oops' in Service.Service: "),
    (ServiceQuery(Service="${a + b}"), "", "Bad format '${a + b}' in Service.Service: "),
    (ServiceQuery(Service="x", Tags=["${name.nope}"]), "",
     "Bad evaluation for '${name.nope}' in Service.Tags[0]: unknown variable accessed: "
     "name.nope"),
    (ServiceQuery(Service="x"), "([a-", "Bad Regexp: error parsing regexp: missing ]: [a-"),
    (ServiceQuery(Service="x"), "geo-(?=x)", "Bad Regexp: "),  # Go's RE2 has no lookahead
])
def test_compile_errors(service, regexp, error):
    with pytest.raises(TemplateError) as caught:
        compiled(service, regexp=regexp)
    assert str(caught.value).startswith(error)


def test_regexp_matching_takes_linear_time():
    """A pattern that backtracks exponentially in Python's re is linear in RE2."""
    template = compiled(ServiceQuery(Service="${match(1)}"), regexp="^geo-((a+)+)$")
    started = time.monotonic()
    assert template.render("geo-" + "a" * 5000 + "!").Service.Service == ""
    assert template.render("geo-aaa").Service.Service == "aaa"
    assert time.monotonic() - started < 1.0


def test_bad_type_and_parse_parts():
    with pytest.raises(TemplateError, match="Bad Template.Type 'exact'"):
        CompiledTemplate(PreparedQuery(Template=QueryTemplateOptions(Type="exact")))
    assert parse("a${name.full}b${ match(2) }$${c}") == [
        "a", ("var", "name.full"), "b", ("match", 2), "${c}"]


@pytest.mark.parametrize("text,status", [
    ("Query not found", 404),
    ("Invalid prepared query: Must provide a Service name to query", 400),
    ("ID must be empty when creating a new prepared query", 400),
    ("Cannot modify non-existent prepared query: 'x'", 400),
    ("Unknown prepared query operation: explode", 400),
    ("name 'db' aliases an existing query name", 400),
    ("name '11111111-1111-1111-1111-111111111111' aliases an existing query ID", 400),
    ("a query template with an empty name already exists", 400),
    ('invalid session "abc"', 400),
    ("failed compiling template: Bad Regexp: x", 400),
    ("prepared query templates can only be resolved up by name, not by ID", 400),
    ("Bad evaluation for '${x}' in Service.Service: unknown variable accessed: x", 400),
    ("Query not found, or something else", 500),
])
def test_refusals_keep_their_status_across_a_forward(text, status):
    """A client agent or follower gets these as text from the leader: same status as local."""
    from proconsul.structs.errors import remote_error_class

    assert remote_error_class(text).status == status
