"""Config files as Consul users write them start real agents and register what they define."""

from __future__ import annotations

import json

from tests.support.agent_process import start_agent, wait_until

# The check types of Consul's "Define health checks" docs, one service each.
CHECKS_HCL = """
service {
  name = "script-svc"
  check {
    id = "script-check"
    args = ["/bin/sh", "-c", "exit 0"]
    interval = "10s"
    timeout = "1s"
  }
}
service {
  name = "http-svc"
  port = 8080
  check {
    id = "api"
    name = "HTTP API on port 5000"
    http = "https://localhost:5000/health"
    tls_server_name = ""
    tls_skip_verify = false
    method = "POST"
    header = { Content-Type = ["application/json"] }
    body = "{\\"method\\":\\"health\\"}"
    disable_redirects = true
    interval = "10s"
    timeout = "1s"
  }
}
service {
  name = "tcp-svc"
  check { id = "ssh" name = "SSH TCP on port 22" tcp = "localhost:22" interval = "10s" timeout = "1s" }
}
service {
  name = "udp-svc"
  check { id = "dns" name = "DNS UDP on port 53" udp = "localhost:53" interval = "10s" timeout = "1s" }
}
service {
  name = "grpc-svc"
  check { id = "mem-util" name = "Service health status" grpc = "127.0.0.1:12345" grpc_use_tls = true interval = "10s" }
}
service {
  name = "h2-svc"
  check { id = "h2ping-check" name = "h2ping" h2ping = "localhost:22222" interval = "10s" h2ping_use_tls = false }
}
service {
  name = "ttl-svc"
  check { id = "web-app" name = "Web App Status" notes = "Web app does a curl internally every 10 seconds" ttl = "30s" }
}
service {
  name = "web"
  port = 9090
  connect {
    sidecar_service {
      proxy {
        upstreams = [
          { destination_name = "db" local_bind_port = 9191 }
        ]
      }
    }
  }
}
service {
  name = "alias-svc"
  check { id = "web-alias" alias_service = "web" }
}
"""

CHECKS_JSON = {
    "service": {
        "name": "json-web", "id": "json-web-1", "port": 80,
        "tags": ["primary"], "meta": {"version": "1"},
        "checks": [
            {"id": "json-ttl", "name": "ttl", "ttl": "30s"},
            {"id": "json-http", "name": "http", "http": "http://localhost/health",
             "interval": "10s", "deregister_critical_service_after": "90m"},
        ],
        "connect": {"sidecar_service": {"port": 21555}},
    }
}


def test_documented_service_definitions_load_from_hcl_and_json(tmp_path):
    (tmp_path / "checks.hcl").write_text(CHECKS_HCL)
    (tmp_path / "web.json").write_text(json.dumps(CHECKS_JSON))
    agent = start_agent("-config-dir", str(tmp_path), "-enable-local-script-checks")
    try:
        services = agent.get("/v1/agent/services").json()
        assert {"script-svc", "http-svc", "tcp-svc", "udp-svc", "grpc-svc", "h2-svc", "ttl-svc",
                "web", "web-sidecar-proxy", "alias-svc", "json-web-1",
                "json-web-1-sidecar-proxy"} <= set(services)
        checks = agent.get("/v1/agent/checks").json()
        types = {cid: checks[cid]["Type"] for cid in (
            "script-check", "api", "ssh", "dns", "mem-util", "h2ping-check", "web-app",
            "web-alias", "json-ttl", "json-http")}
        assert types == {"script-check": "script", "api": "http", "ssh": "tcp", "dns": "udp",
                         "mem-util": "grpc", "h2ping-check": "h2ping", "web-app": "ttl",
                         "web-alias": "alias", "json-ttl": "ttl", "json-http": "http"}
        upstreams = services["web-sidecar-proxy"]["Proxy"]["Upstreams"]
        assert upstreams[0]["DestinationName"] == "db" and upstreams[0]["LocalBindPort"] == 9191
        assert services["json-web-1-sidecar-proxy"]["Port"] == 21555
    finally:
        agent.stop()


def test_consul_api_harness_config_starts_an_agent(tmp_path):
    """The JSON file Consul's sdk/testutil TestServer writes (ports chosen by the test)."""
    import socket

    def free() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    harness = {
        "node_name": "node-harness", "node_id": "7d0c1a50-7e6e-4d7b-b4ea-8a0ff0d4f1b1",
        "performance": {"raft_multiplier": 1}, "bootstrap": True, "server": True,
        "data_dir": str(tmp_path / "data"), "log_level": "debug", "bind_addr": "127.0.0.1",
        "addresses": {"http": "127.0.0.1"},
        "ports": {"dns": -1, "http": free(), "https": -1, "serf_lan": free(),
                  "serf_wan": free(), "server": free(), "grpc": -1, "grpc_tls": -1},
        "connect": {"enabled": True, "ca_config": {"cluster_id": "11111111-2222-3333-4444"}},
        "acl": {"enabled": False}, "enable_script_checks": True,
        "disable_update_check": True, "peering": {"enabled": True}, "enable_debug": True,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(harness))
    agent = start_agent("-config-file", str(path), dev=False, host="127.0.0.1")
    try:
        assert agent.get("/v1/agent/self").json()["Config"]["NodeName"] == "node-harness"
        wait_until(lambda: agent.get("/v1/status/leader").json(), what="a leader")
        assert agent.put("/v1/kv/harness", b"ok").json() is True
    finally:
        agent.stop()


def test_py_consul_fixture_with_acls_on_starts(tmp_path):
    """py-consul's conftest turns ACLs on with the deprecated ``master`` token name."""
    fixture = {"performance": {"raft_multiplier": 1}, "enable_script_checks": True,
               "acl": {"enabled": True, "default_policy": "allow",
                       "tokens": {"master": "root", "agent": "root"}}}
    path = tmp_path / "py-consul.json"
    path.write_text(json.dumps(fixture))
    agent = start_agent("-config-file", str(path))
    try:
        assert agent.get("/v1/status/leader").status == 200
        line = ("The 'acl.tokens.master' field is deprecated. Use the "
                "'acl.tokens.initial_management' field instead.")
        assert line in "".join(agent.log)
        assert "Traceback" not in "".join(agent.log)
    finally:
        agent.stop()
