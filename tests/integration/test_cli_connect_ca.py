"""``proconsul connect ca get-config | set-config`` against a real -dev agent."""

from __future__ import annotations

import datetime
import json

from tests.support.agent_process import start_agent, wait_until
from tests.support.cli_process import run_cli


def test_connect_ca_get_and_set_config(agent, tmp_path):
    wait_until(lambda: agent.get("/v1/connect/ca/configuration").status == 200,
               what="CA configuration")
    got = run_cli(agent, "connect", "ca", "get-config")
    assert got.returncode == 0, got.stderr
    conf = json.loads(got.stdout)
    assert conf["Provider"] == "consul" and conf["Config"]["LeafCertTTL"] == "72h"
    assert b'\n\t"Provider"' in got.stdout
    roots_before = agent.get("/v1/connect/ca/roots").json()["ActiveRootID"]
    path = tmp_path / "ca.json"
    path.write_text(json.dumps({"Provider": "consul",
                                "Config": {"LeafCertTTL": "24h",
                                           "IntermediateCertTTL": "8760h"}}))
    changed = run_cli(agent, "connect", "ca", "set-config", "-config-file", str(path))
    assert (changed.returncode, changed.stdout.decode().strip()) == (0, "Configuration updated!")
    conf = json.loads(run_cli(agent, "connect", "ca", "get-config").stdout)
    assert conf["Config"]["LeafCertTTL"] == "24h"
    # Same key: the configuration changed, the root did not.
    assert agent.get("/v1/connect/ca/roots").json()["ActiveRootID"] == roots_before


def test_connect_ca_set_config_errors(agent, tmp_path):
    missing = run_cli(agent, "connect", "ca", "set-config")
    assert missing.returncode == 1 and b"The -config-file flag is required" in missing.stderr
    absent = run_cli(agent, "connect", "ca", "set-config", "-config-file",
                     str(tmp_path / "nope.json"))
    assert absent.returncode == 1 and b"Error reading config file" in absent.stderr
    garbage = tmp_path / "bad.json"
    garbage.write_text("{")
    parsed = run_cli(agent, "connect", "ca", "set-config", "-config-file", str(garbage))
    assert parsed.returncode == 1 and b"Error parsing config file" in parsed.stderr
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({"Provider": "consul", "Config": {"PrivateKeyBits": 1000}}))
    refused = run_cli(agent, "connect", "ca", "set-config", "-config-file", str(invalid))
    assert refused.returncode == 1
    assert b"Error setting CA configuration" in refused.stderr
    assert b"EC key length must be one of (224, 256, 384, 521) bits" in refused.stderr


def test_connect_ca_health_reports_expiry_and_warns_before_it(tmp_path):
    agent = start_agent()
    try:
        wait_until(lambda: agent.get("/v1/connect/ca/roots").json()["Roots"], what="roots")
        leaf = agent.get("/v1/agent/connect/ca/leaf/web").json()
        report = agent.get("/v1/connect/ca/health").json()
        assert report["Healthy"] is True and report["Warnings"] == []
        [root] = report["Roots"]
        assert root["Active"] is True and root["TimeLeft"].startswith("8759")
        [held] = report["Leaves"]
        assert (held["Service"], held["SerialNumber"]) == ("web", leaf["SerialNumber"])
        assert datetime.datetime.fromisoformat(held["NotAfter"]) == \
            datetime.datetime.fromisoformat(leaf["ValidBefore"])
        ok = run_cli(agent, "connect", "ca", "health")
        assert ok.returncode == 0, ok.stderr
        assert b"web (serial " in ok.stdout and b"OK: nothing expires soon." in ok.stdout

        # Rotate to a root that lives three hours: the report warns, the command exits 2.
        path = tmp_path / "short.json"
        path.write_text(json.dumps({"Provider": "consul", "Config": {
            "PrivateKeyType": "ec", "PrivateKeyBits": 384, "LeafCertTTL": "1h",
            "IntermediateCertTTL": "3h", "RootCertTTL": "3h"}}))
        assert run_cli(agent, "connect", "ca", "set-config", "-config-file",
                       str(path)).returncode == 0
        warned = run_cli(agent, "connect", "ca", "health")
        assert warned.returncode == 2, warned.stdout
        assert b"WARN: root " in warned.stdout and b"expires in 2h59m" in warned.stdout
        as_json = json.loads(run_cli(agent, "connect", "ca", "health", "-format=json").stdout)
        assert as_json["Healthy"] is False
        assert any(w["Severity"] == "WARN" for w in as_json["Warnings"])
    finally:
        agent.stop()
