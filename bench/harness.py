"""Reusable pieces for Proconsul benchmarks (standard library only).

The KV benchmark (``bench/kv_bench.py``) is the first user; later ones (a
3-server durable Proconsul cluster against a 3-member etcd cluster) reuse the
same parts:

- processes:  ``spawn`` / ``stop`` / ``stop_all`` -- every child runs in its own
  session, is remembered, and is killed at exit, on Ctrl-C, on SIGTERM, and (on
  Linux) when this process dies (PR_SET_PDEATHSIG).
- clusters:   ``start_etcd(members=1|3)``, ``start_proconsul(servers=1|3)``,
  ``attach(url, kind)`` for a server that is already running.
- workloads:  ``kv_requests`` builds the HTTP requests of a KV scenario for a
  Consul-API ("consul") or an etcd v3 JSON gateway ("etcd") target;
  ``lua_script`` turns them into a wrk script; ``preload_kv`` writes the keys
  and reads one back.
- load:       ``run_wrk(url, script, c, duration)`` runs wrk and returns
  ``parse_wrk(text)`` of its ``--latency`` output.
- reporting:  ``format_table`` / ``print_table``, ``comparison_rows``,
  ``write_json``.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import http.client
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"

# --------------------------------------------------------------------------
# Child processes
# --------------------------------------------------------------------------

_CHILDREN: list[subprocess.Popen] = []
_PR_SET_PDEATHSIG = 1


def _child_setup() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(argv: list[str], *, log_path: Path | str | None = None, **kw) -> subprocess.Popen:
    """Start ``argv`` in a new session (own process group); output to ``log_path``."""
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    try:
        proc = subprocess.Popen(
            argv,
            stdin=kw.pop("stdin", subprocess.DEVNULL),
            stdout=kw.pop("stdout", out),
            stderr=kw.pop("stderr", subprocess.STDOUT),
            start_new_session=True,
            preexec_fn=_child_setup,
            **kw,
        )
    finally:
        if log_path:
            out.close()
    _CHILDREN.append(proc)
    return proc


def stop(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """SIGTERM the child's process group, then SIGKILL it if it lingers."""
    if proc.poll() is None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout)
                break
            except subprocess.TimeoutExpired:
                continue
    # The leader may be gone while others in its group live on.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.wait(1)
    if proc in _CHILDREN:
        _CHILDREN.remove(proc)


def stop_all() -> None:
    for proc in reversed(list(_CHILDREN)):
        stop(proc)


def finish_runs(clusters: list[Cluster], tmp: Path, keep: bool, kept: str = "") -> None:
    """Stop the clusters a comparison started (their work dirs removed), then every child;
    remove ``tmp`` unless ``keep`` (then say where it is, and what it holds)."""
    for cluster in clusters:
        cluster.stop()
        if cluster.workdir:
            shutil.rmtree(cluster.workdir, ignore_errors=True)
    stop_all()
    if keep:
        print(f"kept {tmp}{kept}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def _raise_exit(signum, _frame):
    raise SystemExit(128 + signum)


def install_cleanup() -> None:
    """Kill every child at exit; turn SIGTERM/SIGHUP into SystemExit so that runs too.

    SIGINT raises KeyboardInterrupt even when started in the background (where
    a shell would have it ignored).
    """
    atexit.register(stop_all)
    with contextlib.suppress(ValueError, OSError):
        signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError, OSError):
            signal.signal(sig, _raise_exit)


