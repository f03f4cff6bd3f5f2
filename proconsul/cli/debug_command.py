"""``proconsul debug``: record an agent's state, logs, metrics and profiles into an archive.

Consul's layout: ``index.json``, ``agent.json``, ``host.json`` and ``members.json``
taken once; ``consul.log`` (the monitor stream) and ``metrics.json`` (the
metrics stream) over the whole duration; with ``pprof``, ``profile.prof`` over
the duration, ``trace.out`` over one interval, and in one directory per
interval ``heap.prof`` and ``goroutine.prof`` (Python's equivalents: the
object summary, and every thread's stack and every asyncio task's awaits).
The directory is then packed as ``<output>.tar.gz`` and removed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tarfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from proconsul.api import Client, ClientError
from proconsul.cli.command import Command, Context
from proconsul.lib.duration import format_seconds

INTERVAL = 30.0
DURATION = 300.0
DURATION_GRACE = 2.0  # added so the last interval is captured within the duration
MIN_INTERVAL = 5.0
MIN_DURATION = 10.0
PROTOCOL_VERSION = 1
TARGETS = ("metrics", "logs", "pprof", "host", "agent", "members")
DEPRECATED_TARGETS = {"cluster": "members"}
ARCHIVE_EXTENSION = ".tar.gz"


def _stamp(moment: datetime) -> str:
    """Go's "2006-01-02T15-04-05Z0700" (RFC 3339 with hyphens for colons) in UTC."""
    return moment.strftime("%Y-%m-%dT%H-%M-%SZ")


def _go_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f +0000 UTC")


def _write_json(path: str, content: Any) -> None:
    with open(path, "w") as out:
        json.dump(content, out, indent="\t")


class Capture:
    """One run of the debug command: what it captures, where, and for how long."""

    def __init__(self, ctx: Context, client: Client, targets: list[str], output: str,
                 interval: float, duration: float) -> None:
        self.ctx, self.client, self.targets = ctx, client, targets
        self.output, self.interval, self.duration = output, interval, duration
        self.stopped = threading.Event()
        self.errors: list[str] = []

    def wants(self, target: str) -> bool:
        return target in self.targets

    def static(self) -> None:
        """host.json, agent.json, members.json; a failure is a warning, as in Consul."""
        agent = self.client.agent()
        for target, read in (("host", agent.host), ("agent", agent.self),
                             ("members", lambda: agent.members(wan=True))):
            if not self.wants(target):
                continue
            try:
                _write_json(os.path.join(self.output, f"{target}.json"), read())
            except (ClientError, OSError) as err:
                self.ctx.error(f"Static capture failed: {err}")

    def dynamic(self) -> None:
        """The long-running captures in threads, the per-interval ones here, for the
        duration (or until interrupted)."""
        threads = [threading.Thread(target=self._guard, args=(job,), daemon=True)
                   for job in self._long_running()]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + self.duration
        count = 0
        self.ctx.info(f"==> Beginning capture interval {_go_time(datetime.now(UTC))} (0)")
        self._guard(self._short_lived)
        self.ctx.info(f"==> Capture successful {_go_time(datetime.now(UTC))} (0)")
        next_at = time.monotonic() + self.interval
        while not self.stopped.wait(max(0.0, min(next_at, deadline) - time.monotonic())):
            if time.monotonic() >= deadline:
                break
            count += 1
            self._guard(self._short_lived)
            self.ctx.info(f"==> Capture successful {_go_time(datetime.now(UTC))} ({count})")
            next_at += self.interval
        for thread in threads:
            while thread.is_alive() and not self.stopped.is_set():
                thread.join(0.2)

    def _guard(self, job: Callable[[], None]) -> None:
        try:
            job()
        except (ClientError, OSError) as err:
            self.errors.append(str(err))

    def _long_running(self) -> list[Callable[[], None]]:
        jobs: list[Callable[[], None]] = []
        if self.wants("pprof"):
            jobs.append(lambda: self._pprof("profile", int(self.duration), "profile.prof"))
            jobs.append(lambda: self._pprof("trace", int(self.interval), "trace.out"))
        if self.wants("logs"):
            jobs.append(lambda: self._stream("/v1/agent/monitor", [("loglevel", "TRACE")],
                                             "consul.log"))
        if self.wants("metrics"):
            jobs.append(lambda: self._stream("/v1/agent/metrics/stream", [], "metrics.json"))
        return jobs

    def _short_lived(self) -> None:
        if not self.wants("pprof"):
            return
        directory = _stamp(datetime.now(UTC))
        os.makedirs(os.path.join(self.output, directory), exist_ok=True)
        for name in ("heap", "goroutine"):
            self._pprof(name, 0, os.path.join(directory, f"{name}.prof"))

    def _pprof(self, name: str, seconds: int, path: str) -> None:
        """GET /debug/pprof/<name> into ``path`` (relative to the output directory)."""
        params = [("seconds", str(seconds))] if seconds else []
        reply, _ = self.client.query_raw(f"/debug/pprof/{name}", params=params)
        with open(os.path.join(self.output, path), "wb") as out:
            out.write(reply.body)

    def _stream(self, path: str, params: list[tuple[str, str]], name: str) -> None:
        with open(os.path.join(self.output, name), "w") as out:
            for line in self.client.stream(path, params, for_seconds=self.duration):
                out.write(line)
                out.flush()
                if self.stopped.is_set():
                    return


