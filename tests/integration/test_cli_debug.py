"""``proconsul debug`` against a real agent: Consul's archive layout and its checks."""

from __future__ import annotations

import json
import os
import re
import signal
import tarfile

import pytest

from tests.support.agent_process import start_agent
from tests.support.cli_process import run_cli, start_cli

STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ")


@pytest.fixture(scope="module")
def debug_agent():
    agent = start_agent("-hcl", "enable_debug = true", "-log-level", "debug")
    yield agent
    agent.stop()


def test_debug_writes_consuls_archive(debug_agent, tmp_path):
    output = tmp_path / "bundle"
    result = run_cli(debug_agent, "debug", "-duration=10s", "-interval=5s",
                     f"-output={output}", timeout=90)
    assert result.returncode == 0, result.stderr
    stdout = result.stdout.decode()
    assert "==> Starting debugger and capturing static information..." in stdout
    assert "Capture: 'metrics, logs, pprof, host, agent, members'" in stdout
    assert f"Saved debug archive: {output}.tar.gz" in stdout
    assert not output.exists()  # packed, then removed
    with tarfile.open(f"{output}.tar.gz", "r:gz") as tar:
        names = set(tar.getnames())
        read = {name: tar.extractfile(name).read() for name in names
                if tar.getmember(name).isfile()}
    for name in ("index.json", "agent.json", "host.json", "members.json", "consul.log",
                 "metrics.json", "profile.prof", "trace.out"):
        assert f"bundle/{name}" in names, name
    intervals = {name.split("/")[1] for name in names
                 if name.count("/") == 2 and name.endswith("goroutine.prof")}
    assert len(intervals) >= 2 and all(STAMP.fullmatch(d) for d in intervals)
    assert all(f"bundle/{d}/heap.prof" in names for d in intervals)
    index = json.loads(read["bundle/index.json"])
    assert index == {"Version": 1, "AgentVersion": "1.22.0", "Interval": "5s",
                     "Duration": "12s", "Targets": list(index["Targets"])}
    assert set(index["Targets"]) == {"metrics", "logs", "pprof", "host", "agent", "members"}
    assert json.loads(read["bundle/agent.json"])["Config"]["NodeName"]
    assert {"CPU", "Memory", "Host", "Disk"} <= set(json.loads(read["bundle/host.json"]))
    assert json.loads(read["bundle/members.json"])[0]["Name"]
    summaries = [json.loads(line) for line in read["bundle/metrics.json"].splitlines()]
    assert summaries and all("Gauges" in s and "Samples" in s for s in summaries)
    assert b"Request finished" in read["bundle/consul.log"]
    some = sorted(intervals)[0]
    assert b"Thread" in read[f"bundle/{some}/goroutine.prof"]


def test_debug_static_capture_without_archive(debug_agent, tmp_path):
    output = tmp_path / "plain"
    result = run_cli(debug_agent, "debug", "-capture=agent", "-capture=cluster",
                     "-archive=false", f"-output={output}")
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(output)) == ["agent.json", "index.json", "members.json"]
    assert json.loads((output / "index.json").read_text())["Targets"] == ["agent", "members"]


@pytest.mark.parametrize(("args", "message"), [
    (["-duration=5s"], "duration must be longer than 10s"),
    (["-interval=1s"], "interval must be longer than 10s"),
    (["-duration=20s", "-interval=30s"], "duration (20s) must be longer than interval (30s)"),
    (["-capture=bogus"], "target not found: bogus"),
])
def test_debug_refuses_bad_settings(debug_agent, tmp_path, args, message):
    result = run_cli(debug_agent, "debug", *args, f"-output={tmp_path / 'x'}")
    assert result.returncode == 1
    assert result.stderr.decode() == f"==> Capture validation failed: {message}\n"


def test_debug_refuses_an_existing_output_and_extra_args(debug_agent, tmp_path):
    result = run_cli(debug_agent, "debug", f"-output={tmp_path}")
    assert result.returncode == 1
    assert f"output directory already exists: {tmp_path}" in result.stderr.decode()
    assert run_cli(debug_agent, "debug", "extra").returncode == 1


def test_debug_skips_pprof_without_enable_debug(tmp_path):
    agent = start_agent("-hcl", "enable_debug = false")  # -dev alone turns it on
    output = tmp_path / "nopprof"
    try:
        result = run_cli(agent, "debug", "-capture=pprof", "-capture=host", "-archive=false",
                         f"-output={output}")
    finally:
        agent.stop()
    assert result.returncode == 0
    assert "Unable to capture pprof. Set enable_debug to true" in result.stderr.decode()
    assert sorted(os.listdir(output)) == ["host.json", "index.json"]


def test_debug_interrupted_still_writes_the_archive(agent, tmp_path):
    # its own agent: the interrupted profile keeps sampling there for a minute
    output = tmp_path / "cut"
    debug = start_cli(agent, "debug", "-duration=60s", "-interval=5s",
                      f"-output={output}")
    try:
        while b"Capture successful" not in debug.stdout.readline():
            assert debug.poll() is None, debug.stderr.read()
        debug.send_signal(signal.SIGINT)
        stdout, stderr = debug.communicate(timeout=30)
    finally:
        if debug.poll() is None:
            debug.kill()
    assert debug.returncode == 0, stderr
    assert b"stopping collection due to shutdown signal" in stderr
    assert f"Saved debug archive: {output}.tar.gz".encode() in stdout
    with tarfile.open(f"{output}.tar.gz", "r:gz") as tar:
        assert {"cut/index.json", "cut/agent.json", "cut/consul.log"} <= set(tar.getnames())
