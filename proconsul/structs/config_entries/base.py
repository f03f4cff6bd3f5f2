"""What every config entry shares: kinds, errors, Meta limits and the decoder.

The decoder follows Consul's ``DecodeConfigEntry``: it reads the ``Kind``
(or ``kind``) key, matches every other key to a field case-insensitively and
with underscores dropped (so ``service_name``, ``serviceName`` and
``ServiceName`` are one field, as Consul's ``alias`` tags make them), takes
the single block of an HCL block list where one object is expected, accepts
Go durations as strings or nanoseconds, and refuses keys it does not know.
Map-valued fields (``Meta``, ``Subsets``, proxy ``Config``) keep their keys
as written.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, ClassVar

import msgspec
import msgspec.inspect as mi

from proconsul.lib import hcl
from proconsul.lib.duration import DurationError, format_duration, parse_duration
from proconsul.structs.base import Record
from proconsul.structs.errors import BadRequest

__all__ = [
    "ConfigEntryError",
    "Duration",
    "Entry",
    "collect",
    "decode_entry",
    "decode_hcl",
    "duration_ns",
    "validate_meta",
]

# A Go time.Duration field: stored and shown as Go prints it ("15s"), read from
# a duration string or a number of nanoseconds.
Duration = Annotated[str, msgspec.Meta(extra={"duration": True})]

WILDCARD = "*"
META_MAX_PAIRS = 64
META_KEY_MAX = 128
META_VALUE_MAX = 512


class ConfigEntryError(BadRequest):
    """A config entry cannot be decoded, normalized or validated; the message is Consul's."""


def collect(errors: list[str]) -> None:
    """Raise the errors a multi-error validation gathered, if any, as one line."""
    if len(errors) == 1:
        raise ConfigEntryError(errors[0])
    if errors:
        raise ConfigEntryError(f"{len(errors)} errors occurred: " + "; ".join(errors))


def validate_meta(meta: dict[str, str] | None) -> list[str]:
    """Consul's limits on an entry's Meta (64 pairs, keys 128 bytes, values 512)."""
    errors = []
    if meta and len(meta) > META_MAX_PAIRS:
        errors.append(f"Meta exceeds maximum element count {META_MAX_PAIRS}")
    for key, value in (meta or {}).items():
        if len(key) > META_KEY_MAX:
            errors.append(f'Meta key "{key}" exceeds maximum length {META_KEY_MAX}')
        if len(value) > META_VALUE_MAX:
            errors.append(f'Meta value for key "{key}" exceeds maximum length {META_VALUE_MAX}')
    return errors


def duration_ns(value: str) -> int:
    """Nanoseconds of a normalized Duration field ("" is 0)."""
    return parse_duration(value) if value else 0


class Entry(Record, kw_only=True):
    """Base of the config entry kinds (each declares Name, Meta and the raft indexes).

    ``normalize()`` fills defaults in place (Consul's Normalize) and
    ``validate()`` raises ConfigEntryError with Consul's message."""

    KIND: ClassVar[str] = ""

    Kind: str = ""

    def normalize(self) -> None:
        self.Kind = self.KIND

    def validate(self) -> None:
        if not getattr(self, "Name", ""):
            raise ConfigEntryError("Name is required")
        collect(validate_meta(getattr(self, "Meta", None)))

    def entry_name(self) -> str:
        """The name the entry is stored under."""
        return getattr(self, "Name", "")


# ---- decoding ---------------------------------------------------------------------


