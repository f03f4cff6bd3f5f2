"""The struct layer at the HTTP edge: Go's integer ranges and Go's ``null``, for every type.

The walks below find every :class:`Record` type (every request, reply and wire struct),
so a field added later is covered without touching this file.
"""

from __future__ import annotations

import msgspec
import pytest
from msgspec import inspect

import proconsul.agent.http.server  # noqa: F401  (imports every handler's request types)
import proconsul.agent.local.registration  # noqa: F401
import proconsul.structs.requests  # noqa: F401
from proconsul.agent.http.decode import MAX_DEPTH, decode_json
from proconsul.agent.http.txn import HTTPTxnOp
from proconsul.agent.local.registration import ServiceRegistration
from proconsul.structs.base import INT64_MAX, UINT64_MAX, Record
from proconsul.structs.catalog import RegisterRequest
from proconsul.structs.errors import BadRequest


def _all_records() -> list[type]:
    found, todo = [], list(Record.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda c: f"{c.__module__}.{c.__qualname__}")


RECORDS = _all_records()


def _members(t):
    return t.types if isinstance(t, inspect.UnionType) else (t,)


def _int_fields(info, seen=None):
    """(path, IntType) of every integer reachable from a type."""
    seen = set() if seen is None else seen
    for t in _members(info):
        if isinstance(t, inspect.IntType):
            yield "", t
        elif isinstance(t, inspect.StructType) and t.cls not in seen:
            seen.add(t.cls)
            for f in t.fields:
                for path, it in _int_fields(f.type, seen):
                    yield f".{f.name}{path}", it
        elif isinstance(t, inspect.ListType | inspect.DictType):
            for path, it in _int_fields(getattr(t, "item_type", None) or t.value_type, seen):
                yield f"[]{path}", it


def _zero_for(t):
    """A value the field's type accepts (for required fields)."""
    t = _members(t)[0]
    return {inspect.StrType: "", inspect.IntType: 0, inspect.BoolType: False,
            inspect.FloatType: 0.0, inspect.ListType: [], inspect.DictType: {},
            inspect.StructType: {}}.get(type(t))


def _required_body(cls) -> dict:
    return {f.encode_name: _zero_for(f.type) for f in inspect.type_info(cls).fields
            if f.required}


def test_there_are_many_record_types_to_walk():
    assert len(RECORDS) > 40


@pytest.mark.parametrize("cls", RECORDS, ids=lambda c: c.__qualname__)
def test_every_integer_field_has_a_go_range(cls):
    bare = [path for path, it in _int_fields(inspect.type_info(cls)) if it.ge is None]
    assert not bare, f"{cls.__qualname__}: plain int at {bare}; use structs.base.Int/Uint64"


NULL_CASES = [(cls, f.encode_name) for cls in RECORDS
              for f in inspect.type_info(cls).fields]


@pytest.mark.parametrize(("cls", "name"), NULL_CASES,
                         ids=[f"{c.__qualname__}.{n}" for c, n in NULL_CASES])
def test_null_field_decodes_as_go_does_absent(cls, name):
    """Go's decoder leaves a field it reads ``null`` for at its zero value; so does ours."""
    base = _required_body(cls)
    absent = {k: v for k, v in base.items() if k != name}
    with_null = {**absent, name: None}
    try:
        expected = decode_json(msgspec.json.encode(absent), cls)
    except BadRequest as err:  # the field is required: null must fail the same way
        with pytest.raises(BadRequest) as raised:
            decode_json(msgspec.json.encode(with_null), cls)
        assert raised.value.message == err.message
        return
    got = decode_json(msgspec.json.encode(with_null), cls)
    field_type = next(f.type for f in inspect.type_info(cls).fields if f.encode_name == name)
    if any(isinstance(m, inspect.NoneType) for m in _members(field_type)):
        assert getattr(got, name) is None  # a Go pointer/slice/map left nil
    else:
        assert got == expected


def test_null_items_and_values_are_zero_values():
    body = (b'{"Node": "n", "NodeMeta": null, "TaggedAddresses": null, "Checks": [{'
            b'"ServiceTags": null, "Definition": {"Header": null}}], "Service": {"Service": "s",'
            b' "Tags": ["a", null], "Meta": {"m": null}, "TaggedAddresses": null}}')
    req = decode_json(body, RegisterRequest)
    assert req.NodeMeta is None and req.TaggedAddresses is None
    assert req.Checks[0].ServiceTags == [] and req.Checks[0].Definition.Header is msgspec.UNSET
    assert req.Service.Tags == ["a", ""] and req.Service.Meta == {"m": ""}
    assert req.Service.TaggedAddresses is msgspec.UNSET


def test_null_body_is_the_zero_struct():
    assert decode_json(b"null", RegisterRequest) == RegisterRequest()


