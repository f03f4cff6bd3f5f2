"""Tests for proconsul.lib.bexpr (Consul's ?filter= language)."""

from __future__ import annotations

import enum
import typing

import msgspec
import pytest
from hypothesis import HealthCheck as HypothesisHealthCheck
from hypothesis import given, settings
from hypothesis import strategies as st

from proconsul.lib.bexpr import And, FilterError, Match, Not, Or, compile_filter, parse

# -- fixtures mirroring Consul's structs ------------------------------------------------------


class Node(msgspec.Struct):
    ID: str = ""
    Node: str = ""
    Address: str = ""
    Datacenter: str = ""
    TaggedAddresses: dict[str, str] | None = None
    Meta: dict[str, str] | None = None
    CreateIndex: int = 0
    ModifyIndex: int = 0


class Weights(msgspec.Struct):
    Passing: int = 1
    Warning: int = 1


class Kind(enum.StrEnum):
    TYPICAL = ""
    PROXY = "connect-proxy"


class AgentService(msgspec.Struct):
    ID: str = ""
    Service: str = ""
    Tags: list[str] | None = None
    Meta: dict[str, str] | None = None
    Port: int = 0
    Address: str = ""
    Weights: Weights | None = None
    EnableTagOverride: bool = False
    Kind: Kind = Kind.TYPICAL
    Protocol: typing.Literal["tcp", "http"] = "tcp"
    Load: float = 0.0
    Config: dict[str, typing.Any] | None = None


class HealthCheck(msgspec.Struct):
    Node: str = ""
    CheckID: str = ""
    Name: str = ""
    Status: str = ""
    ServiceID: str = ""
    ServiceTags: list[str] = []


class CheckServiceNode(msgspec.Struct):
    Node: Node | None = None
    Service: AgentService | None = None
    Checks: list[HealthCheck] = []


class ServiceNode(msgspec.Struct):
    Node: str = ""
    Address: str = ""
    NodeMeta: dict[str, str] | None = None
    ServiceID: str = ""
    ServiceName: str = ""
    ServiceTags: list[str] | None = None
    ServicePort: int = 0
    ServiceWeights: Weights = msgspec.field(default_factory=Weights)
    ServiceEnableTagOverride: bool = False


class Misc(msgspec.Struct):
    Counts: list[int] = []
    ByID: dict[str, HealthCheck] = {}
    IntKeys: dict[int, str] = {}
    Matrix: list[list[HealthCheck]] = []
    Nested: dict[str, dict[str, str]] = {}


WEB1 = CheckServiceNode(
    Node=Node(
        ID="n1",
        Node="node-1",
        Address="10.0.0.1",
        Meta={"env": "prod", "rack": "r1"},
        CreateIndex=5,
    ),
    Service=AgentService(
        ID="web-1",
        Service="web",
        Tags=["primary", "v1"],
        Meta={"version": "1.0"},
        Port=8080,
        Weights=Weights(Passing=10),
        EnableTagOverride=True,
        Load=0.5,
    ),
    Checks=[
        HealthCheck(Name="serf", Status="passing"),
        HealthCheck(Name="http", Status="critical", ServiceTags=["primary"]),
    ],
)
WEB2 = CheckServiceNode(
    Node=Node(ID="n2", Node="node-2", Address="10.0.0.2", Meta={"env": "staging"}, CreateIndex=7),
    Service=AgentService(ID="web-2", Service="web", Tags=["secondary"], Port=8081, Kind=Kind.PROXY),
    Checks=[HealthCheck(Name="serf", Status="passing")],
)
BARE = CheckServiceNode()  # every nested struct None, every list empty
ITEMS = [WEB1, WEB2, BARE]


def ids(expression: str, schema: type = CheckServiceNode, items: list | None = None) -> list[str]:
    """Service IDs (or '-' for a service-less item) kept by the filter."""
    kept = compile_filter(expression, schema).apply(ITEMS if items is None else items)
    return [x.Service.ID if x.Service else "-" for x in kept]


def error(expression: str, schema: type = CheckServiceNode) -> str:
    with pytest.raises(FilterError) as info:
        compile_filter(expression, schema)
    return str(info.value)