def _prepare(ctx: Context, client: Client, capture: list[str], output: str,
             interval: float, duration: float) -> tuple[str, list[str]]:
    """Consul's checks before capturing: timings, the agent, the targets, the output."""
    if duration < MIN_DURATION:
        raise ValueError(f"duration must be longer than {format_seconds(MIN_DURATION)}")
    if interval < MIN_INTERVAL:
        raise ValueError(f"interval must be longer than {format_seconds(MIN_DURATION)}")
    if duration < interval:
        raise ValueError(f"duration ({format_seconds(duration)}) must be longer than "
                         f"interval ({format_seconds(interval)})")
    try:
        agent = client.agent().self()
    except ClientError as err:
        raise ValueError(f"error querying target agent: {err}. verify connectivity and "
                         "agent address") from None
    version = agent.get("Config", {}).get("Version")
    if not isinstance(version, str):
        raise ValueError("agent response did not contain version key")
    targets = list(capture) or list(TARGETS)
    if not agent.get("DebugConfig", {}).get("EnableDebug", False) and "pprof" in targets:
        targets = [t for t in targets if t != "pprof"]
        ctx.error("[WARN] Unable to capture pprof. Set enable_debug to true on target agent "
                  "to enable profiling.")
    for target in targets:
        if target not in TARGETS and target not in DEPRECATED_TARGETS:
            raise ValueError(f"target not found: {target}")
    targets = [DEPRECATED_TARGETS.get(t, t) for t in targets]
    if os.path.exists(output):
        raise ValueError(f"output directory already exists: {output}")
    try:
        os.makedirs(output, 0o755)
    except OSError as err:
        raise ValueError(f"could not create output directory: {err.strerror}") from None
    return version, targets


def _archive(output: str) -> str:
    """Pack ``output`` as ``output.tar.gz`` (its base name the top directory), durably,
    then remove the directory."""
    path = output + ARCHIVE_EXTENSION
    temp = f"{path}.tmp{os.getpid()}"
    try:
        with tarfile.open(temp, "w:gz") as tar:
            tar.add(output, arcname=os.path.basename(os.path.normpath(output)))
        with open(temp, "rb") as packed:
            os.fsync(packed.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise
    directory = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    shutil.rmtree(output)
    return path


def debug(ctx: Context) -> int:
    if ctx.args:
        ctx.error("==> debug: Too many arguments provided, expected 0")
        return 1
    interval, duration = ctx["interval"], ctx["duration"]
    output = ctx["output"] or f"consul-debug-{_stamp(datetime.now(UTC))}"
    client = ctx.client()
    try:
        version, targets = _prepare(ctx, client, ctx["capture"], output, interval, duration)
    except ValueError as err:
        ctx.error(f"==> Capture validation failed: {err}")
        return 1
    archive_name = output + ARCHIVE_EXTENSION if ctx["archive"] else output
    ctx.info("==> Starting debugger and capturing static information...")
    ctx.info(f"     Agent Version: '{version}'")
    ctx.info(f"          Interval: '{format_seconds(interval)}'")
    ctx.info(f"          Duration: '{format_seconds(duration)}'")
    ctx.info(f"            Output: '{archive_name}'")
    ctx.info(f"           Capture: '{', '.join(targets)}'")
    duration += DURATION_GRACE
    capture = Capture(ctx, client, targets, output, interval, duration)
    capture.static()
    if any(capture.wants(t) for t in ("metrics", "logs", "pprof")):
        for signum in (signal.SIGINT, signal.SIGTERM):  # stop early, still archive
            signal.signal(signum, lambda *_: capture.stopped.set())
        capture.dynamic()
        if capture.stopped.is_set():
            capture.errors.append("stopping collection due to shutdown signal")
        for error in capture.errors:
            ctx.error(f"==> Error encountered during collection: {error}")
    try:
        _write_json(os.path.join(output, "index.json"), {
            "Version": PROTOCOL_VERSION, "AgentVersion": version,
            "Interval": format_seconds(interval), "Duration": format_seconds(duration),
            "Targets": targets})
    except OSError as err:
        ctx.error(f"==> Error creating index document: {err}")
        return 1
    if ctx["archive"]:
        try:
            _archive(output)
        except OSError as err:
            ctx.error(f"Archive creation failed: {err}")
            return 1
    ctx.info(f"    Saved debug archive: {archive_name}")
    return 0


def _flags(fs) -> None:
    fs.strings("capture", "One or more types of information to capture. This can be used to "
               "capture a subset of information, and defaults to capturing everything "
               f"available. Possible information for capture: {', '.join(TARGETS)}. This can "
               "be repeated multiple times.")
    fs.duration("interval", INTERVAL, "The interval in which to capture dynamic information "
                "such as telemetry, and profiling. Defaults to 30s.")
    fs.duration("duration", DURATION, "The total time to record information. Defaults to "
                "5m0s.")
    fs.boolean("archive", True, "Boolean value for if the files should be archived and "
               "compressed. Setting this to false will skip the archive step and leave the "
               "directory of information on the current path.")
    fs.string("output", "", "The path to the compressed archive that will be created with "
              "the information after collection.")


DEBUG = Command("""
Usage: proconsul debug [options]

  Monitors a Consul agent for the specified period of time, recording
  information about the agent, cluster, and environment to an archive
  written to the specified path.

  To create a debug archive in the current directory for the default
  duration and interval, capturing all information available:

      $ proconsul debug

  The command stores captured data at the configured output path
  through the duration, and will archive the data at the same
  path if interrupted.

      $ proconsul debug -interval=20s -duration=1m

  The capture flag can be specified multiple times to limit information
  retrieved.

      $ proconsul debug -capture metrics -capture agent

  By default, the archive containing the debugging information is
  saved to the current directory as a .tar.gz file. The output path
  can be specified, as well as an option to disable archiving,
  leaving the directory intact.

      $ proconsul debug -output=/foo/bar/my-debugging -archive=false

  Note: Information collected by this command has the potential
  to be highly sensitive. Review the data within the archive prior
  to transmitting it.
""", "Records a debugging archive for operators", debug, _flags)
