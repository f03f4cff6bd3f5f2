"""``proconsul config write|read|list|delete`` against a real agent: HCL and JSON files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proconsul.structs.config_entries import decode, decode_hcl
from proconsul.structs.config_entry_rpc import prepare
from tests.integration.test_config_entries import CERT, EVERY_KIND, KEY
from tests.support.cli_process import run_cli

HCL = {
    "service-defaults": '''
Kind     = "service-defaults"
Name     = "cli-web"
Protocol = "http"
MeshGateway {
  Mode = "local"
}
Meta {
  team = "payments"
}
''',
    "proxy-defaults": '''
kind = "proxy-defaults"
name = "global"
config {
  local_connect_timeout_ms = 1000
  handshake_timeout_ms     = 10000
}
''',
    "service-resolver": '''
Kind           = "service-resolver"
Name           = "cli-web"
DefaultSubset  = "v1"
ConnectTimeout = "15s"
Subsets = {
  v1 = {
    Filter = "Service.Meta.version == v1"
  }
  v2 = {
    Filter = "Service.Meta.version == v2"
  }
}
''',
    "service-router": '''
Kind = "service-router"
Name = "cli-web"
Routes = [
  {
    Match {
      HTTP {
        PathPrefix = "/admin"
      }
    }
    Destination {
      Service       = "cli-web"
      ServiceSubset = "v2"
    }
  },
]
''',
    "service-intentions": '''
Kind = "service-intentions"
Name = "cli-db"
Sources = [
  {
    Name   = "cli-web"
    Action = "allow"
  },
  {
    Name   = "*"
    Action = "deny"
  },
]
''',
    "ingress-gateway": '''
Kind = "ingress-gateway"
Name = "cli-ingress"
Listeners = [
  {
    Port     = 8080
    Protocol = "tcp"
    Services = [
      {
        Name = "cli-db"
      }
    ]
  }
]
''',
}


# The other kinds, as HCL files (inline-certificate's PEM blocks as heredocs).
HCL.update({
    "service-splitter": '''
Kind = "service-splitter"
Name = "cli-split"
Splits = [
  {
    Weight = 90
  },
  {
    Weight  = 10
    Service = "cli-split-canary"
  },
]
''',
    "terminating-gateway": '''
Kind = "terminating-gateway"
Name = "cli-term"
Services = [
  {
    Name     = "cli-legacy"
    CAFile   = "/etc/certs/ca.pem"
    CertFile = "/etc/certs/cert.pem"
    KeyFile  = "/etc/certs/key.pem"
    SNI      = "legacy.example.com"
  },
]
''',
    "mesh": '''
Kind = "mesh"
TransparentProxy {
  MeshDestinationsOnly = true
}
''',
    "exported-services": '''
Kind = "exported-services"
Name = "default"
Services = [
  {
    Name      = "cli-web"
    Consumers = [
      {
        Peer = "other-cluster"
      },
    ]
  },
]
''',
    "api-gateway": '''
Kind = "api-gateway"
Name = "cli-gw"
Listeners = [
  {
    Name     = "http"
    Port     = 9191
    Protocol = "http"
  },
  {
    Name     = "tcp"
    Port     = 9192
    Protocol = "tcp"
  },
]
''',
    "http-route": '''
Kind = "http-route"
Name = "cli-route"
Parents = [
  {
    Kind        = "api-gateway"
    Name        = "cli-gw"
    SectionName = "http"
  },
]
Rules = [
  {
    Matches = [
      {
        Path {
          Match = "prefix"
          Value = "/api"
        }
      },
    ]
    Services = [
      {
        Name = "cli-web"
      },
    ]
  },
]
''',
    "tcp-route": '''
Kind = "tcp-route"
Name = "cli-tcp"
Parents = [
  {
    Name        = "cli-gw"
    SectionName = "tcp"
  },
]
Services = [
  {
    Name = "cli-db"
  },
]
''',
    "inline-certificate": f'''
Kind        = "inline-certificate"
Name        = "cli-cert"
Certificate = <<EOT
{CERT.strip()}
EOT
PrivateKey = <<EOT
{KEY.strip()}
EOT
''',
    "jwt-provider": '''
Kind = "jwt-provider"
Name = "cli-okta"
Issuer = "https://okta.example.com"
JSONWebKeySet {
  Remote {
    URI = "https://okta.example.com/keys"
  }
}
''',
    "control-plane-request-limit": '''
Kind      = "control-plane-request-limit"
Name      = "global"
Mode      = "permissive"
ReadRate  = 100
WriteRate = 50
''',
})

# What a kind needs stored first to be valid (a splitter needs an HTTP protocol).
NEEDS = {"service-splitter": [{"Kind": "service-defaults", "Name": "cli-split",
                               "Protocol": "http"},
                              {"Kind": "service-defaults", "Name": "cli-split-canary",
                               "Protocol": "http"}]}


def out(result) -> str:
    return result.stdout.decode()


def err(result) -> str:
    return result.stderr.decode()


def typed(body: dict) -> object:
    return prepare(decode({k: v for k, v in body.items()
                           if k not in ("CreateIndex", "ModifyIndex")}))


@pytest.mark.parametrize("kind", list(HCL))
def test_hcl_file_written_with_the_cli_reads_back_equal(agent, tmp_path: Path, kind: str):
    for needed in NEEDS.get(kind, ()):
        assert agent.put("/v1/config", needed).status == 200
    path = tmp_path / f"{kind}.hcl"
    path.write_text(HCL[kind])
    wanted = prepare(decode_hcl(HCL[kind]))
    label = f"{kind}/{wanted.entry_name()}"
    written = run_cli(agent, "config", "write", str(path))
    assert (written.returncode, out(written)) == (0, f"Config entry written: {label}\n"), err(written)
    read = run_cli(agent, "config", "read", "-kind", kind, "-name", wanted.entry_name())
    assert read.returncode == 0, err(read)
    assert typed(json.loads(out(read))) == wanted
    listed = run_cli(agent, "config", "list", "-kind", kind)
    assert wanted.entry_name() in out(listed).split()


@pytest.mark.parametrize("raw", EVERY_KIND, ids=[r["Kind"] for r in EVERY_KIND])
def test_every_kind_as_a_json_file_through_stdin(agent, raw: dict):
    written = run_cli(agent, "config", "write", "-", stdin=json.dumps(raw).encode())
    assert written.returncode == 0, err(written)
    name = raw.get("Name", raw["Kind"])
    read = run_cli(agent, "config", "read", "-kind", raw["Kind"], "-name", name)
    assert typed(json.loads(out(read))) == typed(raw)


def test_cas_write_and_delete(agent, tmp_path: Path, unique: str):
    path = tmp_path / "entry.json"
    path.write_text(json.dumps({"Kind": "service-defaults", "Name": unique, "Protocol": "http"}))
    label = f"service-defaults/{unique}"
    assert out(run_cli(agent, "config", "write", "-cas", str(path))) == \
        f"Config entry written: {label}\n"                            # absent: index 0 wins
    lost = run_cli(agent, "config", "write", "-cas", str(path))
    assert (lost.returncode, err(lost)) == (1, f"Config entry not updated: {label}\n")
    index = json.loads(out(run_cli(agent, "config", "read", "-kind", "service-defaults",
                                   "-name", unique)))["ModifyIndex"]
    assert run_cli(agent, "config", "write", "-cas", f"-modify-index={index}",
                   str(path)).returncode == 0
    stale = run_cli(agent, "config", "delete", "-kind", "service-defaults", "-name", unique,
                    "-cas", f"-modify-index={index}")
    assert (stale.returncode, err(stale)) == (1, f"Config entry not deleted: {label}\n")
    current = json.loads(out(run_cli(agent, "config", "read", "-kind", "service-defaults",
                                     "-name", unique)))["ModifyIndex"]
    deleted = run_cli(agent, "config", "delete", "-kind", "service-defaults", "-name", unique,
                      "-cas", f"-modify-index={current}")
    assert out(deleted) == f"Config entry deleted: {label}\n"
    missing = run_cli(agent, "config", "read", "-kind", "service-defaults", "-name", unique)
    assert missing.returncode == 1
    assert err(missing).startswith(f"Error reading config entry {label}: ")
    assert f'Config entry not found for "service-defaults" / "{unique}"' in err(missing)


def test_bad_input_is_reported(agent, tmp_path: Path):
    bad = tmp_path / "bad.hcl"
    bad.write_text('Kind = "service-defaults"\nName = "x"\nBogus = 1\n')
    result = run_cli(agent, "config", "write", str(bad))
    assert (result.returncode, err(result)) == (
        1, 'Failed to decode config entry input: invalid config key "Bogus"\n')
    invalid = tmp_path / "invalid.hcl"
    invalid.write_text('Kind = "proxy-defaults"\nName = "web"\n')
    refused = run_cli(agent, "config", "write", str(invalid))
    assert refused.returncode == 1
    assert err(refused).startswith("Error writing config entry proxy-defaults/web: ")
    assert run_cli(agent, "config", "read", "-name", "x").stderr.decode() == \
        "Must specify the -kind parameter\n"
    assert err(run_cli(agent, "config", "write")) == (
        "Must provide exactly one positional argument to specify the config entry to write\n")
