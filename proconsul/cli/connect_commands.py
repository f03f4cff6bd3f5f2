"""``proconsul connect ca get-config | set-config | health``."""

from __future__ import annotations

import json

from proconsul.api import ClientError
from proconsul.cli.command import Command, Context


def _no_args(ctx: Context) -> bool:
    if ctx.args:
        ctx.error(f"Too many arguments (expected 0, got {len(ctx.args)})")
        return False
    return True


def get_config(ctx: Context) -> int:
    if not _no_args(ctx):
        return 1
    try:
        conf = ctx.client().connect().ca_get_config(ctx.query_options())
    except ClientError as err:
        ctx.error(f"Error request CA configuration: {err}")
        return 1
    ctx.info(json.dumps(conf, indent="\t"))
    return 0


def set_config(ctx: Context) -> int:
    if not _no_args(ctx):
        return 1
    path = ctx["config-file"]
    if not path:
        ctx.error("The -config-file flag is required")
        return 1
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as err:
        ctx.error(f"Error reading config file: {err}")
        return 1
    try:
        conf = json.loads(text)
    except ValueError as err:
        ctx.error(f"Error parsing config file: {err}")
        return 1
    if not isinstance(conf, dict):
        ctx.error("Error parsing config file: expected a JSON object")
        return 1
    try:
        ctx.client().connect().ca_set_config(conf)
    except ClientError as err:
        ctx.error(f"Error setting CA configuration: {err}")
        return 1
    ctx.info("Configuration updated!")
    return 0


def health(ctx: Context) -> int:
    """Report the CA's expiry dates; exit 2 when anything has expired or soon will."""
    if not _no_args(ctx):
        return 1
    try:
        report = ctx.client().connect().ca_health(ctx.query_options())
    except ClientError as err:
        ctx.error(f"Error requesting CA health: {err}")
        return 1
    if ctx["format"] == "json":
        ctx.info(json.dumps(report, indent="\t"))
    elif ctx["format"] in ("", "pretty"):
        ctx.info(_pretty_health(report))
    else:
        ctx.error(f"Invalid format {ctx['format']!r}: use pretty or json")
        return 1
    return 0 if report.get("Healthy") else 2


def _pretty_health(report: dict) -> str:
    lines = [f"Leaf certificate TTL: {report.get('LeafCertTTL', '')}", "", "Roots:"]
    for root in report.get("Roots") or []:
        active = " (active)" if root.get("Active") else ""
        lines.append(f"  {root['Name']}{active}")
        lines.append(f"    valid {root['NotBefore']} .. {root['NotAfter']}, "
                     f"left {root['TimeLeft']}")
    intermediates = report.get("Intermediates") or []
    if intermediates:
        lines.append("Intermediates:")
        for cert in intermediates:
            lines.append(f"  {cert['Name']}")
            lines.append(f"    valid {cert['NotBefore']} .. {cert['NotAfter']}, "
                         f"left {cert['TimeLeft']}")
    lines.append("Leaves held by this agent:")
    for leaf in report.get("Leaves") or []:
        lines.append(f"  {leaf['Service']} (serial {leaf['SerialNumber']})")
        lines.append(f"    valid {leaf['NotBefore']} .. {leaf['NotAfter']}, "
                     f"left {leaf['TimeLeft']}, rotates at {leaf['RenewAt']}")
    if not report.get("Leaves"):
        lines.append("  (none)")
    warnings = report.get("Warnings") or []
    lines.append("")
    for warning in warnings:
        lines.append(f"{warning['Severity']}: {warning['Subject']}: {warning['Message']}")
    if not warnings:
        lines.append("OK: nothing expires soon.")
    return "\n".join(lines)


CA_GET_CONFIG = Command("""
Usage: proconsul connect ca get-config [options]

  Displays the current Connect Certificate Authority (CA) configuration.
""", "Display the current Connect Certificate Authority (CA) configuration", get_config)
CA_SET_CONFIG = Command("""
Usage: proconsul connect ca set-config [options]

  Modifies the current Connect Certificate Authority (CA) configuration.
""", "Modify the current Connect CA configuration", set_config,
    lambda fs: fs.string("config-file", "", "The path to the config file to use."))
CA_HEALTH = Command("""
Usage: proconsul connect ca health [options]

  Shows when each CA root and intermediate expires, the leaf certificates this
  agent holds and when each will rotate, and warns before anything expires.
  Exits 2 when something has expired or is about to (beyond Consul).
""", "Show CA and leaf certificate expiry, warning before anything expires", health,
    lambda fs: fs.string("format", "pretty", "Output format: pretty or json."))
