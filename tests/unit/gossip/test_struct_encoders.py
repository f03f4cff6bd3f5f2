"""The per-class struct encoders give the bytes of the general way (map, then pack)."""

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proconsul.gossip import serf_wire, wire
from proconsul.gossip.msgpack import pack
from proconsul.gossip.structs import (
    BOOL,
    BYTES,
    FLOAT,
    INT,
    IP,
    STR,
    ListOf,
    MapOf,
    StructOf,
    encode_struct,
    struct_to_wire,
)

CLASSES = sorted({cls for module in (wire, serf_wire) for cls in vars(module).values()
                  if isinstance(cls, type) and dataclasses.is_dataclass(cls)
                  and all("go" in f.metadata for f in dataclasses.fields(cls))},
                 key=lambda c: c.__name__)

_IPS = st.sampled_from(["", "10.0.0.1", "127.0.0.1", "::1", "fe80::1", "::ffff:10.1.2.3"])
_SCALARS = {
    id(INT): st.integers(-(1 << 63), (1 << 64) - 1) | st.integers(-40, 300) | st.booleans(),
    id(STR): st.text(max_size=40),
    id(BYTES): st.binary(max_size=300),
    id(IP): _IPS,
    id(BOOL): st.booleans(),
    id(FLOAT): st.floats(allow_nan=False) | st.integers(-5, 5),
}


def _values(conv):
    if id(conv) in _SCALARS:
        return _SCALARS[id(conv)]
    if isinstance(conv, ListOf):
        return st.none() | st.lists(_values(conv.item), max_size=3)
    if isinstance(conv, MapOf):
        return st.none() | st.dictionaries(st.text(max_size=8), _values(conv.value), max_size=3)
    if isinstance(conv, StructOf):
        return st.none() | _instances(conv.cls)
    raise AssertionError(f"no strategy for {conv!r}")


def _instances(cls):
    fields = {f.name: _values(f.metadata["go"][1]) for f in dataclasses.fields(cls)}
    return st.fixed_dictionaries(fields).map(lambda kw: cls(**kw))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_encoder_matches_the_general_way(cls):
    @settings(max_examples=60, deadline=None)
    @given(_instances(cls))
    def check(obj):
        assert encode_struct(obj) == pack(struct_to_wire(obj))

    check()


def test_classes_found():
    names = {c.__name__ for c in CLASSES}
    assert {"Ping", "Ack", "Alive", "PushNodeState", "Coordinate", "UserEventMessage"} <= names
