"""``proconsul snapshot save|restore|inspect`` against a real agent."""

from __future__ import annotations

import gzip
import io
import json
import os
import pty
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.support.agent_process import start_agent, wait_until
from tests.support.cli_process import cli_env, run_cli


@pytest.fixture(scope="module")
def agent():
    agent = start_agent()
    wait_until(lambda: agent.put("/v1/kv/ready", "1").status == 200, what="a leader")
    for i in range(30):
        assert agent.put(f"/v1/kv/app/{'web' if i % 3 else 'db'}/k{i}", "v" * 100).status == 200
    assert agent.put("/v1/kv/other/x", "y").status == 200
    yield agent
    agent.stop()


def out(result: subprocess.CompletedProcess) -> str:
    return result.stdout.decode()


def err(result: subprocess.CompletedProcess) -> str:
    return result.stderr.decode()


def test_save_verifies_then_renames_and_restore_brings_the_state_back(agent, tmp_path):
    file = tmp_path / "backup.snap"
    saved = run_cli(agent, "snapshot", "save", str(file))
    assert saved.returncode == 0, err(saved)
    index = int(re.fullmatch(r"Saved and verified snapshot to index (\d+)\n", out(saved))[1])
    assert index >= agent.get("/v1/kv/other/x").json()[0]["ModifyIndex"]
    assert err(saved) == ""  # not a terminal: no progress bar
    assert sorted(os.listdir(tmp_path)) == ["backup.snap"]
    assert os.stat(file).st_mode & 0o777 == 0o600
    assert agent.delete("/v1/kv/app?recurse").status == 200
    restored = run_cli(agent, "snapshot", "restore", str(file))
    assert restored.returncode == 0, err(restored)
    assert out(restored) == "Restored snapshot\n"
    assert len(agent.get("/v1/kv/app?recurse").json()) == 30


def test_restore_refuses_a_damaged_file_and_changes_nothing(agent, tmp_path):
    file = tmp_path / "backup.snap"
    assert run_cli(agent, "snapshot", "save", str(file)).returncode == 0
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0x10
    file.write_bytes(bytes(data))
    before = agent.get("/v1/kv/?recurse").json()
    result = run_cli(agent, "snapshot", "restore", str(file))
    assert result.returncode == 1
    assert err(result).startswith("Error restoring snapshot: Unexpected response code: 400 ("
                                  "failed "), err(result)
    assert agent.get("/v1/kv/?recurse").json() == before


def test_argument_errors(agent, tmp_path):
    assert err(run_cli(agent, "snapshot", "save")) == "Missing FILE argument\n"
    assert err(run_cli(agent, "snapshot", "restore", "a", "b")) == \
        "Too many arguments (expected 1, got 2)\n"
    missing = run_cli(agent, "snapshot", "inspect", str(tmp_path / "nope"))
    assert missing.returncode == 1
    assert err(missing).startswith("Error opening snapshot file: ")


def test_inspect_pretty_json_and_kv_details(agent, tmp_path):
    file = tmp_path / "backup.snap"
    keys = len(agent.get("/v1/kv/?recurse").json())
    assert run_cli(agent, "snapshot", "save", str(file)).returncode == 0
    pretty = out(run_cli(None, "snapshot", "inspect", str(file))).splitlines()
    assert [line.split()[0] for line in pretty[:5]] == ["ID", "Size", "Index", "Term", "Version"]
    assert pretty[0].startswith(" ID           ")  # tabwriter: widest key + 6
    assert pretty[6].split() == ["Type", "Count", "Size"]
    kvs = next(line.split() for line in pretty if line.startswith(" KVS "))
    assert int(kvs[1]) == keys
    assert pretty[-1].split()[0] == "Total"

    details = out(run_cli(None, "snapshot", "inspect", "-kvdetails", "-kvdepth", "2",
                          "-kvfilter", "app/", str(file)))
    table = details.split("\n\n")[-1].splitlines()
    assert table[0].split() == ["Key", "Name", "Count", "Size"]
    assert [row.split()[:2] for row in table[2:4]] == [["app/web", "20"], ["app/db", "10"]]

    as_json = json.loads(out(run_cli(None, "snapshot", "inspect", "-format=json", str(file))))
    assert set(as_json) == {"Meta", "Stats", "StatsKV", "TotalSize", "TotalSizeKV"}
    assert as_json["StatsKV"] is None
    assert sum(s["Sum"] for s in as_json["Stats"]) == as_json["TotalSize"]
    bad = run_cli(None, "snapshot", "inspect", "-format=yaml", str(file))
    assert err(bad) == "Error outputting enhanced snapshot data: Unknown format: yaml\n"


