"""``proconsul exec``: run a command on the agents a filter picks, as ``consul exec`` does.

A session (TTL 15s, renewed every 5s) holds the job spec at ``PREFIX/SESSION/job``;
a ``_rexec`` user event tells the agents (those with ``disable_remote_exec = false``)
where it is; their acks, output chunks and exit codes appear under ``PREFIX/SESSION/``
and are read with blocking key listings until nothing arrives for ``-wait`` (twice
that while an acknowledged node has not finished). Exit 2 when a node failed or did
not finish, 1 on errors; the session and the job's keys are removed at the end.
"""

from __future__ import annotations

import base64
import contextlib
import json
import posixpath
import queue
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from proconsul.api import ClientError
from proconsul.api.kv import KVPair
from proconsul.api.options import QueryOptions
from proconsul.cli.command import Command, Context, stop_on_interrupt

PREFIX = "_rexec"
SESSION_TTL = "15s"
RENEW_EVERY = 5.0


@dataclass
class Job:
    """What to run: a shell command, argv run directly, or a script from stdin."""

    command: str = ""
    args: list[str] = field(default_factory=list)
    script: bytes = b""

    def spec(self, wait: float) -> bytes:
        """The job spec as Consul's CLI uploads it (``Wait`` in nanoseconds)."""
        body: dict[str, Any] = {}
        if self.command:
            body["Command"] = self.command
        if self.args:
            body["Args"] = self.args
        if self.script:
            body["Script"] = base64.b64encode(self.script).decode()
        body["Wait"] = int(wait * 1e9)
        return json.dumps(body).encode()


def targeted(node: str, message: str, arrow: bool) -> str:
    """Consul's TargetedUI: every line as ``==> node: line`` (or indented, for output)."""
    mark = "==>" if arrow else "   "
    return "\n".join(f"{mark} {node}: {line}" for line in message.split("\n")).rstrip()


def _job(ctx: Context) -> Job | None:
    command = " ".join(ctx.args)
    if command == "-":
        if not ctx["shell"]:
            ctx.error("Cannot configure -shell=false when reading from stdin")
            return None
        return Job(script=sys.stdin.buffer.read())
    if not ctx["shell"]:
        return Job(args=list(ctx.args))
    return Job(command=command)


def _validate(ctx: Context) -> str | None:
    for flag, what in (("node", "node"), ("service", "service"), ("tag", "tag")):
        if ctx[flag]:
            try:
                re.compile(ctx[flag])
            except re.error as err:
                return f"Failed to compile {what} filter regexp: {err}"
    if ctx["tag"] and not ctx["service"]:
        return "Cannot provide tag filter without service filter."
    return None


