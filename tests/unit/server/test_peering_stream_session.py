"""The peering replication stream's sans-IO session: two sessions wired back to back,
fed by a seeded simulator, plus the protocol's edges (ACK/NACK, heartbeats,
termination, bad subscriptions, the acceptor's Open check)."""

from __future__ import annotations

import random

import pytest

from proconsul.server.peering.stream import resources
from proconsul.server.peering.stream.auth import OpenRefused, check_open
from proconsul.server.peering.stream.session import (
    ERR_HEARTBEAT_TIMEOUT,
    ImportService,
    ImportServiceList,
    MarkTerminated,
    ReplicationSession,
    StoreServerAddresses,
    StoreTrustBundle,
)
from proconsul.structs import pbpeerstream as pb
from proconsul.structs.catalog import (
    CheckServiceNode,
    ConnectProxyConfig,
    HealthCheck,
    Node,
    NodeService,
    PeeringServiceMeta,
    ServiceAddress,
    ServiceConnect,
)
from proconsul.structs.peering import (
    SECRETS_PROMOTE_PENDING,
    STATE_ACTIVE,
    STATE_TERMINATED,
    Peering,
    PeeringSecrets,
)

LIST, SERVICE = pb.TYPE_URL_EXPORTED_SERVICE_LIST, pb.TYPE_URL_EXPORTED_SERVICE
BUNDLE, ADDRESSES = pb.TYPE_URL_PEERING_TRUST_BUNDLE, pb.TYPE_URL_PEERING_SERVER_ADDRESSES


def instance(service: str, node: str, status: str) -> CheckServiceNode:
    return CheckServiceNode(
        Node=Node(Node=node, Address="10.0.0.1", ModifyIndex=7),
        Service=NodeService(ID=f"{service}-1", Service=service, Port=80, ModifyIndex=7),
        Checks=[HealthCheck(Node=node, CheckID="serfHealth", Status="passing"),
                HealthCheck(Node=node, CheckID="svc", Status=status, ServiceID=f"{service}-1")])


class Importer:
    """What the receiving leader's writes leave in its imported catalog."""

    def __init__(self) -> None:
        self.services: dict[str, list[CheckServiceNode]] = {}
        self.bundle: tuple[str, list[str]] | None = None
        self.addresses: list[str] = []
        self.terminated = False

    def apply(self, writes) -> None:
        for write in writes:
            if isinstance(write, ImportService):
                if write.nodes:
                    self.services[write.name] = write.nodes
                else:
                    self.services.pop(write.name, None)
            elif isinstance(write, ImportServiceList):
                kept = resources.with_proxies(write.names)
                self.services = {k: v for k, v in self.services.items() if k in kept}
            elif isinstance(write, StoreTrustBundle):
                self.bundle = (write.trust_domain, write.root_pems)
            elif isinstance(write, StoreServerAddresses):
                self.addresses = write.addresses
            elif isinstance(write, MarkTerminated):
                self.terminated = True


class Link:
    """A dialer and an acceptor session joined by two ordered queues (a gRPC stream)."""

    def __init__(self, now: float = 0.0) -> None:
        self.dialer = ReplicationSession("acceptor-id", dialer=True, now=now)
        self.acceptor = ReplicationSession("dialer-id", dialer=False, now=now)
        self.to = {id(self.dialer): [], id(self.acceptor): []}
        self.imported = {id(self.dialer): Importer(), id(self.acceptor): Importer()}
        self.closed: dict[int, str] = {}
        self.run(self.dialer, self.dialer.start(now))
        self.run(self.acceptor, self.acceptor.start(now))

    def other(self, session):
        return self.acceptor if session is self.dialer else self.dialer

    def run(self, session, effects) -> None:
        self.to[id(self.other(session))].extend(m.SerializeToString() for m in effects.send)
        self.imported[id(session)].apply(effects.writes)
        if effects.close is not None:
            self.closed[id(session)] = effects.close

    def deliver(self, session, now: float, count: int = 1) -> None:
        queue = self.to[id(session)]
        for raw in queue[:count]:
            self.run(session, session.receive(pb.ReplicationMessage.FromString(raw), now))
        del queue[:count]

    def drain(self, now: float) -> None:
        while self.to[id(self.dialer)] or self.to[id(self.acceptor)]:
            self.deliver(self.dialer, now, len(self.to[id(self.dialer)]))
            self.deliver(self.acceptor, now, len(self.to[id(self.acceptor)]))