# -- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("a == b", Match(("a",), "==", "b")),
        ("a==b", Match(("a",), "==", "b")),
        ("a != b", Match(("a",), "!=", "b")),
        ("a contains b", Match(("a",), "in", "b")),
        ("a not contains b", Match(("a",), "not in", "b")),
        ("a matches b", Match(("a",), "matches", "b")),
        ("a not matches b", Match(("a",), "not matches", "b")),
        ("a is empty", Match(("a",), "is empty", None)),
        ("a is not empty", Match(("a",), "is not empty", None)),
        ("a is nil", Match(("a",), "is nil", None)),
        ("a is not nil", Match(("a",), "is not nil", None)),
        ("b in a", Match(("a",), "in", "b")),
        ("b not in a", Match(("a",), "not in", "b")),
        ('"b c" in a.x', Match(("a", "x"), "in", "b c")),
        ("3 in a", Match(("a",), "in", "3")),
        # selectors: dots and brackets, whitespace inside brackets, `/` in identifiers
        ('a.b["c d"].e == 1', Match(("a", "b", "c d", "e"), "==", "1")),
        ("a[ `x` ] == 1", Match(("a", "x"), "==", "1")),
        ("a_b.c/d == 1", Match(("a_b", "c/d"), "==", "1")),
        # values: words (joined selectors), numbers, quoted, raw
        ('a == b.c["d"]', Match(("a",), "==", "b.c.d")),
        ("a == -12.5", Match(("a",), "==", "-12.5")),
        ("a == 0", Match(("a",), "==", "0")),
        (
            r'a == "x\ty\n\\ \u00e9 \U0001F600 \x41 \101"',
            Match(("a",), "==", "x\ty\n\\ é \U0001f600 A A"),
        ),
        (r"a == `x\n\t`", Match(("a",), "==", r"x\n\t")),
        ("a == `x\r\ny`", Match(("a",), "==", "x\ny")),  # Go's Unquote drops \r from raw strings
        ('a == "\\xc3\\xa9"', Match(("a",), "==", "é")),  # \x escapes are bytes
        ("a == and", Match(("a",), "==", "and")),  # a keyword is a fine value
        ("  ( a == b )  ", Match(("a",), "==", "b")),
        ("a ==\n\tb", Match(("a",), "==", "b")),
        # "not" that cannot start a negation is a selector/value, as in the PEG grammar
        ("not in a", Match(("a",), "in", "not")),
        ("not == x", Match(("not",), "==", "x")),
        ("notes == x", Match(("notes",), "==", "x")),
    ],
)
def test_parse_forms(expression, expected):
    assert parse(expression) == expected


