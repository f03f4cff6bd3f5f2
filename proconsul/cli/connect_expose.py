"""``proconsul connect expose``: put a service behind an ingress gateway, as Consul does.

Reads the gateway's ``ingress-gateway`` config entry (a missing one is started
afresh), adds the service to the listener on ``-port`` (or a new listener; a
listener of another protocol is an error; the service already there is
replaced), writes it back with check-and-set so a concurrent change is not lost,
then makes sure an ``allow`` intention from the gateway to the service exists.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from proconsul.api import ClientError
from proconsul.cli.command import Command, Context


def parse_target(text: str) -> tuple[str, str, str]:
    """Consul's ParseIntentionTarget: ``name``, ``ns/name`` or ``partition/ns/name`` as
    (name, namespace, partition); ValueError when there are more parts."""
    parts = text.split("/")
    if len(parts) > 3:
        raise ValueError("input can contain at most two '/'")
    partition, namespace = ("", "", *parts)[-3:-1]
    return parts[-1], namespace, partition


def _same_tenancy(a: dict[str, Any], namespace: str, partition: str) -> bool:
    return ((a.get("Namespace") or "default").lower() == (namespace or "default").lower()
            and (a.get("Partition") or "default").lower() == (partition or "default").lower())


def _tenancy(namespace: str, partition: str) -> dict[str, str]:
    return {**({"Namespace": namespace} if namespace else {}),
            **({"Partition": partition} if partition else {})}


def add_service(entry: dict[str, Any], port: int, protocol: str,
                service: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The entry with ``service`` on the listener for ``port`` and whether it replaced
    one already there; ValueError when that listener speaks another protocol."""
    listeners = [dict(listener) for listener in entry.get("Listeners") or []]
    for listener in listeners:
        if listener.get("Port") != port:
            continue
        if (listener.get("Protocol") or "tcp") != protocol:
            raise ValueError(f"Listener on port {port} already configured with conflicting "
                             f"protocol {json.dumps(listener.get('Protocol') or 'tcp')}")
        services = list(listener.get("Services") or [])
        for i, existing in enumerate(services):
            if existing.get("Name") == service["Name"] and _same_tenancy(
                    existing, service.get("Namespace", ""), service.get("Partition", "")):
                services[i] = service
                listener["Services"] = services
                return {**entry, "Listeners": listeners}, True
        listener["Services"] = [*services, service]
        return {**entry, "Listeners": listeners}, False
    listeners.append({"Port": port, "Protocol": protocol, "Services": [service]})
    return {**entry, "Listeners": listeners}, False


def _targets(ctx: Context) -> tuple[tuple[str, str, str], tuple[str, str, str]] | None:
    if not ctx["service"]:
        ctx.error("A service name must be given via the -service flag.")
        return None
    try:
        service = parse_target(ctx["service"])
    except ValueError as err:
        ctx.error(f"Invalid service name: {err}")
        return None
    if not ctx["ingress-gateway"]:
        ctx.error("An ingress gateway service must be given via the -ingress-gateway flag.")
        return None
    try:
        gateway = parse_target(ctx["ingress-gateway"])
    except ValueError as err:
        ctx.error(f"Invalid ingress gateway name: {err}")
        return None
    if ctx["port"] == 0:
        ctx.error("A port must be provided via the -port flag.")
        return None
    if not 0 < ctx["port"] < 65536:
        ctx.error(f"Invalid -port {ctx['port']}: want a number from 1 to 65535.")
        return None
    return service, gateway


def _read_entry(ctx: Context, gateway: tuple[str, str, str]) -> dict[str, Any]:
    name, namespace, partition = gateway
    params = [(k, v) for k, v in (("ns", namespace), ("partition", partition)) if v]
    reply, _ = ctx.client().query_raw(f"/v1/config/ingress-gateway/{quote(name, safe='')}",
                                      ctx.query_options(), params, ok=(200, 404))
    if reply.status == 404:
        return {"Kind": "ingress-gateway", "Name": name, **_tenancy(namespace, partition)}
    return json.loads(reply.body)