class Exporter:
    """One cluster's exported services, as the leader's subscription would publish them."""

    def __init__(self) -> None:
        self.services: dict[str, list[CheckServiceNode]] = {}

    def publish_all(self, link: Link, session, now: float) -> None:
        link.run(session, session.publish(LIST, "", resources.encode_service_list(
            list(self.services)), now))
        for name, nodes in self.services.items():
            link.run(session, session.publish(SERVICE, name, resources.encode_service(
                [resources.exported_instance(n) for n in nodes]), now))

    def withdraw(self, link: Link, session, name: str, now: float,
                 empty_first: bool = True) -> None:
        """Stop exporting ``name``: its empty instance list, then the new service list
        (or the list alone: the list by itself must remove it)."""
        self.services.pop(name, None)
        if empty_first:
            link.run(session, session.publish(SERVICE, name, resources.encode_service([]),
                                              now))
        link.run(session, session.publish(LIST, "", resources.encode_service_list(
            list(self.services)), now))


def imported_view(importer: Importer) -> dict[str, list[tuple[str, str]]]:
    return {name: [(n.Service.ID, n.Checks[0].Status) for n in nodes]
            for name, nodes in importer.services.items()}


def exported_view(exporter: Exporter) -> dict[str, list[tuple[str, str]]]:
    return {name: [(n.Service.ID, resources.exported_instance(n).Checks[0].Status)
                   for n in nodes] for name, nodes in exporter.services.items()}


def test_subscription_replays_the_latest_and_then_streams_changes():
    link = Link()
    exporter = Exporter()
    exporter.services["web"] = [instance("web", "n1", "passing")]
    exporter.publish_all(link, link.acceptor, 0.0)  # before the dialer's subscriptions
    link.run(link.acceptor, link.acceptor.publish(BUNDLE, "", resources.encode_trust_bundle(
        "td.consul", ["PEM"]), 0.0))
    link.run(link.acceptor, link.acceptor.publish(ADDRESSES, "", resources.encode_addresses(
        ["10.0.0.1:8503"]), 0.0))
    link.drain(1.0)
    dialer_got = link.imported[id(link.dialer)]
    assert imported_view(dialer_got) == {"web": [("web-1", "passing")]}
    assert dialer_got.bundle == ("td.consul", ["PEM"])
    assert dialer_got.addresses == ["10.0.0.1:8503"]
    assert link.dialer.status.imported_services == {"web"}
    assert link.acceptor.status.exported_services == {"web"}
    assert link.acceptor.status.last_ack == 1.0 and link.acceptor.status.last_nack is None
    exporter.services["web"] = [instance("web", "n1", "critical")]
    exporter.publish_all(link, link.acceptor, 2.0)
    link.drain(2.0)
    assert imported_view(dialer_got) == {"web": [("web-1", "critical")]}
    exporter.withdraw(link, link.acceptor, "web", 3.0)
    link.drain(3.0)
    assert dialer_got.services == {} and link.dialer.status.imported_services == set()
    assert link.dialer.status.healthy(3.0, 5.0) and link.acceptor.status.healthy(3.0, 5.0)


def test_an_unchanged_resource_is_not_sent_again():
    link = Link()
    link.drain(0.0)
    payload = resources.encode_service_list(["web"])
    assert link.acceptor.publish(LIST, "", payload, 1.0).send
    assert not link.acceptor.publish(LIST, "", resources.encode_service_list(["web"]), 1.0).send


def test_imported_instances_carry_one_overall_check_and_the_peer_name():
    row = resources.exported_instance(instance("web", "n1", "warning"))
    assert [(c.CheckID, c.Name, c.Status) for c in row.Checks] == [
        ("web-1:overall-check", "overall-check", "warning")]
    assert row.Node.ModifyIndex == 0 and row.Service.ModifyIndex == 0
    imported = resources.imported_instance(row, "dc1")
    assert imported.Node.PeerName == imported.Service.PeerName == "dc1"
    assert imported.Checks[0].PeerName == "dc1"


