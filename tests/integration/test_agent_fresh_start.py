"""A cluster started all at once is usable in seconds: clients retry join quickly at first,
and sessions can be created as soon as a leader is reported."""

from __future__ import annotations

from datetime import datetime

from tests.support.agent_process import ServerSpec, start_agent, start_server, wait_until


def leader(agent) -> str:
    reply = agent.get("/v1/status/leader")
    return reply.json() if reply.status == 200 else ""


def test_session_create_right_after_the_leader_is_reported(tmp_path):
    """No "Missing node registration" / "Missing check 'serfHealth' registration" on a
    fresh server (before the fix: 3 of 5 fresh servers refused the first session)."""
    for attempt in range(3):
        server = start_server(ServerSpec(str(tmp_path / f"s{attempt}")), "-bootstrap-expect",
                              "1")
        try:
            wait_until(lambda s=server: leader(s), timeout=30, what="a leader")
            reply = server.put("/v1/session/create", {"TTL": "30s"})
            assert reply.status == 200, f"attempt {attempt}: {reply.status} {reply.text}"
        finally:
            server.stop()


def test_session_create_on_a_fresh_client_right_after_the_leader_is_reported(tmp_path):
    server = start_agent()
    try:
        for attempt in range(3):
            client = start_agent("-data-dir", str(tmp_path / f"c{attempt}"),
                                 "-node", f"fresh-client-{attempt}",
                                 "-retry-join", server.lan_address, dev=False)
            try:
                wait_until(lambda c=client: leader(c), timeout=20, what="a leader")
                reply = client.put("/v1/session/create", {"TTL": "30s"})
                assert reply.status == 200, f"attempt {attempt}: {reply.status} {reply.text}"
            finally:
                client.stop()
    finally:
        server.stop()


def failed_attempt_at(client, attempt: int) -> datetime | None:
    """When the client logged its failed join attempt ``attempt``."""
    for line in client.log:
        if f"retry-join lan failed (attempt {attempt})" in line:
            return datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ")  # hclog time
    return None


def test_a_client_started_before_its_server_joins_within_seconds(tmp_path):
    """retry_interval is 30 s, yet the retries come after 1 s, 2 s, 4 s ... (before the fix
    the second attempt came 30 s after the first)."""
    spec = ServerSpec(str(tmp_path / "server"))
    client = start_agent("-data-dir", str(tmp_path / "client"), "-node", "early-client",
                         "-retry-join", spec.lan_address, "-retry-interval", "30s", dev=False)
    server = None
    try:
        second = wait_until(lambda: failed_attempt_at(client, 2), timeout=10,
                            what="the client's second join attempt")
        assert (second - failed_attempt_at(client, 1)).total_seconds() < 2.5
        server = start_server(spec, "-bootstrap-expect", "1")
        wait_until(lambda: leader(client), timeout=20, what="the client joined and sees a leader")
        # ... and its own registration reaches the catalog without waiting for a 15 s retry
        assert client.put("/v1/agent/service/register", {"Name": "early"}).status == 200
        wait_until(lambda: [s["Node"] for s in client.get("/v1/catalog/service/early").json()]
                   == ["early-client"], timeout=5, what="the client's service in the catalog")
    finally:
        client.stop()
        if server is not None:
            server.stop()
