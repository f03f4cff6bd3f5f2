"""/v1/kv against a real agent: every parameter, error and blocking behaviour."""

from __future__ import annotations

import base64
import threading
import time


def test_put_get_shape_and_headers(agent, unique):
    assert agent.put(f"/v1/kv/{unique}/k?flags=42", b"hello").json() is True
    reply = agent.get(f"/v1/kv/{unique}/k")
    assert reply.status == 200
    [entry] = reply.json()
    assert set(entry) == {"Key", "CreateIndex", "ModifyIndex", "LockIndex", "Flags", "Value"}
    assert entry["Key"] == f"{unique}/k" and entry["Flags"] == 42
    assert base64.b64decode(entry["Value"]) == b"hello"
    assert reply.headers["X-Consul-KnownLeader"] == "true"
    assert reply.headers["X-Consul-LastContact"] == "0"
    assert reply.headers["X-Consul-Effective-Consistency"] == "leader"
    assert reply.index >= entry["ModifyIndex"]


def test_raw(agent, unique):
    agent.put(f"/v1/kv/{unique}", b"\x00binary\xff")
    reply = agent.get(f"/v1/kv/{unique}?raw")
    assert reply.body == b"\x00binary\xff"
    assert reply.headers["Content-Type"] == "text/plain"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["Content-Security-Policy"] == "sandbox"


def test_missing_key_is_404_with_index(agent, unique):
    reply = agent.get(f"/v1/kv/{unique}/absent")
    assert reply.status == 404 and reply.body == b""
    assert reply.index >= 1


def test_empty_value_is_null(agent, unique):
    agent.put(f"/v1/kv/{unique}", b"")
    assert agent.get(f"/v1/kv/{unique}").json()[0]["Value"] is None


def test_recurse_and_keys_with_separator(agent, unique):
    for key in ("a", "b/1", "b/2", "c/d/e"):
        agent.put(f"/v1/kv/{unique}/{key}", b"x")
    keys = [e["Key"] for e in agent.get(f"/v1/kv/{unique}/?recurse").json()]
    assert keys == [f"{unique}/{k}" for k in ("a", "b/1", "b/2", "c/d/e")]
    assert agent.get(f"/v1/kv/{unique}/?keys&separator=/").json() == [
        f"{unique}/a", f"{unique}/b/", f"{unique}/c/"]
    assert agent.get(f"/v1/kv/{unique}/?keys&seperator=/").json() == [
        f"{unique}/a", f"{unique}/b/", f"{unique}/c/"]
    assert agent.get(f"/v1/kv/{unique}-none/?keys").status == 404
    assert agent.get(f"/v1/kv/{unique}-none/?recurse").status == 404
    assert isinstance(agent.get("/v1/kv/?keys").json(), list)


def test_cas(agent, unique):
    path = f"/v1/kv/{unique}"
    assert agent.put(f"{path}?cas=0", b"1").json() is True
    assert agent.put(f"{path}?cas=0", b"2").json() is False
    index = agent.get(path).json()[0]["ModifyIndex"]
    assert agent.put(f"{path}?cas={index + 1000}", b"3").json() is False
    assert agent.put(f"{path}?cas={index}", b"4").json() is True
    assert agent.get(f"{path}?raw").body == b"4"


def test_delete_single_cas_and_recurse(agent, unique):
    for key in ("x", "t/1", "t/2", "tt"):
        agent.put(f"/v1/kv/{unique}/{key}", b"v")
    index = agent.get(f"/v1/kv/{unique}/x").json()[0]["ModifyIndex"]
    assert agent.delete(f"/v1/kv/{unique}/x?cas={index + 1000}").json() is False
    assert agent.delete(f"/v1/kv/{unique}/x?cas={index}").json() is True
    assert agent.get(f"/v1/kv/{unique}/x").status == 404
    assert agent.delete(f"/v1/kv/{unique}/t/?recurse").json() is True
    left = [e["Key"] for e in agent.get(f"/v1/kv/{unique}/?recurse").json()]
    assert left == [f"{unique}/tt"]
    assert agent.delete(f"/v1/kv/{unique}/tt").json() is True