def test_parse_precedence_and_grouping():
    a, b, c = (Match((n,), "==", "1") for n in "abc")
    assert parse("a == 1 or b == 1 and c == 1") == Or((a, And((b, c))))
    assert parse("a == 1 and b == 1 or c == 1") == Or((And((a, b)), c))
    assert parse("(a == 1 or b == 1) and c == 1") == And((Or((a, b)), c))
    assert parse("a == 1 or b == 1 or c == 1") == Or((a, b, c))
    assert parse("not a == 1 and b == 1") == And((Not(a), b))
    assert parse("not (a == 1 and b == 1)") == Not(And((a, b)))
    assert parse("not not a == 1") == Not(Not(a))
    assert parse("((a == 1))") == a


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ('foo == "12x', '1:12 (11): rule "string": Unterminated string literal'),
        ("foo == `12x", '1:12 (11): rule "string": Unterminated string literal'),
        ("foo == 3x", '1:9 (8): rule "number": Invalid number literal'),
        ("foo == 01", '1:9 (8): rule "number": Invalid number literal'),
        ("foo[3] == abc", '1:5 (4): rule "index": Invalid index'),
        ('x in foo["abc"', '1:15 (14): rule "index": Unclosed index expression'),
        ('foo["abc" == 3', '1:11 (10): rule "index": Unclosed index expression'),
        ("x in 32", '1:6 (5): rule "match": Invalid selector'),
        ("(foo == 4", '1:10 (9): rule "grouping": Unmatched parentheses'),
        ("x in foo and ", '1:14 (13): no match found, expected: "(", "not", a selector or a value'),
        ("x in foo or ", '1:13 (12): no match found, expected: "(", "not", a selector or a value'),
        ("", '1:1 (0): no match found, expected: "(", "not", a selector or a value'),
        ("a == b c", '1:8 (7): no match found, expected: "and", "or" or end of input'),
        ("a == b)", '1:7 (6): no match found, expected: "and", "or" or end of input'),
        (
            "a = b",
            '1:3 (2): no match found, expected: "(", "not", a selector or a value, an operator or ")"',
        ),
        (
            "a b",
            '1:3 (2): no match found, expected: "==", "!=", "contains", "not", "matches", "is" or "in"',
        ),
        ("a ==", "1:5 (4): no match found, expected: a value (word, number or string)"),
        ("a is full", '1:6 (5): no match found, expected: "empty", "not" or "nil"'),
        ("a is not full", '1:10 (9): no match found, expected: "empty" or "nil"'),
        ('"x" contains a', '1:5 (4): no match found, expected: "in" or "not in"'),
        ("a contains`x`", "1:11 (10): no match found, expected: whitespace"),
        ("a == b and(c == d)", "1:11 (10): no match found, expected: whitespace"),
        (
            "not(a == b)",
            '1:4 (3): no match found, expected: "==", "!=", "contains", "not", "matches", "is" or "in"',
        ),
        ('a == "\\q"', '1:6 (5): rule "string": invalid syntax'),
        ('a == "\\ud800"', '1:6 (5): rule "string": invalid syntax'),
        ('a == "\\400"', '1:6 (5): rule "string": invalid syntax'),
        ('a == "x\ny"', '1:6 (5): rule "string": invalid syntax'),
        ('a == "\\"', '1:6 (5): rule "string": invalid syntax'),  # a " cannot be escaped
        (
            "a == b.",
            '1:7 (6): no match found, expected: "(", "not", a selector or a value, an operator or ")"',
        ),
        ("a == -x", "1:7 (6): no match found, expected: a number"),
        (
            'é == "x',
            '1:1 (0): no match found, expected: "(", "not", a selector or a value, an operator or ")"',
        ),
        ('a == "é', '1:8 (8): rule "string": Unterminated string literal'),  # offset is in bytes
        (
            "a == b and\n  c ==",
            "2:7 (17): no match found, expected: a value (word, number or string)",
        ),
        ("(" * 150 + "a == b" + ")" * 150, "1:101 (100): expression is nested too deeply"),
    ],
)
def test_parse_errors(expression, message):
    with pytest.raises(FilterError) as info:
        parse(expression)
    assert str(info.value) == message
    assert info.value.offset is not None


def test_filter_error_is_value_error():
    assert issubclass(FilterError, ValueError)


