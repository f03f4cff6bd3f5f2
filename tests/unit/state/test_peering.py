"""Peerings, trust bundles and secrets through the FSM (raft messages 35-40): Consul's
write rules, the establishment-secret exchange, deletion, the blocking-query topic and a
snapshot round trip (record kinds 54-56)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from proconsul.cli.snapshot_decode import decoded
from proconsul.fsm.fsm import FSM, CommandError
from proconsul.state.store import Store
from proconsul.state.watch import WatchSet
from proconsul.structs.messages import MessageType, encode_command
from proconsul.structs.peering import (
    SECRETS_ESTABLISH,
    SECRETS_EXCHANGE_SECRET,
    SECRETS_GENERATE_TOKEN,
    SECRETS_PROMOTE_PENDING,
    Peering,
    PeeringDeleteRequest,
    PeeringRemoteInfo,
    PeeringSecrets,
    PeeringSecretsWriteRequest,
    PeeringTerminateByIDRequest,
    PeeringTrustBundle,
    PeeringTrustBundleDeleteRequest,
    PeeringTrustBundleWriteRequest,
    PeeringWriteRequest,
    SecretsWriteRequest,
)

WHEN = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)
ID = "9e8d7c6b-0000-4000-8000-000000000001"


class Cluster:
    """A store driven through the FSM at rising raft indexes."""

    def __init__(self) -> None:
        self.store = Store()
        self.fsm = FSM(self.store)
        self.index = 0

    def apply(self, kind: MessageType, request):
        self.index += 1
        return self.fsm.apply(self.index, encode_command(kind, request))

    def write(self, peering: Peering, op: str = "", establishment: str = "",
              stream: str = ""):
        secrets = SecretsWriteRequest(PeerID=peering.ID, Op=op,
                                      EstablishmentSecret=establishment,
                                      StreamSecret=stream) if op else None
        return self.apply(MessageType.PEERING_WRITE,
                          PeeringWriteRequest(Peering=peering, SecretsRequest=secrets))

    def secrets(self, op: str, establishment: str = "", stream: str = "", peer_id: str = ID):
        return self.apply(MessageType.PEERING_SECRETS_WRITE, PeeringSecretsWriteRequest(
            SecretsRequest=SecretsWriteRequest(PeerID=peer_id, Op=op,
                                               EstablishmentSecret=establishment,
                                               StreamSecret=stream)))


@pytest.fixture
def cluster() -> Cluster:
    return Cluster()


def acceptor(name: str = "dc2", peering_id: str = ID, **kw) -> Peering:
    return Peering(ID=peering_id, Name=name, **kw)


def dialer(name: str = "dc1", peering_id: str = ID, state: str = "ESTABLISHING",
           **kw) -> Peering:
    return Peering(ID=peering_id, Name=name, PeerID="remote-id", PeerServerName="s",
                   PeerServerAddresses=["127.0.0.1:8503"], State=state, **kw)


def test_a_new_peering_is_pending_and_read_by_name_case_insensitively(cluster):
    assert cluster.write(acceptor(Meta={"env": "test"}), SECRETS_GENERATE_TOKEN, "e1") is None
    index, peering = cluster.store.peering_read(None, "DC2")
    assert (index, peering.State, peering.CreateIndex, peering.ModifyIndex) == (
        1, "PENDING", 1, 1)
    assert peering.Meta == {"env": "test"}
    assert cluster.store.peering_read_by_id(None, ID)[1] == peering
    assert cluster.store.peering_secrets_read(ID) == PeeringSecrets(
        PeerID=ID, EstablishmentSecretID="e1")
    assert cluster.store.peering_read(None, "nope") == (1, None)


def test_a_new_token_replaces_the_establishment_secret_and_keeps_create_index(cluster):
    cluster.write(acceptor(), SECRETS_GENERATE_TOKEN, "e1")
    cluster.write(acceptor(), SECRETS_GENERATE_TOKEN, "e2")
    peering = cluster.store.peering_read(None, "dc2")[1]
    assert (peering.CreateIndex, peering.ModifyIndex, peering.State) == (1, 2, "PENDING")
    assert cluster.store.peering_secrets_read(ID).EstablishmentSecretID == "e2"
    assert "invalid establishment secret" in str(
        cluster.secrets(SECRETS_EXCHANGE_SECRET, "e1", "s1"))


def test_an_establishment_secret_is_exchanged_once_then_promoted(cluster):
    cluster.write(acceptor(), SECRETS_GENERATE_TOKEN, "e1")
    assert cluster.secrets(SECRETS_EXCHANGE_SECRET, "e1", "pending1") is None
    assert cluster.store.peering_secrets_read(ID) == PeeringSecrets(
        PeerID=ID, PendingStreamSecretID="pending1")
    again = cluster.secrets(SECRETS_EXCHANGE_SECRET, "e1", "pending2")
    assert isinstance(again, CommandError)
    assert str(again) == "invalid establishment secret: peering was already established"
    assert "invalid pending stream secret" in str(cluster.secrets(SECRETS_PROMOTE_PENDING,
                                                                  stream="other"))
    assert cluster.secrets(SECRETS_PROMOTE_PENDING, stream="pending1") is None
    assert cluster.store.peering_secrets_read(ID) == PeeringSecrets(
        PeerID=ID, ActiveStreamSecretID="pending1")


def test_secrets_need_a_known_peering_and_the_right_side(cluster):
    assert 'unknown peering "nope" for secret' in str(
        cluster.secrets(SECRETS_GENERATE_TOKEN, "e", peer_id="nope"))
    cluster.write(acceptor(), SECRETS_GENERATE_TOKEN, "e1")
    assert "an accepting peer should not have called Establish RPC" in str(
        cluster.secrets(SECRETS_ESTABLISH, stream="s"))
    other = "9e8d7c6b-0000-4000-8000-000000000002"
    cluster.write(dialer(peering_id=other), SECRETS_ESTABLISH, stream="active")
    assert cluster.store.peering_secrets_read(other) == PeeringSecrets(
        PeerID=other, ActiveStreamSecretID="active")
    assert "when persisting stream secret for dialing peer" in str(
        cluster.secrets(SECRETS_GENERATE_TOKEN, "e", peer_id=other))


def test_names_are_unique_and_modes_do_not_switch(cluster):
    cluster.write(acceptor())
    other = "9e8d7c6b-0000-4000-8000-000000000002"
    assert str(cluster.write(acceptor(peering_id=other))) == (
        f'A peering already exists with the name "dc2" and a different ID "{ID}"')
    assert str(cluster.write(dialer(name="dc2"))) == (
        "Cannot switch peering dialing mode from false to true")
    assert str(cluster.write(acceptor(name="dc3"))) == (
        f'A peering already exists with the ID "{ID}" and a different name "dc3"')
    assert str(cluster.write(Peering(Name="x"))) == "Missing Peering ID"
    assert str(cluster.write(Peering(ID="x"))) == "Missing Peering Name"


def test_marking_for_deletion_drops_secrets_and_blocks_writes_until_deleted(cluster):
    cluster.write(acceptor(), SECRETS_GENERATE_TOKEN, "e1")
    assert str(cluster.write(acceptor(State="DELETING"))) == (
        "Missing deletion time for peering in deleting state")
    assert str(cluster.write(acceptor(DeletedAt=WHEN))) == (
        "Unexpected state for peering with deletion time: UNDEFINED")
    assert str(cluster.apply(MessageType.PEERING_DELETE, PeeringDeleteRequest(Name="dc2"))) == (
        "cannot delete a peering without first marking for deletion")
    assert cluster.write(acceptor(State="DELETING", DeletedAt=WHEN)) is None
    assert cluster.store.peering_secrets_read(ID) is None
    assert cluster.store.peering_list_deleted(None)[1][0].Name == "dc2"
    assert str(cluster.write(acceptor(), SECRETS_GENERATE_TOKEN, "e2")) == (
        "cannot write to peering that is marked for deletion")
    assert cluster.apply(MessageType.PEERING_DELETE, PeeringDeleteRequest(Name="dc2")) is None
    assert cluster.store.peering_read(None, "dc2") == (cluster.index, None)
    assert cluster.store.peering_list(None) == (cluster.index, [])


def test_a_new_peering_cannot_start_deleted_and_terminate_marks_it(cluster):
    assert str(cluster.write(acceptor(State="DELETING", DeletedAt=WHEN))) == (
        "cannot create a new peering marked for deletion")
    cluster.write(dialer(), SECRETS_ESTABLISH, stream="a")
    cluster.apply(MessageType.PEERING_TERMINATE_BY_ID, PeeringTerminateByIDRequest(ID=ID))
    peering = cluster.store.peering_read(None, "dc1")[1]
    assert (peering.State, peering.ModifyIndex) == ("TERMINATED", cluster.index)


def test_an_update_keeps_what_it_does_not_say(cluster):
    cluster.write(dialer(Remote=PeeringRemoteInfo(Datacenter="dc9")))
    cluster.write(dialer(state="UNDEFINED"))
    peering = cluster.store.peering_read(None, "dc1")[1]
    assert (peering.State, peering.Remote.Datacenter) == ("ESTABLISHING", "dc9")


def test_trust_bundles_belong_to_known_peerings(cluster):
    bundle = PeeringTrustBundle(TrustDomain="t.consul", PeerName="dc2", RootPEMs=["pem"])
    assert 'unknown peering "dc2"' in str(cluster.apply(
        MessageType.PEERING_TRUST_BUNDLE_WRITE, PeeringTrustBundleWriteRequest(bundle)))
    cluster.write(acceptor())
    cluster.apply(MessageType.PEERING_TRUST_BUNDLE_WRITE, PeeringTrustBundleWriteRequest(bundle))
    cluster.apply(MessageType.PEERING_TRUST_BUNDLE_WRITE, PeeringTrustBundleWriteRequest(bundle))
    index, found = cluster.store.peering_trust_bundle_read(None, "DC2")
    assert (index, found.CreateIndex, found.RootPEMs) == (4, 3, ["pem"])
    assert cluster.store.peering_trust_bundle_list(None) == (4, [found])
    cluster.apply(MessageType.PEERING_TRUST_BUNDLE_DELETE,
                  PeeringTrustBundleDeleteRequest(Name="dc2"))
    assert cluster.store.peering_trust_bundle_read(None, "dc2") == (5, None)


def test_a_write_wakes_a_reader_blocked_on_the_peerings(cluster):
    ws = WatchSet()
    cluster.store.peering_list(ws)
    woken = []
    cluster.store.watches.register(ws.topics, lambda: woken.append(True))
    cluster.write(acceptor())
    assert woken == [True]


def test_peerings_bundles_and_secrets_survive_a_snapshot(cluster):
    cluster.write(acceptor(Meta={"a": "b"}), SECRETS_GENERATE_TOKEN, "e1")
    other = "9e8d7c6b-0000-4000-8000-000000000002"
    cluster.write(dialer(peering_id=other, Remote=PeeringRemoteInfo(Datacenter="dc1")),
                  SECRETS_ESTABLISH, stream="active")
    cluster.apply(MessageType.PEERING_TRUST_BUNDLE_WRITE, PeeringTrustBundleWriteRequest(
        PeeringTrustBundle(TrustDomain="t", PeerName="dc1", RootPEMs=["x"])))
    cluster.write(acceptor(name="gone", peering_id="9e8d7c6b-0000-4000-8000-000000000003"))
    cluster.write(acceptor(name="gone", peering_id="9e8d7c6b-0000-4000-8000-000000000003",
                           State="DELETING", DeletedAt=WHEN))
    buffer = io.BytesIO()
    cluster.store.snapshot().write(buffer)
    restored = Store()
    restored.restore(io.BytesIO(buffer.getvalue()))
    store = cluster.store
    assert restored.peering_list(None) == store.peering_list(None)
    assert restored.peering_read(None, "gone")[1].DeletedAt == WHEN
    assert restored.peering_trust_bundle_list(None) == store.peering_trust_bundle_list(None)
    assert restored.peering_secrets_read(ID) == store.peering_secrets_read(ID)
    assert restored.peering_secrets_read(other).ActiveStreamSecretID == "active"
    assert restored.peering_read_by_id(None, other)[1].Name == "dc1"


def test_snapshot_decode_names_the_peering_records_as_consul_does(cluster):
    cluster.write(acceptor(), SECRETS_GENERATE_TOKEN, "e1")
    cluster.apply(MessageType.PEERING_TRUST_BUNDLE_WRITE, PeeringTrustBundleWriteRequest(
        PeeringTrustBundle(TrustDomain="t", PeerName="dc2", RootPEMs=["x"])))
    buffer = io.BytesIO()
    cluster.fsm.snapshot().write(buffer)
    buffer.seek(0)
    records = [(name, data) for name, data in decoded(buffer) if name != "Index"]
    assert [name for name, _ in records] == ["Peering", "PeeringTrustBundle", "PeeringSecret"]
    assert records[0][1]["Name"] == "dc2" and records[2][1]["EstablishmentSecretID"] == "e1"
