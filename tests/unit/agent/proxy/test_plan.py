"""Config diff → listener actions (the sans-IO core of live reload)."""

from __future__ import annotations

import dataclasses

from proconsul.agent.proxy.config import ProxyConfig, PublicListenerConfig, UpstreamConfig
from proconsul.agent.proxy.plan import (
    ChangeService,
    StartPublic,
    StartUpstream,
    StopPublic,
    StopUpstream,
    UpdatePublic,
    UpdateUpstream,
    plan,
)

PUBLIC = PublicListenerConfig("0.0.0.0", 21000, "127.0.0.1:8080")
API = UpstreamConfig("api", 9191)
DB = UpstreamConfig("db", 9192)
BASE = ProxyConfig("web", PUBLIC, (API,))


def test_first_config_starts_everything_and_the_leaf_watch():
    assert plan(None, BASE) == [ChangeService("web"), StartPublic(PUBLIC), StartUpstream(API)]


def test_same_config_does_nothing():
    assert plan(BASE, dataclasses.replace(BASE)) == []


def test_new_local_address_updates_in_place():
    moved = dataclasses.replace(PUBLIC, local_service_address="127.0.0.1:9000")
    assert plan(BASE, dataclasses.replace(BASE, public=moved)) == [UpdatePublic(moved)]


def test_new_bind_port_stops_before_starting():
    rebound = dataclasses.replace(PUBLIC, bind_port=21001)
    assert plan(BASE, dataclasses.replace(BASE, public=rebound)) == [
        StopPublic(), StartPublic(rebound)]


def test_upstreams_are_matched_by_bind_address():
    other_dest = dataclasses.replace(API, destination_name="api2")
    moved = dataclasses.replace(API, local_bind_port=9999)
    assert plan(BASE, dataclasses.replace(BASE, upstreams=(other_dest, DB))) == [
        UpdateUpstream(other_dest), StartUpstream(DB)]
    assert plan(BASE, dataclasses.replace(BASE, upstreams=(moved,))) == [
        StopUpstream(API.bind), StartUpstream(moved)]


def test_a_port_handed_from_an_upstream_to_the_public_listener_is_freed_first():
    new = ProxyConfig("web", dataclasses.replace(PUBLIC, bind_address="127.0.0.1",
                                                 bind_port=9191), ())
    actions = plan(BASE, new)
    assert actions.index(StopUpstream(API.bind)) < actions.index(StartPublic(new.public))
    assert actions[0] in (StopPublic(), StopUpstream(API.bind))


def test_service_change_restarts_the_leaf_watch_and_dropping_the_listener_stops_it():
    assert plan(BASE, ProxyConfig("api", None, (API,))) == [StopPublic(), ChangeService("api")]