# -- evaluation: operators by field type -------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # strings
        ("Service.Service == web", ["web-1", "web-2"]),
        ('Service.ID != "web-1"', ["web-2", "-"]),
        ('Service.ID == ""', ["-"]),  # None struct -> zero-valued fields
        ('Service.Address == ""', ["web-1", "web-2", "-"]),
        ("Node.Node == `node-1`", ["web-1"]),
        ('Node.Address == "10.0.0.2"', ["web-2"]),
        ('Node.Address contains "10.0.0"', ["web-1", "web-2"]),  # substring
        ('Node.Address not contains "0.1"', ["web-2", "-"]),
        ('"de-2" in Node.Node', ["web-2"]),
        ('"de-2" not in Node.Node', ["web-1", "-"]),
        ("Node.Node matches `^node-\\d$`", ["web-1", "web-2"]),
        ('Node.Node matches "1"', ["web-1"]),  # unanchored search
        ("Node.Node not matches `2$`", ["web-1", "-"]),
        ("Node.Node is empty", ["-"]),
        ("Node.Node is not empty", ["web-1", "web-2"]),
        # str-valued enums and literals behave as strings
        ('Service.Kind == "connect-proxy"', ["web-2"]),
        ('Service.Kind == ""', ["web-1", "-"]),
        ("Service.Protocol == tcp", ["web-1", "web-2"]),
        # ints
        ("Service.Port == 8080", ["web-1"]),
        ("Service.Port != 8080", ["web-2", "-"]),
        ('Service.Port == "8081"', ["web-2"]),  # quoted literals are coerced too
        ("Service.Port == 0", ["-"]),
        ('Node.CreateIndex == "0x7"', ["web-2"]),  # Go ParseInt base 0
        ('Node.CreateIndex == "0o7"', ["web-2"]),
        ('Node.CreateIndex == "07"', ["web-2"]),
        ('Node.CreateIndex == "0b101"', ["web-1"]),
        ('Node.CreateIndex == "+5"', ["web-1"]),
        ("Node.CreateIndex != -1", ["web-1", "web-2", "-"]),
        ("Service.Weights.Passing == 10", ["web-1"]),
        ("Service.Weights.Passing == 0", ["web-2", "-"]),  # None Weights -> 0
        # floats
        ("Service.Load == 0.5", ["web-1"]),
        ("Service.Load == 0", ["web-2", "-"]),
        ('Service.Load == "5e-1"', ["web-1"]),
        ("Service.Load != 0.5", ["web-2", "-"]),
        # bools (Go ParseBool spellings)
        ("Service.EnableTagOverride == true", ["web-1"]),
        ("Service.EnableTagOverride == True", ["web-1"]),
        ("Service.EnableTagOverride == 1", ["web-1"]),
        ("Service.EnableTagOverride == t", ["web-1"]),
        ("Service.EnableTagOverride == false", ["web-2", "-"]),
        ("Service.EnableTagOverride != F", ["web-1"]),
        # list of strings: element membership
        ("Service.Tags contains primary", ["web-1"]),
        ("primary in Service.Tags", ["web-1"]),
        ("prim in Service.Tags", []),  # elements, not substrings
        ("Service.Tags not contains primary", ["web-2", "-"]),
        ("primary not in Service.Tags", ["web-2", "-"]),
        ("Service.Tags is empty", ["-"]),
        ("Service.Tags is not empty", ["web-1", "web-2"]),
        # maps: key membership and value selectors
        ("Node.Meta contains rack", ["web-1"]),
        ("env in Node.Meta", ["web-1", "web-2"]),
        ("prod in Node.Meta", []),  # keys, not values
        ("rack not in Node.Meta", ["web-2", "-"]),
        ("Node.Meta is empty", ["-"]),
        ("Node.Meta is not empty", ["web-1", "web-2"]),
        ("Node.Meta.env == prod", ["web-1"]),
        ('Node.Meta["env"] == prod', ["web-1"]),
        ("Node.Meta[`env`] != prod", ["web-2", "-"]),
        ("Node.Meta.env matches `^stag`", ["web-2"]),
        ("Node.Meta.env contains rod", ["web-1"]),
        ("Node.Meta.env is not empty", ["web-1", "web-2"]),
        ("Service.Meta.version == `1.0`", ["web-1"]),
        # nil checks
        ("Service is nil", ["-"]),
        ("Service is not nil", ["web-1", "web-2"]),
        ("Service.Tags is nil", ["-"]),
        ("Service.Meta is nil", ["web-2", "-"]),
        ("Service.Weights is not nil", ["web-1"]),
    ],
)
def test_operators(expression, expected):
    assert ids(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # a missing map key matches nothing: positive operators false, negations true
        ("Node.Meta.rack == r1", ["web-1"]),
        ('Node.Meta.rack == ""', []),
        ("Node.Meta.rack != r1", ["web-2", "-"]),
        ('Node.Meta.rack != ""', ["web-1", "web-2", "-"]),
        ("Node.Meta.rack contains r", ["web-1"]),
        ("Node.Meta.rack not contains x", ["web-1", "web-2", "-"]),
        ("Node.Meta.rack matches `.*`", ["web-1"]),
        ("Node.Meta.rack not matches `.*`", ["web-2", "-"]),
        ("Node.Meta.rack is empty", ["web-2", "-"]),
        ("Node.Meta.rack is not empty", ["web-1"]),
        ("Node.Meta.rack is nil", ["web-2", "-"]),
        ("Node.Meta.rack is not nil", ["web-1"]),
        ("Node.Meta.env is nil", ["-"]),  # present (string) values are never nil
    ],
)
def test_missing_map_keys(expression, expected):
    assert ids(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # selecting through a list of structs is "any element" (go-bexpr)
        ("Checks.Status == critical", ["web-1"]),
        ("Checks.Status == passing", ["web-1", "web-2"]),
        ("Checks.Status != passing", ["web-1"]),  # some check not passing; empty list -> false
        ("not Checks.Status == passing", ["-"]),  # no passing check
        ("not Checks.Status != passing", ["web-2", "-"]),  # every check passing
        ("Checks.Status contains crit", ["web-1"]),
        ("Checks.Name matches `^ht`", ["web-1"]),
        ("Checks.ServiceTags contains primary", ["web-1"]),
        ("primary not in Checks.ServiceTags", ["web-1", "web-2"]),  # any check without the tag
        ("Checks.ServiceTags is empty", ["web-1", "web-2"]),
        ("Checks is empty", ["-"]),
        ("Checks is not empty", ["web-1", "web-2"]),
        ("Checks.Status == passing and Checks.Status == critical", ["web-1"]),
    ],
)
def test_list_of_structs(expression, expected):
    assert ids(expression) == expected


