"""``proconsul services export`` against a real agent: it creates, extends and keeps the
``exported-services`` config entry as Consul's command does."""

from __future__ import annotations

from tests.support.cli_process import run_cli as run_cli_bytes

ENTRY = "/v1/config/exported-services/default"


def run_cli(agent, *args: str):
    result = run_cli_bytes(agent, *args)
    result.stdout, result.stderr = result.stdout.decode(), result.stderr.decode()
    return result


def services(agent) -> list[dict]:
    reply = agent.get(ENTRY)
    return reply.json()["Services"] if reply.status == 200 else []


def test_export_creates_then_extends_the_entry(agent):
    agent.delete(ENTRY)
    first = run_cli(agent, "services", "export", "-name=web", "-consumer-peers=east,west")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == 'Successfully exported service "web" to peers "east,west"'
    assert services(agent) == [{"Name": "web", "Consumers": [{"Peer": "east"}, {"Peer": "west"}]}]

    # Again with one known and one new peer: only the new one is added.
    again = run_cli(agent, "services", "export", "-name=web", "-consumer-peers=west,north")
    assert again.returncode == 0, again.stderr
    other = run_cli(agent, "services", "export", "-name=api", "-consumer-peers=east")
    assert other.returncode == 0, other.stderr
    assert services(agent) == [
        {"Name": "web", "Consumers": [{"Peer": "east"}, {"Peer": "west"}, {"Peer": "north"}]},
        {"Name": "api", "Consumers": [{"Peer": "east"}]},
    ]
    index = agent.get(ENTRY).json()["ModifyIndex"]
    same = run_cli(agent, "services", "export", "-name=api", "-consumer-peers=east")
    assert same.returncode == 0, same.stderr
    assert services(agent)[1] == {"Name": "api", "Consumers": [{"Peer": "east"}]}
    assert agent.get(ENTRY).json()["ModifyIndex"] >= index
    agent.delete(ENTRY)


def test_bad_flags_are_refused_before_any_write(agent):
    agent.delete(ENTRY)
    cases = [
        ([], "Missing the required -name flag"),
        (["-name=web"], "Missing the required -consumer-peers flag"),
        (["-name=web", "-consumer-peers=east,,west"], 'Invalid peer ""'),
        (["-name=web", "-consumer-peers=east", "-consumer-partitions=,"], 'Invalid partition ""'),
    ]
    for flags, message in cases:
        result = run_cli(agent, "services", "export", *flags)
        assert result.returncode == 1 and result.stderr.strip() == message, result
    assert agent.get(ENTRY).status == 404
    # Partitions are Consul Enterprise's: the server refuses the entry with its reason.
    enterprise = run_cli(agent, "services", "export", "-name=web", "-consumer-peers=east",
                         "-consumer-partitions=blue")
    assert enterprise.returncode == 1
    assert "Error writing config entry" in enterprise.stderr
    assert "enterprise-only" in enterprise.stderr
    assert agent.get(ENTRY).status == 404
