"""The agent's ``watches``: watch plans run against its own HTTP API, with script or
HTTP handlers.

Each plan runs in a thread (its blocking query and its handler block) as
Consul runs one goroutine per plan. A reload keeps the plans whose definition
did not change running, so they do not fire again; removed ones stop and new
ones start (and fire once with the current data, as a new plan does).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import ssl
import subprocess
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from proconsul.lib.duration import DurationError, parse_duration
from proconsul.lib.watch import Handler, Plan, WatchError, WatchSpec, parse
from proconsul.structs.errors import ConsulError

log = logging.getLogger("agent.watch")

HTTP_HANDLER_TIMEOUT = 10.0


@dataclass(frozen=True)
class Address:
    """Where the watches reach the agent's HTTP API: TCP (http or https) or a unix socket."""

    scheme: str  # "http", "https" or "unix"
    host: str
    port: int = 0


class _HTTPSelf(http.client.HTTPConnection):
    """A connection to the agent's own HTTP API, over TCP or a unix socket."""

    def __init__(self, address: Address) -> None:
        super().__init__(address.host, address.port or 80)
        self.address = address

    def connect(self) -> None:
        if self.address.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self.address.host)
            self.sock = sock
            return
        super().connect()
        if self.address.scheme == "https":
            context = ssl.create_default_context()
            context.check_hostname = False  # our own listener, by address
            context.verify_mode = ssl.CERT_NONE
            self.sock = context.wrap_socket(self.sock)


class _Fetcher:
    """A plan's blocking GETs on one kept-alive connection; ``close`` ends one under way."""

    def __init__(self, address: Address, token: str) -> None:
        self.address, self.token = address, token
        self.conn: _HTTPSelf | None = None
        self.closed = False

    def __call__(self, path: str, query: list[tuple[str, str]]) -> tuple[int, bytes, int]:
        if self.closed:
            raise OSError("watch stopped")
        url = urllib.parse.quote(path, safe="/:@")
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {"X-Consul-Token": self.token} if self.token else {}
        if self.conn is None:
            self.conn = _HTTPSelf(self.address)
        try:
            self.conn.request("GET", url, headers=headers)
            reply = self.conn.getresponse()
            body = reply.read()
        except (OSError, http.client.HTTPException) as err:
            self.conn.close()
            self.conn = None
            raise OSError(str(err) or type(err).__name__) from None
        index = reply.getheader("X-Consul-Index") or "0"
        return reply.status, body, int(index) if index.isdigit() else 0

    def close(self) -> None:
        self.closed = True
        conn = self.conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked read
            except OSError:
                pass


def compile_watch(params: dict[str, Any]) -> tuple[WatchSpec, Callable[[], Handler]]:
    """Check one ``watches`` entry as Consul does; return its spec and a handler factory."""
    if not isinstance(params, dict):
        raise WatchError("a watch must be an object")
    handler_type = params.get("handler_type", "script")
    if handler_type not in ("script", "http"):
        raise WatchError(f"Handler type '{handler_type}' not recognized")
    if params.get("type") in ("connect_roots", "connect_leaf", "agent_service"):
        raise WatchError(f"Watch type {params['type']} is not allowed in agent config")
    spec = parse(params, exempt=("handler", "args"))
    if handler_type == "http":
        config = _http_config(spec.exempt.get("http_handler_config"))
        return spec, lambda: _http_handler(config)
    handler, args = spec.exempt.get("handler"), spec.exempt.get("args")
    if handler and args:
        raise WatchError("Only one watch handler allowed")
    if not handler and not args:
        raise WatchError("Must define a watch handler")
    if handler:
        if not isinstance(handler, str):
            raise WatchError("Watch handler must be a string")
        log.warning("The 'handler' field in watches has been deprecated and replaced with "
                    "the 'args' field. See https://developer.hashicorp.com/consul/docs/"
                    "dynamic-app-config/watches")
        argv = [os.environ.get("SHELL") or "/bin/sh", "-c", handler]
    else:
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise WatchError("Watch args must be a list of strings")
        argv = list(args)
    return spec, lambda: _script_handler(argv)


@dataclass(frozen=True)
class _HTTPConfig:
    path: str
    method: str
    header: dict[str, list[str]]
    timeout: float
    tls_skip_verify: bool


