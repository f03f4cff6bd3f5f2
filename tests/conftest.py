"""Shared pytest fixtures: a real ``proconsul agent -dev`` process per module; agent
logs beside a failure."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, settings

from tests.support.agent_process import (
    AgentProcess,
    exits_of_agents_from,
    logs_of_agents_from,
    start_agent,
)

_names = itertools.count()

# The suite shares two cores with other work: how long an example or its generation takes
# says nothing about correctness, so no property test may fail on time (per-test settings
# inherit this).
settings.register_profile("shared-box", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("shared-box")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failed test's report ends with the agents its file started: one summary line each
    (address, node, exit code, WARN/ERROR counts, last ERROR), then the tail of each one's
    output, short enough that CI's head-and-tail view of a run keeps the decisive lines."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        test_file = item.nodeid.split("::")[0]
        logs = logs_of_agents_from(test_file)
        if logs:
            report.sections.append(("agent logs", logs))
            report.sections.append(("agent exits", exits_of_agents_from(test_file)))


@pytest.fixture(scope="module")
def agent() -> AgentProcess:
    process = start_agent()
    yield process
    process.stop()


@pytest.fixture
def unique() -> str:
    """A name no other test in the run uses (for keys, services, nodes)."""
    return f"t{next(_names)}"