def test_any_semantics_on_nested_lists_and_maps_of_structs():
    a = Misc(
        Matrix=[[HealthCheck(Status="passing")], [HealthCheck(Status="critical")]],
        ByID={"c1": HealthCheck(Status="warning")},
        Counts=[1, 2, 3],
        IntKeys={1: "x"},
        Nested={"outer": {"inner": "v"}},
    )
    b = Misc()
    f = lambda e: [x is a for x in compile_filter(e, Misc).apply([a, b])]  # noqa: E731
    assert f("Matrix.Status == critical") == [True]
    assert f("Matrix.Status == warning") == []
    assert f("Matrix is empty") == [False]
    assert f("ByID.c1.Status == warning") == [True]
    assert f('ByID["c1"].Status != warning') == [False]  # b lacks c1: != is true
    assert f("ByID.c2.Status != warning") == [True, False]  # missing key -> true for !=
    assert f("c1 in ByID") == [True]
    assert f("2 in Counts") == [True]
    assert f("4 not in Counts") == [True, False]
    assert f("IntKeys is not empty") == [True]
    assert f("Nested.outer.inner == v") == [True]
    assert f("Nested.outer.other != v") == [True, False]


def test_service_node_and_node_schemas():
    sn = [
        ServiceNode(
            Node="n1", ServiceName="db", ServiceTags=["a"], ServicePort=5432, NodeMeta={"az": "1"}
        ),
        ServiceNode(Node="n2", ServiceName="db", ServiceWeights=Weights(Passing=3)),
    ]
    kept = compile_filter("ServiceTags contains a and NodeMeta.az == 1", ServiceNode).apply(sn)
    assert [x.Node for x in kept] == ["n1"]
    assert [
        x.Node for x in compile_filter("ServiceWeights.Passing == 3", ServiceNode).apply(sn)
    ] == ["n2"]
    nodes = [WEB1.Node, WEB2.Node]
    assert [n.ID for n in compile_filter('Meta["env"] == staging', Node).apply(nodes)] == ["n2"]


def test_dict_schema():
    f = compile_filter("env == prod or team is not empty", dict[str, str])
    assert f.apply([{"env": "prod"}, {"team": "x"}, {"team": ""}, {}]) == [
        {"env": "prod"},
        {"team": "x"},
    ]


def test_and_or_not_precedence_evaluation():
    # `or` binds looser than `and`: true or (false and false) -> true
    assert ids("Service.Port == 8080 or Service.Port == 1 and Service.Port == 2") == ["web-1"]
    # with explicit grouping: (true or false) and false -> false
    assert ids("(Service.Port == 8080 or Service.Port == 1) and Service.Port == 2") == []
    assert ids("not Service.Port == 8080 and Service.Service == web") == ["web-2"]
    assert ids("not (Service.Port == 8080 or Service.Port == 8081)") == ["-"]
    assert ids("Service.Port == 1 or Service.Port == 2 or Service.Port == 8081") == ["web-2"]
    assert ids(
        "Service.Service == web and Node.Meta.env == prod and Checks.Status == critical"
    ) == ["web-1"]


def test_regex_go_compatibility():
    assert ids(r"Node.Node matches `\d\z`") == ["web-1", "web-2"]  # \z -> end of text
    assert ids("Node.Node matches `[]a]`") == []  # leading ] is literal
    assert ids("Node.Node matches `[x(?=]`") == []  # "(?=" inside a class is not a lookahead
    assert ids("Node.Node matches `[x(?=]|1`") == ["web-1"]
    assert ids("Node.Node matches `(?i)NODE-1`") == ["web-1"]
    assert ids("Node.Meta.env matches `\\w+`") == ["web-1", "web-2"]


