"""The sidecar lookup ``connect proxy -sidecar-for`` and ``connect envoy -sidecar-for``
share (Consul's LookupProxyIDForSidecar): one connect-proxy whose DestinationServiceID
matches in any case, else an error naming what was found."""

from __future__ import annotations

import pytest

from proconsul.api import ClientError
from proconsul.cli.connect_proxy_command import SidecarLookupError, lookup_sidecar


class Agent:
    def __init__(self, services: dict | None) -> None:
        self._services = services

    def services(self) -> dict:
        if self._services is None:
            raise ClientError("connection refused")
        return self._services


class Client:
    def __init__(self, services: dict | None) -> None:
        self._agent = Agent(services)

    def agent(self) -> Agent:
        return self._agent


def proxy(sid: str, destination: str, kind: str = "connect-proxy") -> dict:
    return {"ID": sid, "Kind": kind, "Proxy": {"DestinationServiceID": destination}}


SERVICES = {s["ID"]: s for s in (
    proxy("web-sidecar-proxy", "Web"), proxy("db-a", "db"), proxy("db-b", "db"),
    proxy("web-gateway", "web", kind="mesh-gateway"), {"ID": "web", "Service": "web"})}


def test_the_one_sidecar_matches_in_any_case():
    assert lookup_sidecar(Client(SERVICES), "web") == "web-sidecar-proxy"
    assert lookup_sidecar(Client(SERVICES), "WEB") == "web-sidecar-proxy"


@pytest.mark.parametrize(("services", "target", "message"), [
    (SERVICES, "api", "No sidecar proxy registered for api"),
    (SERVICES, "db", "More than one sidecar proxy registered for db.\n    Start proxy with "
                     "-proxy-id and one of the following IDs: db-a, db-b"),
    (None, "web", "Failed looking up sidecar proxy info for web: connection refused"),
])
def test_none_or_several_or_no_answer_is_an_error(services, target, message):
    with pytest.raises(SidecarLookupError) as err:
        lookup_sidecar(Client(services), target)
    assert str(err.value) == message
