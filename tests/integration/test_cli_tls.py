"""``proconsul tls cert create -node``: the extra SAN WAN federation through mesh gateways
dials (``<node>.server.<dc>.<domain>``), as openssl reads the certificate."""

from __future__ import annotations

import subprocess
import sys


def run(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "proconsul", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)


def test_server_certificate_for_a_node_names_it_for_openssl(tmp_path):
    assert run(tmp_path, "tls", "ca", "create").returncode == 0
    made = run(tmp_path, "tls", "cert", "create", "-server", "-dc", "east", "-node", "srv-1")
    assert made.returncode == 0, made.stderr
    assert "==> Saved east-server-consul-0.pem" in made.stdout
    text = subprocess.run(["openssl", "x509", "-text", "-noout", "-in",
                           str(tmp_path / "east-server-consul-0.pem")],
                          capture_output=True, text=True, check=True).stdout
    san = text.split("X509v3 Subject Alternative Name:")[1].splitlines()[1].strip()
    assert set(san.split(", ")) == {"DNS:server.east.consul", "DNS:srv-1.server.east.consul",
                                    "DNS:localhost", "IP Address:127.0.0.1"}
    assert "TLS Web Server Authentication, TLS Web Client Authentication" in text
    verified = subprocess.run(["openssl", "verify", "-CAfile",
                               str(tmp_path / "consul-agent-ca.pem"),
                               str(tmp_path / "east-server-consul-0.pem")],
                              capture_output=True, text=True, check=False)
    assert verified.stdout.strip().endswith(": OK"), verified.stdout + verified.stderr

    refused = run(tmp_path, "tls", "cert", "create", "-client", "-node", "srv-1")
    assert refused.returncode == 1 and "-node requires -server" in refused.stderr
