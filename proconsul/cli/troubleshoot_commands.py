"""``proconsul troubleshoot proxy|upstreams|upstream``: why can't A reach B.

``proxy`` and ``upstreams`` follow Consul's commands (an Envoy's admin endpoint);
``upstream`` is beyond Consul: it asks the control plane (catalog health,
intentions, discovery chain, CA roots and leaf) about one source → destination.
"""

from __future__ import annotations

import datetime
import http.client
import json
from typing import Any
from urllib.parse import quote

from proconsul.api import ClientError
from proconsul.cli import troubleshoot_checks as checks
from proconsul.cli.command import Command, Context

ADMIN_USAGE = "Envoy's admin endpoint address, host:port."


class AdminError(Exception):
    """The Envoy admin endpoint could not be read."""


def _admin(endpoint: str, path: str) -> str:
    host, _, port = endpoint.removeprefix("http://").rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        raise AdminError(f"invalid -envoy-admin-endpoint {endpoint!r}: want host:port")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", path)
        reply = conn.getresponse()
        body = reply.read().decode(errors="replace")
    except (OSError, http.client.HTTPException) as err:
        raise AdminError(f"cannot reach Envoy's admin endpoint {endpoint}: {err}") from None
    finally:
        conn.close()
    if reply.status != 200:
        raise AdminError(f"Envoy's admin endpoint answered {path} with {reply.status}")
    return body


def _admin_json(endpoint: str, path: str) -> dict[str, Any]:
    try:
        return json.loads(_admin(endpoint, path))
    except ValueError as err:
        raise AdminError(f"Envoy's {path} is not JSON: {err}") from None


def _report(ctx: Context, findings: list[checks.Finding]) -> int:
    for finding in findings:
        ctx.info(finding.render())
    failed = sum(not f.ok for f in findings)
    ctx.info(f"{failed} problem(s) found." if failed else "No problems found.")
    return 2 if failed else 0


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def proxy(ctx: Context) -> int:
    endpoint, envoy_id, ip = (ctx["envoy-admin-endpoint"], ctx["upstream-envoy-id"],
                              ctx["upstream-ip"])
    if ctx.args:
        ctx.error("This command takes no arguments")
        return 1
    if bool(envoy_id) == bool(ip):
        ctx.error("Exactly one of -upstream-envoy-id or -upstream-ip is required")
        return 1
    try:
        stats_text = _admin(endpoint, "/stats?filter=update_rejected")
        stats = dict(line.split(": ", 1) for line in stats_text.splitlines() if ": " in line)
        findings = [checks.rejected_updates(stats),
                    checks.envoy_certificates(_admin_json(endpoint, "/certs"), _now()),
                    checks.upstream_cluster(_admin_json(endpoint, "/clusters?format=json"),
                                            envoy_id, ip)]
        if envoy_id:
            findings.append(checks.upstream_listener(
                _admin_json(endpoint, "/config_dump"), envoy_id))
    except AdminError as err:
        ctx.error(str(err))
        return 1
    ctx.info("==> Validation")
    return _report(ctx, findings)


def upstreams(ctx: Context) -> int:
    if ctx.args:
        ctx.error("This command takes no arguments")
        return 1
    try:
        clusters = _admin_json(ctx["envoy-admin-endpoint"], "/clusters?format=json")
    except AdminError as err:
        ctx.error(str(err))
        return 1
    ids = checks.upstream_ids(clusters)
    ctx.info(f"==> Upstreams (explicit upstreams only) ({len(ids)})")
    for name in ids:
        ctx.info(name)
    ctx.info("==> Upstreams IPs (transparent proxy only) (0)")  # no transparent proxy yet
    return 0


def upstream(ctx: Context) -> int:
    if len(ctx.args) != 1:
        ctx.error("This command takes one argument: the destination service")
        return 1
    service, source = ctx.args[0], ctx["source"]
    if not source:
        ctx.error("-source is required: the service that cannot reach the destination")
        return 1
    client, q = ctx.client(), ctx.query_options()
    try:
        dest_entries = client.query(f"/v1/health/connect/{quote(service, safe='')}", q)[0]
        source_entries = client.query(f"/v1/health/connect/{quote(source, safe='')}", q)[0]
        findings = [checks.endpoints(service, dest_entries or [])]
        declared, upstream_entry = checks.declared_upstream(source, service,
                                                            source_entries or [])
        findings.append(declared)
        allowed = client.query("/v1/connect/intentions/check", q,
                               [("source", source), ("destination", service)])[0]
        findings.append(checks.intention(source, service, allowed))
        chain_reply, _ = client.query_raw(f"/v1/discovery-chain/{quote(service, safe='')}",
                                          q, ok=(200, 400, 500))
        if chain_reply.status == 200:
            findings.append(checks.protocol(source, service, json.loads(chain_reply.body),
                                            upstream_entry))
        else:
            findings.append(checks.Finding(
                False, f"{service}'s discovery chain does not compile: "
                f"{chain_reply.body.decode(errors='replace').strip()}",
                f"fix {service}'s config entries (router, splitter, resolver, "
                "service-defaults)"))
        roots = client.query("/v1/agent/connect/ca/roots", q)[0]
        for name in (source, service):  # each side presents its leaf to the other
            leaf = client.query(f"/v1/agent/connect/ca/leaf/{quote(name, safe='')}", q)[0]
            findings += checks.certificates(name, roots, leaf["CertPEM"], _now())
    except ClientError as err:
        ctx.error(f"Error reading the control plane's state: {err}")
        return 1
    return _report(ctx, findings)


def _admin_flags(fs) -> None:
    fs.string("envoy-admin-endpoint", "127.0.0.1:19000", ADMIN_USAGE)


def _proxy_flags(fs) -> None:
    _admin_flags(fs)
    fs.string("upstream-ip", "", "The IP address of an upstream service to troubleshoot.")
    fs.string("upstream-envoy-id", "", "The Envoy identifier of an upstream service "
              "(from 'proconsul troubleshoot upstreams').")


PROXY = Command("""
Usage: proconsul troubleshoot proxy (-upstream-ip <ip>|-upstream-envoy-id <envoy-id>) [options]

  Checks an Envoy proxy through its admin endpoint for what stops it reaching one
  upstream: rejected (NACKed) config, expired certificates, no cluster or no
  healthy endpoint for the upstream, no active listener for it. Exits 2 when it finds a problem.

    $ proconsul troubleshoot proxy -upstream-envoy-id api
""", "Troubleshoots service mesh issues from the current Envoy instance", proxy,
    _proxy_flags, http=False)

UPSTREAMS = Command("""
Usage: proconsul troubleshoot upstreams [options]

  Lists the upstreams an Envoy proxy has, for 'proconsul troubleshoot proxy'.
""", "Gets upstream Envoy identifiers and IPs configured for the proxy", upstreams,
    _admin_flags, http=False)

UPSTREAM = Command("""
Usage: proconsul troubleshoot upstream -source <service> [options] <service>

  Beyond Consul: explains from the control plane's state why the source service
  cannot reach the destination: no healthy instance, no upstream declared,
  intentions, a protocol mismatch or a chain that does not compile, an expired
  or foreign leaf certificate. Exits 2 when it finds a problem.
""", "Explains from the control plane why a service cannot reach another", upstream,
    lambda fs: fs.string("source", "", "The service that cannot reach the destination."))
