"""The agent process starts and serves the status endpoints."""


def test_leader_and_peers(agent):
    leader = agent.get("/v1/status/leader")
    assert leader.status == 200
    assert leader.json().startswith(f"{agent.host}:")
    assert agent.get("/v1/status/peers").json() == [leader.json()]
