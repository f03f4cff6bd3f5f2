"""Alias checks: follow a target's health through an AliasSource, no polling."""

from __future__ import annotations

import asyncio

from proconsul.agent.checks import (
    AliasRunner,
    AliasSnapshot,
    CheckDefinition,
    evaluate_alias,
    make_runner,
)
from proconsul.structs.catalog import HealthCheck

from .conftest import InstantSleep


class QueueSource:
    """An AliasSource fed by the test: each put() is a change of the target."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[AliasSnapshot | Exception] = asyncio.Queue()
        self.watches: list[tuple[str, str]] = []

    def put(self, *checks: HealthCheck, service_exists: bool = True) -> None:
        self.queue.put_nowait(AliasSnapshot(list(checks), service_exists))

    def fail(self, err: Exception) -> None:
        self.queue.put_nowait(err)

    async def watch(self, node: str, service_id: str):
        self.watches.append((node, service_id))
        while True:
            item = await self.queue.get()
            if isinstance(item, Exception):
                raise item
            yield item


def chk(check_id, status, *, service="web", node="n1", output="", name=None):
    return HealthCheck(Node=node, CheckID=check_id, Name=name or check_id, Status=status,
                       ServiceID=service, Output=output)


async def started(rec, source, **fields) -> AliasRunner:
    runner = make_runner(CheckDefinition(CheckID="alias", **fields), rec,
                         enable_script_checks=False, alias_source=source, sleep=InstantSleep())
    assert isinstance(runner, AliasRunner)
    await runner.start()
    return runner


async def test_follows_the_service_as_it_changes(rec):
    source = QueueSource()
    runner = await started(rec, source, AliasService="web")
    source.put(chk("a", "passing"), chk("b", "passing"))
    assert await rec.next() == ("passing", "All checks passing.")
    source.put(chk("a", "passing"), chk("b", "warning", output="slow"))
    assert await rec.next() == ("warning", 'Aliased check "b" failing: slow')
    source.put(chk("a", "critical", output="dead"), chk("b", "warning", output="slow"))
    assert await rec.next() == ("critical", 'Aliased check "a" failing: dead')
    source.put(chk("a", "passing"), chk("b", "passing"))
    assert await rec.next() == ("passing", "All checks passing.")
    assert source.watches == [("", "web")]
    await runner.stop()


async def test_missing_service_is_critical(rec):
    source = QueueSource()
    runner = await started(rec, source, AliasService="web")
    source.put(chk("x", "passing", service="other"), service_exists=False)
    assert await rec.next() == ("critical", "Service web could not be found on node ")
    # Registered but without checks: passing.
    source.put(service_exists=True)
    assert await rec.next() == ("passing", "No checks found.")
    await runner.stop()


async def test_node_checks_count_and_other_services_do_not(rec):
    source = QueueSource()
    runner = await started(rec, source, AliasService="web", AliasNode="n1")
    source.put(chk("serfHealth", "critical", service="", output="gone"),
               chk("a", "passing"))
    assert await rec.next() == ("critical", 'Aliased check "serfHealth" failing: gone')
    source.put(chk("serfHealth", "passing", service=""), chk("a", "passing"),
               chk("db", "critical", service="db"),
               chk("a", "critical", node="n2"))
    assert await rec.next() == ("passing", "All checks passing.")
    assert source.watches == [("n1", "web")]
    await runner.stop()


async def test_node_alias(rec):
    source = QueueSource()
    runner = await started(rec, source, AliasNode="n1")
    source.put(chk("serfHealth", "passing", service=""), chk("a", "critical"))
    assert await rec.next() == ("passing", "All checks passing.")
    source.put(chk("serfHealth", "critical", service="", output="down"))
    assert (await rec.next())[0] == "critical"
    await runner.stop()


async def test_source_failure_reports_and_resubscribes(rec):
    source = QueueSource()
    runner = await started(rec, source, AliasService="web")
    source.fail(RuntimeError("no cluster leader"))
    assert await rec.next() == (
        "critical", "Failure checking aliased node or service: no cluster leader")
    source.put(chk("a", "passing"))
    assert await rec.next() == ("passing", "All checks passing.")
    assert len(source.watches) == 2
    await runner.stop()
    assert not runner.running


def test_evaluate_ignores_its_own_check_locally():
    snapshot = AliasSnapshot([chk("alias", "critical", service=""),
                              chk("n", "passing", service="")])
    assert evaluate_alias(snapshot, node="", service_id="", own_check_id="alias") == (
        "passing", "All checks passing.")
    assert evaluate_alias(snapshot, node="", service_id="")[0] == "critical"


def test_warning_then_passing_stays_warning():
    snapshot = AliasSnapshot([chk("a", "warning", output="w"), chk("b", "passing")])
    assert evaluate_alias(snapshot, node="", service_id="web") == (
        "warning", 'Aliased check "a" failing: w')
