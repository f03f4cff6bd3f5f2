"""docs/compatibility.md is what bench/compat_matrix.py makes of today's code."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "compat_matrix.py"
_spec = importlib.util.spec_from_file_location("proconsul_bench_compat_matrix", _SCRIPT)
compat = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = compat
_spec.loader.exec_module(compat)


def test_checked_in_matrix_is_current() -> None:
    fresh = compat.render()
    current = compat.OUTPUT.read_text() if compat.OUTPUT.exists() else ""
    if current != fresh:
        pytest.fail(f"docs/compatibility.md is stale: regenerate it with `{compat.COMMAND}` "
                    "and commit the result")


def test_endpoints_are_matched_against_the_agents_route_table() -> None:
    rows, extra = compat.http_rows(compat.partial_notes())
    status = {ep.key: (s, tested) for ep, s, tested, _ in rows}
    assert status["GET /v1/kv/:key"] == ("supported", "yes")
    assert status["PUT /v1/agent/service/deregister/:service_id"][0] == "supported"
    assert status["PUT /v1/acl/bootstrap"] == ("supported", "yes")
    assert status["POST /v1/internal/acl/authorize"] == ("supported", "yes")
    assert status["GET /v1/exported-services"] == ("supported", "yes")
    assert status["GET /v1/operator/utilization"] == ("not yet", "")
    assert "GET /v1/kv/{key}" not in extra  # matched routes are not listed as extras


def test_cli_and_config_rows_come_from_the_registries() -> None:
    cli, _ = compat.cli_rows({})
    assert ("kv put", "supported", "") in cli
    assert ("snapshot save", "supported", "") in cli
    assert ("snapshot decode", "supported", "") in cli
    assert ("peering list", "supported", "") in cli
    assert ("resource read", "not yet", "") in cli
    config = {key: status for key, status, _ in compat.config_rows()}
    assert config["retry_join"] == "supported"
    assert config["tls.https.cert_file"] == "supported"
    assert config["acl.enabled"] == "supported"
    assert config["serf_lan_allowed_cidrs"] == "refused"
    assert config["ui_config.dir"] == "supported"
    assert config["ui_config.metrics_provider"] == "accepted, no effect"


def test_a_partial_note_for_something_consul_lacks_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(compat, "partial_notes", lambda: {"http GET /v1/nope": "x"})
    with pytest.raises(SystemExit, match="GET /v1/nope"):
        compat.render()