@pytest.mark.parametrize(("body", "target", "where", "bound"), [
    (b'{"Name": "s", "Port": 99999999999999999999999}', ServiceRegistration, "$.Port",
     UINT64_MAX),
    (b'{"Name": "s", "Port": 18446744073709551615}', ServiceRegistration, "$.Port", INT64_MAX),
    (b'{"Node": "n", "Service": {"Port": 9223372036854775808}}', RegisterRequest,
     "$.Service.Port", INT64_MAX),
    (b'{"Node": "n", "Checks": [{"CreateIndex": -1}]}', RegisterRequest,
     "$.Checks[0].CreateIndex", 0),
    (b'[{"KV": {"Verb": "set", "Key": "k", "Flags": 18446744073709551616}}]',
     list[HTTPTxnOp], "$[0].KV.Flags", UINT64_MAX),
    (b'{"Node": "n", "Service": {"Weights": {"Passing": -99999999999999999999}}}',
     RegisterRequest, "$.Service.Weights.Passing", -(1 << 63)),
])
def test_integer_out_of_go_range_is_400_naming_the_field(body, target, where, bound):
    with pytest.raises(BadRequest) as raised:
        decode_json(body, target)
    message = raised.value.message
    assert message.startswith("Request decode failed: Expected `int`")
    assert f"at `{where}`" in message and str(bound) in message
    assert "\n" not in message


def test_integer_at_the_go_bounds_is_kept():
    ops = decode_json(b'[{"KV": {"Verb": "set", "Key": "k", "Flags": 18446744073709551615}}]',
                      list[HTTPTxnOp])
    assert ops[0].KV.Flags == UINT64_MAX
    body = b'{"Name": "s", "Port": 9223372036854775807}'
    assert decode_json(body, ServiceRegistration).Port == INT64_MAX


def test_huge_number_in_free_form_config_becomes_a_float_as_in_go():
    body = b'{"Node": "n", "Service": {"Proxy": {"Config": {"a": [99999999999999999999999]}}}}'
    req = decode_json(body, RegisterRequest)
    assert req.Service.Proxy.Config == {"a": [1e23]}
    msgspec.msgpack.encode(req)  # and it can travel to the servers


def test_huge_port_over_msgpack_is_refused():
    data = msgspec.msgpack.encode({"Node": "n", "Service": {"Port": UINT64_MAX}})
    with pytest.raises(msgspec.ValidationError, match=r"<= 9223372036854775807 - at `\$.Service"):
        msgspec.msgpack.decode(data, type=RegisterRequest)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5_000, 100_000])
def test_deep_nesting_is_one_line_400(depth):
    body = b'{"Node": "n", "Service": {"Proxy": {"Config": {"a": ' + b"[" * depth + b"]" * depth
    body += b"}}}}"
    with pytest.raises(BadRequest) as raised:
        decode_json(body, RegisterRequest)
    assert raised.value.message == f"Request decode failed: nesting deeper than {MAX_DEPTH} levels"


def _json_values(depth: int = 3):
    """JSON-ish values: the scalars request bodies carry, big and negative integers,
    null, and lists and objects of them (keys from field names in various cases)."""
    from hypothesis import strategies as st

    names = st.sampled_from(["Node", "node", "NODE", "Address", "address", "Service", "ID",
                             "Port", "port", "Tags", "Meta", "Check", "Checks", "Status",
                             "TaggedAddresses", "Weights", "Passing", "Proxy", "Config",
                             "NodeMeta", "node_meta", "SkipNodeUpdate", "Kind", "Extra"])
    scalars = st.one_of(st.none(), st.booleans(), st.text(max_size=5),
                        st.integers(min_value=-2**70, max_value=2**70),
                        st.integers(min_value=0, max_value=70000), st.floats(allow_nan=False))
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(names, inner, max_size=4)),
        max_leaves=depth * 4)


def _outcome(decode, body: bytes, target):
    try:
        return "ok", msgspec.json.encode(decode(body, target))
    except BadRequest as err:
        return "400", str(err)


def test_one_pass_decoding_matches_the_general_way():
    """decode_json's single pass never accepts, rejects or shapes a body differently from
    the general way (normalize, then convert), for random bodies of the hot types."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from proconsul.agent.http.decode import decode_general
    from proconsul.structs.kv import DirEntry

    bodies = st.dictionaries(st.sampled_from(
        ["Node", "node", "Address", "Service", "Check", "Checks", "NodeMeta", "Datacenter",
         "TaggedAddresses", "SkipNodeUpdate", "ID", "Key", "Value", "Flags"]),
        _json_values(), max_size=5).map(msgspec.json.encode)

    @settings(max_examples=400, deadline=None)
    @given(bodies, st.sampled_from([RegisterRequest, ServiceRegistration, DirEntry]))
    def check(body, target):
        assert _outcome(decode_json, body, target) == _outcome(decode_general, body, target)

    check()
    for body in (b'{"Node":"n","Address":"a","Service":{"Service":"s","Port":80,'
                 b'"Tags":["a"],"Meta":{"k":"v"}}}',
                 b'{"Node":"n","Service":{"Service":"s","Port":18446744073709551616}}',
                 b'{"Node":"n","Service":{"Service":"s","Tags":[null]}}', b"null", b"",
                 b'{"Node":"n","Service":{"Proxy":{"Config":{"a":[99999999999999999999]}}}}'):
        assert _outcome(decode_json, body, RegisterRequest) == \
            _outcome(decode_general, body, RegisterRequest)
