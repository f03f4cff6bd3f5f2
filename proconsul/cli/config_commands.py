"""``proconsul config write|read|list|delete``: config entries from HCL or JSON files."""

from __future__ import annotations

import json
import sys
from urllib.parse import quote

import msgspec

from proconsul.api import ClientError
from proconsul.cli.command import Command, Context
from proconsul.structs.config_entries import ConfigEntryError, Entry, decode, decode_hcl


def _kind_and_name(ctx: Context) -> tuple[str, str] | None:
    if not ctx["kind"]:
        ctx.error("Must specify the -kind parameter")
        return None
    if not ctx["name"]:
        ctx.error("Must specify the -name parameter")
        return None
    return ctx["kind"], ctx["name"]


def _entry_path(kind: str, name: str) -> str:
    return f"/v1/config/{quote(kind, safe='')}/{quote(name, safe='')}"


def _cas_params(ctx: Context) -> list[tuple[str, str]] | None:
    if ctx["modify-index"] and not ctx["cas"]:
        ctx.error("Cannot specify -modify-index without -cas")
        return None
    if ctx["modify-index"] < 0:
        ctx.error("-modify-index must be a non-negative integer")
        return None
    return [("cas", str(ctx["modify-index"]))] if ctx["cas"] else []


def _parse(text: str) -> Entry:
    """An entry from HCL or JSON text (JSON is tried first, as it is HCL's own subset)."""
    if text.lstrip().startswith("{"):
        try:
            raw = json.loads(text)
        except ValueError as err:
            raise ConfigEntryError(str(err)) from None
        return decode(raw)
    return decode_hcl(text)


def write(ctx: Context) -> int:
    if len(ctx.args) != 1:
        ctx.error("Must provide exactly one positional argument to specify the config entry "
                  "to write")
        return 1
    source = ctx.args[0]
    try:
        if source == "-":
            text = sys.stdin.read()
        else:
            with open(source, encoding="utf-8") as f:
                text = f.read()
    except OSError as err:
        ctx.error(f"Failed to load data: Failed to read file: {err}")
        return 1
    try:
        entry = _parse(text)
    except ConfigEntryError as err:
        message = err.message.removeprefix("Failed to decode config entry input: ")
        ctx.error(f"Failed to decode config entry input: {message}")
        return 1
    params = _cas_params(ctx)
    if params is None:
        return 1
    label = f"{entry.Kind}/{entry.entry_name()}"
    try:
        written = ctx.client().write("PUT", "/v1/config", raw_body=msgspec.json.encode(entry),
                                     params=params)[0]
    except ClientError as err:
        ctx.error(f"Error writing config entry {label}: {err}")
        return 1
    if written is not True:
        ctx.error(f"Config entry not updated: {label}")
        return 1
    ctx.info(f"Config entry written: {label}")
    return 0


def read(ctx: Context) -> int:
    target = _kind_and_name(ctx)
    if target is None:
        return 1
    kind, name = target
    try:
        entry = ctx.client().query(_entry_path(kind, name), ctx.query_options())[0]
    except ClientError as err:
        ctx.error(f"Error reading config entry {kind}/{name}: {err}")
        return 1
    ctx.info(json.dumps(entry, indent=4))
    return 0


def list_entries(ctx: Context) -> int:
    if not ctx["kind"]:
        ctx.error("Must specify the -kind parameter")
        return 1
    kind = ctx["kind"]
    try:
        entries = ctx.client().query(f"/v1/config/{quote(kind, safe='')}",
                                     ctx.query_options())[0]
    except ClientError as err:
        ctx.error(f'Error listing config entries for kind "{kind}": {err}')
        return 1
    for entry in entries or []:
        ctx.info(entry.get("Name", kind))
    return 0


def delete(ctx: Context) -> int:
    target = _kind_and_name(ctx)
    if target is None:
        return 1
    params = _cas_params(ctx)
    if params is None:
        return 1
    kind, name = target
    try:
        deleted = ctx.client().write("DELETE", _entry_path(kind, name), params=params)[0]
    except ClientError as err:
        ctx.error(f"Error deleting config entry {kind}/{name}: {err}")
        return 1
    if ctx["cas"] and deleted is not True:
        ctx.error(f"Config entry not deleted: {kind}/{name}")
        return 1
    ctx.info(f"Config entry deleted: {kind}/{name}")
    return 0


def _kind_flag(fs) -> None:
    fs.string("kind", "", "The kind of configuration to read.")


def _kind_name_flags(fs) -> None:
    _kind_flag(fs)
    fs.string("name", "", "The name of configuration to read.")


def _cas_flags(fs) -> None:
    fs.boolean("cas", False, "Perform a Check-And-Set operation. Specifying this value also "
               "requires the -modify-index flag to be set. The default value is false.")
    fs.integer("modify-index", 0, "Unsigned integer representing the ModifyIndex of the "
               "config entry. This is used in combination with the -cas flag.")


def _delete_flags(fs) -> None:
    _kind_name_flags(fs)
    _cas_flags(fs)


WRITE = Command("""
Usage: proconsul config write [options] <configuration>

  Request a config entry to be created or updated. The configuration
  argument is either a file path or '-' to indicate that the config
  should be read from stdin. The data should be either in HCL or
  JSON form.

  Example (from file):

    $ proconsul config write web.service.hcl

  Example (from stdin):

    $ proconsul config write -
""", "Create or update a centralized config entry", write, _cas_flags)
READ = Command("""
Usage: proconsul config read [options] -kind <config kind> -name <config name>

  Reads the config entry specified by the given kind and name and outputs its
  JSON representation.

  Example:

    $ proconsul config read -kind proxy-defaults -name global
""", "Read a centralized config entry", read, _kind_name_flags)
LIST = Command("""
Usage: proconsul config list -kind <config kind> [options]

  Lists all of the config entries for a given kind.

  Example:

    $ proconsul config list -kind service-defaults
""", "List centralized config entries of a given kind", list_entries, _kind_flag)
DELETE = Command("""
Usage: proconsul config delete [options] -kind <config kind> -name <config name>

  Deletes the configuration entry specified by the kind and name.

  Example:

    $ proconsul config delete -kind service-defaults -name web
""", "Delete a centralized config entry", delete, _delete_flags)
