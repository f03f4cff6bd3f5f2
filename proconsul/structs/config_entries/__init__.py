"""Config entries (Consul's agent/structs/config_entry*.go): every CE kind as a
msgspec type with Consul's field names, a decoder for JSON and HCL in either
key style, and ``normalize()``/``validate()`` per kind with Consul's messages.

    entry = decode(raw)        # or decode_hcl(text); ConfigEntryError if invalid
    entry.normalize()          # defaults in place, may raise ConfigEntryError
    entry.validate()           # ConfigEntryError with Consul's message
    KINDS[entry.Kind], entry.entry_name()

Stored entries (raft log, snapshots) are plain msgspec encodings of the
types; :func:`load` turns their decoded form back into the typed entry.
"""

from __future__ import annotations

from typing import Any

import msgspec

from proconsul.structs.config_entries.base import ConfigEntryError, Entry, decode_entry
from proconsul.structs.config_entries.base import decode_hcl as _decode_hcl
from proconsul.structs.config_entries.chain import (
    ServiceResolverConfigEntry,
    ServiceRouterConfigEntry,
    ServiceSplitterConfigEntry,
)
from proconsul.structs.config_entries.gateways import (
    APIGatewayConfigEntry,
    HTTPRouteConfigEntry,
    IngressGatewayConfigEntry,
    InlineCertificateConfigEntry,
    TCPRouteConfigEntry,
    TerminatingGatewayConfigEntry,
)
from proconsul.structs.config_entries.intentions import ServiceIntentionsConfigEntry
from proconsul.structs.config_entries.misc import (
    ExportedServicesConfigEntry,
    JWTProviderConfigEntry,
    RateLimitIPConfigEntry,
    SamenessGroupConfigEntry,
)
from proconsul.structs.config_entries.service import (
    MeshConfigEntry,
    ProxyConfigEntry,
    ServiceConfigEntry,
)

__all__ = [
    "KINDS",
    "ConfigEntryError",
    "Entry",
    "decode",
    "decode_hcl",
    "load",
    "make_entry",
]

KINDS: dict[str, type[Entry]] = {
    cls.KIND: cls
    for cls in (
        ServiceConfigEntry,
        ProxyConfigEntry,
        ServiceRouterConfigEntry,
        ServiceSplitterConfigEntry,
        ServiceResolverConfigEntry,
        IngressGatewayConfigEntry,
        TerminatingGatewayConfigEntry,
        ServiceIntentionsConfigEntry,
        MeshConfigEntry,
        ExportedServicesConfigEntry,
        SamenessGroupConfigEntry,
        APIGatewayConfigEntry,
        HTTPRouteConfigEntry,
        TCPRouteConfigEntry,
        InlineCertificateConfigEntry,
        RateLimitIPConfigEntry,
        JWTProviderConfigEntry,
    )
}


def decode(raw: Any) -> Entry:
    """A config entry from a decoded JSON body (CamelCase or snake_case keys)."""
    return decode_entry(raw, KINDS)


def decode_hcl(text: str) -> Entry:
    """A config entry from an HCL or JSON file's text."""
    return _decode_hcl(text, KINDS)


def load(raw: dict[str, Any]) -> Entry:
    """A typed entry from its own encoding (msgpack or JSON decoded to builtins).

    Unlike :func:`decode` this takes only the canonical field names, as written
    by msgspec; ConfigEntryError if the kind is unknown or the shape wrong."""
    cls = KINDS.get(raw.get("Kind", ""))
    if cls is None:
        raise ConfigEntryError(f"invalid config entry kind: {raw.get('Kind', '')}")
    try:
        return msgspec.convert(raw, cls)
    except msgspec.ValidationError as exc:
        raise ConfigEntryError(str(exc)) from None


def make_entry(kind: str, name: str = "") -> Entry:
    """An empty entry of ``kind`` (Consul's MakeConfigEntry); ConfigEntryError if unknown."""
    cls = KINDS.get(kind)
    if cls is None:
        raise ConfigEntryError(f"invalid config entry kind: {kind}")
    entry = cls(Kind=kind)
    if "Name" in cls.__struct_fields__:
        entry.Name = name  # type: ignore[attr-defined]
    return entry
