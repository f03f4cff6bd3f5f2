"""``proconsul kv get|put|delete|export|import``."""

from __future__ import annotations

import base64
import binascii
import json
import sys

from proconsul.api import ClientError, KVPair
from proconsul.cli.command import Command, Context
from proconsul.cli.progress import Progress
from proconsul.cli.tabular import tabwrite


def _single_key(ctx: Context, expected: str) -> tuple[str, bool]:
    if len(ctx.args) > 1:
        ctx.error(f"Too many arguments (expected {expected}, got {len(ctx.args)})")
        return "", False
    key = ctx.args[0] if ctx.args else ""
    return key[1:] if key.startswith("/") else key, True


def pretty_pair(pair: KVPair, b64: bool) -> str:
    value = base64.b64encode(pair.value).decode() if b64 else pair.value.decode(
        errors="surrogateescape")
    return tabwrite(f"CreateIndex\t{pair.create_index}\nFlags\t{pair.flags}\nKey\t{pair.key}\n"
                    f"LockIndex\t{pair.lock_index}\nModifyIndex\t{pair.modify_index}\n"
                    f"Session\t{pair.session or '-'}\nValue\t{value}")


def _value_text(pair: KVPair, b64: bool) -> str:
    return base64.b64encode(pair.value).decode() if b64 else pair.value.decode(
        errors="surrogateescape")


def get(ctx: Context) -> int:
    key, ok = _single_key(ctx, "1")
    if not ok:
        return 1
    if not key and not (ctx["recurse"] or ctx["keys"]):
        ctx.error("Error! Missing KEY argument")
        return 1
    kv = ctx.client().kv()
    q = ctx.query_options()
    try:
        if ctx["keys"]:
            for k in kv.keys(key, ctx["separator"], q)[0]:
                ctx.info(k)
            return 0
        if ctx["recurse"]:
            pairs = kv.list(key, q)[0]
            for i, pair in enumerate(pairs):
                if ctx["detailed"]:
                    ctx.info(pretty_pair(pair, ctx["base64"]))
                    if i < len(pairs) - 1:
                        ctx.info("")
                else:
                    ctx.info(f"{pair.key}:{_value_text(pair, ctx['base64'])}")
            return 0
        pair = kv.get(key, q)[0]
    except ClientError as err:
        ctx.error(f"Error querying Consul agent: {err}")
        return 1
    if pair is None:
        ctx.error(f"Error! No key exists at: {key}")
        return 1
    ctx.info(pretty_pair(pair, ctx["base64"]) if ctx["detailed"] else _value_text(pair, False))
    return 0


def _get_flags(fs) -> None:
    fs.boolean("base64", False, "Base64 encode the value. The default value is false.")
    fs.boolean("detailed", False, "Provide additional metadata about the key in addition to "
               "the value such as the ModifyIndex and any flags that may have been set on the "
               "key. The default value is false.")
    fs.boolean("keys", False, "List keys which start with the given prefix, but not their "
               "values. The default value is false.")
    fs.boolean("recurse", False, "Recursively look at all keys prefixed with the given path. "
               "The default value is false.")
    fs.string("separator", "/", "String to use as a separator between keys. The default value "
              "is \"/\", but this option is only taken into account when paired with the "
              "-keys flag.")


def read_data(arg: str) -> bytes:
    """A DATA argument: ``@file`` reads the file, ``-`` reads stdin, anything else is literal."""
    if arg.startswith("@"):
        try:
            with open(arg[1:], "rb") as f:
                return f.read()
        except OSError as err:
            raise ValueError(f"Failed to read file: {err}") from None
    if arg == "-":
        return sys.stdin.buffer.read()
    return arg.encode(errors="surrogateescape")


