"""bench/kv_bench.py's option handling (the bench itself is not run here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_KV = Path(__file__).resolve().parents[3] / "bench" / "kv_bench.py"
_spec = importlib.util.spec_from_file_location("proconsul_bench_kv", _KV)
kv = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = kv
_spec.loader.exec_module(kv)


def test_default_is_the_dev_agent_and_every_scenario() -> None:
    a = kv.parse_args([])
    assert a.servers == 0 and not a.via_client and a.suite is None
    assert kv.select_scenarios(a.scenario) == kv.SCENARIOS


def test_scenarios_filter_takes_names_and_ops() -> None:
    a = kv.parse_args(["--scenarios", "put, get-stale c=64", "--scenario", "get c=16"])
    names = [s[0] for s in kv.select_scenarios(a.scenario)]
    assert names == ["put c=1", "put c=16", "put c=64", "get c=16", "get-stale c=64"]


def test_unknown_scenario_is_refused() -> None:
    with pytest.raises(SystemExit):
        kv.select_scenarios(["put c=64", "nope"])


@pytest.mark.parametrize("argv", [
    ["--via-client"],                      # needs durable servers
    ["--servers", "2"],
    ["--suite", "durable", "--servers", "3"],
])
def test_bad_combinations_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        kv.parse_args(argv)


def test_suite_parts_and_targets() -> None:
    parts = {key: goals for key, _title, _names, goals in kv.SUITE}
    assert parts == {"a": {"put c=64": 1.5, "get-stale c=64": 2.0},
                     "b": {"put c=64": 1.0},
                     "c": {"put c=64": 1.0, "get-stale c=64": 1.5}}