def test_regex_classes_are_ascii_like_go():
    item = CheckServiceNode(Node=Node(Node="node-\u0663"))  # ARABIC-INDIC DIGIT THREE
    assert compile_filter(r"Node.Node matches `-\d`", CheckServiceNode).matches(item) is False
    assert compile_filter(r"Node.Node matches `-\D`", CheckServiceNode).matches(item) is True


def test_leading_zero_integer_literal_is_octal_like_go():
    item = CheckServiceNode(Service=AgentService(Port=8))
    assert compile_filter('Service.Port == "010"', CheckServiceNode).matches(item) is True
    assert compile_filter("Service.Port == 8", CheckServiceNode).matches(item) is True
    assert compile_filter('Service.Port == "10"', CheckServiceNode).matches(item) is False


def test_apply_keeps_order_and_matches_returns_bool():
    f = compile_filter("Service.Service == web", CheckServiceNode)
    assert f.apply([WEB2, BARE, WEB1]) == [WEB2, WEB1]
    assert f.apply(iter([])) == []
    assert f.matches(WEB1) is True
    assert f.matches(BARE) is False
    assert f.expression == "Service.Service == web"
    assert f.ast == Match(("Service", "Service"), "==", "web")


def test_many_terms_do_not_recurse():
    expression = (
        " or ".join(f"Service.Port == {n}" for n in range(2000, 4000)) + " or Service.Port == 8081"
    )
    assert ids(expression) == ["web-2"]
    expression = " and ".join("Service.Service == web" for _ in range(2000))
    assert ids(expression) == ["web-1", "web-2"]


def test_rejects_non_struct_schema():
    with pytest.raises(TypeError):
        compile_filter("a == b", int)


# -- validation errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("Nope == 1", 'Selector "Nope" is not valid'),
        ("Service.Nope == 1", 'Selector "Service.Nope" is not valid'),
        ("Service.Port.X == 1", 'Selector "Service.Port.X" is not valid'),
        ("Service.Tags.X == 1", 'Selector "Service.Tags.X" is not valid'),
        ("Checks.Nope.Deeper == 1", 'Selector "Checks.Nope" is not valid'),
        ("Service.Config.x == 1", 'Selector "Service.Config.x" is not valid'),
        ("x in Service.Meta.version.y", 'Selector "Service.Meta.version.y" is not valid'),
        ("service.port == 1", 'Selector "service" is not valid'),  # names are case-sensitive
        ("Service.Tags matches x", 'Invalid match operator "Matches" for selector "Service.Tags"'),
        ("Service.Tags == x", 'Invalid match operator "Equal" for selector "Service.Tags"'),
        ("Service == x", 'Invalid match operator "Equal" for selector "Service"'),
        ("Service is empty", 'Invalid match operator "Is Empty" for selector "Service"'),
        ("Service.Port is empty", 'Invalid match operator "Is Empty" for selector "Service.Port"'),
        ("Service.Port contains 1", 'Invalid match operator "In" for selector "Service.Port"'),
        ("1 not in Service.Port", 'Invalid match operator "Not In" for selector "Service.Port"'),
        ("Service.Port matches 1", 'Invalid match operator "Matches" for selector "Service.Port"'),
        ("Service.ID is nil", 'Invalid match operator "Is Nil" for selector "Service.ID"'),
        ("Checks == x", 'Invalid match operator "Equal" for selector "Checks"'),
        ("x in Checks", 'Invalid match operator "In" for selector "Checks"'),
        ("Service.Meta == x", 'Invalid match operator "Equal" for selector "Service.Meta"'),
        (
            "Service.Port == abc",
            'Failed to coerce value "abc" for selector "Service.Port": strconv.ParseInt: parsing "abc": invalid syntax',
        ),
        (
            "Service.Port == 1.5",
            'Failed to coerce value "1.5" for selector "Service.Port": strconv.ParseInt: parsing "1.5": invalid syntax',
        ),
        (
            'Service.Port == " 1"',
            'Failed to coerce value " 1" for selector "Service.Port": strconv.ParseInt: parsing " 1": invalid syntax',
        ),
        (
            "Service.Port == 99999999999999999999999",
            'Failed to coerce value "99999999999999999999999" for selector "Service.Port": '
            'strconv.ParseInt: parsing "99999999999999999999999": value out of range',
        ),
        (
            "Service.EnableTagOverride == yes",
            'Failed to coerce value "yes" for selector "Service.EnableTagOverride": '
            'strconv.ParseBool: parsing "yes": invalid syntax',
        ),
        (
            "Service.Load == fast",
            'Failed to coerce value "fast" for selector "Service.Load": strconv.ParseFloat: parsing "fast": invalid syntax',
        ),
        (
            'Service.Load == "1e999"',
            'Failed to coerce value "1e999" for selector "Service.Load": strconv.ParseFloat: parsing "1e999": value out of range',
        ),
        (
            'Service.Load == "1_0"',
            'Failed to coerce value "1_0" for selector "Service.Load": strconv.ParseFloat: parsing "1_0": invalid syntax',
        ),
        (
            'Service.Port == "a\\tb"',
            'Failed to coerce value "a\\tb" for selector "Service.Port": strconv.ParseInt: parsing "a\\tb": invalid syntax',
        ),
        (
            'Service.ID matches "("',
            'Failed to compile regular expression "(": error parsing regexp: '
            "missing ), unterminated subpattern at position 0",
        ),
        (
            "Service.ID matches `a(?=b)`",
            'Failed to compile regular expression "a(?=b)": error parsing regexp: '
            "invalid or unsupported Perl syntax: `(?=`",
        ),
        (
            "Service.ID not matches `(?<!a)b`",
            'Failed to compile regular expression "(?<!a)b": error parsing regexp: '
            "invalid or unsupported Perl syntax: `(?<!`",
        ),
        (
            r"Service.ID matches `(a)\1`",
            'Failed to compile regular expression "(a)\\\\1": error parsing regexp: invalid escape sequence: `\\1`',
        ),
        (
            r"Service.ID matches `a\Z`",
            'Failed to compile regular expression "a\\\\Z": error parsing regexp: invalid escape sequence: `\\Z`',
        ),
    ],
)
def test_validation_errors(expression, message):
    err = error(expression)
    assert err == message