def test_exported_instances_leave_connect_settings_and_proxies_behind():
    web = instance("web", "n1", "passing")
    meshy = CheckServiceNode(Node=web.Node, Checks=web.Checks, Service=NodeService(
        ID="web-1", Service="web", Port=80, Connect=ServiceConnect(Native=True),
        TaggedAddresses={"consul-virtual": ServiceAddress(Address="240.0.0.1", Port=80),
                         "lan": ServiceAddress(Address="10.0.0.1", Port=80)}))
    row = resources.exported_instance(meshy)
    assert row.Service.Connect == ServiceConnect() and list(row.Service.TaggedAddresses) == ["lan"]
    proxy = CheckServiceNode(Node=web.Node, Checks=[], Service=NodeService(
        ID="p", Service="web-sidecar-proxy", Port=21000, Kind="connect-proxy",
        Proxy=ConnectProxyConfig(DestinationServiceName="web")))
    lookalike = CheckServiceNode(Node=web.Node, Checks=[], Service=NodeService(
        ID="x", Service="db-sidecar-proxy", Port=1))
    assert [resources.exportable(r) for r in (web, proxy, lookalike)] == [True, False, False]


def test_synthetic_proxies_front_an_exported_mesh_service_with_each_mesh_gateway():
    gateways = [CheckServiceNode(
        Node=Node(Node=f"gw{i}", Address=f"10.0.0.{i}", ModifyIndex=9),
        Service=NodeService(ID="mesh-gateway", Service="mesh-gateway", Kind="mesh-gateway",
                            Address=f"192.0.2.{i}", Port=8443),
        Checks=[HealthCheck(Node=f"gw{i}", CheckID="serfHealth", Status=status)])
        for i, status in ((1, "passing"), (2, "critical"))]
    site = resources.MeshSite("dc2", "dc1", "abc.consul", "http")
    rows = resources.synthetic_proxies("web", site, gateways)
    assert [(r.Node.Node, r.Node.ModifyIndex, r.Service.ID, r.Service.Service, r.Service.Kind,
             r.Service.Address, r.Service.Port, r.Service.Proxy.DestinationServiceName,
             r.Service.Proxy.DestinationServiceID) for r in rows] == [
        ("gw1", 0, "web-sidecar-proxy-instance-0", "web-sidecar-proxy", "connect-proxy",
         "192.0.2.1", 8443, "web", "web-instance-0"),
        ("gw2", 0, "web-sidecar-proxy-instance-1", "web-sidecar-proxy", "connect-proxy",
         "192.0.2.2", 8443, "web", "web-instance-1")]
    assert rows[0].Service.Connect.PeerMeta == PeeringServiceMeta(
        SNI=["web.default.default.dc2.external.abc.consul"],
        SpiffeID=["spiffe://abc.consul/ns/default/dc/dc1/svc/web",
                  "spiffe://abc.consul/gateway/mesh/dc/dc1"], Protocol="http")
    assert [(c.CheckID, c.Status) for r in rows for c in r.Checks] == [
        ("web-sidecar-proxy-instance-0:overall-check", "passing"),
        ("web-sidecar-proxy-instance-1:overall-check", "critical")]


def test_synthetic_proxies_follow_their_service_in_and_out_of_the_export_list():
    link = Link()
    link.drain(0.0)
    importer = link.imported[id(link.dialer)]
    proxies = resources.encode_service(resources.synthetic_proxies(
        "web", resources.MeshSite("dc2", "dc1", "abc.consul", "tcp"),
        [instance("mesh-gateway", "gw", "passing")]))
    for url, rid, payload in ((LIST, "", resources.encode_service_list(["web"])),
                              (SERVICE, "web", resources.encode_service(
                                  [instance("web", "n1", "passing")])),
                              (SERVICE, "web-sidecar-proxy", proxies)):
        link.run(link.acceptor, link.acceptor.publish(url, rid, payload, 1.0))
    link.drain(1.0)
    assert sorted(importer.services) == ["web", "web-sidecar-proxy"]
    assert link.dialer.status.imported_services == {"web"}
    link.run(link.acceptor, link.acceptor.publish(LIST, "", resources.encode_service_list([]),
                                                  2.0))
    link.drain(2.0)
    assert importer.services == {}
    assert not [key for key in link.acceptor.latest if key[0] == SERVICE]