def test_bad_input(agent, unique):
    assert (agent.get("/v1/kv/").status, agent.get("/v1/kv/").text) == (400, "Missing key name")
    assert agent.put("/v1/kv/", b"x").status == 400
    assert agent.delete("/v1/kv/").status == 400
    reply = agent.put(f"/v1/kv/{unique}?cas=1&acquire=abc", b"x")
    assert reply.status == 400 and reply.text.startswith("Conflicting flags: ")
    assert agent.put(f"/v1/kv/{unique}?cas=nope", b"x").status == 400
    assert agent.put(f"/v1/kv/{unique}?flags=-1", b"x").status == 400
    assert agent.delete(f"/v1/kv/{unique}?recurse&cas=1").status == 400
    assert agent.get(f"/v1/kv/{unique}").status == 404, "rejected writes must not land"


def test_value_size_limit(agent, unique):
    limit = 512 * 1024
    assert agent.put(f"/v1/kv/{unique}/ok", b"x" * limit).json() is True
    reply = agent.put(f"/v1/kv/{unique}/big", b"x" * (limit + 1))
    assert reply.status == 413 and "too large" in reply.text
    assert agent.get(f"/v1/kv/{unique}/big").status == 404


def test_acquire_release_with_session(agent, unique):
    session = agent.put("/v1/session/create", {"LockDelay": "1ms"}).json()["ID"]
    other = agent.put("/v1/session/create").json()["ID"]
    path = f"/v1/kv/{unique}"
    assert agent.put(f"{path}?acquire={session}", b"mine").json() is True
    assert agent.put(f"{path}?acquire={other}", b"theirs").json() is False
    entry = agent.get(path).json()[0]
    assert (entry["Session"], entry["LockIndex"]) == (session, 1)
    assert agent.put(f"{path}?release={other}").json() is False
    assert agent.put(f"{path}?release={session}").json() is True
    assert "Session" not in agent.get(path).json()[0]
    assert agent.put(f"{path}?acquire={other}", b"theirs").json() is True
    assert agent.get(path).json()[0]["LockIndex"] == 2


def test_acquire_with_unknown_session_is_400(agent, unique):
    reply = agent.put(f"/v1/kv/{unique}?acquire=00000000-0000-0000-0000-000000000000", b"x")
    assert reply.status == 400 and "invalid session" in reply.text


def blocking_get(agent, path: str) -> tuple[threading.Thread, dict]:
    result: dict = {}

    def run() -> None:
        started = time.monotonic()
        result["reply"] = agent.get(path)
        result["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_blocking_get_wakes_on_write(agent, unique):
    agent.put(f"/v1/kv/{unique}", b"1")
    index = agent.get(f"/v1/kv/{unique}").index
    thread, result = blocking_get(agent, f"/v1/kv/{unique}?index={index}&wait=20s")
    agent.put(f"/v1/kv/{unique}", b"2")
    thread.join(10)
    assert not thread.is_alive()
    assert result["elapsed"] < 10
    assert result["reply"].index > index
    assert base64.b64decode(result["reply"].json()[0]["Value"]) == b"2"


def test_blocking_get_times_out_with_same_index(agent, unique):
    agent.put(f"/v1/kv/{unique}", b"1")
    index = agent.get(f"/v1/kv/{unique}").index
    thread, result = blocking_get(agent, f"/v1/kv/{unique}?index={index}&wait=500ms")
    thread.join(10)
    assert 0.5 <= result["elapsed"] < 0.5 * (1 + 1 / 16) + 1
    assert result["reply"].status == 200
    assert result["reply"].index == index


def test_blocking_recurse_wakes_on_delete_under_prefix(agent, unique):
    agent.put(f"/v1/kv/{unique}/a", b"1")
    agent.put(f"/v1/kv/{unique}/b", b"1")
    index = agent.get(f"/v1/kv/{unique}/?recurse").index
    thread, result = blocking_get(agent, f"/v1/kv/{unique}/?recurse&index={index}&wait=20s")
    agent.delete(f"/v1/kv/{unique}/a")
    thread.join(10)
    assert not thread.is_alive()
    assert result["reply"].index > index
    assert [e["Key"] for e in result["reply"].json()] == [f"{unique}/b"]


def test_stale_and_consistent_modes(agent, unique):
    agent.put(f"/v1/kv/{unique}", b"1")
    stale = agent.get(f"/v1/kv/{unique}?stale")
    assert stale.headers["X-Consul-Effective-Consistency"] == "stale"
    consistent = agent.get(f"/v1/kv/{unique}?consistent")
    assert consistent.headers["X-Consul-Effective-Consistency"] == "consistent"
    assert agent.get(f"/v1/kv/{unique}?stale&consistent").status == 400
    assert agent.get(f"/v1/kv/{unique}?cached").status == 200
