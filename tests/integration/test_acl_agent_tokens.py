"""Which token the agent's own catalog writes use: a config-file service without a
token of its own syncs with ``config_file_service_registration`` (not the default
token, which is empty here), a service registered over HTTP with the request's."""

from __future__ import annotations

import json
import tempfile

from tests.support.agent_process import start_agent, wait_until

ROOT = "acl-agent-tokens-root-secret"


def test_config_file_services_sync_with_their_token_others_with_the_default():
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as config:
        json.dump({"acl": {"enabled": True, "default_policy": "deny",
                           "tokens": {"initial_management": ROOT, "agent": ROOT,
                                      "config_file_service_registration": ROOT}},
                   "services": [{"name": "cfg-web", "port": 80}]}, config)
    agent = start_agent("-config-file", config.name)
    root = {"X-Consul-Token": ROOT}
    try:
        wait_until(lambda: agent.get("/v1/catalog/service/cfg-web", headers=root).json(),
                   what="the config-file service in the catalog")
        assert agent.put("/v1/agent/service/register", {"Name": "api"},
                         headers=root).status == 200
        wait_until(lambda: agent.get("/v1/catalog/service/api", headers=root).json(),
                   what="the API-registered service in the catalog")
    finally:
        agent.stop()
