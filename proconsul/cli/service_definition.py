"""Service definition files (JSON or HCL, agent config format) as API registrations."""

from __future__ import annotations

import json
from typing import Any

from proconsul.lib import hcl

ACRONYMS = {"id": "ID", "http": "HTTP", "tcp": "TCP", "udp": "UDP", "ttl": "TTL",
            "grpc": "GRPC", "tls": "TLS", "h2ping": "H2PING", "dns": "DNS", "sni": "SNI"}
# Maps whose keys are user data, not field names.
OPAQUE = {"meta", "node_meta", "header", "config"}


def api_name(key: str) -> str:
    """``check_id`` -> ``CheckID``; ``Name`` stays ``Name``."""
    if "_" not in key and key[:1].isupper():
        return key
    return "".join(ACRONYMS.get(part, part[:1].upper() + part[1:]) for part in key.split("_"))


def to_api(value: Any, opaque: bool = False) -> Any:
    if isinstance(value, list):
        return [to_api(item) for item in value]
    if not isinstance(value, dict):
        return value
    if opaque:
        return dict(value)
    out = {}
    for key, item in value.items():
        snake = key.lower()
        if snake in ("tagged_addresses", "taggedaddresses") and isinstance(item, dict):
            out["TaggedAddresses"] = {name: to_api(addr) for name, addr in item.items()}
        else:
            out[api_name(key)] = to_api(item, snake in OPAQUE)
    return out


def parse(text: str, path: str) -> dict[str, Any]:
    """The file by its extension, as Consul's config loader reads it; JSON, then HCL, if none."""
    if path.endswith(".hcl"):
        return hcl.loads(text)
    if path.endswith(".json"):
        return json.loads(text)
    try:
        return json.loads(text)
    except ValueError:
        return hcl.loads(text)


def load_services(path: str) -> list[dict[str, Any]]:
    """The registrations in a file holding ``service {...}`` or ``services [...]``.

    Raises ValueError with a message for an unreadable or malformed file.
    """
    try:
        with open(path) as f:
            text = f.read()
    except OSError as err:
        raise ValueError(f"Error reading file: {err}") from None
    try:
        data = parse(text, path)
    except json.JSONDecodeError as err:
        raise ValueError(f"Error decoding file: invalid JSON: {err}") from None
    except Exception as err:  # pyhcl raises its own ValueError subclasses and others
        raise ValueError(f"Error decoding file: {err}") from None
    if not isinstance(data, dict):
        raise ValueError("Error decoding file: expected an object")
    services: list[Any] = []
    if "service" in data:
        item = data["service"]
        services.extend(item if isinstance(item, list) else [item])
    if "services" in data:
        services.extend(data["services"])
    if not services:
        raise ValueError("No service definitions found")
    return [to_api(service) for service in services]
