"""``proconsul snapshot save|restore|inspect``: Consul's snapshot commands.

Save and restore stream the archive between the agent and a file (with a
progress bar on a terminal); save writes ``FILE.unverified``, checks it and
only then renames it to ``FILE``. Inspect reads an archive, or a bare
``state.bin`` with the ``meta.json`` beside it, and prints counts and sizes
per record type (and per KV prefix with ``-kvdetails``).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from proconsul.api import ClientError
from proconsul.api.options import WriteOptions
from proconsul.cli.command import Command, Context
from proconsul.cli.progress import Progress
from proconsul.cli.tabular import tabwrite
from proconsul.fsm.fsm import read_header
from proconsul.lib.snapshot_archive import ArchiveError, read_archive
from proconsul.state.snapshot import (
    FRAME_SIZE,
    RecordKind,
    SnapshotError,
    decode_record,
    read_frames,
)

# Consul's message type names for what each record holds (nodes, services and checks
# are all "Register" there); kinds without an entry show their own name.
TYPE_NAMES = {
    RecordKind.INDEXES: "Index",
    RecordKind.PEER_INDEXES: "Index",
    RecordKind.NODE: "Register",
    RecordKind.SERVICE: "Register",
    RecordKind.CHECK: "Register",
    RecordKind.KV: "KVS",
    RecordKind.TOMBSTONE: "Tombstone",
    RecordKind.SESSION: "Session",
    RecordKind.COORDINATE: "CoordinateBatchUpdate",
    RecordKind.AUTOPILOT: "Autopilot",
    RecordKind.CA_ROOT: "ConnectCA",
    RecordKind.CA_CONFIG: "ConnectCAConfig",
    RecordKind.CA_PROVIDER_STATE: "ConnectCAProviderState",
    RecordKind.CONFIG_ENTRY: "ConfigEntry",
    RecordKind.SERVICE_VIRTUAL_IP: "ServiceVirtualIP",
    RecordKind.FREE_VIRTUAL_IP: "FreeVirtualIP",
    RecordKind.PEERING: "Peering",
    RecordKind.PEERING_TRUST_BUNDLE: "PeeringTrustBundle",
    RecordKind.PEERING_SECRETS: "PeeringSecret",
}
FORMATS = ("pretty", "json")


def byte_size(size: int) -> str:
    """Consul's ByteSize: ``0``, ``285B``, ``12.3KB``, ``2KB``, ``1.5GB``."""
    if size == 0:
        return "0"
    for unit, scale in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= scale:
            text = f"{size / scale:.1f}".removesuffix(".0")
            return text + unit
    return f"{size}B"


def args_file(ctx: Context) -> str | None:
    if not ctx.args:
        ctx.error("Missing FILE argument")
        return None
    if len(ctx.args) > 1:
        ctx.error(f"Too many arguments (expected 1, got {len(ctx.args)})")
        return None
    return ctx.args[0]


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


# ---- save ---------------------------------------------------------------------------

def _append_to_name(ctx: Context, file: str) -> str | None:
    parts = [p for p in ctx["append-filename"].split(",") if p]
    if not parts:
        return file
    stem, ext = os.path.splitext(file)
    client = ctx.client()
    if "version" in parts:
        try:
            health = client.operator().autopilot_server_health()
        except ClientError as err:
            ctx.error(f"Error fetching version of Consul agent Leader: {err}")
            return None
        versions = [s["Version"] for s in health["Servers"] if s.get("Leader")]
        stem += "-" + (versions[0] if versions else "")
    if "dc" in parts:
        try:
            self_info = client.agent().self()
        except ClientError as err:
            ctx.error(f"Error connecting to Consul agent and fetching datacenter/version: {err}")
            return None
        stem += "-" + self_info.get("Config", {}).get("Datacenter", "")
    return stem + ext


def save(ctx: Context) -> int:
    file = args_file(ctx)
    if file is None:
        return 1
    file = _append_to_name(ctx, file)
    if file is None:
        return 1
    unverified = file + ".unverified"
    progress = Progress(None, "Saving snapshot", unit=byte_size)
    try:
        with open(unverified, "wb") as sink:
            os.fchmod(sink.fileno(), 0o600)
            meta = ctx.client().snapshot().save(sink, ctx.query_options(),
                                                progress=progress.advance)
            sink.flush()
            os.fsync(sink.fileno())
    except ClientError as err:
        progress.done()
        ctx.error(f"Error saving snapshot: {err}")
        _remove(unverified)
        return 1
    except OSError as err:
        progress.done()
        ctx.error(f"Error writing unverified snapshot file: {err}")
        _remove(unverified)
        return 1
    progress.done()
    try:
        with open(unverified, "rb") as source:
            read_archive(source, _Discard())  # type: ignore[arg-type]
    except OSError as err:
        ctx.error(f"Error opening snapshot file for verify: {err}")
        _remove(unverified)
        return 1
    except ArchiveError as err:
        ctx.error(f"Error verifying snapshot file: {err}")
        _remove(unverified)
        return 1
    try:
        os.replace(unverified, file)
    except OSError as err:
        ctx.error(f'Error renaming "{unverified}" to "{file}": {err}')
        _remove(unverified)
        return 1
    ctx.info(f"Saved and verified snapshot to index {meta.last_index}")
    return 0


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