def free_ports(n: int = 1, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct free TCP ports (held open together while choosing)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def tail(path: Path | str, lines: int = 30) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------
# Tiny HTTP client (readiness, preload, verification)
# --------------------------------------------------------------------------


class Http:
    """A keep-alive HTTP/1.1 connection to one base URL."""

    def __init__(self, base_url: str, timeout: float = 5.0):
        u = urllib.parse.urlsplit(base_url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None
        self.last_headers: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | None = None, headers=None):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                self.last_headers = dict(resp.getheaders())
                return resp.status, resp.read()
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def http_once(url: str, method: str = "GET", body: bytes | None = None, headers=None,
              timeout: float = 2.0) -> tuple[int, bytes]:
    u = urllib.parse.urlsplit(url)
    h = Http(f"{u.scheme}://{u.netloc}", timeout=timeout)
    try:
        return h.request(method, u.path + (f"?{u.query}" if u.query else ""), body, headers)
    finally:
        h.close()


# --------------------------------------------------------------------------
# Clusters
# --------------------------------------------------------------------------

KINDS = ("consul", "etcd")


@dataclass
class Cluster:
    """A running (or attached) system under test."""

    kind: str  # "consul" (Consul HTTP API) or "etcd" (etcd v3 JSON gateway)
    label: str
    urls: list[str]  # client base URLs, one per member
    procs: list[subprocess.Popen] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    workdir: str | None = None
    info: dict = field(default_factory=dict)  # version, command, durability, ...

    @property
    def url(self) -> str:
        return self.urls[0]

    def stop(self) -> None:
        for p in self.procs:
            stop(p)

    def describe(self) -> dict:
        return {"kind": self.kind, "label": self.label, "urls": self.urls, **self.info}


class StartError(RuntimeError):
    pass


def _wait(check, what: str, deadline_s: float, procs=(), logs=()) -> None:
    """Poll ``check()`` (truthy = ready) until ``deadline_s``; fail early if a child died."""
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        for p, log in zip(procs, logs, strict=False):
            if p.poll() is not None:
                raise StartError(f"{what}: process exited with {p.returncode}\n{tail(log)}")
        try:
            if check():
                return
        except (OSError, http.client.HTTPException, ValueError) as e:
            last = e
        time.sleep(0.1)
    log_tails = "\n".join(tail(log) for log in logs)
    raise StartError(f"{what}: not ready after {deadline_s:.0f}s (last error: {last})\n{log_tails}")


def consul_leader(url: str) -> str:
    status, body = http_once(url.rstrip("/") + "/v1/status/leader")
    if status != 200:
        return ""
    leader = json.loads(body or b'""')
    return leader if isinstance(leader, str) else ""


def etcd_healthy(url: str) -> bool:
    status, body = http_once(url.rstrip("/") + "/health")
    if status != 200 or json.loads(body).get("health") not in ("true", True):
        return False
    # The gateway itself answers, too.
    status, _ = http_once(url.rstrip("/") + "/v3/kv/range", "POST",
                          json.dumps({"key": _b64(b"bench/ready")}).encode(),
                          {"Content-Type": "application/json"})
    return status == 200


def wait_ready(cluster: Cluster, deadline_s: float = 30.0) -> None:
    if cluster.kind == "consul":
        for url in cluster.urls:
            _wait(lambda u=url: consul_leader(u), f"{cluster.label} leader at {url}",
                  deadline_s, cluster.procs, cluster.logs)
    elif cluster.kind == "etcd":
        for url in cluster.urls:
            _wait(lambda u=url: etcd_healthy(u), f"{cluster.label} health at {url}",
                  deadline_s, cluster.procs, cluster.logs)
    else:
        raise ValueError(f"unknown kind {cluster.kind!r}")


def attach(url: str, kind: str = "consul", label: str | None = None,
           deadline_s: float = 30.0) -> Cluster:
    """A server somebody else started; waits until it is ready."""
    c = Cluster(kind=kind, label=label or kind, urls=[url.rstrip("/")],
                info={"attached": True, "durable": None})
    wait_ready(c, deadline_s)
    return c


def _ready_or_clean_up(cluster: Cluster, deadline_s: float, own_workdir: bool) -> None:
    try:
        wait_ready(cluster, deadline_s)
    except BaseException:
        cluster.stop()
        if own_workdir and cluster.workdir:
            shutil.rmtree(cluster.workdir, ignore_errors=True)
        raise


def etcd_binary() -> str:
    return shutil.which("etcd") or "/usr/bin/etcd"


def etcd_version(binary: str | None = None) -> str:
    try:
        out = subprocess.run([binary or etcd_binary(), "--version"], capture_output=True,
                             text=True, timeout=10).stdout
        return out.splitlines()[0].split(":", 1)[1].strip()
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


def start_etcd(members: int = 1, *, label: str = "etcd", workdir: str | None = None,
               binary: str | None = None, deadline_s: float = 30.0,
               extra_args: list[str] | None = None) -> Cluster:
    """A fresh etcd cluster of ``members`` on 127.0.0.1, data in a temp dir (fsync on)."""
    binary = binary or etcd_binary()
    if not os.path.exists(binary):
        raise StartError(f"etcd not found at {binary} (apt-get install -y etcd-server)")
    own_workdir = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix=f"bench-{label}-")
    ports = free_ports(2 * members)
    names = [f"{label}-{i}" for i in range(members)]
    client = [f"http://127.0.0.1:{ports[2 * i]}" for i in range(members)]
    peer = [f"http://127.0.0.1:{ports[2 * i + 1]}" for i in range(members)]
    initial = ",".join(f"{n}={p}" for n, p in zip(names, peer, strict=True))
    cluster = Cluster(kind="etcd", label=label, urls=client, workdir=workdir,
                      info={"version": etcd_version(binary), "members": members,
                            "durable": True, "note": "etcd fsyncs its WAL before replying"})
    for i, name in enumerate(names):
        argv = [binary, "--name", name, "--data-dir", os.path.join(workdir, name),
                "--listen-client-urls", client[i], "--advertise-client-urls", client[i],
                "--listen-peer-urls", peer[i], "--initial-advertise-peer-urls", peer[i],
                "--initial-cluster", initial, "--initial-cluster-state", "new",
                "--initial-cluster-token", f"{label}-{os.getpid()}",
                "--logger", "zap", "--log-level", "warn", *(extra_args or [])]
        cluster.info.setdefault("command", shlex.join(argv))
        log = os.path.join(workdir, f"{name}.log")
        cluster.procs.append(spawn(argv, log_path=log))
        cluster.logs.append(log)
    _ready_or_clean_up(cluster, deadline_s, own_workdir)
    return cluster