def expose(ctx: Context) -> int:
    targets = _targets(ctx)
    if targets is None:
        return 1
    (svc, svc_ns, svc_part), gateway = targets
    service = {"Name": svc, **_tenancy(svc_ns, svc_part),
               **({"Hosts": ctx["host"]} if ctx["host"] else {})}
    try:
        entry = _read_entry(ctx, gateway)
    except ClientError as err:
        ctx.error(f"Error fetching existing ingress gateway configuration: {err}")
        return 1
    try:
        entry, replaced = add_service(entry, ctx["port"], ctx["protocol"], service)
    except ValueError as err:
        ctx.error(str(err))
        return 1
    if replaced:
        ctx.info(f"Updating service definition for {json.dumps(ctx['service'])} on listener "
                 f"with port {ctx['port']}")
    client = ctx.client()
    try:
        written, _ = client.write("PUT", "/v1/config", entry,
                                  params=[("cas", str(entry.get("ModifyIndex", 0)))])
    except ClientError as err:
        ctx.error(f"Error writing ingress config entry: {err}")
        return 1
    if written is not True:
        ctx.error("Ingress config entry was changed while attempting to update, please try "
                  "again.")
        return 1
    ctx.info(f"Successfully updated config entry for ingress service {json.dumps(gateway[0])}")
    return _allow(ctx, gateway, (svc, svc_ns, svc_part))


def _allow(ctx: Context, gateway: tuple[str, str, str], service: tuple[str, str, str]) -> int:
    """The intention half: nothing to do when gateway -> service is already allowed."""
    src, dst = ctx["ingress-gateway"], ctx["service"]
    where = [("source", src), ("destination", dst)]
    client = ctx.client()
    try:
        reply, _ = client.query_raw("/v1/connect/intentions/exact", ctx.query_options(), where,
                                    ok=(200, 404))
    except ClientError as err:
        ctx.error(f"Error looking up existing intention: {err}")
        return 1
    if reply.status == 200 and json.loads(reply.body).get("Action") == "allow":
        ctx.info(f"Intention already exists for {json.dumps(src)} -> {json.dumps(dst)}")
        return 0
    ixn = {"SourceName": gateway[0], "DestinationName": service[0], "SourceType": "consul",
           "Action": "allow",
           **{k: v for k, v in (("SourceNS", gateway[1]), ("SourcePartition", gateway[2]),
                                ("DestinationNS", service[1]),
                                ("DestinationPartition", service[2])) if v}}
    try:
        client.write("PUT", "/v1/connect/intentions/exact", ixn, params=where)
    except ClientError as err:
        ctx.error(f"Error upserting intention: {err}")
        return 1
    ctx.info(f"Successfully set up intention for {json.dumps(src)} -> {json.dumps(dst)}")
    return 0


def _flags(fs) -> None:
    fs.string("ingress-gateway", "", "(Required) The name of the ingress gateway service to "
              "use. A namespace can optionally be specified as a prefix via the "
              "'namespace/service' format.")
    fs.string("service", "", "(Required) The name of destination service to expose. A "
              "namespace can optionally be specified as a prefix via the 'namespace/service' "
              "format.")
    fs.integer("port", 0, "(Required) The listener port to use for the service on the Ingress "
               "gateway.")
    fs.string("protocol", "tcp", "The protocol for the service. Defaults to 'tcp'.")
    fs.strings("host", "Additional DNS hostname to use for routing to this service.Can be "
               "specified multiple times.")


EXPOSE = Command("""
Usage: proconsul connect expose [options]

  Exposes a Connect-enabled service through the given ingress gateway, using the
  given protocol and port.
""", "Expose a Connect-enabled service through an Ingress gateway", expose, _flags)
