"""Random schedules of the Raft core under the deterministic simulator."""

from __future__ import annotations

import os

import pytest

from proconsul.raft import core
from tests.unit.raft.sim import InvariantViolation, Simulation, run_parallel, run_seed

CI_SEEDS = 2500


def test_random_schedules_keep_raft_safe_and_live() -> None:
    failures, stats = run_parallel(0, CI_SEEDS, jobs=min(2, os.cpu_count() or 1))
    assert not failures, "\n".join(failures[:10])
    # The schedules really exercise the features.
    for feature in (
        "elections",
        "acked",
        "reads",
        "crashes",
        "transfers",
        "configuration changes",
        "snapshots taken",
        "snapshots installed",
    ):
        assert stats[feature] > CI_SEEDS // 10, (feature, stats)


def test_a_schedule_is_determined_by_its_seed() -> None:
    first, second = Simulation(42), Simulation(42)
    first.run()
    second.run()
    assert first.stats == second.stats and first.acked == second.acked
    assert first.stats


def test_the_simulator_catches_a_broken_quorum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core, "quorum_size", lambda voters: 1)
    with pytest.raises(
        InvariantViolation, match="replay: PYTHONPATH=. python -m tests.unit.raft.sim --seed"
    ):
        for seed in range(50):
            run_seed(seed)
