"""bench/fsm_apply.py runs both kinds and its commands change the state each time."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from proconsul.fsm.fsm import FSM
from proconsul.raft.messages import Entry
from proconsul.state.store import Store

_PATH = Path(__file__).resolve().parents[3] / "bench" / "fsm_apply.py"
_spec = importlib.util.spec_from_file_location("proconsul_bench_fsm_apply", _PATH)
fsm_apply = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = fsm_apply
_spec.loader.exec_module(fsm_apply)


@pytest.mark.parametrize("kind", ["kv", "register"])
def test_runs(kind, capsys):
    assert fsm_apply.main(["--kind", kind, "--applies", "30"]) == 0
    assert f"30 {kind} applies" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["kv", "register"])
def test_every_command_is_a_real_write(kind):
    fsm = FSM(Store())
    for index, data in enumerate(fsm_apply.commands(kind, 30), start=1):
        assert fsm.apply_batch([Entry(index, 1, data=data)]) == [True if kind == "kv" else None]
        assert max(fsm.store.indexes.values()) == index  # an identical rewrite moves nothing
