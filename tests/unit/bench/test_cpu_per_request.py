"""bench/cpu_per_request.py's pieces that need no agent: /proc CPU, callgrind totals, requests."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

_CPU = Path(__file__).resolve().parents[3] / "bench" / "cpu_per_request.py"
_spec = importlib.util.spec_from_file_location("proconsul_bench_cpu", _CPU)
cpu = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = cpu
_spec.loader.exec_module(cpu)


def test_cpu_seconds_of_a_process_and_its_main_thread_grow_with_work() -> None:
    pid = os.getpid()
    before, before_main = sum(cpu.cpu_seconds(pid)), sum(cpu.cpu_seconds(pid, pid))
    x = 0
    while sum(cpu.cpu_seconds(pid, pid)) - before_main < 0.1:
        x += 1
    user, system = cpu.cpu_seconds(pid)
    # the process total and the thread's own counter tick apart: allow a few ticks
    assert user + system - before >= 0.05
    assert user >= system  # a loop of additions is the user's time, not the kernel's


def test_callgrind_total_reads_the_totals_line_not_the_summary(tmp_path: Path) -> None:
    dump = tmp_path / "out.1"
    dump.write_text("version: 1\nevents: Ir\nsummary: 0\nfn=main\n1 5\ntotals: 61106564\n")
    assert cpu.callgrind_total(dump) == 61106564


def test_every_kind_has_requests_and_register_bodies_are_json() -> None:
    keys = [f"k{i}" for i in range(3)]
    for kind in cpu.KINDS:
        assert cpu.requests_for(kind, keys)
    body = json.loads(cpu.register_body(300))
    assert body["Node"] == "bench-node-0300" and body["Address"] == "10.1.1.44"
    assert cpu.parse_args([]).rev == [] and cpu.parse_args(["--rev", "main"]).rev == ["main"]
