"""``proconsul services register|deregister``: the local agent's services."""

from __future__ import annotations

from proconsul.api import ClientError
from proconsul.cli.command import Command, Context, parse_map
from proconsul.cli.service_definition import load_services


def _from_flags(ctx: Context) -> dict:
    service: dict = {"Name": ctx["name"]}
    if ctx["id"]:
        service["ID"] = ctx["id"]
    if ctx["address"]:
        service["Address"] = ctx["address"]
    if ctx["port"]:
        service["Port"] = ctx["port"]
    if ctx["tag"]:
        service["Tags"] = ctx["tag"]
    if ctx["meta"]:
        service["Meta"] = parse_map(ctx["meta"])
    if ctx["tagged-address"]:
        tagged = {}
        for name, address in parse_map(ctx["tagged-address"]).items():
            host, _, port = address.rpartition(":")
            tagged[name] = {"Address": host, "Port": int(port)} if host and port.isdigit() \
                else {"Address": address}
        service["TaggedAddresses"] = tagged
    return service


def register(ctx: Context) -> int:
    if ctx["name"] and ctx.args:
        ctx.error("Flags and configuration files cannot both be specified")
        return 1
    if ctx["name"]:
        services = [_from_flags(ctx)]
    elif not ctx.args:
        ctx.error("Service registration requires at least one argument or flags.")
        return 1
    else:
        services = []
        for path in ctx.args:
            try:
                services.extend(load_services(path))
            except ValueError as err:
                ctx.error(f"Error: {err}")
                return 1
    agent = ctx.client().agent()
    for service in services:
        try:
            agent.service_register(service)
        except ClientError as err:
            ctx.error(f"Error registering service {service.get('Name', '')!r}: {err}")
            return 1
        ctx.info(f"Registered service: {service.get('Name', '')}")
    return 0


def _register_flags(fs) -> None:
    fs.string("name", "", "Name of the service to register.")
    fs.string("id", "", "ID of the service to register.")
    fs.string("address", "", "Address of the service to register.")
    fs.integer("port", 0, "Port of the service to register.")
    fs.strings("tag", "Tag to add to the service. This flag can be specified multiple times "
               "to set multiple tags.")
    fs.strings("meta", "Metadata to set on the service, formatted as `key=value`. This flag "
               "may be specified multiple times to set multiple meta fields.")
    fs.strings("tagged-address", "Tagged address to set on the service, formatted as "
               "`key=value`. This flag may be specified multiple times to set multiple "
               "addresses.")


def deregister(ctx: Context) -> int:
    if ctx["id"] and ctx.args:
        ctx.error("Only one of -id or a config file may be specified")
        return 1
    if ctx["id"]:
        ids = [ctx["id"]]
    elif not ctx.args:
        ctx.error("Service deregistration requires at least one argument or -id.")
        return 1
    else:
        ids = []
        for path in ctx.args:
            try:
                ids.extend(s.get("ID") or s.get("Name", "") for s in load_services(path))
            except ValueError as err:
                ctx.error(f"Error: {err}")
                return 1
    agent = ctx.client().agent()
    for service_id in ids:
        try:
            agent.service_deregister(service_id)
        except ClientError as err:
            ctx.error(f"Error deregistering service {service_id!r}: {err}")
            return 1
        ctx.info(f"Deregistered service: {service_id}")
    return 0


REGISTER = Command("""
Usage: proconsul services register [options] [FILE...]

  Register one or more services using the local agent API. Services can
  be registered from standard Consul configuration files (HCL or JSON) or
  using flags. The service is registered and the command returns. The caller
  must remember to call "proconsul services deregister" or a similar API to
  deregister the service when complete.

      $ proconsul services register web.json

  Additional flags and more advanced use cases are detailed below.
""", "Register services", register, _register_flags)
DEREGISTER = Command("""
Usage: proconsul services deregister [options] [FILE...]

  Deregister one or more services that were previously registered with
  the local agent.

      $ proconsul services deregister web.json

  The -id flag may be used to deregister a single service by ID:

      $ proconsul services deregister -id=web
""", "Deregister services", deregister,
    lambda fs: fs.string("id", "", "ID to delete. This must not be set if arguments are given."))