@pytest.mark.parametrize("seed", range(200))
def test_random_schedules_converge_on_what_the_exporter_exports(seed: int):
    """Any interleaving of exports, health changes, withdrawals, partial deliveries and
    heartbeats ends, once the queues drain, with each side importing exactly what the
    other exports; every Response is ACKed, none NACKed; the stream stays up."""
    rng = random.Random(seed)
    link = Link()
    exporters = {id(link.dialer): Exporter(), id(link.acceptor): Exporter()}
    now = 0.0
    for _ in range(rng.randrange(5, 60)):
        now += rng.random() * 5
        session = rng.choice([link.dialer, link.acceptor])
        exporter = exporters[id(session)]
        action = rng.random()
        if action < 0.4:
            name = rng.choice(["web", "api", "db"])
            exporter.services[name] = [
                instance(name, f"n{i}", rng.choice(["passing", "warning", "critical"]))
                for i in range(rng.randrange(1, 3))]
            exporter.publish_all(link, session, now)
        elif action < 0.5:
            exporter.withdraw(link, session, rng.choice(["web", "api", "db"]), now,
                              empty_first=rng.random() < 0.5)
        elif action < 0.9:
            link.deliver(session, now, rng.randrange(1, 4))
        else:
            link.run(session, session.tick(now))
    link.drain(now)
    assert not link.closed
    for session in (link.dialer, link.acceptor):
        exported = exporters[id(link.other(session))]
        assert imported_view(link.imported[id(session)]) == exported_view(exported)
        assert session.status.imported_services == set(exported.services)
        assert session.status.last_nack is None and session.status.last_recv_error is None
        assert session.status.healthy(now, 5.0)


def test_a_response_that_cannot_be_read_is_nacked_and_marks_the_stream_unhealthy():
    link = Link()
    link.drain(0.0)
    bad = pb.ReplicationMessage(response=pb.ReplicationMessage.Response(
        Nonce="00000009", ResourceURL=SERVICE, ResourceID="web",
        Resource=pb.Any(type_url=pb.TYPE_URL_INDEXED_CHECK_SERVICE_NODES, value=b"\xc1")))
    effects = link.dialer.receive(bad, 1.0)
    assert not effects.writes and effects.close is None
    (nack,) = effects.send
    assert nack.request.ResponseNonce == "00000009" and nack.request.Error.code == 3
    assert link.dialer.status.last_recv_error == 1.0
    assert not link.dialer.status.healthy(1.0, 5.0)
    link.run(link.dialer, effects)
    link.drain(1.0)
    assert link.acceptor.status.last_nack == 1.0
    assert link.acceptor.status.last_nack_message.startswith("invalid exported service")
    assert not link.acceptor.status.healthy(1.0, 5.0)


def test_heartbeats_keep_a_quiet_stream_up_and_their_absence_ends_it():
    link = Link()
    link.drain(0.0)
    now = 0.0
    while now < 600:
        now += 5.0
        for session in (link.dialer, link.acceptor):
            link.run(session, session.tick(now))
        link.drain(now)
    assert not link.closed and link.dialer.status.last_heartbeat == 600.0
    assert link.dialer.next_deadline() == 615.0
    # the acceptor stops hearing anything
    effects = link.acceptor.tick(600.0 + 120.0)
    assert effects.close == ERR_HEARTBEAT_TIMEOUT
    assert not link.acceptor.status.connected
    assert link.acceptor.status.disconnect_error == ERR_HEARTBEAT_TIMEOUT
    assert link.acceptor.status.healthy(721.0, 5.0)  # within the grace period
    assert not link.acceptor.status.healthy(800.0, 5.0)


