"""``proconsul troubleshoot ports``: TCP dials of a host's ports, as Consul prints them."""

from __future__ import annotations

import re

import pytest

from tests.support.agent_process import free_port, start_agent
from tests.support.cli_process import run_cli


@pytest.fixture(scope="module")
def agent():
    agent = start_agent()
    yield agent
    agent.stop()


def lines(result) -> list[str]:
    return sorted(result.stdout.decode().splitlines())


def test_open_and_closed_ports_one_line_each(agent):
    closed = free_port(agent.host)
    result = run_cli(None, "troubleshoot", "ports", "-host", agent.host,
                     "-ports", f"{agent.port},{agent.lan_port},{closed}")
    assert result.returncode == 0, result.stderr
    assert lines(result) == sorted([
        f"TCP: Port {agent.port} on {agent.host} is open.",
        f"TCP: Port {agent.lan_port} on {agent.host} is open.",
        f"TCP: Port {closed} on {agent.host} is closed, unreachable, or the connection "
        "timed out."])


def test_host_comes_from_consul_http_addr_without_scheme_or_port(agent):
    result = run_cli(agent, "troubleshoot", "ports", "-ports", str(agent.port),
                     CONSUL_HTTP_ADDR=f"http://{agent.host}:{agent.port}")
    assert result.returncode == 0, result.stderr
    assert lines(result) == [f"TCP: Port {agent.port} on {agent.host} is open."]


def test_default_ports_are_consuls(agent):
    result = run_cli(None, "troubleshoot", "ports", "-host", "127.0.0.254")
    assert result.returncode == 0, result.stderr
    ports = [re.match(r"TCP: Port (\d+) on 127\.0\.0\.254 is ", line)[1] for line in lines(result)]
    assert sorted(ports) == ["8300", "8301", "8302", "8500", "8501", "8502", "8503", "8600"]


def test_errors():
    missing = run_cli(None, "troubleshoot", "ports")
    assert missing.returncode == 1
    assert missing.stderr.decode() == \
        "-host is required. or set environment variable CONSUL_HTTP_ADDR\n"
    bad = run_cli(None, "troubleshoot", "ports", "-host", "127.0.0.1", "-ports", "8500,http")
    assert bad.returncode == 1 and bad.stdout == b""
    assert bad.stderr.decode() == \
        "Invalid -ports: invalid port 'http': want a number from 1 to 65535\n"
