"""Reload: PUT /v1/agent/reload and SIGHUP apply services/checks and report restart keys."""

from __future__ import annotations

import json
import signal

from tests.support.agent_process import start_agent, wait_until


def write(path, tree) -> None:
    path.write_text(json.dumps(tree))


def test_reload_applies_services_and_reports_restart_keys(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    write(conf / "a.json", {"services": [{"name": "keep", "port": 1},
                                         {"name": "drop", "port": 2}],
                            "checks": [{"id": "old-ttl", "name": "old", "ttl": "30s"}]})
    agent = start_agent("-config-dir", str(conf))
    try:
        keep_hash = agent.get("/v1/agent/service/keep").headers["X-Consul-ContentHash"]
        write(conf / "a.json", {"services": [{"name": "keep", "port": 1},
                                             {"name": "new", "port": 3}],
                                "checks": [{"id": "new-ttl", "name": "new", "ttl": "30s"}],
                                "datacenter": "elsewhere", "log_level": "debug"})
        reply = agent.put("/v1/agent/reload")
        assert reply.status == 200
        assert reply.headers["X-Proconsul-Restart-Required"] == "datacenter"
        services = agent.get("/v1/agent/services").json()
        assert set(services) == {"keep", "new"}
        checks = agent.get("/v1/agent/checks").json()
        assert "new-ttl" in checks and "old-ttl" not in checks
        assert agent.get("/v1/agent/service/keep").headers["X-Consul-ContentHash"] == keep_hash
        write(conf / "a.json", {"bogus": True})
        failed = agent.put("/v1/agent/reload")
        assert failed.status == 500 and 'invalid config key "bogus"' in failed.text
        assert set(agent.get("/v1/agent/services").json()) == {"keep", "new"}
    finally:
        agent.stop()


def test_sighup_reloads(tmp_path):
    conf = tmp_path / "c.json"
    write(conf, {"services": [{"name": "before"}]})
    agent = start_agent("-config-file", str(conf))
    try:
        write(conf, {"services": [{"name": "after"}]})
        agent.process.send_signal(signal.SIGHUP)
        wait_until(lambda: set(agent.get("/v1/agent/services").json()) == {"after"},
                   what="SIGHUP reload")
    finally:
        agent.stop()