def decode_entry(raw: Any, kinds: dict[str, type[Entry]]) -> Entry:
    """A config entry from a decoded JSON/HCL object, typed by its Kind key."""
    if not isinstance(raw, dict):
        raise ConfigEntryError("Payload does not contain a kind/Kind key at the top level")
    kind = raw.get("Kind", raw.get("kind", _MISSING))
    if kind is _MISSING:
        raise ConfigEntryError("Payload does not contain a kind/Kind key at the top level")
    if not isinstance(kind, str):
        raise ConfigEntryError("Kind value in payload is not a string")
    cls = kinds.get(kind)
    if cls is None:
        raise ConfigEntryError(f"invalid config entry kind: {kind}")
    unused: list[str] = []
    body = _translate(raw, _type_info(cls), "", unused)
    if unused:
        collect([_unused_message(key) for key in unused])
    body["Kind"] = kind
    try:
        return msgspec.convert(body, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigEntryError(str(exc)) from None


def decode_hcl(text: str, kinds: dict[str, type[Entry]]) -> Entry:
    """A config entry from the text of an HCL (or JSON) file, as `consul config write` reads it."""
    try:
        raw = hcl.loads(text)
    except Exception as exc:  # pyhcl raises plain ValueErrors and its own lexer errors
        raise ConfigEntryError(f"Failed to decode config entry input: {exc}") from None
    return decode_entry(raw, kinds)


_MISSING = object()


def _unused_message(key: str) -> str:
    lowered = key.lower()
    if lowered.endswith("namespace"):
        return f'invalid config key "{key}", namespaces are a consul enterprise feature'
    if lowered.endswith("partition"):
        return f'invalid config key "{key}", partitions are a consul enterprise feature'
    return f'invalid config key "{key}"'


@functools.cache
def _type_info(cls: type) -> mi.Type:
    return mi.type_info(cls)


@functools.cache
def _field_map(cls: type) -> dict[str, mi.Field]:
    """Folded key -> field, plus the type's ``ALIASES`` (Consul's irregular alias tags)."""
    info = _type_info(cls)
    assert isinstance(info, mi.StructType)
    fields = {_fold(f.name): f for f in info.fields}
    by_name = {f.name: f for f in info.fields}
    for alias, name in getattr(cls, "ALIASES", {}).items():
        fields[_fold(alias)] = by_name[name]
    return fields


def _fold(key: str) -> str:
    return key.replace("_", "").lower()


def _translate(raw: Any, t: mi.Type, path: str, unused: list[str]) -> Any:
    """``raw`` with struct keys renamed to field names and durations normalized."""
    if raw is None:
        return None
    if isinstance(t, mi.UnionType):
        inner = [x for x in t.types if not isinstance(x, mi.NoneType)]
        return _translate(raw, inner[0], path, unused) if len(inner) == 1 else raw
    if isinstance(t, mi.Metadata):
        if (t.extra or {}).get("duration"):
            return _duration(raw, path)
        return _translate(raw, t.type, path, unused)
    if isinstance(t, mi.StructType):
        raw = _single(raw)
        if not isinstance(raw, dict):
            return raw
        fields = _field_map(t.cls)
        out = {}
        for key, value in raw.items():
            field = fields.get(_fold(key)) if isinstance(key, str) else None
            if field is None:
                if key not in ("CreateIndex", "ModifyIndex", "Kind", "kind", "Hash"):
                    unused.append(f"{path}{key}")
                continue
            out[field.name] = _translate(value, field.type, f"{path}{field.name}.", unused)
        return out
    if isinstance(t, mi.DictType):
        raw = _single(raw)
        if isinstance(raw, dict):
            return {k: _translate(v, t.value_type, f"{path}{k}.", unused) for k, v in raw.items()}
        return raw
    if isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        if isinstance(raw, dict):
            raw = [raw]
        if isinstance(raw, list):
            return [_translate(v, t.item_type, path, unused) for v in raw]
        return raw
    if isinstance(t, mi.StrType | mi.IntType | mi.FloatType | mi.BoolType):
        return _single(raw) if isinstance(raw, list) and len(raw) == 1 else raw
    return raw


def _single(raw: Any) -> Any:
    # HCL's repeated-block lists and mapstructure's weak decode from a one-element slice.
    if isinstance(raw, list) and len(raw) == 1:
        return raw[0]
    return raw


def _duration(raw: Any, path: str) -> str:
    if isinstance(raw, bool):
        raise ConfigEntryError(f"{path.rstrip('.')}: expected a duration, got bool")
    if isinstance(raw, int | float):
        return format_duration(int(raw)) if raw else ""
    if isinstance(raw, str):
        if raw == "":
            return ""
        try:
            nanos = parse_duration(raw)
        except DurationError as exc:
            raise ConfigEntryError(str(exc)) from None
        return format_duration(nanos) if nanos else ""
    raise ConfigEntryError(f"{path.rstrip('.')}: expected a duration, got {type(raw).__name__}")
