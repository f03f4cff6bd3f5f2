"""Thresholds (Consul's StatusHandler), the interval loop with its stagger, make_runner."""

from __future__ import annotations

import asyncio
import random

import pytest

from proconsul.agent.checks import (
    DEFAULT_BUF_SIZE,
    CheckDefinition,
    IntervalRunner,
    InvalidCheck,
    ScriptChecksDisabled,
    StatusHandler,
    make_runner,
)

from .conftest import InstantSleep, Recorder


def test_first_result_is_reported_immediately_whatever_the_thresholds(rec):
    handler = StatusHandler(rec, success_before_passing=3, failures_before_critical=3)
    handler.update("critical", "down")
    assert rec.all == [("critical", "down")]
    other = Recorder()
    StatusHandler(other, success_before_passing=3).update("passing", "up")
    assert other.all == [("passing", "up")]


def test_success_before_passing_counts_consecutive_successes(rec):
    handler = StatusHandler(rec, success_before_passing=2)
    handler.update("critical", "a")           # reported: failure threshold 0
    handler.update("passing", "b")            # 1 of 2: suppressed
    handler.update("critical", "c")           # resets the success count
    handler.update("passing", "d")            # 1 of 2 again
    handler.update("warning", "e")            # warning counts as a success: 2 of 2
    handler.update("passing", "f")
    assert rec.all == [("critical", "a"), ("critical", "c"), ("warning", "e"), ("passing", "f")]


def test_failures_before_warning_then_critical(rec):
    handler = StatusHandler(rec, failures_before_warning=1, failures_before_critical=3)
    handler.update("passing", "ok")
    handler.update("critical", "x1")  # 1: warning threshold reached -> reported as warning
    handler.update("critical", "x2")  # 2: still warning
    handler.update("critical", "x3")  # 3: critical
    handler.update("passing", "ok2")  # success resets failures
    handler.update("critical", "y1")
    assert rec.all == [("passing", "ok"), ("warning", "x1"), ("warning", "x2"),
                       ("critical", "x3"), ("passing", "ok2"), ("warning", "y1")]


def test_failures_before_critical_alone_suppresses_until_reached(rec):
    # make_runner defaults FailuresBeforeWarning to FailuresBeforeCritical, as Consul does.
    handler = StatusHandler(rec, failures_before_warning=2, failures_before_critical=2)
    handler.update("passing", "ok")
    handler.update("critical", "x1")
    assert rec.all == [("passing", "ok")]
    handler.update("critical", "x2")
    assert rec.last == ("critical", "x2")