# ---- restore ------------------------------------------------------------------------

def restore(ctx: Context) -> int:
    file = args_file(ctx)
    if file is None:
        return 1
    try:
        source = open(file, "rb")  # noqa: SIM115 - closed below
    except OSError as err:
        ctx.error(f"Error opening snapshot file: {err}")
        return 1
    with source:
        progress = Progress(os.fstat(source.fileno()).st_size, "Restoring snapshot",
                            unit=byte_size)
        try:
            ctx.client().snapshot().restore(
                source, WriteOptions(), progress=progress.advance)
        except (ClientError, OSError) as err:
            progress.done()
            ctx.error(f"Error restoring snapshot: {err}")
            return 1
    progress.done()
    ctx.info("Restored snapshot")
    return 0


# ---- inspect ------------------------------------------------------------------------

@dataclass
class _Stats:
    name: str
    sum: int = 0
    count: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"Name": self.name, "Sum": self.sum, "Count": self.count}


@dataclass
class _Info:
    stats: dict[str, _Stats] = field(default_factory=dict)
    kv: dict[str, _Stats] = field(default_factory=dict)
    total: int = 0
    total_kv: int = 0


def _enhance(state: BinaryIO, kv_details: bool, depth: int, prefix_filter: str) -> _Info:
    info = _Info()
    read_header(state)
    for kind, payload in read_frames(state):
        name = TYPE_NAMES.get(kind, kind.name)
        size = FRAME_SIZE + len(payload)
        stats = info.stats.setdefault(name, _Stats(name))
        stats.sum += size
        stats.count += 1
        info.total += size
        if kv_details and kind is RecordKind.KV:
            key = decode_record(kind, payload).Key
            if prefix_filter and not key.startswith(prefix_filter):
                continue
            prefix = "/".join(key.split("/")[:max(depth, 0)])
            kv = info.kv.setdefault(prefix, _Stats(prefix))
            kv.sum += size
            kv.count += 1
            info.total_kv += size
    return info


def _sorted(stats: dict[str, _Stats]) -> list[_Stats]:
    return sorted(stats.values(), key=lambda s: (-s.sum, s.name))


def _pretty(meta: dict[str, Any], info: _Info, kv_details: bool) -> str:
    text = (f" ID\t{meta.get('ID', '')}\n Size\t{meta.get('Size', 0)}\n"
            f" Index\t{meta.get('Index', 0)}\n Term\t{meta.get('Term', 0)}\n"
            f" Version\t{meta.get('Version', 0)}\n\n Type\tCount\tSize\n ----\t----\t----")
    for s in _sorted(info.stats):
        text += f"\n {s.name}\t{s.count}\t{byte_size(s.sum)}"
    text += f"\n ----\t----\t----\n Total\t\t{byte_size(info.total)}"
    if kv_details and info.kv:
        text += "\n\n Key Name\tCount\tSize\n ----\t----\t----"
        for s in _sorted(info.kv):
            text += f"\n {s.name}\t{s.count}\t{byte_size(s.sum)}"
        text += f"\n ----\t----\t----\n Total\t\t{byte_size(info.total_kv)}"
    return tabwrite(text, minwidth=8, padding=6)


def _json(meta: dict[str, Any], info: _Info, kv_details: bool) -> str:
    out = {
        "Meta": {"ID": meta.get("ID", ""), "Size": meta.get("Size", 0),
                 "Index": meta.get("Index", 0), "Term": meta.get("Term", 0),
                 "Version": meta.get("Version", 0)},
        "Stats": [s.as_json() for s in _sorted(info.stats)],
        "StatsKV": [s.as_json() for s in _sorted(info.kv)] if kv_details and info.kv
        else None,
        "TotalSize": info.total,
        "TotalSizeKV": info.total_kv,
    }
    return json.dumps(out, indent=3)


