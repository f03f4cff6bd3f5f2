"""Snapshots on a 3-server durable cluster: save, change everything, restore, compare.

The state is compared through stale reads on each server, so every server's
own copy is checked, not just the leader's.
"""

from __future__ import annotations

import base64
import io
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from proconsul.lib.snapshot_archive import read_archive
from proconsul.state.snapshot import RecordKind, read_records
from tests.integration.test_raft_cluster import Cluster
from tests.support.agent_process import AgentProcess, wait_until

KEYS = 50_000
TXN_OPS = 64
# Consul's default raft timing: deleting or restoring 50k keys holds a server's loop
# for longer than the fast test timing's 1 s election timeout on this loaded box.
TIMING = ("-raft-multiplier", "5")
DUMP_PATHS = {
    "kv": "/v1/kv/?recurse",
    "nodes": "/v1/catalog/nodes",
    "services": "/v1/catalog/services",
    "checks": "/v1/health/state/any",
    "sessions": "/v1/session/list",
    "config": "/v1/config/service-defaults",
    "roots": "/v1/connect/ca/roots",
}


def put_keys(server: AgentProcess, prefix: str, count: int, value: str) -> None:
    encoded = base64.b64encode(value.encode()).decode()

    def batch(start: int) -> None:
        ops = [{"KV": {"Verb": "set", "Key": f"{prefix}{i // 1000:02d}/{i:06d}",
                       "Value": encoded}}
               for i in range(start, min(start + TXN_OPS, count))]
        reply = server.put("/v1/txn", ops, timeout=60)
        assert reply.status == 200, reply.text

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(batch, range(0, count, TXN_OPS)))


def write_catalog_and_sessions(server: AgentProcess, tag: str) -> list[str]:
    for i in range(20):
        reply = server.put("/v1/catalog/register", {
            "Node": f"{tag}-node-{i}", "Address": f"10.0.0.{i}",
            "Service": {"Service": f"{tag}-web", "ID": f"{tag}-web-{i}", "Port": 80 + i,
                        "Tags": [tag]},
            "Check": {"CheckID": f"{tag}-check-{i}", "Name": "alive", "Status": "passing",
                      "ServiceID": f"{tag}-web-{i}"}})
        assert reply.status == 200, reply.text
    sessions = []
    for i in range(5):
        reply = server.put("/v1/session/create", {"Name": f"{tag}-{i}", "Checks": []})
        assert reply.status == 200, reply.text
        sessions.append(reply.json()["ID"])
    reply = server.put(f"/v1/kv/locks/{tag}?acquire={sessions[0]}", "held")
    assert reply.json() is True
    reply = server.put("/v1/config", {"Kind": "service-defaults", "Name": f"{tag}-web",
                                      "Protocol": "http"})
    assert reply.status == 200, reply.text
    return sessions


def dump(server: AgentProcess) -> dict:
    state = {}
    for name, path in DUMP_PATHS.items():
        reply = server.get(path + ("&" if "?" in path else "?") + "stale", timeout=60)
        assert reply.status in (200, 404), (path, reply.status, reply.text)
        state[name] = reply.json() if reply.status == 200 else None
    return state


def raft_index(server: AgentProcess) -> int:
    """The raft index of a new write (through the leader)."""
    reply = server.put("/v1/kv/probe", str(time.monotonic_ns()))
    assert reply.status == 200, reply.text
    return server.get("/v1/kv/probe").json()[0]["ModifyIndex"]


def without_servers(state: dict) -> dict:
    """The state less the servers' own catalog entries, which the servers rewrite when
    they restart (their node and serfHealth check get new indexes): what clients wrote."""
    servers = {"s0", "s1", "s2"}
    return {**state,
            "nodes": [n for n in state["nodes"] if n["Node"] not in servers],
            "checks": [c for c in state["checks"] if c["Node"] not in servers],
            "services": {k: v for k, v in state["services"].items() if k != "consul"}}


def states_match(cluster: Cluster, expected: dict, view=lambda state: state) -> bool:
    return all(view(dump(p)) == view(expected) for p in cluster.procs.values())


def wait_for_state(cluster: Cluster, expected: dict, what: str, timeout: float = 60,
                   view=lambda state: state) -> None:
    """Wait until every server's stale reads show ``expected``; else say what differs."""
    try:
        wait_until(lambda: states_match(cluster, expected, view), timeout, what)
    except AssertionError:
        differing = {i: {name: (value, view(expected)[name])
                         for name, value in view(dump(p)).items()
                         if value != view(expected)[name]}
                     for i, p in cluster.procs.items()}
        raise AssertionError(f"timed out waiting for {what}; differing: "
                             f"{str(differing)[:3000]}") from None


def kv_of_archive(archive: bytes, keys: set[str]) -> dict[str, bytes]:
    state = io.BytesIO()
    read_archive(io.BytesIO(archive), state)
    state.seek(struct.calcsize(">Q"))  # the FSM header: its last applied index
    return {row.Key: row.Value for kind, row in read_records(state)
            if kind is RecordKind.KV and row.Key in keys}


