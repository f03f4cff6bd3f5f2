"""Checking ``watches`` entries of the agent config as Consul does."""

from __future__ import annotations

import pytest

from proconsul.agent.watches import Watches, _http_config, compile_watch
from proconsul.lib.watch import WatchError
from proconsul.structs.errors import ConsulError


@pytest.mark.parametrize(("params", "message"), [
    ({"type": "key", "key": "k", "handler_type": "pigeon"}, "Handler type 'pigeon' not recognized"),
    ({"type": "key", "key": "k"}, "Must define a watch handler"),
    ({"type": "key", "key": "k", "args": ["a"], "handler": "b"}, "Only one watch handler allowed"),
    ({"type": "key", "key": "k", "args": "echo"}, "Watch args must be a list of strings"),
    ({"type": "key", "key": "k", "handler_type": "http"},
     "Must define a valid http_handler_config with a path"),
    ({"type": "key", "key": "k", "handler_type": "http",
      "http_handler_config": {"path": "ftp://x"}}, "Invalid http_handler_config path: ftp://x"),
    ({"type": "key", "key": "k", "handler_type": "http",
      "http_handler_config": {"path": "http://x", "timeout": "soon"}},
     "Invalid http_handler_config timeout: soon"),
    ({"type": "connect_roots", "args": ["a"]},
     "Watch type connect_roots is not allowed in agent config"),
    ({"type": "services", "args": ["a"], "prefix": "p"}, "Invalid parameters: [prefix]"),
])
def test_bad_watches_are_refused_with_consuls_messages(params, message):
    with pytest.raises(WatchError) as err:
        compile_watch(params)
    assert str(err.value) == message


def test_http_handler_defaults_and_header_lists():
    spec, _ = compile_watch({"type": "nodes", "handler_type": "http", "http_handler_config": [
        {"path": "https://hooks.example/x", "header": {"A": "1", "B": ["2", "3"]}}]})
    assert spec.type == "nodes"
    config = _http_config(spec.exempt["http_handler_config"])
    assert (config.method, config.timeout, config.tls_skip_verify) == ("POST", 10.0, False)
    assert config.header == {"A": ["1"], "B": ["2", "3"]}


def test_check_names_the_bad_watch_before_anything_starts():
    watches = Watches(lambda: None)
    with pytest.raises(ConsulError, match="Failed to parse watch .*Must specify a single key"):
        watches.update([{"type": "nodes", "args": ["true"]}, {"type": "key", "args": ["true"]}])
    assert len(watches) == 0
    with pytest.raises(ConsulError, match="watch plans require an HTTP or HTTPS endpoint"):
        watches.update([{"type": "nodes", "args": ["true"]}])
    watches.update([])  # nothing to run needs no endpoint