def open_state(ctx: Context, file: str,
               stack: contextlib.ExitStack) -> tuple[dict[str, Any], BinaryIO] | None:
    """The raft metadata and the state stream of an archive, or of a bare ``state.bin``
    with the ``meta.json`` beside it (Consul's inspect and decode both read either);
    errors are reported and give None."""
    try:
        source = stack.enter_context(open(file, "rb"))  # noqa: SIM115 - the stack closes it
    except OSError as err:
        ctx.error(f"Error opening snapshot file: {err}")
        return None
    if Path(file).name.lower() == "state.bin":
        meta_path = Path(file).parent / "meta.json"
        try:
            return json.loads(meta_path.read_bytes()), source
        except OSError as err:
            ctx.error(f"Error reading meta.json from internal snapshot dir: {err}")
        except ValueError as err:
            ctx.error(f"Error parsing meta.json from internal snapshot dir: {err}")
        return None
    state = stack.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 - as above
    try:
        meta = read_archive(source, state)
    except ArchiveError as err:
        ctx.error(f"Error reading snapshot: {err}")
        return None
    state.seek(0)
    return meta, state


def read_snapshot(ctx: Context, use: Callable[[dict[str, Any], BinaryIO], int]) -> int:
    """``use(meta, state)`` on the snapshot the FILE argument names (see
    :func:`open_state`); argument, file and decoding errors are reported and give 1."""
    file = args_file(ctx)
    if file is None:
        return 1
    with contextlib.ExitStack() as stack:
        opened = open_state(ctx, file, stack)
        if opened is None:
            return 1
        try:
            return use(*opened)
        except SnapshotError as err:
            ctx.out.flush()
            ctx.error(f"Error extracting snapshot data: {err}")
            return 1


def inspect(ctx: Context) -> int:
    def show(meta: dict[str, Any], state: BinaryIO) -> int:
        info = _enhance(state, ctx["kvdetails"], ctx["kvdepth"], ctx["kvfilter"])
        if ctx["format"] not in FORMATS:  # checked after reading, as Consul does
            ctx.error(f"Error outputting enhanced snapshot data: Unknown format: "
                      f"{ctx['format']}")
            return 1
        render = _json if ctx["format"] == "json" else _pretty
        ctx.info(render(meta, info, ctx["kvdetails"]))
        return 0

    return read_snapshot(ctx, show)


def _save_flags(fs) -> None:
    fs.string("append-filename", "", "Append filename flag supports the following "
              "comma-separated arguments. 1. version, 2. dc. It appends these values to the "
              "filename provided in the command")


def _inspect_flags(fs) -> None:
    fs.boolean("kvdetails", False, "Provides a detailed KV space usage breakdown for any KV "
               "data that's been stored.")
    fs.integer("kvdepth", 2, "Can only be used with -kvdetails. The key prefix depth used to "
               "breakdown KV store data. Defaults to 2.")
    fs.string("kvfilter", "", "Can only be used with -kvdetails. Limits KV key breakdown "
              "using this prefix filter.")
    fs.string("format", "pretty", "Output format {pretty|json}")


SAVE = Command("""
Usage: proconsul snapshot save [options] FILE

  Retrieves an atomic, point-in-time snapshot of the state of the Consul servers
  which includes key/value entries, service catalog, prepared queries, sessions,
  and ACLs.

  If ACLs are enabled, a management token must be supplied in order to perform
  snapshot operations.

  To create a snapshot from the leader server and save it to "backup.snap":

    $ proconsul snapshot save backup.snap

  To create a potentially stale snapshot from any available server (useful if no
  leader is available):

    $ proconsul snapshot save -stale backup.snap
""", "Saves snapshot of Consul server state", save, _save_flags)
RESTORE = Command("""
Usage: proconsul snapshot restore [options] FILE

  Restores an atomic, point-in-time snapshot of the state of the Consul servers
  which includes key/value entries, service catalog, prepared queries, sessions,
  and ACLs.

  Restores involve a potentially dangerous low-level Raft operation that is not
  designed to handle server failures during a restore. This command is primarily
  intended to be used when recovering from a disaster, restoring into a fresh
  cluster of Consul servers.

  If ACLs are enabled, a management token must be supplied in order to perform
  snapshot operations.

  To restore a snapshot from the file "backup.snap":

    $ proconsul snapshot restore backup.snap
""", "Restores snapshot of Consul server state", restore)
INSPECT = Command("""
Usage: proconsul snapshot inspect [options] FILE

  Displays information about a snapshot file on disk.

  To inspect the file "backup.snap":

    $ proconsul snapshot inspect backup.snap
""", "Displays information about a Consul snapshot file", inspect, _inspect_flags, http=False)
