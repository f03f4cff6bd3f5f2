"""``proconsul troubleshoot upstream``: each reason A cannot reach B, from the agent's state."""

from __future__ import annotations

import pytest

from tests.support.agent_process import start_agent, wait_until
from tests.support.cli_process import run_cli

PASSING = [{"Name": "ok", "TTL": "24h", "Status": "passing"}]
CRITICAL = [{"Name": "down", "TTL": "24h", "Status": "critical"}]


def register(agent, name: str, checks: list[dict], upstreams: list[dict] | None = None) -> None:
    body = {"Name": name, "Port": 9000, "Connect": {"SidecarService": {
        "Checks": checks, "Proxy": {"Upstreams": upstreams or []}}}}
    reply = agent.put("/v1/agent/service/register", body)
    assert reply.status == 200, reply.text


@pytest.fixture(scope="module")
def agent():
    agent = start_agent()
    try:
        wait_until(lambda: agent.get("/v1/connect/ca/roots").json().get("Roots"),
                   what="CA roots")
        register(agent, "api", PASSING)
        register(agent, "db", CRITICAL)
        register(agent, "web", PASSING, [
            {"DestinationName": "api", "LocalBindPort": 9191},
            {"DestinationName": "db", "LocalBindPort": 9192}])
        register(agent, "web2", PASSING, [
            {"DestinationName": "api", "LocalBindPort": 9193, "Config": {"protocol": "http"}}])
        yield agent
    finally:
        agent.stop()


class Result:
    def __init__(self, done) -> None:
        self.returncode = done.returncode
        self.stdout, self.stderr = done.stdout.decode(), done.stderr.decode()


def troubleshoot(agent, *args: str) -> Result:
    return Result(run_cli(agent, "troubleshoot", "upstream", *args))


def test_a_reachable_upstream_reports_no_problem(agent):
    out = troubleshoot(agent, "-source", "web", "api")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "✓ 1 of 1 instance(s) of api are healthy" in out.stdout
    assert "✓ web's sidecar has api as an upstream on 127.0.0.1:9191" in out.stdout
    assert "✓ intentions allow web → api" in out.stdout
    assert "✓ api speaks tcp on both sides" in out.stdout
    assert "✓ web's leaf is valid until" in out.stdout
    assert "✓ api's leaf is valid until" in out.stdout
    assert out.stdout.rstrip().endswith("No problems found.")


def test_a_deny_intention_is_named_with_the_fix(agent):
    reply = agent.put("/v1/connect/intentions/exact?source=web&destination=api",
                      {"Action": "deny"})
    assert reply.status == 200, reply.text
    try:
        out = troubleshoot(agent, "-source", "web", "api")
    finally:
        agent.delete("/v1/connect/intentions/exact?source=web&destination=api")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "✗ intentions deny web → api" in out.stdout
    assert "-> proconsul intention create -allow web api" in out.stdout
    assert "1 problem(s) found." in out.stdout


def test_no_healthy_endpoint_names_the_failing_check(agent):
    out = troubleshoot(agent, "-source", "web", "db")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "✗ none of the 1 instance(s) of db is healthy (failing: down (critical))" \
        in out.stdout
    assert "-> fix the failing checks of db or of its sidecar proxy" in out.stdout


def test_an_undeclared_upstream_and_an_unknown_service(agent):
    out = troubleshoot(agent, "-source", "api", "nosuch")
    assert out.returncode == 2
    assert "✗ no connect-capable instance of nosuch is registered" in out.stdout
    assert "✗ api's sidecar has no upstream for nosuch" in out.stdout


def test_protocol_mismatch_between_the_sides(agent):
    out = troubleshoot(agent, "-source", "web2", "api")
    assert out.returncode == 2, out.stdout + out.stderr
    assert ("✗ protocol mismatch: web2 declares api as http but api's service-defaults "
            "say tcp") in out.stdout


def test_usage_errors_are_one_line():
    out = troubleshoot(None, "api")
    assert out.returncode == 1
    assert out.stderr.strip() == ("-source is required: the service that cannot reach the "
                                  "destination")
    out = troubleshoot(None, "-source", "web")
    assert out.stderr.strip() == "This command takes one argument: the destination service"
