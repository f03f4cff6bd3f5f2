"""CheckDefinition: Consul's validation messages, type precedence and lenient decoding."""

from __future__ import annotations

import msgspec
import pytest

from proconsul.agent.checks import CheckDefinition, InvalidCheck, decode_check_definition


@pytest.mark.parametrize(("fields", "message"), [
    ({"TTL": "10s", "Interval": "10s", "HTTP": "http://x"},
     "Interval and TTL cannot both be specified"),
    ({"HTTP": "http://x"},
     "Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks"),
    ({"ScriptArgs": ["true"]},
     "Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks"),
    ({"TCP": "a:1", "Interval": "10s", "AliasService": "web"},
     "Interval cannot be set for Alias checks"),
    ({"AliasService": "web", "TTL": "10s"}, "TTL must be not be set for Alias checks"),
    ({}, "TTL must be > 0 for TTL checks"),
    ({"Name": "x"}, "TTL must be > 0 for TTL checks"),
    ({"TTL": "10s", "OutputMaxSize": -1}, "MaxOutputMaxSize must be positive"),
    ({"TTL": "10s", "FailuresBeforeWarning": 3, "FailuresBeforeCritical": 2},
     "FailuresBeforeWarning can't be higher than FailuresBeforeCritical"),
    ({"TTL": "10s", "Status": "sick"}, "Bad check status"),
    ({"TTL": "ten seconds"}, 'time: invalid duration "ten seconds"'),
])
def test_validate_gives_consuls_messages(fields, message):
    with pytest.raises(InvalidCheck) as err:
        CheckDefinition(**fields).validate()
    assert str(err.value) == message


@pytest.mark.parametrize("fields", [
    {"TTL": "30s"},
    {"HTTP": "http://x", "Interval": "10ms"},  # below 1s is clamped later, not rejected
    {"AliasService": "web"},
    {"AliasNode": "n1"},
    {"GRPC": "h:1", "Interval": "5s", "FailuresBeforeWarning": 1, "FailuresBeforeCritical": 3},
    {"OSService": "sshd", "Interval": "5s"},
])
def test_valid_definitions_pass(fields):
    CheckDefinition(**fields).validate()


@pytest.mark.parametrize(("fields", "kind"), [
    ({"ScriptArgs": ["true"], "Interval": "1s"}, "script"),
    ({"ScriptArgs": ["true"], "DockerContainerID": "c1", "Interval": "1s"}, "docker"),
    ({"HTTP": "http://x", "Interval": "1s"}, "http"),
    ({"TCP": "a:1", "Interval": "1s"}, "tcp"),
    ({"UDP": "a:1", "Interval": "1s"}, "udp"),
    ({"GRPC": "a:1", "Interval": "1s"}, "grpc"),
    ({"H2PING": "a:1", "Interval": "1s"}, "h2ping"),
    ({"TTL": "1s"}, "ttl"),
    ({"AliasService": "web"}, "alias"),
    ({"OSService": "sshd", "Interval": "1s"}, "os_service"),
    # Consul's precedence: gRPC before HTTP before TCP.
    ({"GRPC": "a:1", "HTTP": "http://x", "TCP": "a:1", "Interval": "1s"}, "grpc"),
    ({"HTTP": "http://x", "TCP": "a:1", "Interval": "1s"}, "http"),
    ({}, ""),
    ({"TTL": "bogus"}, ""),
])
def test_check_type(fields, kind):
    assert CheckDefinition(**fields).check_type() == kind


def test_decode_accepts_consul_spellings():
    definition = decode_check_definition({
        "id": "c1", "name": "web check", "args": ["/bin/true"], "interval": "10s",
        "service_id": "web", "tls_skip_verify": True, "failures_before_critical": 3,
        "Timeout": 2_000_000_000, "DeregisterCriticalServiceAfter": "90m",
        "h2ping_use_tls": False,
    })
    assert definition.CheckID == "c1"
    assert definition.ScriptArgs == ["/bin/true"]
    assert definition.ServiceID == "web"
    assert definition.TLSSkipVerify is True
    assert definition.FailuresBeforeCritical == 3
    assert definition.Timeout == "2s"
    assert definition.H2PingUseTLS is False
    assert decode_check_definition({"CheckID": "x", "ScriptArgs": ["a"]}).ScriptArgs == ["a"]


def test_decode_rejects_unknown_and_mistyped_fields():
    with pytest.raises(InvalidCheck, match='unknown field "Bogus"'):
        decode_check_definition({"Bogus": 1})
    with pytest.raises(InvalidCheck, match="Request decode failed"):
        decode_check_definition({"Interval": ["10s"]})


def test_args_travel_as_args_on_the_wire():
    encoded = msgspec.json.decode(msgspec.json.encode(CheckDefinition(ScriptArgs=["a", "b"])))
    assert encoded == {"Args": ["a", "b"]}
    assert msgspec.json.decode(b'{"Args":["x"]}', type=CheckDefinition).ScriptArgs == ["x"]


def test_health_check_view():
    definition = CheckDefinition(Name="web alive", ServiceID="web", HTTP="http://x/",
                                 Interval="10s", Timeout="1500ms", Header={"A": ["b"]})
    check = definition.health_check("node1", service_name="web", service_tags=["v1"])
    assert check.CheckID == "web alive"  # CheckID defaults to the name
    assert check.Status == "critical"
    assert (check.Type, check.Interval, check.Timeout) == ("http", "10s", "1.5s")
    assert (check.ServiceName, check.ServiceTags) == ("web", ["v1"])
    assert check.Definition.HTTP == "http://x/"
    assert check.Definition.Header == {"A": ["b"]}
    assert CheckDefinition(TTL="5s", Status="passing").health_check("n").Status == "passing"
