"""Shared pytest fixtures: a real ``proconsul agent -dev`` process per module; agent
logs beside a failure."""

from __future__ import annotations

import itertools

import pytest

from tests.support.agent_process import (
    AgentProcess,
    exits_of_agents_from,
    logs_of_agents_from,
    start_agent,
)

_names = itertools.count()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failed test's report ends with the output of the agents its file started, so a
    failure seen once in CI comes with the agents' raft and serf lines."""
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