def default_proconsul_cmd() -> list[str]:
    """``proconsul`` beside this interpreter, else on PATH, else via the module."""
    here = Path(sys.executable).with_name("proconsul")
    if here.exists():
        return [str(here)]
    found = shutil.which("proconsul")
    if found:
        return [found]
    return [sys.executable, "-c",
            "import sys; from proconsul.cli.main import main; sys.exit(main())"]


SERVER_HOSTS = [f"127.0.0.{11 + i}" for i in range(9)]  # one loopback address per server
CLIENT_HOSTS = [f"127.0.0.{21 + i}" for i in range(9)]  # ... and per client agent


def consul_put_ok(url: str, key: str = "bench/ready") -> bool:
    status, body = http_once(url.rstrip("/") + "/v1/kv/" + key, "PUT", b"ok", timeout=5.0)
    return status == 200 and body.strip() == b"true"


def leader_url(cluster: Cluster) -> str | None:
    """The HTTP URL of the server that is the Raft leader now (None if unknown)."""
    servers = cluster.info.get("server_urls") or []
    rpc = cluster.info.get("server_rpc") or []
    for url in servers:
        with contextlib.suppress(OSError, http.client.HTTPException, ValueError):
            leader = consul_leader(url)
            if leader in rpc:
                return servers[rpc.index(leader)]
    return None


