"""TTL checks: application-driven status, expiry to critical."""

from __future__ import annotations

from proconsul.agent.checks import CheckDefinition, TTLRunner, make_runner

from .conftest import ManualSleep


def ttl_runner(rec, ttl="30s", sleep=None, **fields) -> TTLRunner:
    runner = make_runner(CheckDefinition(CheckID="ttl", TTL=ttl, **fields), rec,
                         enable_script_checks=False, sleep=sleep)
    assert isinstance(runner, TTLRunner)
    return runner


async def test_expires_to_critical_in_real_time(rec):
    runner = ttl_runner(rec, ttl="50ms", Status="passing")
    assert runner.status == "passing"
    await runner.start()
    assert await rec.next() == ("critical", "TTL expired")
    assert runner.status == "critical"
    await runner.stop()


async def test_update_rearms_and_expiry_keeps_last_output(rec):
    sleep = ManualSleep()
    runner = ttl_runner(rec, sleep=sleep)
    await runner.start()
    delay, first = await sleep.next()
    assert delay == 30.0
    assert runner.pass_("all good") == "all good"
    assert await rec.next() == ("passing", "all good")
    delay, second = await sleep.next()  # a fresh TTL period
    assert delay == 30.0
    assert first.cancelled()
    second.set_result(None)
    assert await rec.next() == (
        "critical", "TTL expired (last output before timeout follows): all good")
    await runner.stop()


async def test_warn_fail_and_update(rec):
    sleep = ManualSleep()
    runner = ttl_runner(rec, sleep=sleep)
    await runner.start()
    _, first = await sleep.next()
    runner.warn("hmm")
    runner.fail("down")
    runner.update("passing", "")
    assert rec.all == [("warning", "hmm"), ("critical", "down"), ("passing", "")]
    _, latest = await sleep.next()  # only the newest timer is running
    assert first.cancelled()
    assert sleep.requests.empty()
    latest.set_result(None)
    for _ in range(3):
        await rec.next()
    # The last update had no output: the plain expiry message.
    assert await rec.next() == ("critical", "TTL expired")
    await runner.stop()


async def test_does_not_fire_again_until_updated(rec):
    sleep = ManualSleep()
    runner = ttl_runner(rec, sleep=sleep)
    await runner.start()
    _, first = await sleep.next()
    first.set_result(None)
    assert await rec.next() == ("critical", "TTL expired")
    assert sleep.requests.empty()  # no new timer until the next update
    runner.pass_()
    _, again = await sleep.next()
    assert not again.done()
    await runner.stop()
    assert again.cancelled()


async def test_long_output_is_truncated_at_the_head(rec):
    runner = ttl_runner(rec, OutputMaxSize=10)
    await runner.start()
    returned = runner.fail("0123456789abcdef")
    assert returned == "0123456789 ... (captured 10 of 16 bytes)"
    assert rec.last == ("critical", returned)
    await runner.stop()


async def test_ttl_ignores_thresholds(rec):
    runner = ttl_runner(rec, FailuresBeforeCritical=3)
    await runner.start()
    runner.pass_("a")
    runner.fail("b")
    assert rec.all == [("passing", "a"), ("critical", "b")]
    await runner.stop()
