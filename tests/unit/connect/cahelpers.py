"""Shared helpers for the Connect CA tests: a primary CA, leaves, openssl verify."""

from __future__ import annotations

import datetime
import subprocess
import uuid
from pathlib import Path

from proconsul.agent.connect.csr import LeafRequest, make_leaf_csr
from proconsul.server.connect.ca import (
    ConsulCAProvider,
    check_leaf_identity,
    new_ca_root,
    parse_leaf_csr,
    sign_leaf,
)
from proconsul.structs.connect import CARoot, IssuedCert, parse_ca_config

NOW = datetime.datetime(2026, 6, 1, 12, 0, 0, tzinfo=datetime.UTC)


class CA:
    """A primary datacenter's built-in CA with its own serial counter."""

    def __init__(self, cluster_id: str | None = None, datacenter: str = "dc1", **config):
        self.cluster_id = cluster_id or str(uuid.uuid4())
        self.datacenter = datacenter
        self.serial = 0
        self.provider = ConsulCAProvider(parse_ca_config(config), self.cluster_id)
        pem, self.provider.state = self.provider.generate_ca_chain(self.next_serial(), NOW)
        self.root: CARoot = new_ca_root(pem, "consul", self.cluster_id)

    @property
    def trust_domain(self) -> str:
        return f"{self.cluster_id}.consul"

    def next_serial(self) -> int:
        self.serial += 1
        return self.serial

    def sign_csr(self, csr_pem: str, now: datetime.datetime = NOW) -> IssuedCert:
        csr, identity = parse_leaf_csr(csr_pem)
        identity = check_leaf_identity(identity, cluster_id=self.cluster_id,
                                       datacenter=self.datacenter)
        return sign_leaf(self.provider, csr, identity, self.root, serial=self.next_serial(),
                         now=now)

    def leaf(self, service: str = "web", **kw) -> tuple[IssuedCert, str]:
        csr_pem, key_pem = make_leaf_csr(
            LeafRequest(datacenter=self.datacenter, service=service, **kw), self.trust_domain)
        return self.sign_csr(csr_pem), key_pem


def openssl_verify(tmp: Path, leaf_pem: str, cafile_pems: list[str],
                   untrusted_pems: list[str] = (), at: datetime.datetime = NOW,
                   purpose: str = "") -> tuple[bool, str]:
    """Run ``openssl verify`` at time ``at`` (optionally ``-purpose``); (ok, output)."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "ca.pem").write_text("".join(cafile_pems))
    (tmp / "leaf.pem").write_text(leaf_pem)
    cmd = ["openssl", "verify", "-attime", str(int(at.timestamp())), "-CAfile",
           str(tmp / "ca.pem")]
    if purpose:
        cmd += ["-purpose", purpose]
    if untrusted_pems:
        (tmp / "untrusted.pem").write_text("".join(untrusted_pems))
        cmd += ["-untrusted", str(tmp / "untrusted.pem")]
    proc = subprocess.run([*cmd, str(tmp / "leaf.pem")], capture_output=True, text=True,
                          timeout=30, check=False)
    return proc.returncode == 0, proc.stdout + proc.stderr