def start_proconsul(*, servers: int = 1, dev: bool = True, clients: int = 0,
                    cmd: list[str] | str | None = None,
                    label: str = "proconsul", workdir: str | None = None,
                    deadline_s: float = 30.0, extra_args: list[str] | None = None,
                    raft_multiplier: int | None = 1) -> Cluster:
    """Start Proconsul with free ports.

    ``cmd`` is the program (default ``default_proconsul_cmd()``); the agent
    arguments are appended. If ``cmd`` is a string containing ``{http_port}``
    it is a complete command line instead (shlex-split after formatting with
    ``http_port``, ``node`` and ``data_dir``) -- handy for a stand-in server.

    ``dev=True`` (one server, 127.0.0.1): ``agent -dev -client 127.0.0.1 -http-port P``.
    ``dev=False``: ``servers`` durable servers (``-server -data-dir``, fsync
    before replying) on 127.0.0.11, .12, ... that find each other with
    ``-retry-join`` and ``-bootstrap-expect``, plus ``clients`` client agents on
    127.0.0.21, ... joined to them. Ready = every agent knows the leader and a
    KV write through ``urls[0]`` succeeded. ``urls``: the clients' URLs first,
    then the servers' with the current leader first. ``info["server_urls"]``,
    ``info["server_rpc"]`` (server RPC addresses, what /v1/status/leader
    names), ``info["leader_url"]``.
    """
    if dev and (servers != 1 or clients):
        raise ValueError("-dev is a single server without clients")
    own_workdir = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix=f"bench-{label}-")
    template = cmd if isinstance(cmd, str) and "{http_port}" in cmd else None
    if isinstance(cmd, str) and template is None:
        cmd = shlex.split(cmd)
    prog = list(cmd) if isinstance(cmd, list) else default_proconsul_cmd()
    if dev or template is not None:
        hosts = ["127.0.0.1"] * servers
    else:
        hosts = SERVER_HOSTS[:servers] + CLIENT_HOSTS[:clients]
    # Per agent: http, server RPC, serf LAN (each on the agent's own address).
    ports = [free_ports(3, host) for host in hosts]
    urls = [f"http://{host}:{p[0]}" for host, p in zip(hosts, ports, strict=True)]
    cluster = Cluster(kind="consul", label=label, urls=urls, workdir=workdir,
                      info={"servers": servers, "clients": clients, "dev": dev,
                            "durable": not dev,
                            "note": "-dev keeps everything in memory" if dev else
                            "servers fsync before replying",
                            "server_urls": urls[:servers],
                            "server_rpc": [f"{hosts[i]}:{ports[i][1]}" for i in range(servers)]})
    commands = []
    joins = [f"{hosts[j]}:{ports[j][2]}" for j in range(servers)]
    for i, host in enumerate(hosts):
        is_server = i < servers
        node = f"{label}-{i}" if is_server else f"{label}-client-{i - servers}"
        data_dir = os.path.join(workdir, node)
        http_port, rpc_port, lan_port = ports[i]
        if template is not None:
            argv = shlex.split(template.format(http_port=http_port, node=node,
                                               data_dir=data_dir))
        elif dev:
            argv = [*prog, "agent", "-dev", "-client", "127.0.0.1",
                    "-http-port", str(http_port), "-serf-lan-port", str(lan_port),
                    "-serf-wan-port", str(rpc_port)]
        else:
            os.makedirs(data_dir, exist_ok=True)
            argv = [*prog, "agent"]
            if is_server:
                argv += ["-server", "-bootstrap-expect", str(servers)]
            argv += ["-node", node, "-data-dir", data_dir, "-bind", host,
                     "-client", host, "-http-port", str(http_port),
                     "-server-port", str(rpc_port), "-serf-lan-port", str(lan_port),
                     "-serf-wan-port", "-1", "-dns-port", "-1"]
            if raft_multiplier is not None:
                argv += ["-raft-multiplier", str(raft_multiplier)]
            for j, join in enumerate(joins):
                if j != i:
                    argv += ["-retry-join", join]
        argv += extra_args or []
        commands.append(shlex.join(argv))
        log = os.path.join(workdir, f"{node}.log")
        cluster.procs.append(spawn(argv, log_path=log))
        cluster.logs.append(log)
    cluster.info["command"] = commands[0]
    cluster.info["commands"] = commands
    _ready_or_clean_up(cluster, deadline_s, own_workdir)
    if not dev and template is None:
        try:
            _wait(lambda: consul_put_ok(cluster.url), f"{label} first write via {cluster.url}",
                  deadline_s, cluster.procs, cluster.logs)
        except BaseException:
            cluster.stop()
            if own_workdir:
                shutil.rmtree(workdir, ignore_errors=True)
            raise
        lead = leader_url(cluster)
        cluster.info["leader_url"] = lead
        if lead:
            cluster.info["server_urls_leader_first"] = [lead] + [
                u for u in urls[:servers] if u != lead]
            cluster.urls = urls[servers:] + cluster.info["server_urls_leader_first"]
    return cluster


