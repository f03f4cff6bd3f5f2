"""Script checks against real subprocesses."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from proconsul.agent.checks import CheckDefinition, make_runner


def runner_for(rec, args, **fields):
    definition = CheckDefinition(CheckID="script", ScriptArgs=args, Interval="10s", **fields)
    return make_runner(definition, rec, enable_script_checks=True)


@pytest.mark.parametrize(("script", "status"), [
    ("echo all good", "passing"),
    ("echo meh; exit 1", "warning"),
    ("echo bad; exit 2", "critical"),
    ("echo worse; exit 127", "critical"),
    ("echo killed; kill -9 $$", "critical"),
])
async def test_exit_code_maps_to_status(rec, script, status):
    runner = runner_for(rec, ["/bin/sh", "-c", script])
    await runner.probe()
    assert rec.last[0] == status
    assert rec.last[1] == script.split(";")[0].removeprefix("echo ") + "\n"


async def test_stdout_and_stderr_are_combined(rec):
    runner = runner_for(rec, ["/bin/sh", "-c", "echo out; echo err >&2; echo out2"])
    await runner.probe()
    assert rec.last == ("passing", "out\nerr\nout2\n")


async def test_output_is_capped_keeping_the_tail_with_consuls_marker(rec):
    # 26 lines of 40 bytes = 1040 bytes; only the last 100 are kept.
    script = "for c in a b c d e f g h i j k l m n o p q r s t u v w x y z; do " \
             "printf \"%039d\\n\" 0 | tr 0 $c; done"
    runner = runner_for(rec, ["/bin/sh", "-c", script], OutputMaxSize=100)
    await runner.probe()
    status, output = rec.last
    assert status == "passing"
    header, tail = output.split("\n...\n")
    assert header == "Captured 100 of 1040 bytes"
    assert len(tail.encode()) == 100
    assert tail.endswith("z" * 39 + "\n")
    assert tail == "x" * 19 + "\n" + "y" * 39 + "\n" + "z" * 39 + "\n"


async def test_shell_runs_args_as_a_command_line(rec):
    runner = runner_for(rec, ["echo via-shell;", "exit 1"], Shell="/bin/sh")
    await runner.probe()
    assert rec.last == ("warning", "via-shell\n")


async def test_missing_program_is_critical(rec):
    runner = runner_for(rec, ["no-such-program-for-proconsul"])
    await runner.probe()
    assert rec.last == ("critical",
                        'exec: "no-such-program-for-proconsul": executable file not found in $PATH')
    runner = runner_for(rec, ["/nonexistent/prog"])
    await runner.probe()
    assert rec.last == ("critical", "fork/exec /nonexistent/prog: no such file or directory")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


async def _wait_dead(pid: int) -> bool:
    for _ in range(500):  # bounded poll for an external fact (process reaped by init)
        if not _alive(pid):
            return True
        await asyncio.sleep(0.01)
    return False


async def test_timeout_kills_the_process_tree(rec, tmp_path):
    pidfile = tmp_path / "child.pid"
    script = f"sleep 60 & echo $! > {pidfile}; echo started; wait"
    runner = runner_for(rec, ["/bin/sh", "-c", script], Timeout="300ms")
    probe = asyncio.ensure_future(runner.probe())
    status, output = await rec.next()
    assert status == "critical"
    assert output == "Timed out (300ms) running check\n\nstarted\n"
    child = int(pidfile.read_text())
    await asyncio.wait_for(probe, 10)  # the probe returns only once the script has exited
    assert await _wait_dead(child), "the background child survived the timeout"


async def test_timeout_without_output_has_no_trailer(rec):
    runner = runner_for(rec, ["sleep", "60"], Timeout="200ms")
    await runner.probe()
    assert rec.last == ("critical", "Timed out (200ms) running check")


async def test_timeout_bypasses_the_failure_threshold(rec):
    # Consul reports a timed-out script straight to the state, not via the StatusHandler.
    runner = runner_for(rec, ["sleep", "60"], Timeout="200ms", FailuresBeforeCritical=5)
    runner.handler.failures_counter = 0
    await runner.probe()
    assert rec.last[0] == "critical"


async def test_stop_during_a_run_kills_the_script(rec, tmp_path):
    pidfile = tmp_path / "pid"
    definition = CheckDefinition(CheckID="s", Interval="10s",
                                 ScriptArgs=["/bin/sh", "-c", f"echo $$ > {pidfile}; sleep 60"])
    runner = make_runner(definition, rec, enable_script_checks=True, min_interval=0.01,
                         rng=_ZeroRandom())
    await runner.start()
    for _ in range(500):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        await asyncio.sleep(0.01)
    pid = int(pidfile.read_text())
    await runner.stop()
    assert await _wait_dead(pid)
    assert rec.all == []


async def test_runs_on_interval_through_start(rec):
    definition = CheckDefinition(CheckID="s", ScriptArgs=["/bin/sh", "-c", "echo $$"],
                                 Interval="20ms")
    runner = make_runner(definition, rec, enable_script_checks=True, min_interval=0.01)
    await runner.start()
    first = await rec.next()
    second = await rec.next()
    await runner.stop()
    assert first[0] == second[0] == "passing"
    assert first[1] != second[1]  # two different processes ran
    assert os.getpid() not in (int(first[1]), int(second[1]))


class _ZeroRandom:
    def random(self) -> float:
        return 0.0