def put(ctx: Context) -> int:
    if not ctx.args:
        ctx.error("Error! Missing KEY argument")
        return 1
    if len(ctx.args) > 2:
        ctx.error(f"Error! Too many arguments (expected 1 or 2, got {len(ctx.args)})")
        return 1
    key = ctx.args[0]
    try:
        data = read_data(ctx.args[1]) if len(ctx.args) == 2 else b""
    except ValueError as err:
        ctx.error(f"Error! {err}")
        return 1
    if ctx["base64"]:
        try:
            data = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as err:
            ctx.error(f"Error! Cannot base 64 decode data: {err}")
            return 1
    if (ctx["release"] or ctx["acquire"]) and not ctx["session"]:
        ctx.error("Error! Missing -session (required with -acquire and -release)")
        return 1
    if ctx["cas"] and not ctx["modify-index"]:
        ctx.error("Must specify -modify-index with -cas!")
        return 1
    kv = ctx.client().kv()
    pair = KVPair(key, data, ctx["flags"], modify_index=ctx["modify-index"],
                  session=ctx["session"])
    try:
        if ctx["cas"]:
            try:
                ok = kv.cas(pair)[0]
            except ClientError as err:
                ctx.error(f"Error! Did not write to {key}: {err}")
                return 1
            if not ok:
                ctx.error(f"Error! Did not write to {key}: CAS failed")
                return 1
            ctx.info(f"Success! Data written to: {key}")
        elif ctx["acquire"]:
            if not kv.acquire(pair)[0]:
                ctx.error("Error! Did not acquire lock")
                return 1
            ctx.info(f"Success! Lock acquired on: {key}")
        elif ctx["release"]:
            if not kv.release(pair)[0]:
                ctx.error("Error! Did not release lock")
                return 1
            ctx.info(f"Success! Lock released on: {key}")
        else:
            kv.put(pair)
            ctx.info(f"Success! Data written to: {key}")
    except (ClientError, ValueError) as err:
        ctx.error(f"Error! Failed writing data: {err}")
        return 1
    return 0


def _put_flags(fs) -> None:
    fs.boolean("cas", False, "Perform a Check-And-Set operation. Specifying this value also "
               "requires the -modify-index flag to be set. The default value is false.")
    fs.integer("flags", 0, "Unsigned integer value to assign to this key-value pair. The "
               "default value is 0 (no flags).")
    fs.boolean("base64", False, "Treat the data as base 64 encoded. The default value is false.")
    fs.integer("modify-index", 0, "Unsigned integer representing the ModifyIndex of the key. "
               "This is used in combination with the -cas flag.")
    fs.string("session", "", "User-defined identifer for this session as a string. This is "
              "commonly used with the -acquire and -release operations to build robust "
              "locking, but it can be set on any key. The default value is empty (no session).")
    fs.boolean("acquire", False, "Obtain a lock on the key. If the key does not exist, this "
               "operation will create the key and obtain the lock. The session must already "
               "exist and be specified via the -session flag. The default value is false.")
    fs.boolean("release", False, "Forfeit the lock on the key at the given path. This requires "
               "the -session flag to be set. The key must be held by the session in order to "
               "be unlocked. The default value is false.")


def delete(ctx: Context) -> int:
    key, ok = _single_key(ctx, "1")
    if not ok:
        return 1
    if not key and not ctx["recurse"]:
        ctx.error("Error! Missing KEY argument")
        return 1
    if ctx["modify-index"] and not ctx["cas"]:
        ctx.error("Cannot specify -modify-index without -cas!")
        return 1
    if ctx["cas"] and not ctx["modify-index"]:
        ctx.error("Must specify -modify-index with -cas!")
        return 1
    if ctx["cas"] and ctx["recurse"]:
        ctx.error("Cannot specify both -cas and -recurse!")
        return 1
    kv = ctx.client().kv()
    try:
        if ctx["recurse"]:
            kv.delete_tree(key)
            ctx.info(f"Success! Deleted keys with prefix: {key}")
        elif ctx["cas"]:
            if not kv.delete_cas(KVPair(key, modify_index=ctx["modify-index"]))[0]:
                ctx.error(f"Error! Did not delete key {key}: CAS failed")
                return 1
            ctx.info(f"Success! Deleted key: {key}")
        else:
            kv.delete(key)
            ctx.info(f"Success! Deleted key: {key}")
    except ClientError as err:
        what = "prefix" if ctx["recurse"] else "key"
        ctx.error(f"Error! Did not delete {what} {key}: {err}")
        return 1
    return 0


def _delete_flags(fs) -> None:
    fs.boolean("cas", False, "Perform a Check-And-Set operation. Specifying this value also "
               "requires the -modify-index flag to be set. The default value is false.")
    fs.integer("modify-index", 0, "Unsigned integer representing the ModifyIndex of the key. "
               "This is used in combination with the -cas flag.")
    fs.boolean("recurse", False, "Recursively delete all keys with the path. The default "
               "value is false.")


