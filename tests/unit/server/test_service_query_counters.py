"""consul.<kind>.service.query and .not-found count each read, keys kept or not."""

from __future__ import annotations

import re

import pytest

from proconsul.lib.metrics import registry
from proconsul.server.endpoints import catalog


def counts(service: str) -> tuple[int, int]:
    text = registry.prometheus()
    found = [re.search(rf'consul_health_service_{name}{{service="{service}"}} (\d+)', text)
             for name in ("query", "not_found")]
    return tuple(int(m[1]) if m else 0 for m in found)  # type: ignore[return-value]


@pytest.mark.parametrize("kept", [catalog.SERVICE_QUERY_KEYS_KEPT, 0], ids=["kept", "past-cap"])
def test_each_read_counts_once(monkeypatch, kept):
    monkeypatch.setattr(catalog, "SERVICE_QUERY_KEYS_KEPT", kept)
    service = f"counted-{kept}"
    for not_found in (False, True, True, False):
        catalog.count_service_query("health", service, not_found)
    assert counts(service) == (4, 2)
    assert (("health", service, True) in catalog._SERVICE_QUERY_KEYS) == bool(kept)
