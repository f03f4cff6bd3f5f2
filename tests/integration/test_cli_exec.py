"""``proconsul exec`` against real agents: the job through KV and a user event, the
agent running it only with ``disable_remote_exec = false``."""

from __future__ import annotations

import json
import tempfile

import pytest

from tests.support.agent_process import start_agent, wait_until
from tests.support.cli_process import run_cli


def config_file(tree: dict) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(tree, f)
    return f.name


@pytest.fixture(scope="module")
def enabled():
    agent = start_agent("-config-file", config_file({"disable_remote_exec": False}))
    try:
        wait_until(lambda: agent.get("/v1/status/leader").json(), what="a leader")
        yield agent
    finally:
        agent.stop()


def node_of(agent) -> str:
    return agent.get("/v1/agent/self").json()["Config"]["NodeName"]


def exec_(agent, *args: str, stdin: bytes = b""):
    return run_cli(agent, "exec", "-wait", "1s", *args, stdin=stdin, timeout=60)


def no_job_left(agent) -> bool:
    return (agent.get("/v1/kv/_rexec?recurse").status == 404
            and agent.get("/v1/session/list").json() == [])


def test_runs_the_command_and_reports_output_and_exit_code(enabled):
    node = node_of(enabled)
    result = exec_(enabled, "echo hello; echo world >&2; exit 3")
    assert result.returncode == 2, result.stderr
    assert result.stdout.decode().splitlines() == [
        f"    {node}: hello",
        f"    {node}: world",
        f"    {node}:",  # the chunk's last newline, as Consul's TargetedUI prints it
        f"==> {node}: finished with exit code 3",
        "1 / 1 node(s) completed / acknowledged"]
    wait_until(lambda: no_job_left(enabled), what="the job's keys and session gone")


def test_verbose_success_script_from_stdin_and_argv_without_shell(enabled):
    node = node_of(enabled)
    verbose = exec_(enabled, "-verbose", "true")
    assert verbose.returncode == 0, verbose.stderr
    lines = verbose.stdout.decode().splitlines()
    assert lines[0].startswith("Created remote execution session: ")
    assert lines[1:3] == ["Uploaded remote execution spec", lines[2]]
    assert lines[2].startswith("Fired remote execution event: ")
    assert f"==> {node}: acknowledged" in lines
    assert f"==> {node}: finished with exit code 0" in lines
    assert "1 / 1 node(s) completed / acknowledged" in lines
    assert lines[-1].startswith("Completed in ")

    script = exec_(enabled, "-", stdin=b"#!/bin/sh\necho from-script $((6*7))\n")
    assert script.returncode == 0, script.stderr
    assert f"    {node}: from-script 42" in script.stdout.decode().splitlines()

    argv = exec_(enabled, "-shell=false", "printf", "%s|", "a b", "c")
    assert argv.returncode == 0, argv.stderr
    assert f"    {node}: a b|c|" in argv.stdout.decode().splitlines()


def test_a_node_filter_that_matches_nothing_runs_nothing(enabled):
    result = exec_(enabled, "-node", "^no-such-node$", "touch /tmp/should-not-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == "0 / 0 node(s) completed / acknowledged\n"


def test_remote_exec_is_off_by_default(agent, tmp_path):
    marker = tmp_path / "ran"
    result = exec_(agent, f"touch {marker}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == "0 / 0 node(s) completed / acknowledged\n"
    assert not marker.exists()
    assert [e["Name"] for e in agent.get("/v1/event/list?name=_rexec").json()] == ["_rexec"]


def test_argument_errors(agent):
    cases = [
        ((), "Must specify a command to execute\n"),
        (("-shell=false", "-"), "Cannot configure -shell=false when reading from stdin\n"),
        (("-tag", "x", "uptime"), "Cannot provide tag filter without service filter.\n"),
        (("-node", "(", "uptime"), "Failed to compile node filter regexp: "),
    ]
    for args, message in cases:
        result = exec_(agent, *args)
        assert result.returncode == 1, args
        assert result.stderr.decode().startswith(message), (args, result.stderr)


def test_long_output_comes_in_4k_chunks_and_silence_in_heartbeats(enabled):
    node = node_of(enabled)
    result = exec_(enabled, "-verbose", "head -c 10000 /dev/zero | tr '\\0' a; echo; sleep 2.5; "
                   "echo done")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    chunks = [line.removeprefix(f"    {node}: ") for line in lines
              if line.startswith(f"    {node}: a")]
    assert [len(c) for c in chunks] == [4096, 4096, 1808]
    assert f"==> {node}: heartbeat received" in lines
    assert f"    {node}: done" in lines
    assert f"==> {node}: finished with exit code 0" in lines


def test_a_service_filter_picks_the_nodes_running_it(enabled, tmp_path):
    client = start_agent("-config-file", config_file({"disable_remote_exec": False}),
                         "-data-dir", str(tmp_path / "client"), "-node", "rexec-client",
                         "-retry-join", enabled.lan_address, dev=False)
    try:
        wait_until(lambda: "rexec-client" in [n["Node"] for n in
                                              enabled.get("/v1/catalog/nodes").json()],
                   what="the client in the catalog")
        assert client.put("/v1/agent/service/register", {"Name": "rexec-web",
                                                         "Tags": ["blue"]}).status == 200
        server_node = node_of(enabled)
        both = exec_(enabled, "-wait", "2s", "echo on-$0")
        assert both.returncode == 0, both.stderr
        lines = both.stdout.decode().splitlines()
        assert {f"==> {server_node}: finished with exit code 0",
                "==> rexec-client: finished with exit code 0"} <= set(lines)
        assert lines[-1] == "2 / 2 node(s) completed / acknowledged"

        picked = exec_(enabled, "-service", "^rexec-web$", "-tag", "blu", "exit 0")
        assert picked.returncode == 0, picked.stderr
        assert picked.stdout.decode().splitlines() == [
            "==> rexec-client: finished with exit code 0",
            "1 / 1 node(s) completed / acknowledged"]
    finally:
        client.stop()