def test_inspect_reads_a_bare_state_bin_beside_its_meta_json(agent, tmp_path):
    file = tmp_path / "backup.snap"
    assert run_cli(agent, "snapshot", "save", str(file)).returncode == 0
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(file.read_bytes()))) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    from_archive = out(run_cli(None, "snapshot", "inspect", str(file)))
    from_state = out(run_cli(None, "snapshot", "inspect", str(tmp_path / "unpacked" /
                                                              "state.bin")))
    assert from_state == from_archive


def test_progress_bar_only_on_a_terminal(agent, tmp_path):
    primary, secondary = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "proconsul", "snapshot", "save", str(tmp_path / "s.snap")],
            stdout=subprocess.PIPE, stderr=secondary, env=cli_env(agent))
        os.close(secondary)
        drawn = b""
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
        assert process.wait(30) == 0
    finally:
        os.close(primary)
    assert b"\rSaving snapshot " in drawn
    assert Path(tmp_path / "s.snap").exists()


def test_decode_prints_the_header_then_every_record_as_a_json_line(agent, tmp_path):
    file = tmp_path / "backup.snap"
    assert agent.put("/v1/kv/decode/me", "hello").status == 200
    assert run_cli(agent, "snapshot", "save", str(file)).returncode == 0
    result = run_cli(None, "snapshot", "decode", str(file))
    assert result.returncode == 0, err(result)
    lines = [json.loads(line) for line in out(result).splitlines()]
    assert all(list(line) == ["Data", "Type"] for line in lines)
    header = lines[0]
    assert header["Type"] == "SnapshotHeader"
    assert {"Version", "ID", "Index", "Term", "Configuration", "Size"} <= set(header["Data"])
    by_type: dict[str, list] = {}
    for line in lines[1:]:
        by_type.setdefault(line["Type"], []).append(line["Data"])
    kvs = {d["DirEnt"]["Key"]: d["DirEnt"] for d in by_type["KVS"]}
    assert set(kvs) == {e["Key"] for e in agent.get("/v1/kv/?recurse").json()}
    assert kvs["decode/me"]["Value"] == "aGVsbG8="  # base64, as Consul's JSON
    assert all(set(d) == {"Datacenter", "Op", "DirEnt", "Token"} for d in by_type["KVS"])
    registers = by_type["Register"]
    node = agent.get("/v1/agent/self").json()["Config"]["NodeName"]
    assert any(r["Node"] == node and r["Service"] is None and r["Check"] is None
               for r in registers)
    consul = next(r for r in registers if r["Service"] and r["Service"]["Service"] == "consul")
    assert consul["Node"] == node and consul["Address"]
    assert any(r["Check"] and r["Check"]["CheckID"] == "serfHealth" for r in registers)
    indexes = {d["Key"]: d["Value"] for d in by_type["Index"]}
    assert indexes["kvs"] >= kvs["decode/me"]["ModifyIndex"]
    assert "ConnectCA" in by_type and "ConnectCAConfig" in by_type

    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(file.read_bytes()))) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    from_state = run_cli(None, "snapshot", "decode", str(tmp_path / "unpacked" / "state.bin"))
    assert out(from_state) == out(result)


def test_decode_errors(agent, tmp_path):
    assert err(run_cli(None, "snapshot", "decode")) == "Missing FILE argument\n"
    assert err(run_cli(None, "snapshot", "decode", "a", "b")) == \
        "Too many arguments (expected 1, got 2)\n"
    missing = run_cli(None, "snapshot", "decode", str(tmp_path / "nope"))
    assert missing.returncode == 1
    assert err(missing).startswith("Error opening snapshot file: ")
    junk = tmp_path / "junk.snap"
    junk.write_bytes(b"not a snapshot")
    bad = run_cli(None, "snapshot", "decode", str(junk))
    assert bad.returncode == 1 and out(bad) == ""
    assert err(bad).startswith("Error reading snapshot: ")
    file = tmp_path / "backup.snap"
    assert run_cli(agent, "snapshot", "save", str(file)).returncode == 0
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(file.read_bytes()))) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    state = tmp_path / "unpacked" / "state.bin"
    state.write_bytes(state.read_bytes()[:-40])
    truncated = run_cli(None, "snapshot", "decode", str(state))
    assert truncated.returncode == 1
    assert err(truncated) == "Error extracting snapshot data: snapshot is truncated\n"
