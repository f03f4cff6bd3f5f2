"""Servers of one datacenter that meet on the LAN put each other in the WAN pool too
(Consul's flood join): ``members -wan`` on any of them lists them all."""

from __future__ import annotations

from tests.support.agent_process import ServerSpec, free_port, retry_joins, start_server, wait_until


def wan_names(agent) -> set[str]:
    reply = agent.get("/v1/agent/members?wan=1", timeout=5)
    return {m["Name"] for m in reply.json()} if reply.status == 200 else set()


def test_lan_servers_flood_into_the_wan_pool(tmp_path):
    specs = [ServerSpec(str(tmp_path / f"s{i}"), node=f"s{i}") for i in range(3)]
    joins = retry_joins(specs)
    for spec in specs:
        spec.extra = ("-bootstrap-expect", "3", "-serf-wan-port", str(free_port(spec.host)),
                      *joins)
    procs = []
    try:
        for spec in specs:  # LAN joins only: no -join-wan anywhere
            procs.append(start_server(spec))
        every = {f"s{i}.dc1" for i in range(3)}
        for proc in procs:
            wait_until(lambda proc=proc: wan_names(proc) == every, 30,
                       f"{proc.host}'s WAN pool holding all three servers")
    finally:
        for proc in procs:
            proc.stop()
