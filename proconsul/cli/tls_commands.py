"""``proconsul tls ca create`` and ``tls cert create``: a private CA and agent certificates
for the TLS settings (file names, names and defaults as Consul's commands)."""

from __future__ import annotations

import os
from pathlib import Path

from proconsul.cli.command import Command, Context
from proconsul.lib.pki import CLIENT_AUTH, SERVER_AUTH, KeyPair, new_ca, new_leaf

DOMAIN_PLACEHOLDER = "#DOMAIN#"


def _save(ctx: Context, path: Path, data: bytes, private: bool = False) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    fd = os.open(path, flags, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    ctx.info(f"==> Saved {path}")


def ca_create(ctx: Context) -> int:
    domain = ctx["domain"]
    cert_path, key_path = Path(f"{domain}-agent-ca.pem"), Path(f"{domain}-agent-ca-key.pem")
    for path in (cert_path, key_path):
        if path.exists():
            ctx.error(f"{path} already exists.")
            return 1
    if ctx["days"] <= 0:
        ctx.error("-days must be a positive number of days")
        return 1
    permitted = None
    if ctx["name-constraint"]:
        permitted = [domain, "localhost", *ctx["additional-name-constraint"]]
    uri = f"spiffe://{ctx['cluster-id']}.{domain}" if ctx["cluster-id"] else ""
    ca = new_ca(ctx["common-name"] or f"Proconsul Agent CA {os.urandom(8).hex()}",
                ctx["days"], permitted, uri)
    _save(ctx, cert_path, ca.cert_pem)
    _save(ctx, key_path, ca.key_pem, private=True)
    return 0


def _ca_create_flags(fs) -> None:
    fs.integer("days", 1825, "Number of days the CA is valid for. Defaults to 1825 days "
               "(about 5 years).")
    fs.string("domain", "consul", "The DNS domain the agents are configured with; names the "
              "files, and with -name-constraint the only domain the CA may sign for. "
              "Defaults to consul.")
    fs.boolean("name-constraint", False, "Limit the CA to signing names under -domain, "
               "localhost and each -additional-name-constraint.")
    fs.strings("additional-name-constraint", "Another DNS domain the CA may sign for, with "
               "-name-constraint (repeatable).")
    fs.string("common-name", "", "Common Name of the CA. Defaults to \"Proconsul Agent CA\" "
              "and a random serial.")
    fs.string("cluster-id", "", "ID of the cluster: sets the CA's URI to the SPIFFE ID "
              "spiffe://<cluster-id>.<domain>.")


def cert_create(ctx: Context) -> int:
    kinds = [kind for kind in ("server", "client", "cli") if ctx[kind]]
    if len(kinds) != 1:
        ctx.error("Please provide exactly one of -server, -client or -cli")
        return 1
    kind = kinds[0]
    if ctx["node"] and kind != "server":
        ctx.error("-node requires -server")
        return 1
    if ctx["days"] <= 0:
        ctx.error("-days must be a positive number of days")
        return 1
    dc, domain = ctx["dc"], ctx["domain"]
    ca_path = Path(ctx["ca"].replace(DOMAIN_PLACEHOLDER, domain))
    key_path = Path(ctx["key"].replace(DOMAIN_PLACEHOLDER, domain))
    try:
        ca = KeyPair(ca_path.read_bytes(), key_path.read_bytes())
    except OSError as err:
        ctx.error(f"cannot read the CA: {err.filename}: {err.strerror} (create one with "
                  "'proconsul tls ca create', or name it with -ca and -key)")
        return 1
    name = {"server": f"server.{dc}.{domain}", "client": f"client.{dc}.{domain}",
            "cli": f"cli.client.{dc}.{domain}"}[kind]
    dns_names = [name, "localhost", *ctx["additional-dnsname"]]
    if ctx["node"]:
        dns_names.insert(1, f"{ctx['node']}.server.{dc}.{domain}")
    ips = ["127.0.0.1", *ctx["additional-ipaddress"]] if kind != "cli" else []
    usages = [CLIENT_AUTH] if kind == "cli" else [SERVER_AUTH, CLIENT_AUTH]
    try:
        leaf = new_leaf(ca, name, ctx["days"], dns_names, ips, usages)
    except ValueError as err:
        ctx.error(f"cannot create the certificate: {err}")
        return 1
    if kind == "server":
        ctx.info("==> WARNING: a server certificate lets its holder act as a server and read "
                 "every piece of state in the cluster,\n    root keys and ACL tokens included. "
                 "Keep it on server hosts only, and as safe as the CA key.")
    ctx.info(f"==> Using {ca_path} and {key_path}")
    prefix = f"{dc}-{kind}-{domain}"
    index = 0
    while Path(f"{prefix}-{index}.pem").exists() or Path(f"{prefix}-{index}-key.pem").exists():
        index += 1
    _save(ctx, Path(f"{prefix}-{index}.pem"), leaf.cert_pem)
    _save(ctx, Path(f"{prefix}-{index}-key.pem"), leaf.key_pem, private=True)
    return 0


def _cert_create_flags(fs) -> None:
    fs.boolean("server", False, "Generate a server certificate.")
    fs.boolean("client", False, "Generate a client certificate.")
    fs.boolean("cli", False, "Generate a certificate for the command line.")
    fs.string("dc", "dc1", "Datacenter the certificate is for: in the file name, and in "
              "server.<dc>.<domain> for -server. Defaults to dc1.")
    fs.string("domain", "consul", "The DNS domain the agents are configured with: in the "
              "file name, and in server.<dc>.<domain> for -server. Defaults to consul.")
    fs.integer("days", 365, "Number of days the certificate is valid for. Defaults to 365.")
    fs.string("ca", "#DOMAIN#-agent-ca.pem", "Path to the CA certificate. Defaults to "
              "#DOMAIN#-agent-ca.pem.")
    fs.string("key", "#DOMAIN#-agent-ca-key.pem", "Path to the CA key. Defaults to "
              "#DOMAIN#-agent-ca-key.pem.")
    fs.strings("additional-dnsname", "Another DNS name for the certificate; localhost is "
               "always included (repeatable).")
    fs.strings("additional-ipaddress", "Another IP address for the certificate; 127.0.0.1 is "
               "always included (repeatable).")
    fs.string("node", "", "With -server: also name the certificate "
              "<node>.server.<dc>.<domain>.")


CA_CREATE = Command("""
Usage: proconsul tls ca create [options]

  Creates a CA for agent TLS: <domain>-agent-ca.pem and <domain>-agent-ca-key.pem
  in the current directory.

  $ proconsul tls ca create
""", "Create a new agent CA", ca_create, _ca_create_flags, http=False)
CERT_CREATE = Command("""
Usage: proconsul tls cert create [options]

  Creates a server, client or command-line certificate signed by the agent CA,
  named <dc>-<kind>-<domain>-<n>.pem (and -key.pem) in the current directory.

  $ proconsul tls cert create -server
  $ proconsul tls cert create -client
  $ proconsul tls cert create -cli
""", "Create a new certificate", cert_create, _cert_create_flags, http=False)
