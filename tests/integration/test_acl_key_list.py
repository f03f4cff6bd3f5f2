"""``acl.enable_key_list_policy``: recursive reads and key listings need ``list`` on the
prefix (403 otherwise); without it (Consul's default) ``read`` filters them."""

from __future__ import annotations

import json
import tempfile

import pytest

from tests.support.agent_process import start_agent
from tests.support.server_rpc import make_token

ROOT = "acl-key-list-root-secret"


@pytest.mark.parametrize("enabled", [True, False], ids=["list policy on", "list policy off"])
def test_recursive_reads_need_list_only_when_enabled(enabled):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as config:
        json.dump({"acl": {"enabled": True, "default_policy": "deny",
                           "enable_key_list_policy": enabled,
                           "tokens": {"initial_management": ROOT, "agent": ROOT}}}, config)
    agent = start_agent("-config-file", config.name)
    try:
        root = {"X-Consul-Token": ROOT}
        assert agent.put("/v1/kv/app/a", "v", headers=root).status == 200
        port = agent.get("/v1/agent/self", headers=root).json()["DebugConfig"]["ServerPort"]
        reader = {"X-Consul-Token": make_token(agent.host, port, ROOT, "r",
                                               'key_prefix "app/" { policy = "read" }')}
        lister = {"X-Consul-Token": make_token(agent.host, port, ROOT, "l",
                                               'key_prefix "app/" { policy = "list" }')}
        for path in ("/v1/kv/app/?recurse", "/v1/kv/app/?keys"):
            reply = agent.get(path, headers=reader)
            if enabled:
                assert reply.status == 403 and reply.text.startswith(
                    "Permission denied: token with AccessorID '"), reply.text
                assert "lacks permission 'key:list' on \"app/\"" in reply.text
            else:
                assert reply.status == 200 and "app/a" in reply.text
            reply = agent.get(path, headers=lister)
            assert reply.status == 200 and "app/a" in reply.text
        assert agent.get("/v1/kv/app/a", headers=reader).status == 200
    finally:
        agent.stop()