def _http_config(raw: Any) -> _HTTPConfig:
    if isinstance(raw, list) and len(raw) == 1:
        raw = raw[0]
    if not isinstance(raw, dict) or not raw.get("path"):
        raise WatchError("Must define a valid http_handler_config with a path")
    url = urllib.parse.urlsplit(str(raw["path"]))
    if url.scheme not in ("http", "https") or not url.netloc:
        raise WatchError(f"Invalid http_handler_config path: {raw['path']}")
    timeout = raw.get("timeout") or "10s"
    try:
        seconds = parse_duration(timeout) / 1e9 if isinstance(timeout, str) else float(timeout)
    except (DurationError, ValueError):
        raise WatchError(f"Invalid http_handler_config timeout: {timeout}") from None
    header = raw.get("header") or {}
    if not isinstance(header, dict):
        raise WatchError("http_handler_config header must be a map of lists of strings")
    header = {str(k): [str(v) for v in (vs if isinstance(vs, list) else [vs])]
              for k, vs in header.items()}
    return _HTTPConfig(str(raw["path"]), str(raw.get("method") or "POST").upper(), header,
                       seconds or HTTP_HANDLER_TIMEOUT, bool(raw.get("tls_skip_verify")))


def _payload(result: Any) -> bytes:
    return (json.dumps(result, ensure_ascii=False) + "\n").encode()


def _script_handler(argv: list[str]) -> Handler:
    def run(index: int, result: Any) -> bool:
        try:
            done = subprocess.run(argv, input=_payload(result), capture_output=True,
                                  env={**os.environ, "CONSUL_INDEX": str(index)}, check=False)
        except OSError as err:
            log.error("Failed to run watch handler: handler=%s error=%s", argv, err)
            return True
        output = (done.stdout + done.stderr).decode(errors="replace").strip()
        if done.returncode != 0:
            log.error("Failed to run watch handler: handler=%s error=exit status %d "
                      "output=%s", argv, done.returncode, output)
        elif output:
            log.debug("watch handler output: handler=%s output=%s", argv, output)
        return True
    return run


def _http_handler(config: _HTTPConfig) -> Handler:
    url = urllib.parse.urlsplit(config.path)
    target = urllib.parse.urlunsplit(("", "", url.path or "/", url.query, ""))

    def run(index: int, result: Any) -> bool:
        if url.scheme == "https":
            context = ssl.create_default_context()
            if config.tls_skip_verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                url.netloc, timeout=config.timeout, context=context)
        else:
            conn = http.client.HTTPConnection(url.netloc, timeout=config.timeout)
        try:
            conn.putrequest(config.method, target)
            body = _payload(result)
            for name, values in config.header.items():
                for value in values:
                    conn.putheader(name, value)
            conn.putheader("Content-Type", "application/json")
            conn.putheader("X-Consul-Index", str(index))
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            reply = conn.getresponse()
            text = reply.read().decode(errors="replace")
            if not 200 <= reply.status < 300:
                log.error("Failed to invoke http watch handler: handler=%s status=%d "
                          "response=%s", config.path, reply.status, text)
        except (OSError, http.client.HTTPException) as err:
            log.error("Failed to invoke http watch handler: handler=%s error=%s",
                      config.path, err)
        finally:
            conn.close()
        return True
    return run


class _Running:
    def __init__(self, spec: WatchSpec, handler: Handler, address: Address) -> None:
        self.fetcher = _Fetcher(address, spec.token)
        self.plan = Plan(spec, self.fetcher, handler, log.error)
        self.thread = threading.Thread(target=self.plan.run, daemon=True,
                                       name=f"watch-{spec.type}")
        self.thread.start()

    def stop(self) -> None:
        self.plan.stop()
        self.fetcher.close()


def _identity(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


class Watches:
    """The running plans, by definition; :meth:`update` brings them in line with a config."""

    def __init__(self, address: Callable[[], Address | None]) -> None:
        self._address = address
        self._running: dict[str, _Running] = {}

    @staticmethod
    def check(definitions: list[Any]) -> None:
        """Raise ConsulError naming the first bad watch (before anything changes)."""
        for params in definitions:
            try:
                compile_watch(params)
            except WatchError as err:
                raise ConsulError(f"Failed to parse watch ({params!r}): {err}") from None

    def update(self, definitions: list[Any]) -> None:
        self.check(definitions)
        wanted = {_identity(p): p for p in definitions}
        for key in [k for k in self._running if k not in wanted]:
            self._running.pop(key).stop()
        added = [k for k in wanted if k not in self._running]
        if not added:
            return
        address = self._address()
        if address is None:
            raise ConsulError("watch plans require an HTTP or HTTPS endpoint")
        for key in added:
            spec, handler = compile_watch(wanted[key])
            self._running[key] = _Running(spec, handler(), address)

    def stop_all(self) -> None:
        for running in self._running.values():
            running.stop()
        self._running.clear()

    def __len__(self) -> int:
        return len(self._running)