def test_validation_errors_on_other_schemas():
    assert error("1x in Counts", Misc).startswith("1:2 (1): ")  # parse errors come first
    assert error("x in Counts", Misc) == (
        'Failed to coerce value "x" for selector "Counts": strconv.ParseInt: parsing "x": invalid syntax'
    )
    assert error("x in IntKeys", Misc) == 'Invalid match operator "In" for selector "IntKeys"'
    assert error("IntKeys.x == 1", Misc) == 'Selector "IntKeys.x" is not valid'
    assert compile_filter("Matrix.Status == 1", Misc).matches(Misc()) is False


# -- properties ------------------------------------------------------------------------------

ATOMS = [
    "Service.Service == web",
    "Service.Port == 8080",
    "Service.Port != 8081",
    "Service.Tags contains primary",
    "secondary not in Service.Tags",
    "Service.Meta is empty",
    "Node.Meta.env == prod",
    'Node.Meta["rack"] != r1',
    "Node.Node matches `-1$`",
    "Checks.Status == critical",
    "Checks.Status != passing",
    "Checks is not empty",
    "Service.EnableTagOverride == true",
    "Service is nil",
]

words = st.sampled_from(
    ["web", "db", "primary", "secondary", "prod", "r1", "passing", "critical", "node-1", ""]
)
check_st = st.builds(HealthCheck, Status=words, Name=words, ServiceTags=st.lists(words, max_size=2))
service_st = st.none() | st.builds(
    AgentService,
    Service=words,
    Port=st.sampled_from([0, 8080, 8081]),
    Tags=st.none() | st.lists(words, max_size=3),
    Meta=st.none() | st.dictionaries(words, words, max_size=2),
    EnableTagOverride=st.booleans(),
)
node_st = st.none() | st.builds(
    Node,
    Node=words,
    Meta=st.none() | st.dictionaries(st.sampled_from(["env", "rack"]), words, max_size=2),
)
csn_st = st.builds(
    CheckServiceNode, Node=node_st, Service=service_st, Checks=st.lists(check_st, max_size=3)
)

# Expression trees: ("atom", i) | ("not", t) | ("and", a, b) | ("or", a, b)
trees = st.recursive(
    st.integers(0, len(ATOMS) - 1).map(lambda i: ("atom", i)),
    lambda sub: (
        st.tuples(st.just("not"), sub) | st.tuples(st.sampled_from(["and", "or"]), sub, sub)
    ),
    max_leaves=8,
)


