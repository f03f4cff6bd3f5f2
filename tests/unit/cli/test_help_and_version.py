"""Every command's -h/-help, ``version`` as the Consul it answers for, service file errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from proconsul import CONSUL_COMPAT_VERSION, __version__
from proconsul.agent.http.agent_endpoint import BUILD_DATE, REVISION
from proconsul.cli.main import COMMANDS, GROUPS, main
from proconsul.cli.service_definition import load_services


@pytest.mark.parametrize("flag", ["-h", "-help"])
@pytest.mark.parametrize("path", sorted([*COMMANDS, *GROUPS]))
def test_help_prints_usage_and_exits_0(capsys, path, flag):
    assert main([*path.split(), flag]) == 0
    captured = capsys.readouterr()
    assert "Usage: proconsul" in captured.out
    assert "help requested" not in captured.out + captured.err


def test_version_answers_as_consul_then_proconsul(capsys):
    assert main(["version"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"Consul v{CONSUL_COMPAT_VERSION}"
    assert lines[1:3] == [f"Revision {REVISION}", f"Build Date {BUILD_DATE}"]
    assert lines[3].startswith("Protocol 2 spoken by default, understands 2 to 3")
    assert lines[4] == f"Proconsul v{__version__}"


def test_version_json_has_consul_fields_and_proconsul_version(capsys):
    assert main(["version", "-format=json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info == {"Version": CONSUL_COMPAT_VERSION, "Revision": REVISION, "Prerelease": "",
                    "BuildDate": BUILD_DATE, "RPC": {"Default": 2, "Min": 2, "Max": 3},
                    "ProconsulVersion": __version__}


def test_version_unknown_format(capsys):
    assert main(["version", "-format=yaml"]) == 1
    assert capsys.readouterr().err == "Unknown format: yaml\n"


def test_bad_json_service_file_is_a_json_error(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"service": {"name": "web",}}')
    with pytest.raises(ValueError, match=r"^Error decoding file: invalid JSON: .*line 1"):
        load_services(str(path))


def test_service_file_without_extension_may_be_hcl(tmp_path):
    path = tmp_path / "web"
    path.write_text('service { name = "web"\n port = 80 }')
    assert load_services(str(path)) == [{"Name": "web", "Port": 80}]


def test_a_closed_pipe_ends_quietly():
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the command writes (``| head -1``)
    try:
        result = subprocess.run([sys.executable, "-m", "proconsul", "agent", "-h"],
                                stdout=write_end, stderr=subprocess.PIPE, timeout=30)
    finally:
        os.close(write_end)
    assert result.returncode == 141
    assert result.stderr == b""