def test_save_change_restore_on_three_servers(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, 3, *TIMING, "-hcl", "connect { enabled = true }")
    try:
        for i in range(3):
            cluster.start(i)
        leader = cluster.procs[cluster.leader()]
        wait_until(lambda: leader.get("/v1/connect/ca/roots").json().get("Roots"),
                   what="the CA's first root")
        put_keys(leader, "data/", KEYS, "saved")
        write_catalog_and_sessions(leader, "saved")
        index_before_save = raft_index(leader)
        saved_reply = leader.get("/v1/snapshot", timeout=120)
        assert saved_reply.status == 200, saved_reply.text
        assert saved_reply.index >= index_before_save
        archive = saved_reply.body
        saved = dump(leader)
        assert len(saved["kv"]) == KEYS + 2
        wait_for_state(cluster, saved, "every server caught up")

        # Change everything (deleting a thousand keys at a time: one 50k-key delete holds
        # the leader's loop past an election timeout on a loaded box).
        for group in range(KEYS // 1000):
            assert leader.delete(f"/v1/kv/data/{group:02d}?recurse").status == 200
        put_keys(leader, "other/", 1000, "changed")
        for session in saved["sessions"]:
            assert leader.put(f"/v1/session/destroy/{session['ID']}").status == 200
        for i in range(20):
            leader.put("/v1/catalog/deregister", {"Node": f"saved-node-{i}"})
        write_catalog_and_sessions(leader, "changed")
        leader.delete("/v1/config/service-defaults/saved-web")
        index_before_restore = raft_index(leader)
        changed = dump(leader)
        assert changed != saved

        # A blocking read of a changed key wakes at the restore, not at its wait time.
        woken: list[float] = []
        key_index = leader.get("/v1/kv/other/00/000001").index
        blocker = threading.Thread(target=lambda: woken.append(
            _timed(lambda: leader.get(f"/v1/kv/other/00/000001?index={key_index}&wait=60s",
                                      timeout=90))))
        blocker.start()

        # A flipped byte is refused with a clear error and changes nothing.
        damaged = bytearray(archive)
        damaged[len(damaged) // 2] ^= 0x01
        follower = next(p for i, p in cluster.procs.items() if p is not leader)
        refused = follower.put("/v1/snapshot", bytes(damaged), timeout=120)
        assert refused.status == 400, refused.text
        assert refused.text.startswith("failed to read snapshot file") or \
            refused.text.startswith("failed checking integrity of snapshot"), refused.text
        assert dump(leader) == changed

        # Restore through a follower: forwarded to the leader, replicated to all.
        restored = follower.put("/v1/snapshot", archive, timeout=180)
        assert restored.status == 200, restored.text
        wait_for_state(cluster, saved, "the saved state everywhere")
        blocker.join(90)
        assert woken and woken[0] < 30, woken
        assert raft_index(leader) > index_before_restore  # the index moved forward
        expected = dump(leader)  # the saved state and the probe write just made
        wait_for_state(cluster, expected, "the probe everywhere")

        # The restored state survives kill -9 of every server (the servers' own catalog
        # entries aside: restarting servers rewrite them).
        for i in list(cluster.procs):
            cluster.kill(i)
        for i in range(3):
            cluster.start(i)
        cluster.leader()
        wait_for_state(cluster, expected, "the state after kill -9", view=without_servers)
    finally:
        cluster.stop()


def _timed(call) -> float:
    start = time.monotonic()
    call()
    return time.monotonic() - start


def test_saves_under_concurrent_writes_are_never_torn(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, 3, *TIMING)
    try:
        for i in range(3):
            cluster.start(i)
        leader = cluster.procs[cluster.leader()]
        put_keys(leader, "bulk/", 5000, "x" * 100)
        stop = threading.Event()
        written: list[int] = []

        def write_pairs() -> None:
            n = 0
            while not stop.is_set():
                value = base64.b64encode(str(n).encode()).decode()
                reply = leader.put("/v1/txn", [
                    {"KV": {"Verb": "set", "Key": "pair/a", "Value": value}},
                    {"KV": {"Verb": "set", "Key": "pair/b", "Value": value}}])
                assert reply.status == 200, reply.text
                written.append(n)
                n += 1

        writer = threading.Thread(target=write_pairs)
        writer.start()
        seen = set()
        try:
            for round_ in range(6):
                for proc in cluster.procs.values():
                    path = "/v1/snapshot?stale" if round_ % 2 else "/v1/snapshot"
                    reply = proc.get(path, timeout=60)
                    assert reply.status == 200, reply.text
                    pair = kv_of_archive(reply.body, {"pair/a", "pair/b"})
                    assert pair.get("pair/a") == pair.get("pair/b"), pair
                    seen.add(pair.get("pair/a"))
        finally:
            stop.set()
            writer.join(30)
        assert len(written) > 10 and len(seen) > 3, (len(written), seen)
    finally:
        cluster.stop()