def test_terminate_tells_the_peer_which_marks_its_peering_terminated():
    link = Link()
    link.drain(0.0)
    link.run(link.acceptor, link.acceptor.terminate(1.0))
    link.drain(1.0)
    assert link.imported[id(link.dialer)].terminated
    assert link.closed == {id(link.acceptor): "", id(link.dialer): ""}
    assert link.dialer.status.terminated and not link.dialer.status.connected
    assert not link.dialer.receive(pb.ReplicationMessage(
        heartbeat=pb.ReplicationMessage.Heartbeat()), 2.0).send


@pytest.mark.parametrize(("url", "dialer", "error"), [
    ("type.googleapis.com/nope", False, "subscription request to unknown resource URL: "
                                        "type.googleapis.com/nope"),
    (ADDRESSES, True, "an acceptor has no server addresses to subscribe to"),
])
def test_bad_subscriptions_end_the_stream(url: str, dialer: bool, error: str):
    session = ReplicationSession("x", dialer=dialer, now=0.0)
    effects = session.receive(pb.ReplicationMessage(request=pb.ReplicationMessage.Request(
        ResourceURL=url)), 1.0)
    assert effects.close == error and session.closed


def test_server_addresses_sent_to_an_acceptor_are_nacked():
    session = ReplicationSession("x", dialer=False, now=0.0)
    effects = session.receive(pb.ReplicationMessage(response=pb.ReplicationMessage.Response(
        Nonce="1", ResourceURL=ADDRESSES, Resource=resources.encode_addresses(["a:1"]))), 1.0)
    assert not effects.writes and effects.send[0].request.HasField("Error")


def test_a_second_open_ends_the_stream():
    session = ReplicationSession("x", dialer=False, now=0.0)
    effects = session.receive(pb.ReplicationMessage(open=pb.ReplicationMessage.Open(
        PeerID="p")), 1.0)
    assert effects.close == "unexpected open message on an established stream"


ACCEPTING = Peering(ID="p1", Name="dc2", State=STATE_ACTIVE)
SECRETS = PeeringSecrets(PeerID="p1", ActiveStreamSecretID="active",
                         PendingStreamSecretID="pending")


def opening(peer_id: str = "p1", secret: str = "active"):
    return pb.ReplicationMessage(open=pb.ReplicationMessage.Open(
        PeerID=peer_id, StreamSecretID=secret))


def test_open_with_the_active_secret_passes_and_the_pending_one_is_promoted():
    assert check_open(opening(), ACCEPTING, SECRETS) is None
    promote = check_open(opening(secret="pending"), ACCEPTING, SECRETS)
    assert (promote.PeerID, promote.Op, promote.StreamSecret) == (
        "p1", SECRETS_PROMOTE_PENDING, "pending")


@pytest.mark.parametrize(("message", "peering", "secrets", "code", "text"), [
    (pb.ReplicationMessage(heartbeat=pb.ReplicationMessage.Heartbeat()), ACCEPTING, SECRETS,
     3, "first message when initiating a peering must be: Open"),
    (opening(peer_id=""), ACCEPTING, SECRETS, 3,
     "initial subscription request must specify a PeerID"),
    (opening(), None, None, 3, "initial subscription for unknown PeerID: p1"),
    (opening(), Peering(ID="p1", Name="dc2", State=STATE_TERMINATED), SECRETS, 9,
     "cannot establish a peering stream on a terminated or deleted peering"),
    (opening(), Peering(ID="p1", Name="dc2", PeerServerAddresses=["a:1"]), SECRETS, 9,
     "cannot open a peering stream to the dialing side of a peering"),
    (opening(), ACCEPTING, None, 13,
     "unable to authorize connection, peering must be re-established"),
    (opening(secret="wrong"), ACCEPTING, SECRETS, 7, "invalid peering stream secret"),
    (opening(secret=""), ACCEPTING, PeeringSecrets(PeerID="p1"), 7,
     "invalid peering stream secret"),
])
def test_open_refusals(message, peering, secrets, code: int, text: str):
    with pytest.raises(OpenRefused) as refused:
        check_open(message, peering, secrets)
    assert (refused.value.code, refused.value.message) == (code, text)
