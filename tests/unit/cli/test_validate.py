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


def test_unsupported_keys_are_valid_with_a_warning_unsafe_ones_are_not(tmp_path, capsys):
    path = tmp_path / "a.hcl"
    path.write_text('data_dir = "/x"\nversion = "1.22.0"\n')
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr()
    assert out.out == "Configuration is valid!\n"
    assert 'config key "version" is accepted but not supported yet' in out.err
    path.write_text('data_dir = "/x"\nserf_lan_allowed_cidrs = ["10.0.0.0/8"]\n')
    assert main(["validate", str(path)]) == 1
    assert "serf_lan_allowed_cidrs: not supported yet" in capsys.readouterr().err


def test_invalid_file(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"data_dir": "/x", "bogus": True}))
    assert main(["validate", str(path)]) == 1
    assert f'{path}: invalid config key "bogus"' in capsys.readouterr().err


def test_usage_errors(capsys):
    assert main(["validate"]) == 1
    assert "Must specify at least one config file" in capsys.readouterr().err
    assert main(["validate", "-config-format=yaml", "x"]) == 1


def test_help_is_not_an_error(capsys):
    assert main(["validate", "-h"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("Usage: proconsul validate") and "-quiet" in out and err == ""