class RemoteExec:
    """One run of the command: session, spec, event, results, cleanup."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.client = ctx.client()
        self.verbose = ctx["verbose"]
        self.session = ""
        self._stop_renew = threading.Event()
        self._done = threading.Event()
        self._destroyed = False

    def info(self, text: str) -> None:
        self.ctx.info(text)

    def create_session(self, self_info: dict[str, Any]) -> None:
        config = self_info.get("Config", {})
        dc = self.ctx["datacenter"]
        entry: dict[str, Any] = {"Name": "Remote Exec", "Behavior": "delete", "TTL": SESSION_TTL}
        if dc and dc != config.get("Datacenter"):
            if self.verbose:
                self.info("Remote exec in foreign datacenter, using Session TTL")
            nodes, _ = self.client.query("/v1/health/service/consul",
                                         QueryOptions(), [("passing", "1")])
            if not nodes:
                raise ClientError("Failed to find Consul server in remote datacenter")
            node = nodes[0]["Node"]["Node"]
            if self.verbose:
                self.info(f"Binding session to remote node {node}@{dc}")
            entry = {"Name": f"Remote Exec via {config.get('NodeName')}@{config.get('Datacenter')}",
                     "Node": node, "Checks": [], "NodeChecks": [], "Behavior": "delete",
                     "TTL": SESSION_TTL}
        self.session, _ = self.client.session().create(entry)
        threading.Thread(target=self._renew, daemon=True).start()

    def _renew(self) -> None:
        while not self._stop_renew.wait(RENEW_EVERY):
            try:
                self.client.session().renew(self.session)
            except ClientError as err:
                self.ctx.error(f"Session renew failed: {err}")
                return

    def destroy_session(self) -> None:
        self._stop_renew.set()
        if self.session and not self._destroyed:
            self._destroyed = True
            with contextlib.suppress(ClientError):
                self.client.session().destroy(self.session)

    def upload(self, spec: bytes) -> None:
        key = posixpath.join(self.ctx["prefix"], self.session, "job")
        ok, _ = self.client.kv().acquire(KVPair(key=key, value=spec, session=self.session))
        if not ok:
            raise ClientError(f"failed to acquire key {key}")

    def destroy_data(self) -> None:
        with contextlib.suppress(ClientError):
            self.client.kv().delete_tree(posixpath.join(self.ctx["prefix"], self.session))

    def fire(self) -> str:
        payload = json.dumps({"Prefix": self.ctx["prefix"], "Session": self.session}).encode()
        event_id, _ = self.client.event().fire("_rexec", payload, self.ctx["node"],
                                               self.ctx["service"], self.ctx["tag"])
        return event_id

    def _stream(self, results: queue.Queue) -> None:
        """Blocking key listings of the job's directory: each new key, once, as
        ("ack"|"heartbeat"|"output"|"exit", node, value); ("error",) on failure."""
        directory = posixpath.join(self.ctx["prefix"], self.session) + "/"
        kv, seen, index = self.client.kv(), set(), 0
        while not self._done.is_set():
            try:
                keys, meta = kv.keys(directory, "", QueryOptions(
                    wait_index=index, wait_time=self.ctx["wait"]))
            except ClientError as err:
                self.ctx.error(f"Failed to read results: {err}")
                results.put(("error", "", b""))
                return
            if meta.last_index == index:
                continue
            index = meta.last_index
            # a node's exit code after its output, when one listing brings both
            for full in sorted(keys or [], key=lambda k: (k.endswith("/exit"), k)):
                if full in seen:
                    continue
                seen.add(full)
                self._classify(full, full[len(directory):], results)

    def _classify(self, full: str, key: str, results: queue.Queue) -> None:
        if key == "job":
            return
        if key.endswith("/ack"):
            results.put(("ack", key[:-len("/ack")], b""))
            return
        if not key.endswith("/exit") and "/out/" not in key:
            self.ctx.error(f"Unknown key '{key}', ignoring.")
            return
        try:
            pair, _ = self.client.kv().get(full)
        except ClientError as err:
            self.ctx.error(f"Failed to read key '{full}': {err}")
            return
        if pair is None:
            self.ctx.error(f"Failed to read key '{full}': <nil>")
            return
        if key.endswith("/exit"):
            results.put(("exit", key[:-len("/exit")], pair.value))
        else:
            node = key[:key.rindex("/out/")]
            results.put(("output" if pair.value else "heartbeat", node, pair.value))

    def wait_for_job(self) -> int:
        results: queue.Queue = queue.Queue()
        threading.Thread(target=self._stream, args=(results,), daemon=True).start()
        start = time.monotonic()
        acks = exits = bad = 0
        try:
            while True:
                wait = self.ctx["wait"] * (2 if acks > exits else 1)
                try:
                    kind, node, value = results.get(timeout=wait)
                except queue.Empty:
                    self.info(f"{exits} / {acks} node(s) completed / acknowledged")
                    if self.verbose:
                        self.info(f"Completed in {time.monotonic() - start:0.2f} seconds")
                    bad += exits < acks
                    break
                if kind == "error":
                    return 1
                if kind == "ack":
                    acks += 1
                    if self.verbose:
                        self.info(targeted(node, "acknowledged", True))
                elif kind == "heartbeat":
                    if self.verbose:
                        self.info(targeted(node, "heartbeat received", True))
                elif kind == "output":
                    self.info(targeted(node, value.decode(errors="replace"), False))
                else:
                    try:
                        code = int(value)
                    except ValueError:
                        self.ctx.error(f"Failed to parse exit code '{value.decode()}'")
                        continue
                    exits += 1
                    bad += code != 0
                    self.info(targeted(node, f"finished with exit code {code}", True))
        finally:
            self._done.set()
            self.destroy_session()
        return 2 if bad else 0


def run_exec(ctx: Context) -> int:
    job = _job(ctx)
    if job is None:
        return 1
    if not (job.command or job.args or job.script):
        ctx.error(f"Must specify a command to execute\n\n{EXEC.help()}")
        return 1
    problem = _validate(ctx)
    if problem:
        ctx.error(problem)
        return 1
    stop_on_interrupt()
    rexec = RemoteExec(ctx)
    try:
        self_info = rexec.client.agent().self()
    except ClientError as err:
        ctx.error(f"Error querying Consul agent: {err}")
        return 1
    try:
        rexec.create_session(self_info)
    except ClientError as err:
        ctx.error(f"Failed to create session: {err}")
        return 1
    try:
        if rexec.verbose:
            rexec.info(f"Created remote execution session: {rexec.session}")
        try:
            rexec.upload(job.spec(ctx["wait"]))
        except ClientError as err:
            ctx.error(f"Failed to create job file: {err}")
            return 1
        try:
            if rexec.verbose:
                rexec.info("Uploaded remote execution spec")
            time.sleep(ctx["wait-repl"])  # let followers catch up: agents read the spec stale
            try:
                event_id = rexec.fire()
            except ClientError as err:
                ctx.error(f"Failed to fire event: {err}")
                return 1
            if rexec.verbose:
                rexec.info(f"Fired remote execution event: {event_id}")
            return rexec.wait_for_job()
        finally:
            rexec.destroy_session()  # before the data: no agent can write once it is gone
            rexec.destroy_data()
    except KeyboardInterrupt:
        return 1
    finally:
        rexec.destroy_session()


def _flags(fs) -> None:
    fs.string("node", "", "Regular expression to filter on node names.")
    fs.string("service", "", "Regular expression to filter on service instances.")
    fs.string("tag", "", "Regular expression to filter on service tags. Must be used with "
              "-service.")
    fs.string("prefix", PREFIX, "Prefix in the KV store to use for request data.")
    fs.boolean("shell", True, "Use a shell to run the command.")
    fs.duration("wait", 2.0, "Period to wait with no responses before terminating execution.")
    fs.duration("wait-repl", 0.2, "Period to wait for replication before firing event. This "
                "is an optimization to allow stale reads to be performed.")
    fs.boolean("verbose", False, "Enables verbose output.")


EXEC = Command("""
Usage: proconsul exec [options] [-|command...]

  Evaluates a command on remote Consul nodes. The nodes responding can
  be filtered using regular expressions on node name, service, and tag
  definitions. If a command is '-', stdin will be read until EOF
  and used as a script input.
""", "Executes a command on Consul nodes", run_exec, _flags)
