"""Shared pytest fixtures: a real ``proconsul agent -dev`` process per module."""

from __future__ import annotations

import itertools

import pytest

from tests.support.agent_process import AgentProcess, start_agent

_names = itertools.count()


@pytest.fixture(scope="module")
def agent() -> AgentProcess:
    process = start_agent()
    yield process
    process.stop()


@pytest.fixture
def unique() -> str:
    """A name no other test in the run uses (for keys, services, nodes)."""
    return f"t{next(_names)}"