# --------------------------------------------------------------------------
# KV workloads
# --------------------------------------------------------------------------

VALUE_SIZE = 100
NUM_KEYS = 1000
KEY_PREFIX = "bench/k"


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def bench_keys(n: int = NUM_KEYS, prefix: str = KEY_PREFIX) -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(n)]


def bench_value(i: int, size: int = VALUE_SIZE) -> bytes:
    """A deterministic printable value of exactly ``size`` bytes."""
    head = f"v{i:06d}-".encode()
    alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    pad = bytes(alphabet[(i + j) % len(alphabet)] for j in range(max(0, size - len(head))))
    return (head + pad)[:size]


JSON_HEADERS = (("Content-Type", "application/json"),)


def kv_put(kind: str, key: str, value: bytes) -> Req:
    if kind == "consul":
        return Req("PUT", "/v1/kv/" + urllib.parse.quote(key), value)
    if kind == "etcd":
        body = json.dumps({"key": _b64(key.encode()), "value": _b64(value)}).encode()
        return Req("POST", "/v3/kv/put", body, JSON_HEADERS)
    raise ValueError(kind)


def kv_get(kind: str, key: str, stale: bool = False) -> Req:
    """Default-consistency read, or the stale one (etcd: serializable)."""
    if kind == "consul":
        return Req("GET", "/v1/kv/" + urllib.parse.quote(key) + ("?stale" if stale else ""))
    if kind == "etcd":
        q: dict = {"key": _b64(key.encode())}
        if stale:
            q["serializable"] = True
        return Req("POST", "/v3/kv/range", json.dumps(q).encode(), JSON_HEADERS)
    raise ValueError(kind)


KV_OPS = ("put", "get", "get-stale")


def kv_requests(kind: str, op: str, keys: list[str] | None = None,
                value_size: int = VALUE_SIZE) -> list[Req]:
    keys = keys if keys is not None else bench_keys()
    if op == "put":
        return [kv_put(kind, k, bench_value(i, value_size)) for i, k in enumerate(keys)]
    if op in ("get", "get-stale"):
        return [kv_get(kind, k, stale=op == "get-stale") for k in keys]
    raise ValueError(f"unknown op {op!r}")


def decode_kv_get(kind: str, status: int, body: bytes) -> bytes | None:
    """The value in a read's answer, or None if the key was not there."""
    if kind == "consul":
        if status == 404:
            return None
        entries = json.loads(body)
        return base64.b64decode(entries[0]["Value"] or "")
    kvs = json.loads(body).get("kvs") or []
    return base64.b64decode(kvs[0].get("value", "")) if kvs else None