def export(ctx: Context) -> int:
    key, ok = _single_key(ctx, "1")
    if not ok:
        return 1
    try:
        pairs = ctx.client().kv().list(key, ctx.query_options())[0]
    except ClientError as err:
        ctx.error(f"Error querying Consul agent: {err}")
        return 1
    progress = Progress(len(pairs), "Exporting")
    exported = []
    for pair in pairs:
        exported.append({"key": pair.key, "flags": pair.flags,
                         "value": base64.b64encode(pair.value).decode()})
        progress.advance()
    progress.done()
    ctx.info(json.dumps(exported, indent="\t", ensure_ascii=False))
    return 0


def import_(ctx: Context) -> int:
    if len(ctx.args) > 1:
        ctx.error(f"Too many arguments (expected 1, got {len(ctx.args)})")
        return 1
    if not ctx.args or not ctx.args[0]:
        ctx.error("Error! " + ("Empty DATA argument" if ctx.args else "Missing DATA argument"))
        return 1
    try:
        data = read_data(ctx.args[0])
    except ValueError as err:
        ctx.error(f"Error! {err}")
        return 1
    try:
        entries = json.loads(data)
    except ValueError as err:
        ctx.error(f"Cannot unmarshal data: {err}")
        return 1
    kv = ctx.client().kv()
    progress = Progress(len(entries), "Importing")
    for entry in entries:
        try:
            value = base64.b64decode(entry["value"], validate=True)
        except (binascii.Error, ValueError, KeyError) as err:
            ctx.error(f"Error base 64 decoding value for key {entry.get('key')}: {err}")
            return 1
        key = ctx["prefix"] + entry["key"]
        try:
            kv.put(KVPair(key, value, entry.get("flags", 0)))
        except (ClientError, ValueError) as err:
            ctx.error(f"Error! Failed writing data for key {key}: {err}")
            return 1
        progress.advance()
        ctx.info(f"Imported: {key}")
    progress.done()
    return 0


def _import_flags(fs) -> None:
    fs.string("prefix", "", "Key prefix for imported data. The default value is empty "
              "meaning root.")


GET = Command("""
Usage: proconsul kv get [options] [KEY_OR_PREFIX]

  Retrieves the value from Consul's key-value store at the given key name. If no
  key exists with that name, an error is returned. If a key exists with that
  name but has no data, nothing is returned. If the name or prefix is omitted,
  it defaults to "" which is the root of the key-value store.
""", "Retrieves or lists data from the KV store", get, _get_flags)
PUT = Command("""
Usage: proconsul kv put [options] KEY [DATA]

  Writes the data to the given path in the key-value store. The data can be of
  any type. It can also be read from a file by prefixing with the "@" symbol, or
  from stdin using the "-" symbol.
""", "Sets or updates data in the KV store", put, _put_flags)
DELETE = Command("""
Usage: proconsul kv delete [options] KEY_OR_PREFIX

  Removes the value from Consul's key-value store at the given path. If no
  key exists at the path, no action is taken.
""", "Removes data from the KV store", delete, _delete_flags)
EXPORT = Command("""
Usage: proconsul kv export [KEY_OR_PREFIX]

  Retrieves key-value pairs for the given prefix from Consul's key-value store,
  and writes a JSON representation to stdout. This can be used with the command
  "proconsul kv import" to move entire trees between Consul clusters.
""", "Exports a tree from the KV store as JSON", export)
IMPORT = Command("""
Usage: proconsul kv import [DATA]

  Imports key-value pairs to the key-value store from the JSON representation
  generated by the "proconsul kv export" command. The data can be given as an
  argument, read from a file with "@", or from stdin with "-".
""", "Imports a tree stored as JSON to the KV store", import_, _import_flags)
KV_HELP = """Usage: proconsul kv <subcommand> [options] [args]

  This command has subcommands for interacting with Consul's key-value
  store. Here are some simple examples, and more detailed examples are
  available in the subcommands or the documentation.

  Create or update the key named "redis/config/connections" with the value "5":

      $ proconsul kv put redis/config/connections 5

  Read this value back:

      $ proconsul kv get redis/config/connections

  Or get detailed key information:

      $ proconsul kv get -detailed redis/config/connections

  Finally, delete the key:

      $ proconsul kv delete redis/config/connections

  For more examples, ask for subcommand help or view the documentation."""
