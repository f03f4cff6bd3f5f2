"""The shared watch plan: Consul's parameters and its fire-on-change rules."""

from __future__ import annotations

import json

import pytest

from proconsul.lib.watch import Plan, WatchError, parse, request


@pytest.mark.parametrize(("params", "message"), [
    ({}, "Watch type must be specified"),
    ({"type": "bogus"}, "Unsupported watch type: bogus"),
    ({"type": "key"}, "Must specify a single key to watch"),
    ({"type": "keyprefix"}, "Must specify a single prefix to watch"),
    ({"type": "service"}, "Must specify a single service to watch"),
    ({"type": "checks", "service": "a", "state": "passing"}, "Cannot specify service and state"),
    ({"type": "checks", "state": "sad"}, "Invalid state: sad"),
    ({"type": "nodes", "key": "x", "zz": 1}, "Invalid parameters: [key zz]"),
    ({"type": "nodes", "stale": "maybe"}, "Expecting stale to be a boolean"),
])
def test_parse_errors(params, message):
    with pytest.raises(WatchError) as err:
        parse(params)
    assert str(err.value) == message


def test_requests_carry_the_type_parameters_and_options():
    spec = parse({"type": "service", "service": "web", "tag": ["a", "b"], "passingonly": True,
                  "datacenter": "dc2", "stale": True})
    assert request(spec, 7) == ("/v1/health/service/web", [
        ("dc", "dc2"), ("stale", ""), ("index", "7"), ("tag", "a"), ("tag", "b"),
        ("passing", "")])
    assert request(parse({"type": "keyprefix", "prefix": "/a/"}), 0) == (
        "/v1/kv/a/", [("recurse", "")])
    assert request(parse({"type": "checks"}), 0)[0] == "/v1/health/state/any"
    spec = parse({"type": "key", "key": "k", "args": ["x"]}, exempt=("args",))
    assert spec.exempt == {"args": ["x"]}


def test_plan_fires_first_then_only_on_changed_results():
    replies = [(200, [1], 5), (200, [1], 5), (200, [1], 6), (200, [2], 7), (500, "no", 7),
               (200, [2], 9), (200, [3], 3)]
    fired: list[tuple[int, object]] = []
    errors: list[str] = []
    sent: list[str] = []

    def fetch(path, query):
        sent.append(dict(query).get("index", "0"))
        status, body, index = replies.pop(0)
        return status, json.dumps(body).encode(), index

    def handler(index, result):
        fired.append((index, result))
        return bool(replies)

    plan = Plan(parse({"type": "nodes"}), fetch, handler, errors.append)
    plan.stopped.wait = lambda _timeout: None  # no back-off in the test
    plan.run()
    assert fired == [(5, [1]), (7, [2]), (3, [3])]
    assert sent == ["0", "5", "5", "6", "7", "7", "9"]  # after 3 (backwards) it would be 0
    assert len(errors) == 1 and "Unexpected response code: 500" in errors[0]


def test_missing_key_fires_once_it_exists():
    replies = [(404, b"", 3), (200, b'[{"Key": "k", "Value": "dg=="}]', 4)]
    fired = []

    def fetch(path, query):
        return replies.pop(0)

    plan = Plan(parse({"type": "key", "key": "k"}), fetch,
                lambda i, r: fired.append((i, r)) and False, lambda e: None)
    plan.run()
    assert fired == [(4, {"Key": "k", "Value": "dg=="})]
