"""``?cached`` reads through the agent cache, against a real agent."""

from __future__ import annotations

import threading

from tests.support.agent_process import wait_until


def register(agent, node, service):
    reply = agent.put("/v1/catalog/register", {
        "Node": node, "Address": "10.1.2.3",
        "Service": {"ID": service, "Service": service, "Port": 80}})
    assert reply.status == 200, reply.text


def test_miss_then_hit_with_age(agent, unique):
    first = agent.get("/v1/catalog/services?cached&filter=" + unique + "%20in%20ServiceTags")
    assert first.status == 200, first.text
    assert first.headers["X-Cache"] == "MISS"
    assert "Age" not in first.headers
    second = agent.get("/v1/catalog/services?cached&filter=" + unique + "%20in%20ServiceTags")
    assert second.headers["X-Cache"] == "HIT"
    assert second.headers["Age"] == "0"
    assert second.index == first.index
    assert second.json() == first.json() == {}


def test_uncached_read_has_no_cache_headers(agent):
    reply = agent.get("/v1/catalog/services")
    assert reply.status == 200
    assert "X-Cache" not in reply.headers


def test_background_refresh_serves_new_registration_as_hit(agent, unique):
    path = f"/v1/health/service/{unique}?cached"
    first = agent.get(path)
    assert first.headers["X-Cache"] == "MISS"
    assert first.json() == []
    register(agent, f"{unique}-node", unique)
    seen = []

    def refreshed():
        reply = agent.get(path)
        seen.append(reply.headers["X-Cache"])
        return reply.json()

    rows = wait_until(refreshed, what="cached health read to show the registration")
    assert [r["Service"]["ID"] for r in rows] == [unique]
    assert set(seen) == {"HIT"}


def test_blocking_cached_read_wakes_on_change(agent, unique):
    path = f"/v1/catalog/service/{unique}?cached"
    index = agent.get(path).index
    result = {}
    reader = threading.Thread(target=lambda: result.setdefault(
        "reply", agent.get(f"{path}&index={index}&wait=30s", timeout=40)))
    reader.start()
    register(agent, f"{unique}-node", unique)
    reader.join(40)
    reply = result["reply"]
    assert reply.status == 200
    assert reply.index > index
    assert [r["ServiceID"] for r in reply.json()] == [unique]


def test_blocking_cached_read_times_out_with_same_index(agent, unique):
    path = f"/v1/catalog/service/{unique}-none?cached"
    index = agent.get(path).index
    reply = agent.get(f"{path}&index={index}&wait=200ms")
    assert reply.status == 200
    assert reply.index == index
    assert reply.headers["X-Cache"] == "MISS"


def test_max_age_and_must_revalidate_force_a_fetch(agent):
    path = "/v1/catalog/datacenters?cached"
    assert agent.get(path).json() == ["dc1"]
    assert agent.get(path).headers["X-Cache"] == "HIT"
    assert agent.get(path, headers={"Cache-Control": "max-age=3600"}).headers["X-Cache"] == "HIT"
    assert agent.get(path, headers={"Cache-Control": "max-age=0"}).headers["X-Cache"] == "MISS"
    revalidated = agent.get(path, headers={"Cache-Control": "must-revalidate"})
    assert revalidated.headers["X-Cache"] == "MISS"
    assert "Age" not in revalidated.headers


def test_bad_cache_control_is_400(agent):
    for value in ("max-age=soon", "stale-if-error=x", "max-age="):
        reply = agent.get("/v1/catalog/services?cached", headers={"Cache-Control": value})
        assert reply.status == 400, value
        assert reply.text == "Invalid Cache-Control header."


def test_cached_and_consistent_conflict(agent):
    reply = agent.get("/v1/catalog/services?cached&consistent")
    assert reply.status == 400
    assert reply.text == "Cannot specify ?stale with ?consistent, conflicting semantics."