class ScriptedRunner(IntervalRunner):
    """An interval runner whose probe replays a list of results."""

    def __init__(self, results, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.results = list(results)
        self.probes = 0

    async def probe(self):
        status, output = self.results[self.probes % len(self.results)]
        self.probes += 1
        self.report(status, output)


async def test_interval_loop_staggers_then_waits_interval(rec):
    sleep = InstantSleep()
    runner = ScriptedRunner([("passing", "p"), ("critical", "c")], "c1", rec, interval=30.0,
                            timeout=1.0, sleep=sleep, rng=random.Random(7))
    await runner.start()
    for _ in range(4):
        await rec.next()
    await runner.stop()
    expected_stagger = random.Random(7).random() * 30.0
    assert sleep.calls[0] == pytest.approx(expected_stagger)
    assert 0 <= runner.initial_delay < 30.0
    assert all(delay == 30.0 for delay in sleep.calls[1:])
    assert rec.all[:4] == [("passing", "p"), ("critical", "c"), ("passing", "p"),
                           ("critical", "c")]
    assert runner.status == rec.all[-1][0]


async def test_stagger_is_random_within_interval(rec):
    delays = set()
    for seed in range(5):
        sleep = InstantSleep()
        runner = ScriptedRunner([("passing", "")], "c", Recorder(), interval=10.0, timeout=1.0,
                                sleep=sleep, rng=random.Random(seed))
        await runner.start()
        while not sleep.calls:
            await asyncio.sleep(0)
        await runner.stop()
        assert 0 <= sleep.calls[0] < 10.0
        delays.add(sleep.calls[0])
    assert len(delays) == 5


async def test_interval_runner_applies_thresholds_over_real_time(rec):
    # Real (short) interval: results arrive one after another; only the order is asserted.
    runner = ScriptedRunner([("passing", "p")] * 1 + [("critical", "c")] * 3, "c", rec,
                            interval=0.02, timeout=1.0,
                            handler_args={"failures_before_warning": 2,
                                          "failures_before_critical": 3})
    await runner.start()
    got = [await rec.next() for _ in range(3)]
    await runner.stop()
    assert got == [("passing", "p"), ("warning", "c"), ("critical", "c")]


async def test_stop_ends_the_loop(rec):
    sleep = InstantSleep()
    runner = ScriptedRunner([("passing", "")], "c", rec, interval=1.0, timeout=1.0, sleep=sleep)
    await runner.start()
    await rec.next()
    await runner.stop()
    assert not runner.running
    probes = runner.probes
    for _ in range(20):
        await asyncio.sleep(0)
    assert runner.probes == probes


def test_script_checks_refused_unless_enabled(rec):
    definition = CheckDefinition(CheckID="s", ScriptArgs=["true"], Interval="10s")
    with pytest.raises(ScriptChecksDisabled) as err:
        make_runner(definition, rec, enable_script_checks=False)
    assert "Scripts are disabled on this agent; to enable, configure 'enable_script_checks'" \
        in str(err.value)
    with pytest.raises(ScriptChecksDisabled, match="from remote calls"):
        make_runner(definition, rec, enable_script_checks=False, remote=True)
    docker = CheckDefinition(CheckID="d", ScriptArgs=["true"], DockerContainerID="x",
                             Interval="10s")
    with pytest.raises(ScriptChecksDisabled):
        make_runner(docker, rec, enable_script_checks=False)
    assert make_runner(definition, rec, enable_script_checks=True).kind == "script"


def test_make_runner_validates_and_clamps(rec):
    with pytest.raises(InvalidCheck, match="Interval must be > 0"):
        make_runner(CheckDefinition(CheckID="h", HTTP="http://x"), rec,
                    enable_script_checks=False)
    with pytest.raises(InvalidCheck, match="CheckID missing"):
        make_runner(CheckDefinition(TTL="1s"), rec, enable_script_checks=False)
    with pytest.raises(InvalidCheck, match="alias source"):
        make_runner(CheckDefinition(CheckID="a", AliasService="web"), rec,
                    enable_script_checks=False)
    fast = make_runner(CheckDefinition(CheckID="t", TCP="127.0.0.1:1", Interval="10ms"), rec,
                       enable_script_checks=False)
    assert fast.interval == 1.0  # Consul's MinInterval
    assert fast.timeout == 10.0  # network checks default to 10s
    script = make_runner(CheckDefinition(CheckID="s", ScriptArgs=["true"], Interval="5s"), rec,
                         enable_script_checks=True)
    assert (script.interval, script.timeout) == (5.0, 30.0)  # scripts default to 30s


def test_make_runner_settings(rec):
    def build(**fields):
        return make_runner(CheckDefinition(CheckID="x", Interval="5s", **fields), rec,
                           enable_script_checks=True)

    assert build(ScriptArgs=["true"]).output_max_size == DEFAULT_BUF_SIZE
    assert build(ScriptArgs=["true"], OutputMaxSize=100).output_max_size == 100
    # A check may lower the agent's limit but not raise it.
    assert build(ScriptArgs=["true"], OutputMaxSize=1 << 20).output_max_size == DEFAULT_BUF_SIZE
    handler = build(TCP="h:1", FailuresBeforeCritical=4).handler
    assert (handler.failures_before_warning, handler.failures_before_critical) == (4, 4)
    handler = build(TCP="h:1", FailuresBeforeWarning=1, FailuresBeforeCritical=4,
                    SuccessBeforePassing=2).handler
    assert (handler.failures_before_warning, handler.success_before_passing) == (1, 2)
    assert build(TCP="h:1").status == "critical"
    assert build(TCP="h:1", Status="passing").status == "passing"
    assert make_runner(CheckDefinition(Name="by-name", TTL="5s"), rec,
                       enable_script_checks=False).check_id == "by-name"


@pytest.mark.parametrize(("fields", "message"), [
    ({"ScriptArgs": ["true"], "DockerContainerID": "c1"},
     "Docker checks are not supported on this agent"),
    ({"OSService": "sshd"}, "OS service checks are not supported on this agent"),
])
async def test_unsupported_kinds_report_critical(rec, fields, message):
    runner = make_runner(CheckDefinition(CheckID="u", Interval="5s", Status="passing", **fields),
                         rec, enable_script_checks=True)
    await runner.start()
    assert await rec.next() == ("critical", message)
    await runner.stop()


async def test_a_crashed_runner_is_restarted_and_counted():
    from proconsul.agent.checks.base import CheckRunner
    from proconsul.lib import routine
    from proconsul.lib.metrics import registry as metrics

    runs = asyncio.Queue()

    class Crashy(CheckRunner):
        async def _run(self) -> None:
            runs.put_nowait(1)
            if runs.qsize() == 1:
                raise RuntimeError("bug in a probe")
            await asyncio.Event().wait()

    key = (routine.RESTARTS_METRIC, (("routine", "check"),))
    before = metrics._counter_totals.get(key, 0)
    runner = Crashy("c1", Recorder())
    await runner.start()
    await asyncio.wait_for(runs.get(), 1)
    await asyncio.wait_for(runs.get(), 3)  # the second run, after the 1 s backoff
    assert runner.running and metrics._counter_totals[key] - before == 1
    await runner.stop()