def render(tree) -> str:
    """Fully parenthesised expression text."""
    if tree[0] == "atom":
        return ATOMS[tree[1]]
    if tree[0] == "not":
        return f"not ({render(tree[1])})"
    return f"({render(tree[1])}) {tree[0]} ({render(tree[2])})"


def render_minimal(tree, parent: int = 0) -> str:
    """Expression text relying on precedence (not > and > or), parenthesised only when needed."""
    prec = {"or": 1, "and": 2, "not": 3, "atom": 4}[tree[0]]
    if tree[0] == "atom":
        text = ATOMS[tree[1]]
    elif tree[0] == "not":
        text = "not " + render_minimal(tree[1], 3)
    else:
        text = f"{render_minimal(tree[1], prec)} {tree[0]} {render_minimal(tree[2], prec + 1)}"
    return f"({text})" if prec < parent else text


def reference(tree, item, atoms) -> bool:
    if tree[0] == "atom":
        return atoms[tree[1]].matches(item)
    if tree[0] == "not":
        return not reference(tree[1], item, atoms)
    left, right = reference(tree[1], item, atoms), reference(tree[2], item, atoms)
    return (left and right) if tree[0] == "and" else (left or right)


COMPILED_ATOMS = [compile_filter(a, CheckServiceNode) for a in ATOMS]


@settings(max_examples=300, deadline=None, suppress_health_check=[HypothesisHealthCheck.too_slow])
@given(tree=trees, items=st.lists(csn_st, max_size=4))
def test_boolean_structure_matches_reference(tree, items):
    full = compile_filter(render(tree), CheckServiceNode)
    minimal = compile_filter(render_minimal(tree), CheckServiceNode)
    for item in items:
        expected = reference(tree, item, COMPILED_ATOMS)
        assert full.matches(item) is expected
        assert minimal.matches(item) is expected
    assert full.apply(items) == [x for x in items if reference(tree, x, COMPILED_ATOMS)]


@settings(max_examples=200, deadline=None)
@given(a=st.integers(0, len(ATOMS) - 1), b=st.integers(0, len(ATOMS) - 1), item=csn_st)
def test_not_and_or_laws(a, b, item):
    x, y = ATOMS[a], ATOMS[b]
    m = lambda e: compile_filter(e, CheckServiceNode).matches(item)  # noqa: E731
    assert m(f"not ({x})") is not m(x)
    assert m(f"not {x}") is not m(x)
    assert m(f"{x} and {y}") is (m(x) and m(y))
    assert m(f"{x} or {y}") is (m(x) or m(y))
    assert m(f"not ({x} and {y})") is m(f"not {x} or not {y}")  # De Morgan


def go_quote(s: str) -> str:
    """A Go double-quoted literal for s using \\u/\\U/\\x escapes for everything non-alphanumeric."""
    out = []
    for ch in s:
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=200, deadline=None)
@given(value=text, other=text)
def test_string_literals_round_trip(value, other):
    item = CheckServiceNode(Node=Node(Node=value))
    assert compile_filter(f"Node.Node == {go_quote(value)}", CheckServiceNode).matches(item)
    assert compile_filter(f"Node.Node == {go_quote(other)}", CheckServiceNode).matches(item) is (
        value == other
    )
    if "`" not in value and "\r" not in value:
        assert compile_filter(f"Node.Node == `{value}`", CheckServiceNode).matches(item)
    assert compile_filter(f"{go_quote(other)} in Node.Node", CheckServiceNode).matches(item) is (
        other in value
    )


@settings(max_examples=200, deadline=None)
@given(port=st.integers(-(2**63), 2**63 - 1), probe=st.integers(-(2**63), 2**63 - 1))
def test_integer_literals_round_trip(port, probe):
    item = CheckServiceNode(Service=AgentService(Port=port))
    assert compile_filter(f"Service.Port == {port}", CheckServiceNode).matches(item)
    assert compile_filter(f'Service.Port == "{hex(port)}"', CheckServiceNode).matches(item)
    assert compile_filter(f"Service.Port != {probe}", CheckServiceNode).matches(item) is (
        port != probe
    )
