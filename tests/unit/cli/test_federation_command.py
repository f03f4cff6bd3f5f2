"""operator federation status: one line per datacenter, servers under it on request."""

from __future__ import annotations

from proconsul.cli.federation_command import status_lines

STATUS = {
    "Datacenter": "dc2", "Server": "s1.dc2",
    "Datacenters": [
        {"Datacenter": "dc2", "Local": True, "RTTMillis": 0.0, "Leader": "10.0.2.1:8300",
         "LastError": "", "Servers": [{"Node": "s1", "Address": "10.0.2.1:8300",
                                       "Status": "alive", "Reachable": True}]},
        {"Datacenter": "dc1", "Local": False, "RTTMillis": None, "Leader": "",
         "LastError": "Remote DC has no server currently reachable",
         "Servers": [{"Node": "a", "Address": "10.0.1.1:8300", "Status": "alive",
                      "Reachable": False},
                     {"Node": "b", "Address": "10.0.1.2:8300", "Status": "failed",
                      "Reachable": False}]},
    ],
}


def test_one_line_per_datacenter_nearest_first() -> None:
    lines = status_lines(STATUS, show_servers=False)
    assert lines[0] == "Seen from s1.dc2 (dc2)"
    assert lines[1].split() == ["Datacenter", "Leader", "RTT", "Servers", "Error"]
    assert lines[2].split() == ["dc2", "(local)", "10.0.2.1:8300", "0.000ms", "1/1",
                                "reachable"]
    assert lines[3].split()[:5] == ["dc1", "(none)", "unknown", "0/2", "reachable"]
    assert lines[3].endswith("Remote DC has no server currently reachable")
    assert all(line == line.rstrip() for line in lines)


def test_servers_listed_with_their_state() -> None:
    lines = status_lines(STATUS, show_servers=True)
    assert [line.split()[:4] for line in lines[5:]] == [
        ["-", "a", "10.0.1.1:8300", "unreachable"], ["-", "b", "10.0.1.2:8300", "failed"]]


def test_gateway_column_when_a_datacenter_is_reached_through_one() -> None:
    status = {**STATUS, "Datacenters": [dict(STATUS["Datacenters"][0]),
                                        {**STATUS["Datacenters"][1],
                                         "Gateway": "192.0.2.7:8443"}]}
    lines = status_lines(status, show_servers=True)
    assert lines[1].split() == ["Datacenter", "Leader", "RTT", "Servers", "Gateway", "Error"]
    assert lines[2].split()[-1] == "-"  # the local one: no gateway
    assert lines[3].split() == ["-", "s1", "10.0.2.1:8300", "alive"]
    assert lines[4].split()[:6] == ["dc1", "(none)", "unknown", "0/2", "reachable",
                                    "192.0.2.7:8443"]
    assert lines[5].split() == ["-", "a", "10.0.1.1:8300", "unreachable"]
