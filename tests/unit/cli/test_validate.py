"""``proconsul validate`` output and exit codes."""

import json

from proconsul.cli.main import main


def test_valid_directory(tmp_path, capsys):
    (tmp_path / "a.json").write_text(json.dumps({"data_dir": "/tmp/x", "server": True}))
    (tmp_path / "b.hcl").write_text('datacenter = "east"')
    assert main(["validate", str(tmp_path)]) == 0
    assert capsys.readouterr().out == "Configuration is valid!\n"
    assert main(["validate", "-quiet", str(tmp_path)]) == 0
    assert capsys.readouterr().out == ""


def test_invalid_file(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"data_dir": "/x", "bogus": True}))
    assert main(["validate", str(path)]) == 1
    assert f'{path}: invalid config key "bogus"' in capsys.readouterr().err


def test_usage_errors(capsys):
    assert main(["validate"]) == 1
    assert "Must specify at least one config file" in capsys.readouterr().err
    assert main(["validate", "-config-format=yaml", "x"]) == 1