def preload_kv(cluster: Cluster, keys: list[str] | None = None,
               value_size: int = VALUE_SIZE) -> float:
    """Write every key once (what the PUT scenario writes) and read a few back.

    Returns the seconds it took. Raises on any failure.
    """
    keys = keys if keys is not None else bench_keys()
    conn = Http(cluster.url, timeout=10)
    t0 = time.monotonic()
    try:
        for req in kv_requests(cluster.kind, "put", keys, value_size):
            status, body = conn.request(req.method, req.path, req.body, dict(req.headers))
            if status != 200:
                raise RuntimeError(f"preload {req.method} {req.path}: HTTP {status} {body[:200]!r}")
        for i in sorted({0, len(keys) // 2, len(keys) - 1}):
            for stale in (False, True):
                # A stale read may come from a server a few ms behind: give it a second.
                deadline = time.monotonic() + (1.0 if stale else 0.0)
                while True:
                    req = kv_get(cluster.kind, keys[i], stale)
                    status, body = conn.request(req.method, req.path, req.body,
                                                dict(req.headers))
                    got = decode_kv_get(cluster.kind, status, body) \
                        if status in (200, 404) else None
                    if got == bench_value(i, value_size) or time.monotonic() >= deadline:
                        break
                    time.sleep(0.01)
                if got != bench_value(i, value_size):
                    raise RuntimeError(f"read-back of {keys[i]} (stale={stale}): HTTP {status} "
                                       f"{body[:200]!r}")
    finally:
        conn.close()
    return time.monotonic() - t0


# --------------------------------------------------------------------------
# wrk
# --------------------------------------------------------------------------


def lua_quote(s: str | bytes) -> str:
    """A Lua double-quoted string literal for arbitrary bytes."""
    if isinstance(s, str):
        s = s.encode()
    out = []
    for b in s:
        if b in (0x22, 0x5C):  # " and \
            out.append("\\" + chr(b))
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\{b:03d}")
    return '"' + "".join(out) + '"'


def lua_script(reqs: list[Req]) -> str:
    """A wrk script cycling through ``reqs`` (pre-formatted once per thread in init)."""
    lines = ["-- generated by bench/harness.py", "local reqs = {"]
    for r in reqs:
        hdrs = ", ".join(f"[{lua_quote(k)}] = {lua_quote(v)}" for k, v in r.headers)
        body = lua_quote(r.body) if r.body else "nil"
        lines.append(f"  {{{lua_quote(r.method)}, {lua_quote(r.path)}, {body}, {{{hdrs}}}}},")
    lines += [
        "}",
        "local built = {}",
        "local n = #reqs",
        "local i = 0",
        "init = function(args)",
        "  for j, r in ipairs(reqs) do",
        "    built[j] = wrk.format(r[1], r[2], r[4], r[3])",
        "  end",
        "  -- threads start at different offsets",
        "  i = math.random(0, n - 1)",
        "end",
        "request = function()",
        "  i = i % n + 1",
        "  return built[i]",
        "end",
        "",
    ]
    return "\n".join(lines)


def write_script(reqs: list[Req], path: Path | str) -> Path:
    path = Path(path)
    path.write_text(lua_script(reqs))
    return path


class WrkParseError(ValueError):
    pass


@dataclass
class WrkResult:
    requests: int  # completed responses (any status)
    duration_s: float
    rps: float  # wrk's Requests/sec (any status)
    latency_ms: dict[str, float]  # percentile ("50", "75", "90", "99") -> ms
    non2xx: int = 0  # wrk's "Non-2xx or 3xx responses" (status >= 400)
    socket_errors: dict[str, int] = field(default_factory=dict)  # connect/read/write/timeout
    threads: int | None = None
    connections: int | None = None

    @property
    def p50_ms(self) -> float:
        return self.latency_ms["50"]

    @property
    def p99_ms(self) -> float:
        return self.latency_ms["99"]

    @property
    def errors(self) -> int:
        return self.non2xx + sum(self.socket_errors.values())

    @property
    def ok_rps(self) -> float:
        """Successful responses per second (errors are not ops)."""
        if self.requests <= 0:
            return 0.0
        return self.rps * max(0, self.requests - self.non2xx) / self.requests

    def problems(self) -> list[str]:
        """Why this run's figures are not clean ([] when they are)."""
        out = []
        if self.requests <= 0:
            out.append("no responses")
        if self.non2xx:
            out.append(f"{self.non2xx} of {self.requests} responses were HTTP >= 400")
        bad = {k: v for k, v in self.socket_errors.items() if v}
        if bad:
            out.append("socket errors " + ", ".join(f"{k} {v}" for k, v in bad.items()))
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(ok_rps=round(self.ok_rps, 2), errors=self.errors, problems=self.problems())
        return d


_TIME_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_NUM = r"(\d+(?:\.\d+)?)"
_RE_PCT = re.compile(rf"^\s*{_NUM}%\s+{_NUM}\s*(us|ms|s|m|h)\s*$", re.M)
_RE_RPS = re.compile(rf"^\s*Requests/sec:\s*{_NUM}\s*$", re.M)
_RE_TOTAL = re.compile(rf"^\s*(\d+)\s+requests in\s+{_NUM}\s*(us|ms|s|m|h)\b", re.M)
_RE_NON2XX = re.compile(r"^\s*Non-2xx or 3xx responses:\s*(\d+)\s*$", re.M)
_RE_SOCKET = re.compile(
    r"^\s*Socket errors:\s*connect\s+(\d+),\s*read\s+(\d+),\s*write\s+(\d+),\s*timeout\s+(\d+)",
    re.M)
_RE_SHAPE = re.compile(r"^\s*(\d+)\s+threads? and\s+(\d+)\s+connections?", re.M)


def parse_wrk(text: str) -> WrkResult:
    """Parse ``wrk --latency`` output. Raises WrkParseError if a needed line is missing."""
    pct = {}
    for m in _RE_PCT.finditer(text):
        key = format(float(m.group(1)), "g")  # "50", "99", "99.9"
        pct[key] = round(float(m.group(2)) * _TIME_UNITS_MS[m.group(3)], 6)
    missing = [p for p in ("50", "99") if p not in pct]
    if missing:
        raise WrkParseError(f"no {'/'.join(missing)}% latency line (was --latency given?)")
    m = _RE_RPS.search(text)
    if not m:
        raise WrkParseError("no Requests/sec line")
    rps = float(m.group(1))
    m = _RE_TOTAL.search(text)
    if not m:
        raise WrkParseError("no 'N requests in T' line")
    requests = int(m.group(1))
    duration_s = round(float(m.group(2)) * _TIME_UNITS_MS[m.group(3)] / 1e3, 6)
    m = _RE_NON2XX.search(text)
    non2xx = int(m.group(1)) if m else 0
    m = _RE_SOCKET.search(text)
    socket_errors = dict(zip(("connect", "read", "write", "timeout"),
                             (int(g) for g in m.groups()), strict=True)) if m else {}
    m = _RE_SHAPE.search(text)
    threads, conns = (int(m.group(1)), int(m.group(2))) if m else (None, None)
    return WrkResult(requests=requests, duration_s=duration_s, rps=rps, latency_ms=pct,
                     non2xx=non2xx, socket_errors=socket_errors, threads=threads,
                     connections=conns)


class WrkError(RuntimeError):
    pass


def wrk_binary() -> str:
    return shutil.which("wrk") or "/usr/bin/wrk"


def wrk_version() -> str:
    try:
        out = subprocess.run([wrk_binary(), "--version"], capture_output=True, text=True,
                             timeout=10)
        return (out.stdout or out.stderr).splitlines()[0].strip()
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


def _whole_seconds(x: float, what: str) -> int:
    if x != int(x) or x < 1:
        raise ValueError(f"wrk takes whole seconds for {what}, not {x!r}")
    return int(x)


def run_wrk(url: str, script: Path | str, connections: int, duration_s: int, *,
            threads: int = 1, timeout_s: int | None = None) -> tuple[WrkResult, str]:
    """Run ``wrk -tT -cN -dDs --latency -s script URL``; return (parsed, raw output).

    wrk takes whole seconds only (``-d1.5s`` is a usage error).
    """
    duration_s = _whole_seconds(duration_s, "-d")
    threads = max(1, min(threads, connections))  # wrk needs -c >= -t
    argv = [wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{duration_s}s",
            "--latency", "-s", str(script)]
    if timeout_s:
        argv += ["--timeout", f"{_whole_seconds(timeout_s, '--timeout')}s"]
    argv.append(url)
    proc = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=duration_s + 60)
    except subprocess.TimeoutExpired as e:
        raise WrkError(f"wrk did not finish: {shlex.join(argv)}") from e
    finally:
        stop(proc)
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise WrkError(f"wrk exited {proc.returncode}: {err.decode(errors='replace').strip()}"
                       f"\n{text}")
    try:
        return parse_wrk(text), text
    except WrkParseError as e:
        raise WrkError(f"{e}\n--- wrk output ---\n{text}{err.decode(errors='replace')}") from e


# --------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    """Plain text table; first column left-aligned, the rest right-aligned."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]

    def line(cells):
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def print_table(rows: list[list[str]], headers: list[str]) -> None:
    print(format_table(headers, rows), flush=True)


def fmt_ops(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def fmt_ms(x: float | None) -> str:
    return "-" if x is None else (f"{x:.2f}" if x < 100 else f"{x:.0f}")


def comparison_rows(scenarios: list[dict], left: str, right: str
                    ) -> tuple[list[str], list[list[str]]]:
    """Table of scenario | left ops/s p50 p99 | right ops/s p50 p99 | ratio.

    Each scenario dict has "name", "results": {label: WrkResult-dict or
    {"error": msg}} and "ratio". Ops/s are successful responses per second; a
    side with errors is flagged with "!" (see the error list).
    """
    headers = ["scenario", f"{left} ops/s", "p50 ms", "p99 ms",
               f"{right} ops/s", "p50 ms", "p99 ms", "ratio"]
    rows = []
    for sc in scenarios:
        row = [sc["name"]]
        for label in (left, right):
            r = sc["results"].get(label) or {"error": "not run"}
            if "error" in r:
                row += ["ERR", "-", "-"]
            else:
                flag = "!" if r["problems"] else ""
                row += [fmt_ops(r["ok_rps"]) + flag, fmt_ms(r["latency_ms"]["50"]),
                        fmt_ms(r["latency_ms"]["99"])]
        row.append("-" if sc.get("ratio") is None else f"{sc['ratio']:.2f}")
        rows.append(row)
    return headers, rows


def ratio(a: dict | None, b: dict | None) -> float | None:
    if not a or not b or "error" in a or "error" in b or not b["ok_rps"]:
        return None
    return a["ok_rps"] / b["ok_rps"]


def _cpu_times() -> tuple[int, int] | None:
    """(idle, total) jiffies over all CPUs from /proc/stat, or None off Linux."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    return fields[3] + (fields[4] if len(fields) > 4 else 0), sum(fields[:8])


def cpu_busy(seconds: float = 1.0) -> float | None:
    """Fraction (0..1) of all CPUs busy during the next ``seconds`` (sleeps that long).

    Measured between runs, while the servers idle, it shows whether something
    else on the machine is competing with the benchmark.
    """
    a = _cpu_times()
    time.sleep(seconds)
    b = _cpu_times()
    if a is None or b is None or b[1] <= a[1]:
        return None
    return 1.0 - (b[0] - a[0]) / (b[1] - a[1])


def wait_idle(max_wait: float, threshold: float = 0.2, first_sample: float = 0.5
              ) -> float | None:
    """Sample CPU use until at most ``threshold`` of the CPUs are busy or ``max_wait``
    seconds pass; return the last sample (None off Linux)."""
    busy = cpu_busy(first_sample)
    until = time.monotonic() + max_wait
    while busy is not None and busy > threshold and time.monotonic() < until:
        busy = cpu_busy(1.0)
    return busy


def cpu_speed() -> float:
    """Seconds this Python takes for a fixed loop of 10 million additions (best of 3): a
    CPU-speed figure printed beside results so runs on different machines compare."""
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        x = 0
        for i in range(10_000_000):
            x += i
        best = min(best, time.perf_counter() - t)
    return best


def cpu_speed_note(seconds: float) -> str:
    return (f"CPU speed: {seconds:.2f} s for 10M CPython additions "
            f"({platform.python_version()}; lower is faster)")


def machine_info() -> dict:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu": cpu, "platform": platform.platform(),
            "python": platform.python_version()}


def write_json(data: dict, name: str, results_dir: Path | str = RESULTS_DIR) -> Path:
    """Write ``data`` to ``results_dir/<name>-<UTC timestamp>.json``; return the path."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = results_dir / f"{name}-{stamp}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return path
