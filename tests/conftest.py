"""Shared pytest fixtures: a real ``proconsul agent -dev`` process per module; agent
logs beside a failure."""

from __future__ import annotations

import itertools

import pytest

from tests.support.agent_process import AgentProcess, logs_of_agents_from, start_agent

_names = itertools.count()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failed test's report ends with the agents its file started: one summary line each
    (address, node, exit code, WARN/ERROR counts, last ERROR), then the tail of each one's
    output, short enough that CI's head-and-tail view of a run keeps the decisive lines."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        logs = logs_of_agents_from(item.nodeid.split("::")[0])
        if logs:
            report.sections.append(("agent logs", logs))


@pytest.fixture(scope="module")
def agent() -> AgentProcess:
    process = start_agent()
    yield process
    process.stop()


@pytest.fixture
def unique() -> str:
    """A name no other test in the run uses (for keys, services, nodes)."""
    return f"t{next(_names)}"
